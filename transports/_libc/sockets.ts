/**
 * Sockets: socket(2), bind(2), listen(2), accept4(2), connect(2), shutdown(2), setsockopt(2),
 * getsockopt(2), getsockname(2), getpeername(2), sendmsg(2) and recvmsg(2) (with `SCM_RIGHTS`,
 * to pass open file descriptors), getaddrinfo(3); and an abstract Unix-domain socket used as a
 * lock that the kernel releases when its holder dies.
 *
 * A socket is a file descriptor, so the bytes of a connected stream socket move with the
 * ordinary read(2) and write(2) of `files.ts`.
 *
 * Addresses are passed as the bytes of a `struct sockaddr_*`: `transports/socket.ts` lays them
 * out (and tells their C declarations); here they are only read back to write trace lines the
 * way strace does: `{sa_family=AF_UNIX, sun_path="/tmp/s"}`.
 *
 * @module
 */

import { check, tryCheck } from "./call.ts";
import { WOULD_BLOCK } from "./constants.ts";
import { documented, Errno, errnoCell, LibcError, retry } from "./errno.ts";
import { c } from "./ffi.ts";
import { close } from "./files.ts";
import { quote, tracer } from "./trace.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The numbers of the socket headers (`<sys/socket.h>`, `<netinet/in.h>`, `<netinet/tcp.h>`). */
export const SOCK = {
  /** Address families (`domain`): `AF_UNIX` (also called `AF_LOCAL`), `AF_INET`, `AF_INET6`. */
  AF_UNIX: 1,
  AF_INET: 2,
  AF_INET6: 10,
  /** Socket types: a reliable byte stream (TCP, or a Unix stream socket). */
  STREAM: 1,
  /** Flags or-ed into `type` (socket) and `flags` (accept4): the same bits as `O_NONBLOCK`… */
  NONBLOCK: 0o4000,
  /** …and `O_CLOEXEC`. */
  CLOEXEC: 0o2000000,
  /** `level` of the options every socket has. */
  SOL_SOCKET: 1,
  SO_REUSEADDR: 2,
  SO_ERROR: 4,
  SO_SNDBUF: 7,
  SO_RCVBUF: 8,
  SO_KEEPALIVE: 9,
  SO_REUSEPORT: 15,
  SO_PEERCRED: 17,
  SO_ACCEPTCONN: 30,
  /** `level` of TCP's own options. */
  IPPROTO_TCP: 6,
  TCP_NODELAY: 1,
  /** `how` of shutdown(2). */
  SHUT_RD: 0,
  SHUT_WR: 1,
  SHUT_RDWR: 2,
  /** `cmsg_type` of a control message that carries file descriptors (level `SOL_SOCKET`). */
  SCM_RIGHTS: 1,
  /** sendmsg flag: fail with EPIPE instead of raising SIGPIPE. */
  MSG_NOSIGNAL: 0x4000,
  /** recvmsg flag: the received descriptors get `FD_CLOEXEC`. */
  MSG_CMSG_CLOEXEC: 0x40000000,
  /** recvmsg's `msg_flags`: the control buffer was too small, and descriptors were dropped. */
  MSG_CTRUNC: 0x8,
} as const;

const FAMILY_NAMES: Record<number, string> = { 1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6" };
const OPTION_NAMES: Record<string, string> = {
  "1:2": "SO_REUSEADDR",
  "1:4": "SO_ERROR",
  "1:7": "SO_SNDBUF",
  "1:8": "SO_RCVBUF",
  "1:9": "SO_KEEPALIVE",
  "1:15": "SO_REUSEPORT",
  "1:17": "SO_PEERCRED",
  "1:30": "SO_ACCEPTCONN",
  "6:1": "TCP_NODELAY",
};
const levelName = (level: number) =>
  level === SOCK.SOL_SOCKET
    ? "SOL_SOCKET"
    : level === SOCK.IPPROTO_TCP
    ? "IPPROTO_TCP"
    : `${level}`;
const optionName = (level: number, name: number) => OPTION_NAMES[`${level}:${name}`] ?? `${name}`;

/** `SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK`, as strace shows a socket's type or accept4's flags. */
function typeText(type: number, withType: boolean): string {
  const parts = withType ? [(type & 0xf) === SOCK.STREAM ? "SOCK_STREAM" : `${type & 0xf}`] : [];
  if (type & SOCK.CLOEXEC) parts.push("SOCK_CLOEXEC");
  if (type & SOCK.NONBLOCK) parts.push("SOCK_NONBLOCK");
  return parts.join("|") || "0";
}

/**
 * A `struct sockaddr_*` as strace shows it, read from its bytes: `{sa_family=AF_UNIX,
 * sun_path="/tmp/s"}`, `{sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("10.0.0.1")}`.
 * (The layouts are told in `transports/socket.ts`.)
 */
export function sockaddrText(addr: Uint8Array, length = addr.length): string {
  if (length < 2) return "{}";
  const view = new DataView(addr.buffer, addr.byteOffset, Math.min(length, addr.length));
  const family = view.getUint16(0, true);
  const name = FAMILY_NAMES[family] ?? `${family}`;
  if (family === SOCK.AF_UNIX) {
    if (length <= 2) return `{sa_family=${name}}`; // unnamed (a client's end)
    const path = addr.subarray(2, length);
    if (path[0] === 0) {
      return `{sa_family=${name}, sun_path=@${quote(decoder.decode(path.subarray(1)))}}`;
    }
    const end = path.indexOf(0);
    return `{sa_family=${name}, sun_path=${
      quote(decoder.decode(end < 0 ? path : path.subarray(0, end)))
    }}`;
  }
  if (family === SOCK.AF_INET && length >= 8) {
    return `{sa_family=${name}, sin_port=htons(${view.getUint16(2, false)}), ` +
      `sin_addr=inet_addr("${addr.subarray(4, 8).join(".")}")}`;
  }
  if (family === SOCK.AF_INET6 && length >= 24) {
    const groups = [];
    for (let i = 8; i < 24; i += 2) groups.push(view.getUint16(i, false).toString(16));
    return `{sa_family=${name}, sin6_port=htons(${view.getUint16(2, false)}), ` +
      `sin6_addr=inet_pton("${groups.join(":")}")}`;
  }
  return `{sa_family=${name}}`;
}

const SOCKET = documented(
  "socket",
  "EACCES EAFNOSUPPORT EINVAL EMFILE ENFILE ENOBUFS ENOMEM EPROTONOSUPPORT",
);

/**
 * `socket(2)`: a new socket of `domain` (`SOCK.AF_UNIX`, `SOCK.AF_INET`) and `type`
 * (`SOCK.STREAM`, or-ed with `SOCK.NONBLOCK | SOCK.CLOEXEC`); returns its descriptor.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { close, SOCK, socket } from "../libc.ts";
 * const fd = socket(SOCK.AF_UNIX, SOCK.STREAM | SOCK.CLOEXEC);
 * assert.ok(Deno.readLinkSync(`/proc/self/fd/${fd}`).startsWith("socket:["));
 * close(fd);
 * ```
 */
export function socket(domain: number, type: number, protocol = 0): number {
  let fd: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    fd = c.socket(domain, type, protocol);
    errnum = errnoCell[0]!;
  } while (retry(SOCKET, fd === -1, errnum, ++tries));
  return check(
    SOCKET,
    fd,
    errnum,
    tries,
    () => `${FAMILY_NAMES[domain] ?? domain}, ${typeText(type, true)}, ${protocol}`,
  );
}

const BIND = documented(
  "bind",
  "EACCES EADDRINUSE EADDRNOTAVAIL EBADF EFAULT EINVAL ELOOP ENAMETOOLONG ENOENT ENOMEM " +
    "ENOTDIR ENOTSOCK EROFS",
);

/**
 * `bind(2)`: gives the socket `fd` the address `addr` (the bytes of a `struct sockaddr_*`). A
 * Unix-domain socket bound to a path creates a socket file there (EADDRINUSE if anything is
 * there already, even a socket nobody listens on any more).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bind, close, SOCK, socket, unlink } from "../libc.ts";
 * const path = `/tmp/example-${Deno.pid}.sock`;
 * const addr = new Uint8Array(110); // struct sockaddr_un
 * addr[0] = SOCK.AF_UNIX;
 * addr.set(new TextEncoder().encode(path), 2);
 * const fd = socket(SOCK.AF_UNIX, SOCK.STREAM | SOCK.CLOEXEC);
 * bind(fd, addr);
 * assert.equal(Deno.lstatSync(path).isSocket, true); // the socket file
 * close(fd);
 * unlink(path); // closing the socket leaves the file: remove it
 * ```
 */
export function bind(fd: number, addr: Uint8Array): void {
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.bind(fd, addr, addr.length);
    errnum = errnoCell[0]!;
  } while (retry(BIND, r === -1, errnum, ++tries));
  check(BIND, r, errnum, tries, () => `${fd}, ${sockaddrText(addr)}, ${addr.length}`);
}

const LISTEN = documented("listen", "EADDRINUSE EBADF ENOTSOCK EOPNOTSUPP");

/**
 * `listen(2)`: the bound socket `fd` becomes a listening socket; the kernel completes up to
 * `backlog` connections that nobody has accepted yet.
 */
export function listen(fd: number, backlog: number): void {
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.listen(fd, backlog);
    errnum = errnoCell[0]!;
  } while (retry(LISTEN, r === -1, errnum, ++tries));
  check(LISTEN, r, errnum, tries, () => `${fd}, ${backlog}`);
}

// accept4(2), with the network errors its manual page says may be passed on.
const ACCEPT4 = documented(
  "accept4",
  "EAGAIN EBADF ECONNABORTED EFAULT EINTR EINVAL EMFILE ENFILE ENOBUFS ENOMEM ENOTSOCK " +
    "EOPNOTSUPP EPERM EPROTO   ENETDOWN ENOPROTOOPT EHOSTDOWN ENONET EHOSTUNREACH ENETUNREACH",
);
const acceptAddr = new Uint8Array(128); // struct sockaddr_storage
const acceptLen = new Uint32Array(1);
const acceptLenBytes = new Uint8Array(acceptLen.buffer);

/**
 * `accept4(2)`: takes the next completed connection from the listening socket `fd`. Returns
 * the new connected socket's descriptor (with `flags`: `SOCK.NONBLOCK | SOCK.CLOEXEC`) and the
 * peer's address, or {@linkcode WOULD_BLOCK} when no connection is waiting on a non-blocking
 * socket. ECONNABORTED (a connection reset before it was accepted) is also WOULD_BLOCK: there
 * is nothing to accept yet.
 */
export function accept4(
  fd: number,
  flags: number,
): { fd: number; addr: Uint8Array } | typeof WOULD_BLOCK {
  let r: number, errnum: number, tries = 0;
  do {
    acceptLen[0] = acceptAddr.length;
    errnoCell[0] = 0;
    r = c.accept4(fd, acceptAddr, acceptLenBytes, flags);
    errnum = errnoCell[0]!;
  } while (retry(ACCEPT4, r === -1, errnum, ++tries));
  const args = () =>
    `${fd}, ${r === -1 ? "0x…" : sockaddrText(acceptAddr, acceptLen[0])}, [${acceptAddr.length}${
      r === -1 ? "" : ` => ${acceptLen[0]}`
    }], ${typeText(flags, false)}`;
  if (r === -1 && errnum === Errno.ECONNABORTED) {
    tracer?.(`accept4(${args()}) = -1 ECONNABORTED (Software caused connection abort)`);
    return WOULD_BLOCK;
  }
  const accepted = tryCheck(ACCEPT4, r, errnum, tries, args);
  if (accepted === WOULD_BLOCK) return WOULD_BLOCK;
  return { fd: accepted, addr: acceptAddr.slice(0, acceptLen[0]) };
}

// connect(2), with the errors unix(7) adds for a path (ENOENT: no socket file there).
const CONNECT = documented(
  "connect",
  "EACCES EPERM EADDRINUSE EADDRNOTAVAIL EAFNOSUPPORT EAGAIN EALREADY EBADF ECONNREFUSED " +
    "EFAULT EINPROGRESS EINTR EISCONN ENETUNREACH ENOTSOCK EPROTOTYPE ETIMEDOUT   ENOENT " +
    "ENOTDIR ELOOP ENAMETOOLONG EHOSTUNREACH ECONNRESET",
);

/**
 * `connect(2)`: connects the socket `fd` to the address `addr`. Throws a
 * {@linkcode LibcError}: on a non-blocking socket, EINPROGRESS (TCP: the handshake has begun;
 * wait until the socket is writable, then read `SO_ERROR`) or EAGAIN (a Unix socket whose
 * listener's backlog is full); ECONNREFUSED when nobody listens; ENOENT when no socket file
 * is at a Unix address's path.
 */
export function connect(fd: number, addr: Uint8Array): void {
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.connect(fd, addr, addr.length);
    errnum = errnoCell[0]!;
  } while (retry(CONNECT, r === -1, errnum, ++tries));
  check(CONNECT, r, errnum, tries, () => `${fd}, ${sockaddrText(addr)}, ${addr.length}`);
}

const SHUTDOWN = documented("shutdown", "EBADF EINVAL ENOTCONN ENOTSOCK");
const HOW = ["SHUT_RD", "SHUT_WR", "SHUT_RDWR"];

/**
 * `shutdown(2)`: closes one direction of the connection `fd`. `SOCK.SHUT_WR` says "that was
 * all" (the peer reads end-of-file) while this side can still read the peer's answer.
 */
export function shutdown(fd: number, how: number): void {
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.shutdown(fd, how);
    errnum = errnoCell[0]!;
  } while (retry(SHUTDOWN, r === -1, errnum, ++tries));
  check(SHUTDOWN, r, errnum, tries, () => `${fd}, ${HOW[how] ?? how}`);
}

const SETSOCKOPT = documented("setsockopt", "EBADF EFAULT EINVAL ENOPROTOOPT ENOTSOCK");
const GETSOCKOPT = documented("getsockopt", "EBADF EFAULT EINVAL ENOPROTOOPT ENOTSOCK");

/**
 * `setsockopt(2)` with an `int` value: `setsockopt(fd, SOCK.SOL_SOCKET, SOCK.SO_REUSEADDR, 1)`,
 * `setsockopt(fd, SOCK.IPPROTO_TCP, SOCK.TCP_NODELAY, 1)`.
 */
export function setsockopt(fd: number, level: number, name: number, value: number): void {
  const optval = new Int32Array([value]);
  const bytes = new Uint8Array(optval.buffer);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.setsockopt(fd, level, name, bytes, 4);
    errnum = errnoCell[0]!;
  } while (retry(SETSOCKOPT, r === -1, errnum, ++tries));
  check(
    SETSOCKOPT,
    r,
    errnum,
    tries,
    () => `${fd}, ${levelName(level)}, ${optionName(level, name)}, [${value}], 4`,
  );
}

/**
 * `getsockopt(2)` into a buffer of `size` bytes; returns the bytes the kernel wrote. See
 * {@linkcode getsockoptInt} for the usual `int` options.
 */
export function getsockopt(fd: number, level: number, name: number, size = 4): Uint8Array {
  const optval = new Uint8Array(size);
  const optlen = new Uint32Array([size]);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.getsockopt(fd, level, name, optval, new Uint8Array(optlen.buffer));
    errnum = errnoCell[0]!;
  } while (retry(GETSOCKOPT, r === -1, errnum, ++tries));
  check(GETSOCKOPT, r, errnum, tries, () => {
    const view = new DataView(optval.buffer);
    const shown = optlen[0] === 4
      ? `[${view.getInt32(0, true)}]`
      : name === SOCK.SO_PEERCRED && optlen[0] === 12 // struct ucred, as strace shows it
      ? `{pid=${view.getInt32(0, true)}, uid=${view.getUint32(4, true)}, gid=${
        view.getUint32(8, true)
      }}`
      : `<${optlen[0]} bytes>`;
    return `${fd}, ${levelName(level)}, ${optionName(level, name)}, ${shown}, [${optlen[0]}]`;
  });
  return optval.subarray(0, optlen[0]);
}

/**
 * `getsockopt(2)` of an `int` option: `getsockoptInt(fd, SOCK.SOL_SOCKET, SOCK.SO_ERROR)` is the
 * outcome of a non-blocking connect (0, or an errno number).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { close, getsockoptInt, SOCK, socket } from "../libc.ts";
 * const fd = socket(SOCK.AF_UNIX, SOCK.STREAM | SOCK.CLOEXEC);
 * assert.equal(getsockoptInt(fd, SOCK.SOL_SOCKET, SOCK.SO_ACCEPTCONN), 0); // not listening
 * close(fd);
 * ```
 */
export function getsockoptInt(fd: number, level: number, name: number): number {
  const bytes = getsockopt(fd, level, name, 4);
  return new DataView(bytes.buffer, bytes.byteOffset).getInt32(0, true);
}

/** A Unix-domain peer's credentials (`SO_PEERCRED`, `struct ucred`): who is at the other end. */
export interface PeerCredentials {
  /** The peer's process id (when it connected, or called listen). */
  pid: number;
  /** Its user id. */
  uid: number;
  /** Its group id. */
  gid: number;
}

/**
 * The credentials of the process at the other end of the Unix-domain socket `fd`, as the kernel
 * recorded them at connect(2) (or listen(2)): `getsockopt(fd, SOL_SOCKET, SO_PEERCRED)`, a
 * `struct ucred { pid_t pid; uid_t uid; gid_t gid; }` (12 bytes).
 */
export function peerCredentials(fd: number): PeerCredentials {
  const bytes = getsockopt(fd, SOCK.SOL_SOCKET, SOCK.SO_PEERCRED, 12);
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  return {
    pid: view.getInt32(0, true),
    uid: view.getUint32(4, true),
    gid: view.getUint32(8, true),
  };
}

const GETSOCKNAME = documented("getsockname", "EBADF EFAULT EINVAL ENOBUFS ENOTSOCK");
const GETPEERNAME = documented("getpeername", "EBADF EFAULT EINVAL ENOBUFS ENOTCONN ENOTSOCK");

/** `getsockname(2)`: the bytes of the address the socket `fd` is bound to. */
export function getsockname(fd: number): Uint8Array {
  return nameOf(GETSOCKNAME, fd);
}

/** `getpeername(2)`: the bytes of the address of the peer the socket `fd` is connected to. */
export function getpeername(fd: number): Uint8Array {
  return nameOf(GETPEERNAME, fd);
}

function nameOf(call: typeof GETSOCKNAME, fd: number): Uint8Array {
  const addr = new Uint8Array(128); // struct sockaddr_storage
  const len = new Uint32Array([addr.length]);
  const lenBytes = new Uint8Array(len.buffer);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = call === GETSOCKNAME
      ? c.getsockname(fd, addr, lenBytes)
      : c.getpeername(fd, addr, lenBytes);
    errnum = errnoCell[0]!;
  } while (retry(call, r === -1, errnum, ++tries));
  check(call, r, errnum, tries, () => `${fd}, ${sockaddrText(addr, len[0])}, [128 => ${len[0]}]`);
  return addr.slice(0, len[0]);
}

// --- sendmsg and recvmsg: bytes, and open descriptors beside them -----------------------------
//
// struct iovec  { void *iov_base; size_t iov_len; };                             16 bytes
// struct msghdr {                                                                56 bytes
//   void         *msg_name;        //  0  an address (only for unconnected sockets): NULL
//   socklen_t     msg_namelen;     //  8  (then 4 bytes of padding)
//   struct iovec *msg_iov;         // 16  the bytes, gathered from these buffers
//   size_t        msg_iovlen;      // 24
//   void         *msg_control;     // 32  control messages ("ancillary data")
//   size_t        msg_controllen;  // 40
//   int           msg_flags;       // 48  set by recvmsg (MSG_CTRUNC, …)
// };
// struct cmsghdr {                 // one control message, aligned to 8 bytes
//   size_t cmsg_len;               //  0  CMSG_LEN(n) = 16 + n
//   int    cmsg_level;             //  8  SOL_SOCKET
//   int    cmsg_type;              // 12  SCM_RIGHTS
//   unsigned char cmsg_data[];     // 16  here: n / 4 descriptors (int)
// };

const MSGHDR_SIZE = 56;
const CMSG_HEADER = 16;
/** `CMSG_SPACE(n)`: room for a control message of `n` data bytes, padded to 8. */
const cmsgSpace = (n: number) => CMSG_HEADER + Math.ceil(n / 8) * 8;
const addressOf = (buffer: Uint8Array) =>
  BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer)));

/** Builds a `struct msghdr` for one buffer and a control buffer; the caller keeps both alive. */
function msghdr(iov: Uint8Array, data: Uint8Array, control: Uint8Array | null): Uint8Array {
  const iovec = new DataView(iov.buffer, iov.byteOffset, 16);
  iovec.setBigUint64(0, data.length === 0 ? 0n : addressOf(data), true);
  iovec.setBigUint64(8, BigInt(data.length), true);
  const msg = new Uint8Array(MSGHDR_SIZE);
  const view = new DataView(msg.buffer);
  view.setBigUint64(16, addressOf(iov), true);
  view.setBigUint64(24, 1n, true);
  if (control !== null) {
    view.setBigUint64(32, addressOf(control), true);
    view.setBigUint64(40, BigInt(control.length), true);
  }
  return msg;
}

function msgText(data: Uint8Array, n: number, fds: number[], controllen: number): string {
  const rights = fds.length === 0 ? "NULL" : `[{cmsg_len=${CMSG_HEADER + 4 * fds.length}, ` +
    `cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS, cmsg_data=[${fds.join(", ")}]}]`;
  return `{msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base=<${Math.max(n, 0)} bytes>, ` +
    `iov_len=${data.length}}], msg_iovlen=1, msg_control=${rights}, ` +
    `msg_controllen=${controllen}, msg_flags=0}`;
}

const SENDMSG = documented(
  "sendmsg",
  "EACCES EAGAIN EALREADY EBADF ECONNRESET EDESTADDRREQ EFAULT EINTR EINVAL EISCONN EMSGSIZE " +
    "ENOBUFS ENOMEM ENOTCONN ENOTSOCK EOPNOTSUPP EPIPE   ETOOMANYREFS",
  { anyErrno: true }, // "other errors may be generated by the underlying protocol modules"
);

/**
 * `sendmsg(2)` on a connected stream socket: sends (some of) `data`, and with it the open file
 * descriptors `fds` in one `SCM_RIGHTS` control message: the kernel installs copies of them in
 * the receiving process, which then has the very same open files (same offset, same flags).
 * Returns how many bytes of `data` were sent, or {@linkcode WOULD_BLOCK}. Sends with
 * `MSG_NOSIGNAL`: a vanished peer is EPIPE, not SIGPIPE. Descriptors travel with a non-empty
 * `data` (at least one byte): that is what the receiver's `recvmsg` returns with them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   accept4, bind, close, connect, listen, O, open, recvmsg, sendmsg, SOCK, socket, unlink,
 * } from "../libc.ts";
 * // A connected pair of Unix stream sockets: a listener, one connection, the listener gone.
 * const path = `/tmp/example-${Deno.pid}-sendmsg.sock`;
 * const addr = new Uint8Array(110); // struct sockaddr_un
 * addr[0] = SOCK.AF_UNIX;
 * addr.set(new TextEncoder().encode(path), 2);
 * const listener = socket(SOCK.AF_UNIX, SOCK.STREAM | SOCK.CLOEXEC);
 * bind(listener, addr);
 * listen(listener, 1);
 * const a = socket(SOCK.AF_UNIX, SOCK.STREAM | SOCK.CLOEXEC);
 * connect(a, addr);
 * const accepted = accept4(listener, SOCK.CLOEXEC);
 * assert.ok(typeof accepted === "object");
 * const b = accepted.fd;
 * close(listener);
 * unlink(path);
 *
 * const file = open("/etc/hostname", O.RDONLY | O.CLOEXEC);
 * assert.equal(sendmsg(a, new Uint8Array([42]), [file]), 1); // one byte, one descriptor
 * const got = recvmsg(b, new Uint8Array(1), 1);
 * assert.ok(typeof got === "object" && got.n === 1 && got.fds.length === 1);
 * const inode = (fd: number) => Deno.statSync(`/proc/self/fd/${fd}`).ino;
 * assert.equal(inode(got.fds[0]!), inode(file)); // the same file, through a new descriptor
 * for (const fd of [file, got.fds[0]!, a, b]) close(fd);
 * ```
 */
export function sendmsg(
  fd: number,
  data: Uint8Array,
  fds: number[] = [],
): number | typeof WOULD_BLOCK {
  const iov = new Uint8Array(16);
  let control: Uint8Array | null = null;
  if (fds.length > 0) {
    control = new Uint8Array(cmsgSpace(4 * fds.length));
    const cmsg = new DataView(control.buffer);
    cmsg.setBigUint64(0, BigInt(CMSG_HEADER + 4 * fds.length), true);
    cmsg.setInt32(8, SOCK.SOL_SOCKET, true);
    cmsg.setInt32(12, SOCK.SCM_RIGHTS, true);
    fds.forEach((passed, i) => cmsg.setInt32(CMSG_HEADER + 4 * i, passed, true));
  }
  const msg = msghdr(iov, data, control);
  let n: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    n = c.sendmsg(fd, msg, SOCK.MSG_NOSIGNAL);
    errnum = errnoCell[0]!;
  } while (retry(SENDMSG, n === -1, errnum, ++tries));
  return tryCheck(
    SENDMSG,
    n,
    errnum,
    tries,
    () => `${fd}, ${msgText(data, n, fds, control?.length ?? 0)}, MSG_NOSIGNAL`,
  );
}

const RECVMSG = documented(
  "recvmsg",
  "EAGAIN EBADF ECONNREFUSED EFAULT EINTR EINVAL ENOMEM ENOTCONN ENOTSOCK",
  { anyErrno: true }, // as for sendmsg: ECONNRESET, ETIMEDOUT… come from the protocol
);

/**
 * `recvmsg(2)` on a connected stream socket: reads up to `buf.length` bytes, and up to
 * `maxFds` file descriptors passed with them (`SCM_RIGHTS`), which arrive with `FD_CLOEXEC`
 * set (`MSG_CMSG_CLOEXEC`). Returns the byte count (0 at end-of-file) and the descriptors,
 * now this process's to close; or {@linkcode WOULD_BLOCK}. Descriptors beyond `maxFds` are
 * closed by the kernel (`MSG_CTRUNC`): `truncated` says so.
 */
export function recvmsg(
  fd: number,
  buf: Uint8Array,
  maxFds: number,
): { n: number; fds: number[]; truncated: boolean } | typeof WOULD_BLOCK {
  const iov = new Uint8Array(16);
  const control = maxFds > 0 ? new Uint8Array(cmsgSpace(4 * maxFds)) : null;
  const msg = msghdr(iov, buf, control);
  let n: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    n = c.recvmsg(fd, msg, SOCK.MSG_CMSG_CLOEXEC);
    errnum = errnoCell[0]!;
  } while (retry(RECVMSG, n === -1, errnum, ++tries));
  const view = new DataView(msg.buffer);
  const fds: number[] = [];
  if (n >= 0 && control !== null) {
    // Walk the control messages the kernel wrote: msg_controllen now says how many bytes.
    const controllen = Number(view.getBigUint64(40, true));
    const cmsg = new DataView(control.buffer);
    for (let at = 0; at + CMSG_HEADER <= controllen;) {
      const len = Number(cmsg.getBigUint64(at, true));
      if (len < CMSG_HEADER) break;
      const level = cmsg.getInt32(at + 8, true), type = cmsg.getInt32(at + 12, true);
      if (level === SOCK.SOL_SOCKET && type === SOCK.SCM_RIGHTS) {
        for (let i = at + CMSG_HEADER; i + 4 <= at + len; i += 4) fds.push(cmsg.getInt32(i, true));
      }
      at += cmsgSpace(len - CMSG_HEADER);
    }
  }
  const outcome = tryCheck(
    RECVMSG,
    n,
    errnum,
    tries,
    () => `${fd}, ${msgText(buf, n, fds, control?.length ?? 0)}, MSG_CMSG_CLOEXEC`,
  );
  if (outcome === WOULD_BLOCK) return WOULD_BLOCK;
  let truncated = (view.getInt32(48, true) & SOCK.MSG_CTRUNC) !== 0;
  // The control buffer is padded to 8 bytes, so it may hold one more than asked for: close it.
  while (fds.length > maxFds) {
    close(fds.pop()!);
    truncated = true;
  }
  return { n: outcome, fds, truncated };
}

// --- getaddrinfo: a host name to addresses ----------------------------------------------------

/**
 * `getaddrinfo(3)`: the IPv4 and IPv6 addresses of `host` (a name such as `localhost`, or an
 * address in text), as the bytes of `struct sockaddr_in`/`sockaddr_in6` with port 0, in the
 * order the resolver prefers. It may wait for DNS, so it runs on a worker thread (the event
 * loop, and Ctrl-C, keep working). Fails with an `Error` whose message is `gai_strerror`'s
 * ("Name or service not known") and whose `code` is the EAI_* number.
 *
 * struct addrinfo { int ai_flags; int ai_family; int ai_socktype; int ai_protocol;  // 0 4 8 12
 *                   socklen_t ai_addrlen;                                            // 16
 *                   struct sockaddr *ai_addr; char *ai_canonname;                    // 24 32
 *                   struct addrinfo *ai_next; };                                     // 40; 48 bytes
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getaddrinfo } from "../libc.ts";
 * const [first] = await getaddrinfo("127.0.0.1", 2);
 * assert.deepEqual([...first!.subarray(4, 8)], [127, 0, 0, 1]); // sin_addr
 * ```
 */
export async function getaddrinfo(host: string, family = 0): Promise<Uint8Array[]> {
  const node = encoder.encode(host + "\0");
  if (host.includes("\0")) throw new TypeError(`host name contains a NUL byte: ${quote(host)}`);
  const hints = new Uint8Array(48);
  const view = new DataView(hints.buffer);
  view.setInt32(4, family, true); // AF_UNSPEC (0), AF_INET or AF_INET6
  view.setInt32(8, SOCK.STREAM, true);
  const result = new BigUint64Array(1);
  const r = await c.getaddrinfo(node, null, hints, new Uint8Array(result.buffer));
  if (r !== 0) {
    const message = Deno.UnsafePointerView.getCString(c.gai_strerror(r)!);
    tracer?.(
      `getaddrinfo(${quote(host)}, NULL, {ai_family=${
        FAMILY_NAMES[family] ?? "AF_UNSPEC"
      }, ai_socktype=SOCK_STREAM}, …) = ${r} (${message})`,
    );
    throw Object.assign(new Error(message), { code: r });
  }
  const addresses: Uint8Array[] = [];
  let entry = Deno.UnsafePointer.create(result[0]!);
  while (entry !== null) {
    const info = new Deno.UnsafePointerView(entry);
    const addrlen = info.getUint32(16);
    const addr = info.getPointer(24);
    if (addr !== null) {
      const bytes = new Uint8Array(addrlen);
      Deno.UnsafePointerView.copyInto(addr, bytes);
      if (!addresses.some((known) => known.join() === bytes.join())) addresses.push(bytes);
    }
    entry = info.getPointer(40);
  }
  c.freeaddrinfo(Deno.UnsafePointer.create(result[0]!));
  tracer?.(
    `getaddrinfo(${quote(host)}, NULL, {ai_family=${FAMILY_NAMES[family] ?? "AF_UNSPEC"}, ` +
      `ai_socktype=SOCK_STREAM}, [${addresses.map((a) => sockaddrText(a)).join(", ")}]) = 0`,
  );
  return addresses;
}

// --- A lock the kernel releases ---------------------------------------------------------------

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
  const bytes = encoder.encode(name);
  if (bytes.length > 107) throw new TypeError(`lock name too long: ${quote(name)}`);
  const fd = socket(SOCK.AF_UNIX, SOCK.STREAM | SOCK.CLOEXEC);
  // struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }, sun_path[0] = '\0'.
  const addr = new Uint8Array(2 + 1 + bytes.length);
  addr[0] = SOCK.AF_UNIX;
  addr.set(bytes, 3);
  try {
    bind(fd, addr);
    return fd;
  } catch (error) {
    close(fd);
    if (error instanceof LibcError && error.code === "EADDRINUSE") return null;
    throw error;
  }
}
