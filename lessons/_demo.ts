/**
 * The demo: both sides of a lesson as two real processes, narrated, timed and verified.
 *
 * The runner
 * 1. checks the input, the output and the free space before anything starts (one clear line
 *    if something is wrong), and takes a lock on every name the run will use, so that two
 *    demos given the same `--path` or `--name` cannot trip over each other;
 * 2. opens the input, and makes the copy as an unnamed file (`O_TMPFILE`) in the output's
 *    directory: the sides reach both as `/proc/RUNNER/fd/N`, so the demo needs no temporary
 *    names at all, and if the runner dies, even by SIGKILL, the kernel frees them;
 * 3. starts the server and the client as separate Deno processes (for the pipe lesson, only
 *    the server, which starts the client itself as pipe + fork do); each asks the kernel for
 *    SIGTERM should the runner die, and then cleans up;
 * 4. relays what each side says, with its role and pid, and draws a progress bar;
 * 5. waits for both, stopping the survivor if its peer failed, and forwarding Ctrl-C;
 * 6. verifies the copy by streaming SHA-256 of both files, and only then gives it its name
 *    (`linkat`), with the input's permission bits;
 * 7. removes what a killed side of this run left behind.
 *
 * A byte stream (pipe, FIFO) cannot tell a crashed writer from a short file: the reader just
 * sees end-of-file. The runner still catches it, from the exit statuses and the digests.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { basename } from "node:path";
import { TextLineStream } from "./_lines.ts";
import { type CommonOptions, formatSeconds } from "./_cli.ts";
import {
  checkOutput,
  checkSpace,
  fillRandom,
  InputFile,
  LessonError,
  type OutputTarget,
  sha256Fd,
  type SpaceNeed,
  UnnamedFile,
} from "./_files.ts";
import { isRunning } from "../transports/holders.ts";
import { bindAbstractLock, close } from "../transports/libc.ts";
import {
  commonArgs,
  joinedArgs,
  type KernelObject,
  killArgs,
  type Lesson,
  NAME_PREFIX,
  SAMPLE_INPUT,
  sideCommand,
  tempDir,
} from "./_lesson.ts";
import {
  type Event,
  formatBytes,
  formatLine,
  parseEvent,
  ProgressBar,
  type SideStats,
  stderrHasColor,
  writeStderr,
} from "./_log.ts";
import { describeError, STOP_SIGNALS } from "./_side.ts";

/** How long a side may take to notice that its peer has gone before the runner stops it. */
const GRACE_MS = 2000;

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
  client: ProcessReport | null;
  error?: string;
}

/** What the runner knows about one side's process. */
export interface ProcessReport {
  pid: number;
  /** Exit code, or null when a signal ended the process. */
  exitCode: number | null;
  /** The signal that ended the process, if one did. */
  signal: string | null;
  peakRssBytes: number | null;
  userSeconds: number | null;
  systemSeconds: number | null;
}

type SideRole = "server" | "client";

interface Started {
  role: SideRole;
  child: Deno.ChildProcess;
  relays: Promise<void>[];
  status?: Deno.CommandStatus;
}

class Demo<O> {
  #lesson: Lesson<O>;
  #common: CommonOptions;
  #options: O;
  #chunk: number;
  #color = stderrHasColor();
  #bar: ProgressBar | null;
  #started: Started[] = [];
  /** Pids of the sides, as they announce themselves (the pipe lesson's client is a grandchild). */
  #pids = new Map<SideRole, number>();
  #stats = new Map<SideRole, SideStats>();
  #bytesSeen = new Map<SideRole, number>();
  #sideErrors: string[] = [];
  #interrupted: { signal: Deno.Signal; status: number } | null = null;
  #inputSize = 0;
  #timers: ReturnType<typeof setTimeout>[] = [];
  #lastEventAt = performance.now();
  #watchdog: ReturnType<typeof setInterval> | undefined;
  #stoppedByRunner = new Set<number>();

  constructor(lesson: Lesson<O>, common: CommonOptions, options: O, chunk: number) {
    this.#lesson = lesson;
    this.#common = common;
    this.#options = options;
    this.#chunk = chunk;
    this.#bar = Deno.stderr.isTerminal() && !common.quiet && !common.json
      ? new ProgressBar()
      : null;
  }

  #print(line: string): void {
    if (this.#bar) this.#bar.print(line);
    else writeStderr(line);
  }

  /** The runner's own narration. */
  #say(text: string): void {
    if (this.#common.quiet || this.#common.json) return;
    this.#print(formatLine("runner", Deno.pid, text, { color: this.#color }));
  }

  /** A summary line: shown with --quiet too, but not with --json. */
  #summary(text: string): void {
    if (this.#common.json) return;
    this.#print(formatLine("runner", Deno.pid, text, { color: this.#color }));
  }

  #error(text: string): void {
    this.#bar?.clear();
    this.#print(formatLine("runner", Deno.pid, text, { color: this.#color, kind: "error" }));
  }

  async run(): Promise<number> {
    for (const [signal, status] of STOP_SIGNALS) {
      Deno.addSignalListener(signal, () => this.#interrupt(signal, status));
    }
    // Everything the run holds open: the input, the unnamed files, the locks. Closing an
    // unnamed file frees it; closing a lock's socket releases the lock.
    const held: Disposable[] = [];
    let objects: KernelObject[] = [];
    try {
      // 1. The input, the output and the space they need, checked before anything starts.
      const common = this.#common;
      const input = common.size === undefined
        ? this.#hold(held, new InputFile(common.input ?? SAMPLE_INPUT))
        : null;
      this.#inputSize = input?.size ?? common.size!;
      const target = common.output === undefined
        ? null
        : checkOutput(common.output, { force: common.force, input: input ?? undefined });
      const needs: SpaceNeed[] = [];
      if (input === null) {
        needs.push({ dir: tempDir(), bytes: this.#inputSize, what: "the random input" });
      }
      needs.push({
        dir: target?.dir ?? tempDir(),
        bytes: this.#inputSize,
        what: common.output === undefined
          ? "the copy"
          : `the copy ${JSON.stringify(common.output)}`,
      });
      checkSpace(needs);

      // 2. The names the run will use: while it runs, no other demo may use them.
      const demo = this.#lesson.prepareDemo(this.#options);
      for (const lock of this.#lockNames(demo.objects, target)) held.push(lock);
      objects = demo.objects;

      // 3. The files the sides reach through /proc/RUNNER/fd/N: the input (for --size, an
      //    unnamed file of random bytes) and the copy, unnamed in the output's directory.
      const source = input ?? this.#hold(held, await this.#randomInput());
      const copy = this.#hold(
        held,
        new UnnamedFile(target?.dir ?? tempDir(), {
          name: common.output === undefined ? undefined : basename(common.output),
          fail: (why) => new LessonError(`cannot create output ${this.#outputName()}: ${why}`),
        }),
      );

      // 4. Both sides, as separate processes. Every value is joined to its option
      //    (--input=-dash.txt), so that no value is mistaken for an option.
      const shared = [
        ...commonArgs(common, this.#chunk),
        "--events",
        `--parent=${Deno.pid}`,
        ...joinedArgs(demo.args, this.#lesson.options),
      ];
      const inputArgs = [
        `--input=${input?.path ?? "random input"}`,
        `--input-via=/proc/${Deno.pid}/fd/${source.fd}`,
      ];
      const outputArgs = [
        `--output=${common.output ?? "temporary output"}`,
        `--output-via=${copy.procPath}`,
      ];
      this.#say(
        `copying ${this.#describeInput(input?.path ?? "")} from a server process to a client ` +
          `process, ${this.#chunk} bytes at a time`,
      );
      const kill = (role: SideRole) => killArgs(common, role);
      if (this.#lesson.serverStartsClient) {
        const both = [...kill("server"), ...kill("client")];
        this.#start("server", ["server", ...inputArgs, ...outputArgs, ...shared, ...both]);
      } else {
        this.#start("server", ["server", ...inputArgs, ...shared, ...kill("server")]);
        this.#start("client", ["client", ...outputArgs, ...shared, ...kill("client")]);
      }

      // 5. Wait for both sides, and for everything they said.
      await this.#waitForSides();
      this.#bar?.clear();

      // 6. Remove what a killed or failed side left behind.
      this.#removeLeftovers(objects);

      // 7. Verify, and only then give the copy its name.
      return await this.#verify(source, copy, input?.path ?? "");
    } catch (error) {
      this.#stopAll("SIGTERM");
      const { message, status } = describeError(error);
      this.#error(message);
      if (this.#common.json && status !== 2) this.#printJson(this.#result(null, null, message));
      return status;
    } finally {
      for (const timer of this.#timers) clearTimeout(timer);
      for (const resource of held.reverse()) resource[Symbol.dispose]();
    }
  }

  /** Adds `resource` to what the run holds until it ends; returns it. */
  #hold<T extends Disposable>(held: Disposable[], resource: T): T {
    held.push(resource);
    return resource;
  }

  /** The output as messages name it. */
  #outputName(): string {
    const output = this.#common.output;
    return output === undefined ? "(a temporary file)" : JSON.stringify(output);
  }

  /**
   * `--size`: an unnamed file of random bytes in the temporary directory. Writing many
   * gigabytes takes a while, so Ctrl-C is looked for after every mebibyte.
   */
  async #randomInput(): Promise<UnnamedFile> {
    const file = new UnnamedFile(tempDir(), {
      fail: (why) =>
        new LessonError(`cannot create the random input in ${JSON.stringify(tempDir())}: ${why}`),
    });
    this.#say(
      `writing ${formatBytes(this.#inputSize)} of random bytes into an unnamed file ` +
        `(O_TMPFILE) in ${tempDir()}`,
    );
    try {
      const done = await fillRandom(file.fd, this.#inputSize, () => this.#interrupted !== null);
      if (!done) {
        throw new LessonError(
          `interrupted by ${this.#interrupted!.signal} while writing the random input: ` +
            "nothing was started, nothing is left",
          { status: this.#interrupted!.status },
        );
      }
      return file;
    } catch (error) {
      file.close();
      throw error;
    }
  }

  /**
   * Takes a lock on every object the run will create, and on the output path: an abstract
   * Unix socket bound to a name derived from it. The kernel lets only one process bind a name,
   * and releases it when that process dies, however it dies: a second demo given the same
   * `--path` or `--name` is refused with one line, and the first is left alone.
   */
  #lockNames(objects: KernelObject[], target: OutputTarget | null): Disposable[] {
    const option = ["path", "name"].find((name) => name in this.#lesson.options) ?? "name";
    const wanted = objects.map((object) => ({
      key: object.description,
      taken: `${object.description} is in use by another demo that is running now: wait for ` +
        `it to finish, or choose another --${option}`,
    }));
    if (target !== null) {
      // The directory by device and inode: every spelling of the same path takes one lock.
      const dir = Deno.statSync(target.dir);
      wanted.push({
        key: `output ${dir.dev}:${dir.ino}/${basename(this.#common.output!)}`,
        taken: `another demo is writing the output ${this.#outputName()} right now: wait for ` +
          "it to finish, or choose another --output",
      });
    }
    const locks: Disposable[] = [];
    try {
      for (const { key, taken } of wanted) {
        const fd = bindAbstractLock(lockName(key));
        if (fd === null) throw new LessonError(taken);
        locks.push({ [Symbol.dispose]: () => close(fd) });
      }
      // prepareDemo() found none of the objects there; one that has appeared since was made by
      // someone who is not a demo: leave it alone.
      for (const object of objects) {
        if (object.exists()) {
          throw new LessonError(
            `${object.description} appeared just now: another program is using it; choose ` +
              `another --${option}`,
          );
        }
      }
      return locks;
    } catch (error) {
      for (const lock of locks) lock[Symbol.dispose]();
      throw error;
    }
  }

  #describeInput(path: string): string {
    const size = formatBytes(this.#inputSize);
    if (this.#common.size !== undefined) return `${size} of random bytes`;
    if (path === SAMPLE_INPUT) return `the sample text lessons/sample.txt (${size})`;
    return `${JSON.stringify(path)} (${size})`;
  }

  #start(role: SideRole, args: string[]): void {
    const command = sideCommand(this.#lesson.entry, args, {
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
    const child = command.spawn();
    this.#pids.set(role, child.pid);
    if (this.#common.trace) {
      this.#say(`started ${role}: deno run … ${args.join(" ")}`);
    }
    this.#say(`started the ${role} as process ${child.pid}`);
    this.#started.push({
      role,
      child,
      relays: [this.#relay(child.stderr, role), this.#relay(child.stdout, role)],
    });
  }

  /** Reads a side's output line by line: events are handled, anything else is shown as is. */
  async #relay(stream: ReadableStream<Uint8Array>, role: SideRole): Promise<void> {
    const lines = stream.pipeThrough(new TextDecoderStream()).pipeThrough(new TextLineStream());
    for await (const line of lines) {
      const event = parseEvent(line);
      if (event) this.#handle(event);
      else if (line.trim() !== "") this.#print(formatLine(role, "?", line, { color: this.#color }));
    }
  }

  #handle(event: Event): void {
    if (event.role !== "server" && event.role !== "client") return;
    this.#pids.set(event.role, event.pid);
    this.#lastEventAt = performance.now();
    switch (event.t) {
      case "say":
        if (!this.#common.json) {
          this.#print(formatLine(event.role, event.pid, event.text, { color: this.#color }));
        }
        break;
      case "trace":
        if (!this.#common.json) {
          this.#print(
            formatLine(event.role, event.pid, event.text, { color: this.#color, kind: "trace" }),
          );
        }
        break;
      case "error":
        if (this.#interrupted) {
          // The runner is stopping the run on purpose (Ctrl-C, SIGTERM, SIGHUP): what a side
          // says as it goes ("interrupted", or EPIPE because its peer went first) follows from
          // that. The runner's own line says what happened, as the one error.
          if (!this.#common.quiet && !this.#common.json) {
            this.#print(formatLine(event.role, event.pid, event.text, { color: this.#color }));
          }
          break;
        }
        this.#sideErrors.push(event.text);
        this.#bar?.clear();
        this.#print(
          formatLine(event.role, event.pid, event.text, { color: this.#color, kind: "error" }),
        );
        break;
      case "progress":
        this.#bytesSeen.set(event.role, event.bytes);
        if (event.role === "client") this.#bar?.update(event.bytes, this.#inputSize);
        break;
      case "stats":
        this.#stats.set(event.role, event.stats);
        this.#bytesSeen.set(event.role, event.stats.bytes);
        // A side the runner did not start (the pipe lesson's client) is done: watch the other.
        if (!this.#started.some((s) => s.role === event.role)) this.#watchForHang(event.role);
        break;
    }
  }

  async #waitForSides(): Promise<void> {
    await Promise.all(this.#started.map(async (started) => {
      started.status = await started.child.status;
      if (this.#interrupted) return;
      if (!started.status.success) this.#stopPeersLater(started.role);
      this.#watchForHang(started.role);
    }));
    clearInterval(this.#watchdog);
    await Promise.all(this.#started.flatMap((started) => started.relays));
    // A side the runner did not start itself (the pipe lesson's client) must be gone too.
    for (let waited = 0; this.#anyAlive(); waited += 50) {
      if (waited >= 2 * GRACE_MS) this.#stopAll("SIGKILL");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /**
   * One side is done (it exited, or sent its final statistics): the other must finish too, or
   * at least keep making progress.
   */
  #watchForHang(finished: SideRole): void {
    if (this.#interrupted) return;
    this.#watchdog ??= setInterval(() => this.#checkForHang(finished), 250);
  }

  /**
   * After `finished` has exited, a side that says nothing for longer than the timeout (plus a
   * grace period) is hung, for example stopped with SIGSTOP: the runner stops it.
   */
  #checkForHang(finished: SideRole): void {
    if (performance.now() - this.#lastEventAt < this.#common.timeoutMs + GRACE_MS) return;
    this.#lastEventAt = performance.now();
    for (const [role, pid] of this.#pids) {
      if (role === finished || !isRunning(pid)) continue;
      this.#error(
        `the ${role} made no progress for ${
          formatSeconds(this.#common.timeoutMs / 1000)
        } s after the ${finished} exited: stopping it`,
      );
      this.#sideErrors.push(`the ${role} hung`);
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
  #stopPeersLater(failed: SideRole): void {
    const stop = (signal: Deno.Signal) => {
      for (const [role, pid] of this.#pids) {
        if (role !== failed && isRunning(pid)) {
          if (signal === "SIGTERM") this.#say(`stopping the ${role}: the ${failed} has failed`);
          this.#stop(pid, signal);
        }
      }
    };
    this.#timers.push(setTimeout(() => stop("SIGTERM"), GRACE_MS));
    this.#timers.push(setTimeout(() => stop("SIGKILL"), 2 * GRACE_MS));
  }

  #anyAlive(): boolean {
    return [...this.#pids.values()].some(isRunning);
  }

  #interrupt(signal: Deno.Signal, status: number): void {
    if (this.#interrupted) return;
    this.#interrupted = { signal, status };
    this.#stopAll(signal);
    this.#timers.push(setTimeout(() => this.#stopAll("SIGKILL"), 3000));
  }

  #stopAll(signal: Deno.Signal): void {
    for (const pid of this.#pids.values()) if (isRunning(pid)) stopProcess(pid, signal);
  }

  /**
   * Removes what a side of this run left behind (a killed side cannot clean up). These are
   * this run's own: prepareDemo() found none of them before the sides started, and the run's
   * locks kept every other demo away from their names since.
   */
  #removeLeftovers(objects: KernelObject[]): void {
    const clean = this.#started.every((s) => s.status?.success) && !this.#interrupted;
    for (const object of objects) {
      if (!object.exists()) continue;
      object.remove();
      if (clean) {
        // Both sides said they finished, yet something is left: that is a bug in the lesson.
        this.#sideErrors.push(`${object.description} was left behind`);
        this.#error(
          `${object.description} was left behind by a side that exited normally; removed it`,
        );
      } else {
        this.#say(`removed ${object.description}, left behind by a side that did not finish`);
      }
    }
  }

  /** The run was interrupted (Ctrl-C, SIGTERM, SIGHUP): one line, and 128 + the signal. */
  #interruptedExit(when: string): number {
    const { signal, status } = this.#interrupted!;
    if (this.#common.json) this.#printJson(this.#result(null, null, "interrupted"));
    this.#error(`interrupted by ${signal}${when}`);
    return status;
  }

  async #verify(source: { fd: number; permissions?: number }, copy: UnnamedFile, input: string) {
    if (this.#interrupted) {
      // Nothing to verify: the transfer was stopped on purpose.
      return this.#interruptedExit(": stopped both sides and removed what they created");
    }
    // The client may have written a copy even though its server died: a byte stream cannot
    // tell a crash from the end of the file. The digests show the difference.
    const produced = this.#stats.get("client")?.outputComplete === true;
    if (produced) this.#say("checking the copy: SHA-256 of the input and of the output");
    const stop = () => this.#interrupted !== null;
    const inputSha256 = produced ? await sha256Fd(source.fd, stop) : null;
    const outputSha256 = inputSha256 !== null ? await sha256Fd(copy.fd, stop) : null;
    if (this.#interrupted) {
      const placed = this.#common.output === undefined
        ? ""
        : `, and ${this.#outputName()} was not written`;
      return this.#interruptedExit(` while checking the copy: the copy was discarded${placed}`);
    }
    const byteExact = inputSha256 !== null && outputSha256 === inputSha256;

    let failure = this.#failure(byteExact, produced);
    // A side that only says it was interrupted (the pipe lesson's client, told by the kernel
    // that its server died) has not said what went wrong: the runner must.
    let printed = this.#sideErrors.some((text) => !text.startsWith("interrupted by"));
    const output = this.#common.output;
    if (failure === null && output !== undefined) {
      // Verified: now, and only now, the copy gets its name, and the input's permissions.
      try {
        copy.setPermissions(source.permissions ?? 0o600);
        copy.link(output, this.#common.force);
        this.#say(`the copy is byte-exact: linked it into place as ${this.#outputName()}`);
      } catch (error) {
        failure = describeError(error).message;
        printed = false;
      }
    }

    const result = this.#result(inputSha256, outputSha256, failure ?? undefined);
    if (this.#common.json) this.#printJson(result);
    else this.#printSummary(result, input, output ?? "");

    // Print the runner's own error only if no side has already said what went wrong.
    if (failure !== null && !printed) this.#error(failure);
    if (failure === null) return 0;
    // A side that was interrupted (Ctrl-C, SIGTERM, SIGHUP) passes its status on.
    const interrupted = this.#started.find((s) =>
      [129, 130, 143].includes(s.status!.code) && !this.#stoppedByRunner.has(s.child.pid)
    );
    return interrupted?.status?.code ?? 1;
  }

  /** Why the run failed, or null when it succeeded. */
  #failure(byteExact: boolean, produced: boolean): string | null {
    for (const started of this.#started) {
      const status = started.status!;
      if (status.signal) {
        const bytes = formatBytes(
          this.#bytesSeen.get("client") ?? this.#bytesSeen.get(started.role) ?? 0,
        );
        return `the ${started.role} was killed by ${status.signal} after ${bytes}: transfer incomplete`;
      }
      if (!status.success) {
        return this.#sideErrors[0] ?? `the ${started.role} exited with status ${status.code}`;
      }
    }
    if (this.#sideErrors.length > 0) return this.#sideErrors[0]!;
    if (!produced) return "the client produced no output";
    if (!byteExact) return "the output differs from the input: the copy is not byte-exact";
    return null;
  }

  #result(inputSha256: string | null, outputSha256: string | null, error?: string): DemoResult {
    const server = this.#stats.get("server");
    const client = this.#stats.get("client");
    const bytes = client?.bytes ?? this.#bytesSeen.get("client") ?? 0;
    // The transfer starts when the server starts sending, or when the client is ready to
    // receive if it started later (the pipe lesson's client is still starting up while the
    // first bytes wait in the pipe): process start-up is not part of the transfer.
    const start = Math.max(server?.startedAt ?? NaN, client?.startedAt ?? -Infinity);
    const seconds = Number.isFinite(start) && client?.stoppedAt !== undefined
      ? Math.max(0, client.stoppedAt - start) / 1000
      : null;
    const result: DemoResult = {
      method: this.#lesson.method,
      bytes,
      chunks: server?.chunks ?? 0,
      chunkBytes: this.#chunk,
      seconds,
      mibPerSecond: seconds ? bytes / 1048576 / seconds : null,
      inputSha256,
      outputSha256,
      byteExact: inputSha256 !== null && inputSha256 === outputSha256,
      server: this.#report("server"),
      client: this.#report("client"),
    };
    if (error !== undefined) result.error = error;
    return result;
  }

  #report(role: SideRole): ProcessReport | null {
    const pid = this.#pids.get(role);
    if (pid === undefined) return null;
    const status = this.#started.find((s) => s.role === role)?.status;
    const stats = this.#stats.get(role);
    return {
      pid,
      exitCode: status ? (status.signal ? null : status.code) : (stats ? 0 : null),
      signal: status?.signal ?? null,
      peakRssBytes: stats?.peakRssBytes ?? null,
      userSeconds: stats?.userSeconds ?? null,
      systemSeconds: stats?.systemSeconds ?? null,
    };
  }

  #printJson(result: DemoResult): void {
    console.log(JSON.stringify(result));
  }

  #printSummary(result: DemoResult, input: string, output: string): void {
    const rate = result.mibPerSecond === null ? "" : ` (${result.mibPerSecond.toFixed(1)} MiB/s)`;
    const time = result.seconds === null ? "" : ` in ${result.seconds.toFixed(6)} s${rate}`;
    this.#summary(
      `moved ${formatBytes(result.bytes)} (${result.bytes} bytes) in ${result.chunks} chunk${
        result.chunks === 1 ? "" : "s"
      }${time}`,
    );
    const inputName = input === SAMPLE_INPUT
      ? "lessons/sample.txt"
      : this.#common.size !== undefined
      ? "random input"
      : input;
    const outputName = this.#common.output === undefined ? "temporary output, removed" : output;
    this.#summary(`input  sha256 ${result.inputSha256 ?? "-"}  ${inputName}`);
    this.#summary(`output sha256 ${result.outputSha256 ?? "-"}  ${outputName}`);
    this.#summary(`byte-exact copy: ${result.byteExact ? "yes" : "NO"}`);
  }
}

/**
 * The lock's name in the abstract namespace for `key`: readable in `ss -xl` when it fits in
 * the 107 bytes of `sun_path`, else a SHA-256 of it.
 */
function lockName(key: string): string {
  const name = `${NAME_PREFIX}demo ${key}`;
  if (new TextEncoder().encode(name).length <= 107) return name;
  return `${NAME_PREFIX}demo sha256:${createHash("sha256").update(key).digest("hex")}`;
}

/**
 * Sends `signal` to a side. A side that is stopped (SIGSTOP, Ctrl-Z, `--kill-after …:STOP`)
 * only acts on it once continued, so it also gets SIGCONT.
 */
function stopProcess(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
    if (signal !== "SIGKILL") Deno.kill(pid, "SIGCONT");
  } catch { /* already gone */ }
}

/** Runs the demo of `lesson`; resolves to the exit status. */
export function runDemo<O>(
  lesson: Lesson<O>,
  common: CommonOptions,
  options: O,
  chunk: number,
): Promise<number> {
  return new Demo(lesson, common, options, chunk).run();
}
