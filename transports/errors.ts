/**
 * The failures of a channel that are not a failed system call (those are `LibcError`s, from
 * `libc.ts`): the peer has gone, an object was left behind by a killed process, a shared
 * segment does not hold what it should. And the one way every wait ends early: the process was
 * interrupted.
 *
 * A transport states the facts; a program that uses it words the advice (which command
 * removes a leftover, which option to change).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ChannelError, Interrupted } from "./errors.ts";
 * const error = new ChannelError("the client exited after 1.00 MiB: transfer incomplete");
 * assert.ok(error instanceof Error);
 * assert.equal(new Interrupted("SIGINT").status, 130);
 * ```
 *
 * @module
 */

/** A channel failed for a reason of its own (not a failed system call): one line says which. */
export class ChannelError extends Error {
  /** A failure described by `message`; `options.cause` keeps what led to it. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ChannelError";
  }
}

/**
 * The signals that ask a process to stop, and the exit status a shell gives a process they
 * end: 128 + the signal's number.
 */
export const STOP_SIGNALS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;

/** One of {@linkcode STOP_SIGNALS}: Ctrl-C, `kill`, a closed terminal. */
export type StopSignal = keyof typeof STOP_SIGNALS;

/**
 * The process was asked to stop (Ctrl-C, SIGTERM, SIGHUP): the reason an `AbortSignal` is
 * aborted with, and what every wait on that signal rejects with. The code that catches it
 * cleans up (`using` does) and exits with {@linkcode Interrupted.status}.
 */
export class Interrupted extends Error {
  /** Which signal. */
  readonly signal: StopSignal;
  /** The exit status it calls for: 128 + the signal's number (130, 143, 129). */
  readonly status: number;

  /** The process got `signal`. */
  constructor(signal: StopSignal) {
    super(`interrupted by ${signal}`);
    this.name = "Interrupted";
    this.signal = signal;
    this.status = STOP_SIGNALS[signal];
  }
}
