/**
 * The second process of the shared-memory lesson's break-it labs. `labs.ts` starts it; it is
 * not meant to be run by hand.
 *
 *     deno run -A lessons/shm/lab_peer.ts unsynced-consumer NAME OUTPUT   lab no-sync
 *     deno run -A lessons/shm/lab_peer.ts no-ftruncate NAME               lab no-ftruncate
 *     deno run -A lessons/shm/lab_peer.ts ftruncate-first NAME            its fix
 *
 * Each role is a few lines of the lesson with one step left out, so that the mistake can be
 * read here next to the code that gets it right (`client.ts`, `transports/shm.ts`).
 *
 * @module
 */

import * as libc from "../../transports/libc.ts";
import { SharedMemory } from "../../transports/shm.ts";
import { formatLine, stderrHasColor, writeStderr } from "../_log.ts";

/**
 * The no-sync lab's segment: one page of 32-bit header words, then N slots of S bytes. It is
 * the lesson's ring without its two semaphores; a counter of written chunks stands in for them.
 */
export const UNSYNCED = {
  /** Word: N, the number of slots. */
  slots: 0,
  /** Word: S, the bytes per slot. */
  slotSize: 1,
  /** Word: how many chunks of S bytes the producer will write. */
  chunks: 2,
  /** Word: the consumer's pid, stored when it is ready to copy. */
  consumerPid: 3,
  /** Word: how many chunks the producer has written so far. */
  written: 4,
  /** Where slot 0 starts, in bytes. */
  dataOffset: 4096,
} as const;

/** How long the peer waits for anything before it gives up, in ms. */
const PATIENCE_MS = 5000;

function say(text: string, kind?: "trace" | "error"): void {
  writeStderr(formatLine("lab", Deno.pid, text, { color: stderrHasColor(), kind }));
}

/**
 * Lab no-sync, the consumer: copies `chunks` slots into `output`, in ring order, WITHOUT the
 * semaphores. It polls the producer's counter instead of `sem_wait(filled)`, and never tells
 * the producer that a slot is free again (no `sem_post(free)`).
 */
function unsyncedConsumer(name: string, outputPath: string): number {
  using segment = SharedMemory.open(name);
  const buffer = segment.bytes.buffer;
  const words = new Int32Array(buffer, 0, 8);
  const slots = words[UNSYNCED.slots]!;
  const slotSize = words[UNSYNCED.slotSize]!;
  const chunks = words[UNSYNCED.chunks]!;
  const slot = Array.from(
    { length: slots },
    (_, i) => new Uint8Array(buffer, UNSYNCED.dataOffset + i * slotSize, slotSize),
  );
  using output = Deno.openSync(outputPath, { write: true, createNew: true });
  say(`the consumer: mapped ${name}, ${slots} slots of ${slotSize} bytes; ready to copy`);
  Atomics.store(words, UNSYNCED.consumerPid, Deno.pid);

  const deadline = performance.now() + PATIENCE_MS;
  for (let r = 0; r < chunks; r++) {
    // The mistake, part 1: instead of sem_wait(filled), wait until the counter says that
    // chunk r has been written. It says nothing about whether chunk r is still in its slot.
    while (Atomics.load(words, UNSYNCED.written) <= r) {
      if (performance.now() > deadline) {
        say(`the producer wrote no chunk ${r} within ${PATIENCE_MS / 1000} s`, "error");
        return 1;
      }
    }
    // Copy the slot into the file: a write() of S bytes, slower than the producer's stores.
    const data = slot[r % slots]!;
    for (let done = 0; done < data.length;) done += output.writeSync(data.subarray(done));
    // The mistake, part 2: no sem_post(free). The producer never learns that the slot has
    // been read, so it never waits before filling it again.
  }
  say(`the consumer: copied ${chunks} chunks; as far as it can tell, all went well`);
  return 0;
}

/**
 * Lab no-ftruncate: creates a new shared-memory object, maps one page of it, and stores a
 * byte. With `sized` false it skips `ftruncate`, as the mistake does, and SIGBUS ends the
 * process at the store. The object is left for the lab to remove.
 */
function touch(name: string, sized: boolean): number {
  const size = 4096;
  libc.traceCalls((line) => say(line, "trace"));
  const fd = libc.shm_open(name, libc.O.RDWR | libc.O.CREAT | libc.O.EXCL, 0o600);
  if (sized) libc.ftruncate(fd, size);
  const address = libc.mmap(size, libc.PROT.READ | libc.PROT.WRITE, libc.MAP_SHARED, fd);
  libc.close(fd);
  libc.traceCalls(null);
  const bytes = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(address, size));
  say(
    `mmap() succeeded${sized ? "" : " although the object has 0 bytes"}; ` +
      `now storing one byte at 0x${Deno.UnsafePointer.value(address).toString(16)}`,
  );
  // The store is an ordinary memory access. The kernel finds the page only now, at the page
  // fault, and a page beyond the end of the object does not exist: SIGBUS.
  bytes[0] = 42;
  say(`stored ${bytes[0]} and read it back: the page exists`);
  libc.munmap(address, size);
  return 0;
}

/** Runs the role named on the command line; returns the exit status. */
function main(args: string[]): number {
  const [role, name, output] = args;
  if (role === "unsynced-consumer" && name !== undefined && output !== undefined) {
    return unsyncedConsumer(name, output);
  }
  if (role === "no-ftruncate" && name !== undefined) return touch(name, false);
  if (role === "ftruncate-first" && name !== undefined) return touch(name, true);
  say(
    "usage: lab_peer.ts unsynced-consumer NAME OUTPUT | no-ftruncate NAME | ftruncate-first NAME " +
      "(started by the shm lesson's labs: deno task lesson:shm --break list)",
    "error",
  );
  return 2;
}

if (import.meta.main) {
  let status: number;
  try {
    status = main(Deno.args);
  } catch (error) {
    say(error instanceof Error ? error.message : String(error), "error");
    status = 1;
  }
  Deno.exit(status);
}
