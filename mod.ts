/**
 * The transports behind the lessons, for your own programs and coursework: typed, checked
 * wrappers around the Linux system calls for pipes, FIFOs, POSIX message queues, POSIX shared
 * memory and POSIX semaphores, reached through Deno FFI into libc.
 *
 * Every wait (an empty pipe, a full queue, a semaphore at zero) can time out and be aborted. A
 * wait blocks the main thread for at most 10 ms (`SPIN_MS` in `transports/wait.ts`); a longer
 * one parks on a worker thread while the event loop runs, so Ctrl-C handlers and timers still
 * work. Every failed call becomes a {@linkcode LibcError} that names the call and the errno. Run with `--allow-all` (FFI, and /proc for kernel limits).
 *
 * @example
 * ```ts
 * import { createPipe } from "./mod.ts";
 *
 * using pipe = createPipe({ timeout: 5000 });
 * await pipe.writeEnd.write(new TextEncoder().encode("hello, pipe"));
 * pipe.writeEnd.close(); // no write end left: the reader will see end-of-file
 * const buf = new Uint8Array(64);
 * const n = await pipe.readEnd.read(buf);
 * console.log(new TextDecoder().decode(buf.subarray(0, n))); // "hello, pipe"
 * ```
 *
 * @module
 */

export { Errno, errnoName, LibcError, strerror, traceCalls } from "./transports/libc.ts";
export { ChannelError, Interrupted, STOP_SIGNALS, type StopSignal } from "./transports/errors.ts";
export { abortOnStopSignals } from "./transports/wait.ts";
export {
  createPipe,
  isPipe,
  PipeEnd,
  type PipeEndOptions,
  pipeMaxSize,
  spawnWithStdin,
} from "./transports/pipe.ts";
export { Fifo, type FifoOpenOptions, makeFifo } from "./transports/fifo.ts";
export {
  type CreateQueueOptions,
  MessageQueue,
  MQ_LIMIT_FILES,
  type MqAttr,
  type OpenQueueOptions,
  type QueueAccess,
  queueExists,
  queueLimits,
  queueNameProblem,
  type QueueOptions,
  queueUsers,
  removeQueue,
  type SendOptions,
} from "./transports/mq.ts";
export {
  SharedMemory,
  type SharedMemoryOptions,
  shmNameProblem,
  shmPath,
} from "./transports/shm.ts";
export {
  SEM_VALUE_MAX,
  Semaphore,
  semaphoreNameProblem,
  type SemaphoreOptions,
  semaphorePath,
  type SemaphoreWaitOptions,
} from "./transports/semaphore.ts";
export {
  MAGIC,
  openWhenReady,
  type OpenWhenReadyOptions,
  PeerGone,
  readLayout,
  refuseExisting,
  RingBuffer,
  type RingLayout,
  ringLayout,
  ringNameProblem,
  type RingNames,
  ringNames,
  RingNamesTaken,
  type RingOptions,
  type RingPart,
  ringParts,
  type RingSemaphores,
  StaleRing,
  VERSION,
} from "./transports/ring_buffer.ts";
