/**
 * Assignment shm-consumer: the consumer of a bounded buffer in shared memory. Read README.md
 * first: it gives the ring's layout and the algorithm.
 *
 *     deno run -A assignments/shm-consumer/client.ts --name /ipc-lesson-shm-lab --output FILE
 *     deno task grade shm-consumer --submission assignments/shm-consumer/client.ts
 *
 * Fill in the TODOs. Everything you need is exported by mod.ts; see README.md, "What you may
 * use". runProgram already does the command line, Ctrl-C and the one-line error for you.
 *
 * @module
 */

import {
  isRunning,
  openWhenReady,
  OutputFile,
  readLayout,
  ringNames,
  runProgram,
  Semaphore,
} from "../../mod.ts";

/** The header's 32-bit words (see the layout in README.md). */
const CREATOR_PID = 5;
const ATTACHED_PID = 6;
/** Where `length[N]` starts, in bytes. */
const LENGTHS_OFFSET = 32;

await runProgram(async ({ args, waits }) => {
  const names = ringNames(args.name);

  // 1. Create the output first (unnamed until commit()): a bad path fails before we wait.
  using output = new OutputFile(args.output);

  // 2. Wait for the server's segment to exist and be marked ready, and read its layout.
  using segment = await openWhenReady(names.segment, { ...waits, creator: "server" });
  const layout = readLayout(segment);
  const memory = segment.bytes; // the whole segment: header, lengths, slots

  // 3. Open the two semaphores the server made.
  using free = Semaphore.open(names.free, waits);
  using filled = Semaphore.open(names.filled, waits);

  // 4. Attach: store your pid in the header's attached_pid word, atomically, only if it is 0.
  const header = new Int32Array(memory.buffer, 0, 8);
  if (Atomics.compareExchange(header, ATTACHED_PID, 0, Deno.pid) !== 0) {
    throw new Error(`another client has already attached to ${names.segment}`);
  }
  const server = header[CREATOR_PID]!;
  const lengths = new Uint32Array(memory.buffer, LENGTHS_OFFSET, layout.slots);

  // TODO 5: the consumer's loop, slot r = 0, 1, …, N − 1, 0, 1, …:
  //           wait(filled); n = lengths[r]; write the n bytes of slot r to the output;
  //           post(free); stop after the slot that holds 0 bytes (the end marker).
  //         Slot r starts at layout.dataOffset + r * layout.slotSize in `memory`.
  //         Give filled.wait() the timeout and the signal ({ ...waits }), and a `whileParked`
  //         that throws when the server is no longer running (isRunning(server)).
  // TODO 6: the copy is complete: output.commit().
  void [output, free, filled, lengths, server, isRunning];
  throw new Error("not written yet: attached, but no slot taken (TODO 5 and 6 in client.ts)");
}, { options: ["name", "output"] });
