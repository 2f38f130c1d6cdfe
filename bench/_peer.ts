/**
 * One process of a benchmark measurement, started by `bench/main.ts`:
 *
 *     deno run -A bench/_peer.ts xfer METHOD send|recv --size N --chunk C [--name NAME --slots S]
 *     deno run -A bench/_peer.ts lat  METHOD ping|pong --size N --iterations I [--name NAME]
 *
 * `xfer` moves `--size` bytes of in-memory data one way in `--chunk` pieces, and the receiver
 * checks a fast checksum: no files, so this is the cost of the channel alone. `lat` bounces a
 * message of `--size` bytes back and forth, over two channels, and times every round trip.
 *
 * Every channel is a lesson's own transport (PipeEnd, Fifo, MessageQueue, RingBuffer), used the
 * way the lesson uses it: no special fast path. Each measuring process prints one JSON line on
 * stdout at the end (the pipe's receiver shares its sender's stdout).
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { close, dup, monotonicMs } from "../transports/libc.ts";
import { makeFifo } from "../transports/fifo.ts";
import { MessageQueue } from "../transports/mq.ts";
import { createPipe, isPipe, PipeEnd, pipeMaxSize, spawnWithStdin } from "../transports/pipe.ts";
import { Semaphore } from "../transports/semaphore.ts";
import { SharedMemory } from "../transports/shm.ts";
import { openWhenReady, RingBuffer, ringLayout, ringNames } from "../lessons/shm/ring_buffer.ts";
import { peakResidentBytes } from "../lessons/_side.ts";
import { sourceBlock, StreamChecksum } from "./_checksum.ts";

const TIMEOUT_MS = 30_000;
/** The sender's data: a 4 MiB block of pseudo-random bytes, sent over and over. */
const BLOCK_SIZE = 4 << 20;

const { positionals, values } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    size: { type: "string", default: "0" },
    chunk: { type: "string", default: "65536" },
    iterations: { type: "string", default: "1000" },
    warmup: { type: "string", default: "100" },
    name: { type: "string", default: "" },
    slots: { type: "string", default: "16" },
    "back-fd": { type: "string", default: "1" },
  },
});
const [mode, method, role] = positionals as [string, string, string];
const size = Number(values.size);
const chunk = Number(values.chunk);

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

function report(fields: PeerReport, cpuAtStart: NodeJS.CpuUsage): void {
  const cpu = process.cpuUsage(cpuAtStart);
  fields.cpuSeconds = (cpu.user + cpu.system) / 1e6;
  fields.peakRssBytes = peakResidentBytes();
  console.log(JSON.stringify(fields));
}

/** The sending side of a channel. */
interface Sink {
  send(data: Uint8Array): Promise<void>;
  /** Says "that was all" (closes, or sends the end marker) and waits until it is taken. */
  end(): Promise<void>;
}

/** The receiving side: the next piece, empty at the end. */
interface Source {
  receive(): Promise<Uint8Array>;
}

// ---------------------------------------------------------------------------------------------
// The channels, opened as the lessons open them
// ---------------------------------------------------------------------------------------------

function streamSink(end: PipeEnd): Sink {
  end.resize(pipeMaxSize());
  return { send: (data) => end.write(data), end: () => Promise.resolve(end.close()) };
}

function streamSource(end: PipeEnd, bufferSize: number): Source {
  const buf = new Uint8Array(bufferSize);
  return { receive: async () => buf.subarray(0, await end.read(buf)) };
}

/** A ring's producer copies each piece into a free slot, as the C reference's producer does. */
function ringSink(ring: RingBuffer): Sink {
  return {
    async send(data) {
      const slot = await ring.claimFree();
      ring.slots[slot]!.set(data);
      ring.publish(slot, data.length);
    },
    async end() {
      ring.publish(await ring.claimFree(), 0);
      await ring.drain();
    },
  };
}

/**
 * A ring's consumer reads each filled slot in place, and hands it back at the next receive
 * (the end marker at once: nothing follows it).
 */
function ringSource(ring: RingBuffer): Source {
  let held = -1;
  return {
    async receive() {
      if (held >= 0) ring.release(held);
      held = await ring.claimFilled();
      const data = ring.contents(held);
      if (data.length === 0) {
        ring.release(held);
        held = -1;
      }
      return data;
    },
  };
}

/** Opens the named channel `name` for sending (FIFO, queue, ring), with pieces of `piece`. */
async function openNamedSink(name: string, piece: number, stack: DisposableStack): Promise<Sink> {
  switch (method) {
    case "fifo": {
      const fifo = stack.use(makeFifo(name));
      const end = stack.use(await fifo.open("write", { timeout: TIMEOUT_MS }));
      fifo.unlink();
      return streamSink(end);
    }
    case "mq": {
      const queue = stack.use(
        MessageQueue.create(name, {
          maxmsg: 10,
          msgsize: piece,
          access: "send",
          timeout: TIMEOUT_MS,
        }),
      );
      return { send: (data) => queue.send(data), end: () => queue.send(new Uint8Array(0)) };
    }
    case "shm": {
      // The lesson's server does the same steps, narrated (lessons/shm/server.ts).
      const names = ringNames(name);
      const slots = Number(values.slots);
      const segment = stack.use(SharedMemory.create(names.segment, ringLayout(slots, piece).size));
      const free = stack.use(Semaphore.create(names.free, slots));
      const filled = stack.use(Semaphore.create(names.filled, 0));
      const ring = RingBuffer.create(segment, { free, filled }, slots, piece, {
        timeoutMs: TIMEOUT_MS,
        peer: "receiver",
      });
      await ring.waitForPeer();
      for (const named of [segment, free, filled]) named.unlink();
      return ringSink(ring);
    }
  }
  throw new Error(`no named channel for ${method}`);
}

/**
 * Opens the named channel `name` for receiving, with pieces of up to `piece` bytes. With
 * `writerFirst`, the peer is known to be opening its end already (a ping-pong's fixed order).
 */
async function openNamedSource(
  name: string,
  piece: number,
  stack: DisposableStack,
  writerFirst = false,
): Promise<Source> {
  switch (method) {
    case "fifo": {
      const fifo = stack.use(makeFifo(name));
      const end = stack.use(
        await fifo.open("read", { timeout: TIMEOUT_MS, waitForWriter: !writerFirst }),
      );
      // Once a writer is connected the name has done its job; without the wait, the writer
      // may still need it, and it goes at the end (the stack disposes of the Fifo).
      if (!writerFirst) fifo.unlink();
      return streamSource(end, piece);
    }
    case "mq": {
      const queue = stack.use(
        await MessageQueue.open(name, { access: "receive", wait: TIMEOUT_MS, timeout: TIMEOUT_MS }),
      );
      queue.unlink();
      return { receive: () => queue.receive() };
    }
    case "shm": {
      // The lesson's client does the same steps, narrated (lessons/shm/client.ts).
      const names = ringNames(name);
      const segment = stack.use(
        await openWhenReady(names.segment, { timeoutMs: TIMEOUT_MS, creator: "sender" }),
      );
      const free = stack.use(Semaphore.open(names.free));
      const filled = stack.use(Semaphore.open(names.filled));
      return ringSource(
        RingBuffer.attach(segment, { free, filled }, { timeoutMs: TIMEOUT_MS, peer: "sender" }),
      );
    }
  }
  throw new Error(`no named channel for ${method}`);
}

/** This script in another role, with the same options: the pipe's other process. */
function peerCommand(otherRole: string, extra: string[] = []): Deno.Command {
  const args = [mode, method, otherRole, ...Deno.args.slice(3), ...extra];
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, ...args],
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  });
}

// ---------------------------------------------------------------------------------------------
// Throughput
// ---------------------------------------------------------------------------------------------

async function send(): Promise<void> {
  using stack = new DisposableStack();
  let sink: Sink;
  if (method === "pipe") {
    // As in the lesson: the sender makes the pipe and starts the receiver as its child.
    const pipe = stack.use(createPipe({ timeout: TIMEOUT_MS }));
    const child = spawnWithStdin(peerCommand("recv"), pipe.readEnd);
    pipe.readEnd.close();
    stack.defer(() => void child.status);
    sink = streamSink(pipe.writeEnd);
  } else {
    sink = await openNamedSink(values.name, chunk, stack);
  }
  const block = sourceBlock(BLOCK_SIZE);
  const cpu = process.cpuUsage();
  const startedAt = monotonicMs();
  for (let sent = 0; sent < size;) {
    const offset = sent % BLOCK_SIZE;
    const piece = block.subarray(
      offset,
      offset + Math.min(chunk, size - sent, BLOCK_SIZE - offset),
    );
    await sink.send(piece);
    sent += piece.length;
  }
  await sink.end();
  report({ role: "send", bytes: size, startedAt }, cpu);
}

async function receive(): Promise<void> {
  using stack = new DisposableStack();
  let source: Source;
  if (method === "pipe") {
    if (!isPipe(0)) throw new Error("the pipe receiver's stdin is not a pipe");
    source = streamSource(stack.use(new PipeEnd(0, { timeout: TIMEOUT_MS })), chunk);
  } else {
    source = await openNamedSource(values.name, chunk, stack);
  }
  const checksum = new StreamChecksum();
  const cpu = process.cpuUsage();
  const startedAt = monotonicMs();
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

/**
 * Opens both directions. The pinger opens its sending channel first and the ponger its
 * receiving one, so that every open that waits for the other side (a FIFO's, a ring's) finds it.
 */
async function openBothWays(isPing: boolean, stack: DisposableStack): Promise<[Sink, Source]> {
  if (method === "pipe") {
    if (!isPing) {
      const input = stack.use(new PipeEnd(0, { timeout: TIMEOUT_MS }));
      const output = stack.use(new PipeEnd(Number(values["back-fd"]), { timeout: TIMEOUT_MS }));
      return [streamSink(output), streamSource(input, size)];
    }
    // The pinger makes two pipes and starts the ponger with one as its stdin. The other one's
    // write end it passes the classic way: a descriptor without close-on-exec is inherited
    // under the same number, and the child is told the number.
    const there = stack.use(createPipe({ timeout: TIMEOUT_MS }));
    const back = stack.use(createPipe({ timeout: TIMEOUT_MS }));
    const inherited = dup(back.writeEnd.fd);
    const child = spawnWithStdin(
      peerCommand("pong", ["--back-fd", String(inherited)]),
      there.readEnd,
    );
    close(inherited);
    there.readEnd.close();
    back.writeEnd.close();
    stack.defer(() => void child.status);
    return [streamSink(there.writeEnd), streamSource(back.readEnd, size)];
  }
  const [there, back] = isPing
    ? [`${values.name}-ping`, `${values.name}-pong`]
    : [`${values.name}-pong`, `${values.name}-ping`];
  if (method === "fifo") {
    // Open the read end first without waiting (its first read() waits for the writer), then
    // the write end, which waits until the peer has opened its read end: no deadlock.
    const source = await openNamedSource(back, size, stack, true);
    return [await openNamedSink(there, size, stack), source];
  }
  // A queue is created without waiting, so each side creates its own first; a ring's creator
  // waits for the peer to attach, so create and attach at the same time.
  const [sink, source] = await Promise.all([
    openNamedSink(there, size, stack),
    openNamedSource(back, size, stack),
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

async function ping(): Promise<void> {
  using stack = new DisposableStack();
  const [sink, source] = await openBothWays(true, stack);
  const message = sourceBlock(size, 7);
  const sequence = new DataView(message.buffer);
  const echo = new Uint8Array(size);
  const warmup = Number(values.warmup);
  const iterations = Number(values.iterations);
  const samples: number[] = [];
  const cpu = process.cpuUsage();
  for (let i = 0; i < warmup + iterations; i++) {
    sequence.setUint32(0, i, true);
    const started = performance.now();
    await sink.send(message);
    await receiveExactly(source, echo);
    const micros = (performance.now() - started) * 1000;
    if (new DataView(echo.buffer).getUint32(0, true) !== i) {
      throw new Error(`round trip ${i}: wrong echo`);
    }
    if (i >= warmup) samples.push(micros);
  }
  await sink.end();
  report({ role: "ping", roundTripsMicros: samples }, cpu);
}

async function pong(): Promise<void> {
  using stack = new DisposableStack();
  const [sink, source] = await openBothWays(false, stack);
  const message = new Uint8Array(size);
  const total = Number(values.warmup) + Number(values.iterations);
  for (let i = 0; i < total; i++) {
    await receiveExactly(source, message);
    await sink.send(message);
  }
  // The pinger's end marker.
  await source.receive();
}

const run = { send, recv: receive, ping, pong }[role];
if (!run) throw new Error(`unknown role ${role}`);
await run();
Deno.exit(0);
