/**
 * System V message queues: the older, still widely taught kind of message queue, found by a
 * number (a `key_t`), not by a name.
 *
 * Where a POSIX queue has a name (`/my-queue`) and a descriptor, a System V queue has a **key**
 * (any 32-bit number both programs agree on, usually made by `ftok(3)` from a file and a project
 * id) and an **identifier**, the `msqid` that `msgget(2)` returns, which every process uses
 * without opening anything. So nothing in `/proc/PID/fd` shows who uses a queue; what the
 * kernel keeps instead is in `struct msqid_ds` (`msgctl(IPC_STAT)`, `/proc/sysvipc/msg`,
 * `ipcs -q`): the last process that sent (`msg_lspid`) and received (`msg_lrpid`), how many
 * messages and bytes it holds, and its byte budget `msg_qbytes`.
 *
 * Messages carry a type (`mtype`, a positive `long`), and `msgrcv(2)` chooses by it: 0 takes the
 * first message, n the first of type n, −n the first of the lowest type up to n. A queue holds
 * at most `msg_qbytes` bytes of text (default `/proc/sys/kernel/msgmnb`): a sender whose message
 * does not fit waits. A message is at most `/proc/sys/kernel/msgmax` bytes.
 *
 * A queue lives until `msgctl(IPC_RMID)` removes it, not until its processes exit: a killed
 * program leaves it behind, messages and all ({@linkcode sysvQueueLeftovers} finds those).
 *
 * Neither `msgsnd` nor `msgrcv` has a timed variant, and a blocked call cannot be cancelled
 * (only a signal or `IPC_RMID` wakes it), so a {@linkcode SysvQueue} always calls them with
 * `IPC_NOWAIT` and waits itself: it tries again while yielding the CPU for a moment, then sleeps
 * in short, growing steps while the event loop runs (timers, Ctrl-C).
 *
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import type { NamedChannel, NamedEndOptions } from "./channel.ts";
import { type Identity, identityOf, isRunning, type ProcessTable } from "./holders.ts";
import {
  Leftover,
  leftoverAt,
  LeftoverFinder,
  type LeftoverKind,
  type LeftoverReport,
  lstatOrNull,
  mine,
  namesIn,
} from "./leftovers.ts";
import { tempDir } from "./files.ts";
import { formatKey } from "./_sysv_key.ts";
import * as libc from "./libc.ts";
import {
  ready,
  seconds,
  sent,
  sleep,
  SPIN_MS,
  untilReady,
  type UntilReadyOptions,
  type Waits,
} from "./wait.ts";

/**
 * Where the kernel's System V queue limits live (`sysctl kernel.msgmax` …). Root may change
 * them (`sysctl -w`), and a process with CAP_SYS_RESOURCE may raise one queue's `msg_qbytes`
 * above `msgmnb`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SYSV_MQ_LIMIT_FILES } from "./sysv_mq.ts";
 * assert.match(Deno.readTextFileSync(SYSV_MQ_LIMIT_FILES.msgmax), /^\d+\n$/); // "8192\n"
 * ```
 */
export const SYSV_MQ_LIMIT_FILES = {
  /** The largest message, in bytes. */
  msgmax: "/proc/sys/kernel/msgmax",
  /** A new queue's `msg_qbytes`: the bytes it may hold (raising it needs CAP_SYS_RESOURCE). */
  msgmnb: "/proc/sys/kernel/msgmnb",
  /** How many queues the system may have. */
  msgmni: "/proc/sys/kernel/msgmni",
} as const;

/** The System V queue limits of this machine, from {@linkcode SYSV_MQ_LIMIT_FILES}. */
export interface SysvQueueLimits {
  /** The largest message, in bytes (8192 by default). */
  msgmax: number;
  /** The bytes a new queue may hold, its `msg_qbytes` (16384 by default). */
  msgmnb: number;
  /** How many queues the system may have (32000 by default). */
  msgmni: number;
}

/**
 * The System V queue limits, read from `/proc/sys/kernel`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sysvQueueLimits } from "./sysv_mq.ts";
 * const { msgmax, msgmnb } = sysvQueueLimits(); // 8192 and 16384 by default
 * assert.ok(msgmax >= 1 && msgmnb >= 1);
 * ```
 */
export function sysvQueueLimits(): SysvQueueLimits {
  return {
    msgmax: libc.kernelLimit("msgmax"),
    msgmnb: libc.kernelLimit("msgmnb"),
    msgmni: libc.kernelLimit("msgmni"),
  };
}

export { formatKey, ftokPathProblem } from "./_sysv_key.ts";

/**
 * A key typed by a person (`0x4c0b1234`, or decimal `1275793972`) as the signed `key_t` the
 * calls take, or the end of a sentence saying why it is not one. 0 is `IPC_PRIVATE`, a key no
 * other process can look up, so it is refused.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseKey } from "./sysv_mq.ts";
 * assert.equal(parseKey("0x10"), 16);
 * assert.equal(parseKey("0xffffffff"), -1);
 * assert.equal(parseKey("0"), "must not be 0: that is IPC_PRIVATE, which no other process can find");
 * ```
 */
export function parseKey(text: string): number | string {
  const trimmed = text.trim();
  const value = /^0x[0-9a-f]{1,8}$/i.test(trimmed)
    ? parseInt(trimmed.slice(2), 16)
    : /^\d{1,10}$/.test(trimmed)
    ? Number(trimmed)
    : NaN;
  if (Number.isNaN(value) || value > 0xffffffff) {
    return `must be a 32-bit number, like 0x4c0b1234 or 1275793972: got ${JSON.stringify(text)}`;
  }
  if (value === 0) return "must not be 0: that is IPC_PRIVATE, which no other process can find";
  return value | 0;
}

/** Options for every {@linkcode SysvQueue}. */
export interface SysvQueueOptions {
  /**
   * How long a send may wait for room, or a receive for a message, in milliseconds.
   * Infinity (the default) waits for ever.
   */
  timeout?: number;
  /** Once this is aborted, a waiting send or receive rejects with its reason (Ctrl-C). */
  signal?: AbortSignal;
  /**
   * Whether a wait first retries on this thread without sleeping (default true: fastest while
   * data streams). False sleeps at once, so that a `--trace` shows each try, not hundreds.
   */
  spin?: boolean;
}

/** Options for {@linkcode SysvQueue.open}. */
export interface OpenSysvQueueOptions extends SysvQueueOptions {
  /** If the key has no queue yet, keep trying for this many milliseconds (default 0). */
  wait?: number;
}

/** A wait that has lasted this long starts checking whether the peer process still runs. */
const PEER_CHECK_AFTER_MS = 300;
/** How often it checks after that (each check is one `msgctl(IPC_STAT)` and a look in /proc). */
const PEER_CHECK_EVERY_MS = 300;
/**
 * How long a wait retries without sleeping, yielding the CPU between tries, in µs. A queue of
 * 16 KiB holds two 8 KiB messages, so a streaming sender waits for every second message: the
 * receiver is then microseconds away, or waiting for a CPU. There is no descriptor to sleep on
 * until the queue changes, so the only sleep is a timed one, and the shortest `poll` sleep is
 * 1 ms: two messages' worth of waiting where C's blocked msgsnd wakes within microseconds.
 * Measured on 2 busy vCPUs (`deno task bench --methods sysv-mq`): 50 µs of retries gave 0.35 ×
 * C at 8 KiB, 200 µs 0.90 ×, 2 ms 1.9 ×. A wait that lasts longer than this costs a CPU for
 * 2 ms, then sleeps; a peer that is not streaming (by hand, waiting for the other terminal)
 * never pays it again.
 */
const SPIN_PHASE_US = 2000;
/** The longest sleep between two tries once the event loop runs, in ms. */
const LONGEST_PAUSE_MS = 20;

/**
 * The type of the data messages, and of the end-of-file message, in the lesson's protocol. (The
 * lesson's end message carries the number of bytes sent, 8 bytes little-endian, which its client
 * checks: any process of the user may send either type. The benchmark's channel sends it empty.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MTYPE } from "./sysv_mq.ts";
 * assert.ok(MTYPE.DATA < MTYPE.END); // msgrcv(-2) would take data first: the lowest type
 * ```
 */
export const MTYPE = { DATA: 1, END: 2 } as const;

/**
 * One System V message queue, by its identifier.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MTYPE, SysvQueue } from "./sysv_mq.ts";
 *
 * const key = 0x5e000000 | (Deno.pid & 0xffffff); // any key nobody else uses
 * using queue = SysvQueue.create(key, { timeout: 5000 }); // IPC_CREAT | IPC_EXCL, 0600
 * await queue.send(new TextEncoder().encode("hello"), MTYPE.DATA);
 * await queue.send(new Uint8Array(0), MTYPE.END); // a message of its own type, no bytes
 * const first = await queue.receive(0); // msgtyp 0: the first message, whatever its type
 * assert.equal(new TextDecoder().decode(first), "hello");
 * assert.equal(queue.lastType, MTYPE.DATA);
 * assert.equal((await queue.receive(MTYPE.END)).length, 0);
 * // The end of the `using` block removes the queue (IPC_RMID): this process created it.
 * ```
 */
export class SysvQueue implements Disposable {
  /** The key it was found or made by. */
  readonly key: number;
  /** Its identifier (`msqid`), which every call takes. */
  readonly msqid: number;
  /** True if this process created it (and so removes it when disposed). */
  readonly created: boolean;
  /** The largest message this machine allows (`msgmax`), the size of the receive buffer. */
  readonly msgmax: number;
  #timeoutMs: number;
  #signal: AbortSignal | undefined;
  #out: libc.MessageBuffer;
  #in: libc.MessageBuffer;
  #sendLength = 0;
  #receiveType = 0;
  #removed = false;
  #spin: boolean;

  private constructor(key: number, msqid: number, created: boolean, options: SysvQueueOptions) {
    this.key = key;
    this.msqid = msqid;
    this.created = created;
    this.msgmax = libc.kernelLimit("msgmax");
    this.#timeoutMs = options.timeout ?? Infinity;
    this.#signal = options.signal;
    this.#spin = options.spin ?? true;
    this.#out = new libc.MessageBuffer(this.msgmax);
    this.#in = new libc.MessageBuffer(this.msgmax);
    this.#sendOptions.timeoutMs = this.#receiveOptions.timeoutMs = this.#timeoutMs;
    this.#sendOptions.signal = this.#receiveOptions.signal = options.signal;
  }

  /**
   * Creates a new queue for `key` with `msgget(key, IPC_CREAT | IPC_EXCL | 0600)`: it fails
   * with a LibcError whose code is EEXIST if the key has a queue already (a live program's, or
   * one a killed program left), so a process never uses someone else's queue by mistake.
   */
  static create(key: number, options: SysvQueueOptions & { mode?: number } = {}): SysvQueue {
    const msqid = libc.msgget(key, libc.IPC.CREAT | libc.IPC.EXCL | (options.mode ?? 0o600));
    return new SysvQueue(key, msqid, true, options);
  }

  /**
   * Finds the queue of `key` with `msgget(key, 0)`, waiting up to `options.wait` ms for it to
   * be created. Throws `Deno.errors.TimedOut` if it does not appear in time, the LibcError
   * EACCES (from `msgctl(IPC_STAT)`) if its mode does not let this user in, and
   * `Deno.errors.PermissionDenied` if it does but belongs to another user (a mode 0666 queue
   * that anybody could have filled: never taken for the peer's, even by root).
   */
  static async open(key: number, options: OpenSysvQueueOptions = {}): Promise<SysvQueue> {
    const waitMs = options.wait ?? 0;
    const deadline = performance.now() + waitMs;
    for (let pause = 2;; pause = Math.min(pause * 2, 100)) {
      try {
        const msqid = libc.msgget(key, 0);
        // msgget asks for no permission (flags 0), so it finds another user's queue too; its
        // IPC_STAT needs read permission, as msgrcv does: EACCES now, not at the first receive.
        const { uid, cuid } = libc.msqidStat(msqid);
        if (!mine(uid) || !mine(cuid)) {
          const owner = mine(uid) ? cuid : uid;
          throw new Deno.errors.PermissionDenied(
            `refusing to use the System V queue ${formatKey(key)} (msqid ${msqid}): it belongs ` +
              `to user ${owner}, not to you`,
          );
        }
        return new SysvQueue(key, msqid, false, options);
      } catch (error) {
        // ENOENT: nobody has created it yet. Anything else is a real error.
        if (!(error instanceof libc.LibcError && error.code === "ENOENT")) throw error;
        const left = deadline - performance.now();
        if (left <= 0) {
          if (waitMs === 0) throw error;
          throw new Deno.errors.TimedOut(
            `no queue with key ${formatKey(key)} appeared within ${seconds(waitMs)}`,
          );
        }
        await sleep(Math.min(pause, left), options.signal);
      }
    }
  }

  /** `msgctl(IPC_STAT)`: what the kernel says about the queue now. */
  stat(): libc.MsqidDs {
    return libc.msqidStat(this.msqid);
  }

  /**
   * Sets the queue's byte budget, `msg_qbytes`, with `msgctl(IPC_SET)`: up to `msgmnb` any
   * owner may; above it only a process with CAP_SYS_RESOURCE (else EPERM).
   */
  setQbytes(qbytes: number): void {
    libc.msqidSetQbytes(this.msqid, qbytes);
  }

  /**
   * Sends `data` (at most `msgmax` bytes) as one message of type `mtype` (above 0). When the
   * queue has no room (its bytes would pass `msg_qbytes`), it waits. Throws
   * `Deno.errors.TimedOut` after `timeout`, and `Deno.errors.BrokenPipe` when the process that
   * received last has exited, or the queue has been removed.
   */
  send(data: Uint8Array, mtype: number = MTYPE.DATA): Promise<void> {
    if (data.length > this.msgmax) {
      throw new RangeError(
        `a message holds at most ${this.msgmax} bytes (msgmax), not ${data.length}`,
      );
    }
    this.#out.mtype = mtype;
    this.#out.text.set(data);
    this.#sendLength = data.length;
    // Interrupted (Ctrl-C): now, before the message goes; once sent, it is counted.
    if (this.#signal?.aborted) return Promise.reject(this.#signal.reason);
    if (this.#trySend() !== libc.WOULD_BLOCK) return sent();
    this.#sendWaits ??= this.#waitsFor("receive");
    return untilReady(this.#trySend, this.#sendWaits, this.#sendOptions).then(this.#toVoid);
  }

  /**
   * Receives one message chosen by `msgtyp` (0: the first; n: the first of type n; −n: the
   * first of the lowest type up to n) and resolves to its bytes, a view of the queue's own
   * buffer: use them before the next receive. Its type is then in
   * {@linkcode SysvQueue.lastType}. Throws `Deno.errors.TimedOut` after `timeout` with no such
   * message, and `Deno.errors.BrokenPipe` when the process that sent last has exited with
   * nothing left to take, or the queue has been removed.
   */
  receive(msgtyp = 0): Promise<Uint8Array> {
    this.#receiveType = msgtyp;
    const length = this.#tryReceive();
    if (length !== libc.WOULD_BLOCK) return ready(this.#textOf(length), this.#signal);
    this.#receiveWaits ??= this.#waitsFor("send");
    return untilReady(this.#tryReceive, this.#receiveWaits, this.#receiveOptions)
      .then(this.#textOf);
  }

  /** The type (`mtype`) of the message the last {@linkcode SysvQueue.receive} returned. */
  get lastType(): number {
    return this.#in.mtype;
  }

  // What a wait's promise resolves to, made once.
  #toVoid = (): void => {};
  #view: Uint8Array = new Uint8Array(0);
  /** The first `length` bytes of the receive buffer: the same view while the length repeats. */
  #textOf = (length: number): Uint8Array => {
    if (this.#view.length !== length) this.#view = this.#in.text.subarray(0, length);
    return this.#view;
  };

  // The attempts, made once: a bound arrow function is not a new object on every call.
  #trySend = (): number | typeof libc.WOULD_BLOCK => {
    try {
      return libc.msgsnd(this.msqid, this.#out, this.#sendLength, libc.IPC.NOWAIT);
    } catch (error) {
      throw this.#removedError(error);
    }
  };

  #tryReceive = (): number | typeof libc.WOULD_BLOCK => {
    try {
      return libc.msgrcv(this.msqid, this.#in, this.msgmax, this.#receiveType, libc.IPC.NOWAIT);
    } catch (error) {
      throw this.#removedError(error);
    }
  };

  /** EIDRM or EINVAL on a queue we had: someone removed it (IPC_RMID) meanwhile. */
  #removedError(error: unknown): unknown {
    if (error instanceof libc.LibcError && (error.code === "EIDRM" || error.code === "EINVAL")) {
      this.#removed = true;
      return new Deno.errors.BrokenPipe(
        `the queue ${formatKey(this.key)} (msqid ${this.msqid}) was removed (IPC_RMID) by ` +
          `another process: ${error.call} failed with ${error.code}`,
      );
    }
    return error;
  }

  /**
   * Waits until the queue is empty (`msg_qnum` 0): every message sent has been taken. Throws
   * `Deno.errors.TimedOut` when messages stay for `timeout`, and `Deno.errors.BrokenPipe` when
   * the process that received last has exited.
   */
  async waitUntilEmpty(): Promise<void> {
    const deadline = performance.now() + this.#timeoutMs;
    const watch = new PeerWatch(this, "receive");
    for (let pause = 1;; pause = Math.min(pause * 2, LONGEST_PAUSE_MS)) {
      let left: number;
      try {
        left = this.stat().qnum;
      } catch (error) {
        throw this.#removedError(error);
      }
      if (left === 0) return;
      watch.look();
      watch.throwIfGone();
      if (performance.now() >= deadline) {
        throw new Deno.errors.TimedOut(
          `${left} message${left === 1 ? " was" : "s were"} still in the queue ` +
            `${formatKey(this.key)} after ${seconds(this.#timeoutMs)}: nobody took ${
              left === 1 ? "it" : "them"
            }`,
        );
      }
      await sleep(pause, this.#signal);
    }
  }

  /**
   * How to wait while the queue is full or empty. On this thread: try again and again for
   * {@linkcode SPIN_PHASE_US}, giving the CPU away between tries (`sched_yield`, through a
   * `poll` on no descriptor), then sleep in `poll` for 1 ms at a time up to `ms`. Then, while
   * the event loop runs: sleep for growing pauses, up to {@linkcode LONGEST_PAUSE_MS}, and try
   * again, looking now and then whether the peer process still runs.
   */
  #waitsFor(peerAction: "send" | "receive"): Waits<number> {
    const attempt = peerAction === "receive" ? this.#trySend : this.#tryReceive;
    const watch = new PeerWatch(this, peerAction);
    let pause = 1;
    return {
      wait: (ms) => {
        pause = 1;
        watch.restart();
        if (!this.#spin) return libc.WOULD_BLOCK;
        const spinUntil = performance.now() + SPIN_PHASE_US / 1000;
        do {
          libc.pollSpin(-1, 0, 0); // one sched_yield()
          const outcome = attempt();
          if (outcome !== libc.WOULD_BLOCK) return outcome;
        } while (performance.now() < spinUntil);
        const sleepUntil = performance.now() + Math.min(ms, SPIN_MS);
        while (performance.now() < sleepUntil) {
          libc.poll(-1, 0, 1); // sleeps 1 ms: no descriptor to wait for
          const outcome = attempt();
          if (outcome !== libc.WOULD_BLOCK) return outcome;
        }
        return libc.WOULD_BLOCK;
      },
      park: async (ms) => {
        watch.throwIfGone();
        await sleep(Math.min(pause, ms), this.#signal);
        pause = Math.min(pause * 2, LONGEST_PAUSE_MS);
        watch.look();
        return libc.WOULD_BLOCK;
      },
    };
  }

  // Made once, not on every send and receive (a wait that starts only restarts its watch).
  #sendWaits: Waits<number> | undefined;
  #receiveWaits: Waits<number> | undefined;
  #sendOptions: UntilReadyOptions = {
    timeoutMs: Infinity,
    timeoutMessage: () =>
      `the queue ${formatKey(this.key)} stayed full for ${seconds(this.#timeoutMs)}: nobody ` +
      "received from it",
  };
  #receiveOptions: UntilReadyOptions = {
    timeoutMs: Infinity,
    timeoutMessage: () =>
      `no message came through the queue ${formatKey(this.key)} for ${seconds(this.#timeoutMs)}`,
  };

  /** Whether the queue is still there (this identifier, not merely this key). */
  exists(): boolean {
    if (this.#removed) return false;
    try {
      this.stat();
      return true;
    } catch (error) {
      if (error instanceof libc.LibcError && (error.code === "EINVAL" || error.code === "EIDRM")) {
        return false;
      }
      throw error;
    }
  }

  /**
   * Removes the queue at once with `msgctl(IPC_RMID)`: its messages are lost, and a process
   * waiting in it wakes with EIDRM. Returns false if it was gone already.
   */
  remove(): boolean {
    if (this.#removed) return false;
    this.#removed = true;
    try {
      libc.msgctl(this.msqid, libc.IPC.RMID);
      return true;
    } catch (error) {
      if (error instanceof libc.LibcError && (error.code === "EINVAL" || error.code === "EIDRM")) {
        return false;
      }
      throw error;
    }
  }

  /** Removes the queue if this process created it (for `using`). */
  [Symbol.dispose](): void {
    if (this.created) this.remove();
  }
}

/**
 * Watches, during a long wait, whether the peer process still runs: the one that sent last
 * (for a receiver) or received last (for a sender), as `msg_lspid` and `msg_lrpid` say. A
 * System V queue has no descriptor, so /proc cannot say who "has it open"; these two pids are
 * what the kernel keeps. 0 means nobody has yet: then only the timeout can tell.
 */
class PeerWatch {
  #queue: SysvQueue;
  #peerAction: "send" | "receive";
  #nextLook = performance.now() + PEER_CHECK_AFTER_MS;
  #gone: number | null = null;

  constructor(queue: SysvQueue, peerAction: "send" | "receive") {
    this.#queue = queue;
    this.#peerAction = peerAction;
  }

  /** A new wait begins: the first look is {@linkcode PEER_CHECK_AFTER_MS} away again. */
  restart(): void {
    this.#nextLook = performance.now() + PEER_CHECK_AFTER_MS;
    this.#gone = null;
  }

  /** Looks, if a look is due, and remembers whether the peer has exited. */
  look(): void {
    const now = performance.now();
    if (now < this.#nextLook) return;
    this.#nextLook = now + PEER_CHECK_EVERY_MS;
    let stat: libc.MsqidDs;
    try {
      stat = this.#queue.stat();
    } catch {
      return; // removed: the next attempt says so
    }
    const pid = this.#peerAction === "send" ? stat.lspid : stat.lrpid;
    this.#gone = pid !== 0 && pid !== Deno.pid && !isRunning(pid) ? pid : null;
  }

  /**
   * Throws `Deno.errors.BrokenPipe` if the last look found the peer gone. The caller has tried
   * the operation once more since that look, so nothing the peer did before it left is missed.
   */
  throwIfGone(): void {
    if (this.#gone === null) return;
    const field = this.#peerAction === "send" ? "msg_lspid" : "msg_lrpid";
    throw new Deno.errors.BrokenPipe(
      `process ${this.#gone}, the last to ${this.#peerAction} on the queue ` +
        `${formatKey(this.#queue.key)} (${field}), has exited: nobody is left to ` +
        `${this.#peerAction === "send" ? "send" : "take"} a message`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// What a queue's key says about it, from /proc/sysvipc/msg (as ipcs -q shows it)
// ---------------------------------------------------------------------------------------------

/** A queue as `/proc/sysvipc/msg` lists it. */
export interface SysvQueueInfo {
  /** Its key. */
  key: number;
  /** Its identifier. */
  msqid: number;
  /** Its owner. */
  uid: number;
  /** Its mode (0600). */
  mode: number;
  /** How many messages, and bytes, it holds. */
  qnum: number;
  /** The bytes of text it holds. */
  cbytes: number;
  /** The last process that sent, and received (0: nobody yet). */
  lspid: number;
  /** The last process that received (0: nobody yet). */
  lrpid: number;
  /** Which of `lspid` and `lrpid` still run (a process that has used it lately). */
  running: number[];
}

/**
 * Every System V queue of this IPC namespace, from `/proc/sysvipc/msg`, with which of its last
 * sender and receiver still run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SysvQueue, sysvQueues } from "./sysv_mq.ts";
 * using queue = SysvQueue.create(0x5e100000 | (Deno.pid & 0xfffff));
 * const mine = sysvQueues().find((info) => info.msqid === queue.msqid);
 * assert.equal(mine?.mode, 0o600);
 * assert.deepEqual(mine?.running, []); // nobody has sent or received yet
 * ```
 */
export function sysvQueues(): SysvQueueInfo[] {
  return libc.sysvipcTable("msg").map((row) => {
    const lspid = row["lspid"] ?? 0, lrpid = row["lrpid"] ?? 0;
    return {
      key: row["key"] ?? 0,
      msqid: row["msqid"] ?? -1,
      uid: row["uid"] ?? -1,
      mode: (row["perms"] ?? 0) & 0o777,
      qnum: row["qnum"] ?? 0,
      cbytes: row["cbytes"] ?? 0,
      lspid,
      lrpid,
      running: [...new Set([lspid, lrpid])].filter((pid) => pid !== 0 && isRunning(pid)),
    };
  });
}

/**
 * The queue that `key` names now, or null.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sysvQueueOf } from "./sysv_mq.ts";
 * assert.equal(sysvQueueOf(0x7fff0001 ^ Deno.pid), null); // most likely nobody's
 * ```
 */
export function sysvQueueOf(key: number): SysvQueueInfo | null {
  return sysvQueues().find((info) => info.key === key && key !== 0) ?? null;
}

/**
 * Whether a queue nobody uses any more: it has been used (a send or a receive), and every
 * process that did (its `msg_lspid` and `msg_lrpid`) has exited. A queue nobody has used yet
 * cannot be judged (its creator is not recorded): it counts as in use.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isStale, type SysvQueueInfo } from "./sysv_mq.ts";
 * const info: SysvQueueInfo = {
 *   key: 1, msqid: 1, uid: 0, mode: 0o600, qnum: 1, cbytes: 5, lspid: 4711, lrpid: 0, running: [],
 * };
 * assert.equal(isStale(info), true); // its last sender has exited
 * assert.equal(isStale({ ...info, lspid: 0 }), false); // never used: cannot tell
 * ```
 */
export function isStale(info: SysvQueueInfo): boolean {
  return (info.lspid !== 0 || info.lrpid !== 0) && info.running.length === 0;
}

// ---------------------------------------------------------------------------------------------
// Leftovers: queues that killed runs left behind (for `deno task clean`)
// ---------------------------------------------------------------------------------------------

/** A System V message queue, as `deno task clean` lists and names it. */
export const SYSV_QUEUE_KIND: LeftoverKind = {
  label: "System V queue",
  noun: "System V message queue",
  plural: "System V message queues",
  atAnyPath: false,
};

/** The file a lesson run makes for `ftok`, as `deno task clean` lists and names it. */
export const KEY_FILE_KIND: LeftoverKind = {
  label: "key file",
  noun: "ftok key file",
  plural: "ftok key files",
  atAnyPath: false,
};

/**
 * How a run's own key file is named: `ipc-lesson-sysv-mq-4711-3f9a2c01.key` (in TMPDIR), or the
 * benchmark's channel's, `ipc-lesson-bench-4711-6.key` (left behind when its peers are killed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KEY_FILE_PATTERN } from "./sysv_mq.ts";
 * assert.ok(KEY_FILE_PATTERN.test("ipc-lesson-sysv-mq-4711-3f9a2c01.key"));
 * assert.ok(KEY_FILE_PATTERN.test("ipc-lesson-bench-4711-6.key"));
 * assert.ok(!KEY_FILE_PATTERN.test("sample.txt"));
 * ```
 */
export const KEY_FILE_PATTERN: RegExp = /^ipc-lesson-(sysv-mq|bench)-.*\.key$/;

/**
 * A queue found, whose holders are the processes among its last sender and receiver that still
 * run (System V queues are held by no descriptor, so /proc has nothing else to say), and those
 * that hold its run key file open (a lesson's server does, from before it creates the queue
 * until after it removes it).
 */
class QueueLeftover extends Leftover {
  readonly #msqid: number;
  readonly #keyFile: Identity | null;
  constructor(info: SysvQueueInfo, keyFile: string | null = null) {
    const identity = `msqid ${info.msqid}, key ${formatKey(info.key)}`;
    super({
      kind: SYSV_QUEUE_KIND,
      path: `msqid ${info.msqid} (key ${formatKey(info.key)})`,
      name: `msqid ${info.msqid}`,
      uid: info.uid,
      identity,
      identityNow: () => {
        const now = sysvQueues().find((other) => other.msqid === info.msqid);
        return now && now.key === info.key ? identity : null;
      },
      remove: () => libc.msgctl(info.msqid, libc.IPC.RMID),
    });
    this.#msqid = info.msqid;
    const file = keyFile === null ? null : lstatOrNull(keyFile);
    this.#keyFile = file === null ? null : identityOf(file);
  }

  override heldBy(table: ProcessTable): number[] {
    const running = sysvQueues().find((info) => info.msqid === this.#msqid)?.running ?? [];
    const holders = this.#keyFile === null ? [] : table.holdersOf(this.#keyFile);
    return [...new Set([...running, ...holders])];
  }
}

/**
 * Finds System V message queues, and the key files of runs:
 * - for `{ prefix, dir }`: this user's **stale** queues (their last sender and receiver have
 *   both exited) whose key is the lessons' own (`lessonKeys` in `_libc/sysv.ts`): a key the
 *   lessons make up (top byte 0x1e), or `ftok` of a run key file `ipc-lesson-….key` still in
 *   `dir`. A stale queue of any other key is a student's own program's, left on purpose
 *   perhaps: it is never removed, only named in a note with the command that removes it.
 *   Never a queue a running process has used, nor another user's. A queue nobody has used
 *   yet is listed only if its key is ftok of a run key file, held by whoever holds that file
 *   (a lesson's server keeps it open while it runs): once nobody does, its run was killed.
 *   And the run key files `ipc-lesson-sysv-mq-….key` in `dir` that start with the prefix.
 * - for `{ name }`: the queue with the key `name` (`0x4c0b1234`), whoever owns it; one that
 *   nobody has used yet is a problem instead (nothing says whether its maker still runs). Or
 *   the run key file at the path `name`, by the rule above (in `TMPDIR`, or /tmp), unless a
 *   queue of its key still exists.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findLeftovers } from "./leftovers.ts";
 * import { SysvQueue, sysvQueueLeftovers } from "./sysv_mq.ts";
 * const key = 0x5e200000 | (Deno.pid & 0xfffff);
 * using queue = SysvQueue.create(key);
 * await queue.send(new Uint8Array(1)); // used by this process, which runs: in use
 * const { found } = findLeftovers([sysvQueueLeftovers], { name: `0x${key.toString(16)}`, cwd: "/" });
 * assert.deepEqual(found.map((object) => object.holders), [[Deno.pid]]);
 * ```
 */
export const sysvQueueLeftovers: LeftoverFinder = new LeftoverFinder(
  [SYSV_QUEUE_KIND, KEY_FILE_KIND],
  (query, report) => {
    let queues: SysvQueueInfo[];
    try {
      queues = sysvQueues();
    } catch {
      report.notes.push("System V message queues: /proc/sysvipc/msg cannot be read here");
      return;
    }
    if ("prefix" in query) {
      const whose = libc.lessonKeys(query.dir, query.prefix);
      for (const info of queues) {
        if (!mine(info.uid)) continue;
        const lessons = whose(info.key);
        if (lessons === null) {
          if (isStale(info)) report.notes.push(notLessonsNote(info));
        } else if (isStale(info)) {
          report.found.push(new QueueLeftover(info, lessons.file));
        } else if (info.lspid === 0 && info.lrpid === 0 && lessons.file !== null) {
          // Never used: whether its run still goes on, the key file's holders say (below).
          report.found.push(new QueueLeftover(info, lessons.file));
        }
      }
      for (const file of namesIn(query.dir, query.prefix)) {
        if (!KEY_FILE_PATTERN.test(file)) continue;
        const path = join(query.dir, file);
        const info = lstatOrNull(path);
        if (!info?.isFile || !mine(info.uid) || !isKeyFileShaped(info)) continue;
        report.found.push(leftoverAt(KEY_FILE_KIND, path, info, () => Deno.removeSync(path)));
      }
      return;
    }
    if (KEY_FILE_PATTERN.test(basename(query.name))) {
      namedKeyFile(resolve(query.cwd, query.name), queues, report);
      return;
    }
    if (!/^0x[0-9a-f]{1,8}$/i.test(basename(query.name))) return;
    const key = parseKey(basename(query.name));
    const info = typeof key === "number" ? queues.find((info) => info.key === key) : undefined;
    if (info === undefined) return;
    if (info.lspid === 0 && info.lrpid === 0 && info.qnum === 0) {
      report.problems.push(
        `the System V message queue msqid ${info.msqid} (key ${formatKey(info.key)}) has never ` +
          "been used (msg_lspid and msg_lrpid are 0), so nothing says whether the program that " +
          `made it still runs: left alone (\`ipcrm -q ${info.msqid}\` removes it, if you know it is unused)`,
      );
      return;
    }
    report.found.push(new QueueLeftover(info));
  },
);

/**
 * A run key file named by its path (`deno task clean /tmp/ipc-lesson-sysv-mq-….key`): found by
 * the same rule as in a listing (a regular file with that name in the temporary folder, where
 * runs make them; its owner and holders are judged like any object's), and refused with one
 * line while a queue of its key exists: that file is all that says the queue is the lessons'.
 */
function namedKeyFile(path: string, queues: SysvQueueInfo[], report: LeftoverReport): void {
  const info = lstatOrNull(path);
  if (!info?.isFile) return; // nothing there, or not a file: the caller says what it is
  const dir = resolve(tempDir());
  if (dirname(path) !== dir) {
    report.problems.push(
      `${path} is named like a run's ftok key file, but runs make theirs in the temporary ` +
        `folder ${dir}: left alone`,
    );
    return;
  }
  if (!isKeyFileShaped(info)) {
    report.problems.push(
      `${path} is named like a run's ftok key file, but holds data or is open to others (a ` +
        `run's is empty, and only its owner's): left alone`,
    );
    return;
  }
  // ftok keeps the inode's low 16 bits and the device's low 8, under any project id.
  const low = libc.ftok(path, 1) & 0xffffff;
  const queue = queues.find((q) => q.key >>> 24 !== 0 && (q.key & 0xffffff) === low);
  if (queue !== undefined) {
    const key = formatKey(queue.key);
    report.problems.push(
      `the ftok key file ${path} is the key of the System V message queue msqid ` +
        `${queue.msqid} (key ${key}), which still exists: left alone, since only the file says ` +
        `the queue is a lesson's (\`deno task clean\` removes both once nobody uses them; ` +
        `\`deno task clean ${key}\` removes the queue)`,
    );
    return;
  }
  report.found.push(leftoverAt(KEY_FILE_KIND, path, info, () => Deno.removeSync(path)));
}

/**
 * Whether a file can be a run's key file: a run makes it empty, mode 0600 (less under a strict
 * umask). A file of that name with data in it, or readable by others, is somebody's own.
 */
function isKeyFileShaped(info: Deno.FileInfo): boolean {
  return info.size === 0 && (info.mode! & 0o077) === 0;
}

/** The note for a stale queue that is not the lessons': what it is, and how to remove it. */
function notLessonsNote(info: SysvQueueInfo): string {
  const pids = [...new Set([info.lspid, info.lrpid])].filter((pid) => pid !== 0).join(" and ");
  const key = formatKey(info.key);
  // IPC_PRIVATE (key 0) names no queue: only its identifier does.
  const commands = info.key === 0
    ? `\`ipcrm -q ${info.msqid}\` removes it`
    : `\`deno task clean ${key}\` or \`ipcrm -q ${info.msqid}\` removes it`;
  return `left alone: the System V message queue msqid ${info.msqid} (key ${key}, ` +
    `${info.qnum} message${info.qnum === 1 ? "" : "s"}) is unused (process ${pids}, the last ` +
    `to use it, has exited), but its key is not one the lessons make: ${commands}`;
}

// ---------------------------------------------------------------------------------------------
// The queue as a channel of pieces (see channel.ts): what the benchmark measures
// ---------------------------------------------------------------------------------------------

/**
 * The System V queue as a named channel, opened as the lesson opens it: the sender makes the
 * file `DIR/word.key` (exclusively, 0600), takes its key with `ftok(path, 'Q')` and creates
 * the queue for it (`IPC_CREAT | IPC_EXCL`, 0600); the receiver waits for the file and the
 * queue. Pieces travel as messages of type 1; a message of type 2 ends the stream, and the
 * sender waits until the queue is empty before it removes it (`IPC_RMID` would take unread
 * messages with it). A piece is a message, so it can be no larger than `msgmax`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { channel } from "./sysv_mq.ts";
 * using stack = new DisposableStack();
 * const dir = Deno.makeTempDirSync();
 * stack.defer(() => Deno.removeSync(dir, { recursive: true }));
 * const options = { piece: 64, capacity: 0, timeout: 5000, stack, dir };
 * const word = `ipc-lesson-example-${Deno.pid}`;
 * const sink = await channel.openSink(word, options);
 * const source = await channel.openSource(word, options);
 * await sink.send(new Uint8Array([1, 2, 3]));
 * const ending = sink.end(); // sends the end, then waits until the queue is empty
 * assert.deepEqual([...await source.receive()], [1, 2, 3]);
 * assert.equal((await source.receive()).length, 0); // the end marker
 * await ending;
 * ```
 */
export const channel: NamedChannel = {
  kind: "named",
  refbench: "svmq",
  maxPiece: () => libc.kernelLimit("msgmax"),
  openSink(word: string, { timeout, stack, dir }: NamedEndOptions) {
    const path = join(dir, `${word}.key`);
    // Held open while the queue lives: deno task clean then sees the run is going on.
    const file = Deno.openSync(path, { createNew: true, write: true, mode: 0o600 });
    stack.defer(() => {
      file.close();
      Deno.removeSync(path);
    });
    const queue = stack.use(SysvQueue.create(libc.ftok(path, CHANNEL_PROJECT_ID), { timeout }));
    return Promise.resolve({
      send: (data: Uint8Array) => queue.send(data, MTYPE.DATA),
      end: async () => {
        await queue.send(new Uint8Array(0), MTYPE.END);
        await queue.waitUntilEmpty();
      },
    });
  },
  async openSource(word: string, { timeout, dir, stack }: NamedEndOptions) {
    const path = join(dir, `${word}.key`);
    const deadline = performance.now() + timeout;
    for (let pause = 1; lstatOrNull(path) === null; pause = Math.min(pause * 2, 50)) {
      if (performance.now() > deadline) {
        throw new Deno.errors.TimedOut(`no sender made ${path} within ${seconds(timeout)}`);
      }
      await sleep(pause);
    }
    const key = libc.ftok(path, CHANNEL_PROJECT_ID);
    const left = Math.max(0, deadline - performance.now());
    const queue = stack.use(await SysvQueue.open(key, { wait: left, timeout }));
    return {
      receive: async () => {
        const piece = await queue.receive(0);
        return queue.lastType === MTYPE.END ? new Uint8Array(0) : piece;
      },
    };
  },
};

/** The project id the channel gives `ftok`: `'Q'`. */
const CHANNEL_PROJECT_ID = 0x51;
