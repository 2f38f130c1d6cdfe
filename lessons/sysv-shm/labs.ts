/**
 * Break-it labs of the System V shared-memory lesson: `deno task lesson:sysv-shm --break NAME`.
 *
 * - `no-rmid`: a process makes a segment and a semaphore set and exits without IPC_RMID;
 * - `sem-undo`: a process is killed with kill -9 inside its critical section, once without
 *   SEM_UNDO and once with it.
 *
 * The second process of both is `lab_peer.ts`.
 *
 * @module
 */

import { findLeftovers } from "../../transports/leftovers.ts";
import * as libc from "../../transports/libc.ts";
import { isRunning } from "../../transports/holders.ts";
import {
  formatKey,
  ipcrmCommand,
  ipcsLines,
  SemaphoreSet,
  SysVCounter,
  sysvipcLines,
  sysvLeftovers,
} from "../../transports/sysv_shm.ts";
import { seconds, sleep } from "../../transports/wait.ts";
import type { Lab, LabContext } from "../_labs.ts";
import { command, denoArgv, LessonError } from "../_lesson.ts";
import { linesOf, writeStderr } from "../_log.ts";

const PEER = new URL("./lab_peer.ts", import.meta.url).href;

/** A key no other run uses: random, in the lessons' own range (top byte 0x1e), never 0. */
function labKey(): number {
  return libc.madeUpKey();
}

/** Starts the lab peer; resolves once a line matches `ready` (or it exits). */
async function startPeer(lab: LabContext, args: string[], ready: RegExp) {
  const child = command(denoArgv(PEER, args), {
    cwd: lab.dir,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  let seen: () => void = () => {};
  const readyNow = new Promise<void>((resolve) => seen = resolve);
  const done = (async () => {
    for await (const line of linesOf(child.stderr)) {
      writeStderr(`${line}\n`);
      lines.push(line);
      if (ready.test(line)) seen();
    }
    seen();
    return await child.status;
  })();
  const deadline = sleep(10_000, lab.signal).then(() => {
    throw new LessonError(`the lab's peer, process ${child.pid}, said nothing within 10 s`);
  });
  await Promise.race([readyNow, deadline]);
  return {
    child,
    lines,
    done,
    [Symbol.dispose]() {
      try {
        child.kill("SIGKILL");
      } catch { /* exited already */ }
    },
  };
}

/** The ids of `key`'s segment and set, or null for each that does not exist. */
function idsOf(key: number): { shmid: number | null; semid: number | null } {
  const find = (get: () => number) => {
    try {
      return get();
    } catch (error) {
      if (error instanceof libc.LibcError && error.code === "ENOENT") return null;
      throw error;
    }
  };
  return {
    shmid: find(() => libc.shmget(key, 0, 0)),
    semid: find(() => libc.semget(key, 0, 0)),
  };
}

/** Removes whatever `key` still has (the lab leaves nothing, whatever happens). */
function removeKey(key: number): void {
  const { shmid, semid } = idsOf(key);
  if (shmid !== null) libc.shmctlRemove(shmid);
  if (semid !== null) libc.semctlRemove(semid);
}

/** What `ipcs` and `/proc/sysvipc` show for these ids, as lab lines. */
function show(lab: LabContext, shmid: number | null, semid: number | null): void {
  const parts: ["shm" | "sem", number | null][] = [["shm", shmid], ["sem", semid]];
  for (const [kind, id] of parts) {
    if (id === null) continue;
    const command = kind === "shm" ? "ipcs -m" : "ipcs -s";
    for (const line of ipcsLines(kind, [id]) ?? []) lab.say(`  ${command} | ${line}`);
    for (const line of sysvipcLines(kind, [id])) lab.say(`  /proc/sysvipc/${kind} | ${line}`);
  }
}

// ---------------------------------------------------------------------------------------------
// no-rmid
// ---------------------------------------------------------------------------------------------

const noRmid: Lab = {
  name: "no-rmid",
  summary: "a process makes a segment and a semaphore set and exits without IPC_RMID",
  explanation: {
    cause: "System V objects are not files and belong to no process: the kernel keeps them " +
      "until IPC_RMID removes them (or the machine restarts), whoever made them, whatever " +
      "became of that process. No descriptor closes them, so exiting, even cleanly, frees " +
      "nothing; and a segment left behind holds its memory all that time.",
    fix: "remove every object you make: shmctl(id, IPC_RMID) as soon as every process has " +
      "attached (the segment lives until the last shmdt), semctl(id, 0, IPC_RMID) once nobody " +
      "uses the set, on every way out. What a killed run left behind: ipcs -m -s shows it, " +
      "ipcrm -M KEY -S KEY (or deno task clean, for this user's objects whose creator is gone) " +
      "removes it.",
  },
  async run(lab) {
    const key = labKey();
    const k = formatKey(key);
    try {
      lab.say(`a peer makes a segment and a semaphore set for the key ${k}, and exits`);
      using peer = await startPeer(lab, ["make", String(key)], /exiting without IPC_RMID/);
      const status = await peer.done;
      const { shmid, semid } = idsOf(key);
      if (shmid === null || semid === null) return false;
      const info = libc.shmctlStat(shmid);
      lab.say(`the peer, process ${peer.child.pid}, has exited (status ${status.code}); now:`);
      show(lab, shmid, semid);
      const gone = !isRunning(info.cpid);
      lab.symptom(
        `process ${peer.child.pid} exited (status ${status.code}) without IPC_RMID, yet ipcs ` +
          `still lists its segment ${k} (shmid ${shmid}, ${info.segsz} bytes, nattch ` +
          `${info.nattch}, made by process ${info.cpid}, ${gone ? "gone" : "still running"}) ` +
          `and its semaphore set (semid ${semid}): System V objects outlive their creator`,
      );

      // What deno task clean finds: this user's objects whose creator is gone.
      const { found } = findLeftovers([sysvLeftovers], { prefix: "ipc-lesson-", dir: lab.dir });
      const ours = found.filter((object) => object.name === k);
      lab.say(
        `deno task clean finds them in /proc/sysvipc: ${
          ours.map((object) => `${object.kind} ${object.path}`).join(", ") || "nothing"
        }`,
      );
      const ipcrm = ipcrmCommand(key, { segment: true, set: true });
      lab.say(`removing them as you would by hand: ${ipcrm}`);
      const result = new Deno.Command("ipcrm", {
        args: ["-M", k, "-S", k],
        stdout: "null",
        stderr: "null",
      }).outputSync();
      if (!result.success) removeKey(key);
      const after = idsOf(key);
      lab.say(
        after.shmid === null && after.semid === null
          ? `gone: ipcs and /proc/sysvipc list neither shmid ${shmid} nor semid ${semid} now`
          : "something is left; removed it with IPC_RMID",
      );
      return gone && ours.length === 2 && after.shmid === null && after.semid === null;
    } finally {
      removeKey(key);
    }
  },
};

// ---------------------------------------------------------------------------------------------
// sem-undo
// ---------------------------------------------------------------------------------------------

/** How long the lab's own process waits for the lock before it gives up. */
const LOCK_WAIT_MS = 1500;

/** One round: the peer takes the lock (with `undo` or not) and is killed inside. */
async function round(lab: LabContext, undo: boolean) {
  const key = labKey();
  using set = SemaphoreSet.create(key, [1]); // a lock: 1 = free
  const how = undo ? "with SEM_UNDO" : "without SEM_UNDO";
  lab.say(`the lock is semaphore 0 of the set ${formatKey(key)} (semid ${set.id}), at 1: free`);
  using peer = await startPeer(
    lab,
    ["hold", String(key), undo ? "undo" : "plain"],
    /inside the critical section/,
  );
  const pid = peer.child.pid;
  lab.say(`kill -9 ${pid}, inside its critical section (it took the lock ${how})`);
  peer.child.kill("SIGKILL");
  await peer.done;
  const value = set.value(0);
  const last = set.lastPid(0);
  lab.say(`after the kill: semval = ${value}, sempid (GETPID) = ${last}`);
  const lock = new SysVCounter(set, 0, "lock", 0, { undo: false });
  const started = performance.now();
  try {
    await lock.wait({ timeout: LOCK_WAIT_MS, signal: lab.signal });
  } catch (error) {
    if (!(error instanceof Deno.errors.TimedOut)) throw error;
    lab.say(`the other side waited for the lock ${seconds(LOCK_WAIT_MS)} in vain`);
    return { pid, value, got: false, ms: performance.now() - started };
  }
  const ms = performance.now() - started;
  lab.say(`the other side took the lock after ${seconds(Math.round(ms))}`);
  return { pid, value, got: true, ms };
}

const semUndo: Lab = {
  name: "sem-undo",
  summary: "kill -9 a process inside its critical section, without and with SEM_UNDO",
  explanation: {
    cause: "a semaphore is a count in the kernel, not a lock a process owns: a process killed " +
      "between its semop(-1) and its semop(+1) never gives back what it took, and everyone " +
      "else waits for ever (or, with a timeout, gives up). With SEM_UNDO the kernel keeps, per " +
      "process and semaphore, the sum of what to undo (semadj: +1 here) and applies it when the " +
      "process exits, however it exits: the lock is free again the moment the holder dies.",
    fix: "take a lock with sem_flg = SEM_UNDO (POSIX semaphores have no such thing: a " +
      "pthread mutex with PTHREAD_MUTEX_ROBUST is their answer). But SEM_UNDO only undoes the " +
      "count: the data the holder was changing may be half-changed, so check it. And on a " +
      "counter that one process takes and another gives (a producer and a consumer) it " +
      "undoes only the taking; the lesson's ring cancels each note in the semop that hands " +
      "the slot on, or semadj would grow with every slot (ERANGE past 32767).",
  },
  async run(lab) {
    lab.say("round 1: the peer takes the lock WITHOUT SEM_UNDO");
    const plain = await round(lab, false);
    lab.say("round 2: the same, WITH SEM_UNDO");
    const undo = await round(lab, true);
    lab.symptom(
      `without SEM_UNDO the lock stayed taken after process ${plain.pid} was killed inside its ` +
        `critical section (semval ${plain.value}): the other side ${
          plain.got ? "got it anyway" : `hung until its timeout (${seconds(LOCK_WAIT_MS)})`
        }; with SEM_UNDO the kernel undid process ${undo.pid}'s semop at its death (semval ${undo.value}) ` +
        `and the other side ${undo.got ? "went on at once" : "hung too"}`,
    );
    return !plain.got && plain.value === 0 && undo.got && undo.value === 1;
  },
};

/** The labs, in the order `--break list` shows them. */
export const labs: Lab[] = [noRmid, semUndo];
