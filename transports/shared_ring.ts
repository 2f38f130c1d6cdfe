/**
 * A bounded buffer between two threads of one process: a ring of slots in a
 * `SharedArrayBuffer`, and two counters that make the producer and the consumer take turns,
 * with `Atomics.wait` and `Atomics.notify`. The threads lesson (`--model shared`) uses it.
 *
 * It is the shared-memory lesson's ring (`ring_buffer.ts`) without the kernel objects: the
 * memory needs no name and no `mmap`, because threads share their address space already; the
 * two semaphores become two 32-bit counters in that memory. A POSIX semaphore is built much the
 * same way: a counter that is changed with atomic instructions, and a *futex* (fast user-space
 * mutex) to sleep on when it is 0. `Atomics.wait` and `Atomics.notify` have the semantics of
 * futex(2)'s FUTEX_WAIT and FUTEX_WAKE, but V8 does not build them on a futex on the counter:
 * it keeps the waiters in a list under a lock of its own, and each waiter sleeps on a condition
 * variable of its own. So the `futex(…, FUTEX_WAIT_PRIVATE, …)` that strace shows is on that
 * condition variable's word, not on the counter. `Atomics.notify` costs no system call when
 * nobody sleeps, so while the ring has room and data, the copy makes no system call at all.
 *
 * The buffer (every field a 32-bit integer, `Int32Array` index in brackets):
 *
 *     byte offset       field
 *     0    [0]          free        free slots: starts at N
 *     4    [1]          filled      filled slots: starts at 0
 *     8    [2]          stop        0 while the copy runs; a StopCode once it must stop
 *     12   [3]          slots       N
 *     16   [4]          slot_size   S, in bytes
 *     20   [5]          why_length  bytes of the reason for stopping, below
 *     32                why         the reason, UTF-8, up to 480 bytes
 *     512               length[N]   how many bytes slot i holds; -1 marks the end of the data
 *     512 + 4N, to 64   slot i      S bytes each
 *
 * The classic algorithm, with w and r private to each thread:
 *
 *     producer: take(free);   fill slot w, length[w] = n;   give(filled);   w = (w + 1) mod N
 *     consumer: take(filled); use slot r (length[r] bytes); give(free);     r = (r + 1) mod N
 *
 * `take` decrements a counter that is above 0 (`Atomics.compareExchange`), and sleeps while it
 * is 0 (`Atomics.wait(counter, 0)`: as with FUTEX_WAIT, the look at the counter and the sleep
 * are atomic with respect to `Atomics.notify`, which V8 makes under the same lock, so no
 * wake-up can be lost between the look and the sleep); `give` is `Atomics.add`, then
 * `Atomics.notify`. Atomic operations are sequentially consistent: what the producer stored in
 * a slot before its `give` is visible to the consumer after its `take`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SharedRing } from "./shared_ring.ts";
 * const ring = SharedRing.create(4, 16); // in a real program, each end in its own thread
 * const producer = ring.producer({ timeout: 1000 });
 * const consumer = new SharedRing(ring.buffer).consumer({ timeout: 1000 });
 * await producer.send(new TextEncoder().encode("hello"));
 * await producer.end();
 * assert.equal(new TextDecoder().decode(await consumer.receive()), "hello");
 * assert.equal((await consumer.receive()).length, 0); // the end
 * ```
 *
 * @module
 */

import type { Sink, Source } from "./channel.ts";
import { ChannelError, Interrupted, STOP_SIGNALS, type StopSignal } from "./errors.ts";
import { sched_yield } from "./libc.ts";
import { PARK_SLICE_MS, seconds, SPIN_US, takeTurn, turnIsDue } from "./wait.ts";

/** The header's fields, as indexes of an `Int32Array` over the buffer. */
const FREE = 0;
const FILLED = 1;
const STOP = 2;
const SLOTS = 3;
const SLOT_SIZE = 4;
const WHY_LENGTH = 5;
/** Where the reason for stopping is, and how long it may be. */
const WHY_OFFSET = 32;
const WHY_MAX = 480;
/** Where the slot lengths start. */
const LENGTHS_OFFSET = 512;
/** A slot length that marks the end of the data. */
const END = -1;

/** Why a ring stops: a thread failed, or the process got a stop signal (Ctrl-C …). */
export type StopReason = "failed" | StopSignal;
const STOP_CODES: StopReason[] = ["failed", ...Object.keys(STOP_SIGNALS) as StopSignal[]];

/** The buffer's layout for `slots` slots of `slotSize` bytes. */
export function sharedRingLayout(slots: number, slotSize: number) {
  const dataOffset = Math.ceil((LENGTHS_OFFSET + 4 * slots) / 64) * 64;
  return { dataOffset, size: dataOffset + slots * slotSize };
}

/** How an end of the ring waits. */
export interface RingWaitOptions {
  /** How long one wait (for room, for data) may take, in ms. */
  timeout: number;
  /** Aborted: the wait in progress rejects with its reason. */
  signal?: AbortSignal;
  /**
   * Called when this thread goes to sleep on a counter and when it wakes up (for `--trace`),
   * with a sentence that says which and why.
   */
  onSleep?: (text: string) => void;
  /** What a wait that timed out says: "the client took no chunk for 10 s". */
  timeoutMessage?: (waitingFor: "room" | "data", ms: number) => string;
}

/**
 * The ring over a `SharedArrayBuffer`: {@linkcode SharedRing.create} makes one, and
 * `new SharedRing(buffer)` attaches to it in another thread (after a `postMessage` of the
 * buffer, which shares it: nothing is copied).
 */
export class SharedRing {
  /** The memory both threads see. */
  readonly buffer: SharedArrayBuffer;
  /** How many slots. */
  readonly slots: number;
  /** Bytes per slot. */
  readonly slotSize: number;
  readonly #header: Int32Array;
  readonly #lengths: Int32Array;
  readonly #data: Uint8Array;

  /** A new ring of `slots` slots of `slotSize` bytes, all free. */
  static create(slots: number, slotSize: number): SharedRing {
    if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`slots must be ≥ 1: ${slots}`);
    if (!Number.isInteger(slotSize) || slotSize < 1) {
      throw new RangeError(`slotSize must be ≥ 1: ${slotSize}`);
    }
    const buffer = new SharedArrayBuffer(sharedRingLayout(slots, slotSize).size);
    const header = new Int32Array(buffer, 0, LENGTHS_OFFSET / 4);
    header[SLOTS] = slots;
    header[SLOT_SIZE] = slotSize;
    header[FREE] = slots;
    return new SharedRing(buffer);
  }

  /** The ring in `buffer`, made by {@linkcode SharedRing.create} (in this thread or another). */
  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.#header = new Int32Array(buffer, 0, LENGTHS_OFFSET / 4);
    this.slots = this.#header[SLOTS]!;
    this.slotSize = this.#header[SLOT_SIZE]!;
    this.#lengths = new Int32Array(buffer, LENGTHS_OFFSET, this.slots);
    const { dataOffset } = sharedRingLayout(this.slots, this.slotSize);
    this.#data = new Uint8Array(buffer, dataOffset, this.slots * this.slotSize);
  }

  /** The counters now: `{ free, filled }` (for narration and tests). */
  counters(): { free: number; filled: number } {
    return { free: Atomics.load(this.#header, FREE), filled: Atomics.load(this.#header, FILLED) };
  }

  /**
   * Tells both ends to stop, and wakes whichever sleeps: its wait then throws (an
   * {@linkcode Interrupted} for a signal, a {@linkcode ChannelError} saying `why` for a failed
   * thread). Only the first reason counts.
   */
  stop(reason: StopReason, why: string): void {
    const code = STOP_CODES.indexOf(reason) + 1;
    if (Atomics.compareExchange(this.#header, STOP, 0, -code) !== 0) return;
    // Claimed (-code): write the reason, then publish the code.
    const bytes = new TextEncoder().encode(why).subarray(0, WHY_MAX);
    new Uint8Array(this.buffer, WHY_OFFSET, WHY_MAX).set(bytes);
    Atomics.store(this.#header, WHY_LENGTH, bytes.length);
    Atomics.store(this.#header, STOP, code);
    Atomics.notify(this.#header, FREE);
    Atomics.notify(this.#header, FILLED);
  }

  /** Throws if the ring was told to stop. */
  checkStop(): void {
    const code = Atomics.load(this.#header, STOP);
    if (code <= 0) return;
    const reason = STOP_CODES[code - 1]!;
    if (reason !== "failed") throw new Interrupted(reason);
    const length = Atomics.load(this.#header, WHY_LENGTH);
    // Copied out first: TextDecoder does not read shared memory.
    const why = new Uint8Array(this.buffer, WHY_OFFSET, length).slice();
    throw new ChannelError(new TextDecoder().decode(why));
  }

  /** The sending end (one thread only). */
  producer(options: RingWaitOptions): RingProducer {
    return new RingProducer(this, options);
  }

  /** The receiving end (one thread only). */
  consumer(options: RingWaitOptions): RingConsumer {
    return new RingConsumer(this, options);
  }

  /** Slot `i`'s bytes, all `slotSize` of them. */
  slot(i: number): Uint8Array {
    return this.#data.subarray(i * this.slotSize, (i + 1) * this.slotSize);
  }

  /** Slot `i`'s length field. */
  length(i: number): number {
    return this.#lengths[i]!;
  }

  setLength(i: number, n: number): void {
    this.#lengths[i] = n;
  }

  /** Adds one to a counter and wakes one thread that sleeps on it. */
  give(counter: "free" | "filled"): void {
    const index = counter === "free" ? FREE : FILLED;
    Atomics.add(this.#header, index, 1);
    Atomics.notify(this.#header, index, 1);
  }

  /** Takes one from a counter that is above 0, at once; false if it is 0. */
  tryTake(counter: "free" | "filled"): boolean {
    const index = counter === "free" ? FREE : FILLED;
    for (;;) {
      const value = Atomics.load(this.#header, index);
      if (value <= 0) return false;
      if (Atomics.compareExchange(this.#header, index, value, value - 1) === value) return true;
    }
  }

  /**
   * Sleeps while `counter` is 0, at most `ms`: `Atomics.wait` (a futex wait, on V8's condition
   * variable rather than on the counter). Returns how it ended: "ok" (woken by a notify),
   * "not-equal" (it was not 0 any more), "timed-out".
   */
  sleepOn(counter: "free" | "filled", ms: number): "ok" | "not-equal" | "timed-out" {
    return Atomics.wait(this.#header, counter === "free" ? FREE : FILLED, 0, ms);
  }
}

/** What both ends share: waiting for a counter, spin first, then sleep. */
class RingEnd {
  /**
   * How many times this end found its counter at 0 and spun, trying again with `sched_yield`
   * between tries, until the peer moved (a system call per try, no sleep).
   */
  spins = 0;
  /** How many times this end went to sleep on a counter (at most a futex wait each). */
  sleeps = 0;
  protected readonly ring: SharedRing;
  protected readonly options: RingWaitOptions;
  protected index = 0;

  constructor(ring: SharedRing, options: RingWaitOptions) {
    this.ring = ring;
    this.options = options;
  }

  /**
   * Takes one from `counter`: at once if it is above 0; else looks again for SPIN_US without
   * sleeping (the peer is usually microseconds away), giving the CPU away between tries
   * (`sched_yield`): on a busy machine the peer may be waiting for this very CPU, and a spin
   * that never yields makes it wait until the spin is over (measured: 64-byte round trips of
   * ~50 µs instead of ~4); else sleeps on it with `Atomics.wait`, in slices, so that a stop, an
   * abort or the timeout is seen, and the event loop gets its turn.
   */
  protected async take(counter: "free" | "filled"): Promise<void> {
    const { ring } = this;
    ring.checkStop();
    if (ring.tryTake(counter)) {
      if (turnIsDue()) await this.#turn();
      return;
    }
    this.spins++;
    const spinUntil = performance.now() + SPIN_US / 1000;
    do {
      sched_yield();
      if (ring.tryTake(counter)) return;
    } while (performance.now() < spinUntil);
    this.spins--; // it slept after all: counted as a sleep

    const { timeout, onSleep } = this.options;
    const waitingFor = counter === "free" ? "room" : "data";
    const asleepAt = performance.now();
    const deadline = asleepAt + timeout;
    this.sleeps++;
    onSleep?.(
      counter === "free"
        ? "the ring is full (free = 0): sleeping in Atomics.wait on the free counter (a futex wait)"
        : "the ring is empty (filled = 0): sleeping in Atomics.wait on the filled counter (a futex wait)",
    );
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Deno.errors.TimedOut(
          this.options.timeoutMessage?.(waitingFor, timeout) ??
            `no ${waitingFor} in the ring within ${seconds(timeout)}`,
        );
      }
      const how = ring.sleepOn(counter, Math.min(left, PARK_SLICE_MS));
      ring.checkStop();
      if (ring.tryTake(counter)) {
        onSleep?.(
          `woke up (${how === "ok" ? "notified" : how}) after ${
            (performance.now() - asleepAt).toFixed(3)
          } ms: the peer ${counter === "free" ? "freed a slot" : "filled a slot"}`,
        );
        return;
      }
      await this.#turn();
    }
  }

  /** Gives the event loop a turn (signal listeners run), then looks for a stop or an abort. */
  async #turn(): Promise<void> {
    await takeTurn();
    this.options.signal?.throwIfAborted();
    this.ring.checkStop();
  }
}

/** The producer's end: fills slots in order. */
export class RingProducer extends RingEnd implements Sink {
  /**
   * Waits for a free slot and returns it (all `slotSize` bytes) to be filled in place, with no
   * copy: read a file straight into it, then {@linkcode RingProducer.publish} or
   * {@linkcode RingProducer.publishEnd}.
   */
  async acquire(): Promise<Uint8Array> {
    await this.take("free");
    return this.ring.slot(this.index);
  }

  /** Publishes the acquired slot with `n` bytes in it. */
  publish(n: number): void {
    this.ring.setLength(this.index, n);
    this.ring.give("filled");
    this.index = (this.index + 1) % this.ring.slots;
  }

  /** Publishes the acquired slot as the end of the data. */
  publishEnd(): void {
    this.publish(END);
  }

  /** Sends a copy of `data` (at most `slotSize` bytes). */
  async send(data: Uint8Array): Promise<void> {
    if (data.length > this.ring.slotSize) {
      throw new RangeError(`${data.length} bytes do not fit a slot of ${this.ring.slotSize}`);
    }
    const slot = await this.acquire();
    slot.set(data);
    this.publish(data.length);
  }

  /** Sends the end marker. */
  async end(): Promise<void> {
    await this.acquire();
    this.publishEnd();
  }
}

/** The consumer's end: takes slots in order. */
export class RingConsumer extends RingEnd implements Source {
  #holding = false;

  /**
   * The next slot's bytes, in place (valid until the next call, which frees the slot), or an
   * empty array at the end of the data.
   */
  async receive(): Promise<Uint8Array> {
    this.release();
    await this.take("filled");
    this.#holding = true;
    const n = this.ring.length(this.index);
    return n === END ? new Uint8Array(0) : this.ring.slot(this.index).subarray(0, n);
  }

  /** Frees the slot the last `receive` returned. */
  release(): void {
    if (!this.#holding) return;
    this.#holding = false;
    this.ring.give("free");
    this.index = (this.index + 1) % this.ring.slots;
  }
}
