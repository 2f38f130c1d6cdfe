/**
 * The System V shared-memory lesson's client: the consumer.
 *
 * It waits for the server's segment to appear for the key and be ready, attaches it, finds the
 * semaphore set by the same key, and writes the output file straight out of filled slots until
 * the slot that holds 0 bytes. Then it detaches: the server, waiting for that, removes the set.
 *
 * @module
 */

import { LibcError, semctlRemove, shmctlRemove } from "../../transports/libc.ts";
import { PeerGone, readLayout, RingBuffer, type RingLayout } from "../../transports/ring_buffer.ts";
import {
  formatKey,
  openRingWhenReady,
  ringCounters,
  SemaphoreSet,
  type SysVSegment,
} from "../../transports/sysv_shm.ts";
import { formatBytes } from "../../transports/units.ts";
import { LessonError, type Side } from "../_lesson.ts";
import { explainStale, type SysvShmOptions } from "./common.ts";
import { showObjects } from "./server.ts";

/** Copies what comes through the ring into the output file. */
export async function client(side: Side<SysvShmOptions>): Promise<void> {
  const { log } = side;
  const key = side.options.keyValue;
  const k = formatKey(key);

  // 1. Create the output first (unnamed until the copy is complete).
  using output = side.createOutput();
  log.say(`I am the client, the consumer: I write ${JSON.stringify(output.path)}`);

  // 2. Wait for the server's segment: shmget(key, 0, 0) fails with ENOENT until the server
  //    has made it, and the header is not ready until the server has written the magic number.
  if (side.byHand && side.options.keyIsDefault) {
    log.say(`in another terminal, run: deno task lesson:sysv-shm server --key ${k} --input FILE`);
  }
  log.say(`the key is ${k} (${side.options.keySource}); waiting for the server's segment`);
  using segment = await openRingWhenReady(key, { ...side.waits, creator: "server" })
    .catch(explainStale);
  log.say(
    `found the segment with shmget(key, 0, 0): shmid ${segment.id}; shmat() mapped its ${
      formatBytes(segment.size)
    } at 0x${segment.address.toString(16)}`,
  );

  // 3. A client given --slots or --slot-size expects that ring: check before attaching.
  checkLayout(side.options, readLayout(segment));

  // 4. The set exists: the server made it before the segment.
  const set = SemaphoreSet.open(key, 2);
  log.say(`found the semaphore set with semget(key, 0, 0): semid ${set.id}`);

  // 5. Attach: write my pid into the header. The server then marks the segment for removal.
  const ring = RingBuffer.attach(segment, ringCounters(set, side.waits), {
    ...side.waits,
    peer: "server",
  });
  log.say(
    `attached: the server, process ${ring.peerPid}, made ${ring.slotCount} slots × ${
      formatBytes(ring.slotSize)
    }`,
  );

  // 6. The copy loop: semop(filled -1, SEM_UNDO), write the slot's bytes straight from the
  //    segment into the file, semop(free +1; filled +1 SEM_UNDO; filled -1).
  log.say("copying: write() takes each slot's bytes straight from the segment into the output");
  try {
    side.startClock();
    for (;;) {
      const slot = await ring.claimFilled();
      const data = ring.contents(slot);
      if (data.length > 0) output.write(data);
      if (log.tracing) {
        const counts = ring.counts();
        log.trace(
          `slot ${slot}: took ${data.length} bytes${
            data.length === 0 ? " (the end-of-file marker)" : ""
          }; free = ${counts.free}, filled = ${counts.filled}`,
        );
      }
      ring.release(slot);
      if (data.length === 0) break;
      side.count(data.length);
    }
    side.stopClock();
    log.say(`found the end-of-file marker after ${formatBytes(side.bytes)}`);

    // 7. The end marker carries the server's total: a stray semop on "filled" would have let
    //    us take a slot before it was filled.
    ring.checkEnd();
    log.say(
      `the server's total in the header is ${formatBytes(side.bytes)} too, and no post is ` +
        "left over: the copy is whole",
    );
  } catch (error) {
    if (error instanceof PeerGone) throw serverGone(error, segment, set);
    // A set has no "marked for removal": once the server removes it (it failed, or gave up
    // waiting), the next semop fails with EINVAL, or EIDRM for one that was waiting.
    if (error instanceof LibcError && (error.code === "EINVAL" || error.code === "EIDRM")) {
      throw new LessonError(
        `${error.message}: the server removed the semaphore set ${k} (it failed or gave up) ` +
          `after ${formatBytes(side.bytes)}: transfer incomplete`,
      );
    }
    throw error;
  }

  // 8. Detach: shm_nattch falls to 1, the server sees it and removes the set.
  showObjects(log, "shm", segment.id);
  segment.detach();
  log.say(
    `detached with shmdt(): the segment, marked for removal, lives only while the server is ` +
      "still attached",
  );

  // 9. The copy is complete: give it its name.
  log.say(await output.commit());
}

/**
 * The server died mid-copy. It can no longer remove the set (a set is never "marked", so it
 * was still there), nor the segment if it died before marking it: the client, the last user,
 * removes both. Nobody else can be using them: the ring has one producer and one consumer.
 */
function serverGone(error: PeerGone, segment: SysVSegment, set: SemaphoreSet): LessonError {
  const removed: string[] = [];
  try {
    semctlRemove(set.id);
    removed.push(`the semaphore set (semid ${set.id})`);
  } catch { /* gone already */ }
  let marked = true;
  try {
    marked = segment.stat().dest;
  } catch { /* gone already */ }
  if (!marked) {
    try {
      shmctlRemove(segment.id);
      removed.push(`the segment (shmid ${segment.id})`);
    } catch { /* gone already */ }
  }
  return new LessonError(
    `${error.message}${removed.length > 0 ? `; removed ${removed.join(" and ")} it left` : ""}`,
  );
}

/** A client given --slots or --slot-size expects that ring: a different one is a mistake. */
function checkLayout(options: SysvShmOptions, layout: RingLayout): void {
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
