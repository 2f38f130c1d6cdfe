/**
 * `deno task bench:threads`: the threads lesson against the shared-memory lesson, in one run.
 *
 *     deno task bench:threads                  256 MiB × 5 runs, 10000 round trips
 *     deno task bench:threads --quick          32 MiB × 3 runs, 2000 round trips
 *
 * Throughput, 64 KiB chunks, in-memory data checked by the same checksum as `deno task bench`
 * (`bench/_peer.ts`), interleaved run by run:
 * - `shm`: the shared-memory lesson's ring (POSIX shared memory, two POSIX semaphores) between
 *   two processes, measured by `bench/_peer.ts` as `deno task bench` measures it;
 * - `threads shared`: the threads lesson's ring in a SharedArrayBuffer between two Workers;
 * - `threads message`: postMessage, transferring each chunk's buffer (a window of 16);
 * - `threads copy`: postMessage, cloning each chunk.
 *
 * Both rings hold 1 MiB (16 slots of 64 KiB), as in `deno task bench`. Latency: a round trip of
 * 64 bytes, spin-then-sleep (`SPIN_US` in transports/wait.ts), between threads on two shared
 * rings, and between processes on two shm rings.
 *
 * The threads lesson's transport exports no `channel` for `deno task bench`: its channel
 * cannot join two processes. `deno task bench` measures it in file mode (its demo, file to
 * file), in both models (`threads`, and the registry's variant `threads --model message`); this
 * file measures its channels.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { sourceBlock, StreamChecksum } from "./_checksum.ts";
import type { ThreadEnd, ThreadReport, ThreadTask } from "./_threads_peer.ts";
import type { PeerReport } from "./_peer.ts";
import { SharedRing } from "../transports/shared_ring.ts";
import { parseSize } from "../transports/units.ts";
import { Interrupted } from "../transports/errors.ts";
import { findLeftovers, loadFinders } from "../transports/leftovers.ts";
import { abortOnStopSignals, SPIN_US } from "../transports/wait.ts";

const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;
const CAPACITY = MiB;
const PEER = fileURLToPath(new URL("./_peer.ts", import.meta.url));
const TMP = Deno.env.get("TMPDIR") || "/tmp";

const USAGE = `usage: deno task bench:threads [--quick] [--size N] [--runs N] [--iterations N]

  --size N         bytes per throughput run, like 256M (default 256M; --quick: 32M)
  --runs N         runs of each throughput measurement, interleaved (default 5; --quick: 3)
  --iterations N   64-byte round trips per latency run (default 10000; --quick: 2000)`;

/** The command line, checked: one line and status 2 for anything wrong, no stack trace. */
function settings(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean" },
      size: { type: "string" },
      runs: { type: "string" },
      iterations: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const count = (text: string | undefined, fallback: number, what: string, min: number) => {
    if (text === undefined) return fallback;
    if (!/^\d+$/.test(text) || Number(text) < min || !Number.isSafeInteger(Number(text))) {
      throw new RangeError(
        `${what} must be a whole number, at least ${min}: got ${JSON.stringify(text)}`,
      );
    }
    return Number(text);
  };
  return {
    size: values.size === undefined
      ? (values.quick ? 32 * MiB : 256 * MiB)
      : parseSize(values.size, "--size", 1),
    runs: count(values.runs, values.quick ? 3 : 5, "--runs", 0),
    iterations: count(values.iterations, values.quick ? 2000 : 10000, "--iterations", 10),
  };
}

let parsed;
try {
  parsed = settings(Deno.args);
} catch (error) {
  console.error(`error: ${(error as Error).message}\n${USAGE}`);
  Deno.exit(2);
}
const { size, runs, iterations } = parsed;

let word = 0;
/** Every shm object of this run starts with this: what the cleanup looks for. */
const PREFIX = `ipc-lesson-bench-${Deno.pid}-threads-`;
/** A unique name for one shm measurement. */
const channelName = () => `${PREFIX}${word++}`;

/** The measuring processes that still run: killed on the way out. */
const running = new Set<Deno.ChildProcess>();
/** Ctrl-C, SIGTERM or SIGHUP aborts the run (then the cleanup below). */
const { signal } = abortOnStopSignals(new AbortController());

/** Waits for `promise`; rejects at once with the reason (Interrupted) on a stop signal. */
function untilDone<T>(promise: Promise<T>): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}

/** Kills the measuring processes that still run, and removes what they made. */
async function cleanUp(): Promise<void> {
  for (const child of running) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }
  await Promise.allSettled([...running].map((child) => child.status));
  const finders = await loadFinders([new URL("../transports/ring_buffer.ts", import.meta.url)]);
  for (const object of findLeftovers(finders, { prefix: PREFIX, dir: TMP }).found) {
    try {
      object.remove();
    } catch { /* gone */ }
  }
}

/** Runs one task on a new Worker; resolves to its report. */
function onThread(task: ThreadTask, transfer: Transferable[] = []): Promise<ThreadReport> {
  const worker = new Worker(new URL("./_threads_peer.ts", import.meta.url), { type: "module" });
  const report = new Promise<ThreadReport>((resolve, reject) => {
    worker.onmessage = (event) => resolve(event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      reject(new Error(event.message));
    };
    worker.postMessage(task, transfer);
  }).finally(() => worker.terminate());
  return untilDone(report);
}

/** Two ends of one channel between threads. */
function threadChannel(model: "shared" | "message" | "copy", chunk: number, slots: number) {
  if (model === "shared") {
    const ring = SharedRing.create(slots, chunk).buffer;
    return { a: { model, ring } as ThreadEnd, b: { model, ring } as ThreadEnd, ports: [] };
  }
  const { port1, port2 } = new MessageChannel();
  return {
    a: { model, port: port1, window: slots } as ThreadEnd,
    b: { model, port: port2, window: slots } as ThreadEnd,
    ports: [port1, port2],
  };
}

/** What every receiver must report: the checksum of the senders' data, `sourceBlock(size)`. */
const expected = (() => {
  const checksum = new StreamChecksum();
  checksum.update(sourceBlock(size));
  return checksum.digest();
})();

function mibPerSecond(send: { startedAt?: number }, recv: ThreadReport | PeerReport, what: string) {
  if (recv.checksum !== expected) throw new Error(`${what}: the checksum does not match`);
  const seconds = (recv.stoppedAt! - Math.max(send.startedAt!, recv.startedAt!)) / 1000;
  return size / MiB / seconds;
}

/** One transfer between two threads of this process. */
async function threadsRun(model: "shared" | "message" | "copy"): Promise<number> {
  const { a, b, ports } = threadChannel(model, CHUNK, CAPACITY / CHUNK);
  const [recv, send] = await Promise.all([
    onThread({ role: "recv", end: b }, ports.length ? [ports[1]!] : []),
    onThread({ role: "send", end: a, size, chunk: CHUNK }, ports.length ? [ports[0]!] : []),
  ]);
  return mibPerSecond(send, recv, `threads ${model}`);
}

/** Runs `bench/_peer.ts` processes for the shm lesson; their JSON reports. */
async function peers(mode: string, roles: [string, string], args: string[]) {
  const spawn = (role: string) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", PEER, mode, "shm", role, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    running.add(child);
    return child.output().finally(() => running.delete(child));
  };
  const outputs = await untilDone(Promise.all([spawn(roles[1]), spawn(roles[0])]));
  return outputs.flatMap((output) => {
    if (!output.success) throw new Error(new TextDecoder().decode(output.stderr));
    const lines = new TextDecoder().decode(output.stdout).split("\n");
    return lines.filter((line) => line[0] === "{").map((line) => JSON.parse(line) as PeerReport);
  });
}

/** One transfer between two processes through the shm lesson's ring. */
async function shmRun(): Promise<number> {
  const reports = await peers("xfer", ["send", "recv"], [
    "--size",
    String(size),
    "--chunk",
    String(CHUNK),
    "--name",
    channelName(),
    "--dir",
    TMP,
    "--capacity",
    String(CAPACITY),
  ]);
  const send = reports.find((r) => r.role === "send")!;
  const recv = reports.find((r) => r.role === "recv")!;
  return mibPerSecond(send, recv, "shm");
}

/** Round trips of 64 bytes between two threads, over two shared rings. */
async function threadsLatency(): Promise<number[]> {
  const there = SharedRing.create(16, 64).buffer;
  const back = SharedRing.create(16, 64).buffer;
  const end = (ring: SharedArrayBuffer): ThreadEnd => ({ model: "shared", ring });
  const [ping] = await Promise.all([
    onThread({ role: "ping", out: end(there), back: end(back), size: 64, count: iterations }),
    onThread({ role: "pong", out: end(back), back: end(there), size: 64, count: iterations }),
  ]);
  // The first tenth warms up, as bench/_peer.ts's --warmup.
  return ping.roundTripsMicros!.slice(Math.floor(iterations / 10));
}

async function shmLatency(): Promise<number[]> {
  const reports = await peers("lat", ["ping", "pong"], [
    "--size",
    "64",
    "--iterations",
    String(iterations),
    "--warmup",
    String(Math.min(1000, iterations / 10)),
    "--name",
    channelName(),
    "--dir",
    TMP,
    "--capacity",
    String(16 * 64),
  ]);
  return reports.find((r) => r.role === "ping")!.roundTripsMicros!;
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const kinds = ["shm", "threads shared", "threads message", "threads copy"] as const;

/** Every measurement, in one run; the result as JSON. */
async function measure() {
  const speeds: Record<string, number[]> = Object.fromEntries(kinds.map((kind) => [kind, []]));
  console.error(
    `bench:threads: ${size / MiB} MiB in 64 KiB chunks, ${runs} runs interleaved; ` +
      `${iterations} round trips of 64 B (spin ${SPIN_US} µs, then sleep)`,
  );
  for (let run = 0; run < runs; run++) {
    for (const kind of kinds) {
      const speed = kind === "shm"
        ? await shmRun()
        : await threadsRun(kind.split(" ")[1] as "shared" | "message" | "copy");
      speeds[kind]!.push(speed);
      console.error(`  run ${run + 1}: ${kind.padEnd(16)} ${speed.toFixed(0)} MiB/s`);
    }
  }
  const latency = { threads: median(await threadsLatency()), shm: median(await shmLatency()) };
  return {
    size,
    chunk: CHUNK,
    runs,
    mibPerSecond: Object.fromEntries(kinds.map((kind) => [kind, median(speeds[kind]!)])),
    threadsSharedOverShm: median(speeds["threads shared"]!) / median(speeds["shm"]!),
    transferOverCopy: median(speeds["threads message"]!) / median(speeds["threads copy"]!),
    roundTrip64Micros: latency,
  };
}

let status = 0;
try {
  console.log(JSON.stringify(await measure(), null, 2));
} catch (error) {
  if (error instanceof Interrupted) {
    console.error(
      `interrupted by ${error.signal}: stopped the benchmark and removed what it created`,
    );
    status = error.status;
  } else {
    console.error(`error: ${(error as Error).message}`);
    status = 1;
  }
} finally {
  await cleanUp();
}
Deno.exit(status);
