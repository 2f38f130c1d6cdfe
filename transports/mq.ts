/**
 * POSIX message queues: a queue of separate messages inside the kernel, found by a name such
 * as `/my-queue`.
 *
 * Unlike a pipe, a queue keeps message boundaries: every `mq_receive(3)` returns exactly one
 * whole message, as it was sent. The queue holds at most `mq_maxmsg` messages of at most
 * `mq_msgsize` bytes each; both are fixed when it is created, and capped by
 * `/proc/sys/fs/mqueue/msg_max` and `msgsize_max`.
 *
 * A {@linkcode MessageQueue} wraps one queue descriptor (`mqd_t`, which on Linux is a file
 * descriptor). It is opened with `O_NONBLOCK`, so a full or empty queue never freezes the
 * event loop: the call fails at once with EAGAIN, and the queue waits in `poll(2)`, first
 * briefly on this thread, then parked on a worker thread (see `wait.ts`).
 *
 * A queue has no end-of-file and no EPIPE: nothing tells a receiver that the sender has died.
 * But the kernel knows when nobody can ever reach a queue again: when it has no name and no
 * other process has it open. A wait that has lasted a while checks for exactly that, and then
 * fails with `Deno.errors.BrokenPipe` instead of waiting for its timeout.
 *
 * @module
 */

import { basename, dirname, resolve } from "node:path";
import * as libc from "./libc.ts";
import type { NamedChannel, NamedEndOptions } from "./channel.ts";
import { type Identity, identityOf, otherHolders, queueIdentity, softLimit } from "./holders.ts";
import {
  Leftover,
  LeftoverFinder,
  type LeftoverKind,
  lstatOrNull,
  mine,
  namesIn,
  posixPart,
} from "./leftovers.ts";
import { NAME_MAX, posixNameProblem } from "./_names.ts";
import {
  ready,
  seconds,
  sent,
  sleep,
  SPIN_US,
  untilReady,
  type UntilReadyOptions,
  type Waits,
} from "./wait.ts";

export type { MqAttr } from "./libc.ts";

/**
 * Where the system's limits live: the largest `mq_maxmsg` and `mq_msgsize` a process without
 * CAP_SYS_RESOURCE may ask for.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MQ_LIMIT_FILES } from "./mq.ts";
 * assert.match(Deno.readTextFileSync(MQ_LIMIT_FILES.msgsize), /^\d+\n$/); // "8192\n" by default
 * ```
 */
export const MQ_LIMIT_FILES = {
  maxmsg: "/proc/sys/fs/mqueue/msg_max",
  msgsize: "/proc/sys/fs/mqueue/msgsize_max",
} as const;

/**
 * The largest `mq_maxmsg` and `mq_msgsize` a process may ask for, from
 * {@linkcode MQ_LIMIT_FILES}. Only a process with CAP_SYS_RESOURCE may go above them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { queueLimits } from "./mq.ts";
 * const { maxmsg, msgsize } = queueLimits(); // 10 and 8192 by default
 * assert.ok(maxmsg >= 1 && msgsize >= 128); // at most maxmsg messages of msgsize bytes
 * ```
 */
export function queueLimits(): { maxmsg: number; msgsize: number } {
  const read = (path: string) => Number(Deno.readTextFileSync(path).trim());
  return { maxmsg: read(MQ_LIMIT_FILES.maxmsg), msgsize: read(MQ_LIMIT_FILES.msgsize) };
}

/**
 * Why `name` cannot name a POSIX message queue, or null when it can: the end of a sentence
 * such as "must start with a slash, like /my-queue". A valid name is one component: a
 * leading `/`, then 1 to 255 bytes (NAME_MAX) with no other `/` and no NUL, and not `.` or `..`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { queueNameProblem } from "./mq.ts";
 * assert.equal(queueNameProblem("/my-queue"), null); // fine
 * assert.equal(queueNameProblem("my-queue"), "must start with a slash, like /my-queue");
 * ```
 */
export function queueNameProblem(name: string): string | null {
  // The name becomes a file name in the mqueue file system (/dev/mqueue/NAME, where it is
  // mounted), with nothing added in front: all NAME_MAX bytes are available.
  return posixNameProblem(name, NAME_MAX);
}

function checkName(name: string): void {
  const problem = queueNameProblem(name);
  if (problem !== null) throw new TypeError(`the queue name ${problem}`);
}

/**
 * Whether a queue named `name` exists now (whoever owns it). Opening a queue does not change
 * it, so this leaves it untouched.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { queueExists } from "./mq.ts";
 * assert.equal(queueExists("/no-such-queue"), false);
 * ```
 */
export function queueExists(name: string): boolean {
  checkName(name);
  try {
    libc.mq_close(libc.mq_open(name, libc.O.RDONLY | libc.O.NONBLOCK | libc.O.CLOEXEC));
    return true;
  } catch (error) {
    if (error instanceof libc.LibcError && error.code === "ENOENT") return false;
    if (error instanceof libc.LibcError && error.code === "EACCES") return true; // not ours
    throw error;
  }
}

/**
 * The pids of the processes that have the queue named `name` open, or null if no queue has
 * that name. It opens the queue for a moment to find it in /proc, which leaves it untouched.
 * Throws `Deno.errors.PermissionDenied` for a queue this user may not open (another user's).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MessageQueue, queueUsers } from "./mq.ts";
 * assert.equal(queueUsers("/no-such-queue"), null);
 * using queue = MessageQueue.create(`/example-${Deno.pid}`, { maxmsg: 1, msgsize: 16 });
 * assert.deepEqual(queueUsers(queue.name), []); // no other process has it open
 * ```
 */
export function queueUsers(name: string): number[] | null {
  checkName(name);
  let fd: number;
  try {
    fd = libc.mq_open(name, libc.O.RDONLY | libc.O.NONBLOCK | libc.O.CLOEXEC);
  } catch (error) {
    if (error instanceof libc.LibcError && error.code === "ENOENT") return null;
    throw describeOpenError(error, name);
  }
  try {
    return otherHolders(fd);
  } finally {
    libc.mq_close(fd);
  }
}

/**
 * Removes the name `name` with `mq_unlink(3)`. Returns false if no queue had that name.
 * Processes that have the queue open keep using it; it goes when the last one closes it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { removeQueue } from "./mq.ts";
 * assert.equal(removeQueue("/no-such-queue"), false);
 * ```
 */
export function removeQueue(name: string): boolean {
  checkName(name);
  try {
    libc.mq_unlink(name);
    return true;
  } catch (error) {
    if (error instanceof libc.LibcError && error.code === "ENOENT") return false;
    throw naming(error, name);
  }
}

/**
 * The failure `error` of a call on the queue `name`, with the name in its message:
 * `mq_open /my-queue failed: EMFILE (Too many open files)`. It is the same LibcError, with the
 * same `code`.
 */
function naming(error: unknown, name: string): unknown {
  if (error instanceof libc.LibcError) {
    error.message = `${error.call} ${name} failed: ${error.code} (${error.description})`;
  }
  return error;
}

/**
 * A failed `mq_open` of an existing queue, as one clear error naming it. EACCES: the queue's
 * mode does not let this user in (another user's queue, mode 0600); where `/dev/mqueue` is
 * mounted, its owner shows there.
 */
function describeOpenError(error: unknown, name: string): unknown {
  if (!(error instanceof libc.LibcError && error.code === "EACCES")) return naming(error, name);
  let whose = "it belongs to another user, and its mode does not let you in";
  try {
    const info = Deno.statSync(`/dev/mqueue${name}`);
    whose = `it belongs to user ${info.uid}, and its mode (${
      (info.mode! & 0o777).toString(8).padStart(4, "0")
    }) does not let you in`;
  } catch { /* /dev/mqueue is not mounted here */ }
  return new Deno.errors.PermissionDenied(
    `cannot open the queue ${name}: mq_open failed with EACCES (${error.description}): ${whose}`,
  );
}

/**
 * About how much of RLIMIT_MSGQUEUE a queue of `maxmsg` messages of `msgsize` bytes takes:
 * the messages themselves, plus the kernel's bookkeeping for each (a `struct msg_msg` and a
 * node of the priority tree, 48 bytes each on 64-bit Linux; see `mqueue_get_inode` in
 * ipc/mqueue.c). The kernel charges it to the user who creates the queue, until the queue is
 * gone: a name that nobody has open still counts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { queueMemory } from "./mq.ts";
 * assert.equal(queueMemory(10, 8192), 82880); // about 9 such queues fit in the default 800 KiB
 * ```
 */
export function queueMemory(maxmsg: number, msgsize: number): number {
  return maxmsg * (msgsize + 48 + 48);
}

/**
 * This process's RLIMIT_MSGQUEUE (`ulimit -q`): how many bytes all the queues of this user may
 * take together, from "Max msgqueue size" in `/proc/self/limits`; null if unlimited or unknown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { queueMemoryLimit } from "./mq.ts";
 * const limit = queueMemoryLimit(); // 819200 by default; null: no limit
 * assert.ok(limit === null || limit > 0);
 * ```
 */
export function queueMemoryLimit(): number | null {
  const soft = softLimit("Max msgqueue size");
  return soft === Infinity ? null : soft;
}

/** What a process means to do with a queue: the access mode it opens it with. */
export type QueueAccess = "send" | "receive" | "both";

const ACCESS_FLAGS: Record<QueueAccess, number> = {
  send: libc.O.WRONLY,
  receive: libc.O.RDONLY,
  both: libc.O.RDWR,
};

/** Options for every {@linkcode MessageQueue}. */
export interface QueueOptions {
  /** Send only, receive only, or both (default). */
  access?: QueueAccess;
  /**
   * How long a send may wait for room, or a receive for a message, in milliseconds.
   * Infinity (the default) waits for ever.
   */
  timeout?: number;
  /** Once this is aborted, a waiting send or receive rejects with its reason (Ctrl-C). */
  signal?: AbortSignal;
}

/** Options for {@linkcode MessageQueue.send}. */
export interface SendOptions {
  /**
   * The message's priority, from 0 (the default) to `MQ_PRIO_MAX` − 1 (32767 on Linux): a
   * receive takes the oldest message of the highest priority waiting.
   */
  priority?: number;
}

/** Options for {@linkcode MessageQueue.create}. */
export interface CreateQueueOptions extends QueueOptions {
  /** How many messages the queue holds before a sender must wait (`mq_maxmsg`). */
  maxmsg: number;
  /** The largest message, in bytes (`mq_msgsize`). */
  msgsize: number;
  /** Who may open it (default 0600: only this user). */
  mode?: number;
}

/** Options for {@linkcode MessageQueue.open}. */
export interface OpenQueueOptions extends QueueOptions {
  /**
   * If no queue has the name yet, keep trying for this many milliseconds: the peer may not
   * have created it yet. Default 0: fail at once.
   */
  wait?: number;
}

/** A wait that has lasted this long starts checking whether anybody can still reach the queue. */
const PEER_CHECK_AFTER_MS = 500;
/** How often it checks after that (each check reads /proc, so not too often). */
const PEER_CHECK_EVERY_MS = 500;

/**
 * One open POSIX message queue.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MessageQueue } from "./mq.ts";
 *
 * using queue = MessageQueue.create(`/example-${Deno.pid}`, { maxmsg: 10, msgsize: 8192 });
 * await queue.send(new TextEncoder().encode("hello, queue"));
 * const message = await queue.receive(); // exactly one whole message
 * assert.equal(new TextDecoder().decode(message), "hello, queue");
 * // The end of the `using` block closes the queue and, since we created it, removes its name.
 * ```
 */
export class MessageQueue implements Disposable {
  /** The queue's name, such as `/example-queue`. */
  readonly name: string;
  /** True if this process created the queue (and so removes its name when disposed). */
  readonly created: boolean;
  /** How many messages the queue holds (`mq_maxmsg`, fixed when it was created). */
  readonly maxmsg: number;
  /** The largest message, in bytes (`mq_msgsize`, fixed when it was created). */
  readonly msgsize: number;
  #fd: number;
  #timeoutMs: number;
  #signal: AbortSignal | undefined;
  #buffer: Uint8Array | null = null;
  /** `unsigned int msg_prio`, written by every receive: see `lastPriority`. */
  #priority = new Uint32Array(1);
  #closed = false;

  private constructor(name: string, fd: number, created: boolean, options: QueueOptions) {
    this.name = name;
    this.#fd = fd;
    this.created = created;
    this.#timeoutMs = options.timeout ?? Infinity;
    this.#signal = options.signal;
    this.#sendOptions.timeoutMs = this.#receiveOptions.timeoutMs = this.#timeoutMs;
    this.#sendOptions.signal = this.#receiveOptions.signal = options.signal;
    const { maxmsg, msgsize } = libc.mq_getattr(fd);
    this.maxmsg = maxmsg;
    this.msgsize = msgsize;
  }

  /**
   * Creates a new queue with `mq_open(O_CREAT | O_EXCL)`: it fails with a
   * {@linkcode libc.LibcError} whose code is EEXIST if the name is taken, so a process never
   * uses someone else's queue by mistake. EINVAL means `maxmsg` or `msgsize` is 0 or above
   * the system's limit ({@linkcode queueLimits}).
   */
  static create(name: string, options: CreateQueueOptions): MessageQueue {
    checkName(name);
    const flags = libc.O.CREAT | libc.O.EXCL | ACCESS_FLAGS[options.access ?? "both"] |
      libc.O.NONBLOCK | libc.O.CLOEXEC;
    let fd: number;
    try {
      fd = libc.mq_open(name, flags, options.mode ?? 0o600, {
        maxmsg: options.maxmsg,
        msgsize: options.msgsize,
      });
    } catch (error) {
      throw naming(error, name);
    }
    return new MessageQueue(name, fd, true, options);
  }

  /**
   * Opens an existing queue, waiting up to `options.wait` ms for it to be created. Throws
   * `Deno.errors.TimedOut` if it does not appear in time, and `Deno.errors.PermissionDenied`
   * if it belongs to another user (someone may have put it there to feed us their data), or
   * its mode does not let this user open it (EACCES).
   */
  static async open(name: string, options: OpenQueueOptions = {}): Promise<MessageQueue> {
    checkName(name);
    const waitMs = options.wait ?? 0;
    const deadline = performance.now() + waitMs;
    const flags = ACCESS_FLAGS[options.access ?? "both"] | libc.O.NONBLOCK | libc.O.CLOEXEC;
    let fd: number | undefined;
    for (let pause = 5; fd === undefined; pause = Math.min(pause * 2, 200)) {
      try {
        fd = libc.mq_open(name, flags);
      } catch (error) {
        // ENOENT: nobody has created it yet. Anything else is a real error.
        if (!(error instanceof libc.LibcError && error.code === "ENOENT")) {
          throw describeOpenError(error, name);
        }
        const left = deadline - performance.now();
        if (left <= 0) {
          if (waitMs === 0) throw naming(error, name);
          throw new Deno.errors.TimedOut(
            `no queue named ${name} appeared within ${seconds(waitMs)}`,
          );
        }
        await sleep(Math.min(pause, left), options.signal);
      }
    }
    const queue = new MessageQueue(name, fd, false, options);
    const owner = Deno.statSync(queue.#procPath).uid;
    if (Deno.uid() !== null && owner !== Deno.uid()) {
      queue.close();
      throw new Deno.errors.PermissionDenied(
        `refusing to use the queue ${name}: it belongs to user ${owner}, not to you`,
      );
    }
    return queue;
  }

  /** The queue descriptor (`mqd_t`); on Linux it is a file descriptor. */
  get fd(): number {
    return this.#fd;
  }

  /** `/proc/self/fd/N`: the kernel's view of the open queue. */
  get #procPath(): string {
    return `/proc/self/fd/${this.#fd}`;
  }

  /**
   * The queue's attributes from `mq_getattr(3)`, including `curmsgs`, the number of messages
   * in it right now.
   */
  attributes(): libc.MqAttr {
    return libc.mq_getattr(this.#fd);
  }

  /**
   * Whether the queue still has its name. After `mq_unlink(3)` the queue lives on for the
   * processes that have it open, but `fstat` shows its link count at 0, and
   * `/proc/PID/fd` shows it as `/NAME (deleted)`.
   */
  get linked(): boolean {
    return Deno.statSync(this.#procPath).nlink !== 0;
  }

  /** The pids of the other processes that have this queue open (read from /proc). */
  otherHolders(): number[] {
    return otherHolders(this.#fd);
  }

  /**
   * Whether anybody else can still send to or receive from this queue: someone else has it
   * open, or it still has a name by which someone could open it.
   */
  reachable(): boolean {
    return this.linked || this.otherHolders().length > 0;
  }

  /**
   * Sends one message: `mq_send(3)`, waiting while the queue is full. A message longer than
   * `msgsize` fails with EMSGSIZE; a zero-length message is allowed. `options.priority`
   * (default 0) is the message's priority, from 0 to {@linkcode libc.MQ_PRIO_MAX} − 1: a
   * receive takes the oldest message of the highest priority, so an urgent message overtakes
   * those already waiting. Throws a RangeError for a priority out of that range,
   * `Deno.errors.TimedOut` after `timeout` without room, and `Deno.errors.BrokenPipe` when
   * nobody is left who could ever take a message.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MessageQueue } from "./mq.ts";
   * using queue = MessageQueue.create(`/example-${Deno.pid}-prio`, { maxmsg: 3, msgsize: 64 });
   * const text = (s: string) => new TextEncoder().encode(s);
   * await queue.send(text("first, but routine")); // priority 0
   * await queue.send(text("second, but urgent"), { priority: 7 });
   * assert.equal(new TextDecoder().decode(await queue.receive()), "second, but urgent");
   * assert.equal(queue.lastPriority, 7); // the priority of the message just received
   * assert.equal(new TextDecoder().decode(await queue.receive()), "first, but routine");
   * assert.equal(queue.lastPriority, 0);
   * await assert.rejects(queue.send(text("x"), { priority: 32768 }), RangeError); // MQ_PRIO_MAX
   * ```
   */
  send(message: Uint8Array, options?: SendOptions): Promise<void> {
    const priority = options?.priority ?? 0;
    if (!(Number.isInteger(priority) && priority >= 0 && priority < libc.MQ_PRIO_MAX)) {
      return Promise.reject(
        new RangeError(
          `a message priority must be an integer from 0 to ${libc.MQ_PRIO_MAX - 1} ` +
            `(MQ_PRIO_MAX is ${libc.MQ_PRIO_MAX}), not ${priority}`,
        ),
      );
    }
    // Interrupted (Ctrl-C): now, before the message goes; once sent, it is counted.
    if (this.#signal?.aborted) return Promise.reject(this.#signal.reason);
    // The common case first: there is room, and nothing needs to be made to wait for it.
    if (libc.mq_send(this.#fd, message, priority) !== libc.WOULD_BLOCK) return sent();
    const park = async (ms: number) =>
      await libc.mq_timedsendPark(this.#fd, message, ms, priority) ? 0 : libc.WOULD_BLOCK;
    return untilReady(
      () => libc.mq_send(this.#fd, message, priority),
      this.#waitsFor(libc.POLL.OUT, "take", park),
      this.#sendOptions,
    ).then(() => undefined);
  }

  /**
   * Receives the oldest message of the highest priority: `mq_receive(3)`, waiting while the
   * queue is empty. Resolves to the message: a view of `buffer`, overwritten by the next
   * receive into it. The buffer must hold `msgsize` bytes, even for a short message, or the
   * kernel refuses with EMSGSIZE; by default the queue's own buffer, sized from
   * `mq_getattr(3)`, is used. The message's priority is then in
   * {@linkcode MessageQueue.lastPriority} (see {@linkcode MessageQueue.send} for an example).
   * Throws `Deno.errors.TimedOut` after `timeout` without a message, and
   * `Deno.errors.BrokenPipe` when nobody is left who could ever send one.
   */
  receive(buffer: Uint8Array = this.#receiveBuffer()): Promise<Uint8Array> {
    // The common case first: a message is waiting.
    const length = libc.mq_receive(this.#fd, buffer, this.#priority);
    if (length !== libc.WOULD_BLOCK) return ready(buffer.subarray(0, length), this.#signal);
    const park = async (ms: number) =>
      await libc.mq_timedreceivePark(this.#fd, buffer, ms, this.#priority) ?? libc.WOULD_BLOCK;
    return untilReady(
      () => libc.mq_receive(this.#fd, buffer, this.#priority),
      this.#waitsFor(libc.POLL.IN, "send", park),
      this.#receiveOptions,
    ).then((length) => buffer.subarray(0, length));
  }

  /**
   * The priority of the message the last {@linkcode MessageQueue.receive} returned (0 before
   * the first): what `mq_receive(3)` writes into its `msg_prio` argument. It is kept here,
   * beside the message rather than in a new object with it, so that `receive()` still
   * resolves to the message itself, and receiving allocates nothing.
   */
  get lastPriority(): number {
    return this.#priority[0]!;
  }

  #receiveBuffer(): Uint8Array {
    return this.#buffer ??= new Uint8Array(this.msgsize);
  }

  /**
   * Waits until the queue is empty (`mq_curmsgs` is 0): every message sent has been taken.
   * Throws `Deno.errors.TimedOut` when messages stay for `timeout`, and
   * `Deno.errors.BrokenPipe` when nobody is left who could take them.
   */
  async waitUntilEmpty(): Promise<void> {
    const watch = new PeerWatch(this, "take");
    const deadline = performance.now() + this.#timeoutMs;
    for (let pause = 1;; pause = Math.min(pause * 2, 50)) {
      const left = this.attributes().curmsgs;
      if (left === 0) return;
      watch.throwIfGone();
      if (performance.now() >= deadline) {
        throw new Deno.errors.TimedOut(
          `${left} message${left === 1 ? " was" : "s were"} still in the queue ${this.name} ` +
            `after ${seconds(this.#timeoutMs)}: nobody took ${left === 1 ? "it" : "them"}`,
        );
      }
      await sleep(pause, this.#signal);
      watch.look();
    }
  }

  /**
   * How to wait while the queue is full (POLL.OUT) or empty (POLL.IN), watching for a peer
   * that has gone: first on this thread in poll(2), which works on a queue descriptor on
   * Linux; then parked on a worker thread in `timedCall`, a `mq_timedsend(3)` or
   * `mq_timedreceive(3)` that does the job itself as soon as it can.
   */
  #waitsFor(
    events: number,
    peerAction: "send" | "take",
    timedCall: (ms: number) => Promise<number | typeof libc.WOULD_BLOCK>,
  ): Waits<number> {
    const watch = new PeerWatch(this, peerAction);
    return {
      // The peer is usually only microseconds away, so look without sleeping for a moment
      // (yielding the CPU, which the peer may be waiting for), then sleep in poll for up to
      // `ms`, on this thread.
      wait: (ms) => {
        if (libc.pollSpin(this.#fd, events, SPIN_US) === 0) libc.poll(this.#fd, events, ms);
        return libc.WOULD_BLOCK;
      },
      // Then it parks, while the event loop runs (Ctrl-C, timers). A timed call only waits on
      // a descriptor without O_NONBLOCK, so the flag is cleared for the park, and set again
      // after it (nothing else uses the descriptor meanwhile: this process is waiting).
      park: async (ms) => {
        watch.throwIfGone();
        libc.mq_setattr(this.#fd, 0);
        let outcome: number | typeof libc.WOULD_BLOCK;
        try {
          outcome = await timedCall(ms);
        } finally {
          if (!this.#closed) libc.mq_setattr(this.#fd, libc.O.NONBLOCK);
        }
        if (outcome === libc.WOULD_BLOCK) watch.look();
        return outcome;
      },
    };
  }

  // Made once, not on every send and receive.
  #sendOptions: UntilReadyOptions = {
    timeoutMs: Infinity,
    timeoutMessage: () => `the queue ${this.name} stayed full for ${seconds(this.#timeoutMs)}`,
  };
  #receiveOptions: UntilReadyOptions = {
    timeoutMs: Infinity,
    timeoutMessage: () =>
      `no message came through the queue ${this.name} for ${seconds(this.#timeoutMs)}`,
  };

  /**
   * Removes the queue's name with `mq_unlink(3)`, if it still has one: processes that have it
   * open keep using it, and it goes when the last one closes it. Returns true if this call
   * removed the name. Call it before {@linkcode MessageQueue.close}: the descriptor is how it
   * knows whether the name still belongs to this queue (and not to a new one).
   */
  unlink(): boolean {
    if (this.#closed) throw new Deno.errors.BadResource(`the queue ${this.name} is closed`);
    if (!this.linked) return false; // the peer has removed it already
    return removeQueue(this.name);
  }

  /** Closes the descriptor with `mq_close(3)`; the queue lives on. Closing twice is harmless. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    libc.mq_close(this.#fd);
  }

  /** Removes the name if this process created the queue, then closes it (for `using`). */
  [Symbol.dispose](): void {
    if (this.#closed) return;
    try {
      if (this.created) this.unlink();
    } finally {
      this.close();
    }
  }
}

/**
 * Watches, during a long wait, whether anybody can still reach the queue. A queue with no name
 * that no other process has open can never get another message, nor lose one: whoever was on
 * the other side has gone, and waiting longer is pointless.
 */
class PeerWatch {
  #queue: MessageQueue;
  #peerAction: string;
  #nextLook = performance.now() + PEER_CHECK_AFTER_MS;
  #gone = false;

  constructor(queue: MessageQueue, peerAction: "send" | "take") {
    this.#queue = queue;
    this.#peerAction = peerAction;
  }

  /** Looks in /proc, if a look is due, and remembers whether anybody can reach the queue. */
  look(): void {
    const now = performance.now();
    if (now < this.#nextLook) return;
    this.#nextLook = now + PEER_CHECK_EVERY_MS;
    this.#gone = !this.#queue.reachable();
  }

  /**
   * Throws `Deno.errors.BrokenPipe` if the last look found nobody. The caller has tried the
   * operation once more since that look, so nothing the peer did before it left is missed.
   */
  throwIfGone(): void {
    if (!this.#gone) return;
    throw new Deno.errors.BrokenPipe(
      `the queue ${this.#queue.name} has no name and no other process has it open: ` +
        `nobody is left to ${this.#peerAction} a message`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Leftovers: queues that killed runs left behind (for `deno task clean`)
// ---------------------------------------------------------------------------------------------

/** A POSIX message queue, as `deno task clean` lists and names it. */
export const QUEUE_KIND: LeftoverKind = {
  label: "message queue",
  noun: "message queue",
  plural: "message queues",
  atAnyPath: false,
};

/** Whether the `mqueue` file system is mounted at `/dev/mqueue`, where `ls` shows the queues. */
function mqueueMounted(): boolean {
  try {
    return Deno.readTextFileSync("/proc/self/mounts").split("\n")
      .some((line) => line.split(" ")[1] === "/dev/mqueue" && line.split(" ")[2] === "mqueue");
  } catch {
    return false;
  }
}

/** The queue `name`, found with the device and inode `identity`. */
function queueLeftover(name: string, identity: Identity, uid: number | null): Leftover {
  const path = `/dev/mqueue${name}`;
  const mounted = mqueueMounted();
  return new Leftover({
    kind: QUEUE_KIND,
    path,
    name,
    uid,
    identity,
    identityNow: () => {
      if (mounted) {
        const info = lstatOrNull(path);
        return info === null ? null : identityOf(info);
      }
      try {
        return queueIdentity(name)?.identity ?? null;
      } catch {
        return null; // cannot open it any more: not the queue we found
      }
    },
    remove: () => libc.mq_unlink(name),
  });
}

/**
 * Every queue of the IPC namespace with its identity and owner, or null if they cannot be
 * listed (then a note says why). Where `/dev/mqueue` is not mounted, root lists them through a
 * private mount (`unshare -m`): the queues belong to the IPC namespace, not to a mount, so
 * every mount of the `mqueue` file system shows the same ones, with the same device and inode.
 * We do not mount `/dev/mqueue` for everybody: a cleanup tool should not change the machine's
 * mounts, and the private mount goes with its process.
 */
function listQueues(notes: string[]): { name: string; identity: Identity; uid: number }[] | null {
  if (mqueueMounted()) {
    return namesIn("/dev/mqueue", "").flatMap((file) => {
      const info = lstatOrNull(`/dev/mqueue/${file}`);
      return info ? [{ name: `/${file}`, identity: identityOf(info), uid: info.uid ?? -1 }] : [];
    });
  }
  if (Deno.uid() === 0) {
    // `find` prints device, inode, owner and name of each, ended by NUL (a name may hold a
    // newline).
    try {
      const output = new Deno.Command("unshare", {
        args: [
          "-m",
          "sh",
          "-c",
          'd=$(mktemp -d) || exit 1; mount -t mqueue none "$d" && ' +
          `find "$d" -mindepth 1 -maxdepth 1 -printf '%D %i %U %f\\0'; s=$?; ` +
          'umount "$d"; rmdir "$d"; exit $s',
        ],
        stdout: "piped",
        stderr: "null",
      }).outputSync();
      if (output.success) {
        return new TextDecoder().decode(output.stdout).split("\0").filter(Boolean).map(
          (entry) => {
            const [dev, ino, uid, ...rest] = entry.split(" ");
            return { name: `/${rest.join(" ")}`, identity: `${dev}:${ino}`, uid: Number(uid) };
          },
        );
      }
    } catch { /* no unshare */ }
  }
  notes.push(
    "message queues: /dev/mqueue is not mounted, so they cannot be listed " +
      "(as root: mkdir -p /dev/mqueue; mount -t mqueue none /dev/mqueue); deno task clean /NAME still removes one by name",
  );
  return null;
}

/**
 * The queue `name`, or null if there is none. A queue given by name needs no mount: where
 * `/dev/mqueue` is not mounted, opening it for a moment shows its identity. A queue this user
 * may not open (another user's) is a problem: who holds it cannot be seen.
 */
function queueNamed(name: string, problems: string[]): Leftover | null {
  if (mqueueMounted()) {
    const info = lstatOrNull(`/dev/mqueue${name}`);
    return info === null ? null : queueLeftover(name, identityOf(info), info.uid);
  }
  try {
    const found = queueIdentity(name);
    return found === null ? null : queueLeftover(name, found.identity, found.uid);
  } catch (error) {
    if (!(error instanceof libc.LibcError)) throw error;
    if (error.code === "EACCES") {
      problems.push(
        `the message queue ${name} exists, but this user may not open it to see who holds it ` +
          "(it is another user's): left alone",
      );
      return null;
    }
    if (error.code === "EINVAL" || error.code === "ENAMETOOLONG") return null; // not a queue name
    throw error;
  }
}

/**
 * Finds message queues: for `{ prefix, dir }`, this user's queues whose names start with
 * `/PREFIX`; for `{ name, cwd }`, the queue that `name` names: a POSIX name (`/my-queue`, or
 * `my-queue`), or a path in `/dev/mqueue`. `mq_unlink(3)` removes it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findLeftovers } from "./leftovers.ts";
 * import { MessageQueue, queueLeftovers } from "./mq.ts";
 *
 * const name = `/my-app-${Deno.pid}`;
 * using queue = MessageQueue.create(name, { maxmsg: 1, msgsize: 16 }); // open here: in use
 * const { found } = findLeftovers([queueLeftovers], { name, cwd: "/" });
 * assert.deepEqual(found.map((object) => [object.name, object.holders]), [[name, [Deno.pid]]]);
 * ```
 */
export const queueLeftovers: LeftoverFinder = new LeftoverFinder([QUEUE_KIND], (query, report) => {
  if ("prefix" in query) {
    for (const { name, identity, uid } of listQueues(report.notes) ?? []) {
      if (name.startsWith(`/${query.prefix}`) && mine(uid)) {
        report.found.push(queueLeftover(name, identity, uid));
      }
    }
    return;
  }
  // As a path in /dev/mqueue (mounted or not), and as a POSIX name: often the same queue.
  const parts = new Set<string>();
  const path = resolve(query.cwd, query.name);
  if (dirname(path) === "/dev/mqueue" && posixPart(basename(path)) !== null) {
    parts.add(basename(path));
  }
  const part = posixPart(query.name);
  if (part !== null) parts.add(part);
  for (const part of parts) {
    const queue = queueNamed(`/${part}`, report.problems);
    if (queue) report.found.push(queue);
  }
});

// ---------------------------------------------------------------------------------------------
// The queue as a channel of pieces (see channel.ts): what the benchmark measures
// ---------------------------------------------------------------------------------------------

/**
 * The message queue as a named channel, opened as the queue lesson opens it: the sender
 * creates `/word` (10 messages of `piece` bytes, mode 0600, exclusively), the receiver waits
 * for it to appear and removes the name once it has it open. A message of 0 bytes ends the
 * stream. A piece is a message, so it can be no larger than `msgsize_max`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { channel } from "./mq.ts";
 * using stack = new DisposableStack();
 * const options = { piece: 64, capacity: 0, timeout: 5000, stack, dir: "/tmp" };
 * const word = `ipc-lesson-example-${Deno.pid}`;
 * const sink = await channel.openSink(word, options);
 * const source = await channel.openSource(word, options);
 * await sink.send(new Uint8Array([1, 2, 3]));
 * await sink.end();
 * assert.deepEqual([...await source.receive()], [1, 2, 3]);
 * assert.equal((await source.receive()).length, 0); // the end marker
 * ```
 */
export const channel: NamedChannel = {
  kind: "named",
  refbench: "pmq",
  maxPiece: () => queueLimits().msgsize,
  openSink(word: string, { piece, timeout, stack }: NamedEndOptions) {
    const queue = stack.use(
      MessageQueue.create(`/${word}`, { maxmsg: 10, msgsize: piece, access: "send", timeout }),
    );
    return Promise.resolve({
      send: (data: Uint8Array) => queue.send(data),
      end: () => queue.send(new Uint8Array(0)),
    });
  },
  async openSource(word: string, { timeout, stack }: NamedEndOptions) {
    const queue = stack.use(
      await MessageQueue.open(`/${word}`, { access: "receive", wait: timeout, timeout }),
    );
    queue.unlink();
    return { receive: () => queue.receive() };
  },
};
