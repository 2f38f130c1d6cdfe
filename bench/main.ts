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
 * Runs are interleaved (A B C D A B C D …) so that drift on a noisy machine hits every method.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { parseSize } from "../lessons/_cli.ts";
import { findLeftovers } from "../lessons/_leftovers.ts";
import { pipeMaxSize } from "../transports/pipe.ts";
import { queueLimits } from "../transports/mq.ts";
import { sourceBlock, StreamChecksum } from "./_checksum.ts";
import type { PeerReport } from "./_peer.ts";
import { chartSvg, markdownReport, printTables } from "./_report.ts";

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

const USAGE = `usage: deno task bench [--quick] [--size N] [--runs N] [--iterations N]
                       [--methods pipe,fifo,mq,shm] [--pin none|same] [--c auto|off|PATH]
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

let parsed;
try {
  parsed = parseArgs({
    args: Deno.args,
    strict: true,
    options: {
      quick: { type: "boolean" },
      size: { type: "string" },
      runs: { type: "string" },
      iterations: { type: "string" },
      methods: { type: "string", default: "pipe,fifo,mq,shm" },
      pin: { type: "string", default: "none" },
      c: { type: "string", default: "auto" },
      json: { type: "boolean" },
      out: { type: "string" },
      help: { type: "boolean" },
    },
  }).values;
} catch (error) {
  console.error(`error: ${(error as Error).message.split(".")[0]}\n${USAGE}`);
  Deno.exit(2);
}
if (parsed.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const quick = parsed.quick === true;
const SIZE = parseSize(parsed.size ?? (quick ? "16M" : "256M"), "--size", 1);
const RUNS = Number(parsed.runs ?? (quick ? 2 : 5));
const LATENCY_RUNS = quick ? 1 : 3;
const ITERATIONS = Number(parsed.iterations ?? (quick ? 1000 : 10000));
const METHODS = parsed.methods.split(",").filter(Boolean);
const PIN = parsed.pin;
for (const method of METHODS) {
  if (!["pipe", "fifo", "mq", "shm"].includes(method)) {
    console.error(`error: unknown method ${method}\n${USAGE}`);
    Deno.exit(2);
  }
}
if (PIN !== "none" && PIN !== "same") {
  console.error(`error: --pin must be none or same\n${USAGE}`);
  Deno.exit(2);
}

const KiB = 1024;
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const PEER = here("./_peer.ts");
const progress = (text: string) => {
  if (!parsed.json) console.error(text);
};

/** The largest message a queue may hold here: mq's "chunk" is its message size. */
const MQ_MSGSIZE = queueLimits().msgsize;

/** One throughput configuration: which method, which chunk (or message, or slot) size. */
interface Config {
  method: string;
  chunk: number;
}

const CHUNKS = quick ? [64 * KiB] : [4 * KiB, 64 * KiB, MiB];
const channelConfigs: Config[] = METHODS.flatMap((method) =>
  method === "mq"
    ? [...new Set(quick ? [MQ_MSGSIZE] : [4 * KiB, MQ_MSGSIZE])].map((chunk) => ({ method, chunk }))
    : CHUNKS.map((chunk) => ({ method, chunk }))
);
/** File mode runs each lesson's demo exactly as it comes: its own default chunk (and ring). */
const fileConfigs: Config[] = METHODS.map((method) => ({ method, chunk: 0 }));
const LATENCY_SIZES = [64, 4 * KiB];

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

/** One throughput row of the report. */
export interface ThroughputResult {
  method: string;
  mode: "channel" | "file";
  chunk: number;
  bytes: number;
  runs: number;
  mibPerSecond: { median: number; min: number; max: number };
  cpuSecondsPerGiB: { server: number; client: number };
  peakRssBytes: { server: number; client: number };
  /** The C reference in the same run (channel mode), when it was measured. */
  c?: { mibPerSecond: { median: number; min: number; max: number }; chunkUsed: number };
}

/** One latency row of the report. */
export interface LatencyResult {
  method: string;
  messageSize: number;
  iterations: number;
  roundTripMicros: { median: number; p99: number };
  c?: { roundTripMicros: { median: number; p99: number } };
}

/** The whole report (what --json prints). */
export interface BenchReport {
  date: string;
  machine: Record<string, string | number>;
  settings: { size: number; runs: number; latencyRuns: number; iterations: number; pin: string };
  throughput: ThroughputResult[];
  latency: LatencyResult[];
  baseline: {
    memcpyMiBPerSecond: number;
    checksumMiBPerSecond: number;
    c?: { memcpy: number; checksum: number };
  };
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const percentile = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
};
const spread = (xs: number[]) => ({
  median: median(xs),
  min: Math.min(...xs),
  max: Math.max(...xs),
});

// ---------------------------------------------------------------------------------------------
// Running processes
// ---------------------------------------------------------------------------------------------

const running = new Set<Deno.ChildProcess>();
let sequence = 0;

/** A unique name for one measurement's channel, removed by the cleanup below if left. */
function channelName(method: string): string {
  const name = `ipc-lesson-bench-${Deno.pid}-${(++sequence).toString(16)}`;
  return method === "fifo" ? join(Deno.env.get("TMPDIR") || "/tmp", name) : `/${name}`;
}

/** `command args`, pinned to CPU 0 with taskset when --pin same. */
function spawn(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Deno.ChildProcess {
  const [program, argv] = PIN === "same"
    ? ["taskset", ["-c", "0", command, ...args]]
    : [command, args];
  const child = new Deno.Command(program, {
    args: argv,
    env,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  running.add(child);
  child.status.finally(() => running.delete(child));
  return child;
}

/** Waits for processes and returns each one's JSON lines; a failure stops the benchmark. */
async function collect(children: Deno.ChildProcess[], what: string): Promise<PeerReport[]> {
  const outputs = await Promise.all(children.map((child) => child.output()));
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

function peer(args: string[]): Deno.ChildProcess {
  return spawn(Deno.execPath(), ["run", "-A", PEER, ...args]);
}

/** One channel-mode transfer; returns MiB/s, and CPU and memory for each process. */
async function channelRun({ method, chunk }: Config) {
  const name = channelName(method);
  const common = ["--size", String(SIZE), "--chunk", String(chunk), "--name", name];
  if (method === "shm") common.push("--slots", String(Math.max(2, MiB / chunk)));
  // The pipe's sender starts its receiver itself; the others are started side by side.
  const children = method === "pipe"
    ? [peer(["xfer", method, "send", ...common])]
    : [peer(["xfer", method, "recv", ...common]), peer(["xfer", method, "send", ...common])];
  const reports = await collect(children, `${method} channel transfer`);
  const send = reports.find((r) => r.role === "send")!;
  const recv = reports.find((r) => r.role === "recv")!;
  const expected = new StreamChecksum();
  const block = sourceBlock(4 << 20);
  for (let sent = 0; sent < SIZE; sent += block.length) {
    expected.update(block.subarray(0, Math.min(block.length, SIZE - sent)));
  }
  if (recv.checksum !== expected.digest()) {
    throw new Error(`${method}: the checksum does not match`);
  }
  const seconds = (recv.stoppedAt! - Math.max(send.startedAt!, recv.startedAt!)) / 1000;
  return {
    mibPerSecond: SIZE / MiB / seconds,
    cpu: { server: send.cpuSeconds! / (SIZE / GiB), client: recv.cpuSeconds! / (SIZE / GiB) },
    rss: { server: send.peakRssBytes!, client: recv.peakRssBytes! },
  };
}

/** One file-mode transfer: the lesson's own demo, with --json. */
async function fileRun({ method }: Config, input: string) {
  const lesson = here(`../lessons/${method}/main.ts`);
  const args = [
    "run",
    "-A",
    lesson,
    "--json",
    "--quiet",
    "--input",
    input,
  ];
  const output = await spawn(Deno.execPath(), args).output();
  const result = JSON.parse(new TextDecoder().decode(output.stdout));
  if (!output.success || !result.byteExact) {
    throw new Error(`${method} file transfer failed: ${result.error}`);
  }
  const cpu = (side: { userSeconds: number; systemSeconds: number }) =>
    (side.userSeconds + side.systemSeconds) / (SIZE / GiB);
  return {
    mibPerSecond: result.mibPerSecond as number,
    chunk: result.chunkBytes as number,
    cpu: { server: cpu(result.server), client: cpu(result.client) },
    rss: {
      server: result.server.peakRssBytes as number,
      client: result.client.peakRssBytes as number,
    },
  };
}

/** One latency run; returns every round trip in µs. */
async function latencyRun(method: string, size: number): Promise<number[]> {
  const name = channelName(method);
  const common = [
    "--size",
    String(size),
    "--iterations",
    String(ITERATIONS),
    "--warmup",
    String(Math.min(1000, ITERATIONS / 10)),
    "--name",
    name,
  ];
  const children = method === "pipe"
    ? [peer(["lat", method, "ping", ...common])]
    : [peer(["lat", method, "pong", ...common]), peer(["lat", method, "ping", ...common])];
  const reports = await collect(children, `${method} latency`);
  return reports.find((r) => r.role === "ping")!.roundTripsMicros!;
}

// ---------------------------------------------------------------------------------------------
// The C reference
// ---------------------------------------------------------------------------------------------

const C_METHOD: Record<string, string> = { pipe: "pipe", fifo: "fifo", mq: "pmq", shm: "pshm" };

/** Builds (or finds) the C reference; null when there is none, with the reason. */
async function prepareC(workDir: string): Promise<{ binary: string | null; note: string }> {
  if (parsed!.c === "off") return { binary: null, note: "C reference skipped (--c off)" };
  const source = parsed!.c === "auto" ? here("../../shared/refbench/refbench.c") : parsed!.c;
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

async function cRun(binary: string, args: string[]): Promise<Record<string, unknown>> {
  // The lessons' pipes and FIFOs are raised to pipe-max-size: give C's the same size.
  const output = await spawn(binary, args, { REFBENCH_PIPE_SZ: String(pipeMaxSize()) }).output();
  const line = new TextDecoder().decode(output.stdout).trim().split("\n").at(-1) ?? "";
  if (!output.success || !line.startsWith("{")) {
    throw new Error(`refbench ${args.join(" ")} failed`);
  }
  return JSON.parse(line);
}

// ---------------------------------------------------------------------------------------------
// Baselines: the limit of any copy, and the cost of the checksum
// ---------------------------------------------------------------------------------------------

function baselines(): { memcpyMiBPerSecond: number; checksumMiBPerSecond: number } {
  const block = sourceBlock(4 << 20);
  const target = new Uint8Array(64 * KiB);
  const copies: number[] = [];
  const sums: number[] = [];
  for (let run = 0; run < 3; run++) {
    let started = performance.now();
    for (let done = 0; done < SIZE; done += target.length) {
      const offset = done % block.length;
      target.set(block.subarray(offset, offset + target.length));
    }
    copies.push(SIZE / MiB / ((performance.now() - started) / 1000));
    const checksum = new StreamChecksum();
    started = performance.now();
    for (let done = 0; done < SIZE; done += 64 * KiB) {
      const offset = done % block.length;
      checksum.update(block.subarray(offset, offset + 64 * KiB));
    }
    sums.push(SIZE / MiB / ((performance.now() - started) / 1000));
  }
  return { memcpyMiBPerSecond: median(copies), checksumMiBPerSecond: median(sums) };
}

// ---------------------------------------------------------------------------------------------
// The machine
// ---------------------------------------------------------------------------------------------

function machine(cNote: string): Record<string, string | number> {
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
    pin: PIN,
    cReference: cNote,
  };
}

// ---------------------------------------------------------------------------------------------
// Cleanup, even when interrupted
// ---------------------------------------------------------------------------------------------

const workDir = Deno.makeTempDirSync({ prefix: "ipc-lesson-run-bench-" });

function cleanUp(): void {
  for (const child of running) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }
  for (const object of findLeftovers().found) {
    if (object.path.includes(`ipc-lesson-bench-${Deno.pid}-`)) {
      try {
        object.remove();
      } catch { /* gone */ }
    }
  }
  try {
    Deno.removeSync(workDir, { recursive: true });
  } catch { /* gone */ }
}

for (const [signal, status] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  Deno.addSignalListener(signal, () => {
    cleanUp();
    console.error(`interrupted by ${signal}: stopped the benchmark and removed what it created`);
    Deno.exit(status);
  });
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

async function main(): Promise<BenchReport> {
  const started = performance.now();
  const c = await prepareC(workDir);
  progress(`${c.note}\n${SIZE / MiB} MiB per transfer, ${RUNS} interleaved runs, pin: ${PIN}`);

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
  for (let run = 1; run <= RUNS; run++) {
    for (const config of channelConfigs) {
      const key = `${config.method}/${config.chunk}`;
      const entry = channel.get(key) ?? { mib: [], cpu: [], rss: [], c: [], cChunk: config.chunk };
      channel.set(key, entry);
      const result = await channelRun(config);
      entry.mib.push(result.mibPerSecond);
      entry.cpu.push(result.cpu);
      entry.rss.push(result.rss);
      if (c.binary) {
        const cResult = await cRun(c.binary, [
          "xfer",
          C_METHOD[config.method]!,
          String(SIZE),
          String(config.chunk),
        ]);
        entry.c.push(cResult["mib_per_s"] as number);
        entry.cChunk = (cResult["chunk_used"] as number | undefined) ?? config.chunk;
      }
      progress(
        `run ${run}/${RUNS}  channel ${key.padEnd(12)} ${
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
    for (let done = 0; done < SIZE;) {
      done += file.writeSync(block.subarray(0, Math.min(block.length, SIZE - done)));
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
  for (let run = 1; run <= RUNS; run++) {
    for (const config of fileConfigs) {
      const result = await fileRun(config, input);
      const key = `${config.method}/${result.chunk}`;
      const entry = file.get(key) ?? { mib: [], cpu: [], rss: [] };
      file.set(key, entry);
      entry.mib.push(result.mibPerSecond);
      entry.cpu.push(result.cpu);
      entry.rss.push(result.rss);
      progress(
        `run ${run}/${RUNS}  file    ${key.padEnd(12)} ${
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
  for (let run = 1; run <= LATENCY_RUNS; run++) {
    for (const method of METHODS) {
      for (const size of LATENCY_SIZES) {
        const key = `${method}/${size}`;
        const entry = latency.get(key) ?? { medians: [], p99s: [], cMedians: [], cP99s: [] };
        latency.set(key, entry);
        const samples = await latencyRun(method, size);
        entry.medians.push(median(samples));
        entry.p99s.push(percentile(samples, 0.99));
        if (c.binary) {
          const cResult = await cRun(c.binary, [
            "lat",
            C_METHOD[method]!,
            String(size),
            String(ITERATIONS),
          ]);
          entry.cMedians.push(cResult["median_us"] as number);
          entry.cP99s.push(cResult["p99_us"] as number);
        }
        progress(
          `run ${run}/${LATENCY_RUNS}  latency ${key.padEnd(12)} ${
            median(samples).toFixed(1).padStart(6)
          } µs${entry.cMedians.length ? `   C ${entry.cMedians.at(-1)!.toFixed(1)}` : ""}`,
        );
      }
    }
  }

  // Baselines.
  const base = baselines();
  let cBase: { memcpy: number; checksum: number } | undefined;
  if (c.binary) {
    const memcpy = await cRun(c.binary, ["memcpy", String(SIZE), String(64 * KiB)]);
    const hash = await cRun(c.binary, ["hash", String(SIZE), String(64 * KiB)]);
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
      bytes: SIZE,
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
    const [method, size] = key.split("/");
    const row: LatencyResult = {
      method: method!,
      messageSize: Number(size),
      iterations: ITERATIONS,
      roundTripMicros: { median: median(entry.medians), p99: median(entry.p99s) },
    };
    if (entry.cMedians.length) {
      row.c = { roundTripMicros: { median: median(entry.cMedians), p99: median(entry.cP99s) } };
    }
    return row;
  });
  progress(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return {
    date: new Date().toISOString(),
    machine: machine(c.note),
    settings: {
      size: SIZE,
      runs: RUNS,
      latencyRuns: LATENCY_RUNS,
      iterations: ITERATIONS,
      pin: PIN,
    },
    throughput,
    latency: latencyRows,
    baseline: { ...base, ...(cBase ? { c: cBase } : {}) },
  };
}

let status = 0;
try {
  const report = await main();
  if (parsed.json) console.log(JSON.stringify(report, null, 2));
  else printTables(report);
  if (parsed.out) {
    Deno.mkdirSync(parsed.out, { recursive: true });
    Deno.writeTextFileSync(join(parsed.out, "report.md"), markdownReport(report));
    Deno.writeTextFileSync(join(parsed.out, "chart.svg"), chartSvg(report));
    progress(`wrote ${join(parsed.out, "report.md")} and ${join(parsed.out, "chart.svg")}`);
  }
} catch (error) {
  console.error(`error: ${(error as Error).message}`);
  status = 1;
} finally {
  cleanUp();
}
Deno.exit(status);
