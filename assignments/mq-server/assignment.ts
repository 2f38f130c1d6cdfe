/**
 * The `mq-server` assignment: write the sender of the POSIX message-queue protocol, with its end
 * marker and its cleanup. The peer is the lesson's own client (`lessons/mq/main.ts client`).
 *
 * @module
 */

import { queueExists, removeQueue } from "../../transports/mq.ts";
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

/** The largest message here (/proc/sys/fs/mqueue/msgsize_max), and how many a queue holds. */
const MSG = 8192;
const QUEUE = 10 * MSG;

const settings: CheckSettings = {
  sizes: [0, 1, MSG - 1, MSG, MSG + 1, QUEUE - 1, QUEUE, QUEUE + 1, 64 * MiB],
  // More than the queue holds: a server with nobody to take its messages must wait.
  waitInput: MiB,
  orderInput: MiB,
  deathVisible: true,
  killAfter: "2M",
};

/**
 * `protocol`: the end marker, and staying until the client has taken everything. A small file
 * fits in the queue, and the client comes 1.5 s late: a server that leaves as soon as it has
 * sent takes the queue, and the messages, with it.
 */
const protocol: Check = {
  id: "protocol",
  title: "the end marker sent; the server stays until a late client has taken every message",
  points: 15,
  async run(grading) {
    const run = await grading.run({ input: "sample", first: "student", gapMs: 1500 });
    const { student, peer } = run;
    if (student.status !== null && student.status.code !== 0 && !student.killedByGrader) {
      return `your server failed: it ${student.describeExit()} (${student.said()})`;
    }
    if (student.exitedAt !== null && peer !== null && student.exitedAt < peer.startedAt) {
      return `your server ${student.describeExit()} before the client came (1.5 s late): the ` +
        "queue went with it (the client found none), and the messages with the queue; wait " +
        "until the client has taken every message (queue.waitUntilEmpty()) before you leave";
    }
    if (student.killedByGrader || student.status === null) {
      return `your server was still running after the client had gone (${peer?.describeExit()}: ${peer?.said()})`;
    }
    if (peer?.status?.code !== 0) {
      return `the client failed: it ${peer?.describeExit()} (${peer?.said()}): did you send ` +
        "the empty message that marks the end?";
    }
    if (student.status.code !== 0) {
      return `your server ${student.describeExit()} (${student.said()})`;
    }
    return null;
  },
};

/** The assignment. */
export const assignment: Assignment = {
  name: "mq-server",
  title: "Write the sender of a POSIX message-queue copy",
  role: "server",
  starter: "server.ts",
  solution: "solution/server.ts",
  lesson: "lessons/mq/main.ts",
  channelOption: "name",
  freshName: freshPosixName,
  leftovers: (name) => queueExists(name) ? [`the message queue ${name}`] : [],
  removeLeftovers: (name) => void removeQueue(name),
  studentWaiting: (name) => queueExists(name),
  checks: [
    bytesCheck(settings, 25, "0, 1, one message ±1, a full queue ±1"),
    orderCheck(settings, 10),
    peerDiesCheck(settings, 10),
    ctrlCCheck(settings, 10),
    nothingLeftCheck(settings, 10),
    busyWaitCheck(settings, 10),
    memoryCheck(10),
    protocol,
  ],
};
