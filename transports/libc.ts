/**
 * The one place where this project talks to the C library.
 *
 * Every system call the lessons make goes through this file: the symbol table below is the
 * single `Deno.dlopen` of the project, and every wrapper does what a careful C program does
 * around a call:
 *
 * 1. set `errno` to 0, call the function synchronously, on the main thread, and read `errno`
 *    in the very next step, before anything else can overwrite it;
 * 2. when the call reports failure (usually by returning -1), check that errno holds a value
 *    the function's manual page lists under ERRORS;
 * 3. turn that errno into a {@linkcode LibcError} that names the call, the errno (`ENOENT`, …)
 *    and the system's own message.
 *
 * Calls that are expected to "fail" in a hot loop (a full pipe, an empty queue) do not throw:
 * they return {@linkcode WOULD_BLOCK}, so that waiting is an ordinary branch, not an exception.
 *
 * ## errno, and how it gets lost
 *
 * `errno` is not a return value. It is one `int` per thread, which every failing call on that
 * thread overwrites (and a successful one may too). In C, "read errno right after the call" is
 * easy, because nothing runs in between. In JavaScript much can: the runtime allocates a BigInt
 * for a 64-bit result, or an object for a closure; an allocation can start the garbage
 * collector; the runtime's own code makes system calls. Any of them can leave its own errno
 * behind. This module once read errno with a second FFI call made after such allocations, and
 * about one benchmark run in fifty failed with `read failed: ENOENT`, a value read(2) never
 * returns. So here:
 *
 * - errno is read from memory, not by a call. `__errno_location()` gives the address of this
 *   thread's errno once, at load (a Worker loads its own copy of this module, on its own
 *   thread, and gets its own); an `Int32Array` over those 4 bytes reads it with a plain load.
 * - Every wrapper writes 0 there, makes the call and reads errno in the next statement: no
 *   call, no allocation and no return from a function in between. Deno hands a 64-bit result
 *   back as a BigInt, allocated before the wrapper could look at errno, so the `ssize_t`
 *   results of read, write and mq_receive are declared `i32`: on x86_64 and aarch64 that reads
 *   the low half of the result register, exact for every count below 2^31 (and Linux never
 *   moves more than 0x7ffff000 bytes in one call), while -1 stays -1. Trace lines and error
 *   messages are built only after errno has been read.
 * - Beside every wrapper stand the errno values its manual page documents. A failure with any
 *   other value, or with errno still 0, means errno was lost after all. A call that returned -1
 *   did nothing, so the wrapper makes it once more; if errno is lost again, it fails with a
 *   {@linkcode LibcError} that says so (code `ERRNO_LOST`), rather than act on a value that
 *   is not the call's. (close(2) is the exception: Linux frees the descriptor even when close
 *   fails, and another thread may get that number at once, so close is never made twice.)
 *
 * A lost errno that happens to hold a value the call *can* fail with is not caught by the last
 * rule: only reading it soundly prevents that, which is why the first two rules come first.
 * Where a result can be known without errno (which descriptors poll(2) found ready is in
 * `revents`), it is taken from there.
 *
 * errno is per thread, so a `nonblocking: true` symbol, which runs on a worker thread, leaves
 * its errno there. Such symbols are only used to *park* (wait until something may have
 * changed); the real operation is then retried synchronously here, where errno can be read.
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
    // ssize_t, read as its low 32 bits (see "errno" in the module header): Linux moves at most
    // 0x7ffff000 bytes in one read or write, so the count always fits, and -1 stays -1.
    result: "i32",
  },
  // ssize_t write(int fd, const void *buf, size_t count);
  write: {
    parameters: [
      "i32", // int fd
      "buffer", // const void *buf
      "usize", // size_t count
    ],
    result: "i32", // ssize_t, as for read
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
    // ssize_t, read as its low 32 bits: a message holds at most 16 MiB (HARD_MSGSIZEMAX).
    result: "i32",
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
    result: "i32", // ssize_t, as for mq_receive
  },
  // The same mq_timedreceive(3), run on a worker thread (to park while the queue is empty).
  mq_timedreceive_park: {
    name: "mq_timedreceive",
    parameters: ["i32", "buffer", "usize", "buffer", "buffer"],
    result: "i32",
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
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENOPKG: 65,
  EOVERFLOW: 75,
  ENOTSOCK: 88,
  EDESTADDRREQ: 89,
  EMSGSIZE: 90,
  EPROTONOSUPPORT: 93,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ECONNRESET: 104,
  ENOBUFS: 105,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EDQUOT: 122,
} as const;

const ERRNO_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Errno).map(([name, number]) => [number, name]),
);

/**
 * This thread's `errno`: the `int` whose address `__errno_location()` returns, seen through an
 * `Int32Array`, so that reading it is a load from memory, with no call and no allocation.
 * Resolved once, when the module loads: a thread's errno stays where it is for the thread's
 * life, and every thread that runs JavaScript (the main one, each Worker) loads its own copy of
 * this module.
 */
const THREAD_ERRNO: Int32Array = new Int32Array(
  Deno.UnsafePointerView.getArrayBuffer(c.__errno_location()!, 4),
);

/** The cell every wrapper writes and reads: {@linkcode THREAD_ERRNO}, unless a test stands in. */
let errnoCell: Int32Array = THREAD_ERRNO;

/**
 * A C function as this module calls it: its name, and the errno values its manual page lists
 * under ERRORS. Any other value after a failure means errno was lost.
 */
interface Call {
  /** The function's name, as trace lines and messages show it. */
  readonly name: string;
  /** The errno values it is documented to fail with. */
  readonly errors: ReadonlySet<number>;
  /** Whether a failure whose errno was lost may be retried (never for close). */
  readonly retry: boolean;
}

/**
 * Describes a call from its manual page: `errors` is the list of errno names under ERRORS,
 * separated by spaces.
 */
function documented(name: string, errors: string, retry = true): Call {
  const numbers = new Set<number>();
  for (const code of errors.trim().split(/\s+/)) {
    const number = (Errno as Record<string, number>)[code];
    if (number === undefined) throw new Error(`libc.ts: unknown errno ${code} for ${name}`);
    numbers.add(number);
  }
  return { name, errors: numbers, retry };
}

/** How many failures had lost their errno (see {@linkcode _errnoLostCount}). */
let lostCount = 0;

/**
 * Whether a call must be made once more: its first try failed (`failed`), and errno holds a
 * value the call is not documented to fail with, or still the 0 written before it. The failed
 * call did nothing, so nothing is done twice. Every wrapper asks this right after reading errno
 * (see "Files and descriptors" below).
 */
function retry(call: Call, failed: boolean, errnum: number, tries: number): boolean {
  if (!failed || tries > 1 || !call.retry || call.errors.has(errnum)) return false;
  lostCount++;
  return true;
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

/** strerror's messages, by number: the same for the life of the process (the "C" locale). */
const messages = new Map<number, string>();

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
  let message = messages.get(number);
  if (message === undefined) {
    message = Deno.UnsafePointerView.getCString(c.strerror(number)!);
    messages.set(number, message);
  }
  return message;
}

/**
 * A failed call into the C library: which call, which errno, and the system's message.
 *
 * When errno was lost (the call failed, but errno held a value the call cannot fail with, on
 * every try), `code` is `"ERRNO_LOST"` and `errno` is 0: no caller can mistake it for a real
 * error such as ENOENT.
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
  /** The errno number (0 when it was lost). */
  readonly errno: number;
  /** The errno name, such as `"ENOENT"`, or `"ERRNO_LOST"`. */
  readonly code: string;
  /** The system's message for the errno, such as `"No such file or directory"`. */
  readonly description: string;

  /**
   * Builds the error for `call` from an errno number. With `lostAfter` (a number of tries),
   * `errnum` is instead the value errno held after the last try, one the call cannot fail
   * with: the error says that errno was lost.
   */
  constructor(call: string, errnum: number, lostAfter?: number) {
    const lost = lostAfter !== undefined;
    const code = lost ? "ERRNO_LOST" : errnoName(errnum);
    const tries = lostAfter === 1 ? "" : `; tried ${lostAfter === 2 ? "twice" : lostAfter}`;
    const description = !lost
      ? strerror(errnum)
      : errnum === 0
      ? `errno was lost (still 0 after ${call} returned -1${tries})`
      : `errno was lost (it held ${errnoName(errnum)}, which ${call} cannot fail with${tries})`;
    super(`${call} failed: ${lost ? description : `${code} (${description})`}`);
    this.name = "LibcError";
    this.call = call;
    this.errno = lost ? 0 : errnum;
    this.code = code;
    this.description = description;
  }
}

/**
 * For tests only: how many failed calls have found errno lost so far (each try counts). It
 * stays 0 while errno is read soundly.
 */
export function _errnoLostCount(): number {
  return lostCount;
}

/**
 * For tests only: makes every wrapper write and read `cell` instead of this thread's errno,
 * so that a test can make errno look lost; `null` restores the real one. A stand-in whose
 * index 0 is a getter returning, say, ENOENT after a failed read plays a clobbered errno.
 */
export function _useErrnoCellForTests(cell: Int32Array | null): void {
  errnoCell = cell ?? THREAD_ERRNO;
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

/**
 * How a failure reads in a trace line: `-1 ENOENT (No such file or directory)`, or
 * `-1 errno was lost (…)`.
 */
function failed(error: LibcError): string {
  return error.errno === 0 ? `-1 ${error.description}` : `-1 ${error.code} (${error.description})`;
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

/**
 * A `size_t` argument as the BigInt that Deno's fast calls take, remembered: a hot loop passes
 * the same length again and again, and `BigInt(n)` would make a new one every time. (A plain
 * number is accepted too, but takes Deno's slow path, measured about 0.25 µs a call slower.)
 */
class SizeArgument {
  #number = 0;
  #bigint = 0n;

  /** `BigInt(n)`, made only when `n` differs from the last one. */
  of(n: number): bigint {
    if (n !== this.#number) {
      this.#bigint = BigInt(n);
      this.#number = n;
    }
    return this.#bigint;
  }
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
 * The outcome of a call that returns -1 on failure, given the errno read right after it:
 * returns the result, or throws a {@linkcode LibcError}. `tries` is how many times the call
 * was made; `args` formats its arguments for the trace line, and is called only when tracing.
 */
function check(
  call: Call,
  value: number,
  errnum: number,
  tries: number,
  args: () => string,
): number {
  if (value !== -1) {
    tracer?.(`${call.name}(${args()}) = ${value}`);
    return value;
  }
  throw failure(call, errnum, tries, args);
}

/**
 * The error for a failed call: a {@linkcode LibcError} for its errno, or, when errno holds a
 * value the call is not documented to fail with, one that says errno was lost.
 */
function errorFor(call: Call, errnum: number, tries: number): LibcError {
  if (call.errors.has(errnum)) return new LibcError(call.name, errnum);
  lostCount++;
  return new LibcError(call.name, errnum, tries);
}

/** {@linkcode errorFor}, traced: `unlink("/x") = -1 ENOENT (No such file or directory)`. */
function failure(call: Call, errnum: number, tries: number, args: () => string): LibcError {
  const error = errorFor(call, errnum, tries);
  tracer?.(`${call.name}(${args()}) = ${failed(error)}`);
  return error;
}

/**
 * Like {@linkcode check}, but a call that would block (EAGAIN, or EINTR for an interrupted
 * one, or ETIMEDOUT for a timed call given a deadline in the past) returns WOULD_BLOCK.
 */
function tryCheck(
  call: Call,
  value: number,
  errnum: number,
  tries: number,
  args: () => string,
): number | typeof WOULD_BLOCK {
  if (
    value === -1 && call.errors.has(errnum) &&
    (errnum === Errno.EAGAIN || errnum === Errno.EINTR || errnum === Errno.ETIMEDOUT)
  ) {
    tracer?.(`${call.name}(${args()}) = -1 ${errnoName(errnum)} (${strerror(errnum)})`);
    return WOULD_BLOCK;
  }
  return check(call, value, errnum, tries, args);
}

// ---------------------------------------------------------------------------------------------
// Files and descriptors
//
// Every wrapper has the same core, the C idiom `errno = 0; r = f(…); e = errno;`, made in
// consecutive statements, and repeated once if errno was lost:
//
//     do {
//       errnoCell[0] = 0;
//       r = c.f(…);
//       errnum = errnoCell[0]!;
//     } while (retry(F, r === -1, errnum, ++tries));
//
// Arguments (C strings, BigInts) are made before it; trace lines and errors after it.
// ---------------------------------------------------------------------------------------------

// The errors of open(2), which also come through shm_open(3) and sem_open(3): glibc implements
// them by opening a file in /dev/shm. (EWOULDBLOCK is EAGAIN on Linux.)
const OPEN_ERRORS = "EACCES EAGAIN EBADF EBUSY EDQUOT EEXIST EFAULT EFBIG EINTR EINVAL EISDIR " +
  "ELOOP EMFILE ENAMETOOLONG ENFILE ENODEV ENOENT ENOMEM ENOSPC ENOTDIR ENXIO EOPNOTSUPP " +
  "EOVERFLOW EPERM EROFS ETXTBSY";
const OPEN = documented("open", OPEN_ERRORS);

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
const CLOSE = documented("close", "EBADF EINTR EIO ENOSPC EDQUOT", false);

/** `close(2)`: releases a file descriptor. */
export function close(fd: number): void {
  errnoCell[0] = 0;
  const r = c.close(fd);
  const errnum = errnoCell[0]!;
  check(CLOSE, r, errnum, 1, () => `${fd}`);
}

// read(2), with the errors of a socket, which it allows ("other errors may occur, depending on
// the object connected to fd"): a lesson's standard input may be one.
const READ = documented(
  "read",
  "EAGAIN EBADF EFAULT EINTR EINVAL EIO EISDIR   ECONNRESET ENOTCONN ETIMEDOUT",
);
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

// write(2), with the errors of a socket, as for read.
const WRITE = documented(
  "write",
  "EAGAIN EBADF EDESTADDRREQ EDQUOT EFAULT EFBIG EINTR EINVAL EIO ENOSPC EPERM EPIPE " +
    "  ECONNRESET ENOTCONN",
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
  return check(FCNTL, r, errnum, tries, () => {
    const name = Object.entries(F).find(([, value]) => value === cmd)?.[0] ?? String(cmd);
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

const POLL_CALL = documented("poll", "EFAULT EINTR EINVAL ENOMEM");

/**
 * `poll(2)` on one descriptor, on this thread: waits at most `ms` milliseconds (0: not at all)
 * until `fd` is ready for `events`. Returns the `revents` bits (POLL.HUP and POLL.ERR may be
 * among them), or 0 when the time ran out. The event loop stands still meanwhile, so `ms` must
 * be short; use {@linkcode pollPark} for longer waits.
 *
 * What happened to the descriptor is read from `revents`, not from errno: a descriptor that
 * is not open is POLL.NVAL there, not a failure. poll itself fails only when it could not
 * wait (EINTR: a signal arrived, which counts as "nothing ready yet"; the caller looks again).
 */
export function poll(fd: number, events: number, ms: number): number {
  const buf = pollfd(fd, events);
  let n: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    n = c.poll(buf, 1n, ms);
    errnum = errnoCell[0]!;
  } while (retry(POLL_CALL, n === -1, errnum, ++tries));
  const ready = tryCheck(
    POLL_CALL,
    n,
    errnum,
    tries,
    () => `[{fd=${fd}, events=${pollEvents(events)}}], 1, ${ms}`,
  );
  return ready !== WOULD_BLOCK && ready > 0 ? revents(buf) : 0;
}

/**
 * Polls one descriptor for at most `us` microseconds without sleeping in the kernel:
 * `poll(2)` with a timeout of 0, and `sched_yield(2)` between tries so that a peer waiting for
 * this CPU can run. When the peer acts within microseconds, as two processes streaming through
 * a message queue do, this saves a sleep and a wake-up, which cost tens of microseconds (more
 * when a halted CPU must be woken). Returns the `revents` bits, or 0 when the time ran out.
 * errno is not read: the answer is in `revents`, and a failure (EINTR) counts as "not ready
 * yet", like a timeout; the caller's next synchronous call reports any real error. Traced as
 * one line.
 */
export function pollSpin(fd: number, events: number, us: number): number {
  spinPollfd.setInt32(0, fd, true);
  spinPollfd.setInt16(4, events, true);
  const until = performance.now() + us / 1000;
  let tries = 0;
  let ready = 0;
  do {
    tries++;
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

const PIPE2 = documented("pipe2", "EFAULT EINVAL EMFILE ENFILE ENOPKG");

/** `pipe2(2)`: a new pipe; returns `[readFd, writeFd]`. */
export function pipe2(flags: number): [number, number] {
  const fds = new Int32Array(2);
  const fdsBytes = new Uint8Array(fds.buffer);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.pipe2(fdsBytes, flags);
    errnum = errnoCell[0]!;
  } while (retry(PIPE2, r === -1, errnum, ++tries));
  check(PIPE2, r, errnum, tries, () => `[${fds[0]}, ${fds[1]}], ${flags ? openFlags(flags) : "0"}`);
  return [fds[0]!, fds[1]!];
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

// mkfifo(3), with the errors of mknod(2), on which glibc builds it.
const MKFIFO = documented(
  "mkfifo",
  "EACCES EBADF EDQUOT EEXIST ENAMETOOLONG ENOENT ENOSPC ENOTDIR EROFS   EFAULT EINVAL ELOOP " +
    "ENOMEM EPERM",
);

/** `mkfifo(3)`: creates a FIFO (named pipe) at `path`; fails with EEXIST if anything is there. */
export function mkfifo(path: string, mode: number): void {
  const pathname = cstring(path);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.mkfifo(pathname, mode);
    errnum = errnoCell[0]!;
  } while (retry(MKFIFO, r === -1, errnum, ++tries));
  check(MKFIFO, r, errnum, tries, () => `${quote(path)}, ${octal(mode)}`);
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

const UNLINK_ERRORS = "EACCES EBADF EBUSY EFAULT EINVAL EIO EISDIR ELOOP ENAMETOOLONG ENOENT " +
  "ENOMEM ENOTDIR EPERM EROFS";
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

const KILL = documented("kill", "EINVAL EPERM ESRCH");

/**
 * `kill(2)` with signal 0: does process `pid` still exist? (No signal is sent; the kernel
 * only checks. ESRCH means it does not; EPERM means it exists but belongs to someone else.)
 */
export function processExists(pid: number): boolean {
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.kill(pid, 0);
    errnum = errnoCell[0]!;
  } while (retry(KILL, r === -1, errnum, ++tries));
  if (r === -1 && (errnum === Errno.ESRCH || errnum === Errno.EPERM)) {
    tracer?.(`kill(${pid}, 0) = -1 ${errnoName(errnum)} (${strerror(errnum)})`);
    return errnum === Errno.EPERM;
  }
  check(KILL, r, errnum, tries, () => `${pid}, 0`);
  return true;
}

const timespec = new BigInt64Array(2);
const timespecBytes = new Uint8Array(timespec.buffer);
const CLOCK_GETTIME = documented(
  "clock_gettime",
  "EACCES EFAULT EINVAL ENODEV EOPNOTSUPP EPERM",
);

/**
 * `clock_gettime(CLOCK_MONOTONIC)` in milliseconds. The monotonic clock is the same for every
 * process on the machine, so two processes can compare their readings. (Not traced: it is a
 * measurement, not a step of the lesson.)
 */
export function monotonicMs(): number {
  errnoCell[0] = 0;
  const r = c.clock_gettime(1, /* CLOCK_MONOTONIC */ timespecBytes);
  const errnum = errnoCell[0]!;
  if (r !== 0) throw errorFor(CLOCK_GETTIME, errnum, 1);
  return Number(timespec[0]!) * 1000 + Number(timespec[1]!) / 1e6;
}

const FTRUNCATE = documented(
  "ftruncate",
  "EACCES EBADF EFAULT EFBIG EINTR EINVAL EIO EISDIR ELOOP ENAMETOOLONG ENOENT ENOTDIR EPERM " +
    "EROFS ETXTBSY",
);

/** `ftruncate(2)`: sets the size of the file (or shared-memory object) behind `fd`. */
export function ftruncate(fd: number, length: number): void {
  const size = BigInt(length);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.ftruncate(fd, size);
    errnum = errnoCell[0]!;
  } while (retry(FTRUNCATE, r === -1, errnum, ++tries));
  check(FTRUNCATE, r, errnum, tries, () => `${fd}, ${length}`);
}

const MMAP = documented(
  "mmap",
  "EACCES EAGAIN EBADF EEXIST EINVAL ENFILE ENODEV ENOMEM EOVERFLOW EPERM ETXTBSY",
);
// MAP_FAILED, (void *) -1.
const MAP_FAILED = 0xffffffffffffffffn;

/**
 * `mmap(2)` of a whole object, shared: returns the address of the mapping.
 *
 * The one call here whose result Deno must allocate before errno can be read: a pointer comes
 * back as an object, and mmap reports failure with the pointer MAP_FAILED, not NULL (which
 * Deno would hand back as `null`, allocating nothing). The check of the documented values
 * still catches a lost errno that mmap cannot fail with; and nothing here decides on mmap's
 * errno, it only words the message.
 */
export function mmap(length: number, prot: number, flags: number, fd: number): Deno.PointerObject {
  const size = BigInt(length);
  let address: Deno.PointerValue, errnum: number, failed: boolean, tries = 0;
  do {
    errnoCell[0] = 0;
    address = c.mmap(null, size, prot, flags, fd, 0n);
    errnum = errnoCell[0]!;
    failed = address === null || Deno.UnsafePointer.value(address) === MAP_FAILED;
  } while (retry(MMAP, failed, errnum, ++tries));
  const protText = [prot & PROT.READ ? "PROT_READ" : "", prot & PROT.WRITE ? "PROT_WRITE" : ""]
    .filter(Boolean).join("|") || "PROT_NONE";
  const args = () =>
    `NULL, ${length}, ${protText}, ${flags & MAP_SHARED ? "MAP_SHARED" : flags}, ${fd}, 0`;
  if (address === null || failed) throw failure(MMAP, errnum, tries, args);
  tracer?.(`mmap(${args()}) = 0x${Deno.UnsafePointer.value(address).toString(16)}`);
  return address;
}

// munmap's errors, from mmap(2)'s list.
const MUNMAP = documented("munmap", "EINVAL ENOMEM");

/** `munmap(2)`: removes a mapping. */
export function munmap(address: Deno.PointerObject, length: number): void {
  const size = BigInt(length);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.munmap(address, size);
    errnum = errnoCell[0]!;
  } while (retry(MUNMAP, r === -1, errnum, ++tries));
  check(
    MUNMAP,
    r,
    errnum,
    tries,
    () => `0x${Deno.UnsafePointer.value(address).toString(16)}, ${length}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Space, permissions and processes
// ---------------------------------------------------------------------------------------------

// Listed for the reader: posix_fallocate returns one of these instead of setting errno.
const POSIX_FALLOCATE = documented(
  "posix_fallocate",
  "EBADF EFBIG EINTR EINVAL ENODEV ENOSPC EOPNOTSUPP ESPIPE",
);

/**
 * `posix_fallocate(3)`: reserves the blocks (or, in `/dev/shm`, the pages) for bytes
 * `offset` to `offset + length` of the file at `fd`, so that later writes or stores into a
 * mapping cannot fail for lack of space. Unlike almost every other call here it does not set
 * errno: it returns the error number itself, so nothing can be lost. EINTR (a signal arrived
 * while it worked) is tried again: reserving what is already reserved does no harm.
 */
export function posix_fallocate(fd: number, offset: number, length: number): void {
  const from = BigInt(offset);
  const len = BigInt(length);
  let err: number;
  do err = c.posix_fallocate(fd, from, len); while (err === Errno.EINTR);
  const args = `${fd}, ${offset}, ${length}`;
  if (err !== 0) {
    tracer?.(`posix_fallocate(${args}) = ${errnoName(err)} (${strerror(err)})`);
    throw new LibcError(POSIX_FALLOCATE.name, err);
  }
  tracer?.(`posix_fallocate(${args}) = 0`);
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

const STATVFS = documented(
  "statvfs",
  "EACCES EBADF EFAULT EINTR EIO ELOOP ENAMETOOLONG ENOENT ENOMEM ENOSYS ENOTDIR EOVERFLOW",
);

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
  const pathname = cstring(path);
  const buf = new Uint8Array(s.buffer);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.statvfs(pathname, buf);
    errnum = errnoCell[0]!;
  } while (retry(STATVFS, r === -1, errnum, ++tries));
  check(STATVFS, r, errnum, tries, () => `${quote(path)}, <buf>`);
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

const ACCESS_CALL = documented(
  "access",
  "EACCES EBADF EFAULT EINVAL EIO ELOOP ENAMETOOLONG ENOENT ENOMEM ENOTDIR EPERM EROFS ETXTBSY",
);

/**
 * `access(2)`: may this process (by its real user id) open `path` for `mode`? Returns null
 * when it may, or the {@linkcode LibcError} that says why not (EACCES, EROFS, ENOENT, …).
 */
export function access(path: string, mode: number): LibcError | null {
  const pathname = cstring(path);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.access(pathname, mode);
    errnum = errnoCell[0]!;
  } while (retry(ACCESS_CALL, r === -1, errnum, ++tries));
  const args = () => `${quote(path)}, ${mode}`;
  if (r === -1) return failure(ACCESS_CALL, errnum, tries, args);
  check(ACCESS_CALL, r, errnum, tries, args);
  return null;
}

const PRCTL = documented(
  "prctl",
  "EACCES EBADF EBUSY EFAULT EINVAL ENODEV ENXIO EOPNOTSUPP EPERM ERANGE",
);

/**
 * `prctl(PR_SET_PDEATHSIG, signal)`: asks the kernel to send this process `signal` when its
 * parent dies, even if the parent was killed with SIGKILL and could not say goodbye.
 * (Strictly: when the *thread* that started it exits; Deno starts children from its main
 * thread, which lives as long as the process.)
 */
export function setParentDeathSignal(signal: number): void {
  const PR_SET_PDEATHSIG = 1;
  const arg2 = BigInt(signal);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.prctl(PR_SET_PDEATHSIG, arg2, 0n, 0n, 0n);
    errnum = errnoCell[0]!;
  } while (retry(PRCTL, r === -1, errnum, ++tries));
  check(PRCTL, r, errnum, tries, () => `PR_SET_PDEATHSIG, ${signal}`);
}

/** `getppid(2)`: the parent's pid (1, or a subreaper's, once the parent has died). It cannot fail. */
export function getppid(): number {
  return c.getppid();
}

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

const MQ_OPEN = documented(
  "mq_open",
  "EACCES EEXIST EINVAL EMFILE ENAMETOOLONG ENFILE ENOENT ENOMEM ENOSPC",
);

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
  const cname = cstring(name);
  let mqdes: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    mqdes = c.mq_open(cname, oflag, mode, attrBuf);
    errnum = errnoCell[0]!;
  } while (retry(MQ_OPEN, mqdes === -1, errnum, ++tries));
  return check(MQ_OPEN, mqdes, errnum, tries, () => {
    const shown = attr ? `{mq_maxmsg=${attr.maxmsg}, mq_msgsize=${attr.msgsize}}` : "NULL";
    return `${quote(name)}, ${openFlags(oflag)}${
      oflag & O.CREAT ? `, ${octal(mode)}, ${shown}` : ""
    }`;
  });
}

// Never retried, like close(2), which it is on Linux.
const MQ_CLOSE = documented("mq_close", "EBADF", false);

/** `mq_close(3)`: closes a message-queue descriptor (the queue itself lives on). */
export function mq_close(mqdes: number): void {
  errnoCell[0] = 0;
  const r = c.mq_close(mqdes);
  const errnum = errnoCell[0]!;
  check(MQ_CLOSE, r, errnum, 1, () => `${mqdes}`);
}

// mq_unlink(3), and EINVAL, which glibc returns for a name without its leading slash.
const MQ_UNLINK = documented("mq_unlink", "EACCES ENAMETOOLONG ENOENT   EINVAL");

/** `mq_unlink(3)`: removes a queue's name; the queue goes once every descriptor is closed. */
export function mq_unlink(name: string): void {
  const cname = cstring(name);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.mq_unlink(cname);
    errnum = errnoCell[0]!;
  } while (retry(MQ_UNLINK, r === -1, errnum, ++tries));
  check(MQ_UNLINK, r, errnum, tries, () => quote(name));
}

const MQ_GETATTR = documented("mq_getattr", "EBADF EINVAL");

/** `mq_getattr(3)`: the queue's attributes, including how many messages it holds now. */
export function mq_getattr(mqdes: number): MqAttr {
  const s = mqAttrStruct();
  const buf = bytesOf(s);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.mq_getattr(mqdes, buf);
    errnum = errnoCell[0]!;
  } while (retry(MQ_GETATTR, r === -1, errnum, ++tries));
  check(MQ_GETATTR, r, errnum, tries, () => `${mqdes}, <attr>`);
  return {
    flags: Number(s[0]),
    maxmsg: Number(s[1]),
    msgsize: Number(s[2]),
    curmsgs: Number(s[3]),
  };
}

const MQ_SETATTR = documented("mq_setattr", "EBADF EINVAL");

/**
 * `mq_setattr(3)`: sets the descriptor's `mq_flags`, the only attribute that can change after
 * creation: `O.NONBLOCK`, or 0 to make sends and receives wait.
 */
export function mq_setattr(mqdes: number, flags: number): void {
  const attr = bytesOf(mqAttrStruct({ flags }));
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.mq_setattr(mqdes, attr, null);
    errnum = errnoCell[0]!;
  } while (retry(MQ_SETATTR, r === -1, errnum, ++tries));
  check(
    MQ_SETATTR,
    r,
    errnum,
    tries,
    () => `${mqdes}, {mq_flags=${flags ? openFlags(flags).replace("O_RDONLY|", "") : "0"}}, NULL`,
  );
}

const MQ_SEND = documented("mq_send", "EAGAIN EBADF EINTR EINVAL EMSGSIZE ETIMEDOUT");
const sendSize = new SizeArgument();

/** `mq_send(3)`: puts one message on the queue; waits while it is full (unless O_NONBLOCK). */
export function mq_send(mqdes: number, msg: Uint8Array, prio = 0): number | typeof WOULD_BLOCK {
  const length = sendSize.of(msg.length);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.mq_send(mqdes, msg, length, prio);
    errnum = errnoCell[0]!;
    if (r === 0 && tracer === null) return 0; // the common case, with nothing to allocate
  } while (retry(MQ_SEND, r === -1, errnum, ++tries));
  return tryCheck(
    MQ_SEND,
    r,
    errnum,
    tries,
    () => `${mqdes}, <${msg.length} bytes>, ${msg.length}, ${prio}`,
  );
}

const MQ_RECEIVE = documented("mq_receive", "EAGAIN EBADF EINTR EINVAL EMSGSIZE ETIMEDOUT");
const receiveSize = new SizeArgument();

/**
 * `mq_receive(3)`: takes the oldest highest-priority message into `buf` (which must hold
 * `mq_msgsize` bytes) and returns its length.
 */
export function mq_receive(mqdes: number, buf: Uint8Array): number | typeof WOULD_BLOCK {
  const length = receiveSize.of(buf.length);
  let n: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    n = c.mq_receive(mqdes, buf, length, null);
    errnum = errnoCell[0]!;
    if (n >= 0 && tracer === null) return n; // the common case
  } while (retry(MQ_RECEIVE, n === -1, errnum, ++tries));
  return tryCheck(MQ_RECEIVE, n, errnum, tries, () => `${mqdes}, <buffer>, ${buf.length}, NULL`);
}

const MQ_TIMEDSEND = documented("mq_timedsend", "EAGAIN EBADF EINTR EINVAL EMSGSIZE ETIMEDOUT");

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
  const at = bytesOf(ms <= 0 ? ALREADY_EXPIRED : deadlineIn(ms));
  const length = sendSize.of(msg.length);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.mq_timedsend(mqdes, msg, length, prio, at);
    errnum = errnoCell[0]!;
  } while (retry(MQ_TIMEDSEND, r === -1, errnum, ++tries));
  return tryCheck(
    MQ_TIMEDSEND,
    r,
    errnum,
    tries,
    () => `${mqdes}, <${msg.length} bytes>, ${msg.length}, ${prio}, <now+${ms} ms>`,
  );
}

const MQ_TIMEDRECEIVE = documented(
  "mq_timedreceive",
  "EAGAIN EBADF EINTR EINVAL EMSGSIZE ETIMEDOUT",
);

/**
 * `mq_timedreceive(3)`: like {@linkcode mq_receive}, but waits at most `ms` milliseconds (0: not
 * at all) for a message; returns WOULD_BLOCK when none came in time.
 */
export function mq_timedreceive(
  mqdes: number,
  buf: Uint8Array,
  ms: number,
): number | typeof WOULD_BLOCK {
  const at = bytesOf(ms <= 0 ? ALREADY_EXPIRED : deadlineIn(ms));
  const length = receiveSize.of(buf.length);
  let n: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    n = c.mq_timedreceive(mqdes, buf, length, null, at);
    errnum = errnoCell[0]!;
  } while (retry(MQ_TIMEDRECEIVE, n === -1, errnum, ++tries));
  return tryCheck(
    MQ_TIMEDRECEIVE,
    n,
    errnum,
    tries,
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
  const r = await c.mq_timedreceive_park(mqdes, buf, BigInt(buf.length), null, bytesOf(at));
  tracer?.(`mq_timedreceive(${mqdes}, <buffer>, ${buf.length}, NULL, <now+${ms} ms>) = ${r}`);
  return r >= 0 ? r : null;
}

// ---------------------------------------------------------------------------------------------
// POSIX shared memory
// ---------------------------------------------------------------------------------------------

// shm_open(3), and open(2)'s errors, which come through it (glibc opens /dev/shm/NAME).
const SHM_OPEN = documented(
  "shm_open",
  `EACCES EEXIST EINVAL EMFILE ENAMETOOLONG ENFILE ENOENT   ${OPEN_ERRORS}`,
);

/** `shm_open(3)`: opens (or creates) a shared-memory object and returns a descriptor for it. */
export function shm_open(name: string, oflag: number, mode = 0): number {
  const cname = cstring(name);
  let fd: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    fd = c.shm_open(cname, oflag, mode);
    errnum = errnoCell[0]!;
  } while (retry(SHM_OPEN, fd === -1, errnum, ++tries));
  return check(
    SHM_OPEN,
    fd,
    errnum,
    tries,
    () => `${quote(name)}, ${openFlags(oflag)}${oflag & O.CREAT ? `, ${octal(mode)}` : ""}`,
  );
}

// shm_unlink(3), and unlink(2)'s errors, which come through it (glibc unlinks /dev/shm/NAME).
const SHM_UNLINK = documented("shm_unlink", `EACCES ENAMETOOLONG ENOENT   ${UNLINK_ERRORS}`);

/** `shm_unlink(3)`: removes a shared-memory object's name (`/dev/shm/NAME`). */
export function shm_unlink(name: string): void {
  const cname = cstring(name);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.shm_unlink(cname);
    errnum = errnoCell[0]!;
  } while (retry(SHM_UNLINK, r === -1, errnum, ++tries));
  check(SHM_UNLINK, r, errnum, tries, () => quote(name));
}

// ---------------------------------------------------------------------------------------------
// POSIX named semaphores
// ---------------------------------------------------------------------------------------------

// sem_open(3), and the errors of the calls glibc makes for it in /dev/shm: open(2), write(2)
// (the new semaphore's bytes), mmap(2) and link(2) (to give the new file its name at once).
const SEM_OPEN = documented(
  "sem_open",
  "EACCES EEXIST EINVAL EMFILE ENAMETOOLONG ENFILE ENOENT ENOMEM   " +
    `${OPEN_ERRORS} EIO EPIPE EAGAIN EMLINK EXDEV`,
);

/** `sem_open(3)`: opens (or with `O.CREAT`, creates with `value`) a named semaphore. */
export function sem_open(name: string, oflag: number, mode = 0, value = 0): Deno.PointerObject {
  const cname = cstring(name);
  let sem: Deno.PointerValue, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    sem = c.sem_open(cname, oflag, mode, value);
    errnum = errnoCell[0]!;
    // SEM_FAILED is (sem_t *) 0 in glibc, which Deno hands back as null: nothing allocated.
  } while (retry(SEM_OPEN, sem === null, errnum, ++tries));
  const args = () =>
    `${quote(name)}, ${openFlags(oflag)}${oflag & O.CREAT ? `, ${octal(mode)}, ${value}` : ""}`;
  if (sem === null) {
    const error = errorFor(SEM_OPEN, errnum, tries);
    tracer?.(`sem_open(${args()}) = SEM_FAILED ${failed(error).slice(3)}`);
    throw error;
  }
  tracer?.(`sem_open(${args()}) = 0x${Deno.UnsafePointer.value(sem).toString(16)}`);
  return sem;
}

const semArg = (sem: Deno.PointerObject) => `0x${Deno.UnsafePointer.value(sem).toString(16)}`;

const SEM_CLOSE = documented("sem_close", "EINVAL");

/** `sem_close(3)`: closes this process's handle on a named semaphore. */
export function sem_close(sem: Deno.PointerObject): void {
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.sem_close(sem);
    errnum = errnoCell[0]!;
  } while (retry(SEM_CLOSE, r === -1, errnum, ++tries));
  check(SEM_CLOSE, r, errnum, tries, () => semArg(sem));
}

// sem_unlink(3), and unlink(2)'s errors, which come through it (glibc unlinks
// /dev/shm/sem.NAME).
const SEM_UNLINK = documented("sem_unlink", `EACCES ENAMETOOLONG ENOENT   ${UNLINK_ERRORS}`);

/** `sem_unlink(3)`: removes a semaphore's name (`/dev/shm/sem.NAME`). */
export function sem_unlink(name: string): void {
  const cname = cstring(name);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.sem_unlink(cname);
    errnum = errnoCell[0]!;
  } while (retry(SEM_UNLINK, r === -1, errnum, ++tries));
  check(SEM_UNLINK, r, errnum, tries, () => quote(name));
}

const SEM_POST = documented("sem_post", "EINVAL EOVERFLOW");

/** `sem_post(3)`: adds one to the count, waking a waiter if there is one. */
export function sem_post(sem: Deno.PointerObject): void {
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.sem_post(sem);
    errnum = errnoCell[0]!;
    if (r === 0 && tracer === null) return;
  } while (retry(SEM_POST, r === -1, errnum, ++tries));
  check(SEM_POST, r, errnum, tries, () => semArg(sem));
}

// sem_wait(3) documents sem_wait, sem_trywait and sem_timedwait together.
const SEM_TRYWAIT = documented("sem_trywait", "EAGAIN EINTR EINVAL ETIMEDOUT");

/** `sem_trywait(3)`: takes one from the count if it is above zero; WOULD_BLOCK if it is zero. */
export function sem_trywait(sem: Deno.PointerObject): 0 | typeof WOULD_BLOCK {
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.sem_trywait(sem);
    errnum = errnoCell[0]!;
    if (r === 0 && tracer === null) return 0;
  } while (retry(SEM_TRYWAIT, r === -1, errnum, ++tries));
  return tryCheck(SEM_TRYWAIT, r, errnum, tries, () => semArg(sem)) === WOULD_BLOCK
    ? WOULD_BLOCK
    : 0;
}

const SEM_TIMEDWAIT = documented("sem_timedwait", "EAGAIN EINTR EINVAL ETIMEDOUT");

/**
 * `sem_timedwait(3)` on this thread: takes one from the count, waiting at most `ms` milliseconds
 * (0: not at all) for it to rise above zero; WOULD_BLOCK when it did not in time. The event loop
 * stands still meanwhile, so `ms` must be short; use {@linkcode sem_timedwaitPark} for longer
 * waits.
 */
export function sem_timedwait(sem: Deno.PointerObject, ms: number): 0 | typeof WOULD_BLOCK {
  const at = bytesOf(ms <= 0 ? ALREADY_EXPIRED : deadlineIn(ms));
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.sem_timedwait(sem, at);
    errnum = errnoCell[0]!;
  } while (retry(SEM_TIMEDWAIT, r === -1, errnum, ++tries));
  return tryCheck(
      SEM_TIMEDWAIT,
      r,
      errnum,
      tries,
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

const SEM_GETVALUE = documented("sem_getvalue", "EINVAL");

/** `sem_getvalue(3)`: the current count. */
export function sem_getvalue(sem: Deno.PointerObject): number {
  const value = new Int32Array(1);
  const buf = new Uint8Array(value.buffer);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.sem_getvalue(sem, buf);
    errnum = errnoCell[0]!;
  } while (retry(SEM_GETVALUE, r === -1, errnum, ++tries));
  check(SEM_GETVALUE, r, errnum, tries, () => `${semArg(sem)}, <int>`);
  return value[0]!;
}
