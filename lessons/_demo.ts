/**
 * The demo: both sides of a lesson as two real processes, narrated, timed and verified.
 *
 * The runner
 * 1. checks the input and the output before anything starts (one clear line if they are bad);
 * 2. starts the server and the client as separate Deno processes (for the pipe lesson, only
 *    the server, which starts the client itself as pipe + fork do);
 * 3. relays what each side says, with its role and pid, and draws a progress bar;
 * 4. waits for both, stopping the survivor if its peer failed, and forwarding Ctrl-C;
 * 5. verifies the copy by streaming SHA-256 of both files, and only then moves it into place;
 * 6. removes everything the run created, including what a killed side left behind.
 *
 * A byte stream (pipe, FIFO) cannot tell a crashed writer from a short file: the reader just
 * sees end-of-file. The runner still catches it, from the exit statuses and the digests.
 *
 * @module
 */

import { TextLineStream } from "./_lines.ts";
import { basename, dirname, join, resolve } from "node:path";
import type { CommonOptions } from "./_cli.ts";
import { checkInput, checkOutput, pathExists, sha256File, writeRandomFile } from "./_files.ts";
import { isRunning } from "../transports/_holders.ts";
import {
  commonArgs,
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
    const runDir = Deno.makeTempDirSync({ dir: tempDir(), prefix: `${NAME_PREFIX}run-` });
    let staging: string | null = null;
    let objects: KernelObject[] = [];
    try {
      // 1. The input and the output, checked before anything starts.
      const input = this.#prepareInput(runDir);
      const output = this.#common.output ?? join(runDir, "output.bin");
      checkOutput(output, input);
      // The client writes here; only a verified copy is moved to the output path.
      staging = join(dirname(resolve(output)), `.${basename(output)}.${Deno.pid}.unverified`);

      // 2. Both sides, as separate processes.
      const demo = this.#lesson.prepareDemo(this.#options);
      objects = demo.objects;
      const shared = [...commonArgs(this.#common, this.#chunk), "--events", ...demo.args];
      this.#say(
        `copying ${this.#describeInput(input)} from a server process to a client process, ` +
          `${this.#chunk} bytes at a time`,
      );
      const kill = (role: SideRole) => killArgs(this.#common, role);
      if (this.#lesson.serverStartsClient) {
        const both = [...kill("server"), ...kill("client")];
        this.#start("server", [
          "server",
          "--input",
          input,
          "--output",
          staging,
          ...shared,
          ...both,
        ]);
      } else {
        this.#start("server", ["server", "--input", input, ...shared, ...kill("server")]);
        this.#start("client", ["client", "--output", staging, ...shared, ...kill("client")]);
      }

      // 3. Wait for both sides, and for everything they said.
      await this.#waitForSides();
      this.#bar?.clear();

      // 4. Remove what a killed or failed side left behind.
      this.#removeLeftovers(staging, objects);

      // 5. Verify.
      return await this.#verify(input, output, staging);
    } catch (error) {
      this.#stopAll("SIGTERM");
      const { message, status } = describeError(error);
      this.#error(message);
      if (this.#common.json && status !== 2) this.#printJson(this.#result(null, null, message));
      return status;
    } finally {
      for (const timer of this.#timers) clearTimeout(timer);
      if (staging) removeQuietly(staging);
      Deno.removeSync(runDir, { recursive: true });
    }
  }

  #prepareInput(runDir: string): string {
    if (this.#common.size !== undefined) {
      const path = join(runDir, "random-input.bin");
      writeRandomFile(path, this.#common.size);
      this.#inputSize = this.#common.size;
      return path;
    }
    const path = this.#common.input ?? SAMPLE_INPUT;
    this.#inputSize = checkInput(path);
    return path;
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
          this.#common.timeoutMs / 1000
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

  #removeLeftovers(staging: string, objects: KernelObject[]): void {
    // A client killed before it could clean up leaves its partial file.
    const dir = dirname(staging);
    for (const entry of Deno.readDirSync(dir)) {
      if (entry.name.startsWith(basename(staging) + ".") && entry.name.endsWith(".partial")) {
        removeQuietly(join(dir, entry.name));
        this.#say(`removed the partial output ${entry.name} that the client left`);
      }
    }
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

  async #verify(input: string, output: string, staging: string): Promise<number> {
    if (this.#interrupted) {
      // Nothing to verify: the transfer was stopped on purpose.
      if (this.#common.json) this.#printJson(this.#result(null, null, "interrupted"));
      this.#error(
        `interrupted by ${this.#interrupted.signal}: stopped both sides and removed what they created`,
      );
      return this.#interrupted.status;
    }
    // The client may have written a copy even though its server died: a byte stream cannot
    // tell a crash from the end of the file. The digests show the difference.
    const produced = pathExists(staging);
    const inputSha256 = produced ? await sha256File(input) : null;
    const outputSha256 = produced ? await sha256File(staging) : null;
    const byteExact = outputSha256 === inputSha256;

    const failure = this.#failure(byteExact, produced);
    if (failure === null && this.#common.output !== undefined) Deno.renameSync(staging, output);

    const result = this.#result(inputSha256, outputSha256, failure ?? undefined);
    if (this.#common.json) this.#printJson(result);
    else this.#printSummary(result, input, output);

    // Print the runner's own error only if no side has already said what went wrong.
    if (failure !== null && this.#sideErrors.length === 0) this.#error(failure);
    if (failure === null) return 0;
    // A side that was interrupted (Ctrl-C, SIGTERM) passes its status on: 130 or 143.
    const interrupted = this.#started.find((s) =>
      (s.status!.code === 130 || s.status!.code === 143) && !this.#stoppedByRunner.has(s.child.pid)
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

function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch { /* already gone */ }
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
