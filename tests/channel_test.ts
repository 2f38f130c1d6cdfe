/**
 * Every lesson's transport exports a `channel` (transports/channel.ts) that the benchmark
 * measures: each one carries pieces byte-exactly from its sink to its source, ends the stream
 * with an empty piece, and removes every object it named once its stack is disposed. The
 * lessons come from the registry, so a new lesson's channel is tested here without an edit.
 */

import assert from "node:assert/strict";
import { LESSONS } from "../lessons/registry.ts";
import type { ChannelAdapter, EndOptions, Sink, Source } from "../transports/channel.ts";
import { findLeftovers, loadFinders } from "../transports/leftovers.ts";
import { dup } from "../transports/libc.ts";
import { ROOT, TMP } from "./_helpers.ts";

const root = new URL(`file://${ROOT}/`);
const finders = await loadFinders(LESSONS.map((lesson) => new URL(lesson.transport, root)));

/** Sends `pieces` into `sink`, then the end; receives from `source` until the end. */
async function moveThrough(sink: Sink, source: Source, pieces: Uint8Array[]) {
  const received: number[] = [];
  let empties = 0;
  const receiving = (async () => {
    for (let piece = await source.receive();; piece = await source.receive()) {
      if (piece.length === 0) {
        empties++;
        return;
      }
      received.push(...piece);
    }
  })();
  for (const piece of pieces) await sink.send(piece);
  await sink.end();
  await receiving;
  return { received, empties };
}

// A channel between threads cannot join two processes: the threads lesson exports none, and
// transports/shared_ring_test.ts and worker_channel_test.ts test its channels.
for (const lesson of LESSONS.filter((lesson) => lesson.sides !== "threads")) {
  Deno.test(`${lesson.method}: its transport's channel moves pieces byte-exactly`, async () => {
    const module = await import(new URL(lesson.transport, root).href);
    const channel = module["channel"] as ChannelAdapter;
    assert.ok(channel?.kind === "named" || channel?.kind === "inherited", "exports a channel");
    const piece = Math.min(4096, channel.maxPiece?.() ?? Infinity);
    const pieces = [1, piece, 7, piece].map((length, i) => {
      const bytes = new Uint8Array(length);
      for (let j = 0; j < length; j++) bytes[j] = (j * 31 + i * 7) & 0xff;
      return bytes;
    });
    const word = `ipc-lesson-channel-test-${Deno.pid}-${lesson.method}`;
    {
      using stack = new DisposableStack();
      const options: EndOptions = { piece, capacity: 2 * piece, timeout: 10_000, stack };
      let sink: Sink;
      let source: Source;
      if (channel.kind === "inherited") {
        // This process plays both parts: the "child" gets its own copy of the far end, as a
        // descriptor inherited across exec would be.
        const created = channel.createSink(options);
        source = channel.adoptSource(dup(created.theirs.fd), options);
        created.theirs.close();
        sink = created.mine;
      } else {
        // One process holds both ends: open them as a pair, so the reader does not wait for a
        // writer it cannot see, and the ring's creator finds its consumer.
        const named = { ...options, dir: TMP, pair: true };
        [source, sink] = await Promise.all([
          channel.openSource(word, named),
          channel.openSink(word, named),
        ]);
      }
      const { received, empties } = await moveThrough(sink, source, pieces);
      assert.deepEqual(received, pieces.flatMap((bytes) => [...bytes]));
      assert.equal(empties, 1);
    }
    const left = findLeftovers(finders, { prefix: word, dir: TMP }).found;
    assert.deepEqual(left.map((object) => object.path), [], "named objects left behind");
  });
}
