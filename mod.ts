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
 * import assert from "node:assert/strict";
 * import { createPipe } from "./mod.ts";
 *
 * using pipe = createPipe({ timeout: 5000 });
 * await pipe.writeEnd.write(new TextEncoder().encode("hello, pipe"));
 * pipe.writeEnd.close(); // no write end left: the reader will see end-of-file
 * const buf = new Uint8Array(64);
 * const n = await pipe.readEnd.read(buf);
 * assert.equal(new TextDecoder().decode(buf.subarray(0, n)), "hello, pipe");
 * assert.equal(await pipe.readEnd.read(buf), 0); // end-of-file
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

/**
 * System V shared memory and semaphore sets (lesson:sysv-shm): a segment and a set found by one
 * key, the ring's counters over the set (with SEM_UNDO), and the finder of leftovers in
 * /proc/sysvipc. The ring itself runs over any memory and counters: `RingMemory`, `RingCounter`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ringCounters, SemaphoreSet, SysVSegment } from "./mod.ts";
 * const key = 0x5ca1ab30 ^ Deno.pid;
 * using set = SemaphoreSet.create(key, [1, 0]);
 * using segment = SysVSegment.create(key, 4096);
 * const { free } = ringCounters(set);
 * await free.wait({});
 * assert.equal(free.value, 0);
 * assert.equal(segment.stat().nattch, 1);
 * ```
 */
export { readyHeader, type RingCounter, type RingMemory } from "./transports/ring_buffer.ts";
export {
  attachedPids,
  FILLED,
  FREE,
  ipcrmCommand,
  ipcsLines,
  keyOfWord,
  KeyTaken,
  type OpenRingOptions,
  openRingWhenReady,
  refuseTakenKey,
  ringCounters,
  SemaphoreSet,
  SysVCounter,
  sysvipcLines,
  sysvLeftovers,
  SysVSegment,
  waitForDetach,
} from "./transports/sysv_shm.ts";

/**
 * System V message queues: found by a key (`ftok` of a file and a project id), messages that
 * carry a type which `msgrcv` selects by, and a queue that outlives its processes until
 * `msgctl(IPC_RMID)`. Waits use `IPC_NOWAIT` with a deadline, so Ctrl-C and timeouts work.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IPC, MTYPE, SysvQueue } from "./mod.ts";
 * // Two programs agree on a key: ftok(file, projectId). IPC_PRIVATE makes a queue that no key
 * // finds, so this example can never collide with another program's queue.
 * using queue = SysvQueue.create(IPC.PRIVATE, { timeout: 5000 }); // IPC_CREAT | IPC_EXCL
 * await queue.send(new TextEncoder().encode("hello"), MTYPE.DATA);
 * assert.equal(new TextDecoder().decode(await queue.receive(0)), "hello");
 * ```
 */
export { ftok, IPC, MessageBuffer, type MsqidDs } from "./transports/libc.ts";
export {
  channel as sysvQueueChannel,
  formatKey,
  isStale,
  MTYPE,
  type OpenSysvQueueOptions,
  parseKey,
  SYSV_MQ_LIMIT_FILES,
  SysvQueue,
  type SysvQueueInfo,
  sysvQueueLeftovers,
  type SysvQueueLimits,
  sysvQueueLimits,
  sysvQueueOf,
  type SysvQueueOptions,
  sysvQueues,
} from "./transports/sysv_mq.ts";

/**
 * The lesson shape for your own program (coursework: see assignments/README.md). A side is a
 * plain module: `runProgram` parses `--timeout` and your options, aborts its signal on Ctrl-C,
 * and turns a throw into one line and the exit status; `InputFile` opens the input (a regular
 * file, or one clear error at once); `OutputFile` writes an unnamed file that gets its name only
 * at `commit()`, so that a failed copy never appears; `isRunning` tells whether the peer lives.
 *
 * @example
 * ```ts ignore
 * import { InputFile, makeFifo, OutputFile, runProgram } from "./mod.ts";
 * await runProgram(async ({ args, waits }) => {
 *   using output = new OutputFile(args.output); // unnamed until commit()
 *   using fifo = makeFifo(args.path); // removed on every way out if this process made it
 *   using readEnd = await fifo.open("read", waits); // Ctrl-C or the timeout rejects
 *   fifo.unlink();
 *   const buf = new Uint8Array(65536);
 *   for (let n; (n = await readEnd.read(buf)) > 0;) output.write(buf.subarray(0, n));
 *   output.commit();
 * }, { options: ["path", "output"] });
 * ```
 */
export {
  describe as describeFailure,
  type ProgramContext,
  type ProgramOptions,
  runProgram,
  UsageProblem,
} from "./transports/program.ts";
export { FileError, InputFile, OutputExists, OutputFile } from "./transports/files.ts";
export { isRunning } from "./transports/holders.ts";

/**
 * Threads (lesson:threads): the same copy between two threads of one process, in both models.
 * Shared memory: a ring in a `SharedArrayBuffer` with two counters that `Atomics.wait` and
 * `Atomics.notify` sleep and wake on (futex semantics), `SharedRing`. Message passing: `postMessage` with
 * the buffer transferred (or cloned) and a back-pressure window, `PortSink` and `PortSource`.
 * `gettid` and `threadsOf` tell the threads of a process apart.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gettid, SharedRing, threadsOf } from "./mod.ts";
 * const ring = SharedRing.create(4, 1024); // post ring.buffer to a Worker: it is shared
 * const producer = ring.producer({ timeout: 1000 });
 * const consumer = new SharedRing(ring.buffer).consumer({ timeout: 1000 });
 * await producer.send(new Uint8Array([1, 2, 3]));
 * assert.deepEqual([...await consumer.receive()], [1, 2, 3]);
 * assert.ok(threadsOf(Deno.pid).some((thread) => thread.tid === gettid()));
 * ```
 */
export { gettid } from "./transports/libc.ts";
export {
  RingConsumer,
  RingProducer,
  type RingWaitOptions,
  SharedRing,
  sharedRingLayout,
  type StopReason,
} from "./transports/shared_ring.ts";
export { type ThreadInfo, threadsOf } from "./transports/threads.ts";
export {
  PortSink,
  type PortSinkOptions,
  PortSource,
  type PortWaitOptions,
} from "./transports/worker_channel.ts";

/**
 * Stream sockets (lesson:unix, and lesson:tcp under it): `listen` (socket, bind, listen) and
 * `Listener.accept`, `connect` (retrying until a server listens, if asked), and a `Connection`
 * that reads, writes, half-closes (`shutdown("write")`) and passes open descriptors
 * (`sendFds`/`receiveFds`, SCM_RIGHTS). Addresses are Unix-domain paths or IPv4/IPv6 address and
 * port (`encodeAddress` lays out the `struct sockaddr_*`); `socketLeftovers` finds socket files
 * nobody listens on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect, listen } from "./mod.ts";
 * const dir = Deno.makeTempDirSync();
 * {
 *   using listener = listen({ family: "unix", path: `${dir}/example.sock` }, { timeout: 5000 });
 *   using client = await connect(listener.address, { timeout: 5000 });
 *   using server = await listener.accept();
 *   await server.write(new TextEncoder().encode("hi"));
 *   server.shutdown("write"); // "that was all"
 *   const buf = new Uint8Array(8);
 *   assert.equal(await client.read(buf), 2);
 *   assert.equal(await client.read(buf), 0); // end-of-file
 * } // closed, and the socket file removed
 * Deno.removeSync(dir);
 * ```
 */
export {
  connect,
  Connection,
  type ConnectOptions,
  decodeAddress,
  encodeAddress,
  formatAddress,
  listen,
  Listener,
  type ListenOptions,
  resolveHost,
  SOCK,
  type SocketAddress,
  socketLeftovers,
  socketPathState,
  SUN_PATH_SIZE,
} from "./transports/socket.ts";

/**
 * TCP (lesson:tcp): a server that listens on port 0 tells its clients the port the kernel picked
 * through a port file (`PortFile`, `readPort`); `TwoHosts` makes two network hosts inside this
 * one (two network namespaces joined by a veth pair; root only), removed on every way out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PortFile, readPort } from "./mod.ts";
 * const path = `${Deno.makeTempDirSync()}/server.port`;
 * using portFile = PortFile.announce(path, { family: "inet", host: "127.0.0.1", port: 5555 });
 * assert.equal(await readPort(path, { timeout: 1000 }), 5555);
 * ```
 */
export { type NetworkHost, NoNamespaces, PortFile, readPort, TwoHosts } from "./transports/tcp.ts";
