/**
 * One thread of a `bench/threads.ts` measurement: a Worker that sends, receives, pings or
 * pongs through the threads lesson's channels, exactly as `bench/_peer.ts` does between
 * processes (the same data, the same checksum, the same loop), so the two compare fairly.
 *
 * @module
 */

import { monotonicMs } from "../transports/libc.ts";
import type { Sink, Source } from "../transports/channel.ts";
import { SharedRing } from "../transports/shared_ring.ts";
import { PortSink, PortSource } from "../transports/worker_channel.ts";
import { sourceBlock, StreamChecksum } from "./_checksum.ts";

const TIMEOUT_MS = 30_000;

/** One end of a channel between two threads: a shared ring, or a port. */
export type ThreadEnd =
  | { model: "shared"; ring: SharedArrayBuffer }
  | { model: "message" | "copy"; port: MessagePort; window: number };

/** A measurement task. */
export type ThreadTask =
  | { role: "send"; end: ThreadEnd; size: number; chunk: number }
  | { role: "recv"; end: ThreadEnd }
  | { role: "ping" | "pong"; out: ThreadEnd; back: ThreadEnd; size: number; count: number };

/** What a thread reports. */
export interface ThreadReport {
  role: string;
  bytes?: number;
  checksum?: string;
  startedAt?: number;
  stoppedAt?: number;
  roundTripsMicros?: number[];
}

function sinkOf(end: ThreadEnd, chunk: number): Sink & { close?(): void } {
  if (end.model === "shared") return new SharedRing(end.ring).producer({ timeout: TIMEOUT_MS });
  return new PortSink(end.port, {
    chunk,
    window: end.window,
    copy: end.model === "copy",
    timeout: TIMEOUT_MS,
  });
}

function sourceOf(end: ThreadEnd): Source & { close?(): void } {
  if (end.model === "shared") return new SharedRing(end.ring).consumer({ timeout: TIMEOUT_MS });
  return new PortSource(end.port, { timeout: TIMEOUT_MS });
}

const scope = globalThis as unknown as {
  postMessage(message: ThreadReport): void;
  onmessage: ((event: MessageEvent<ThreadTask>) => void) | null;
};

scope.onmessage = async ({ data: task }) => {
  if (task.role === "send") {
    const sink = sinkOf(task.end, task.chunk);
    // As bench/_peer.ts: a source as large as the transfer, read once.
    const source = sourceBlock(task.size);
    const startedAt = monotonicMs();
    for (let sent = 0; sent < task.size;) {
      const piece = source.subarray(sent, sent + Math.min(task.chunk, task.size - sent));
      await sink.send(piece);
      sent += piece.length;
    }
    await sink.end();
    sink.close?.();
    scope.postMessage({ role: "send", bytes: task.size, startedAt });
  } else if (task.role === "recv") {
    const source = sourceOf(task.end);
    const checksum = new StreamChecksum();
    const startedAt = monotonicMs();
    let bytes = 0;
    for (let piece = await source.receive(); piece.length > 0; piece = await source.receive()) {
      checksum.update(piece);
      bytes += piece.length;
    }
    const stoppedAt = monotonicMs();
    source.close?.();
    scope.postMessage({ role: "recv", bytes, checksum: checksum.digest(), startedAt, stoppedAt });
  } else {
    const sink = sinkOf(task.out, task.size);
    const source = sourceOf(task.back);
    const message = task.role === "ping" ? sourceBlock(task.size, 7) : new Uint8Array(task.size);
    const samples: number[] = [];
    for (let i = 0; i < task.count; i++) {
      if (task.role === "ping") {
        new DataView(message.buffer).setUint32(0, i, true);
        const started = performance.now();
        await sink.send(message);
        const echo = await source.receive();
        samples.push((performance.now() - started) * 1000);
        if (new DataView(echo.buffer, echo.byteOffset).getUint32(0, true) !== i) {
          throw new Error(`round trip ${i}: wrong echo`);
        }
      } else {
        message.set(await source.receive());
        await sink.send(message);
      }
    }
    scope.postMessage({ role: task.role, roundTripsMicros: samples });
  }
};
