/**
 * Sockets. For now one: a Unix-domain socket bound to an abstract name, used as a lock that
 * the kernel releases when its holder dies. (The sockets lesson adds its calls here.)
 *
 * @module
 */

import { check } from "./call.ts";
import { documented, errnoCell, LibcError, retry } from "./errno.ts";
import { c } from "./ffi.ts";
import { close } from "./files.ts";
import { quote } from "./trace.ts";

const encoder = new TextEncoder();

const SOCKET = documented(
  "socket",
  "EACCES EAFNOSUPPORT EINVAL EMFILE ENFILE ENOBUFS ENOMEM EPROTONOSUPPORT",
);
const BIND = documented(
  "bind",
  "EACCES EADDRINUSE EADDRNOTAVAIL EBADF EFAULT EINVAL ELOOP ENAMETOOLONG ENOENT ENOMEM " +
    "ENOTDIR ENOTSOCK EROFS",
);

/**
 * A lock the kernel releases when this process dies, however it dies: a Unix-domain socket
 * bound to a name in the *abstract* namespace (`sun_path` starting with a NUL byte). Such a
 * name is no file: it vanishes with the last descriptor, so a killed holder leaves nothing
 * behind. Returns the socket's descriptor (close it to release the lock), or null when another
 * process holds the name (EADDRINUSE). Names longer than 107 bytes are shortened by hashing
 * by the caller.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bindAbstractLock, close } from "../libc.ts";
 * const name = `ipc-lesson-example-${Deno.pid}-lock`;
 * const lock = bindAbstractLock(name);
 * assert.notEqual(lock, null);
 * assert.equal(bindAbstractLock(name), null); // held (here by this very process)
 * close(lock!); // released: the name is free again
 * const again = bindAbstractLock(name);
 * assert.notEqual(again, null);
 * close(again!);
 * ```
 */
export function bindAbstractLock(name: string): number | null {
  const AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0o2000000;
  const bytes = encoder.encode(name);
  if (bytes.length > 107) throw new TypeError(`lock name too long: ${quote(name)}`);
  let fd: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    errnum = errnoCell[0]!;
  } while (retry(SOCKET, fd === -1, errnum, ++tries));
  check(SOCKET, fd, errnum, tries, () => "AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0");
  // struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }, sun_path[0] = '\0'.
  const addr = new Uint8Array(2 + 1 + bytes.length);
  addr[0] = AF_UNIX;
  addr.set(bytes, 3);
  let r: number;
  tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.bind(fd, addr, addr.length);
    errnum = errnoCell[0]!;
  } while (retry(BIND, r === -1, errnum, ++tries));
  try {
    check(
      BIND,
      r,
      errnum,
      tries,
      () => `${fd}, {sa_family=AF_UNIX, sun_path=@${quote(name)}}, ${addr.length}`,
    );
    return fd;
  } catch (error) {
    close(fd);
    if (error instanceof LibcError && error.code === "EADDRINUSE") return null;
    throw error;
  }
}
