/**
 * Reference solution: the shared-memory lesson's client (lessons/shm/client.ts), as a plain
 * program that does the bounded buffer's part itself, with the two semaphores.
 *
 *     deno run -A client.ts --name /ipc-lesson-shm-lab --output FILE [--timeout SECONDS]
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
} from "../../../mod.ts";

/** The header's 32-bit words (see the protocol in README.md). */
const CREATOR_PID = 5;
const ATTACHED_PID = 6;
/** Where `length[N]` starts, in bytes. */
const LENGTHS_OFFSET = 32;

await runProgram(async ({ args, waits, timeoutMs }) => {
  const names = ringNames(args.name);

  // 1. Create the output first (unnamed until commit()): a bad path fails before we wait.
  using output = new OutputFile(args.output);

  // 2. Wait for the server's segment to exist and be marked ready (the magic number).
  using segment = await openWhenReady(names.segment, { ...waits, creator: "server" });
  const layout = readLayout(segment);
  const memory = segment.bytes;

  // 3. The semaphores exist: the server made them before it marked the ring ready.
  using free = Semaphore.open(names.free, waits);
  using filled = Semaphore.open(names.filled, waits);

  // 4. Attach: store my pid in attached_pid, atomically, only if nobody has. The server waits
  //    for it, then removes the names; from then on it can tell if I die, and I if it does.
  const header = new Int32Array(memory.buffer, 0, 8);
  if (Atomics.compareExchange(header, ATTACHED_PID, 0, Deno.pid) !== 0) {
    throw new Error(`another client has already attached to ${names.segment}`);
  }
  const server = header[CREATOR_PID]!;
  const lengths = new Uint32Array(memory.buffer, LENGTHS_OFFSET, layout.slots);

  // While a wait parks: has the server died? A semaphore never says so by itself.
  const waitForFilled = {
    timeout: timeoutMs,
    signal: waits.signal,
    whileParked: () => {
      if (!isRunning(server)) {
        throw new Error(`the server (process ${server}) exited mid-transfer: transfer incomplete`);
      }
    },
  };

  // 5. The consumer's half of the bounded buffer:
  //      wait(filled); use slot r (length[r] bytes); post(free); r = (r + 1) mod N
  //    A slot holding 0 bytes is the end of the file; it is handed back like any other.
  for (let r = 0;; r = (r + 1) % layout.slots) {
    await filled.wait(waitForFilled);
    const n = lengths[r]!;
    const start = layout.dataOffset + r * layout.slotSize;
    if (n > 0) output.write(memory.subarray(start, start + n));
    free.post();
    if (n === 0) break;
  }

  // 6. The copy is complete: give it its name.
  output.commit();
}, { options: ["name", "output"] });
