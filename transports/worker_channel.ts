/**
 * Message passing between two threads: `postMessage` over a `MessagePort`, with a window that
 * bounds how many chunks are in flight. The threads lesson (`--model message`) uses it.
 *
 * Two ways to send a chunk, as the lectures contrast them:
 * - **transfer** (the default): the chunk's `ArrayBuffer` is in the transfer list, so its
 *   ownership moves to the receiving thread and nothing is copied; the sender's buffer is
 *   *detached* (length 0) afterwards. The receiver hands it back with its acknowledgement, so a
 *   pool of `window` buffers goes round and round: no allocation, no copy.
 * - **copy** (`copy: true`): the message is cloned (structured clone): the bytes are copied
 *   into the receiver's heap, and the sender keeps, and reuses, its buffer.
 *
 * The protocol, on one port each way:
 *
 *     sender → receiver   { kind: "chunk", bytes: ArrayBuffer, length: n, back: true if transferred }
 *                         { kind: "end", total: bytes sent in all }
 *     receiver → sender   { kind: "ack", bytes?: the buffer, when back }   one per chunk, once used
 *
 * Back-pressure: the sender waits once `window` chunks are unacknowledged, so a slow receiver
 * holds the sender back instead of letting messages (and memory) pile up in its queue.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PortSink, PortSource } from "./worker_channel.ts";
 * const { port1, port2 } = new MessageChannel(); // in a real program, port2 goes to a Worker
 * const sink = new PortSink(port1, { chunk: 8, window: 2, copy: false, timeout: 1000 });
 * const source = new PortSource(port2, { timeout: 1000 });
 * const buffer = await sink.acquire();
 * buffer.set([1, 2, 3]);
 * sink.publish(buffer, 3);
 * assert.equal(buffer.byteLength, 0); // transferred: detached here
 * assert.deepEqual([...await source.receive()], [1, 2, 3]);
 * // end() waits for every acknowledgement; the next receive() sends the last one.
 * const [, last] = await Promise.all([sink.end(), source.receive()]);
 * assert.equal(last.length, 0); // the end
 * sink.close();
 * source.close();
 * ```
 *
 * @module
 */

import type { Sink, Source } from "./channel.ts";
import { ChannelError } from "./errors.ts";
import { seconds } from "./wait.ts";

/** A message from the sender. */
type Down =
  | { kind: "chunk"; bytes: ArrayBuffer; length: number; back: boolean }
  | { kind: "end"; total: number };
/** A message from the receiver. */
type Up = { kind: "ack"; bytes?: ArrayBuffer };

/** How an end waits. */
export interface PortWaitOptions {
  /** How long one wait may take, in ms. */
  timeout: number;
  /** Aborted: the wait in progress rejects with its reason. */
  signal?: AbortSignal;
  /** What a wait that timed out says. */
  timeoutMessage?: (waitingFor: "room" | "data", ms: number) => string;
  /**
   * Called when this thread has to wait for a message and when one comes (for `--trace`), with a
   * sentence that says which and why.
   */
  onSleep?: (text: string) => void;
}

/** The sender's options. */
export interface PortSinkOptions extends PortWaitOptions {
  /** Bytes per chunk. */
  chunk: number;
  /** How many chunks may be unacknowledged at once. */
  window: number;
  /** Clone each chunk instead of transferring it. */
  copy: boolean;
}

/**
 * The messages that came in on a port, and a way to wait for the next one: with a timeout, an
 * abort signal, and {@linkcode Inbox.fail} for a peer that has gone.
 */
class Inbox<T> {
  #queue: T[] = [];
  #waiter: ((message: T | null) => void) | null = null;
  #failure: Error | null = null;

  constructor(port: MessagePort) {
    port.onmessage = (event: MessageEvent<T>) => {
      this.#queue.push(event.data);
      this.#wake();
    };
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.(null);
  }

  /** From now on, every wait rejects with `error` (the peer has gone). */
  fail(error: Error): void {
    this.#failure ??= error;
    this.#wake();
  }

  /** The next message, in order of arrival. */
  async next(options: PortWaitOptions, waitingFor: "room" | "data"): Promise<T> {
    const asleepAt = performance.now();
    const deadline = asleepAt + options.timeout;
    let slept = false;
    for (;;) {
      if (this.#failure) throw this.#failure;
      options.signal?.throwIfAborted();
      if (this.#queue.length > 0) {
        if (slept) {
          options.onSleep?.(
            `woke up after ${(performance.now() - asleepAt).toFixed(3)} ms: ${
              waitingFor === "room" ? "an acknowledgement came" : "a message came"
            }`,
          );
        }
        return this.#queue.shift()!;
      }
      if (!slept) {
        slept = true;
        options.onSleep?.(
          waitingFor === "room"
            ? "the window is full: waiting for an acknowledgement (the thread's event loop sleeps until one comes)"
            : "no message yet: waiting for one (the thread's event loop sleeps until one comes)",
        );
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Deno.errors.TimedOut(
          options.timeoutMessage?.(waitingFor, options.timeout) ??
            `no ${waitingFor === "data" ? "message" : "acknowledgement"} within ${
              seconds(options.timeout)
            }`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => done(), left);
        const abort = () => done();
        const done = () => {
          clearTimeout(timer);
          options.signal?.removeEventListener("abort", abort);
          this.#waiter = null;
          resolve();
        };
        options.signal?.addEventListener("abort", abort, { once: true });
        this.#waiter = done;
      });
    }
  }
}

/** The sending end of a port: chunks out, acknowledgements (and buffers) back. */
export class PortSink implements Sink {
  readonly #port: MessagePort;
  readonly #options: PortSinkOptions;
  readonly #acks: Inbox<Up>;
  /** Buffers ready to be filled: `window` of them (transfer), or the one reused (copy). */
  readonly #pool: Uint8Array<ArrayBuffer>[] = [];
  #inFlight = 0;
  #total = 0;

  /** The sender on `port`. */
  constructor(port: MessagePort, options: PortSinkOptions) {
    this.#port = port;
    this.#options = options;
    this.#acks = new Inbox<Up>(port);
    const buffers = options.copy ? 1 : options.window;
    for (let i = 0; i < buffers; i++) this.#pool.push(new Uint8Array(options.chunk));
  }

  /** Chunks sent and not acknowledged yet. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** From now on, every wait rejects with `error` (the receiving thread has gone). */
  fail(error: Error): void {
    this.#acks.fail(error);
  }

  /** Takes in one acknowledgement (waiting for it), with its buffer when it brings one back. */
  async #takeAck(): Promise<void> {
    const ack = await this.#acks.next(this.#options, "room");
    this.#inFlight--;
    if (ack.bytes) this.#pool.push(new Uint8Array(ack.bytes));
  }

  /**
   * A buffer of `chunk` bytes to fill, once the window has room: with transfer, one the
   * receiver has handed back; with copy, the one buffer, reused.
   */
  async acquire(): Promise<Uint8Array<ArrayBuffer>> {
    while (this.#inFlight >= this.#options.window || this.#pool.length === 0) {
      await this.#takeAck();
    }
    return this.#options.copy ? this.#pool[0]! : this.#pool.pop()!;
  }

  /** Posts the first `n` bytes of `buffer` (from {@linkcode PortSink.acquire}). */
  publish(buffer: Uint8Array<ArrayBuffer>, n: number): void {
    const { copy } = this.#options;
    const message: Down = { kind: "chunk", bytes: buffer.buffer, length: n, back: !copy };
    this.#port.postMessage(message, copy ? [] : [buffer.buffer]);
    this.#inFlight++;
    this.#total += n;
  }

  /** Sends a copy of `data` (at most `chunk` bytes). */
  async send(data: Uint8Array): Promise<void> {
    const buffer = await this.acquire();
    buffer.set(data);
    this.publish(buffer, data.length);
  }

  /** Sends the end, and waits until every chunk has been acknowledged. */
  async end(): Promise<void> {
    const message: Down = { kind: "end", total: this.#total };
    this.#port.postMessage(message);
    while (this.#inFlight > 0) await this.#takeAck();
  }

  /** Closes the port. */
  close(): void {
    this.#port.close();
  }
}

/** The receiving end of a port. */
export class PortSource implements Source {
  readonly #port: MessagePort;
  readonly #options: PortWaitOptions;
  readonly #chunks: Inbox<Down>;
  /** The chunk the last `receive` returned, acknowledged at the next. */
  #holding: Uint8Array<ArrayBuffer> | null = null;
  #handBack = false;
  #received = 0;

  /** The receiver on `port`. */
  constructor(port: MessagePort, options: PortWaitOptions) {
    this.#port = port;
    this.#options = options;
    this.#chunks = new Inbox<Down>(port);
  }

  /** From now on, every wait rejects with `error` (the sending thread has gone). */
  fail(error: Error): void {
    this.#chunks.fail(error);
  }

  /**
   * The next chunk (valid until the next call, which acknowledges it and hands its buffer back
   * to a transferring sender), or an empty array at the end.
   */
  async receive(): Promise<Uint8Array> {
    this.#acknowledge();
    const message = await this.#chunks.next(this.#options, "data");
    if (message.kind === "end") {
      if (message.total !== this.#received) {
        throw new ChannelError(
          `the sender says it sent ${message.total} bytes, but ${this.#received} arrived`,
        );
      }
      return new Uint8Array(0);
    }
    this.#received += message.length;
    this.#holding = new Uint8Array(message.bytes);
    this.#handBack = message.back;
    return this.#holding.subarray(0, message.length);
  }

  #acknowledge(): void {
    if (this.#holding === null) return;
    const bytes = this.#holding.buffer;
    this.#holding = null;
    // Hands a transferred buffer back (transferred again: no copy). A cloned chunk is this
    // thread's own copy: the sender kept its buffer, and the clone is garbage now.
    // Detached by a transfer to nowhere: V8 frees the clone's memory now, not whenever the
    // garbage collector next runs (which lets a fast copy pile up hundreds of MiB).
    if (!this.#handBack) bytes.transfer(0);
    const ack: Up = this.#handBack ? { kind: "ack", bytes } : { kind: "ack" };
    this.#port.postMessage(ack, this.#handBack ? [bytes] : []);
  }

  /** Closes the port. */
  close(): void {
    this.#port.close();
  }
}
