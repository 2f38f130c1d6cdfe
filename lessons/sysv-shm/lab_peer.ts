/**
 * The second process of the System V shared-memory lesson's break-it labs. `labs.ts` starts
 * it; it is not meant to be run by hand.
 *
 *     deno run -A lessons/sysv-shm/lab_peer.ts make KEY          lab no-rmid: make, never remove
 *     deno run -A lessons/sysv-shm/lab_peer.ts hold KEY plain    lab sem-undo: take the lock, stay
 *     deno run -A lessons/sysv-shm/lab_peer.ts hold KEY undo     the same with SEM_UNDO
 *
 * @module
 */

import * as libc from "../../transports/libc.ts";
import { formatLine, stderrHasColor, writeStderr } from "../_log.ts";

function say(text: string, kind?: "error"): void {
  writeStderr(formatLine("lab", Deno.pid, text, { color: stderrHasColor(), kind }));
}

/**
 * Lab no-rmid: makes a segment and a semaphore set for `key`, and exits without IPC_RMID, as a
 * program does that forgets it (or is killed before it gets there).
 */
function make(key: number): number {
  const flags = libc.IPC.CREAT | libc.IPC.EXCL | 0o600;
  const semid = libc.semget(key, 1, flags);
  const shmid = libc.shmget(key, 65536, flags);
  const address = libc.shmat(shmid);
  libc.shmdt(address);
  say(`made the segment (shmid ${shmid}) and the set (semid ${semid}); exiting without IPC_RMID`);
  return 0;
}

/**
 * Lab sem-undo: takes the lock (semaphore 0 of the set of `key`, from 1 to 0), with or without
 * SEM_UNDO, says so, and stays inside the critical section until it is killed.
 */
async function hold(key: number, undo: boolean): Promise<number> {
  const semid = libc.semget(key, 0, 0);
  const flags = (undo ? libc.SEM_UNDO : 0) | libc.IPC.NOWAIT;
  if (libc.semop(semid, libc.sembufs([0, -1, flags])) !== 0) {
    say("the lock was taken already", "error");
    return 1;
  }
  say(
    `took the lock with semop(sem_op=-1, sem_flg=${undo ? "SEM_UNDO" : "0"}): inside the ` +
      "critical section",
  );
  await new Promise((resolve) => setTimeout(resolve, 30_000)); // until killed
  return 1;
}

/** Runs the role named on the command line; returns the exit status. */
async function main(args: string[]): Promise<number> {
  const [role, keyText, mode] = args;
  const key = Number(keyText) | 0;
  if (role === "make" && key !== 0) return make(key);
  if (role === "hold" && key !== 0 && (mode === "plain" || mode === "undo")) {
    return await hold(key, mode === "undo");
  }
  say(
    "usage: lab_peer.ts make KEY | hold KEY plain|undo (started by the sysv-shm lesson's labs: " +
      "deno task lesson:sysv-shm --break list)",
    "error",
  );
  return 2;
}

if (import.meta.main) {
  let status: number;
  try {
    status = await main(Deno.args);
  } catch (error) {
    say(error instanceof Error ? error.message : String(error), "error");
    status = 1;
  }
  Deno.exit(status);
}
