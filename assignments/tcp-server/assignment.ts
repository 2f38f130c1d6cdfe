/**
 * The `tcp-server` assignment: one TCP server, many clients at the same time. The peers are the
 * lesson's own clients (`lessons/tcp/main.ts client`), which find the server's port in a port
 * file.
 *
 * @module
 */

import { join } from "node:path";
import {
  busyWaitCheck,
  bytesCheck,
  type CheckSettings,
  ctrlCCheck,
  memoryCheck,
  MiB,
  nothingLeftCheck,
  NOTICE_MS,
  orderCheck,
} from "../_checks.ts";
import type { Assignment, Check } from "../_grader.ts";
import { exists, pause, until } from "../_grader.ts";

/** The server's chunk in the reference, and the socket's send buffer the lesson asks for. */
const CHUNK = 64 * 1024;

const settings: CheckSettings = {
  sizes: [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, MiB - 1, MiB + 1, 64 * MiB],
  waitInput: "sample",
  orderInput: MiB,
  deathVisible: true,
  killAfter: "2M",
};

/**
 * `client-dies`: with two clients, one is killed mid-transfer. That is the client's failure, not
 * the server's: the other must still get its whole copy, and the server must go on, and finish.
 */
const clientDies: Check = {
  id: "client-dies",
  title: "one of two clients killed mid-transfer: the other still gets its copy; exit 0 within 2 s",
  points: 10,
  async run(grading) {
    const run = await grading.run({
      input: 16 * MiB,
      first: "student",
      gapMs: 0,
      peers: 2,
      peerArgs: ["--kill-after=client:2M"],
      limitMs: 20_000,
    });
    const [dead, other] = run.peers;
    const { student } = run;
    if (dead?.status?.signal !== "SIGKILL" || dead.killedByGrader) {
      return `the transfer never got going (client 1 was to be killed after 2 MiB): your server ${student.describeExit()} (${student.said()}); client 1 ${dead?.describeExit()}`;
    }
    if (other?.status?.code !== 0 || !run.outputsExact[1]) {
      return `when client 1 was killed, client 2 did not get its whole copy: it ${other?.describeExit()} (${other?.said()}); a client that goes away must not stop the others`;
    }
    if (student.killedByGrader || student.exitedAt === null) {
      return "your server was still running after both clients had gone: a client that goes " +
        "away (its write fails with EPIPE or ECONNRESET) is done with; the server must finish";
    }
    const late = student.exitedAt - Math.max(dead.exitedAt!, other.exitedAt!);
    grading.details.push(`exited ${Math.max(0, late / 1000).toFixed(1)} s after the last client`);
    if (late > NOTICE_MS) {
      return `your server took ${
        (late / 1000).toFixed(1)
      } s to exit after the last client (at most 2 s)`;
    }
    if (student.status?.code !== 0) {
      return `your server ${student.describeExit()} (${student.said()}): a client that goes away is ` +
        "that client's failure; say so in one line, serve the others, and exit 0";
    }
    if (run.leftovers.length > 0) return `it left ${run.leftovers.join(", ")} behind`;
    return null;
  },
};

/**
 * `protocol`: clients served at the same time. Three clients; the first is stopped (SIGSTOP)
 * after 1 MiB, with its socket full: the other two must get their whole copies meanwhile.
 */
const protocol: Check = {
  id: "protocol",
  title: "clients served at the same time: with one client stopped, two others get their copies",
  points: 15,
  async run(grading) {
    let finished: boolean[] = [];
    let stopped = false;
    const run = await grading.run({
      input: 16 * MiB,
      first: "student",
      gapMs: 0,
      peers: 3,
      // Client 1 alone first, and the other two once it is stopped: a server that serves one
      // client at a time is then stuck on client 1, whichever order it would accept them in.
      othersLater: true,
      peerArgs: ["--kill-after=client:1M:STOP"],
      limitMs: 20_000,
      during: async (run) => {
        stopped = await until(
          () => run.peers[0]?.state() === "T" || !run.peers[0]?.running || !run.student.running,
          15_000,
        ) && run.peers[0]?.state() === "T";
        if (!stopped) return;
        run.startOtherPeers();
        await until(() => run.peers.slice(1).every((peer) => !peer.running), 8000);
        finished = run.peers.slice(1).map((peer) => !peer.running && peer.status?.code === 0);
        await pause(100);
        run.peers[0]?.kill("SIGKILL");
      },
    });
    if (!stopped) {
      return `the first client never got 1 MiB: your server ${run.student.describeExit()} (${run.student.said()})`;
    }
    const waiting = finished.map((done, i) => done ? null : `client ${i + 2}`).filter((who) => who);
    if (finished.length < 2 || waiting.length > 0) {
      return `while client 1 was stopped (SIGSTOP), ${waiting.join(" and ")} got no whole copy ` +
        "within 8 s: your server serves one client at a time; serve each connection on its " +
        "own, without waiting for the others (start each copy, then accept the next)";
    }
    const wrong = [1, 2].filter((i) => !run.outputsExact[i]).map((i) => `client ${i + 1}`);
    if (wrong.length > 0) {
      return `${wrong.join(" and ")} got a copy that is not byte-exact: do the clients share one ` +
        "open file (one read position)? Open the input once per client";
    }
    return null;
  },
};

/** The assignment. */
export const assignment: Assignment = {
  name: "tcp-server",
  title: "Write a TCP server that serves many clients at the same time",
  role: "server",
  starter: "server.ts",
  solution: "solution/server.ts",
  lesson: "lessons/tcp/main.ts",
  channelOption: "port-file",
  studentArgs: (plan) => ["--clients", String(plan.noPeer ? 1 : plan.peers ?? 1)],
  freshName: (dir) => join(dir, "server.port"),
  leftovers: (path) => exists(path) ? [`the port file ${path}`] : [],
  removeLeftovers: (path) => {
    try {
      Deno.removeSync(path);
    } catch { /* not there */ }
  },
  studentWaiting: (path) => exists(path),
  checks: [
    bytesCheck(settings, 20, "0, 1, 64 KiB ±1, 1 MiB ±1"),
    orderCheck(settings, 10),
    clientDies,
    ctrlCCheck(settings, 10),
    nothingLeftCheck(settings, 5),
    busyWaitCheck(settings, 10),
    memoryCheck(20),
    protocol,
  ],
};
