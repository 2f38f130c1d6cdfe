/**
 * The one place where this project talks to the C library.
 *
 * Every system call the lessons make goes through here: the symbol table in `_libc/ffi.ts` is
 * the single `Deno.dlopen` of the project, and every wrapper does what a careful C program does
 * around a call:
 *
 * 1. set `errno` to 0, call the function synchronously, on the main thread, and read `errno`
 *    in the very next step, before anything else can overwrite it;
 * 2. when the call reports failure (usually by returning -1), check that errno holds a value
 *    the function's manual page lists under ERRORS;
 * 3. turn that errno into a {@linkcode LibcError} that names the call, the errno (`ENOENT`, …)
 *    and the system's own message.
 *
 * Why each step is needed, and how errno gets lost in JavaScript when one is skipped, is told
 * in `_libc/errno.ts`.
 *
 * Calls that are expected to "fail" in a hot loop (a full pipe, an empty queue) do not throw:
 * they return {@linkcode WOULD_BLOCK}, so that waiting is an ordinary branch, not an exception.
 *
 * With {@linkcode traceCalls} every call is reported in the style of `strace`:
 * `write(5, <65536 bytes>, 65536) = 65536`.
 *
 * This file only gathers what the files of `_libc/` export, the way the C headers gather
 * what libc.so holds:
 *
 * | file            | what it holds                                                        |
 * | --------------- | -------------------------------------------------------------------- |
 * | `ffi.ts`        | the symbol table, with the C prototypes, and loading the library     |
 * | `constants.ts`  | `O`, `F`, `POLL`, `PROT`, `MAP_SHARED`, `MQ_PRIO_MAX`, `WOULD_BLOCK` |
 * | `errno.ts`      | errno, read soundly; `Errno`, `errnoName`, `strerror`, `LibcError`   |
 * | `trace.ts`      | `traceCalls`, and how arguments read in a trace line                 |
 * | `call.ts`       | what every wrapper shares: C strings, sizes, checked results         |
 * | `files.ts`      | open, close, read, write, fcntl, dup, dup2, linkat, unlink           |
 * | `poll.ts`       | pipe2, mkfifo, poll: pipes, and waiting on descriptors               |
 * | `queues.ts`     | POSIX message queues: mq_open, mq_send, mq_receive, …                |
 * | `memory.ts`     | POSIX shared memory: shm_open, ftruncate, posix_fallocate, mmap, …   |
 * | `semaphores.ts` | POSIX named semaphores: sem_open, sem_post, sem_trywait, …           |
 * | `system.ts`     | processes, the clock, room on a file system, access, prctl, waitpid  |
 * | `sockets.ts`    | socket, bind, listen, accept4, connect, sendmsg, …; an abstract lock |
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { close, LibcError, O, open, read } from "./libc.ts";
 * const fd = open("/dev/zero", O.RDONLY | O.CLOEXEC);
 * const buf = new Uint8Array(4).fill(7);
 * assert.equal(read(fd, buf), 4);
 * assert.deepEqual(buf, new Uint8Array(4)); // four zero bytes
 * close(fd);
 * assert.throws(() => open("/no/such/file", O.RDONLY), LibcError); // ENOENT
 * ```
 *
 * @module
 */

export { F, MAP_SHARED, MQ_PRIO_MAX, O, POLL, PROT, WOULD_BLOCK } from "./_libc/constants.ts";
export {
  _errnoLostCount,
  _useErrnoCellForTests,
  Errno,
  errnoName,
  LibcError,
  strerror,
} from "./_libc/errno.ts";
export { traceCalls } from "./_libc/trace.ts";
export {
  close,
  dup,
  dup2,
  fcntl,
  linkFd,
  open,
  read,
  setNonBlocking,
  unlink,
  write,
} from "./_libc/files.ts";
export { mkfifo, pipe2, poll, pollPark, pollSpin, yieldToEventLoop } from "./_libc/poll.ts";
export {
  mq_close,
  mq_getattr,
  mq_open,
  mq_receive,
  mq_send,
  mq_setattr,
  mq_timedreceive,
  mq_timedreceivePark,
  mq_timedsend,
  mq_timedsendPark,
  mq_unlink,
  type MqAttr,
} from "./_libc/queues.ts";
export { ftruncate, mmap, munmap, posix_fallocate, shm_open, shm_unlink } from "./_libc/memory.ts";
export {
  sem_clockwait,
  sem_clockwaitPark,
  sem_close,
  sem_getvalue,
  sem_open,
  sem_post,
  sem_trywait,
  sem_trywaitSpin,
  sem_unlink,
} from "./_libc/semaphores.ts";
export {
  ACCESS,
  access,
  becomeChildSubreaper,
  type FsSpace,
  getppid,
  monotonicMs,
  processExists,
  reapChild,
  setParentDeathSignal,
  statvfs,
} from "./_libc/system.ts";
export {
  accept4,
  bind,
  bindAbstractLock,
  connect,
  getaddrinfo,
  getpeername,
  getsockname,
  getsockopt,
  getsockoptInt,
  listen,
  type PeerCredentials,
  peerCredentials,
  recvmsg,
  sendmsg,
  setsockopt,
  shutdown,
  SOCK,
  sockaddrText,
  socket,
} from "./_libc/sockets.ts";
export {
  ftok,
  IPC,
  isMadeUpKey,
  kernelLimit,
  LESSON_KEY_BYTE,
  type LessonKey,
  lessonKeys,
  madeUpKey,
  RUN_KEY_FILE,
  sysvipcLines,
  sysvipcTable,
  type SysvKind,
  type SysvRow,
} from "./_libc/sysv.ts";
export {
  MessageBuffer,
  msgctl,
  msgget,
  msgrcv,
  msgsnd,
  type MsqidDs,
  msqidSetQbytes,
  msqidStat,
} from "./_libc/sysv_msg.ts";
export { gettid, sched_yield } from "./_libc/threads.ts";
export * from "./_libc/sysv_shm.ts";
