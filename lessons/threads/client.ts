/**
 * The threads lesson's client: the consumer thread.
 *
 * It runs in a Worker, a thread of the lesson's process, and copies what comes through the
 * channel into the output file, until the end: a slot of length -1 in the shared ring, or the
 * end message.
 *
 * @module
 */

import { gettid } from "../../transports/libc.ts";
import { SharedRing } from "../../transports/shared_ring.ts";
import { formatBytes } from "../../transports/units.ts";
import { PortSource } from "../../transports/worker_channel.ts";
import type { Side } from "../_lesson.ts";
import {
  describeWaits,
  onPeerGone,
  threadContext,
  type ThreadsOptions,
  throwIfAsked,
  timeoutMessage,
} from "./common.ts";

/** Copies what the server thread sends into the output file. */
export async function client(side: Side<ThreadsOptions>): Promise<void> {
  const { log } = side;
  const { link, peerGone } = threadContext("client");

  // 1. Create the output first (an unnamed file, named at the end).
  using output = side.createOutput();
  log.say(
    `I am the client thread, the consumer: thread id ${gettid()} (gettid), in the same process ` +
      `${Deno.pid} (getpid) as the server thread; I write ${JSON.stringify(output.path)}`,
  );

  // 2. The copy loop: take a chunk, write it out, until the end. The bytes of a slot are used
  //    in place, and the slot is freed by the next receive().
  const source = link.model === "shared"
    ? new SharedRing(link.ring).consumer({
      timeout: side.timeoutMs,
      signal: side.signal,
      onSleep: log.tracing ? (text) => log.trace(text) : undefined,
      timeoutMessage: timeoutMessage("client"),
    })
    : new PortSource(link.port, {
      timeout: side.timeoutMs,
      signal: side.signal,
      timeoutMessage: timeoutMessage("client"),
      onSleep: log.tracing ? (text) => log.trace(text) : undefined,
    });
  if (source instanceof PortSource) onPeerGone(peerGone, (reason) => source.fail(reason));
  side.startClock();
  throwIfAsked(side); // --throw-after client:0: before the first chunk
  try {
    for (;;) {
      const data = await source.receive();
      if (data.length === 0) break;
      output.write(data);
      side.count(data.length);
      throwIfAsked(side);
    }
  } finally {
    if (source instanceof PortSource) source.close();
  }
  side.stopClock();
  if ("sleeps" in source) {
    source.release();
    log.say(`the end marker after ${formatBytes(side.bytes)}; ${describeWaits(source, "empty")}`);
  } else {
    log.say(`the end message after ${formatBytes(side.bytes)}`);
  }

  // 3. The copy is complete: move it into place.
  log.say(await output.commit());
}
