/**
 * The `sysv-mq-client` assignment: write the receiver of the System V message-queue lesson's
 * protocol (types 1 data, 2 end, whose 8 bytes are the count of bytes sent). The peer is the lesson's own server
 * (`lessons/sysv-mq/main.ts server --key`).
 *
 * @module
 */

import { IPC, msgctl } from "../../transports/libc.ts";
import { MTYPE, SysvQueue, sysvQueueOf } from "../../transports/sysv_mq.ts";
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
import type { Assignment, Check } from "../_grader.ts";

/** The largest message here (msgmax), and the most bytes a queue holds (msgmnb). */
const MSG = 8192;
const QUEUE = 16384;

const settings: CheckSettings = {
  sizes: [0, 1, MSG - 1, MSG, MSG + 1, QUEUE - 1, QUEUE, QUEUE + 1, 64 * MiB],
  waitInput: "sample",
  orderInput: "sample",
  deathVisible: true,
  killAfter: "2M",
};

/** The key in `name` (`0x67…`) as a number. */
function keyOf(name: string): number {
  return Number.parseInt(name, 16) | 0;
}

/**
 * `protocol`: the types. A normal copy must end with the server content (the client took the
 * end message too); and a message of a type the protocol does not have (3, from another
 * program using the key) must be refused, with one line and no output, not copied. (The end
 * message's byte count is not graded: a client that ignores it still passes.)
 */
const protocol: Check = {
  id: "protocol",
  title: "msgrcv(0) and the types: 1 copied, 2 the end, any other refused",
  points: 15,
  async run(grading) {
    const normal = await grading.run({ input: "sample", first: "student", gapMs: 0 });
    if (normal.student.status?.code !== 0) {
      return `this check needs a transfer that works: your client ${normal.student.describeExit()} (${normal.student.said()})`;
    }
    if (normal.peer?.status?.code !== 0) {
      return `the server failed: it ${normal.peer?.describeExit()} (${normal.peer?.said()}): ` +
        `it waits until the client has taken every message, the end (type ${MTYPE.END}) too`;
    }
    const text = new TextEncoder();
    const stray = await grading.run({
      input: "sample",
      first: "student",
      gapMs: 0,
      noPeer: true,
      limitMs: 5000,
      during: async (run) => {
        await new Promise((resolve) => setTimeout(resolve, 800));
        using queue = SysvQueue.create(keyOf(run.name), { timeout: 3000 });
        const data = text.encode("data, "), notData = text.encode("not data");
        await queue.send(data, MTYPE.DATA);
        await queue.send(notData, 3);
        // The end's count (8 bytes, little-endian) counts every byte sent, type 3 too: then
        // only the type can tell, not a client's check of the count.
        const end = new Uint8Array(8);
        new DataView(end.buffer).setBigUint64(0, BigInt(data.length + notData.length), true);
        await queue.send(end, MTYPE.END);
        await run.student.exited(3000);
      },
    });
    const { student } = stray;
    if (student.status?.code === 0) {
      return "a message of type 3 came, between data and the end, and your client exited 0: " +
        `the protocol has only types ${MTYPE.DATA} and ${MTYPE.END}; another type means another ` +
        "program is using the key: fail with one line";
    }
    if (stray.outputExists) {
      return "after a message of type 3, your client left an output file: it must not name a " +
        "copy it cannot trust";
    }
    if (student.killedByGrader || student.status === null) {
      return "after a message of type 3 and the end, your client was still running";
    }
    return null;
  },
};

/** The assignment. */
export const assignment: Assignment = {
  name: "sysv-mq-client",
  title: "Write the receiver of a System V message-queue copy",
  role: "client",
  starter: "client.ts",
  solution: "solution/client.ts",
  lesson: "lessons/sysv-mq/main.ts",
  channelOption: "key",
  freshName: () => {
    const hex = Array.from(
      crypto.getRandomValues(new Uint8Array(3)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    return `0x67${hex}`; // 'g', for grade, then 24 random bits
  },
  leftovers: (name) => {
    const info = sysvQueueOf(keyOf(name));
    return info === null ? [] : [`the System V queue with key ${name} (msqid ${info.msqid})`];
  },
  removeLeftovers: (name) => {
    const info = sysvQueueOf(keyOf(name));
    if (info === null) return;
    try {
      msgctl(info.msqid, IPC.RMID);
    } catch { /* gone meanwhile */ }
  },
  // The client makes nothing of its own to wait on: the grader gives it a moment to start.
  // (Nor can it see the client wait on the channel: ctrl-c and no-busy-wait give their points
  // only once a copy through the channel works, see noWorkingTransfer in ../_checks.ts.)
  studentWaiting: () => null,
  checks: [
    bytesCheck(settings, 25, "0, 1, one message ±1, a full queue (16 KiB) ±1"),
    orderCheck(settings, 10),
    peerDiesCheck(settings, 15),
    ctrlCCheck(settings, 10),
    nothingLeftCheck(settings, 5),
    busyWaitCheck(settings, 10),
    memoryCheck(10),
    protocol,
  ],
};
