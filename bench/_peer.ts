/**
 * One process of a benchmark measurement, started by `bench/main.ts`:
 *
 *     deno run -A bench/_peer.ts xfer METHOD send|recv --size N --chunk C --capacity B
 *                                     [--name WORD --dir DIR] [--fds 0] [--host ADDRESS]
 *     deno run -A bench/_peer.ts lat  METHOD ping|pong --size N --iterations I --capacity B
 *                                     [--name WORD --dir DIR] [--fds 0,N]
 *
 * `xfer` moves `--size` bytes of in-memory data one way in `--chunk` pieces (a buffer of that
 * size, `sourceBlock(size)`, read once), and the receiver checks a fast checksum: no files, so
 * this is the cost of the channel alone. An inherited channel's receiver tells its sender (its
 * parent) that it is ready with SIGUSR1, and the sender's clock starts then. `lat` bounces a
 * message of `--size` bytes back and forth, over two channels, and times every round trip.
 *
 * METHOD is a lesson of the registry; its channel is the `channel` its transport exports (see
 * `transports/channel.ts`), opened the way the lesson opens it: no special fast path. A named
 * channel's two processes are both started by `main.ts`; an inherited one (a pipe) is created
 * by the sender (or the pinger), which starts its peer with the other ends inherited: the first
 * on its stdin, the others under the numbers `--fds` gives. Each measuring process prints one
 * JSON line on stdout at the end (an inherited peer shares its creator's stdout).
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { peakResidentBytes } from "../transports/holders.ts";
import { close, dup, monotonicMs } from "../transports/libc.ts";
import { spawnWithStdin } from "../transports/pipe.ts";
import type {
  ChannelAdapter,
  Inheritable,
  NamedEndOptions,
  Sink,
  Source,
} from "../transports/channel.ts";
import { lessonNamed, loadChannel } from "./_channels.ts";
import { sourceBlock, StreamChecksum } from "./_checksum.ts";

const TIMEOUT_MS = 30_000;

/** What a measuring process reports at the end. */
export interface PeerReport {
  role: string;
  bytes?: number;
  checksum?: string;
  /** CLOCK_MONOTONIC ms: ready to receive (receiver), or about to send (sender). */
  startedAt?: number;
  /** CLOCK_MONOTONIC ms: the receiver has taken and checked the last byte. */
  stoppedAt?: number;
  /** CPU seconds (user + system) spent from startedAt to the end. */
  cpuSeconds?: number;
  /** The process's peak resident set size. */
  peakRssBytes?: number;
  /** Every measured round trip, in µs. */
  roundTripsMicros?: number[];
}

/** One measuring process: its command line, and the channel of its lesson. */
interface Peer {
  mode: string;
  role: string;
  channel: ChannelAdapter;
  /** Bytes per transfer (xfer) or per message (lat). */
  size: number;
  chunk: number;
  iterations: number;
  warmup: number;
  /** How every end is opened (the piece is the chunk, or the message, and differs). */
  options: Pick<NamedEndOptions, "capacity" | "timeout" | "dir" | "host">;
  name: string;
  /** The inherited descriptors, in order: the first is stdin. */
  fds: number[];
  method: string;
  /** The options this process was given: an inherited peer gets the same. */
  rest: string[];
}

function report(fields: PeerReport, cpuAtStart: NodeJS.CpuUsage): void {
  const cpu = process.cpuUsage(cpuAtStart);
  fields.cpuSeconds = (cpu.user + cpu.system) / 1e6;
  fields.peakRssBytes = peakResidentBytes();
  console.log(JSON.stringify(fields));
}

/**
 * Starts this script again as the peer `role`, with the far ends of inherited channels: the
 * first on its stdin, as a shell's `|` does; the others under their own numbers, through a
 * copy without close-on-exec (`dup`), which a child inherits. Then closes this process's
 * copies: from now on the child holds those ends.
 */
function startPeer(peer: Peer, role: string, ends: Inheritable<unknown>["theirs"][]) {
  const inherited = ends.slice(1).map((end) => dup(end.fd));
  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      fileURLToPath(import.meta.url),
      peer.mode,
      peer.method,
      role,
      ...peer.rest,
      "--fds",
      [0, ...inherited].join(","),
    ],
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  });
  const child = spawnWithStdin(command, ends[0]!);
  for (const fd of inherited) close(fd);
  for (const end of ends) end.close();
  return child;
}

// ---------------------------------------------------------------------------------------------
// Throughput
// ---------------------------------------------------------------------------------------------

async function send(peer: Peer): Promise<void> {
  using stack = new DisposableStack();
  const { channel, chunk, size } = peer;
  const options = { ...peer.options, piece: chunk, stack };
  let sink: Sink;
  let receiverReady: Promise<unknown> | null = null;
  if (channel.kind === "inherited") {
    // The receiver says it is ready with SIGUSR1 (the channel goes one way only): the clock
    // starts then, as C's does, and not while the sender fills the pipe for a receiver that is
    // still starting (up to a pipe's capacity of free data otherwise).
    const ready = Promise.withResolvers<void>();
    const onReady = () => ready.resolve();
    Deno.addSignalListener("SIGUSR1", onReady);
    stack.defer(() => Deno.removeSignalListener("SIGUSR1", onReady));
    // As in the lesson: the sender makes the channel and starts the receiver as its child.
    const { mine, theirs } = channel.createSink(options);
    const child = startPeer(peer, "recv", [theirs]);
    stack.defer(() => void child.status);
    sink = mine;
    receiverReady = Promise.race([
      ready.promise,
      child.status.then((status) => {
        throw new Error(`the receiver ended (status ${status.code}) before it was ready`);
      }),
    ]);
  } else {
    sink = await channel.openSink(peer.name, options);
  }
  // The data: as many pseudo-random bytes as the transfer, made (and so in memory) before the
  // clock starts, and read once, as the C reference's sender does: a block sent over and over
  // would stay in the CPU's cache, and C's is read from memory.
  const source = sourceBlock(size);
  await receiverReady;
  const cpu = process.cpuUsage();
  const startedAt = monotonicMs();
  for (let sent = 0; sent < size;) {
    const piece = source.subarray(sent, sent + Math.min(chunk, size - sent));
    await sink.send(piece);
    sent += piece.length;
  }
  await sink.end();
  report({ role: "send", bytes: size, startedAt }, cpu);
}

async function receive(peer: Peer): Promise<void> {
  using stack = new DisposableStack();
  const { channel } = peer;
  const options = { ...peer.options, piece: peer.chunk, stack };
  const source = channel.kind === "inherited"
    ? channel.adoptSource(peer.fds[0]!, options)
    : await channel.openSource(peer.name, options);
  const checksum = new StreamChecksum();
  const cpu = process.cpuUsage();
  const startedAt = monotonicMs();
  // An inherited channel's sender is this process's parent, and waits for this to start.
  if (channel.kind === "inherited") Deno.kill(Deno.ppid, "SIGUSR1");
  let bytes = 0;
  for (let piece = await source.receive(); piece.length > 0; piece = await source.receive()) {
    checksum.update(piece);
    bytes += piece.length;
  }
  const stoppedAt = monotonicMs();
  report({ role: "recv", bytes, checksum: checksum.digest(), startedAt, stoppedAt }, cpu);
}

// ---------------------------------------------------------------------------------------------
// Latency: one channel each way
// ---------------------------------------------------------------------------------------------

/** Opens both directions: a channel to the peer, and one back from it. */
async function openBothWays(
  peer: Peer,
  isPing: boolean,
  stack: DisposableStack,
): Promise<[Sink, Source]> {
  const { channel } = peer;
  const options = { ...peer.options, piece: peer.size, stack, pair: true };
  if (channel.kind === "inherited") {
    if (!isPing) {
      return [channel.adoptSink(peer.fds[1]!, options), channel.adoptSource(peer.fds[0]!, options)];
    }
    // The pinger makes both channels and starts the ponger with the far ends.
    const there = channel.createSink(options);
    const back = channel.createSource(options);
    const child = startPeer(peer, "pong", [there.theirs, back.theirs]);
    stack.defer(() => void child.status);
    return [there.mine, back.mine];
  }
  const [there, back] = isPing
    ? [`${peer.name}-ping`, `${peer.name}-pong`]
    : [`${peer.name}-pong`, `${peer.name}-ping`];
  // Both sides open their receiving end first, and both ends at the same time: a receiving end
  // opened as one of a pair never waits for its sender (a FIFO's read end), so every open that
  // does wait (a FIFO's writer, a ring's creator) finds its peer.
  const [source, sink] = await Promise.all([
    channel.openSource(back, options),
    channel.openSink(there, options),
  ]);
  return [sink, source];
}

/** Receives exactly `into.length` bytes: a byte stream may deliver a message in pieces. */
async function receiveExactly(source: Source, into: Uint8Array): Promise<void> {
  for (let got = 0; got < into.length;) {
    const piece = await source.receive();
    if (piece.length === 0) throw new Error("the channel ended in the middle of a message");
    into.set(piece, got);
    got += piece.length;
  }
}

async function ping(peer: Peer): Promise<void> {
  using stack = new DisposableStack();
  const [sink, source] = await openBothWays(peer, true, stack);
  const message = sourceBlock(peer.size, 7);
  const sequence = new DataView(message.buffer);
  const echo = new Uint8Array(peer.size);
  const samples: number[] = [];
  const cpu = process.cpuUsage();
  for (let i = 0; i < peer.warmup + peer.iterations; i++) {
    sequence.setUint32(0, i, true);
    const started = performance.now();
    await sink.send(message);
    await receiveExactly(source, echo);
    const micros = (performance.now() - started) * 1000;
    if (new DataView(echo.buffer).getUint32(0, true) !== i) {
      throw new Error(`round trip ${i}: wrong echo`);
    }
    if (i >= peer.warmup) samples.push(micros);
  }
  await sink.end();
  report({ role: "ping", roundTripsMicros: samples }, cpu);
}

async function pong(peer: Peer): Promise<void> {
  using stack = new DisposableStack();
  const [sink, source] = await openBothWays(peer, false, stack);
  const message = new Uint8Array(peer.size);
  for (let i = 0; i < peer.warmup + peer.iterations; i++) {
    await receiveExactly(source, message);
    await sink.send(message);
  }
  // The pinger's end marker.
  await source.receive();
}

// ---------------------------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------------------------

async function main(args: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      size: { type: "string", default: "0" },
      chunk: { type: "string", default: "65536" },
      capacity: { type: "string", default: "1048576" },
      iterations: { type: "string", default: "1000" },
      warmup: { type: "string", default: "100" },
      name: { type: "string", default: "" },
      dir: { type: "string", default: "/tmp" },
      fds: { type: "string", default: "0" },
      host: { type: "string" },
    },
  });
  const [mode, method, role] = positionals as [string, string, string];
  const lesson = lessonNamed(method);
  const channel = lesson && await loadChannel(lesson);
  if (!channel) throw new Error(`no channel to measure for ${method}`);
  const run = { send, recv: receive, ping, pong }[role];
  if (!run) throw new Error(`unknown role ${role}`);
  await run({
    mode,
    role,
    channel,
    size: Number(values.size),
    chunk: Number(values.chunk),
    iterations: Number(values.iterations),
    warmup: Number(values.warmup),
    options: {
      capacity: Number(values.capacity),
      timeout: TIMEOUT_MS,
      dir: values.dir,
      ...(values.host === undefined ? {} : { host: values.host }),
    },
    name: values.name,
    fds: values.fds.split(",").map(Number),
    method,
    rest: args.slice(3),
  });
}

if (import.meta.main) {
  await main(Deno.args);
  Deno.exit(0);
}
