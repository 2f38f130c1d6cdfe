/**
 * Waiting without freezing the event loop: the pattern every transport uses.
 *
 * 1. Try the operation synchronously on a non-blocking descriptor. Most of the time it just
 *    works, at the cost of one fast FFI call.
 * 2. If it would block, *park*: wait on a worker thread in a short, timed call (`poll`,
 *    `mq_timedreceive`, `sem_clockwait`). Meanwhile the event loop runs, so Ctrl-C handlers
 *    and timers still work. A pending worker call cannot be cancelled, so parks are short
 *    (at most {@linkcode PARK_SLICE_MS}) and repeated.
 * 3. Try again synchronously, where errno can be read, until it works or the deadline passes.
 *
 * Every wait also takes an `AbortSignal`: once it is aborted, the wait rejects with the
 * signal's reason at its next turn. {@linkcode abortOnStopSignals} aborts one on Ctrl-C,
 * SIGTERM and SIGHUP, the C idiom: the handler only sets a flag, the main code cleans up.
 *
 * @module
 */

import { Interrupted, STOP_SIGNALS, type StopSignal } from "./errors.ts";
import { WOULD_BLOCK, yieldToEventLoop } from "./libc.ts";

/** The longest single park. Short, so that a process that wants to exit never waits long. */
export const PARK_SLICE_MS = 100;

/**
 * How often a busy transfer that never has to park still gives the event loop a turn, so that
 * signal listeners (Ctrl-C) and timers run.
 */
const TURN_EVERY_MS = 20;
let lastTurn = performance.now();

/** Whether the event loop is due for a turn: none was given for {@linkcode TURN_EVERY_MS}. */
export function turnIsDue(): boolean {
  return performance.now() - lastTurn >= TURN_EVERY_MS;
}

/** Gives the event loop one turn: timers and signal listeners run. */
export async function takeTurn(): Promise<void> {
  lastTurn = performance.now();
  await yieldToEventLoop();
}

/**
 * Resolves after `ms` milliseconds; rejects with `signal.reason` as soon as `signal` is aborted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep } from "./wait.ts";
 * const controller = new AbortController();
 * const nap = sleep(60_000, controller.signal);
 * controller.abort(new Error("stop"));
 * await assert.rejects(nap, /stop/);
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const abort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", abort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", abort, { once: true });
  });
}

/**
 * Makes Ctrl-C, SIGTERM and SIGHUP abort `controller` with an {@linkcode Interrupted}: the one
 * signal listener of a process. Every wait given `controller.signal` then rejects with it, and
 * the `using` declarations on the way out clean up. Returns `controller`.
 *
 * @example
 * ```ts ignore
 * import { createPipe } from "./pipe.ts";
 * import { abortOnStopSignals } from "./wait.ts";
 * const { signal } = abortOnStopSignals(new AbortController());
 * using pipe = createPipe({ signal });
 * await pipe.readEnd.read(new Uint8Array(16)); // on Ctrl-C: rejects with Interrupted("SIGINT")
 * ```
 */
export function abortOnStopSignals(controller: AbortController): AbortController {
  for (const name of Object.keys(STOP_SIGNALS) as StopSignal[]) {
    Deno.addSignalListener(name, () => controller.abort(new Interrupted(name)));
  }
  return controller;
}

/**
 * How long a wait first looks for the peer's move without sleeping, in microseconds: it polls,
 * giving the CPU away between tries (`sched_yield`). While data streams, the peer fills or
 * empties the channel within microseconds, and a sleep costs a wake-up that, on a virtual
 * machine whose idle CPU halts, takes tens of microseconds. Measured on 2 vCPUs, a 10–50 µs
 * poll made streaming through a queue or a shared-memory ring 1.3–1.5 times as fast.
 */
export const SPIN_US = 20;

/**
 * How long a wait then sleeps on the main thread before it parks on a worker thread, in ms. A
 * sleep here wakes up sooner than a park (no thread hand-off) but stops the event loop, so it
 * is bounded. Not much shorter: a sleep of 1 ms made every round trip 10–15 µs slower here,
 * the cost of arming a timer that fires that soon on this virtual machine.
 */
export const SPIN_MS = 10;

/** Options for {@linkcode untilReady}. */
export interface UntilReadyOptions {
  /** Give up after this many milliseconds without success (Infinity: never). */
  timeoutMs: number;
  /** The message of the `Deno.errors.TimedOut` thrown when time runs out. */
  timeoutMessage: () => string;
  /** Give up, with its reason, once this is aborted. */
  signal?: AbortSignal;
}

/** How to wait for an operation that would block. */
export interface Waits<T> {
  /**
   * Waits on this thread for at most `ms` (a short time). May complete the operation itself
   * (a timed receive does) and return its result, or return WOULD_BLOCK to ask for another
   * attempt.
   */
  wait(ms: number): T | typeof WOULD_BLOCK;
  /** Waits on a worker thread for at most `ms`, while the event loop runs; same results. */
  park(ms: number): Promise<T | typeof WOULD_BLOCK>;
}

/**
 * Runs `attempt` until it returns something other than WOULD_BLOCK: first a short wait on
 * this thread, then parks on a worker thread, retrying synchronously after each wait (where
 * errno can be read), until `options.timeoutMs` have passed.
 */
export function untilReady<T>(
  attempt: () => T | typeof WOULD_BLOCK,
  waits: Waits<T>,
  options: UntilReadyOptions,
): Promise<T> {
  const outcome = attempt();
  return outcome === WOULD_BLOCK
    ? waitThenRetry(attempt, waits, options)
    : ready(outcome, options.signal);
}

/**
 * A result that is there at once, as a promise, without the cost of an async function: the
 * fast path of every transport. The event loop gets its turn when one is due; if `signal` was
 * aborted meanwhile (a signal listener ran), it rejects with the signal's reason.
 */
export function ready<T>(value: T, signal?: AbortSignal): Promise<T> {
  if (!turnIsDue()) return Promise.resolve(value);
  return takeTurn().then(() => {
    signal?.throwIfAborted();
    return value;
  });
}

/**
 * What a send resolves to once its bytes have gone: the event loop gets its turn when one is
 * due, but an abort raised meanwhile is not thrown here. The bytes are in the channel, and the
 * caller counts them; the next send looks at the signal before it sends anything. (A receive
 * uses {@linkcode ready}: what it took is lost with the interrupted run anyway.)
 */
export function sent(): Promise<void> {
  return turnIsDue() ? takeTurn() : DONE;
}

const DONE: Promise<void> = Promise.resolve();

async function waitThenRetry<T>(
  attempt: () => T | typeof WOULD_BLOCK,
  waits: Waits<T>,
  options: UntilReadyOptions,
): Promise<T> {
  // Before anything can happen: an operation that then succeeds has happened, and stands.
  options.signal?.throwIfAborted();
  let outcome = waits.wait(Math.min(SPIN_MS, options.timeoutMs));
  if (outcome === WOULD_BLOCK) outcome = attempt();
  if (outcome !== WOULD_BLOCK) {
    const result = outcome;
    return turnIsDue() ? takeTurn().then(() => result) : result;
  }
  const deadline = performance.now() + options.timeoutMs;
  for (;;) {
    options.signal?.throwIfAborted();
    const left = deadline - performance.now();
    if (left <= 0) throw new Deno.errors.TimedOut(options.timeoutMessage());
    outcome = await waits.park(Math.min(left, PARK_SLICE_MS));
    lastTurn = performance.now();
    if (outcome === WOULD_BLOCK) outcome = attempt();
    if (outcome !== WOULD_BLOCK) return outcome;
  }
}

const plainDecimal = new Intl.NumberFormat("en-US", {
  maximumSignificantDigits: 6,
  useGrouping: false,
});

/** Formats a duration in seconds for messages: `10 s`, `0.5 s`, `0.0000001 s` (never `1e-7`). */
export function seconds(ms: number): string {
  return `${plainDecimal.format(ms / 1000)} s`;
}
