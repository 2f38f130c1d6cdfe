/**
 * Files and descriptors: open(2), close(2), read(2), write(2), fcntl(2), dup(2), dup2(2),
 * linkat(2) and unlink(2).
 *
 * read and write carry the bytes of the pipe and FIFO lessons: when they succeed and tracing
 * is off, they return the count at once, with nothing allocated.
 *
 * @module
 */

import { check, cstring, SizeArgument, tryCheck } from "./call.ts";
import { F, O, WOULD_BLOCK } from "./constants.ts";
import { documented, errnoCell, retry } from "./errno.ts";
import { c } from "./ffi.ts";
import { octal, openFlags, quote, tracer } from "./trace.ts";

// The errors of open(2), which also come through shm_open(3) and sem_open(3): glibc implements
// them by opening a file in /dev/shm. (EWOULDBLOCK is EAGAIN on Linux.)
export const OPEN_ERRORS = "EACCES EAGAIN EBADF EBUSY EDQUOT EEXIST EFAULT EFBIG EINTR " +
  "EINVAL EISDIR ELOOP EMFILE ENAMETOOLONG ENFILE ENODEV ENOENT ENOMEM ENOSPC ENOTDIR ENXIO " +
  "EOPNOTSUPP EOVERFLOW EPERM EROFS ETXTBSY";
const OPEN = documented("open", OPEN_ERRORS);

/**
 * `open(2)`: opens `path` and returns a new file descriptor.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { close, O, open, unlink, write } from "../libc.ts";
 * const dir = Deno.makeTempDirSync();
 * const path = `${dir}/greeting`;
 * const fd = open(path, O.WRONLY | O.CREAT | O.EXCL | O.CLOEXEC, 0o600);
 * assert.equal(write(fd, new TextEncoder().encode("hello\n")), 6);
 * close(fd);
 * assert.equal(Deno.readTextFileSync(path), "hello\n");
 * assert.throws(() => open(path, O.WRONLY | O.CREAT | O.EXCL, 0o600), /EEXIST/); // taken
 * unlink(path);
 * Deno.removeSync(dir);
 * ```
 */
export function open(path: string, flags: number, mode = 0): number {
  const pathname = cstring(path);
  let fd: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    fd = c.open(pathname, flags, mode);
    errnum = errnoCell[0]!;
  } while (retry(OPEN, fd === -1, errnum, ++tries));
  return check(
    OPEN,
    fd,
    errnum,
    tries,
    () => `${quote(path)}, ${openFlags(flags)}${flags & O.CREAT ? `, ${octal(mode)}` : ""}`,
  );
}

// Never retried: Linux frees the descriptor even when close fails.
const CLOSE = documented("close", "EBADF EINTR EIO ENOSPC EDQUOT", { retry: false });

/** `close(2)`: releases a file descriptor. */
export function close(fd: number): void {
  errnoCell[0] = 0;
  const r = c.close(fd);
  const errnum = errnoCell[0]!;
  check(CLOSE, r, errnum, 1, () => `${fd}`);
}

// read(2): "other errors may occur, depending on the object connected to fd" (a socket's:
// ECONNRESET, ETIMEDOUT, EHOSTUNREACH…): any errno is its own, and it is never made twice.
const READ = documented("read", "EAGAIN EBADF EFAULT EINTR EINVAL EIO EISDIR", { anyErrno: true });
const readSize = new SizeArgument();

/**
 * `read(2)`: reads up to `buf.length` bytes. Returns the count (0 at end-of-file), or
 * {@linkcode WOULD_BLOCK} when a non-blocking descriptor has nothing to read yet.
 */
export function read(fd: number, buf: Uint8Array): number | typeof WOULD_BLOCK {
  const count = readSize.of(buf.length);
  let n: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    n = c.read(fd, buf, count);
    errnum = errnoCell[0]!;
    // The common case first, with nothing to allocate: a count, and no tracing.
    if (n >= 0 && tracer === null) return n;
  } while (retry(READ, n === -1, errnum, ++tries));
  return tryCheck(READ, n, errnum, tries, () => `${fd}, <buffer>, ${buf.length}`);
}

// write(2): other errors may occur, as for read.
const WRITE = documented(
  "write",
  "EAGAIN EBADF EDESTADDRREQ EDQUOT EFAULT EFBIG EINTR EINVAL EIO ENOSPC EPERM EPIPE",
  { anyErrno: true },
);
const writeSize = new SizeArgument();

/**
 * `write(2)`: writes up to `buf.length` bytes and returns how many were taken, or
 * {@linkcode WOULD_BLOCK} when a non-blocking descriptor has no room. A pipe whose readers are
 * all gone fails with EPIPE.
 */
export function write(fd: number, buf: Uint8Array): number | typeof WOULD_BLOCK {
  const count = writeSize.of(buf.length);
  let n: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    n = c.write(fd, buf, count);
    errnum = errnoCell[0]!;
    if (n >= 0 && tracer === null) return n;
  } while (retry(WRITE, n === -1, errnum, ++tries));
  return tryCheck(WRITE, n, errnum, tries, () => `${fd}, <${buf.length} bytes>, ${buf.length}`);
}

const FCNTL = documented(
  "fcntl",
  "EACCES EAGAIN EBADF EBUSY EDEADLK EFAULT EINTR EINVAL EMFILE ENOLCK ENOTDIR EPERM",
);

/** `fcntl(2)` with an integer argument: `F.GETFL`, `F.SETFL`, `F.GETPIPE_SZ`, `F.SETPIPE_SZ`. */
export function fcntl(fd: number, cmd: number, arg = 0): number {
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.fcntl(fd, cmd, arg);
    errnum = errnoCell[0]!;
  } while (retry(FCNTL, r === -1, errnum, ++tries));
  return check(
    FCNTL,
    r,
    errnum,
    tries,
    () => {
      const name = Object.entries(F).find(([, value]) => value === cmd)?.[0] ?? String(cmd);
      const shown = cmd === F.SETFL ? openFlags(arg) : String(arg);
      return `${fd}, F_${name}${cmd === F.GETFL || cmd === F.GETPIPE_SZ ? "" : `, ${shown}`}`;
    },
    // As strace shows the status flags F_GETFL returns: `= 0x8800 (flags O_RDONLY|O_NONBLOCK|…)`.
    (flags) => cmd === F.GETFL ? `0x${flags.toString(16)} (flags ${openFlags(flags)})` : `${flags}`,
  );
}

/** Sets or clears `O_NONBLOCK` on a descriptor with `fcntl(F_GETFL/F_SETFL)`. */
export function setNonBlocking(fd: number, on = true): void {
  const current = fcntl(fd, F.GETFL);
  const wanted = on ? current | O.NONBLOCK : current & ~O.NONBLOCK;
  if (wanted !== current) fcntl(fd, F.SETFL, wanted);
}

const DUP = documented("dup", "EBADF EBUSY EINTR EINVAL EMFILE");

/** `dup(2)`: a second descriptor for the same open file. */
export function dup(fd: number): number {
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.dup(fd);
    errnum = errnoCell[0]!;
  } while (retry(DUP, r === -1, errnum, ++tries));
  return check(DUP, r, errnum, tries, () => `${fd}`);
}

const DUP2 = documented("dup2", "EBADF EBUSY EINTR EINVAL EMFILE");

/** `dup2(2)`: makes `newfd` refer to the same open file as `oldfd`. */
export function dup2(oldfd: number, newfd: number): number {
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.dup2(oldfd, newfd);
    errnum = errnoCell[0]!;
  } while (retry(DUP2, r === -1, errnum, ++tries));
  return check(DUP2, r, errnum, tries, () => `${oldfd}, ${newfd}`);
}

const LINKAT = documented(
  "linkat",
  "EACCES EBADF EDQUOT EEXIST EFAULT EINVAL EIO ELOOP EMLINK ENAMETOOLONG ENOENT ENOMEM ENOSPC " +
    "ENOTDIR EPERM EROFS EXDEV",
);

/**
 * Gives the unnamed file (`O.TMPFILE`) open at `fd` the name `path`: `linkat(2)` of
 * `/proc/self/fd/FD`, following that link to the file itself (AT_SYMLINK_FOLLOW).
 */
export function linkFd(fd: number, path: string): void {
  const AT_FDCWD = -100;
  const AT_SYMLINK_FOLLOW = 0x400;
  const from = `/proc/self/fd/${fd}`;
  const oldpath = cstring(from);
  const newpath = cstring(path);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.linkat(AT_FDCWD, oldpath, AT_FDCWD, newpath, AT_SYMLINK_FOLLOW);
    errnum = errnoCell[0]!;
  } while (retry(LINKAT, r === -1, errnum, ++tries));
  check(
    LINKAT,
    r,
    errnum,
    tries,
    () => `AT_FDCWD, ${quote(from)}, AT_FDCWD, ${quote(path)}, AT_SYMLINK_FOLLOW`,
  );
}

export const UNLINK_ERRORS = "EACCES EBADF EBUSY EFAULT EINVAL EIO EISDIR ELOOP " +
  "ENAMETOOLONG ENOENT ENOMEM ENOTDIR EPERM EROFS";
const UNLINK = documented("unlink", UNLINK_ERRORS);

/** `unlink(2)`: removes a name from the file system. */
export function unlink(path: string): void {
  const pathname = cstring(path);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.unlink(pathname);
    errnum = errnoCell[0]!;
  } while (retry(UNLINK, r === -1, errnum, ++tries));
  check(UNLINK, r, errnum, tries, () => quote(path));
}
