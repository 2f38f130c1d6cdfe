/**
 * Running one side of a lesson: narration, statistics, and cleanup on every way out.
 *
 * A side ends in one of three ways, and the lesson's `using` declarations remove what it
 * created in each:
 * - it finishes: exit status 0;
 * - it fails: one line says what failed and why; exit status 1;
 * - it is interrupted (Ctrl-C, SIGTERM, SIGHUP): the one signal listener aborts the side's
 *   `signal`, the wait in progress rejects, and the error unwinds the lesson like any other;
 *   one line says so; exit status 128 + the signal's number (130, 143, 129). This is the C
 *   idiom: the handler only sets a flag, the main code cleans up.
 *
 * A side started by another process (the demo runner, or the pipe lesson's server) asks the
 * kernel for SIGTERM when that process dies (`prctl(PR_SET_PDEATHSIG)`): even if its starter is
 * killed with SIGKILL and can clean up nothing, the side removes what it made and exits.
 *
 * @module
 */

import process from "node:process";
import { ChannelError, Interrupted } from "../transports/errors.ts";
import { InputFile, OutputExists, OutputFile, OutputRefused } from "../transports/files.ts";
import { peakResidentBytes, softLimit } from "../transports/holders.ts";
import * as libc from "../transports/libc.ts";
import { formatBytes } from "../transports/units.ts";
import { abortOnStopSignals, sleep } from "../transports/wait.ts";
import { type CommonOptions, sideArgs, UsageError } from "./_cli.ts";
import { command, denoArgv, type Lesson, LessonError, optionArgs, type Output } from "./_lesson.ts";
import type { Role, Side } from "./_lesson.ts";
import { formatLine, type Kind, type Log, ProgressBar, type SideStats } from "./_log.ts";
import { stamped, stderrHasColor, writeStderr } from "./_log.ts";

/** SIGTERM's number (Linux), for prctl(PR_SET_PDEATHSIG). */
const SIGTERM = 15;

/** The one line for an error, and the exit status it gives. */
export function describeError(error: unknown): { message: string; status: number } {
  if (error instanceof UsageError) return { message: error.message, status: 2 };
  if (error instanceof LessonError || error instanceof Interrupted) {
    return { message: error.message, status: error.status };
  }
  if (error instanceof OutputExists) {
    return { message: `${error.message}: add --force to replace it`, status: 1 };
  }
  if (error instanceof OutputRefused) return { message: error.message, status: 2 };
  const message = error instanceof Error ? error.message : String(error);
  const limit = limitHint(message);
  if (
    error instanceof ChannelError || error instanceof libc.LibcError ||
    error instanceof Deno.errors.TimedOut || error instanceof Deno.errors.NotFound ||
    error instanceof Deno.errors.AlreadyExists || error instanceof Deno.errors.PermissionDenied ||
    limit !== ""
  ) {
    return { message: message + limit, status: 1 };
  }
  if (Deno.env.get("IPC_LESSON_DEBUG") && error instanceof Error) console.error(error.stack);
  return { message: `unexpected error: ${message}`, status: 1 };
}

/**
 * When `message` is a limit of this process (too many open files, a file too large), not a
 * bug: which limit, and how to raise it, as `: raise …`; else "" (or if it says so already).
 */
export function limitHint(message: string): string {
  if (message.includes("ulimit -")) return "";
  if (/\bEMFILE\b|\(os error 24\)|too many open files/i.test(message)) {
    return `: raise the limit of open files (ulimit -n${
      resourceLimit("Max open files", ", now ")
    })`;
  }
  if (/\bEFBIG\b|\(os error 27\)|file too large/i.test(message)) {
    return `: past the file-size limit (ulimit -f${resourceLimit("Max file size", ", now ")})`;
  }
  return "";
}

/** The soft limit `name` after `prefix` (a size in bytes as such); "" if it cannot be read. */
function resourceLimit(name: string, prefix: string): string {
  const soft = softLimit(name);
  if (soft === null) return "";
  return prefix +
    (soft === Infinity ? "unlimited" : name.includes("size") ? formatBytes(soft) : String(soft));
}

class SideRuntime<O> implements Side<O>, Log {
  readonly role: Role;
  readonly input: string;
  readonly output: string;
  readonly timeoutMs: number;
  readonly byHand: boolean;
  readonly tracing: boolean;
  readonly log: Log = this;
  #controller = abortOnStopSignals(new AbortController());
  readonly signal = this.#controller.signal;
  readonly waits: { timeout: number; signal: AbortSignal };
  #color = stderrHasColor();
  #bar: ProgressBar | null;
  #bytes = 0;
  #chunks = 0;
  #total: number | undefined;
  #startedAt: number | undefined;
  #stoppedAt: number | undefined;
  #committed = false;
  #lesson: Lesson<O>;
  #common: CommonOptions;

  constructor(
    lesson: Lesson<O>,
    common: CommonOptions,
    readonly options: O,
    readonly chunk: number,
  ) {
    this.#lesson = lesson;
    this.#common = common;
    this.role = common.mode === "client" ? "client" : "server";
    this.input = common.input ?? "";
    this.output = common.output ?? "";
    this.timeoutMs = common.timeoutMs;
    this.waits = { timeout: this.timeoutMs, signal: this.signal };
    this.byHand = !common.stamped;
    this.tracing = common.trace;
    this.#bar = this.byHand && Deno.stderr.isTerminal() && !common.quiet ? new ProgressBar() : null;
  }

  get bytes(): number {
    return this.#bytes;
  }

  #print(kind: Kind, text: string): void {
    if (!this.byHand) return writeStderr(stamped(this.role, kind, text));
    const line = formatLine(this.role, Deno.pid, text, { color: this.#color, kind });
    if (this.#bar) this.#bar.print(line);
    else writeStderr(line);
  }

  say(text: string): void {
    if (!this.#common.quiet) this.#print("say", text);
  }

  trace(text: string): void {
    if (this.tracing) this.#print("trace", text);
  }

  error(text: string): void {
    this.#bar?.clear();
    this.#print("error", text);
  }

  openInput(): InputFile {
    const input = new InputFile(this.input, { via: this.#common.inputVia });
    this.#total = input.size;
    return input;
  }

  createOutput(): Output {
    const file = new OutputFile(this.output, {
      force: this.#common.force,
      via: this.#common.outputVia,
    });
    return {
      path: file.path,
      write: (data) => file.write(data),
      commit: async () => {
        // A Ctrl-C in a terminal reaches every process of the job at once (`server | client`):
        // the end of the stream just seen may be the server, interrupted, closing its end. Our
        // own listener runs some event-loop turns later: give it that moment before naming a
        // copy that may be short (the wait rejects at once if it runs).
        await sleep(20, this.signal);
        file.commit();
        this.#committed = true;
        return file.handedOver
          ? `closed the copy: the runner checks it before it gets the name ${
            JSON.stringify(file.path)
          }`
          : `wrote ${JSON.stringify(file.path)}`;
      },
      [Symbol.dispose]: () => file.discard(),
    };
  }

  startClock(): void {
    this.#startedAt = libc.monotonicMs();
    this.#killIfDue(); // --kill-after ROLE:0: before the first byte, not after the first chunk
  }

  stopClock(): void {
    this.#stoppedAt = libc.monotonicMs();
  }

  count(bytes: number): void {
    this.#bytes += bytes;
    this.#chunks++;
    if (this.#total !== undefined) this.#bar?.update(this.#bytes, this.#total);
    this.#killIfDue();
  }

  /** `--kill-after`: this side has moved its BYTES, so it sends itself the signal. */
  #killIfDue(): void {
    const kill = this.#common.killAfter;
    if (kill?.role !== this.role || this.#bytes < kill.bytes) return;
    // --kill-after: a crash (or hang, or interruption) on purpose, to watch how the peer and
    // the runner react. Only once: a stopped process may be continued.
    this.#common.killAfter = undefined;
    this.say(`--kill-after: sending myself ${kill.signal} after ${formatBytes(this.#bytes)}`);
    Deno.kill(Deno.pid, kill.signal);
    // SIGKILL and SIGSTOP act at once, in the kernel. SIGINT and SIGTERM reach the listener
    // only at the event loop's next turn, megabytes later: abort now, so that the experiment
    // stops exactly here.
    if (kill.signal === "SIGINT" || kill.signal === "SIGTERM") {
      this.#controller.abort(new Interrupted(kill.signal));
      this.signal.throwIfAborted();
    }
  }

  peerCommand(options: Omit<Deno.CommandOptions, "args"> = {}): Deno.Command {
    const peer: Role = this.role === "server" ? "client" : "server";
    const common = { ...this.#common, input: this.input, output: this.output };
    const args = [peer, ...sideArgs(common, this.chunk, [peer])];
    args.push(...optionArgs(this.#lesson, this.options));
    return command(denoArgv(this.#lesson.entry, args), options);
  }

  /** The final measurements: the demo's last line from this side. */
  reportStats(): void {
    this.#bar?.clear();
    if (this.byHand) return;
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
    writeStderr(stamped(this.role, "stats", JSON.stringify(stats)));
  }
}

/** Runs `lesson`'s server or client in this process; resolves to the exit status. */
export async function runSide<O>(
  lesson: Lesson<O>,
  common: CommonOptions,
  options: O,
  chunk: number,
): Promise<number> {
  const side = new SideRuntime(lesson, common, options, chunk);
  if (common.trace) libc.traceCalls((line) => side.trace(line));
  if (common.parent !== undefined) {
    // From now on the kernel sends SIGTERM when our starter dies. If it already has (our
    // parent is now init or a subreaper), no signal will come: stop now.
    libc.setParentDeathSignal(SIGTERM);
    if (libc.getppid() !== common.parent) {
      side.error(`the process that started this ${side.role} (${common.parent}) has gone`);
      return 143;
    }
  }
  try {
    await (side.role === "server" ? lesson.server(side) : lesson.client(side));
    return 0;
  } catch (error) {
    // A Ctrl-C in a terminal reaches every side at once, and the peer's end may be what this
    // side sees first: the signal's listener runs some event-loop turns later. Give it that
    // moment, so that the side says it was interrupted, not that its peer failed.
    if (!side.signal.aborted) await sleep(20, side.signal).catch(() => {});
    // Interrupted: whatever the wait in progress threw, the signal is what happened.
    const reason = side.signal.aborted ? side.signal.reason : error;
    if (reason instanceof Interrupted) {
      side.error(
        `${reason.message} after ${
          formatBytes(side.bytes)
        }; removed what this ${side.role} created`,
      );
      return reason.status;
    }
    const { message, status } = describeError(error);
    side.error(message);
    return status;
  } finally {
    side.reportStats();
  }
}
