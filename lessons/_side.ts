/**
 * Running one side of a lesson: narration, statistics, and cleanup on every way out.
 *
 * A side ends in one of three ways, and each one removes what the side created:
 * - it finishes: the lesson's `using` declarations remove its objects; exit status 0;
 * - it fails: the same `using` declarations run as the error passes; one line says what
 *   failed and why; exit status 1;
 * - it is interrupted (Ctrl-C, SIGTERM, SIGHUP): the signal listener removes everything the
 *   lesson registered with `side.own()`, says so in one line and exits with 128 + the signal
 *   number (130, 143, 129).
 *
 * A side started by another process (the demo runner, or the pipe lesson's server) asks the
 * kernel for SIGTERM when that process dies (`prctl(PR_SET_PDEATHSIG)`): even if its starter is
 * killed with SIGKILL and can clean up nothing, the side removes what it made and exits.
 *
 * @module
 */

import process from "node:process";
import {
  getppid,
  LibcError,
  monotonicMs,
  setParentDeathSignal,
  traceCalls,
} from "../transports/libc.ts";
import type { CommonOptions, KillAfter } from "./_cli.ts";
import { InputFile, LessonError, OutputFile, UsageError } from "./_files.ts";
import { commonArgs, killArgs, type Lesson, type Side, sideCommand } from "./_lesson.ts";
import { EventLog, formatBytes, type Log, type SideStats, TerminalLog } from "./_log.ts";

/** Signals that stop a side, with the exit status they give (128 + signal number). */
export const STOP_SIGNALS = [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const;

/** SIGTERM's number (Linux), for prctl(PR_SET_PDEATHSIG). */
const SIGTERM = 15;

class SideRuntime<O> implements Side<O> {
  readonly role: "server" | "client";
  readonly options: O;
  readonly input: string;
  readonly output: string;
  readonly chunk: number;
  readonly timeoutMs: number;
  readonly byHand: boolean;
  readonly log: Log;
  #lesson: Lesson<O>;
  #common: CommonOptions;
  #owned: Disposable[] = [];
  #bytes = 0;
  #chunks = 0;
  #total: number | undefined;
  #startedAt: number | undefined;
  #stoppedAt: number | undefined;
  #killAfter: KillAfter | undefined;
  /** The client has completed its output (`commit()`): the demo runner may verify it. */
  #committed = false;

  constructor(lesson: Lesson<O>, common: CommonOptions, options: O, chunk: number) {
    this.role = common.mode === "client" ? "client" : "server";
    this.#lesson = lesson;
    this.#common = common;
    this.options = options;
    this.input = common.input ?? "";
    this.output = common.output ?? "";
    this.chunk = chunk;
    this.timeoutMs = common.timeoutMs;
    this.byHand = !common.events;
    if (common.killAfter?.role === this.role) this.#killAfter = common.killAfter;
    const logOptions = { role: this.role, trace: common.trace, quiet: common.quiet };
    this.log = common.events ? new EventLog(logOptions) : new TerminalLog(logOptions);
  }

  get bytes(): number {
    return this.#bytes;
  }

  own<T extends Disposable>(resource: T): T {
    this.#owned.push(resource);
    return resource;
  }

  openInput(): InputFile {
    const input = new InputFile(this.input, { via: this.#common.inputVia });
    this.#total = input.size;
    return input;
  }

  createOutput(): OutputFile {
    return this.own(
      new OutputFile(this.output, {
        force: this.#common.force,
        via: this.#common.outputVia,
        onCommit: () => this.#committed = true,
      }),
    );
  }

  startClock(): void {
    this.#startedAt = monotonicMs();
  }

  stopClock(): void {
    this.#stoppedAt = monotonicMs();
  }

  count(bytes: number): void {
    this.#bytes += bytes;
    this.#chunks++;
    this.log.progress(this.#bytes, this.#total);
    if (this.#killAfter !== undefined && this.#bytes >= this.#killAfter.bytes) {
      // --kill-after: a crash (or hang, or interruption) on purpose, to watch how the peer
      // and the runner react. Only once: a stopped process may be continued.
      const { signal } = this.#killAfter;
      this.#killAfter = undefined;
      this.log.say(`--kill-after: sending myself ${signal} after ${formatBytes(this.#bytes)}`);
      Deno.kill(Deno.pid, signal);
      // SIGKILL and SIGSTOP act at once, in the kernel. SIGINT and SIGTERM reach the listener
      // below only at the event loop's next turn, milliseconds and megabytes later: do now
      // what it will do, so that the experiment stops exactly here.
      if (signal === "SIGINT" || signal === "SIGTERM") this.interrupt(signal);
    }
  }

  /** What a stop signal does: remove what this side created, say so, and exit 128 + n. */
  interrupt(signal: (typeof STOP_SIGNALS)[number][0]): never {
    this.disposeOwned();
    this.log.error(
      `interrupted by ${signal} after ${
        formatBytes(this.#bytes)
      }; removed what this ${this.role} created`,
    );
    this.reportStats();
    Deno.exit(STOP_SIGNALS.find(([name]) => name === signal)![1]);
  }

  peerCommand(options: Omit<Deno.CommandOptions, "args"> = {}): Deno.Command {
    const common = this.#common;
    const via = this.role === "server" ? common.outputVia : common.inputVia;
    const args = [
      this.role === "server" ? "client" : "server",
      ...commonArgs(common, this.chunk),
      ...(common.events ? ["--events"] : []),
      // The peer is our child: if we die, it must not carry on alone.
      `--parent=${Deno.pid}`,
      ...killArgs(common, this.role === "server" ? "client" : "server"),
      this.role === "server" ? `--output=${this.output}` : `--input=${this.input}`,
      ...(via === undefined ? [] : [`--${this.role === "server" ? "output" : "input"}-via=${via}`]),
      ...(common.force && this.role === "server" ? ["--force"] : []),
    ];
    return sideCommand(this.#lesson.entry, args, options);
  }

  /** Removes everything registered with own(), newest first; never throws. */
  disposeOwned(): void {
    for (const resource of this.#owned.splice(0).reverse()) {
      try {
        resource[Symbol.dispose]();
      } catch { /* best effort: the process is exiting */ }
    }
  }

  /** Sends the final measurements (to the demo runner, or clears the progress bar). */
  reportStats(): void {
    const usage = process.resourceUsage();
    const stats: SideStats = {
      bytes: this.#bytes,
      chunks: this.#chunks,
      peakRssBytes: peakResidentBytes(),
      userSeconds: usage.userCPUTime / 1e6,
      systemSeconds: usage.systemCPUTime / 1e6,
    };
    if (this.#startedAt !== undefined) stats.startedAt = this.#startedAt;
    if (this.#stoppedAt !== undefined) stats.stoppedAt = this.#stoppedAt;
    if (this.#committed) stats.outputComplete = true;
    this.log.stats(stats);
  }
}

/**
 * This process's peak resident memory, in bytes: VmHWM in /proc/self/status, the high-water
 * mark of this program's own memory. (getrusage's ru_maxrss would also count the parent's
 * peak, which a process started with fork + exec inherits.)
 */
export function peakResidentBytes(): number {
  const kib = Deno.readTextFileSync("/proc/self/status").match(/^VmHWM:\s*(\d+) kB/m)?.[1];
  return Number(kib ?? 0) * 1024;
}

/** The one line for an error, and the exit status it gives. */
export function describeError(error: unknown): { message: string; status: number } {
  if (error instanceof UsageError) return { message: error.message, status: 2 };
  if (error instanceof LessonError) return { message: error.message, status: error.status };
  if (
    error instanceof LibcError ||
    error instanceof Deno.errors.TimedOut || error instanceof Deno.errors.NotFound ||
    error instanceof Deno.errors.AlreadyExists || error instanceof Deno.errors.PermissionDenied
  ) {
    return { message: error.message, status: 1 };
  }
  const message = error instanceof Error ? error.message : String(error);
  if (Deno.env.get("IPC_LESSON_DEBUG") && error instanceof Error) console.error(error.stack);
  return { message: `unexpected error: ${message}`, status: 1 };
}

/** Runs `lesson`'s server or client in this process; resolves to the exit status. */
export async function runSide<O>(
  lesson: Lesson<O>,
  common: CommonOptions,
  options: O,
  chunk: number,
): Promise<number> {
  const side = new SideRuntime(lesson, common, options, chunk);
  if (common.trace) traceCalls((line) => side.log.trace(line));

  for (const [signal] of STOP_SIGNALS) {
    Deno.addSignalListener(signal, () => side.interrupt(signal));
  }
  if (common.parent !== undefined) {
    // From now on the kernel sends SIGTERM when our starter dies. If it already has (our
    // parent is now init or a subreaper), no signal will come: stop now.
    setParentDeathSignal(SIGTERM);
    if (getppid() !== common.parent) {
      side.log.error(`the process that started this ${side.role} (${common.parent}) has gone`);
      return 143;
    }
  }

  try {
    await (side.role === "server" ? lesson.server(side) : lesson.client(side));
    return 0;
  } catch (error) {
    side.disposeOwned();
    const { message, status } = describeError(error);
    side.log.error(message);
    return status;
  } finally {
    side.reportStats();
  }
}
