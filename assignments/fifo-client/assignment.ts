/**
 * The `fifo-client` assignment: write the reader of the FIFO lesson's protocol. The peer is the
 * lesson's own server (`lessons/fifo/main.ts server`).
 *
 * @module
 */

import { join } from "node:path";
import { exists, pause, until } from "../_grader.ts";
import { MiB } from "../_checks.ts";
import type { Assignment, Check } from "../_grader.ts";
import {
  busyWaitCheck,
  bytesCheck,
  type CheckSettings,
  ctrlCCheck,
  memoryCheck,
  nothingLeftCheck,
  orderCheck,
  peerDiesCheck,
} from "../_checks.ts";

/** The pipe's default size, and the largest this system allows (/proc/sys/fs/pipe-max-size). */
const PIPE = 64 * 1024;

const settings: CheckSettings = {
  sizes: [0, 1, PIPE - 1, PIPE, PIPE + 1, MiB - 1, MiB + 1, 64 * MiB],
  waitInput: "sample",
  orderInput: "sample",
  deathVisible: false,
  killAfter: "1",
};

/** `protocol`: the FIFO is made with mode 0600, and its name removed once both ends are open. */
const protocol: Check = {
  id: "protocol",
  title: "the FIFO made with mode 0600, its name removed as soon as both ends are open",
  points: 10,
  async run(grading) {
    let mode: number | null = null;
    let goneEarly = false;
    let nameWhileCopying: boolean | null = null;
    const run = await grading.run({
      input: 16 * MiB,
      first: "student",
      gapMs: 0,
      // The server stops after its first write: the client has opened the FIFO by then.
      peerArgs: ["--kill-after=server:1:STOP"],
      limitMs: 5000,
      beforePeer: (student, path) => {
        // A client that has already exited may have made its FIFO and removed it on its way
        // out (the starter does, when it throws at a TODO): say that it left, not that it made
        // none.
        goneEarly = !student.running;
        try {
          mode = Deno.lstatSync(path).mode! & 0o777;
        } catch { /* not there */ }
      },
      during: async (run) => {
        const stopped = await until(
          // (A client that has gone will never open the FIFO: no use waiting for the server.)
          () => run.peer?.state() === "T" || !run.peer?.running || !run.student.running,
          20_000,
        );
        if (stopped && run.peer?.state() === "T") {
          await pause(200);
          nameWhileCopying = exists(run.name);
        }
        run.peer?.kill("SIGKILL");
      },
    });
    if (mode === null && goneEarly) {
      return `your client exited before the server came (it ${run.student.describeExit()}: ${run.student.said()})`;
    }
    if (mode === null) {
      return `your client made no FIFO at --path before the server came (it ${run.student.describeExit()}: ${run.student.said()})`;
    }
    if (mode !== 0o600) {
      return `the FIFO had mode 0${
        (mode as number).toString(8)
      }: make it 0600 (makeFifo does), so that only you can open it`;
    }
    if (nameWhileCopying === null) {
      return `the server never wrote anything (your client ${run.student.describeExit()}: ${run.student.said()})`;
    }
    if (nameWhileCopying) {
      return "the FIFO's name was still there while both ends were open and data flowed: remove " +
        "it (fifo.unlink()) as soon as the read end is open, so that a crash leaves nothing behind";
    }
    return null;
  },
};

/** The assignment. */
export const assignment: Assignment = {
  name: "fifo-client",
  title: "Write the reader of a FIFO copy",
  role: "client",
  starter: "client.ts",
  solution: "solution/client.ts",
  lesson: "lessons/fifo/main.ts",
  channelOption: "path",
  freshName: (dir) => join(dir, "channel.fifo"),
  leftovers: (path) => exists(path) ? [`the FIFO ${path}`] : [],
  removeLeftovers: (path) => {
    try {
      Deno.removeSync(path);
    } catch { /* not there */ }
  },
  studentWaiting: (path) => exists(path),
  checks: [
    bytesCheck(settings, 25, "0, 1, 64 KiB pipe ±1, 1 MiB ±1"),
    orderCheck(settings, 10),
    peerDiesCheck(settings, 10),
    ctrlCCheck(settings, 10),
    nothingLeftCheck(settings, 10),
    busyWaitCheck(settings, 10),
    memoryCheck(15),
    protocol,
  ],
};
