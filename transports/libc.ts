/**
 * The one place where this project talks to the C library.
 *
 * Every system call the lessons make goes through this file: the symbol table below is the
 * single `Deno.dlopen` of the project, and every wrapper does the three things a careful C
 * program does around a call:
 *
 * 1. call the function synchronously, on the main thread;
 * 2. when it reports failure (usually by returning -1), read `errno` at once, before anything
 *    else can overwrite it;
 * 3. turn that errno into a {@linkcode LibcError} that names the call, the errno (`ENOENT`, …)
 *    and the system's own message.
 *
 * Calls that are expected to "fail" in a hot loop (a full pipe, an empty queue) do not throw:
 * they return {@linkcode WOULD_BLOCK}, so that waiting is an ordinary branch, not an exception.
 *
 * `errno` is per thread. A `nonblocking: true` symbol runs on a worker thread, so its errno is
 * lost; such symbols are only used to *park* (wait until something may have changed), and the
 * real operation is then retried synchronously here, where errno can be read.
 *
 * With {@linkcode traceCalls} every call is reported in the style of `strace`:
 * `write(5, <65536 bytes>, 65536) = 65536`.
 *
 * @module
 */

if (Deno.build.os !== "linux") {
  throw new Error(`These lessons use Linux system calls; this is ${Deno.build.os}`);
}

// ---------------------------------------------------------------------------------------------
// The symbol table. The C prototype stands beside every parameter.
// ---------------------------------------------------------------------------------------------

const SYMBOLS = {
  // int *__errno_location(void);  (what the C macro `errno` expands to in glibc)
  __errno_location: { parameters: [], result: "pointer" },
  // char *strerror(int errnum);
  strerror: {
    parameters: [
      "i32", // int errnum
    ],
    result: "pointer",
  },

  // int open(const char *pathname, int flags, ... /* mode_t mode */);
  open: {
    parameters: [
      "buffer", // const char *pathname
      "i32", // int flags
      "u32", // mode_t mode (used with O_CREAT; open is variadic, but on Linux an extra int argument is harmless)
    ],
    result: "i32",
  },
  // int close(int fd);
  close: {
    parameters: [
      "i32", // int fd
    ],
    result: "i32",
  },
  // ssize_t read(int fd, void *buf, size_t count);
  read: {
    parameters: [
      "i32", // int fd
      "buffer", // void *buf
      "usize", // size_t count
    ],
    result: "isize",
  },
  // ssize_t write(int fd, const void *buf, size_t count);
  write: {
    parameters: [
      "i32", // int fd
      "buffer", // const void *buf
      "usize", // size_t count
    ],
    result: "isize",
  },
  // int fcntl(int fd, int cmd, ... /* int arg */);
  fcntl: {
    parameters: [
      "i32", // int fd
      "i32", // int cmd
      "i32", // int arg
    ],
    result: "i32",
  },
  // int poll(struct pollfd *fds, nfds_t nfds, int timeout);
  poll: {
    parameters: [
      "buffer", // struct pollfd *fds
      "u64", // nfds_t nfds
      "i32", // int ms
    ],
    result: "i32",
  },
  // The same poll(2), run on a worker thread: the event loop keeps turning while it waits.
  poll_park: {
    name: "poll",
    parameters: [
      "buffer", // struct pollfd *fds
      "u64", // nfds_t nfds
      "i32", // int ms
    ],
    result: "i32",
    nonblocking: true,
  },
  // int pipe2(int pipefd[2], int flags);
  pipe2: {
    parameters: [
      "buffer", // int pipefd[2]
      "i32", // int flags
    ],
    result: "i32",
  },
  // int dup(int oldfd);
  dup: {
    parameters: [
      "i32", // int oldfd
    ],
    result: "i32",
  },
  // int dup2(int oldfd, int newfd);
  dup2: {
    parameters: [
      "i32", // int oldfd
      "i32", // int newfd
    ],
    result: "i32",
  },
  // int mkfifo(const char *pathname, mode_t mode);
  mkfifo: {
    parameters: [
      "buffer", // const char *pathname
      "u32", // mode_t mode
    ],
    result: "i32",
  },
  // int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
  //            int flags);
  linkat: {
    parameters: [
      "i32", // int olddirfd
      "buffer", // const char *oldpath
      "i32", // int newdirfd
      "buffer", // const char *newpath
      "i32", // int flags
    ],
    result: "i32",
  },
  // int unlink(const char *pathname);
  unlink: {
    parameters: [
      "buffer", // const char *pathname
    ],
    result: "i32",
  },
  // int sched_yield(void);
  sched_yield: { parameters: [], result: "i32" },
  // int kill(pid_t pid, int sig);
  kill: {
    parameters: [
      "i32", // pid_t pid
      "i32", // int sig
    ],
    result: "i32",
  },
  // int clock_gettime(clockid_t clockid, struct timespec *tp);
  clock_gettime: {
    parameters: [
      "i32", // clockid_t clockid
      "buffer", // struct timespec *tp
    ],
    result: "i32",
  },
  // int ftruncate(int fd, off_t length);
  ftruncate: {
    parameters: [
      "i32", // int fd
      "i64", // off_t length
    ],
    result: "i32",
  },
  // void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset);
  mmap: {
    parameters: [
      "pointer", // void *addr
      "usize", // size_t length
      "i32", // int prot
      "i32", // int flags
      "i32", // int fd
      "i64", // off_t offset
    ],
    result: "pointer",
  },
  // int munmap(void *addr, size_t length);
  munmap: {
    parameters: [
      "pointer", // void *addr
      "usize", // size_t length
    ],
    result: "i32",
  },

  // int posix_fallocate(int fd, off_t offset, off_t len);  (returns the error number itself)
  posix_fallocate: {
    parameters: [
      "i32", // int fd
      "i64", // off_t offset
      "i64", // off_t len
    ],
    result: "i32",
  },
  // int statvfs(const char *path, struct statvfs *buf);
  statvfs: {
    parameters: [
      "buffer", // const char *path
      "buffer", // struct statvfs *buf
    ],
    result: "i32",
  },
  // int access(const char *pathname, int mode);
  access: {
    parameters: [
      "buffer", // const char *pathname
      "i32", // int mode
    ],
    result: "i32",
  },
  // int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4,
  //           unsigned long arg5);
  prctl: {
    parameters: [
      "i32", // int option
      "u64", // unsigned long arg2
      "u64", // unsigned long arg3
      "u64", // unsigned long arg4
      "u64", // unsigned long arg5
    ],
    result: "i32",
  },
  // pid_t getppid(void);
  getppid: { parameters: [], result: "i32" },
  // int socket(int domain, int type, int protocol);
  socket: {
    parameters: [
      "i32", // int domain
      "i32", // int type
      "i32", // int protocol
    ],
    result: "i32",
  },
  // int bind(int sockfd, const struct sockaddr *addr, socklen_t addrlen);
  bind: {
    parameters: [
      "i32", // int sockfd
      "buffer", // const struct sockaddr *addr
      "u32", // socklen_t addrlen
    ],
    result: "i32",
  },

  // --- POSIX message queues and shared memory: in librt.so.1 before glibc 2.34 -------------

  // mqd_t mq_open(const char *name, int oflag, ... /* mode_t mode, struct mq_attr *attr */);
  mq_open: {
    parameters: [
      "buffer", // const char *name
      "i32", // int oflag
      "u32", // mode_t mode
      "buffer", // struct mq_attr *attr (may be NULL)
    ],
    result: "i32",
  },
  // int mq_close(mqd_t mqdes);
  mq_close: {
    parameters: [
      "i32", // mqd_t mqdes
    ],
    result: "i32",
  },
  // int mq_unlink(const char *name);
  mq_unlink: {
    parameters: [
      "buffer", // const char *name
    ],
    result: "i32",
  },
  // int mq_getattr(mqd_t mqdes, struct mq_attr *attr);
  mq_getattr: {
    parameters: [
      "i32", // mqd_t mqdes
      "buffer", // struct mq_attr *attr
    ],
    result: "i32",
  },
  // int mq_setattr(mqd_t mqdes, const struct mq_attr *newattr, struct mq_attr *oldattr);
  mq_setattr: {
    parameters: [
      "i32", // mqd_t mqdes
      "buffer", // const struct mq_attr *newattr (only mq_flags is used)
      "buffer", // struct mq_attr *oldattr (may be NULL)
    ],
    result: "i32",
  },
  // int mq_send(mqd_t mqdes, const char *msg_ptr, size_t msg_len, unsigned int msg_prio);
  mq_send: {
    parameters: [
      "i32", // mqd_t mqdes
      "buffer", // const char *msg_ptr
      "usize", // size_t msg_len
      "u32", // unsigned int msg_prio
    ],
    result: "i32",
  },
  // ssize_t mq_receive(mqd_t mqdes, char *msg_ptr, size_t msg_len, unsigned int *msg_prio);
  mq_receive: {
    parameters: [
      "i32", // mqd_t mqdes
      "buffer", // char *msg_ptr
      "usize", // size_t msg_len
      "buffer", // unsigned int *msg_prio (may be NULL)
    ],
    result: "isize",
  },
  // int mq_timedsend(mqd_t mqdes, const char *msg_ptr, size_t msg_len, unsigned int msg_prio,
  //                  const struct timespec *abs_timeout);
  mq_timedsend: {
    parameters: [
      "i32", // mqd_t mqdes
      "buffer", // const char *msg_ptr
      "usize", // size_t msg_len
      "u32", // unsigned int msg_prio
      "buffer", // const struct timespec *abs_timeout
    ],
    result: "i32",
  },
  // The same mq_timedsend(3), run on a worker thread (to park while the queue is full).
  mq_timedsend_park: {
    name: "mq_timedsend",
    parameters: ["i32", "buffer", "usize", "u32", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  // ssize_t mq_timedreceive(mqd_t mqdes, char *msg_ptr, size_t msg_len, unsigned int *msg_prio,
  //                         const struct timespec *abs_timeout);
  mq_timedreceive: {
    parameters: [
      "i32", // mqd_t mqdes
      "buffer", // char *msg_ptr
      "usize", // size_t msg_len
      "buffer", // unsigned int *msg_prio (may be NULL)
      "buffer", // const struct timespec *abs_timeout
    ],
    result: "isize",
  },
  // The same mq_timedreceive(3), run on a worker thread (to park while the queue is empty).
  mq_timedreceive_park: {
    name: "mq_timedreceive",
    parameters: ["i32", "buffer", "usize", "buffer", "buffer"],
    result: "isize",
    nonblocking: true,
  },
  // int shm_open(const char *name, int oflag, mode_t mode);
  shm_open: {
    parameters: [
      "buffer", // const char *name
      "i32", // int oflag
      "u32", // mode_t mode
    ],
    result: "i32",
  },
  // int shm_unlink(const char *name);
  shm_unlink: {
    parameters: [
      "buffer", // const char *name
    ],
    result: "i32",
  },

  // --- POSIX named semaphores: in libpthread.so.0 before glibc 2.34 ---------------------------

  // sem_t *sem_open(const char *name, int oflag, ... /* mode_t mode, unsigned int value */);
  sem_open: {
    parameters: [
      "buffer", // const char *name
      "i32", // int oflag
      "u32", // mode_t mode
      "u32", // unsigned int value
    ],
    result: "pointer",
  },
  // int sem_close(sem_t *sem);
  sem_close: {
    parameters: [
      "pointer", // sem_t *sem
    ],
    result: "i32",
  },
  // int sem_unlink(const char *name);
  sem_unlink: {
    parameters: [
      "buffer", // const char *name
    ],
    result: "i32",
  },
  // int sem_post(sem_t *sem);
  sem_post: {
    parameters: [
      "pointer", // sem_t *sem
    ],
    result: "i32",
  },
  // int sem_trywait(sem_t *sem);
  sem_trywait: {
    parameters: [
      "pointer", // sem_t *sem
    ],
    result: "i32",
  },
  // int sem_timedwait(sem_t *sem, const struct timespec *abs_timeout);
  sem_timedwait: {
    parameters: [
      "pointer", // sem_t *sem
      "buffer", // const struct timespec *abs_timeout
    ],
    result: "i32",
  },
  // The same sem_timedwait(3), run on a worker thread (to park while the count is zero).
  sem_timedwait_park: {
    name: "sem_timedwait",
    parameters: ["pointer", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  // int sem_getvalue(sem_t *sem, int *sval);
  sem_getvalue: {
    parameters: [
      "pointer", // sem_t *sem
      "buffer", // int *sval
    ],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

type Symbols = Deno.StaticForeignLibraryInterface<typeof SYMBOLS>;

/**
 * Opens the C library. Since glibc 2.34 everything is in `libc.so.6`; before that, `mq_*` and
 * `shm_*` lived in `librt.so.1` and `sem_*` in `libpthread.so.0`, so on an older system each
 * group is loaded from where it is.
 */
function loadLibc(): Symbols {
  try {
    return dlopen("libc.so.6", SYMBOLS);
  } catch {
    const pick = (test: (name: string) => boolean) =>
      Object.fromEntries(
        Object.entries(SYMBOLS).filter(([key, def]) => {
          const name = "name" in def ? def.name : key;
          return test(name);
        }),
      ) as Deno.ForeignLibraryInterface;
    const isRt = (name: string) => name.startsWith("mq_") || name.startsWith("shm_");
    const isSem = (name: string) => name.startsWith("sem_");
    return {
      ...dlopen("libc.so.6", pick((name) => !isRt(name) && !isSem(name))),
      ...dlopen("librt.so.1", pick(isRt)),
      ...dlopen("libpthread.so.0", pick(isSem)),
    } as Symbols;
  }
}

function dlopen<S extends Deno.ForeignLibraryInterface>(path: string, symbols: S) {
  // The project's only Deno.dlopen. The library stays open for the life of the process.
  return Deno.dlopen(path, symbols).symbols;
}

const c: Symbols = loadLibc();

// ---------------------------------------------------------------------------------------------
// Constants (Linux; the values are the same on x86_64 and aarch64 unless noted)
// ---------------------------------------------------------------------------------------------

/** Flags for `open(2)`, `mq_open(3)`, `shm_open(3)` and `sem_open(3)`. */
export const O = {
  RDONLY: 0o0,
  WRONLY: 0o1,
  RDWR: 0o2,
  CREAT: 0o100,
  EXCL: 0o200,
  NONBLOCK: 0o4000,
  CLOEXEC: 0o2000000,
  /** A descriptor that only names a file: no reading, no writing, and no side effects. */
  PATH: 0o10000000,
  // The flags here whose values differ between architectures.
  NOFOLLOW: Deno.build.arch === "aarch64" ? 0o100000 : 0o400000,
  /** An unnamed file in the given directory; it gets a name only with linkat(2). */
  TMPFILE: 0o20000000 | (Deno.build.arch === "aarch64" ? 0o40000 : 0o200000),
} as const;

/** Commands for `fcntl(2)`. */
export const F = { GETFL: 3, SETFL: 4, SETPIPE_SZ: 1031, GETPIPE_SZ: 1032 } as const;

/** Event bits for `poll(2)`. */
export const POLL = { IN: 0x1, OUT: 0x4, ERR: 0x8, HUP: 0x10, NVAL: 0x20 } as const;

/** Protection and flag bits for `mmap(2)`. */
export const PROT = { READ: 0x1, WRITE: 0x2 } as const;
/** `MAP_SHARED`: stores are visible to every process that maps the same object. */
export const MAP_SHARED = 0x1;

/** Returned instead of a count when a call on a non-blocking descriptor would have to wait. */
export const WOULD_BLOCK: unique symbol = Symbol("WOULD_BLOCK");

// ---------------------------------------------------------------------------------------------
// errno
// ---------------------------------------------------------------------------------------------

/**
 * Linux errno numbers by name (the generic table, used by x86_64 and aarch64), for comparisons
 * such as `error.errno === Errno.EEXIST`.
 */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  EOVERFLOW: 75,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  ECONNRESET: 104,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EADDRINUSE: 98,
  EDQUOT: 122,
} as const;

const ERRNO_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Errno).map(([name, number]) => [number, name]),
);

/** The value of `errno` on this thread. Read it right after the call that failed. */
function errno(): number {
  return new Deno.UnsafePointerView(c.__errno_location()!).getInt32();
}

/**
 * The name of an errno number, such as `"ENOENT"` for 2.
 *
 * @example
 * ```ts
 * import { errnoName } from "./libc.ts";
 * console.log(errnoName(2)); // "ENOENT"
 * ```
 */
export function errnoName(errnum: number): string {
  return ERRNO_NAMES[errnum] ?? `errno ${errnum}`;
}

/**
 * The system's message for an errno, as `strerror(3)` gives it: "No such file or directory".
 * Accepts a number or a name (`"ENOENT"`), which is also what Deno puts in `error.code`.
 *
 * @example
 * ```ts
 * import { strerror } from "./libc.ts";
 * console.log(strerror("EEXIST")); // "File exists"
 * ```
 */
export function strerror(errnum: number | string): string {
  const number = typeof errnum === "string" ? (Errno as Record<string, number>)[errnum] : errnum;
  if (number === undefined) return String(errnum);
  return Deno.UnsafePointerView.getCString(c.strerror(number)!);
}

/**
 * A failed call into the C library: which call, which errno, and the system's message.
 *
 * @example
 * ```ts
 * import { LibcError, unlink } from "./libc.ts";
 * try {
 *   unlink("/no/such/file");
 * } catch (error) {
 *   if (error instanceof LibcError) console.log(error.code); // "ENOENT"
 * }
 * ```
 */
export class LibcError extends Error {
  /** The C function that failed, such as `"mq_open"`. */
  readonly call: string;
  /** The errno number. */
  readonly errno: number;
  /** The errno name, such as `"ENOENT"`. */
  readonly code: string;
  /** The system's message for the errno, such as `"No such file or directory"`. */
  readonly description: string;

  /** Builds the error for `call` from an errno number. */
  constructor(call: string, errnum: number) {
    const code = errnoName(errnum);
    const description = strerror(errnum);
    super(`${call} failed: ${code} (${description})`);
    this.name = "LibcError";
    this.call = call;
    this.errno = errnum;
    this.code = code;
    this.description = description;
  }
}

// ---------------------------------------------------------------------------------------------
// Tracing
// ---------------------------------------------------------------------------------------------

let tracer: ((line: string) => void) | null = null;

/**
 * Reports every call made through this module to `fn`, one line per call, in the style of
 * `strace`; `null` turns tracing off.
 *
 * @example
 * ```ts
 * import { traceCalls } from "./libc.ts";
 * traceCalls((line) => console.error(line));
 * ```
 */
export function traceCalls(fn: ((line: string) => void) | null): void {
  tracer = fn;
}

function result(value: number | bigint, errnum?: number): string {
  if (errnum === undefined) return String(value);
  return `-1 ${errnoName(errnum)} (${strerror(errnum)})`;
}

/** Formats flag bits by name: `O_WRONLY|O_NONBLOCK`. */
function flags(value: number, names: Record<string, number>, prefix: string): string {
  const parts: string[] = [];
  let rest = value;
  for (const [name, bit] of Object.entries(names)) {
    if (bit !== 0 && (value & bit) === bit) {
      parts.push(prefix + name);
      rest &= ~bit;
    }
  }
  if (prefix === "O_" && (value & 3) === 0) parts.unshift("O_RDONLY");
  if (rest !== 0) parts.push(`0x${rest.toString(16)}`);
  return parts.join("|") || "0";
}

const openFlags = (value: number) => flags(value, O, "O_");
const pollEvents = (value: number) => flags(value, POLL, "POLL");
const octal = (mode: number) => `0${mode.toString(8)}`;
const quote = (s: string) => JSON.stringify(s);

// ---------------------------------------------------------------------------------------------
// Helpers for C strings and structs
// ---------------------------------------------------------------------------------------------

const encoder = new TextEncoder();

/** A NUL-terminated UTF-8 copy of `s`, as C expects a `const char *`. */
function cstring(s: string): Uint8Array<ArrayBuffer> {
  if (s.includes("\0")) throw new TypeError(`Name contains a NUL byte: ${quote(s)}`);
  return encoder.encode(s + "\0");
}

/** A `struct timespec` holding the absolute time `ms` milliseconds from now on CLOCK_REALTIME. */
function deadlineIn(ms: number): BigInt64Array<ArrayBuffer> {
  const at = Date.now() + Math.max(0, ms);
  const seconds = Math.floor(at / 1000);
  return new BigInt64Array([BigInt(seconds), BigInt(Math.round((at - seconds * 1000) * 1e6))]);
}

/** A `struct timespec` in the past: a timed call given it never waits. */
const ALREADY_EXPIRED = new BigInt64Array([0n, 0n]);

/**
 * Runs a call that returns -1 on failure: returns its result, or throws a {@linkcode LibcError}
 * after reading errno.
 */
function check(call: string, value: number | bigint, args: () => string): number {
  if (value === -1 || value === -1n) {
    const errnum = errno();
    tracer?.(`${call}(${args()}) = ${result(-1, errnum)}`);
    throw new LibcError(call, errnum);
  }
  tracer?.(`${call}(${args()}) = ${result(value)}`);
  return Number(value);
}

/**
 * Like {@linkcode check}, but a call that would block (EAGAIN, or EINTR for an interrupted
 * one, or ETIMEDOUT for a timed call given a deadline in the past) returns WOULD_BLOCK.
 */
function tryCheck(
  call: string,
  value: number | bigint,
  args: () => string,
): number | typeof WOULD_BLOCK {
  if (value === -1 || value === -1n) {
    const errnum = errno();
    if (errnum === Errno.EAGAIN || errnum === Errno.EINTR || errnum === Errno.ETIMEDOUT) {
      tracer?.(`${call}(${args()}) = ${result(-1, errnum)}`);
      return WOULD_BLOCK;
    }
    tracer?.(`${call}(${args()}) = ${result(-1, errnum)}`);
    throw new LibcError(call, errnum);
  }
  tracer?.(`${call}(${args()}) = ${result(value)}`);
  return Number(value);
}

// ---------------------------------------------------------------------------------------------
// Files and descriptors
// ---------------------------------------------------------------------------------------------

/**
 * `open(2)`: opens `path` and returns a new file descriptor.
 *
 * @example
 * ```ts
 * import { close, O, open } from "./libc.ts";
 * const fd = open("/etc/hostname", O.RDONLY | O.CLOEXEC);
 * close(fd);
 * ```
 */
export function open(path: string, flags: number, mode = 0): number {
  return check(
    "open",
    c.open(cstring(path), flags, mode),
    () => `${quote(path)}, ${openFlags(flags)}${flags & O.CREAT ? `, ${octal(mode)}` : ""}`,
  );
}

/** `close(2)`: releases a file descriptor. */
export function close(fd: number): void {
  check("close", c.close(fd), () => `${fd}`);
}

/**
 * `read(2)`: reads up to `buf.length` bytes. Returns the count (0 at end-of-file), or
 * {@linkcode WOULD_BLOCK} when a non-blocking descriptor has nothing to read yet.
 */
export function read(fd: number, buf: Uint8Array): number | typeof WOULD_BLOCK {
  const n = c.read(fd, buf, BigInt(buf.length));
  // The common case first, with nothing to allocate: a count, and no tracing.
  if (tracer === null && n !== -1n) return Number(n);
  return tryCheck("read", n, () => `${fd}, <buffer>, ${buf.length}`);
}

/**
 * `write(2)`: writes up to `buf.length` bytes and returns how many were taken, or
 * {@linkcode WOULD_BLOCK} when a non-blocking descriptor has no room. A pipe whose readers are
 * all gone fails with EPIPE.
 */
export function write(fd: number, buf: Uint8Array): number | typeof WOULD_BLOCK {
  const n = c.write(fd, buf, BigInt(buf.length));
  if (tracer === null && n !== -1n) return Number(n);
  return tryCheck("write", n, () => `${fd}, <${buf.length} bytes>, ${buf.length}`);
}

/** `fcntl(2)` with an integer argument: `F.GETFL`, `F.SETFL`, `F.GETPIPE_SZ`, `F.SETPIPE_SZ`. */
export function fcntl(fd: number, cmd: number, arg = 0): number {
  const name = Object.entries(F).find(([, value]) => value === cmd)?.[0] ?? String(cmd);
  return check("fcntl", c.fcntl(fd, cmd, arg), () => {
    const shown = cmd === F.SETFL ? openFlags(arg) : String(arg);
    return `${fd}, F_${name}${cmd === F.GETFL || cmd === F.GETPIPE_SZ ? "" : `, ${shown}`}`;
  });
}

/** Sets or clears `O_NONBLOCK` on a descriptor with `fcntl(F_GETFL/F_SETFL)`. */
export function setNonBlocking(fd: number, on = true): void {
  const current = fcntl(fd, F.GETFL);
  const wanted = on ? current | O.NONBLOCK : current & ~O.NONBLOCK;
  if (wanted !== current) fcntl(fd, F.SETFL, wanted);
}

function pollfd(fd: number, events: number): Uint8Array<ArrayBuffer> {
  // struct pollfd { int fd; short events; short revents; };
  const buf = new Uint8Array(8);
  const view = new DataView(buf.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, events, true);
  return buf;
}

const revents = (buf: Uint8Array) => new DataView(buf.buffer).getInt16(6, true);

/**
 * `poll(2)` on one descriptor, on this thread: waits at most `ms` milliseconds (0: not at all)
 * until `fd` is ready for `events`. Returns the `revents` bits (POLL.HUP and POLL.ERR may be
 * among them), or 0 when the time ran out. The event loop stands still meanwhile, so `ms` must
 * be short; use {@linkcode pollPark} for longer waits.
 */
export function poll(fd: number, events: number, ms: number): number {
  const buf = pollfd(fd, events);
  // EINTR (a signal arrived) counts as "nothing ready yet": the caller looks again.
  const n = tryCheck(
    "poll",
    c.poll(buf, 1n, ms),
    () => `[{fd=${fd}, events=${pollEvents(events)}}], 1, ${ms}`,
  );
  return n !== WOULD_BLOCK && n > 0 ? revents(buf) : 0;
}

/**
 * Polls one descriptor for at most `us` microseconds without sleeping in the kernel:
 * `poll(2)` with a timeout of 0, and `sched_yield(2)` between tries so that a peer waiting for
 * this CPU can run. When the peer acts within microseconds, as two processes streaming through
 * a message queue do, this saves a sleep and a wake-up, which cost tens of microseconds (more
 * when a halted CPU must be woken). Returns the `revents` bits, or 0 when the time ran out.
 * Traced as one line.
 */
export function pollSpin(fd: number, events: number, us: number): number {
  spinPollfd.setInt32(0, fd, true);
  spinPollfd.setInt16(4, events, true);
  const until = performance.now() + us / 1000;
  let tries = 0;
  let ready = 0;
  do {
    tries++;
    // A failure (EINTR) counts as "not ready yet", like a timeout.
    if (c.poll(spinPollfdBytes, 1n, 0) > 0) {
      ready = spinPollfd.getInt16(6, true);
      break;
    }
    c.sched_yield();
  } while (performance.now() < until);
  tracer?.(
    `poll([{fd=${fd}, events=${pollEvents(events)}}], 1, 0) ×${tries}, sched_yield() between, ` +
      `for up to ${us} µs = ${ready ? `1 ([{revents=${pollEvents(ready)}}])` : "0"}`,
  );
  return ready;
}

// struct pollfd for pollSpin, made once: it runs on the main thread only, one call at a time.
const spinPollfdBytes = new Uint8Array(8);
const spinPollfd = new DataView(spinPollfdBytes.buffer);

/**
 * Parks in `poll(2)` on a worker thread until `fd` is ready for `events` or `ms` have passed,
 * while the event loop keeps running (timers, signal handlers). Resolves to the `revents` bits,
 * or 0 when the time ran out or the wait was interrupted: the caller simply tries again.
 */
export async function pollPark(fd: number, events: number, ms: number): Promise<number> {
  const buf = pollfd(fd, events);
  const n = await c.poll_park(buf, 1n, Math.max(0, Math.ceil(ms)));
  // errno belongs to the worker thread, so a failure is not inspected: the caller's next
  // synchronous attempt will report any real error.
  const ready = n > 0 ? revents(buf) : 0;
  tracer?.(
    `poll([{fd=${fd}, events=${pollEvents(events)}}], 1, ${Math.ceil(ms)}) = ${n}${
      ready ? ` ([{revents=${pollEvents(ready)}}])` : n === 0 ? " (timeout)" : ""
    }`,
  );
  return ready;
}

const NO_FDS = new Uint8Array(8);

/**
 * Gives the event loop one turn: a `poll(2)` on no descriptors with a zero timeout, on a worker
 * thread. Returns at once, yet the event loop runs while it does, so pending timers and signal
 * listeners get to run (about 0.05–0.2 ms, where `setTimeout(0)` costs 2 ms). Not traced: it is
 * not a step of the lesson.
 */
export async function yieldToEventLoop(): Promise<void> {
  await c.poll_park(NO_FDS, 0n, 0);
}

/** `pipe2(2)`: a new pipe; returns `[readFd, writeFd]`. */
export function pipe2(flags: number): [number, number] {
  const fds = new Int32Array(2);
  check(
    "pipe2",
    c.pipe2(new Uint8Array(fds.buffer), flags),
    () => `[${fds[0]}, ${fds[1]}], ${flags ? openFlags(flags) : "0"}`,
  );
  return [fds[0]!, fds[1]!];
}

/** `dup(2)`: a second descriptor for the same open file. */
export function dup(fd: number): number {
  return check("dup", c.dup(fd), () => `${fd}`);
}

/** `dup2(2)`: makes `newfd` refer to the same open file as `oldfd`. */
export function dup2(oldfd: number, newfd: number): number {
  return check("dup2", c.dup2(oldfd, newfd), () => `${oldfd}, ${newfd}`);
}

/** `mkfifo(3)`: creates a FIFO (named pipe) at `path`; fails with EEXIST if anything is there. */
export function mkfifo(path: string, mode: number): void {
  check("mkfifo", c.mkfifo(cstring(path), mode), () => `${quote(path)}, ${octal(mode)}`);
}

/**
 * Gives the unnamed file (`O.TMPFILE`) open at `fd` the name `path`: `linkat(2)` of
 * `/proc/self/fd/FD`, following that link to the file itself (AT_SYMLINK_FOLLOW).
 */
export function linkFd(fd: number, path: string): void {
  const AT_FDCWD = -100;
  const AT_SYMLINK_FOLLOW = 0x400;
  const from = `/proc/self/fd/${fd}`;
  check(
    "linkat",
    c.linkat(AT_FDCWD, cstring(from), AT_FDCWD, cstring(path), AT_SYMLINK_FOLLOW),
    () => `AT_FDCWD, ${quote(from)}, AT_FDCWD, ${quote(path)}, AT_SYMLINK_FOLLOW`,
  );
}

/** `unlink(2)`: removes a name from the file system. */
export function unlink(path: string): void {
  check("unlink", c.unlink(cstring(path)), () => quote(path));
}

/**
 * `kill(2)` with signal 0: does process `pid` still exist? (No signal is sent; the kernel
 * only checks. EPERM means it exists but belongs to someone else.)
 */
export function processExists(pid: number): boolean {
  try {
    check("kill", c.kill(pid, 0), () => `${pid}, 0`);
    return true;
  } catch (error) {
    if (error instanceof LibcError && error.code === "ESRCH") return false;
    if (error instanceof LibcError && error.code === "EPERM") return true;
    throw error;
  }
}

const timespec = new BigInt64Array(2);
const timespecBytes = new Uint8Array(timespec.buffer);

/**
 * `clock_gettime(CLOCK_MONOTONIC)` in milliseconds. The monotonic clock is the same for every
 * process on the machine, so two processes can compare their readings. (Not traced: it is a
 * measurement, not a step of the lesson.)
 */
export function monotonicMs(): number {
  if (c.clock_gettime(1, /* CLOCK_MONOTONIC */ timespecBytes) !== 0) {
    throw new LibcError("clock_gettime", errno());
  }
  return Number(timespec[0]!) * 1000 + Number(timespec[1]!) / 1e6;
}

/** `ftruncate(2)`: sets the size of the file (or shared-memory object) behind `fd`. */
export function ftruncate(fd: number, length: number): void {
  check("ftruncate", c.ftruncate(fd, BigInt(length)), () => `${fd}, ${length}`);
}

/** `mmap(2)` of a whole object, shared: returns the address of the mapping. */
export function mmap(length: number, prot: number, flags: number, fd: number): Deno.PointerObject {
  const address = c.mmap(null, BigInt(length), prot, flags, fd, 0n);
  const protText = [prot & PROT.READ ? "PROT_READ" : "", prot & PROT.WRITE ? "PROT_WRITE" : ""]
    .filter(Boolean).join("|") || "PROT_NONE";
  const args = () =>
    `NULL, ${length}, ${protText}, ${flags & MAP_SHARED ? "MAP_SHARED" : flags}, ${fd}, 0`;
  // MAP_FAILED is (void *) -1.
  if (address === null || Deno.UnsafePointer.value(address) === 0xffffffffffffffffn) {
    const errnum = errno();
    tracer?.(`mmap(${args()}) = ${result(-1, errnum)}`);
    throw new LibcError("mmap", errnum);
  }
  tracer?.(`mmap(${args()}) = 0x${Deno.UnsafePointer.value(address).toString(16)}`);
  return address;
}

/** `munmap(2)`: removes a mapping. */
export function munmap(address: Deno.PointerObject, length: number): void {
  check(
    "munmap",
    c.munmap(address, BigInt(length)),
    () => `0x${Deno.UnsafePointer.value(address).toString(16)}, ${length}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Space, permissions and processes
// ---------------------------------------------------------------------------------------------

/**
 * `posix_fallocate(3)`: reserves the blocks (or, in `/dev/shm`, the pages) for bytes
 * `offset` to `offset + length` of the file at `fd`, so that later writes or stores into a
 * mapping cannot fail for lack of space. Unlike almost every other call here it does not set
 * errno: it returns the error number itself.
 */
export function posix_fallocate(fd: number, offset: number, length: number): void {
  const err = c.posix_fallocate(fd, BigInt(offset), BigInt(length));
  const args = () => `${fd}, ${offset}, ${length}`;
  if (err !== 0) {
    tracer?.(`posix_fallocate(${args()}) = ${errnoName(err)} (${strerror(err)})`);
    throw new LibcError("posix_fallocate", err);
  }
  tracer?.(`posix_fallocate(${args()}) = 0`);
}

/** What {@linkcode statvfs} tells of a file system. */
export interface FsSpace {
  /** Bytes an unprivileged user may still write (`f_bavail × f_frsize`). */
  availableBytes: number;
  /** Bytes free, counting the blocks reserved for root (`f_bfree × f_frsize`). */
  freeBytes: number;
  /** The file system's size (`f_blocks × f_frsize`). */
  totalBytes: number;
  /** Mounted read-only (`ST_RDONLY` in `f_flag`). */
  readOnly: boolean;
}

/**
 * `statvfs(3)`: how much room the file system that holds `path` has.
 *
 * @example
 * ```ts
 * import { statvfs } from "./libc.ts";
 * const space = statvfs("/tmp");
 * if (space.availableBytes < 0) throw new Error("impossible");
 * ```
 */
export function statvfs(path: string): FsSpace {
  // struct statvfs (x86_64 and aarch64): unsigned long f_bsize, f_frsize; fsblkcnt_t f_blocks,
  // f_bfree, f_bavail; fsfilcnt_t f_files, f_ffree, f_favail; unsigned long f_fsid, f_flag,
  // f_namemax; int __f_spare[6];  (11 × 8 + 24 = 112 bytes)
  const s = new BigUint64Array(14);
  check(
    "statvfs",
    c.statvfs(cstring(path), new Uint8Array(s.buffer)),
    () => `${quote(path)}, <buf>`,
  );
  const frsize = Number(s[1]);
  const ST_RDONLY = 1n;
  return {
    totalBytes: Number(s[2]) * frsize,
    freeBytes: Number(s[3]) * frsize,
    availableBytes: Number(s[4]) * frsize,
    readOnly: (s[9]! & ST_RDONLY) !== 0n,
  };
}

/** Modes for {@linkcode access}. */
export const ACCESS = { F_OK: 0, X_OK: 1, W_OK: 2, R_OK: 4 } as const;

/**
 * `access(2)`: may this process (by its real user id) open `path` for `mode`? Returns null
 * when it may, or the {@linkcode LibcError} that says why not (EACCES, EROFS, ENOENT, …).
 */
export function access(path: string, mode: number): LibcError | null {
  try {
    check("access", c.access(cstring(path), mode), () => `${quote(path)}, ${mode}`);
    return null;
  } catch (error) {
    if (error instanceof LibcError) return error;
    throw error;
  }
}

/**
 * `prctl(PR_SET_PDEATHSIG, signal)`: asks the kernel to send this process `signal` when its
 * parent dies, even if the parent was killed with SIGKILL and could not say goodbye.
 * (Strictly: when the *thread* that started it exits; Deno starts children from its main
 * thread, which lives as long as the process.)
 */
export function setParentDeathSignal(signal: number): void {
  const PR_SET_PDEATHSIG = 1;
  check(
    "prctl",
    c.prctl(PR_SET_PDEATHSIG, BigInt(signal), 0n, 0n, 0n),
    () => `PR_SET_PDEATHSIG, ${signal}`,
  );
}

/** `getppid(2)`: the parent's pid (1, or a subreaper's, once the parent has died). */
export function getppid(): number {
  return c.getppid();
}

/**
 * A lock the kernel releases when this process dies, however it dies: a Unix-domain socket
 * bound to a name in the *abstract* namespace (`sun_path` starting with a NUL byte). Such a
 * name is no file: it vanishes with the last descriptor, so a killed holder leaves nothing
 * behind. Returns the socket's descriptor (close it to release the lock), or null when another
 * process holds the name (EADDRINUSE). Names longer than 107 bytes are shortened by hashing
 * by the caller.
 */
export function bindAbstractLock(name: string): number | null {
  const AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0o2000000;
  const bytes = encoder.encode(name);
  if (bytes.length > 107) throw new TypeError(`lock name too long: ${quote(name)}`);
  const fd = check(
    "socket",
    c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0),
    () => "AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0",
  );
  // struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }, sun_path[0] = '\0'.
  const addr = new Uint8Array(2 + 1 + bytes.length);
  addr[0] = AF_UNIX;
  addr.set(bytes, 3);
  try {
    check(
      "bind",
      c.bind(fd, addr, addr.length),
      () => `${fd}, {sa_family=AF_UNIX, sun_path=@${quote(name)}}, ${addr.length}`,
    );
    return fd;
  } catch (error) {
    close(fd);
    if (error instanceof LibcError && error.code === "EADDRINUSE") return null;
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// POSIX message queues
// ---------------------------------------------------------------------------------------------

/** The fields of `struct mq_attr` that matter. */
export interface MqAttr {
  /** `mq_flags`: 0 or `O.NONBLOCK`. */
  flags: number;
  /** `mq_maxmsg`: how many messages the queue holds before a sender must wait. */
  maxmsg: number;
  /** `mq_msgsize`: the largest message, in bytes. */
  msgsize: number;
  /** `mq_curmsgs`: how many messages are in the queue now. */
  curmsgs: number;
}

// struct mq_attr { long mq_flags, mq_maxmsg, mq_msgsize, mq_curmsgs; long __reserved[4]; };
function mqAttrStruct(attr?: Partial<MqAttr>): BigInt64Array<ArrayBuffer> {
  const s = new BigInt64Array(8);
  s[0] = BigInt(attr?.flags ?? 0);
  s[1] = BigInt(attr?.maxmsg ?? 0);
  s[2] = BigInt(attr?.msgsize ?? 0);
  s[3] = BigInt(attr?.curmsgs ?? 0);
  return s;
}

const bytesOf = (array: BigInt64Array<ArrayBuffer>) => new Uint8Array(array.buffer);

/**
 * `mq_open(3)`: opens (or with `O.CREAT`, creates) a message queue and returns its descriptor.
 * `attr` sets `mq_maxmsg` and `mq_msgsize` when the queue is created.
 */
export function mq_open(
  name: string,
  oflag: number,
  mode = 0,
  attr?: Pick<MqAttr, "maxmsg" | "msgsize">,
): number {
  const attrBuf = attr ? bytesOf(mqAttrStruct(attr)) : null;
  return check("mq_open", c.mq_open(cstring(name), oflag, mode, attrBuf), () => {
    const shown = attr ? `{mq_maxmsg=${attr.maxmsg}, mq_msgsize=${attr.msgsize}}` : "NULL";
    return `${quote(name)}, ${openFlags(oflag)}${
      oflag & O.CREAT ? `, ${octal(mode)}, ${shown}` : ""
    }`;
  });
}

/** `mq_close(3)`: closes a message-queue descriptor (the queue itself lives on). */
export function mq_close(mqdes: number): void {
  check("mq_close", c.mq_close(mqdes), () => `${mqdes}`);
}

/** `mq_unlink(3)`: removes a queue's name; the queue goes once every descriptor is closed. */
export function mq_unlink(name: string): void {
  check("mq_unlink", c.mq_unlink(cstring(name)), () => quote(name));
}

/** `mq_getattr(3)`: the queue's attributes, including how many messages it holds now. */
export function mq_getattr(mqdes: number): MqAttr {
  const s = mqAttrStruct();
  check("mq_getattr", c.mq_getattr(mqdes, bytesOf(s)), () => `${mqdes}, <attr>`);
  return {
    flags: Number(s[0]),
    maxmsg: Number(s[1]),
    msgsize: Number(s[2]),
    curmsgs: Number(s[3]),
  };
}

/**
 * `mq_setattr(3)`: sets the descriptor's `mq_flags`, the only attribute that can change after
 * creation: `O.NONBLOCK`, or 0 to make sends and receives wait.
 */
export function mq_setattr(mqdes: number, flags: number): void {
  const attr = bytesOf(mqAttrStruct({ flags }));
  check(
    "mq_setattr",
    c.mq_setattr(mqdes, attr, null),
    () => `${mqdes}, {mq_flags=${flags ? openFlags(flags).replace("O_RDONLY|", "") : "0"}}, NULL`,
  );
}

/** `mq_send(3)`: puts one message on the queue; waits while it is full (unless O_NONBLOCK). */
export function mq_send(mqdes: number, msg: Uint8Array, prio = 0): number | typeof WOULD_BLOCK {
  const r = c.mq_send(mqdes, msg, BigInt(msg.length), prio);
  if (tracer === null && r === 0) return 0; // the common case, with nothing to allocate
  return tryCheck("mq_send", r, () => `${mqdes}, <${msg.length} bytes>, ${msg.length}, ${prio}`);
}

/**
 * `mq_receive(3)`: takes the oldest highest-priority message into `buf` (which must hold
 * `mq_msgsize` bytes) and returns its length.
 */
export function mq_receive(mqdes: number, buf: Uint8Array): number | typeof WOULD_BLOCK {
  const n = c.mq_receive(mqdes, buf, BigInt(buf.length), null);
  if (tracer === null && n !== -1n) return Number(n); // the common case
  return tryCheck("mq_receive", n, () => `${mqdes}, <buffer>, ${buf.length}, NULL`);
}

/**
 * `mq_timedsend(3)`: like {@linkcode mq_send}, but waits at most `ms` milliseconds (0: not at
 * all) for room; returns WOULD_BLOCK when there was none in time.
 */
export function mq_timedsend(
  mqdes: number,
  msg: Uint8Array,
  ms: number,
  prio = 0,
): number | typeof WOULD_BLOCK {
  const at = ms <= 0 ? ALREADY_EXPIRED : deadlineIn(ms);
  return tryCheck(
    "mq_timedsend",
    c.mq_timedsend(mqdes, msg, BigInt(msg.length), prio, bytesOf(at)),
    () => `${mqdes}, <${msg.length} bytes>, ${msg.length}, ${prio}, <now+${ms} ms>`,
  );
}

/**
 * `mq_timedreceive(3)`: like {@linkcode mq_receive}, but waits at most `ms` milliseconds (0: not
 * at all) for a message; returns WOULD_BLOCK when none came in time.
 */
export function mq_timedreceive(
  mqdes: number,
  buf: Uint8Array,
  ms: number,
): number | typeof WOULD_BLOCK {
  const at = ms <= 0 ? ALREADY_EXPIRED : deadlineIn(ms);
  return tryCheck(
    "mq_timedreceive",
    c.mq_timedreceive(mqdes, buf, BigInt(buf.length), null, bytesOf(at)),
    () => `${mqdes}, <buffer>, ${buf.length}, NULL, <now+${ms} ms>`,
  );
}

/**
 * Parks in `mq_timedsend(3)` on a worker thread for at most `ms`: the message is sent if room
 * appears in time. Resolves to true when it was sent, false otherwise (time ran out, or an
 * error whose errno is lost on the worker thread: the caller retries synchronously to see it).
 */
export async function mq_timedsendPark(
  mqdes: number,
  msg: Uint8Array,
  ms: number,
): Promise<boolean> {
  const at = deadlineIn(ms);
  const r = await c.mq_timedsend_park(mqdes, msg, BigInt(msg.length), 0, bytesOf(at));
  tracer?.(
    `mq_timedsend(${mqdes}, <${msg.length} bytes>, ${msg.length}, 0, <now+${ms} ms>) = ${r}`,
  );
  return r === 0;
}

/**
 * Parks in `mq_timedreceive(3)` on a worker thread for at most `ms`. Resolves to the length of
 * the message received, or null when none came (or an error whose errno is lost on the worker
 * thread: the caller retries synchronously to see it).
 */
export async function mq_timedreceivePark(
  mqdes: number,
  buf: Uint8Array,
  ms: number,
): Promise<number | null> {
  const at = deadlineIn(ms);
  const r = Number(await c.mq_timedreceive_park(mqdes, buf, BigInt(buf.length), null, bytesOf(at)));
  tracer?.(`mq_timedreceive(${mqdes}, <buffer>, ${buf.length}, NULL, <now+${ms} ms>) = ${r}`);
  return r >= 0 ? r : null;
}

// ---------------------------------------------------------------------------------------------
// POSIX shared memory
// ---------------------------------------------------------------------------------------------

/** `shm_open(3)`: opens (or creates) a shared-memory object and returns a descriptor for it. */
export function shm_open(name: string, oflag: number, mode = 0): number {
  return check(
    "shm_open",
    c.shm_open(cstring(name), oflag, mode),
    () => `${quote(name)}, ${openFlags(oflag)}${oflag & O.CREAT ? `, ${octal(mode)}` : ""}`,
  );
}

/** `shm_unlink(3)`: removes a shared-memory object's name (`/dev/shm/NAME`). */
export function shm_unlink(name: string): void {
  check("shm_unlink", c.shm_unlink(cstring(name)), () => quote(name));
}

// ---------------------------------------------------------------------------------------------
// POSIX named semaphores
// ---------------------------------------------------------------------------------------------

/** `sem_open(3)`: opens (or with `O.CREAT`, creates with `value`) a named semaphore. */
export function sem_open(name: string, oflag: number, mode = 0, value = 0): Deno.PointerObject {
  const sem = c.sem_open(cstring(name), oflag, mode, value);
  const args = () =>
    `${quote(name)}, ${openFlags(oflag)}${oflag & O.CREAT ? `, ${octal(mode)}, ${value}` : ""}`;
  // SEM_FAILED is (sem_t *) 0 in glibc.
  if (sem === null) {
    const errnum = errno();
    tracer?.(`sem_open(${args()}) = SEM_FAILED ${errnoName(errnum)} (${strerror(errnum)})`);
    throw new LibcError("sem_open", errnum);
  }
  tracer?.(`sem_open(${args()}) = 0x${Deno.UnsafePointer.value(sem).toString(16)}`);
  return sem;
}

const semArg = (sem: Deno.PointerObject) => `0x${Deno.UnsafePointer.value(sem).toString(16)}`;

/** `sem_close(3)`: closes this process's handle on a named semaphore. */
export function sem_close(sem: Deno.PointerObject): void {
  check("sem_close", c.sem_close(sem), () => semArg(sem));
}

/** `sem_unlink(3)`: removes a semaphore's name (`/dev/shm/sem.NAME`). */
export function sem_unlink(name: string): void {
  check("sem_unlink", c.sem_unlink(cstring(name)), () => quote(name));
}

/** `sem_post(3)`: adds one to the count, waking a waiter if there is one. */
export function sem_post(sem: Deno.PointerObject): void {
  check("sem_post", c.sem_post(sem), () => semArg(sem));
}

/** `sem_trywait(3)`: takes one from the count if it is above zero; WOULD_BLOCK if it is zero. */
export function sem_trywait(sem: Deno.PointerObject): 0 | typeof WOULD_BLOCK {
  return tryCheck("sem_trywait", c.sem_trywait(sem), () => semArg(sem)) === WOULD_BLOCK
    ? WOULD_BLOCK
    : 0;
}

/**
 * `sem_timedwait(3)` on this thread: takes one from the count, waiting at most `ms` milliseconds
 * (0: not at all) for it to rise above zero; WOULD_BLOCK when it did not in time. The event loop
 * stands still meanwhile, so `ms` must be short; use {@linkcode sem_timedwaitPark} for longer
 * waits.
 */
export function sem_timedwait(sem: Deno.PointerObject, ms: number): 0 | typeof WOULD_BLOCK {
  const at = ms <= 0 ? ALREADY_EXPIRED : deadlineIn(ms);
  return tryCheck(
      "sem_timedwait",
      c.sem_timedwait(sem, bytesOf(at)),
      () => `${semArg(sem)}, <now+${ms} ms>`,
    ) === WOULD_BLOCK
    ? WOULD_BLOCK
    : 0;
}

/**
 * Polls a semaphore for at most `us` microseconds without sleeping in the kernel:
 * `sem_trywait(3)`, with `sched_yield(2)` between tries so that a peer waiting for this CPU can
 * run and post. When the peer posts within microseconds, as two processes streaming through
 * shared memory do, this saves a futex sleep and a wake-up, which cost tens of microseconds
 * (more when a halted CPU must be woken). Returns true when it took one. errno is not read: for
 * a valid semaphore, sem_trywait fails only while the count is zero. Traced as one line.
 */
export function sem_trywaitSpin(sem: Deno.PointerObject, us: number): boolean {
  const until = performance.now() + us / 1000;
  let tries = 0;
  let took = false;
  do {
    tries++;
    if (c.sem_trywait(sem) === 0) {
      took = true;
      break;
    }
    c.sched_yield();
  } while (performance.now() < until);
  tracer?.(
    `sem_trywait(${semArg(sem)}) ×${tries}, sched_yield() between, for up to ${us} µs = ${
      took ? "0" : "-1 EAGAIN"
    }`,
  );
  return took;
}

/**
 * Parks in `sem_timedwait(3)` on a worker thread for at most `ms`. Resolves to true when it took
 * one from the count, false otherwise (time ran out, or an error whose errno is lost on the
 * worker thread: the caller retries synchronously to see it).
 */
export async function sem_timedwaitPark(sem: Deno.PointerObject, ms: number): Promise<boolean> {
  const at = deadlineIn(ms);
  const r = await c.sem_timedwait_park(sem, bytesOf(at));
  tracer?.(`sem_timedwait(${semArg(sem)}, <now+${ms} ms>) = ${r}`);
  return r === 0;
}

/** `sem_getvalue(3)`: the current count. */
export function sem_getvalue(sem: Deno.PointerObject): number {
  const value = new Int32Array(1);
  check(
    "sem_getvalue",
    c.sem_getvalue(sem, new Uint8Array(value.buffer)),
    () => `${semArg(sem)}, <int>`,
  );
  return value[0]!;
}
