/**
 * `deno task bench`: which IPC method is fastest, and why, measured on this machine.
 *
 *     deno task bench                  the full run (about 2–3 minutes on 2 cores)
 *     deno task bench --quick          a smaller run (under 20 seconds)
 *     deno task bench --json           one JSON document on stdout
 *     deno task bench --out DIR        also a Markdown report and an SVG chart in DIR
 *
 * What it measures, with the lessons' own transports (no special fast paths):
 * - throughput, `channel` mode: in-memory data through the channel, checked by a checksum:
 *   the cost of the IPC alone; `file` mode: file → channel → file, the lesson's demo itself;
 * - latency: ping-pong round trips of 64-byte and 4 KiB messages;
 * - baselines in the same run: a single-process copy of the same size (the limit of any copy),
 *   and the receivers' checksum alone;
 * - the C reference (../shared/refbench, built with cc when it is there), for ratios.
 *
 * Every lesson of the registry (`lessons/registry.ts`) is measured; its channel is the one its
 * transport exports (see `transports/channel.ts`), so this file names no method. Runs are
 * interleaved (A B C D A B C D …) so that drift on a noisy machine hits every method.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { join, resolve } from "node:path";
import { LESSONS, METHODS } from "../lessons/registry.ts";
import type { ChannelAdapter, ChannelPlace, PlaceMade } from "../transports/channel.ts";
import { Interrupted } from "../transports/errors.ts";
import { findLeftovers, loadFinders } from "../transports/leftovers.ts";
import { pipeMaxSize } from "../transports/pipe.ts";
import { typedIn } from "../transports/files.ts";
import { parseSize } from "../transports/units.ts";
import { abortOnStopSignals } from "../transports/wait.ts";
import { lessonNamed, loadChannel, ROOT } from "./_channels.ts";
import { sourceBlock, StreamChecksum } from "./_checksum.ts";
import type { PeerReport } from "./_peer.ts";
import {
  type BenchReport,
  chartSvg,
  type LatencyResult,
  markdownReport,
  printTables,
  type Spread,
  type ThroughputResult,
} from "./_report.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const PEER = here("./_peer.ts");
/** Where channels that are files (FIFOs) are made. */
const TMP = Deno.env.get("TMPDIR") || "/tmp";
/** Every object a run makes starts with this: what the cleanup looks for. */
const PREFIX = `ipc-lesson-bench-${Deno.pid}-`;
/** The message sizes of the latency runs. */
const LATENCY_SIZES = [64, 4 * KiB];

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

const USAGE = `usage: deno task bench [--quick] [--size N] [--runs N] [--iterations N]
                       [--methods ${METHODS.join(",")}] [--pin none|same] [--c auto|off|PATH]
                       [--json] [--out DIR]

  --size N         bytes per throughput run (default 256M; --quick: 16M)
  --runs N         runs of each throughput measurement, interleaved (default 5; --quick: 2)
  --iterations N   round trips per latency run (default 10000; --quick: 1000)
  --methods LIST   which lessons (default all)
  --pin same       run both processes on CPU 0 (stable numbers on 2 vCPUs; see the README)
  --c PATH         the C reference: refbench.c or a built binary (default: ../shared/refbench
                   when it exists); off to skip it
  --json           print one JSON document on stdout
  --out DIR        write DIR/report.md and DIR/chart.svg`;

/** What the command line asks for. */
interface Settings {
  quick: boolean;
  size: number;
  runs: number;
  latencyRuns: number;
  iterations: number;
  methods: string[];
  pin: "none" | "same";
  c: string;
  json: boolean;
  out?: string;
}

/** A bad command line: its one line, printed above the usage. */
class UsageError extends Error {}

/** Reads the command line; null for `--help`. */
function parseOptions(args: string[]): Settings | null {
  let values;
  try {
    values = parseArgs({
      args,
      strict: true,
      options: {
        quick: { type: "boolean" },
        size: { type: "string" },
        runs: { type: "string" },
        iterations: { type: "string" },
        methods: { type: "string", default: METHODS.join(",") },
        pin: { type: "string", default: "none" },
        c: { type: "string", default: "auto" },
        json: { type: "boolean" },
        out: { type: "string" },
        help: { type: "boolean" },
      },
    }).values;
  } catch (error) {
    throw new UsageError((error as Error).message.split(".")[0]);
  }
  if (values.help) return null;
  const quick = values.quick === true;
  let size;
  try {
    size = parseSize(values.size ?? (quick ? "16M" : "256M"), "--size", 1);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const methods = values.methods.split(",").filter(Boolean);
  if (methods.length === 0) throw new UsageError("--methods names no method");
  for (const method of methods) {
    if (!lessonNamed(method)) throw new UsageError(`unknown method ${method}`);
  }
  if (values.pin !== "none" && values.pin !== "same") {
    throw new UsageError("--pin must be none or same");
  }
  // An explicit C reference that is not there is a mistake, not a reason to skip C.
  const c = values.c === "auto" || values.c === "off" ? values.c : resolve(typedIn(), values.c);
  if (c !== "auto" && c !== "off" && !isFile(c)) {
    throw new UsageError(
      `--c ${JSON.stringify(c)} is not a file: give refbench.c or a built binary, or off`,
    );
  }
  return {
    quick,
    size,
    runs: count(values.runs, "--runs", quick ? 2 : 5, [1, 1000]),
    latencyRuns: quick ? 1 : 3,
    iterations: count(values.iterations, "--iterations", quick ? 1000 : 10000, [10, 10_000_000]),
    methods,
    pin: values.pin,
    c,
    json: values.json === true,
    out: values.out === undefined ? undefined : resolve(typedIn(), values.out),
  };
}

/** A whole-number option from `min` to `max` (`fallback` when not given). */
function count(
  text: string | undefined,
  option: string,
  fallback: number,
  [min, max]: [number, number],
): number {
  if (text === undefined) return fallback;
  const value = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) {
    throw new UsageError(
      `${option} must be a whole number from ${min} to ${max}: got ${JSON.stringify(text)}`,
    );
  }
  return value;
}

/** Whether `path` is a file (following links). */
function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * Makes sure the report can be written into `dir` before minutes of measuring: creates it if
 * needed, and writes and removes a probe file. Throws with one line saying why not.
 */
function checkOutDir(dir: string): void {
  let info: Deno.FileInfo | null = null;
  try {
    info = Deno.statSync(dir);
  } catch { /* not there yet: made below */ }
  if (info !== null && !info.isDirectory) {
    throw new UsageError(`--out ${JSON.stringify(dir)} is not a folder: the report is two files`);
  }
  try {
    Deno.mkdirSync(dir, { recursive: true });
    const probe = Deno.makeTempFileSync({ dir, prefix: ".bench-probe-" });
    Deno.removeSync(probe);
  } catch (error) {
    const why = error instanceof Error ? error.message.replace(/ \(os error \d+\).*$/, "") : error;
    throw new UsageError(`--out ${JSON.stringify(dir)}: cannot write the report there: ${why}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const percentile = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
};
const spread = (xs: number[]): Spread => ({
  median: median(xs),
  min: Math.min(...xs),
  max: Math.max(...xs),
});

// ---------------------------------------------------------------------------------------------
// Running processes
// ---------------------------------------------------------------------------------------------

/** One method to measure: its lesson's name and channel (null: the transport exports none). */
interface Method {
  method: string;
  main: string;
  channel: ChannelAdapter | null;
  /** Measured somewhere else than this host's loopback (a row of its own: "tcp veth"). */
  place?: ChannelPlace;
}

/** One throughput configuration: which method, which chunk (or message, or slot) size. */
interface Config {
  method: Method;
  chunk: number;
  /** File mode: more arguments for the demo (a registry entry's `variants`). */
  args?: string[];
}

/**
 * One run of the benchmark: its settings, the processes it has started, and the signal that
 * Ctrl-C aborts.
 */
class Bench {
  readonly settings: Settings;
  readonly signal: AbortSignal;
  readonly running = new Set<Deno.ChildProcess>();
  #sequence = 0;

  constructor(settings: Settings, signal: AbortSignal) {
    this.settings = settings;
    this.signal = signal;
  }

  /** Prints a progress line on stderr (none with --json). */
  progress(text: string): void {
    if (!this.settings.json) console.error(text);
  }

  /** A unique word for one measurement's channel, removed by the cleanup if left. */
  channelName(): string {
    return `${PREFIX}${(++this.#sequence).toString(16)}`;
  }

  /** `command args`, pinned to CPU 0 with taskset when --pin same. */
  spawn(command: string, args: string[], env: Record<string, string> = {}): Deno.ChildProcess {
    const [program, argv] = this.settings.pin === "same"
      ? ["taskset", ["-c", "0", command, ...args]]
      : [command, args];
    const child = new Deno.Command(program, {
      args: argv,
      env,
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    this.running.add(child);
    child.status.finally(() => this.running.delete(child));
    return child;
  }

  /** Waits for `promise`; rejects at once with the reason (Interrupted) on Ctrl-C. */
  untilDone<T>(promise: Promise<T>): Promise<T> {
    if (this.signal.aborted) return Promise.reject(this.signal.reason);
    return new Promise<T>((resolve, reject) => {
      const abort = () => reject(this.signal.reason);
      this.signal.addEventListener("abort", abort, { once: true });
      promise.then(resolve, reject).finally(() => this.signal.removeEventListener("abort", abort));
    });
  }

  /** Waits for processes and returns each one's JSON lines; a failure stops the benchmark. */
  async collect(children: Deno.ChildProcess[], what: string): Promise<PeerReport[]> {
    const outputs = await this.untilDone(Promise.all(children.map((child) => child.output())));
    const reports: PeerReport[] = [];
    for (const output of outputs) {
      const stderr = new TextDecoder().decode(output.stderr).trim();
      if (!output.success) {
        throw new Error(`${what} failed (status ${output.code}): ${stderr.split("\n").at(-1)}`);
      }
      for (const line of new TextDecoder().decode(output.stdout).split("\n")) {
        if (line.startsWith("{")) reports.push(JSON.parse(line));
      }
    }
    return reports;
  }

  /**
   * The measuring processes of one run: for a named channel both sides (the second one given
   * first); for an inherited one only the first, which starts its peer itself (as the pipe
   * lesson's server starts its client).
   */
  peers(
    method: Method,
    mode: string,
    roles: [string, string],
    args: string[],
    place: PlaceMade | null = null,
  ) {
    const peer = (role: string) => {
      const argv = [Deno.execPath(), "run", "-A", PEER, mode, lessonOf(method), role, ...args];
      const [command, ...rest] = place?.launch(role as "send" | "recv", argv) ?? argv;
      return this.spawn(command!, rest);
    };
    return method.channel?.kind === "inherited"
      ? [peer(roles[0])]
      : [peer(roles[1]), peer(roles[0])];
  }

  /** Kills what still runs, and removes what this run made (also after Ctrl-C). */
  async cleanUp(workDir: string): Promise<void> {
    for (const child of this.running) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }
    // Once they are gone, what is left with this run's prefix is this run's; and never remove
    // what a process still holds (a System V finder also reports the lessons' stale keys).
    await Promise.all([...this.running].map((child) => child.status));
    const finders = await loadFinders(LESSONS.map((lesson) => new URL(lesson.transport, ROOT)));
    for (const object of findLeftovers(finders, { prefix: PREFIX, dir: TMP }).found) {
      if (object.holders.length > 0) continue;
      try {
        object.remove();
      } catch { /* gone */ }
    }
    try {
      Deno.removeSync(workDir, { recursive: true });
    } catch { /* gone */ }
  }
}

// ---------------------------------------------------------------------------------------------
// The measurements
// ---------------------------------------------------------------------------------------------

/** The lesson a method's row measures: "tcp" for "tcp veth". */
const lessonOf = (method: Method) => method.place ? method.method.split(" ")[0]! : method.method;

/** The checksums the receivers must report, by size: the sender's data, made once. */
const expectedChecksums = new Map<number, string>();

/** The checksum of the `size` bytes a sender sends (`sourceBlock(size)`, as `_peer.ts` sends). */
function expectedChecksum(size: number): string {
  let digest = expectedChecksums.get(size);
  if (digest === undefined) {
    const expected = new StreamChecksum();
    expected.update(sourceBlock(size));
    digest = expected.digest();
    expectedChecksums.set(size, digest);
  }
  return digest;
}

/** One channel-mode transfer; returns MiB/s, and CPU and memory for each process. */
async function channelRun(bench: Bench, { method, chunk }: Config) {
  const { size } = bench.settings;
  const args = [
    "--size",
    String(size),
    "--chunk",
    String(chunk),
    "--name",
    bench.channelName(),
    "--dir",
    TMP,
    // A ring's slots are one chunk each, 1 MiB in all (at least two), like the C reference's.
    "--capacity",
    String(MiB),
  ];
  // Elsewhere (two network hosts): made for this measurement only, and removed after it.
  using place = method.place ? await method.place.enter() : null;
  if (place) args.push("--host", place.host);
  const children = bench.peers(method, "xfer", ["send", "recv"], args, place);
  const reports = await bench.collect(children, `${method.method} channel transfer`);
  const send = reports.find((r) => r.role === "send")!;
  const recv = reports.find((r) => r.role === "recv")!;
  if (recv.checksum !== expectedChecksum(size)) {
    throw new Error(`${method.method}: the checksum does not match`);
  }
  const seconds = (recv.stoppedAt! - Math.max(send.startedAt!, recv.startedAt!)) / 1000;
  return {
    mibPerSecond: size / MiB / seconds,
    cpu: { server: send.cpuSeconds! / (size / GiB), client: recv.cpuSeconds! / (size / GiB) },
    rss: { server: send.peakRssBytes!, client: recv.peakRssBytes! },
  };
}

/** One file-mode transfer: the lesson's own demo, with --json. */
async function fileRun(bench: Bench, { method, args: variant = [] }: Config, input: string) {
  const args = [
    "run",
    "-A",
    fileURLToPath(new URL(method.main, ROOT)),
    ...variant,
    "--json",
    "--quiet",
  ];
  const output = await bench.untilDone(
    bench.spawn(Deno.execPath(), [...args, "--input", input]).output(),
  );
  let result;
  try {
    result = JSON.parse(new TextDecoder().decode(output.stdout));
  } catch {
    const stderr = new TextDecoder().decode(output.stderr).trim();
    throw new Error(
      `${method.method} file transfer failed (status ${output.code}): ${stderr.split("\n").at(-1)}`,
    );
  }
  if (!output.success || !result.byteExact) {
    throw new Error(`${method.method} file transfer failed: ${result.error}`);
  }
  const cpu = (side: { userSeconds: number; systemSeconds: number }) =>
    (side.userSeconds + side.systemSeconds) / (bench.settings.size / GiB);
  // The speed from the demo's own clock: its `mibPerSecond` is null below 1 MiB or 10 ms (too
  // short to mean much to a reader), but every run of a measurement is timed the same way.
  const seconds = result.seconds as number | null;
  if (seconds === null || !(seconds > 0)) {
    throw new Error(`${method.method} file transfer: the demo reported no transfer time`);
  }
  return {
    mibPerSecond: bench.settings.size / MiB / seconds,
    chunk: result.chunkBytes as number,
    cpu: { server: cpu(result.server), client: cpu(result.client) },
    rss: {
      server: result.server.peakRssBytes as number,
      client: result.client.peakRssBytes as number,
    },
  };
}

/** One latency run; returns every round trip in µs. */
async function latencyRun(bench: Bench, method: Method, size: number): Promise<number[]> {
  const { iterations } = bench.settings;
  const args = [
    "--size",
    String(size),
    "--iterations",
    String(iterations),
    "--warmup",
    String(Math.min(1000, Math.floor(iterations / 10))),
    "--name",
    bench.channelName(),
    "--dir",
    TMP,
    // A ring of 16 slots of one message each.
    "--capacity",
    String(16 * size),
  ];
  const children = bench.peers(method, "lat", ["ping", "pong"], args);
  const reports = await bench.collect(children, `${method.method} latency`);
  return reports.find((r) => r.role === "ping")!.roundTripsMicros!;
}

// ---------------------------------------------------------------------------------------------
// The C reference
// ---------------------------------------------------------------------------------------------

/** Builds (or finds) the C reference; null when there is none, with the reason. */
async function prepareC(
  bench: Bench,
  workDir: string,
): Promise<{ binary: string | null; note: string }> {
  const wanted = bench.settings.c;
  if (wanted === "off") return { binary: null, note: "C reference skipped (--c off)" };
  const source = wanted === "auto" ? here("../../shared/refbench/refbench.c") : wanted;
  try {
    Deno.statSync(source);
  } catch {
    return { binary: null, note: `no C reference at ${source}: ratios to C are not measured` };
  }
  if (!source.endsWith(".c")) return { binary: source, note: `C reference: ${source}` };
  const binary = join(workDir, "refbench");
  const build = await new Deno.Command("cc", {
    args: ["-O2", "-o", binary, source, "-lrt", "-pthread"],
    stderr: "piped",
  }).output().catch(() => null);
  if (!build?.success) {
    return {
      binary: null,
      note: `could not build ${source} with cc: ratios to C are not measured`,
    };
  }
  return {
    binary,
    note:
      `C reference: ${source}, built with cc -O2, its pipes raised to pipe-max-size as the lessons do`,
  };
}

async function cRun(bench: Bench, binary: string, args: string[]) {
  // The lessons' pipes and FIFOs are raised to pipe-max-size: give C's the same size.
  const child = bench.spawn(binary, args, { REFBENCH_PIPE_SZ: String(pipeMaxSize()) });
  const output = await bench.untilDone(child.output());
  const line = new TextDecoder().decode(output.stdout).trim().split("\n").at(-1) ?? "";
  if (!output.success || !line.startsWith("{")) {
    throw new Error(`refbench ${args.join(" ")} failed`);
  }
  return JSON.parse(line) as Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// Baselines: the limit of any copy, and the cost of the checksum
// ---------------------------------------------------------------------------------------------

/**
 * A single-process copy of `size` bytes into a 64 KiB buffer, and the checksum over them: out of
 * a buffer as large as the transfer, as the senders' data and C's `refbench memcpy` are (a small
 * block copied over and over would stay in the CPU's cache).
 */
function baselines(size: number): { memcpyMiBPerSecond: number; checksumMiBPerSecond: number } {
  const source = sourceBlock(size);
  const target = new Uint8Array(64 * KiB);
  const copies: number[] = [];
  const sums: number[] = [];
  for (let run = 0; run < 3; run++) {
    let started = performance.now();
    for (let done = 0; done < size; done += target.length) {
      const piece = source.subarray(done, Math.min(size, done + target.length));
      target.set(piece);
    }
    copies.push(size / MiB / ((performance.now() - started) / 1000));
    const checksum = new StreamChecksum();
    started = performance.now();
    for (let done = 0; done < size; done += 64 * KiB) {
      checksum.update(source.subarray(done, Math.min(size, done + 64 * KiB)));
    }
    sums.push(size / MiB / ((performance.now() - started) / 1000));
  }
  return { memcpyMiBPerSecond: median(copies), checksumMiBPerSecond: median(sums) };
}

// ---------------------------------------------------------------------------------------------
// The machine
// ---------------------------------------------------------------------------------------------

function machine(pin: string, cNote: string): Record<string, string | number> {
  const read = (path: string) => {
    try {
      return Deno.readTextFileSync(path).trim();
    } catch {
      return "unknown";
    }
  };
  const cpu = read("/proc/cpuinfo").match(/^model name\s*:\s*(.+)$/m)?.[1] ?? "unknown";
  return {
    cpu,
    cpus: navigator.hardwareConcurrency,
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    mqMsgMax: Number(read("/proc/sys/fs/mqueue/msg_max")),
    mqMsgsizeMax: Number(read("/proc/sys/fs/mqueue/msgsize_max")),
    pipeMaxSize: pipeMaxSize(),
    pin,
    cReference: cNote,
    // Before the run: work of others that every figure of this run shares the CPUs with.
    loadAverage: Number(read("/proc/loadavg").split(" ")[0]),
  };
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

/** Measures everything the settings ask for; `workDir` holds the input file and refbench. */
async function measure(bench: Bench, workDir: string): Promise<BenchReport> {
  const { size, runs, latencyRuns, iterations, pin, quick } = bench.settings;
  const started = performance.now();
  const methods: Method[] = [];
  for (const name of bench.settings.methods) {
    const lesson = lessonNamed(name)!;
    const channel = await loadChannel(lesson);
    if (!channel) bench.progress(`${name}: its transport exports no channel: file mode only`);
    methods.push({ method: name, main: lesson.main, channel });
  }
  const measured = methods.filter((method) => method.channel !== null);
  // A channel may be measured in other places too, each a row of its own beside it: "tcp veth".
  const placed: Method[] = [];
  for (const method of measured) {
    if (method.channel?.kind !== "named" || !method.channel.places) continue;
    for (const place of await method.channel.places()) {
      placed.push({ ...method, method: `${method.method} ${place.name}`, place });
    }
  }
  // Each channel takes the chunks it can: a queue's "chunk" is its message, at most msgsize_max.
  const chunks = quick ? [64 * KiB] : [4 * KiB, 64 * KiB, MiB];
  const channelConfigs: Config[] = [...measured, ...placed].flatMap((method) => {
    const largest = method.channel!.maxPiece?.() ?? Infinity;
    return [...new Set(chunks.map((chunk) => Math.min(chunk, largest)))]
      .map((chunk) => ({ method, chunk }));
  });
  /** File mode runs each lesson's demo exactly as it comes: its own default chunk (and ring). */
  const fileConfigs: Config[] = methods.flatMap((method) => [
    { method, chunk: 0 },
    // Its variants, each a row of its own: "threads --model message".
    ...(lessonNamed(method.method)!.variants ?? []).map((args) => ({
      method: { ...method, method: [method.method, ...args].join(" ") },
      chunk: 0,
      args: [...args],
    })),
  ]);

  const c = await prepareC(bench, workDir);
  bench.progress(
    `${c.note}\n${size / MiB} MiB per transfer, ${runs} interleaved runs, pin: ${pin}`,
  );
  const load = Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  if (load >= navigator.hardwareConcurrency / 2) {
    bench.progress(
      `load average ${load} on ${navigator.hardwareConcurrency} CPUs: other work is running, so ` +
        "every figure will be low; compare the ratios to C, measured in the same run",
    );
  }
  // (The C reference runs on this host only: a row measured elsewhere has none beside it.)
  const refbench = (method: Method) =>
    c.binary === null || method.place ? undefined : method.channel?.refbench;

  // Throughput, channel mode (with the C reference beside each configuration).
  const channel = new Map<
    string,
    {
      mib: number[];
      cpu: { server: number; client: number }[];
      rss: { server: number; client: number }[];
      c: number[];
      cChunk: number;
    }
  >();
  for (let run = 1; run <= runs; run++) {
    for (const config of channelConfigs) {
      const key = `${config.method.method}/${config.chunk}`;
      const entry = channel.get(key) ?? { mib: [], cpu: [], rss: [], c: [], cChunk: config.chunk };
      channel.set(key, entry);
      const result = await channelRun(bench, config);
      entry.mib.push(result.mibPerSecond);
      entry.cpu.push(result.cpu);
      entry.rss.push(result.rss);
      const cMethod = refbench(config.method);
      if (cMethod) {
        const args = ["xfer", cMethod, String(size), String(config.chunk)];
        const cResult = await cRun(bench, c.binary!, args);
        entry.c.push(cResult["mib_per_s"] as number);
        entry.cChunk = (cResult["chunk_used"] as number | undefined) ?? config.chunk;
      }
      bench.progress(
        `run ${run}/${runs}  channel ${key.padEnd(12)} ${
          result.mibPerSecond.toFixed(0).padStart(6)
        } MiB/s${entry.c.length ? `   C ${entry.c.at(-1)!.toFixed(0)}` : ""}`,
      );
    }
  }

  // Throughput, file mode: the lessons' demos, on one input file.
  const input = join(workDir, "input.bin");
  {
    using file = Deno.openSync(input, { write: true, createNew: true });
    const block = sourceBlock(4 << 20, 3);
    for (let done = 0; done < size;) {
      done += file.writeSync(block.subarray(0, Math.min(block.length, size - done)));
    }
  }
  const file = new Map<
    string,
    {
      mib: number[];
      cpu: { server: number; client: number }[];
      rss: { server: number; client: number }[];
    }
  >();
  for (let run = 1; run <= runs; run++) {
    for (const config of fileConfigs) {
      const result = await fileRun(bench, config, input);
      const key = `${config.method.method}/${result.chunk}`;
      const entry = file.get(key) ?? { mib: [], cpu: [], rss: [] };
      file.set(key, entry);
      entry.mib.push(result.mibPerSecond);
      entry.cpu.push(result.cpu);
      entry.rss.push(result.rss);
      bench.progress(
        `run ${run}/${runs}  file    ${key.padEnd(12)} ${
          result.mibPerSecond.toFixed(0).padStart(6)
        } MiB/s`,
      );
    }
  }
  Deno.removeSync(input);

  // Latency.
  const latency = new Map<
    string,
    { medians: number[]; p99s: number[]; cMedians: number[]; cP99s: number[] }
  >();
  for (let run = 1; run <= latencyRuns; run++) {
    for (const method of measured) {
      for (const messageSize of LATENCY_SIZES) {
        const key = `${method.method}/${messageSize}`;
        const entry = latency.get(key) ?? { medians: [], p99s: [], cMedians: [], cP99s: [] };
        latency.set(key, entry);
        const samples = await latencyRun(bench, method, messageSize);
        entry.medians.push(median(samples));
        entry.p99s.push(percentile(samples, 0.99));
        const cMethod = refbench(method);
        if (cMethod) {
          const args = ["lat", cMethod, String(messageSize), String(iterations)];
          const cResult = await cRun(bench, c.binary!, args);
          entry.cMedians.push(cResult["median_us"] as number);
          entry.cP99s.push(cResult["p99_us"] as number);
        }
        bench.progress(
          `run ${run}/${latencyRuns}  latency ${key.padEnd(12)} ${
            median(samples).toFixed(1).padStart(6)
          } µs${entry.cMedians.length ? `   C ${entry.cMedians.at(-1)!.toFixed(1)}` : ""}`,
        );
      }
    }
  }

  // Baselines.
  const base = baselines(size);
  let cBase: { memcpy: number; checksum: number } | undefined;
  if (c.binary) {
    const memcpy = await cRun(bench, c.binary, ["memcpy", String(size), String(64 * KiB)]);
    const hash = await cRun(bench, c.binary, ["hash", String(size), String(64 * KiB)]);
    cBase = { memcpy: memcpy["mib_per_s"] as number, checksum: hash["mib_per_s"] as number };
  }

  const summarise = (
    mode: "channel" | "file",
    key: string,
    entry: {
      mib: number[];
      cpu: { server: number; client: number }[];
      rss: { server: number; client: number }[];
    },
  ) => {
    const [method, chunk] = key.split("/");
    const row: ThroughputResult = {
      method: method!,
      mode,
      chunk: Number(chunk),
      bytes: size,
      runs: entry.mib.length,
      mibPerSecond: spread(entry.mib),
      cpuSecondsPerGiB: {
        server: median(entry.cpu.map((x) => x.server)),
        client: median(entry.cpu.map((x) => x.client)),
      },
      peakRssBytes: {
        server: Math.max(...entry.rss.map((x) => x.server)),
        client: Math.max(...entry.rss.map((x) => x.client)),
      },
    };
    return row;
  };
  const throughput: ThroughputResult[] = [
    ...[...channel].map(([key, entry]) => {
      const row = summarise("channel", key, entry);
      if (entry.c.length) row.c = { mibPerSecond: spread(entry.c), chunkUsed: entry.cChunk };
      return row;
    }),
    ...[...file].map(([key, entry]) => summarise("file", key, entry)),
  ];
  const latencyRows: LatencyResult[] = [...latency].map(([key, entry]) => {
    const [method, messageSize] = key.split("/");
    const row: LatencyResult = {
      method: method!,
      messageSize: Number(messageSize),
      iterations,
      roundTripMicros: { median: median(entry.medians), p99: median(entry.p99s) },
    };
    if (entry.cMedians.length) {
      row.c = { roundTripMicros: { median: median(entry.cMedians), p99: median(entry.cP99s) } };
    }
    return row;
  });
  bench.progress(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return {
    date: new Date().toISOString(),
    machine: machine(pin, c.note),
    settings: { size, runs, latencyRuns, iterations, pin },
    throughput,
    latency: latencyRows,
    baseline: { ...base, ...(cBase ? { c: cBase } : {}) },
  };
}

/** The command: measures, prints, writes the report; returns the exit status. */
async function main(args: string[]): Promise<number> {
  let settings;
  try {
    settings = parseOptions(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`error: ${error.message}\n${USAGE}`);
    return 2;
  }
  if (settings === null) {
    console.log(USAGE);
    return 0;
  }
  if (settings.out !== undefined) {
    try {
      checkOutDir(settings.out);
    } catch (error) {
      console.error(`error: ${(error as Error).message}`);
      return 2;
    }
  }
  // Ctrl-C (or SIGTERM, SIGHUP) aborts the run; the cleanup below then removes what it made.
  const { signal } = abortOnStopSignals(new AbortController());
  const bench = new Bench(settings, signal);
  const workDir = Deno.makeTempDirSync({ prefix: "ipc-lesson-run-bench-" });
  // Held open for the whole run: a `deno task clean` meanwhile sees it in use, and spares it.
  using _held = Deno.openSync(workDir);
  try {
    const report = await measure(bench, workDir);
    if (settings.json) console.log(JSON.stringify(report, null, 2));
    else printTables(report);
    if (settings.out) {
      Deno.mkdirSync(settings.out, { recursive: true });
      Deno.writeTextFileSync(join(settings.out, "report.md"), markdownReport(report));
      Deno.writeTextFileSync(join(settings.out, "chart.svg"), chartSvg(report));
      bench.progress(
        `wrote ${join(settings.out, "report.md")} and ${join(settings.out, "chart.svg")}`,
      );
    }
    return 0;
  } catch (error) {
    if (error instanceof Interrupted) {
      console.error(
        `interrupted by ${error.signal}: stopped the benchmark and removed what it created`,
      );
      return error.status;
    }
    console.error(`error: ${(error as Error).message}`);
    return 1;
  } finally {
    await bench.cleanUp(workDir);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
