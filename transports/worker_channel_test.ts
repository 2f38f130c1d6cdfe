/**
 * Message passing over a port: transferred buffers go round a pool (no allocation, detached on
 * the sender's side), cloned ones stay; the window holds the sender back; every wait ends at
 * its timeout or when the peer is declared gone.
 */

import assert from "node:assert/strict";
import { ChannelError } from "./errors.ts";
import { PortSink, PortSource } from "./worker_channel.ts";

function pair(copy: boolean, window = 2) {
  const { port1, port2 } = new MessageChannel();
  const sink = new PortSink(port1, { chunk: 16, window, copy, timeout: 1000 });
  const source = new PortSource(port2, { timeout: 1000 });
  return {
    sink,
    source,
    [Symbol.dispose]: () => {
      sink.close();
      source.close();
    },
  };
}

for (const copy of [false, true]) {
  Deno.test(`worker channel (${copy ? "copy" : "transfer"}): pieces in order, then the end`, async () => {
    using p = pair(copy);
    const received: number[] = [];
    const receiving = (async () => {
      for (let piece = await p.source.receive(); piece.length > 0;) {
        received.push(...piece);
        piece = await p.source.receive();
      }
    })();
    const buffers = new Set<ArrayBuffer>();
    for (let i = 0; i < 20; i++) {
      const buffer = await p.sink.acquire();
      buffers.add(buffer.buffer);
      buffer.set([i, 255 - i]);
      p.sink.publish(buffer, 2);
      assert.equal(buffer.byteLength, copy ? 16 : 0, "transferred: detached here");
    }
    await p.sink.end();
    await receiving;
    assert.deepEqual(received, Array.from({ length: 20 }, (_, i) => [i, 255 - i]).flat());
    assert.equal(p.sink.inFlight, 0);
    // Copy reuses its one buffer; transfer gets back buffers that came round the pool.
    if (copy) assert.equal(buffers.size, 1);
  });
}

Deno.test("worker channel: the window holds the sender back until the receiver acknowledges", async () => {
  using p = pair(false, 2);
  await p.sink.send(new Uint8Array([1]));
  await p.sink.send(new Uint8Array([2]));
  assert.equal(p.sink.inFlight, 2);
  const third = p.sink.send(new Uint8Array([3]));
  let sent = false;
  third.then(() => sent = true);
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(sent, false, "the window is full");
  assert.deepEqual([...await p.source.receive()], [1]);
  assert.deepEqual([...await p.source.receive()], [2]); // acknowledges the first
  await third;
  assert.deepEqual([...await p.source.receive()], [3]);
});

Deno.test("worker channel: waits end at the timeout, or at once when the peer has gone", async () => {
  using p = pair(false);
  await assert.rejects(p.source.receive(), Deno.errors.TimedOut);
  const waiting = p.source.receive();
  p.source.fail(new ChannelError("the server thread died"));
  await assert.rejects(waiting, /the server thread died/);
});
