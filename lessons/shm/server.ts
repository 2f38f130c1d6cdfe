/**
 * The shared-memory lesson's server: the producer, and the creator of everything.
 *
 * It makes the segment and the two semaphores, marks the ring ready, waits for the client to
 * attach, and removes the names at once: from then on nothing can be left behind, whatever
 * happens to either process. Then it reads the input file straight into free slots.
 *
 * @module
 */

import { LibcError } from "../../transports/libc.ts";
import { PeerGone, RingBuffer, ringLayout, ringNames } from "../../transports/ring_buffer.ts";
import { Semaphore } from "../../transports/semaphore.ts";
import { SharedMemory } from "../../transports/shm.ts";
import { formatBytes } from "../../transports/units.ts";
import { LessonError, type Side } from "../_lesson.ts";
import { refuseTakenNames, type ShmOptions } from "./common.ts";

/** Sends the input file through a ring of slots in shared memory. */
export async function server(side: Side<ShmOptions>): Promise<void> {
  const { log } = side;
  const { slots, slotSize } = side.options;
  const names = ringNames(side.options.name);

  // 1. Open the input first: if it is missing, nobody should be kept waiting for us.
  using input = side.openInput();
  log.say(
    `I am the server, the producer: I send ${JSON.stringify(input.path)} (${
      formatBytes(input.size)
    })`,
  );

  // 2. The names must be free. If one is taken, a run killed with kill -9 may have left it:
  //    say so, and touch nothing.
  refuseTakenNames(names);

  // 3. The segment. shm_open(O_CREAT | O_EXCL, 0600) makes an empty object, /dev/shm/NAME;
  //    ftruncate() gives it its size (touching memory past the end would raise SIGBUS);
  //    posix_fallocate() reserves its pages now, so that a full /dev/shm fails here, with
  //    ENOSPC, and not later with SIGBUS at a store into a page there is no room for;
  //    mmap(MAP_SHARED) maps it, so that our stores land in memory the client will map too.
  const layout = ringLayout(slots, slotSize);
  using segment = createSegment(names.segment, layout.size);
  log.say(
    `created the shared-memory segment ${names.segment} with shm_open(O_CREAT|O_EXCL, 0600), ` +
      `sized it with ftruncate() to ${formatBytes(layout.size)} (a ${
        formatBytes(layout.dataOffset)
      } header + ${slots} slots × ${
        formatBytes(slotSize)
      }), reserved its pages with posix_fallocate(), mapped it at 0x${
        segment.address.toString(16)
      }: ls -l ${segment.path}`,
  );

  // 4. Two counting semaphores: "free" counts the slots the server may fill (all of them, at
  //    first); "filled" counts the slots the client may empty (none yet).
  using free = Semaphore.create(names.free, slots, side.waits);
  using filled = Semaphore.create(names.filled, 0, side.waits);
  log.say(
    `created the semaphores ${names.free} = ${slots} and ${names.filled} = 0 with ` +
      `sem_open(O_CREAT|O_EXCL, 0600): ${free.path}, ${filled.path}`,
  );

  // 5. The header: how many slots, how large, and my pid. The magic number goes in last: a
  //    client that sees it knows that everything else is in place.
  const ring = RingBuffer.create(segment, { free, filled }, slots, slotSize, {
    ...side.waits,
    peer: "client",
  });
  log.say(`wrote the header, the magic number "RING" last: the ring is ready`);
  if (side.byHand && side.options.nameIsDefault) {
    log.say(
      `in another terminal, run: deno task lesson:shm client --name ${names.segment} --output copy.txt`,
    );
  }

  // 6. Wait for the client to attach: it writes its pid into the header.
  log.say(`waiting for a client to attach to ${names.segment}`);
  const clientPid = await ring.waitForPeer();
  log.say(`the client, process ${clientPid}, has attached`);

  // 7. Both processes have mapped the segment and opened the semaphores, so the names have
  //    done their job. Removing them now means that nothing is left behind even if one of us
  //    is killed later: the kernel frees the memory when the last mapping goes.
  segment.unlink();
  free.unlink();
  filled.unlink();
  log.say(
    `removed the names with shm_unlink() and sem_unlink(): /dev/shm no longer lists them, ` +
      `but the memory stays mapped (/proc/${Deno.pid}/maps shows it as "(deleted)")`,
  );

  // 8. The copy loop. Wait for a free slot, read the next chunk of the file straight into it
  //    (the slot is shared memory: no buffer in between), record its length, hand it over.
  //    At the end of the file read() returns 0, and the slot holding 0 bytes is the end marker.
  log.say(
    "copying: read() copies each chunk of the file straight into a slot of shared memory, and " +
      "the client's write() copies it out: two copies in all, where a pipe needs two more " +
      "(into the kernel's buffer and back out)",
  );
  try {
    // One view of --chunk bytes per slot, made once: the loop allocates nothing.
    const chunks = ring.slots.map((slot) => slot.subarray(0, side.chunk));
    side.startClock();
    for (;;) {
      const slot = await ring.claimFree(); // sem_wait(free)
      const n = input.read(chunks[slot]!);
      // (Traced before the hand-off: once posted, the client may take the slot at once.)
      if (log.tracing) {
        const counts = ring.counts();
        log.trace(
          `slot ${slot}: put ${n} bytes${
            n === 0 ? " (the end-of-file marker)" : ""
          }; free = ${counts.free}, filled = ${counts.filled}`,
        );
      }
      ring.publish(slot, n); // length[slot] = n; sem_post(filled)
      if (n === 0) break;
      side.count(n);
    }
    log.say(`sent ${formatBytes(side.bytes)}, then a slot holding 0 bytes: the end of the file`);

    // 9. Wait until the client has emptied every slot, the end marker included: only then do
    //    we know that everything arrived (or, if the client dies, we notice and say so). A
    //    post on "filled" left over then was not ours: the client took a slot too early.
    await ring.drain();
  } catch (error) {
    if (error instanceof PeerGone) throw clientGone(error, side.bytes, ring, side.chunk);
    throw error;
  }
  log.say("the client has emptied every slot: the transfer is complete");
}

/**
 * The client died mid-copy. The server only knows what it sent, and how many slots the client
 * had not yet taken (`filled`): say that, not how far the client got, which it cannot know.
 */
function clientGone(error: PeerGone, sent: number, ring: RingBuffer, chunk: number): LessonError {
  let waiting: number | null = null;
  try {
    waiting = ring.counts().filled;
  } catch { /* the semaphore cannot be read: leave it out */ }
  const untaken = waiting === null
    ? ""
    : `; ${waiting} slot${waiting === 1 ? " was" : "s were"} still filled and untaken, so the ` +
      `client had taken at least ${formatBytes(Math.max(0, sent - waiting * chunk))}`;
  return new LessonError(
    `the client exited after the server had sent ${formatBytes(sent)}${untaken}: ` +
      `transfer incomplete (process ${error.pid} is gone)`,
  );
}

/** Creates the segment; a /dev/shm without room for it is one clear line, with what to do. */
function createSegment(name: string, size: number): SharedMemory {
  try {
    return SharedMemory.create(name, size);
  } catch (error) {
    if (error instanceof LibcError && error.code === "ENOSPC") {
      throw new LessonError(
        `${error.message}: make the ring smaller (--slots, --slot-size), or make room in /dev/shm`,
      );
    }
    throw error;
  }
}
