/**
 * The shared ring: pieces through it in order (in one thread, and between two threads), every
 * wait bounded by its timeout, and a stop that wakes a thread asleep in Atomics.wait at once.
 */

import assert from "node:assert/strict";
import { ChannelError, Interrupted } from "./errors.ts";
import { SharedRing, sharedRingLayout } from "./shared_ring.ts";

Deno.test("shared ring: the layout puts the slots after the lengths, 64-byte aligned", () => {
  assert.deepEqual(sharedRingLayout(8, 4096), { dataOffset: 576, size: 576 + 8 * 4096 });
  assert.throws(() => SharedRing.create(0, 16), RangeError);
});

Deno.test("shared ring: pieces arrive in order, then the end; the counters come back", async () => {
  // One thread: a wait would block the only thread (Atomics.wait), so the ring has room for all.
  const ring = SharedRing.create(16, 8);
  const producer = ring.producer({ timeout: 1000 });
  const consumer = ring.consumer({ timeout: 1000 });
  const received: number[] = [];
  const receiving = (async () => {
    for (let piece = await consumer.receive(); piece.length > 0; piece = await consumer.receive()) {
      received.push(...piece);
    }
    consumer.release();
  })();
  for (let i = 0; i < 10; i++) await producer.send(new Uint8Array([i, i + 1]));
  await producer.end();
  await receiving;
  assert.deepEqual(received, Array.from({ length: 10 }, (_, i) => [i, i + 1]).flat());
  assert.deepEqual(ring.counters(), { free: 16, filled: 0 });
  await assert.rejects(producer.send(new Uint8Array(9)), RangeError);
});

Deno.test("shared ring: a wait for data or for room ends at its timeout", async () => {
  const ring = SharedRing.create(1, 8);
  const started = performance.now();
  await assert.rejects(
    ring.consumer({ timeout: 300, timeoutMessage: () => "nothing came" }).receive(),
    (error: Error) => error instanceof Deno.errors.TimedOut && error.message === "nothing came",
  );
  const producer = ring.producer({ timeout: 300 });
  await producer.send(new Uint8Array(1)); // the only slot
  await assert.rejects(producer.send(new Uint8Array(1)), Deno.errors.TimedOut);
  const ms = performance.now() - started;
  assert.ok(ms >= 550 && ms < 5000, `${ms} ms`);
});

Deno.test("shared ring: stop() wakes a thread asleep in Atomics.wait, with the reason", async () => {
  const ring = SharedRing.create(1, 8);
  // A real thread sleeps on the empty ring, with a long timeout.
  const code = `
    import { SharedRing } from ${JSON.stringify(new URL("./shared_ring.ts", import.meta.url).href)};
    self.onmessage = async ({ data }) => {
      const started = performance.now();
      try {
        await new SharedRing(data).consumer({ timeout: 60_000 }).receive();
        self.postMessage("received");
      } catch (error) {
        self.postMessage(error.name + ": " + error.message + " after " + (performance.now() - started));
      }
    };`;
  const url = `data:application/javascript,${encodeURIComponent(code)}`;
  const worker = new Worker(url, { type: "module" });
  const said = new Promise<string>((resolve) => worker.onmessage = (e) => resolve(e.data));
  worker.postMessage(ring.buffer);
  await new Promise((resolve) => setTimeout(resolve, 500));
  ring.stop("failed", "the server thread died");
  ring.stop("SIGINT", "too late: only the first reason counts");
  const text = await said;
  worker.terminate();
  assert.match(text, /^ChannelError: the server thread died after \d+/);
  assert.ok(Number(text.split(" after ")[1]) < 5000, text);
  assert.throws(() => ring.checkStop(), ChannelError);
});

Deno.test("shared ring: a stop for a signal is an Interrupted", () => {
  const ring = SharedRing.create(1, 8);
  ring.stop("SIGTERM", "");
  assert.throws(
    () => ring.checkStop(),
    (error: unknown) => error instanceof Interrupted && error.status === 143,
  );
});
