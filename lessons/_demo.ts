/**
 * The demo: both sides of a lesson as two real processes, narrated, timed and verified.
 *
 * The runner
 * 1. checks the input, the output and the free space before anything starts, and locks every
 *    name the run will use, so that two demos given the same `--path` or `--name` cannot trip
 *    over each other;
 * 2. opens the input, and makes the copy as an unnamed file (`O_TMPFILE`) in the output's
 *    directory: the sides reach both as `/proc/RUNNER/fd/N`, so the demo needs no temporary
 *    names, and if the runner dies, even by SIGKILL, the kernel frees them;
 * 3. starts the sides as the lesson's `launch` says; each asks the kernel for SIGTERM should
 *    the runner die, and then cleans up;
 * 4. prints what the sides say in the order they said it: each line carries a CLOCK_MONOTONIC
 *    timestamp, and the runner holds lines briefly to sort them; a progress bar follows the
 *    size of the copy;
 * 5. waits for both, stopping the survivor if its peer failed or hung, and passing on Ctrl-C;
 * 6. removes what a killed side of this run left behind;
 * 7. verifies the copy by streaming SHA-256 of both files, and only then gives it its name
 *    (`linkat`), with the input's permission bits.
 *
 * A byte stream (pipe, FIFO) cannot tell a crashed writer from a short file: the reader just
 * sees end-of-file. The runner still catches it, from the exit statuses and the digests.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { basename } from "node:path";
import { Interrupted } from "../transports/errors.ts";
import * as files from "../transports/files.ts";
import { isRunning, isStopped, stopProcess } from "../transports/holders.ts";
import { bindAbstractLock, close, monotonicMs } from "../transports/libc.ts";
import { formatBytes, formatSeconds } from "../transports/units.ts";
import { abortOnStopSignals, sleep } from "../transports/wait.ts";
import { type CommonOptions, sideArgs, UsageError } from "./_cli.ts";
import * as lessons from "./_lesson.ts";
import { formatLine, type Kind, linesOf, parseStamped, ProgressBar } from "./_log.ts";
import { type SideStats, stderrHasColor, writeStderr } from "./_log.ts";
import { describeError, limitHint } from "./_side.ts";
import { LESSONS } from "./registry.ts";

type Role = lessons.Role;

/** How long a side may take to notice that its peer has gone before the runner stops it. */
const GRACE_MS = 2000;
/** How long a line is held before it is printed, so that both sides' lines come in order. */
const HOLD_MS = 200;

/** The one JSON object `--json` prints. */
export interface DemoResult {
  method: string;
  bytes: number;
  chunks: number;
  chunkBytes: number;
  seconds: number | null;
  mibPerSecond: number | null;
  inputSha256: string | null;
  outputSha256: string | null;
  byteExact: boolean;
  server: ProcessReport | null;
  /** The client (with `--clients N`: the first). */
  client: ProcessReport | null;
  /** With `--clients N` (N > 1): each client, its figures and its copy. */
  clients?: ClientReport[];
  error?: string;
}

/** One of several clients (`--clients N`), and its copy. */
export interface ClientReport extends ProcessReport {
  /** `client 1` … `client N`, as the narration names it. */
  label: string;
  bytes: number | null;
  outputSha256: string | null;
  byteExact: boolean;
}

/** What the runner knows about one side's process (`exitCode` is null after a signal). */
export interface ProcessReport {
  pid: number;
  exitCode: number | null;
  signal: string | null;
  peakRssBytes: number | null;
  userSeconds: number | null;
  systemSeconds: number | null;
}

/** A side's process, as the runner started it, and how it ended. */
interface StartedSide {
  role: Role;
  label: string;
  child: Deno.ChildProcess;
  status?: Deno.CommandStatus;
}

/** The demo of `lesson`: `run()` resolves to the exit status. */
export class Demo<O> {
  #controller = new AbortController();
  #color = stderrHasColor();
  #bar: ProgressBar | null;
  #started: StartedSide[] = [];
  #readers: Promise<void>[] = [];
  /**
   * Pids of the sides, by label (`server`, `client`; `client 1` … `client N` with `--clients`):
   * as started, or as their lines name them (the pipe's client).
   */
  #pids = new Map<string, number>();
  #stats = new Map<string, SideStats>();
  /** Whether the two sides are threads of one process (the threads lesson), not processes. */
  get #threads(): boolean {
    return LESSONS.find((entry) => entry.method === this.lesson.method)?.sides === "threads";
  }
  /** How many clients the demo starts (`--clients N`; 1 for most lessons). */
  #clients = 1;
  #sideErrors: string[] = [];
  /** Lines waiting to be printed, with when they were said. */
  #held: { at: number; line: string }[] = [];
  #inputSize = 0;
  /** The input file as it was when opened (size and times), to tell if it changed meanwhile. */
  #inputWas: { fd: number; path: string; stamp: string } | null = null;
  /** The copies: one unnamed file per client. */
  #copies: files.UnnamedFile[] = [];
  /** The copies' size when last looked at, and when a side last said something or it grew. */
  #copied = 0;
  #activeAt = monotonicMs();
  /** A side that has finished: the other must finish too, or keep making progress. */
  #finished: string | null = null;
  #timers: ReturnType<typeof setTimeout>[] = [];
  #stoppedByRunner = new Set<number>();
  /** The sides whose Deno crashed (a panic), with the cause it gave ("" until it is read). */
  #panicked = new Map<string, string>();

  constructor(
    readonly lesson: lessons.Lesson<O>,
    readonly common: CommonOptions,
    readonly options: O,
    readonly chunk: number,
  ) {
    const bar = Deno.stderr.isTerminal() && !common.quiet && !common.json;
    this.#bar = bar ? new ProgressBar() : null;
  }

  get #interrupted(): Interrupted | null {
    return this.#controller.signal.aborted ? this.#controller.signal.reason : null;
  }

  /** Prints the lines said more than HOLD_MS ago (`all`: every one), in the order said. */
  #flush(all = false): void {
    this.#held.sort((a, b) => a.at - b.at);
    const until = all ? Infinity : monotonicMs() - HOLD_MS;
    while (this.#held.length > 0 && this.#held[0]!.at <= until) {
      const { line } = this.#held.shift()!;
      if (this.#bar) this.#bar.print(line);
      else writeStderr(line);
    }
  }

  /**
   * The runner's own line: a step of the story (held, in order with the sides'), or, printed
   * at once after every line held, a line of the summary (shown with --quiet too) or the error.
   */
  #say(text: string, kind: Kind | "summary" = "say"): void {
    const { quiet, json } = this.common;
    if ((kind === "say" && quiet) || (kind !== "error" && json)) return;
    const line = formatLine("runner", Deno.pid, text, {
      color: this.#color,
      kind: kind === "summary" ? "say" : kind,
    });
    this.#held.push({ at: monotonicMs(), line });
    if (kind === "error") this.#bar?.clear();
    if (kind !== "say") this.#flush(true);
  }

  async run(): Promise<number> {
    abortOnStopSignals(this.#controller).signal.addEventListener("abort", () => {
      this.#stopAll(this.#interrupted!.signal);
      this.#timers.push(setTimeout(() => this.#stopAll("SIGKILL"), 3000));
    });
    const ticker = setInterval(() => this.#tick(), 50);
    // Everything the run holds open: the input, the unnamed files, the locks. Closing an
    // unnamed file frees it; closing a lock's socket releases the lock.
    using held = new DisposableStack();
    const { common, lesson } = this;
    try {
      // 1. Check everything first; then lock the names this run will use.
      const clients = this.#clients = lesson.clients?.(this.options) ?? 1;
      if (clients > 1 && common.output !== undefined) {
        throw new UsageError(
          "--output names one copy: with --clients the demo checks each client's copy, then " +
            "removes it",
        );
      }
      const input = common.size === undefined
        ? held.use(new files.InputFile(common.input ?? lessons.SAMPLE_INPUT))
        : null;
      this.#inputSize = input?.size ?? common.size!;
      if (input) this.#inputWas = { fd: input.fd, path: input.path, stamp: stampOf(input.fd) };
      const target = common.output === undefined
        ? null
        : files.checkOutput(common.output, { force: common.force, input: input ?? undefined });
      const dir = target?.dir ?? lessons.tempDir();
      const needs = [{
        dir,
        bytes: this.#inputSize * clients,
        what: clients > 1 ? `the ${clients} copies` : `the copy`,
      }];
      if (common.output !== undefined) needs[0]!.what += ` ${JSON.stringify(common.output)}`;
      if (input === null) {
        needs.unshift({ dir: lessons.tempDir(), bytes: this.#inputSize, what: "the random input" });
      }
      files.checkSpace(needs);
      const objects = lesson.objects?.(this.options) ?? [];
      this.#lockNames(held, objects, target);
      // Where the sides run (two network hosts, for TCP): taken down on every way out.
      const say = (text: string) => this.#say(text);
      const warn = (text: string) => this.#say(text, "summary");
      const signal = this.#controller.signal;
      const stage = lesson.stage
        ? held.use(await lesson.stage(this.options, { say, warn, signal }))
        : null;

      // 2. The input (for --size, random bytes) and the copy: unnamed files, held by the runner.
      const source = input ?? held.use(await this.#randomInput());
      const copies = this.#copies = Array.from({ length: clients }, () =>
        held.use(
          new files.UnnamedFile(dir, {
            name: common.output === undefined ? undefined : basename(common.output),
            fail: (why) =>
              new files.FileError(`cannot create output ${this.#outputName()}: ${why}`),
          }),
        ));

      // 3. The sides. A client that its server starts (launch says null) gets its arguments
      //    through the server.
      this.#say(
        `copying ${this.#describeInput(input?.path ?? "")} ${
          this.#threads
            ? "from a server thread to a client thread of one process,"
            : `from a server process to ${
              clients > 1
                ? `${clients} client processes, each getting its own copy,`
                : "a client process,"
            }`
        } ${this.chunk} bytes at a time`,
      );
      this.#controller.signal.throwIfAborted(); // Ctrl-C already: start nothing
      const sides = (copy: files.UnnamedFile): CommonOptions => ({
        ...common,
        input: input?.path ?? "random input",
        inputVia: `/proc/${Deno.pid}/fd/${source.fd}`,
        output: common.output ?? "temporary output",
        outputVia: copy.procPath,
        stamped: true,
      });
      const launch = (role: Role, roles: Role[], copy = copies[0]!) =>
        (stage?.launch ?? lesson.launch ?? lessons.apart)(
          role,
          lessons.denoArgv(lesson.entry, [
            role,
            ...sideArgs(sides(copy), this.chunk, roles),
            ...lessons.optionArgs(lesson, this.options),
          ]),
        );
      const client = launch("client", ["client"]);
      this.#start("server", launch("server", client === null ? ["server", "client"] : ["server"])!);
      if (client !== null) {
        for (const [i, copy] of copies.entries()) {
          this.#start("client", launch("client", ["client"], copy)!, this.#clientLabel(i));
        }
      }

      // 4. to 7.: wait for both, remove leftovers, verify, and only then name the copy.
      await this.#waitForSides();
      this.#measureCopies();
      this.#flush(true);
      this.#bar?.clear();
      this.#removeLeftovers(objects);
      return await this.#verify(source, copies, input?.path ?? "");
    } catch (error) {
      this.#stopAll("SIGTERM");
      const { message, status } = describeError(error);
      this.#say(message, "error");
      if (common.json && status !== 2) printJson(this.#result(null, [], message));
      return status;
    } finally {
      clearInterval(ticker);
      for (const timer of this.#timers) clearTimeout(timer);
      this.#flush(true);
      this.#bar?.clear();
    }
  }

  /** The output as messages name it. */
  #outputName(): string {
    const output = this.common.output;
    return output === undefined ? "(a temporary file)" : JSON.stringify(output);
  }

  /** `--size`: an unnamed file of random bytes in the temporary directory. */
  async #randomInput(): Promise<files.UnnamedFile> {
    const tmp = lessons.tempDir();
    const file = new files.UnnamedFile(tmp, {
      fail: (why) =>
        new files.FileError(`cannot create the random input in ${JSON.stringify(tmp)}: ${why}`),
    });
    this.#say(
      `writing ${formatBytes(this.#inputSize)} of random bytes into an unnamed file ` +
        `(O_TMPFILE) in ${tmp}`,
    );
    try {
      await files.fillRandom(file.fd, this.#inputSize, this.#controller.signal);
      return file;
    } catch (error) {
      file.close();
      if (!(error instanceof Interrupted)) throw error;
      throw new lessons.LessonError(
        `${error.message} while writing the random input: nothing was started, nothing is left`,
        { status: error.status },
      );
    }
  }

  /**
   * Takes a lock on every object the run will create, and on the output path: an abstract
   * Unix socket bound to a name derived from it. The kernel lets only one process bind a name,
   * and releases it when that process dies, however it dies: a second demo given the same
   * `--path` or `--name` is refused with one line, and the first is left alone.
   */
  #lockNames(
    held: DisposableStack,
    objects: lessons.KernelObject[],
    target: files.OutputTarget | null,
  ): void {
    // The options that name them (System V: --key, or --path for ftok), as the lesson lists them.
    const naming = Object.keys(this.lesson.options).filter((name) =>
      ["path", "name", "key"].includes(name)
    );
    const option = naming.length > 0 ? naming.join(" or --") : "name";
    const wanted = objects.map((object) => [
      object.description,
      `${object.description} is in use by another demo that is running now: wait for it to ` +
      `finish, or choose another --${option}`,
    ]);
    if (target !== null) {
      // The directory by device and inode: every spelling of the same path takes one lock.
      const dir = Deno.statSync(target.dir);
      wanted.push([
        `output ${dir.dev}:${dir.ino}/${basename(this.common.output!)}`,
        `another demo is writing the output ${this.#outputName()} right now: wait for it to ` +
        "finish, or choose another --output",
      ]);
    }
    for (const [key, taken] of wanted) {
      const fd = bindAbstractLock(lockName(key!));
      if (fd === null) throw new lessons.LessonError(taken!);
      held.defer(() => close(fd));
    }
    // objects() found none of them there; one that has appeared since was made by someone who
    // is not a demo: leave it alone.
    const appeared = objects.find((object) => object.exists());
    if (appeared) {
      throw new lessons.LessonError(
        `${appeared.description} appeared just now: another program is using it; choose ` +
          `another --${option}`,
      );
    }
  }

  #describeInput(path: string): string {
    const size = formatBytes(this.#inputSize);
    if (this.common.size !== undefined) return `${size} of random bytes`;
    if (path === lessons.SAMPLE_INPUT) return `the sample text lessons/sample.txt (${size})`;
    return `${JSON.stringify(path)} (${size})`;
  }

  /** How the narration names client `i` (from 0): `client`, or `client 1` … with --clients. */
  #clientLabel(i: number): string {
    return this.#clients > 1 ? `client ${i + 1}` : "client";
  }

  #start(role: Role, argv: string[], label: string = role): void {
    const child = lessons.command(argv, { stdin: "null", stdout: "piped", stderr: "piped" })
      .spawn();
    this.#pids.set(label, child.pid);
    if (this.common.trace) this.#say(`started ${label}: ${argv.join(" ")}`);
    this.#say(`started the ${label} as process ${child.pid}`);
    this.#started.push({ role, label, child });
    for (const stream of [child.stderr, child.stdout]) {
      this.#readers.push((async () => {
        for await (const line of linesOf(stream)) this.#line(line, role, label);
      })());
    }
  }

  /**
   * One line from a side (`label` names the process whose output it came through): a stamped
   * line is held for its turn; anything else is shown as is.
   */
  #line(text: string, role: Role, label: string): void {
    this.#activeAt = monotonicMs();
    const line = parseStamped(text);
    if (line === null) {
      // Not the lesson's (an uncaught error, a stray print): shown as it is, without colours
      // (Deno's, meant for a terminal, not for a pipe into a log). Deno's own crash (a panic)
      // gives its cause on the line after "panicked at": kept, to say why the side died.
      const plain = text.replace(ANSI_COLOUR, "");
      if (this.#panicked.get(label) === "") this.#panicked.set(label, plain.trim());
      if (/^thread '.*\bpanicked at /.test(plain)) this.#panicked.set(label, "");
      const formatted = formatLine(role, this.#pids.get(label) ?? "?", plain, {
        color: this.#color,
      });
      if (text.trim() !== "") this.#held.push({ at: monotonicMs(), line: formatted });
      return;
    }
    // A line another side said through this one's output (the pipe's client) has its own name.
    const who = line.who === role ? label : line.who;
    this.#pids.set(who, line.pid);
    if (line.kind === "stats") {
      this.#stats.set(who, JSON.parse(line.text));
      // A side the runner did not start (the pipe's client) is done: watch the other.
      if (!this.#started.some((s) => s.label === who) && !this.#interrupted) {
        this.#finished ??= who;
      }
      return;
    }
    let kind: Kind = line.kind;
    if (kind === "error" && (this.#interrupted || this.#stoppedByRunner.has(line.pid))) {
      // The runner is stopping the run, or this side, on purpose (Ctrl-C; a peer failed; it
      // hung): what a side says as it goes follows from that. The runner's own line, or the
      // failed peer's, says what happened, as the one error.
      if (this.common.quiet || this.common.json) return;
      kind = "say";
    } else if (kind === "error") {
      this.#sideErrors.push(line.text);
    } else if (this.common.json) {
      return;
    }
    const color = this.#color;
    this.#held.push({
      at: line.at,
      line: formatLine(line.who, line.pid, line.text, { color, kind }),
    });
  }

  /** Every 50 ms: the copy's size (progress, and the bar), held lines due, a hung side. */
  #tick(): void {
    this.#measureCopies();
    this.#flush();
    this.#watchdog();
  }

  /** How far the copies have grown (a side may die between two ticks: measured once more). */
  #measureCopies(): void {
    if (this.#copies.length === 0) return;
    let size = 0;
    try {
      for (const copy of this.#copies) size += Deno.statSync(`/proc/self/fd/${copy.fd}`).size;
    } catch {
      return; // closed: the run is ending
    }
    if (size !== this.#copied) this.#activeAt = monotonicMs();
    // The most the copies ever held: a client that is told to stop empties its output.
    this.#copied = Math.max(this.#copied, size);
    this.#bar?.update(size, this.#inputSize * this.#copies.length);
  }

  async #waitForSides(): Promise<void> {
    await Promise.all(this.#started.map(async (started) => {
      started.status = await started.child.status;
      if (this.#interrupted) return;
      // One client of several failed: the server goes on serving the others, and ends itself.
      if (!started.status.success && (started.role === "server" || this.#clients === 1)) {
        this.#stopPeersLater(started.label);
      }
      this.#finished ??= started.label;
    }));
    this.#finished = null;
    await Promise.all(this.#readers);
    // A side the runner did not start itself (the pipe lesson's client) must be gone too.
    for (let waited = 0; [...this.#pids.values()].some(isRunning); waited += 50) {
      if (waited >= 2 * GRACE_MS) this.#stopAll("SIGKILL");
      await sleep(50);
    }
  }

  /**
   * A side that says nothing and copies nothing for longer than the timeout (plus a grace
   * period) is hung, and the runner stops it: after its peer has exited, any such side (one that
   * is stopped, SIGSTOP, after the grace period alone: it cannot finish); before, only when every
   * side is stopped (none can notice the other; the threads lesson's two sides are one process,
   * which one signal stops whole). A side stopped while another runs is left to that one to
   * notice.
   */
  #watchdog(): void {
    const quiet = monotonicMs() - this.#activeAt;
    if (quiet < GRACE_MS) return;
    const finished = this.#finished;
    const hung = [...this.#pids].filter(([label, pid]) => label !== finished && isRunning(pid));
    const stopped = hung.length > 0 && hung.every(([, pid]) => isStopped(pid));
    const timedOut = quiet >= this.common.timeoutMs + GRACE_MS;
    const due = finished === null ? stopped && timedOut : stopped || timedOut;
    if (hung.length === 0 || !due) return;
    this.#activeAt = monotonicMs();
    const timeout = formatSeconds(this.common.timeoutMs / 1000);
    if (finished === null) {
      this.#say(`every side is stopped, with no progress for ${timeout} s: stopping them`, "error");
      this.#sideErrors.push("every side was stopped");
    }
    for (const [label, pid] of hung) {
      if (finished !== null) {
        this.#say(
          isStopped(pid)
            ? `the ${label} is stopped (SIGSTOP) and the ${finished} has exited: it cannot ` +
              "finish; stopping it"
            : `the ${label} made no progress for ${timeout} s after the ${finished} exited: ` +
              "stopping it",
          "error",
        );
        this.#sideErrors.push(`the ${label} hung`);
      }
      this.#stop(pid, "SIGTERM");
      this.#timers.push(setTimeout(() => this.#stop(pid, "SIGKILL"), GRACE_MS));
    }
  }

  /** Stops a side on the runner's own initiative (its exit status is then not the run's). */
  #stop(pid: number, signal: Deno.Signal): void {
    this.#stoppedByRunner.add(pid);
    stopProcess(pid, signal);
  }

  /** A side failed: give the others a moment to notice on their own, then stop them. */
  #stopPeersLater(failed: string): void {
    const stop = (signal: Deno.Signal) => {
      for (const [role, pid] of this.#pids) {
        if (role === failed || !isRunning(pid)) continue;
        if (signal === "SIGTERM") this.#say(`stopping the ${role}: the ${failed} has failed`);
        this.#stop(pid, signal);
      }
    };
    this.#timers.push(setTimeout(() => stop("SIGTERM"), GRACE_MS));
    this.#timers.push(setTimeout(() => stop("SIGKILL"), 2 * GRACE_MS));
  }

  #stopAll(signal: Deno.Signal): void {
    for (const pid of this.#pids.values()) if (isRunning(pid)) stopProcess(pid, signal);
  }

  /**
   * Removes what a side of this run left behind (a killed side cannot clean up). These are
   * this run's own: objects() found none of them before the sides started, and the run's
   * locks kept every other demo away from their names since.
   */
  #removeLeftovers(objects: lessons.KernelObject[]): void {
    const clean = this.#started.every((s) => s.status?.success) && !this.#interrupted;
    for (const object of objects.filter((object) => object.exists())) {
      object.remove();
      if (!clean) {
        this.#say(`removed ${object.description}, left behind by a side that did not finish`);
        continue;
      }
      // Both sides said they finished, yet something is left: that is a bug in the lesson.
      this.#sideErrors.push(`${object.description} was left behind`);
      this.#say(
        `${object.description} was left behind by a side that exited normally; removed it`,
        "error",
      );
    }
  }

  /** The run was interrupted (Ctrl-C, SIGTERM, SIGHUP): one line, and 128 + the signal. */
  #interruptedExit(when: string): number {
    const { message, status } = this.#interrupted!;
    if (this.common.json) printJson(this.#result(null, [], "interrupted"));
    this.#say(`${message}${when}`, "error");
    return status;
  }

  async #verify(
    source: { fd: number; permissions?: number },
    copies: files.UnnamedFile[],
    input: string,
  ) {
    if (this.#interrupted) {
      // Nothing to verify: the transfer was stopped on purpose.
      return this.#interruptedExit(": stopped both sides and removed what they created");
    }
    // The client may have written a copy even though its server died: a byte stream cannot
    // tell a crash from the end of the file. The digests show the difference.
    const produced = copies.map((_, i) =>
      this.#stats.get(this.#clientLabel(i))?.outputComplete === true
    );
    let inputSha256: string | null = null;
    const outputs: (string | null)[] = copies.map(() => null);
    if (produced.some((done) => done)) {
      this.#say(
        copies.length === 1
          ? "checking the copy: SHA-256 of the input and of the output"
          : "checking the copies: SHA-256 of the input and of each output",
      );
      try {
        inputSha256 = await files.sha256Fd(source.fd, this.#controller.signal);
        for (const [i, copy] of copies.entries()) {
          if (produced[i]) outputs[i] = await files.sha256Fd(copy.fd, this.#controller.signal);
        }
      } catch (error) {
        if (!(error instanceof Interrupted)) throw error;
        const output = this.common.output === undefined
          ? ""
          : `, and ${this.#outputName()} was not written`;
        return this.#interruptedExit(` while checking the copy: the copy was discarded${output}`);
      }
    }
    const exact = outputs.map((digest) => digest !== null && digest === inputSha256);
    let failure = this.#failure(exact, produced);
    // A side that only says it was interrupted (the pipe lesson's client, told by the kernel
    // that its server died) has not said what went wrong: the runner must.
    let printed = this.#sideErrors.some((text) => !text.startsWith("interrupted by"));
    const output = this.common.output;
    if (failure === null && output !== undefined) {
      // Verified: now, and only now, the copy gets its name, and the input's permissions.
      try {
        copies[0]!.setPermissions(source.permissions ?? 0o600);
        copies[0]!.link(output, this.common.force);
        this.#say(`the copy is byte-exact: linked it into place as ${this.#outputName()}`);
      } catch (error) {
        failure = describeError(error).message;
        printed = false;
      }
    }

    const result = this.#result(inputSha256, outputs, failure ?? undefined);
    if (this.common.json) printJson(result);
    else this.#printSummary(result, input, output ?? "");
    // The runner's own error only if no side has already said what went wrong.
    // A side killed by a signal could say nothing: the runner's line is the cause, whatever its
    // peer said of the consequences.
    const killed = this.#started.some((s) => s.status !== undefined && this.#crashed(s));
    if (failure !== null && (!printed || killed)) this.#say(failure, "error");
    if (failure === null) return 0;
    // A side that was interrupted (Ctrl-C, SIGTERM, SIGHUP) passes its status on.
    const interrupted = this.#started.find((s) =>
      [129, 130, 143].includes(s.status!.code) && !this.#stoppedByRunner.has(s.child.pid)
    );
    return interrupted?.status?.code ?? 1;
  }

  /** Why the run failed, or null when it succeeded. */
  #failure(byteExact: boolean[], produced: boolean[]): string | null {
    // A side killed by a signal (not by the runner, for the failure of another), or whose Deno
    // crashed, first: it is the cause, whatever its peers said of it after.
    const crashed = (s: StartedSide) => this.#crashed(s);
    const started = [...this.#started].sort((a, b) => Number(crashed(b)) - Number(crashed(a)));
    for (const { label, status } of started) {
      if (status!.signal) {
        const bytes = formatBytes(this.#copied);
        // Threads of one process: the signal took the process, both sides at once. Otherwise the
        // copy's size says how far the transfer got; a killed process reports nothing itself.
        const when = this.#threads
          ? `after ${bytes}`
          : label === "server" || this.#clients > 1
          ? `after the copy had reached ${bytes}`
          : `after its output had reached ${bytes}`;
        const who = this.#threads ? "process (both threads)" : label;
        if (byteExact.length > 0 && byteExact.every(Boolean)) {
          // Killed after its part was done: the copy is whole, the run is still a failure.
          return `the copy is byte-exact, but the ${who} was killed by ${status!.signal} ` +
            "before it exited";
        }
        return `the ${who} was killed by ${status!.signal} ${when}: transfer incomplete`;
      }
      const panic = this.#panicked.get(label);
      if (!status!.success && panic !== undefined) {
        // Not the lesson's error: Deno itself gave up, and said why.
        const who = this.#threads ? "process" : label;
        return `the ${who} crashed inside Deno itself (a panic, not an error of the lesson): ${
          panic || "see above"
        }${limitHint(panic)}`;
      }
      if (!status!.success) {
        return this.#sideErrors[0] ?? `the ${label} exited with status ${status!.code}`;
      }
    }
    if (this.#sideErrors.length > 0) return this.#sideErrors[0]!;
    for (const [i, done] of produced.entries()) {
      const label = this.#clientLabel(i);
      if (!done) return `the ${label} produced no output`;
      if (!byteExact[i] && this.#inputWas !== null && this.#inputSize === 0 && this.#copied > 0) {
        // stat said 0 bytes, yet it had some: a file the kernel makes as it is read (/proc).
        return `the input ${
          JSON.stringify(this.#inputWas.path)
        } is made by the kernel each time it is read (stat gives its size as 0): two reads ` +
          "need not agree, so the copy cannot be checked against it (copy it to a regular file " +
          "first)";
      }
      if (!byteExact[i] && this.#inputChanged()) {
        // Not the channel's fault: the file was written to while the server was reading it.
        return `the input ${
          JSON.stringify(this.#inputWas!.path)
        } changed while it was being copied: the copy cannot be checked against it (copy a ` +
          "file that nothing writes to meanwhile)";
      }
      if (!byteExact[i]) {
        const whose = produced.length === 1 ? "the output" : `the output of the ${label}`;
        return `${whose} differs from the input: the copy is not byte-exact`;
      }
    }
    return null;
  }

  /**
   * Whether a side died without a word of its own: killed by a signal (not by the runner), or
   * by a crash of Deno itself (a panic, exit status 1 after Deno's own report).
   */
  #crashed(side: StartedSide): boolean {
    const { signal, success } = side.status!;
    if (signal !== null) return !this.#stoppedByRunner.has(side.child.pid);
    return !success && this.#panicked.has(side.label);
  }

  /** Whether the input file was written to (or truncated) since the run opened it. */
  #inputChanged(): boolean {
    const was = this.#inputWas;
    return was !== null && stampOf(was.fd) !== was.stamp;
  }

  #result(inputSha256: string | null, outputs: (string | null)[], error?: string): DemoResult {
    const server = this.#stats.get("server");
    const labels = Array.from({ length: this.#clients }, (_, i) => this.#clientLabel(i));
    const each = labels.map((label) => this.#stats.get(label));
    // With several clients: all the bytes they received, until the last of them was done.
    const client = each.length === 1 ? each[0] : {
      bytes: each.every((stats) => stats !== undefined)
        ? each.reduce((sum, stats) => sum + stats!.bytes, 0)
        : undefined,
      startedAt: Math.min(...each.map((stats) => stats?.startedAt ?? Infinity)),
      stoppedAt: each.every((stats) => stats?.stoppedAt !== undefined)
        ? Math.max(...each.map((stats) => stats!.stoppedAt!))
        : undefined,
    };
    const bytes = client?.bytes ?? this.#copied;
    const exact = labels.every((_, i) => inputSha256 !== null && outputs[i] === inputSha256);
    // The transfer starts when the server starts sending, or when the client is ready to
    // receive if it started later (the pipe lesson's client is still starting up while the
    // first bytes wait in the pipe): process start-up is not part of the transfer.
    const start = Math.max(server?.startedAt ?? NaN, client?.startedAt ?? -Infinity);
    const seconds = Number.isFinite(start) && client?.stoppedAt !== undefined
      ? Math.max(0, client.stoppedAt - start) / 1000
      : null;
    const report = (label: string): ProcessReport | null => {
      const pid = this.#pids.get(label);
      if (pid === undefined) return null;
      const status = this.#started.find((s) => s.label === label)?.status;
      const stats = this.#stats.get(label);
      return {
        pid,
        exitCode: status ? (status.signal ? null : status.code) : (stats ? 0 : null),
        signal: status?.signal ?? null,
        peakRssBytes: stats?.peakRssBytes ?? null,
        userSeconds: stats?.userSeconds ?? null,
        systemSeconds: stats?.systemSeconds ?? null,
      };
    };
    return {
      method: this.lesson.method,
      bytes,
      chunks: server?.chunks ?? 0,
      chunkBytes: this.chunk,
      seconds,
      mibPerSecond: seconds !== null && speedMeans(bytes, seconds) && exact
        ? bytes / 1048576 / seconds
        : null,
      inputSha256,
      outputSha256: outputs[0] ?? null,
      byteExact: exact,
      server: report("server"),
      client: report(labels[0]!),
      ...(labels.length === 1 ? {} : {
        clients: labels.map((label, i) => ({
          ...(report(label) ?? nobody),
          label,
          bytes: this.#stats.get(label)?.bytes ?? null,
          outputSha256: outputs[i] ?? null,
          byteExact: inputSha256 !== null && outputs[i] === inputSha256,
        })),
      }),
      ...(error === undefined ? {} : { error }),
    };
  }

  #printSummary(result: DemoResult, input: string, output: string): void {
    const inputName = input === lessons.SAMPLE_INPUT
      ? "lessons/sample.txt"
      : this.common.size !== undefined
      ? "random input"
      : oneLine(input);
    const outputName = this.common.output === undefined
      ? "temporary output, removed"
      : oneLine(output);
    const lines = result.clients === undefined
      ? [
        this.#sideSummary("server", result.server),
        this.#sideSummary("client", result.client),
        timingSummary(result),
        `input  sha256 ${result.inputSha256 ?? "-"}  ${inputName}`,
        `output sha256 ${result.outputSha256 ?? "-"}  ${outputName}`,
        `byte-exact copy: ${result.byteExact ? "yes" : "NO"}`,
      ]
      : [
        this.#sideSummary("server", result.server),
        ...result.clients.map((client) =>
          `${this.#sideSummary(client.label, client)}; byte-exact copy: ${
            client.byteExact ? "yes" : "NO"
          }`
        ),
        timingSummary(result),
        `input  sha256 ${result.inputSha256 ?? "-"}  ${inputName}`,
        `byte-exact copies: ${
          result.clients.filter((client) => client.byteExact).length
        } of ${result.clients.length} (${outputName})`,
      ];
    for (const line of lines) this.#say(line, "summary");
  }

  /**
   * One side's own figures: the server counts its writes into the channel, the client its reads
   * out of it. A side that was killed reported nothing; for the client, the runner still saw how
   * far its output file had grown.
   */
  #sideSummary(label: string, report: ProcessReport | null): string {
    const stats = this.#stats.get(label);
    const role = label === "server" ? "server" : "client";
    const who = this.#clients > 1 && report !== null ? `${label} (process ${report.pid})` : label;
    if (stats !== undefined) {
      const [verb, calls] = role === "server" ? ["sent", "write"] : ["received", "read"];
      const count = `${stats.chunks} ${calls}${stats.chunks === 1 ? "" : "s"}`;
      const exact = stats.bytes < 1024 ? "" : ` (${stats.bytes} bytes)`; // "0 bytes" says it all
      return `the ${who} ${verb} ${formatBytes(stats.bytes)}${exact} in ${count}`;
    }
    const how = report?.signal ? `was killed by ${report.signal}` : "did not finish";
    const seen = role === "client" && this.#clients === 1
      ? `; its output had reached ${formatBytes(this.#copied)}`
      : "";
    return `the ${who} ${how} and reported no figures${seen}`;
  }
}

/** A path as a summary line shows it: as it is, or quoted if it would break the line. */
function oneLine(path: string): string {
  return /[\n\r]/.test(path) ? JSON.stringify(path) : path;
}

/** A colour or style of a terminal: ESC [ … m. */
// deno-lint-ignore no-control-regex -- ESC is what the expression looks for
const ANSI_COLOUR = /\x1b\[[0-9;]*m/g;

/** A process the runner has no figures of (for a client that never started). */
const nobody: ProcessReport = {
  pid: 0,
  exitCode: null,
  signal: null,
  peakRssBytes: null,
  userSeconds: null,
  systemSeconds: null,
};

/** Below this many bytes, process start-up and the first wake-ups dominate: no speed is given. */
const SMALLEST_TIMED_BYTES = 1024 * 1024;

/** Whether a speed says something of the channel: not when start-up and wake-ups dominate. */
function speedMeans(bytes: number, seconds: number): boolean {
  return bytes >= SMALLEST_TIMED_BYTES && seconds >= 0.01;
}

/** How long the transfer took, and its speed, or why no speed is given. */
function timingSummary(result: DemoResult): string {
  if (result.seconds === null) return "no transfer time: a side did not report its clock";
  const time = `the transfer took ${result.seconds.toFixed(6)} s`;
  if (!result.byteExact) return `${time}; no speed given: the copy failed`;
  if (!speedMeans(result.bytes, result.seconds)) {
    return `${time}; no speed given: below ${
      formatBytes(SMALLEST_TIMED_BYTES)
    } or 10 ms, start-up and wake-ups dominate, not the channel`;
  }
  return `${time} (${result.mibPerSecond!.toFixed(1)} MiB/s)`;
}

/**
 * The lock's name in the abstract namespace for `key`: readable in `ss -xl` when it fits in
 * the 107 bytes of `sun_path`, else a SHA-256 of it.
 */
function lockName(key: string): string {
  const name = `${lessons.NAME_PREFIX}demo ${key}`;
  if (new TextEncoder().encode(name).length <= 107) return name;
  return `${lessons.NAME_PREFIX}demo sha256:${createHash("sha256").update(key).digest("hex")}`;
}

/** A file's size and its modification and change times, through its descriptor. */
function stampOf(fd: number): string {
  const info = Deno.statSync(`/proc/self/fd/${fd}`);
  return `${info.size} ${info.mtime?.getTime()} ${info.ctime?.getTime()}`;
}

function printJson(result: DemoResult): void {
  console.log(JSON.stringify(result));
}
