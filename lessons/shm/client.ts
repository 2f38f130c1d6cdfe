/**
 * The shared-memory lesson's client: the consumer.
 *
 * It waits for the server's ring to appear and be ready, opens the segment and the two
 * semaphores, attaches, and writes the output file straight out of filled slots until it finds
 * the slot that holds 0 bytes: the end of the file.
 *
 * @module
 */

import {
  openWhenReady,
  readLayout,
  RingBuffer,
  type RingLayout,
  ringNames,
} from "../../transports/ring_buffer.ts";
import { Semaphore } from "../../transports/semaphore.ts";
import { formatBytes } from "../../transports/units.ts";
import { LessonError, type Side } from "../_lesson.ts";
import { explainStale, type ShmOptions } from "./common.ts";

/** Copies what comes through the ring into the output file. */
export async function client(side: Side<ShmOptions>): Promise<void> {
  const { log } = side;
  const names = ringNames(side.options.name);

  // 1. Create the output first (an unnamed file, named only when the copy is complete): a bad
  //    output path should fail before anyone waits for us.
  using output = side.createOutput();
  log.say(`I am the client, the consumer: I write ${JSON.stringify(output.path)}`);

  // 2. Wait for the server's segment: shm_open() fails with ENOENT until the server has made
  //    it, and the header is not ready until the server has written the magic number.
  if (side.byHand && side.options.nameIsDefault) {
    log.say(
      `in another terminal, run: deno task lesson:shm server --name ${names.segment} --input FILE`,
    );
  }
  log.say(`waiting for the server to make the shared-memory segment ${names.segment}`);
  using segment = await openWhenReady(names.segment, { ...side.waits, creator: "server" })
    .catch(explainStale);
  log.say(
    `opened ${names.segment} with shm_open(O_RDWR) and mapped its ${
      formatBytes(segment.size)
    } with mmap(MAP_SHARED) at 0x${segment.address.toString(16)}`,
  );

  // 3. A client given --slots or --slot-size expects that ring: check before attaching.
  checkLayout(side.options, readLayout(segment));

  // 4. The semaphores exist: the server made them before it marked the ring ready.
  using free = Semaphore.open(names.free, side.waits);
  using filled = Semaphore.open(names.filled, side.waits);
  log.say(`opened the semaphores ${names.free} and ${names.filled} with sem_open()`);

  // 5. Attach: write my pid into the header. The server is waiting for it, and will then
  //    remove the names.
  const ring = RingBuffer.attach(segment, { free, filled }, { ...side.waits, peer: "server" });
  log.say(
    `attached: the server, process ${ring.peerPid}, made ${ring.slotCount} slots × ${
      formatBytes(ring.slotSize)
    }`,
  );

  // 6. The copy loop. Wait for a filled slot, write its bytes straight from shared memory
  //    into the file, and hand the slot back. A slot holding 0 bytes is the end of the file.
  log.say(
    "copying: write() takes each slot's bytes straight from shared memory into the output file",
  );
  side.startClock();
  for (;;) {
    const slot = await ring.claimFilled(); // sem_wait(filled)
    const data = ring.contents(slot); // a view of the slot, not a copy
    if (data.length > 0) output.write(data);
    // (Traced before the hand-off: once posted, the server may fill the slot again at once.)
    if (log.tracing) {
      const counts = ring.counts();
      log.trace(
        `slot ${slot}: took ${data.length} bytes${
          data.length === 0 ? " (the end-of-file marker)" : ""
        }; free = ${counts.free}, filled = ${counts.filled}`,
      );
    }
    ring.release(slot); // sem_post(free): the server may fill the slot again
    if (data.length === 0) break;
    side.count(data.length);
  }
  side.stopClock();
  log.say(`found the end-of-file marker after ${formatBytes(side.bytes)}`);

  // 7. The end marker carries the server's total: a stray sem_post on the filled semaphore
  //    would have let us take a slot before it was filled, and stop early or read old bytes.
  ring.checkEnd();
  log.say(
    `the server's total in the header is ${formatBytes(side.bytes)} too, and no post is left ` +
      "over: the copy is whole",
  );

  // 8. The copy is complete: give it its name.
  log.say(await output.commit());
}

/** A client given --slots or --slot-size expects that ring: a different one is a mistake. */
function checkLayout(options: ShmOptions, layout: RingLayout): void {
  const slotsDiffer = options.given.slots && options.slots !== layout.slots;
  const sizeDiffers = options.given.slotSize && options.slotSize !== layout.slotSize;
  if (slotsDiffer || sizeDiffers) {
    throw new LessonError(
      `the server made ${layout.slots} slots of ${layout.slotSize} bytes, but this client was ` +
        `given --slots ${options.slots} --slot-size ${options.slotSize}: give both sides the ` +
        "same values, or none to the client",
    );
  }
}
