/**
 * What the threads lesson's server and client share, as a C program's header serves its
 * threads: the options, what the process hands each thread (the ring or the port, the thread
 * ids), the messages between the process's main thread and the two threads, and the
 * `--throw-after` experiment.
 *
 * @module
 */

import { ChannelError } from "../../transports/errors.ts";
import { formatSeconds } from "../../transports/units.ts";
import { type CommonOptions, parseSize, UsageError } from "../_cli.ts";
import { LessonError, type Role, type Side } from "../_lesson.ts";

/** The two models of the lectures' seed diagrams. */
export type Model = "shared" | "message";

/** The threads lesson's own options. */
export interface ThreadsOptions {
  /** --model: `shared` (a ring in a SharedArrayBuffer) or `message` (postMessage). */
  model: Model;
  /** --copy: the message model clones each chunk instead of transferring it. */
  copy: boolean;
  /** --slots: chunks in flight between the threads (ring slots, or the message window). */
  slots: number;
  /** --throw-after as given (`server:1M`), or "" when not given. */
  throwAfter: string;
  /** --throw-after, parsed: that thread throws an exception nobody catches after `bytes`. */
  crash: { role: Role; bytes: number } | null;
}

/** The default of --slots: 8 chunks of 64 KiB, 512 KiB between the threads. */
export const DEFAULT_SLOTS = 8;
/** At most this many slots. */
export const MAX_SLOTS = 1024;

/** Parses --throw-after ROLE:BYTES. */
export function parseThrowAfter(text: string): { role: Role; bytes: number } {
  const [role, bytes, ...extra] = text.split(":");
  if ((role !== "server" && role !== "client") || bytes === undefined || extra.length > 0) {
    throw new UsageError(
      `--throw-after must be ROLE:BYTES, like server:1M: got ${JSON.stringify(text)}`,
    );
  }
  return { role, bytes: parseSize(bytes, "--throw-after", 0) };
}

/** The kernel thread ids of the process's threads that the lesson starts. */
export interface ThreadIds {
  /** The main thread: its id is the process id. */
  main: number;
  server: number;
  client: number;
}

/** What the process hands a thread: the channel between the two, and who is who. */
export type ThreadLink =
  | { model: "shared"; ring: SharedArrayBuffer; threads: ThreadIds }
  | { model: "message"; port: MessagePort; threads: ThreadIds };

/** Main thread → thread: run your side; or: your peer has failed. */
export type ToThread =
  | {
    kind: "run";
    role: Role;
    common: CommonOptions;
    options: ThreadsOptions;
    chunk: number;
    link: ThreadLink;
  }
  | { kind: "peer-failed"; why: string };

/** Thread → main thread: my kernel thread id, I am ready; or: I have finished, with a status. */
export type FromThread = { kind: "ready"; tid: number } | { kind: "done"; status: number };

/** What a thread was given, and a signal aborted when its peer has failed. */
export interface ThreadContext {
  link: ThreadLink;
  peerGone: AbortSignal;
}

let given: ThreadContext | null = null;

/** The thread's entry (`thread.ts`) hands over what the process gave it. */
export function setThreadContext(context: ThreadContext): void {
  given = context;
}

/** What this thread was given; a side run any other way is refused with one line. */
export function threadContext(role: Role): ThreadContext {
  if (given === null) {
    throw new LessonError(
      `the ${role} of the threads lesson runs only as a thread of the lesson's process: ` +
        "deno task lesson:threads starts both",
    );
  }
  return given;
}

/** The message of a peer's failure, as the thread that waited for it sees it. */
export function peerFailure(why: string): ChannelError {
  return new ChannelError(why);
}

/**
 * `--throw-after`: once this side has moved the bytes asked for (`server:0`: before the first
 * chunk; the input's size: after the last chunk, before the end marker), the thread throws an
 * exception that nothing in it catches, as a bug would. `reportError` does what an uncaught
 * exception does: the thread ends on the spot, its `using` declarations never run, and the main
 * thread gets an `error` event. The process, and the other thread, live on.
 *
 * Deno prints every uncaught exception of a Worker, whatever its parent does with the event: the
 * thread says so first, and the exception carries no stack (`Error.stackTraceLimit = 0`), so
 * that the print is one line, `error: Uncaught (in worker "server") Error: --throw-after: …`.
 */
export function throwIfAsked(side: Side<ThreadsOptions>): void {
  const crash = side.options.crash;
  if (crash === null || crash.role !== side.role || side.bytes < crash.bytes) return;
  side.log.say(
    `--throw-after: throwing an exception nobody catches, after ${side.bytes} bytes; Deno ` +
      `prints it (error: Uncaught (in worker "${side.role}") …), the thread ends, and the main ` +
      "thread gets its error event",
  );
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const error = new Error(
    `--throw-after: the ${side.role} thread throws after ${side.bytes} bytes`,
  );
  Error.stackTraceLimit = limit;
  reportError(error);
}

/**
 * Calls `fail` with the reason once the main thread says that the peer has failed: at once if it
 * already has (a listener added after the abort would never run).
 */
export function onPeerGone(peerGone: AbortSignal, fail: (reason: Error) => void): void {
  if (peerGone.aborted) return fail(peerGone.reason);
  peerGone.addEventListener("abort", () => fail(peerGone.reason), { once: true });
}

/**
 * What an end of the ring did when it found its counter at 0 (`full`: no free slot; `empty`:
 * no filled one): it spun, giving the CPU away between tries (`sched_yield`), or it slept
 * (`Atomics.wait`: FUTEX_WAIT's semantics, so no sleep if the counter changed first; the sleep
 * is a futex wait on V8's condition variable, not on the counter). Every other hand-off made
 * no system call at all.
 */
export function describeWaits(end: { spins: number; sleeps: number }, ring: "full" | "empty") {
  const times = (n: number) => `${n} time${n === 1 ? "" : "s"}`;
  if (end.spins + end.sleeps === 0) {
    return `never found the ring ${ring}: no hand-off made a system call`;
  }
  return `found the ring ${ring} ${times(end.spins + end.sleeps)}: ${end.spins} ended while ` +
    `spinning (sched_yield between tries), ${end.sleeps} in a sleep (Atomics.wait, a futex ` +
    "wait); every other hand-off made no system call";
}

/** The words for a wait that timed out, as each side sees its peer. */
export function timeoutMessage(role: Role) {
  return (_waitingFor: "room" | "data", ms: number): string =>
    role === "server"
      ? `the client thread took no chunk for ${formatSeconds(ms / 1000)} s (--timeout)`
      : `the server thread sent nothing for ${formatSeconds(ms / 1000)} s (--timeout)`;
}
