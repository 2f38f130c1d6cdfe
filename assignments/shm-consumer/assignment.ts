/**
 * The `shm-consumer` assignment: write the consumer side of the bounded buffer in shared memory,
 * with its two counting semaphores. The peer is the lesson's own server, the producer
 * (`lessons/shm/main.ts server`).
 *
 * @module
 */

import { ringNames, ringParts } from "../../transports/ring_buffer.ts";
import {
  busyWaitCheck,
  bytesCheck,
  type CheckSettings,
  ctrlCCheck,
  memoryCheck,
  MiB,
  nothingLeftCheck,
  orderCheck,
  peerDiesCheck,
} from "../_checks.ts";
import { type Assignment, type Check, freshPosixName } from "../_grader.ts";

/** The lesson's default ring: 16 slots of 128 KiB. */
const SLOT = 128 * 1024;
const RING = 16 * SLOT;

const settings: CheckSettings = {
  sizes: [0, 1, SLOT - 1, SLOT, SLOT + 1, RING - 1, RING, RING + 1, 64 * MiB],
  waitInput: "sample",
  orderInput: "sample",
  deathVisible: true,
  killAfter: "4M", // past the 2 MiB ring: the server gets there only if the client takes slots
};

/**
 * `protocol`: every slot handed back, the end marker's too. The producer leaves only once it
 * has taken `free` N times after the end marker (all its slots back): a consumer that does not
 * post `free` for the last slot leaves the producer waiting, and the producer fails when the
 * consumer exits.
 */
const protocol: Check = {
  id: "protocol",
  title: "semaphore order: every slot handed back with post(free), the end marker's slot too",
  points: 10,
  async run(grading) {
    const run = await grading.run({ input: 3 * MiB, first: "student", gapMs: 0 });
    const { student, peer } = run;
    if (student.status?.code !== 0) {
      return `this check needs a transfer that works: your client ${student.describeExit()} (${student.said()})`;
    }
    if (peer?.status?.code !== 0) {
      return `the server (the producer) failed: it ${peer?.describeExit()} (${peer?.said()}): ` +
        "it waits until every slot is free again, so hand back each slot you took with " +
        "free.post(), the one with the end marker too, and only after you have used it";
    }
    return null;
  },
};

/** The assignment. */
export const assignment: Assignment = {
  name: "shm-consumer",
  title: "Write the consumer of a bounded buffer in shared memory",
  role: "client",
  starter: "client.ts",
  solution: "solution/client.ts",
  lesson: "lessons/shm/main.ts",
  channelOption: "name",
  freshName: freshPosixName,
  leftovers: (name) =>
    ringParts(ringNames(name)).filter((part) => part.exists()).map((part) => part.description),
  removeLeftovers: (name) => {
    for (const part of ringParts(ringNames(name))) {
      try {
        if (part.exists()) part.remove();
      } catch { /* gone meanwhile */ }
    }
  },
  // The consumer makes nothing of its own to wait on: the grader gives it a moment to start.
  // (Nor can it see the consumer wait on the channel: ctrl-c and no-busy-wait give their points
  // only once a copy through the channel works, see noWorkingTransfer in ../_checks.ts.)
  studentWaiting: () => null,
  checks: [
    bytesCheck(settings, 25, "0, 1, one slot ±1, a full ring ±1"),
    orderCheck(settings, 10),
    peerDiesCheck(settings, 15),
    ctrlCCheck(settings, 10),
    nothingLeftCheck(settings, 5),
    busyWaitCheck(settings, 10),
    memoryCheck(15),
    protocol,
  ],
};
