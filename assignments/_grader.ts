/**
 * The grader's machinery: what an assignment is, how a run of the student's program against
 * the reference peer (the lesson's own other side) is staged and watched, and the report.
 *
 * A run starts two processes, the student's side and the lesson's peer, in a chosen order and
 * with chosen gaps, and watches the student's process from /proc while it runs: its CPU time
 * (`/proc/PID/stat`, utime + stime) and its peak memory (`VmHWM` in `/proc/PID/status`). The
 * student's side runs in the run's own folder (a stray file it writes lands there), and what
 * either side starts and abandons, even in a session of its own, is ended after the run: the
 * grader is their subreaper ({@linkcode endOrphans}). The checks in `_checks.ts` stage runs and
 * judge them.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  reason,
  sha256File,
  tempDir,
  usableTempDir,
  writeRandomFile,
} from "../transports/files.ts";
import { fifoLeftovers } from "../transports/fifo.ts";
import { type LeftoverReport, posixPart } from "../transports/leftovers.ts";
import {
  becomeChildSubreaper,
  IPC,
  msgctl,
  reapChild,
  semctlGetPid,
  semctlRemove,
  shmctlRemove,
  sysvipcTable,
} from "../transports/libc.ts";
import { queueLeftovers } from "../transports/mq.ts";
import { formatKey } from "../transports/sysv_mq.ts";
import { semaphoreLeftovers } from "../transports/semaphore.ts";
import { segmentLeftovers } from "../transports/shm.ts";
import { socketLeftovers } from "../transports/socket.ts";
import { formatBytes } from "../transports/units.ts";

/** The project's root. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));
/** The assignments' folder. */
export const ASSIGNMENTS_DIR: string = fileURLToPath(new URL(".", import.meta.url));

/**
 * What to undo if the grader itself is interrupted (Ctrl-C on `deno task grade`): the processes
 * it started (each in a process group of its own, so the terminal's Ctrl-C does not reach
 * them), the kernel objects of the run in progress, its files. {@linkcode interruptCleanup}
 * runs them; each removes itself from here when its own `finally` has done the work.
 */
export const cleanups: Set<() => void> = new Set();

/** Runs every pending cleanup (newest first), each once; for a grader that was interrupted. */
export function interruptCleanup(): void {
  for (const cleanup of [...cleanups].reverse()) {
    cleanups.delete(cleanup);
    try {
      cleanup();
    } catch { /* the next one still runs */ }
  }
}

/** Which side of the lesson the student writes. */
export type Role = "server" | "client";

/** One check of an assignment, with its points. */
export interface Check {
  /** Its id, for `--only` and the JSON: `bytes`, `ctrl-c`. */
  id: string;
  /** One line for the table: what it checks. */
  title: string;
  /** Its points; an assignment's add up to 100. */
  points: number;
  /** Runs the check: null when it passed, otherwise why not, in words a student can act on. */
  run(grading: Grading): Promise<string | null>;
}

/** An assignment: the student's side of a lesson, and the checks it is graded by. */
export interface Assignment {
  /** The folder's name: `fifo-client`. */
  name: string;
  /** One line. */
  title: string;
  /** The side the student writes. */
  role: Role;
  /** The starter's file name in the assignment's folder: `client.ts`. */
  starter: string;
  /** The reference solution, relative to the assignment's folder. */
  solution: string;
  /** The lesson whose other side is the peer: `lessons/fifo/main.ts`. */
  lesson: string;
  /** The option that names the channel on both command lines: `path`, `name`, `port-file`. */
  channelOption: "path" | "name" | "port-file" | "key";
  /** More arguments for the student's side of a run (`--clients N`). */
  studentArgs?(plan: RunPlan): string[];
  /** A fresh channel name for one run. */
  freshName(dir: string): string;
  /** The kernel objects of the channel `name` still there, in words (empty: none). */
  leftovers(name: string): string[];
  /** Removes them (after a run, when both processes are gone). */
  removeLeftovers(name: string): void;
  /** Whether the student's side has started waiting (made its FIFO or queue); null: cannot see. */
  studentWaiting(name: string): boolean | null;
  /** The checks, in the order of the table. */
  checks: Check[];
}

/** How much of a process's stderr is kept: its last 64 KiB (the end says what went wrong). */
const STDERR_KEPT = 64 * 1024;

/**
 * The pids of the processes the grader started (every run of every grading in this process)
 * whose end it has not yet seen. Any other child of the grader is an orphan a run abandoned
 * (see {@linkcode endOrphans}).
 */
const started = new Set<number>();

/** One process of a run, watched from /proc while it lives. */
export class Proc {
  readonly pid: number;
  readonly startedAt = performance.now();
  exitedAt: number | null = null;
  status: Deno.CommandStatus | null = null;
  /** Peak resident memory seen (VmHWM), in bytes. */
  peakRss = 0;
  /** CPU time (user + system) in clock ticks, last seen. */
  cpuTicks = 0;
  /**
   * Its pid and those of the descendants seen while it ran (each sample looks at the children
   * of its threads, `/proc/PID/task/TID/children`, and theirs): the processes of the run, to
   * tell which System V objects the run made (see {@linkcode strayObjects}).
   */
  readonly family: Set<number> = new Set();
  readonly done: Promise<void>;
  #stderr = "";
  /** Whether the start of its stderr was dropped (it printed more than is kept). */
  #cut = false;
  #child: Deno.ChildProcess;
  #timer: ReturnType<typeof setInterval>;

  /** Starts `argv` in the folder `cwd` (the project's root unless told). */
  constructor(readonly label: string, argv: string[], cwd: string = ROOT) {
    // Whatever it abandons comes to the grader, not to init (see endOrphans).
    adoptOrphans();
    const child = new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      cwd,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1", RUST_BACKTRACE: "0" },
      // A session and process group of its own (setsid): the grader ends the whole group, so
      // a child it forked cannot outlive it, and its kill(0, …) reaches only its own group.
      detached: true,
    }).spawn();
    this.#child = child;
    this.pid = child.pid;
    this.family.add(this.pid);
    started.add(this.pid);
    const killOnInterrupt = () => this.#killGroup("SIGKILL");
    cleanups.add(killOnInterrupt);
    this.#timer = setInterval(() => this.sample(), 50);
    const reading = (async () => {
      const decoder = new TextDecoder();
      for await (const piece of child.stderr) {
        this.#stderr += decoder.decode(piece, { stream: true });
        // A flood is read and dropped from the front: its end says what went wrong.
        if (this.#stderr.length > 2 * STDERR_KEPT) {
          this.#stderr = this.#stderr.slice(-STDERR_KEPT);
          this.#cut = true;
        }
      }
    })();
    this.done = child.status.then(async (status) => {
      this.exitedAt = performance.now();
      this.status = status;
      started.delete(this.pid);
      clearInterval(this.#timer);
      cleanups.delete(killOnInterrupt);
      // A child it left behind may hold its stderr open: end the group, and stop reading
      // after a moment whatever still holds the pipe.
      this.#killGroup("SIGKILL");
      await Promise.race([reading.catch(() => {}), pause(500)]);
    });
  }

  /** What it wrote on stderr: the last 64 KiB of it, from a line's start, if it wrote more. */
  get stderr(): string {
    if (!this.#cut && this.#stderr.length <= STDERR_KEPT) return this.#stderr;
    const tail = this.#stderr.slice(-STDERR_KEPT);
    return tail.slice(tail.indexOf("\n") + 1);
  }

  /** Whether it still runs. */
  get running(): boolean {
    return this.status === null;
  }

  /** Reads its CPU time and peak memory now (nothing once it has gone). */
  sample(): void {
    if (this.status !== null) return;
    try {
      const stat = Deno.readTextFileSync(`/proc/${this.pid}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // Fields 14 and 15 of proc(5), utime and stime; fields[0] here is field 3, the state.
      this.cpuTicks = Number(fields[11]) + Number(fields[12]);
      const hwm = Deno.readTextFileSync(`/proc/${this.pid}/status`).match(/^VmHWM:\s*(\d+)/m);
      if (hwm) this.peakRss = Math.max(this.peakRss, Number(hwm[1]) * 1024);
    } catch { /* gone meanwhile */ }
    for (const pid of descendantsOf(this.pid)) this.family.add(pid);
  }

  /** Its state letter from /proc (`S` sleeping, `R` running, `T` stopped), or null once gone. */
  state(): string | null {
    try {
      const stat = Deno.readTextFileSync(`/proc/${this.pid}/stat`);
      return stat.charAt(stat.lastIndexOf(")") + 2);
    } catch {
      return null;
    }
  }

  /** Sends `signal` if it still runs. */
  kill(signal: Deno.Signal): void {
    if (this.status !== null) return;
    try {
      Deno.kill(this.pid, signal);
    } catch { /* gone meanwhile */ }
  }

  /** Waits up to `ms` for it to exit; true if it has. */
  async exited(ms: number): Promise<boolean> {
    if (this.status !== null) return true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
    const result = await Promise.race([this.done.then(() => true as const), late]);
    clearTimeout(timer);
    return result;
  }

  /** True when the grader had to kill it (it ran past its time). */
  killedByGrader = false;

  /** Kills it and its process group (SIGCONT too, for a stopped one) and waits for it. */
  async end(): Promise<void> {
    if (this.status === null) this.killedByGrader = true;
    this.#killGroup("SIGKILL");
    this.#killGroup("SIGCONT");
    await this.done;
  }

  /** Sends `signal` to its process group (itself and whatever it forked), if any is left. */
  #killGroup(signal: Deno.Signal): void {
    try {
      Deno.kill(-this.pid, signal);
    } catch { /* the group is empty */ }
  }

  /** The exit, in words: `exited with status 1`, `was killed by SIGKILL`. */
  describeExit(): string {
    if (this.status === null) return "was still running";
    if (this.killedByGrader) return "was still running when the grader stopped it";
    if (this.status.signal) return `was killed by ${this.status.signal}`;
    return `exited with status ${this.status.code}`;
  }

  /** Its stderr for a message: the last lines, quoted. */
  said(): string {
    const lines = this.stderr.trim().split("\n").filter((line) => line.trim() !== "");
    if (lines.length === 0) return "nothing on stderr";
    // Deno's own report of an uncaught error or a syntax error: its `error:` line and where.
    const error = lines.find((line) => line.startsWith("error: "));
    const at = lines.find((line) => /^\s+at \S/.test(line))?.trim();
    const picked = error !== undefined && lines.length > 2
      ? [error, ...(at === undefined ? [] : [at])]
      : lines.slice(-2);
    const shown = picked.map((line) => line.length > 200 ? `${line.slice(0, 200)}…` : line);
    return `stderr: ${JSON.stringify(shown.join(" | "))}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Orphans: what a run's processes started and left behind, even in a session of their own
// ---------------------------------------------------------------------------------------------

/** Whether this process is already the subreaper of what its runs abandon. */
let adopting = false;

/**
 * Makes the grader a child subreaper (once): a process whose parent dies is then handed to the
 * grader, not to init. Ending a run's process group does not reach a child that started a
 * session of its own (`detached: true`, setsid); once its parent has gone, it is the grader's
 * child, and {@linkcode endOrphans} finds it there.
 */
function adoptOrphans(): void {
  if (adopting) return;
  becomeChildSubreaper();
  adopting = true;
}

/** One line of `/proc/PID/stat`, the fields the grader needs. */
interface ProcessEntry {
  pid: number;
  /** The parent's pid (a subreaper's, once the parent has died). */
  ppid: number;
  /** The process group's id. */
  pgrp: number;
  /** `R`, `S`, `T`, …; `Z` for a zombie (ended, not yet collected by its parent). */
  state: string;
}

/** Every process in /proc now (the ones that vanish while they are read are left out). */
function processList(): ProcessEntry[] {
  const found: ProcessEntry[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      // After the command's name in parentheses (which may hold anything): state, ppid, pgrp.
      const [state = "", ppid, pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      found.push({ pid, ppid: Number(ppid), pgrp: Number(pgrp), state });
    } catch { /* gone meanwhile */ }
  }
  return found;
}

/**
 * The processes to end, in `list`: the grader's children that it did not start (orphans that
 * came to it as their subreaper), the members of the process groups `groups`, and everything
 * below them (their children, and theirs). Zombies are left out, as they have ended, but what
 * is below them is not: a multi-threaded process (Deno) shows Z as soon as its main thread has
 * exited, and its children are handed on only when its last thread has.
 */
function abandoned(
  list: ProcessEntry[],
  groups: ReadonlySet<number>,
  found?: Set<number>,
): number[] {
  const childrenOf = Map.groupBy(list, (entry) => entry.ppid);
  const seen = new Set<number>();
  const doomed: number[] = [];
  const visit = (entry: ProcessEntry) => {
    if (seen.has(entry.pid) || entry.pid === Deno.pid) return;
    seen.add(entry.pid);
    found?.add(entry.pid);
    if (entry.state !== "Z" && entry.state !== "X") doomed.push(entry.pid);
    for (const child of childrenOf.get(entry.pid) ?? []) visit(child);
  };
  for (const entry of list) {
    const orphan = entry.ppid === Deno.pid && !started.has(entry.pid);
    if (orphan || groups.has(entry.pgrp)) visit(entry);
  }
  return doomed;
}

/**
 * The descendants of process `pid` now: the children of each of its threads
 * (`/proc/PID/task/TID/children`), and theirs. None where the kernel does not list children
 * (`CONFIG_PROC_CHILDREN`), or once it has gone.
 */
function descendantsOf(pid: number): number[] {
  const found: number[] = [];
  const queue = [pid];
  for (let parent = queue.pop(); parent !== undefined; parent = queue.pop()) {
    let tasks: string[];
    try {
      tasks = [...Deno.readDirSync(`/proc/${parent}/task`)].map((entry) => entry.name);
    } catch {
      continue; // gone meanwhile
    }
    for (const task of tasks) {
      let children: string;
      try {
        children = Deno.readTextFileSync(`/proc/${parent}/task/${task}/children`);
      } catch {
        continue; // no such file here, or the thread has gone
      }
      for (const child of children.trim().split(/\s+/).filter(Boolean).map(Number)) {
        if (found.includes(child) || child === pid) continue;
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

/**
 * Ends what the runs left behind, once their own processes have been ended and collected:
 * every process of `groups` (the runs' process groups) still dying, every orphan that came to
 * the grader, and their children, and theirs, over and over until none is left (a child can
 * start one more before its SIGKILL lands; one whose parent dies comes to the grader), or
 * `ms` have passed. Then it collects the orphans that have ended, now its zombies: nobody else
 * would (init may not either, once the grader has gone).
 *
 * "Orphan" is any child of the grader that it did not start: a caller of {@linkcode grade}
 * must not run children of its own at the same time. The pid of every process it finds so
 * (ended already, or ended now) is added to `found`, if given.
 */
export async function endOrphans(
  groups: Iterable<number> = [],
  ms = 3000,
  found?: Set<number>,
): Promise<void> {
  const groupIds = new Set(groups);
  const deadline = performance.now() + ms;
  for (;;) {
    const doomed = abandoned(processList(), groupIds, found);
    if (doomed.length === 0) break;
    for (const pid of doomed) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone meanwhile */ }
    }
    if (performance.now() > deadline) break;
    await pause(10);
  }
  reapOrphans();
}

/** Collects the orphans that have ended (the grader's zombies it did not start). */
function reapOrphans(): void {
  for (const entry of processList()) {
    const orphan = entry.ppid === Deno.pid && !started.has(entry.pid);
    if (orphan && entry.state === "Z") reapChild(entry.pid);
  }
}

/**
 * For a grader that is interrupted: ends everything below it that it did not start, and
 * everything below what it did start (the runs' own processes end by their cleanups), and
 * collects the orphans among them, for up to 200 ms (synchronously: the grader exits next).
 * Without this, an orphan would outlive the grader and go to init.
 */
function endEverythingBelow(): void {
  const groups = new Set([...started]);
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const deadline = performance.now() + 200;
  for (;;) {
    const doomed = abandoned(processList(), groups);
    for (const pid of doomed) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone meanwhile */ }
    }
    reapOrphans();
    if (doomed.length === 0 || performance.now() > deadline) break;
    Atomics.wait(nap, 0, 0, 10); // a 10 ms sleep, for SIGKILL to land
  }
}

/**
 * A POSIX IPC name no other grading run uses, for an assignment whose channel has one (a queue,
 * a ring): `/ipc-lesson-grade-4711-3f9a2c01`. The project's prefix lets `deno task clean` find
 * what a killed grader left.
 */
export function freshPosixName(): string {
  const random = crypto.getRandomValues(new Uint8Array(4));
  const hex = Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("");
  return `/ipc-lesson-grade-${Deno.pid}-${hex}`;
}

// ---------------------------------------------------------------------------------------------
// Stray objects: what a run made besides its channel, and did not remove
// ---------------------------------------------------------------------------------------------

/**
 * Every System V queue, segment and semaphore set there now (every user's, in this IPC
 * namespace), as `msg ID`, `shm ID`, `sem ID`: what was there before a run is not the run's.
 */
export function sysvIds(): Set<string> {
  const ids = new Set<string>();
  const tables = [["msg", "msqid"], ["shm", "shmid"], ["sem", "semid"]] as const;
  for (const [kind, column] of tables) {
    for (const row of sysvRows(kind)) ids.add(`${kind} ${row[column]}`);
  }
  return ids;
}

/** An object a run left besides its channel: a sentence that names it, and how to remove it. */
export interface StrayObject {
  /** `the semaphore /ipc-lesson-grade-4711-3f9a2c01-mine (/dev/shm/sem.ipc-…-mine)`. */
  description: string;
  /** Removes it (`shm_unlink`, `sem_unlink`, `msgctl(IPC_RMID)`, …). */
  remove(): void;
}

/** A System V key as `ipcs` shows it: `0x6c6c0101`; `IPC_PRIVATE` for 0. */
function keyWords(key: number): string {
  return key === 0 ? "IPC_PRIVATE" : formatKey(key);
}

/** The rows of `/proc/sysvipc/KIND`; none where there is no such table (no System V IPC). */
function sysvRows(kind: "msg" | "shm" | "sem"): ReturnType<typeof sysvipcTable> {
  try {
    return sysvipcTable(kind);
  } catch {
    return [];
  }
}

/**
 * What a run left besides the objects its assignment names (call it once those are removed):
 *
 * - every FIFO or socket file in TMPDIR, POSIX message queue, shared-memory segment and
 *   semaphore (`/dev/shm/sem.NAME`) whose name starts with the run's channel `name`, when that
 *   is a POSIX name (`/ipc-lesson-grade-4711-3f9a2c01-mine`): no other run has that prefix;
 * - every System V object that was not there before the run (`before`, from
 *   {@linkcode sysvIds}) and that a process of the run (`pids`, all of them gone by now) made
 *   or used: a segment it created (`cpid`), a queue it last sent to or received from
 *   (`lspid`, `lrpid`), a semaphore set one of whose semaphores it last changed (`semctl`
 *   `GETPID`: `semop`, `SETVAL`, `SETALL`). The kernel records no creator of a queue or a set:
 *   one the run made and never used cannot be told from another program's, and is not counted
 *   (tests and graders run in parallel, each with objects of its own). A pid that some process
 *   holds again now (pid reuse) is not the run's.
 *
 * A file the run wrote by an absolute path outside its folder cannot be told from anybody
 * else's either, and is not looked for.
 */
export function strayObjects(
  name: string,
  before: ReadonlySet<string>,
  pids: ReadonlySet<number>,
): StrayObject[] {
  const strays: StrayObject[] = [];
  const part = name.startsWith("/") ? posixPart(name) : null;
  if (part !== null) {
    const report: LeftoverReport = { found: [], notes: [], problems: [] };
    const query = { prefix: part, dir: tempDir() };
    const finders = [
      segmentLeftovers,
      semaphoreLeftovers,
      queueLeftovers,
      fifoLeftovers,
      socketLeftovers,
    ];
    for (const finder of finders) finder.find(query, report);
    for (const object of report.found) {
      strays.push({
        description: object.name === null
          ? `the ${object.noun} ${object.path}`
          : object.path.startsWith("/dev/shm/")
          ? `the ${object.noun} ${object.name} (${object.path})`
          : `the ${object.noun} ${object.name}`,
        remove: () => object.remove(),
      });
    }
  }
  const ran = (pid: number | undefined) =>
    pid !== undefined && pid > 0 && pids.has(pid) && !exists(`/proc/${pid}`);
  for (const row of sysvRows("msg")) {
    const msqid = row["msqid"]!;
    if (before.has(`msg ${msqid}`) || !(ran(row["lspid"]) || ran(row["lrpid"]))) continue;
    strays.push({
      description: `the System V message queue with key ${keyWords(row["key"]!)} (msqid ${msqid})`,
      remove: () => msgctl(msqid, IPC.RMID),
    });
  }
  for (const row of sysvRows("shm")) {
    const shmid = row["shmid"]!;
    if (before.has(`shm ${shmid}`) || !ran(row["cpid"])) continue;
    strays.push({
      description: `the System V shared-memory segment with key ${
        keyWords(row["key"]!)
      } (shmid ${shmid})`,
      remove: () => shmctlRemove(shmid),
    });
  }
  for (const row of sysvRows("sem")) {
    const semid = row["semid"]!;
    if (before.has(`sem ${semid}`)) continue;
    const changedBy = (semnum: number) => {
      try {
        return semctlGetPid(semid, semnum);
      } catch {
        return 0; // gone meanwhile, or another user's
      }
    };
    let used = false;
    for (let semnum = 0; semnum < (row["nsems"] ?? 0) && !used; semnum++) {
      used = ran(changedBy(semnum));
    }
    if (!used) continue;
    strays.push({
      description: `the System V semaphore set with key ${keyWords(row["key"]!)} (semid ${semid})`,
      remove: () => semctlRemove(semid),
    });
  }
  return strays;
}

/** Sleeps `ms`. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `condition()` holds or `ms` pass; resolves to whether it held. */
export async function until(condition: () => boolean, ms: number, every = 20): Promise<boolean> {
  const deadline = performance.now() + ms;
  for (;;) {
    if (condition()) return true;
    if (performance.now() >= deadline) return false;
    await pause(every);
  }
}

/** How long the student's side may run on once every peer has gone, in ms. */
export const PEERS_GONE_MS = 4000;

/** How one run is staged. */
export interface RunPlan {
  /** The input: a size of random bytes, or the sample text. */
  input: number | "sample";
  /** Who starts first. */
  first: Role | "student" | "peer";
  /** How long after the first the second starts, in ms (after the student is waiting). */
  gapMs: number;
  /** Extra arguments for the (first) peer (`--kill-after=server:2M`). */
  peerArgs?: string[];
  /** How many peers (clients of a server that serves many; default 1). */
  peers?: number;
  /** Start only the first peer; `during` starts the others (`run.startOtherPeers()`). */
  othersLater?: boolean;
  /** No peer at all. */
  noPeer?: boolean;
  /** The student's --timeout in seconds (default 10). */
  timeoutSeconds?: number;
  /** Called once the student waits, before the peer starts (student first only). */
  beforePeer?: (student: Proc, name: string) => void;
  /** Called while both run (the student has started): stop, signal, measure. */
  during?: (run: Run) => Promise<void>;
  /** How long the whole run may take before both are killed, in ms. */
  limitMs?: number;
}

/** A run in progress or done. */
export interface Run {
  plan: RunPlan;
  name: string;
  dir: string;
  inputPath: string;
  outputPath: string;
  student: Proc;
  /** The first peer (null: none). */
  peer: Proc | null;
  /** Every peer, the first first. */
  peers: Proc[];
  /** Starts the peers after the first, for a plan with `othersLater`. */
  startOtherPeers(): void;
  /**
   * The kernel objects left after both had gone (before the grader removed them): the
   * assignment's own ({@linkcode Assignment.leftovers}), then the student's side's strays
   * ({@linkcode strayObjects}).
   */
  leftovers: string[];
  /** Files in the run's folder besides the output, after the run. */
  strayFiles: string[];
  /** Whether the output exists, is complete and byte-exact (false if absent). */
  outputExact: boolean;
  /** The same for each peer's output, when the peers write the outputs (a student server). */
  outputsExact: boolean[];
  /** Whether an output file exists at all. */
  outputExists: boolean;
  /** Notes from `during`. */
  notes: Record<string, unknown>;
}

/** One grading session: an assignment, a submission, and the runs made so far (cached). */
export class Grading {
  readonly work: string;
  #inputs = new Map<string, { path: string; sha: string }>();
  #runs = new Map<string, Run>();
  #count = 0;
  /** What the check now running measured, for the report (`cpu 1%`). */
  details: string[] = [];

  /** Removes the work folder; one already gone is fine (a hand-in may have removed it). */
  #removeWork = () => removeFolder(this.work);

  /** On an interrupt, ends what the runs left (this session's own, for the Set of cleanups). */
  #endOrphans = () => endEverythingBelow();

  /** The work folder, held open all session: `deno task clean` sees it in use, and spares it. */
  #held: Deno.FsFile;

  constructor(readonly assignment: Assignment, readonly submission: string) {
    // (Found by review: Deno's own words for a TMPDIR that is no folder, and one not UTF-8
    // left a work folder behind on every run.)
    const dir = usableTempDir();
    try {
      this.work = Deno.makeTempDirSync({ dir, prefix: "ipc-lesson-grade-" });
    } catch (error) {
      throw new Error(
        `cannot create the grader's work folder in ${JSON.stringify(dir)} (TMPDIR): ${
          reason(error)
        }`,
      );
    }
    this.#held = Deno.openSync(this.work);
    // (Run last on an interrupt, after the runs' own cleanups have ended their processes.)
    cleanups.add(this.#endOrphans);
    cleanups.add(this.#removeWork);
  }

  /** The input for `input`: random bytes of that size (made once), or the sample. */
  async input(input: number | "sample"): Promise<{ path: string; sha: string }> {
    const key = String(input);
    let made = this.#inputs.get(key);
    // (Made again if a hand-in removed it with the work folder: the next runs still run.)
    if (made === undefined || !exists(made.path)) {
      const path = input === "sample"
        ? join(ROOT, "lessons", "sample.txt")
        : join(this.work, `input-${input}.bin`);
      if (input !== "sample") writeRandomFile(path, input);
      made = { path, sha: await sha256File(path) };
      this.#inputs.set(key, made);
    }
    return made;
  }

  /** A plan's run, made once per session when it has no `during` (so checks can share it). */
  async run(plan: RunPlan): Promise<Run> {
    const key = plan.during === undefined && plan.beforePeer === undefined
      ? JSON.stringify(plan)
      : null;
    const cached = key === null ? undefined : this.#runs.get(key);
    if (cached) return cached;
    const run = await this.#stage(plan);
    if (key !== null) this.#runs.set(key, run);
    return run;
  }

  /** The student's command line. */
  studentArgv(
    run: { name: string; inputPath: string; outputPath: string },
    timeout: number,
    plan: RunPlan,
  ) {
    const { assignment } = this;
    const file = assignment.role === "server"
      ? ["--input", run.inputPath]
      : ["--output", run.outputPath];
    return [
      Deno.execPath(),
      "run",
      "--quiet",
      "--allow-all",
      // It runs in its run's folder: a relative path is taken from the project's root.
      resolve(ROOT, this.submission),
      `--${assignment.channelOption}`,
      run.name,
      ...file,
      "--timeout",
      String(timeout),
      ...(assignment.studentArgs?.(plan) ?? []),
    ];
  }

  async #stage(plan: RunPlan): Promise<Run> {
    const { assignment } = this;
    const dir = join(this.work, `run-${++this.#count}`);
    Deno.mkdirSync(dir, { recursive: true }); // (the work folder too, if a hand-in removed it)
    const input = await this.input(plan.input);
    const name = assignment.freshName(dir);
    const outputPath = join(dir, "output.bin");
    const peerRole: Role = assignment.role === "server" ? "client" : "server";
    const peerOutput = (i: number) => i === 0 ? outputPath : join(dir, `output-${i + 1}.bin`);
    const peerArgv = (i: number) => [
      Deno.execPath(),
      "run",
      "--quiet",
      "--allow-all",
      join(ROOT, assignment.lesson),
      peerRole,
      `--${assignment.channelOption}=${name}`,
      peerRole === "server" ? `--input=${input.path}` : `--output=${peerOutput(i)}`,
      "--quiet",
      "--timeout=10",
      ...(i === 0 ? plan.peerArgs ?? [] : []),
    ];
    const peerCount = plan.noPeer ? 0 : plan.peers ?? 1;
    const startPeers = (from = 0, to = plan.othersLater ? Math.min(1, peerCount) : peerCount) =>
      Array.from(
        { length: to - from },
        (_, i) => new Proc(`peer ${from + i + 1}`, peerArgv(from + i)),
      );
    const shell = { name, inputPath: input.path, outputPath };
    const studentArgv = this.studentArgv(shell, plan.timeoutSeconds ?? 10, plan);
    const removeObjects = () => assignment.removeLeftovers(name);
    cleanups.add(removeObjects);
    // The System V objects there before it started are not its (see strayObjects).
    const sysvBefore = sysvIds();

    let student: Proc;
    let peers: Proc[] = [];
    const studentFirst = plan.first === "student" || plan.first === assignment.role;
    // The student's program runs in the run's folder: a file it writes by a relative path lands
    // beside its output, where the checks see it, not in the project.
    const startStudent = () => new Proc("student", studentArgv, dir);
    if (plan.noPeer) {
      student = startStudent();
    } else if (studentFirst) {
      student = startStudent();
      // Wait until it is waiting (its FIFO or queue is there), or a fair start-up time.
      await until(
        () => !student.running || assignment.studentWaiting(name) === true,
        assignment.studentWaiting(name) === null ? 400 : 3000,
      );
      plan.beforePeer?.(student, name);
      await pause(plan.gapMs);
      peers = startPeers();
    } else {
      peers = startPeers();
      await pause(plan.gapMs);
      student = startStudent();
    }
    const run: Run = {
      plan,
      name,
      dir,
      inputPath: input.path,
      outputPath,
      student,
      peer: peers[0] ?? null,
      peers,
      startOtherPeers: () => {
        if (run.peers.length < peerCount) {
          run.peers.push(...startPeers(run.peers.length, peerCount));
        }
      },
      leftovers: [],
      strayFiles: [],
      outputExact: false,
      outputsExact: [],
      outputExists: false,
      notes: {},
    };
    /** The processes the end of the run found (see endOrphans). */
    const swept = new Set<number>();
    try {
      if (plan.during) await plan.during(run);
      peers = run.peers;
      const limit = plan.limitMs ?? 30_000;
      // Once the student's side has gone, the peer gets a few seconds to finish (a client
      // still emptying a queue), not its whole timeout.
      const studentThenGrace = student.done.then(() =>
        Promise.all(peers.map((peer) => peer.exited(student.status?.code === 0 ? 3000 : 500)))
      );
      // Once every peer has gone, the student's side gets a few seconds to notice (the end,
      // or a peer that gave up on it), not the whole limit: a program that never exits costs
      // a run seconds, not half a minute.
      const peersThenGrace = peers.length === 0
        ? new Promise<void>(() => {})
        : Promise.all(peers.map((peer) => peer.done)).then(() => student.exited(PEERS_GONE_MS));
      await Promise.race([
        Promise.all([student.done, ...peers.map((peer) => peer.done)]),
        studentThenGrace,
        peersThenGrace,
        pause(limit),
      ]);
    } finally {
      await student.end();
      for (const peer of peers) await peer.end();
      // What they started in a session of their own outlives their process groups.
      await endOrphans([student, ...peers].map((proc) => proc.pid), 3000, swept);
    }
    run.leftovers = assignment.leftovers(name);
    cleanups.delete(removeObjects);
    assignment.removeLeftovers(name);
    // What the student's side made besides the channel: the run's processes are its own and
    // what the sweep found, but not the peers' (the lesson's, whose objects are not its fault).
    const peerPids = new Set(run.peers.flatMap((peer) => [...peer.family]));
    const runPids = new Set(
      [...student.family, ...swept].filter((pid) => !peerPids.has(pid)),
    );
    for (const stray of strayObjects(name, sysvBefore, runPids)) {
      run.leftovers.push(stray.description);
      try {
        stray.remove();
      } catch { /* gone meanwhile */ }
    }
    run.outputExists = exists(outputPath);
    if (run.outputExists) {
      try {
        run.notes["outputSize"] = Deno.lstatSync(outputPath).size;
        run.outputExact = Deno.lstatSync(outputPath).isFile &&
          await sha256File(outputPath) === input.sha;
        // Same length, other bytes: where they first differ says more than the lengths.
        if (!run.outputExact && Deno.lstatSync(outputPath).isFile) {
          run.notes["inputSize"] = Deno.statSync(input.path).size;
          run.notes["firstDifference"] = firstDifference(input.path, outputPath);
        }
      } catch {
        run.outputExact = false;
      }
    }
    for (let i = 1; i < peers.length; i++) {
      run.outputsExact[i] = await sameFile(peerOutput(i), input.sha);
    }
    run.outputsExact[0] = run.outputExact;
    run.strayFiles = namesIn(dir).filter((entry) => !/^output(-\d+)?\.bin$/.test(entry));
    removeFolder(dir);
    return run;
  }

  /** Removes the session's files (if a hand-in has not already). */
  close(): void {
    cleanups.delete(this.#removeWork);
    cleanups.delete(this.#endOrphans);
    this.#held.close();
    this.#removeWork();
  }
}

/**
 * The names in the folder `dir`; none if it is gone (a hand-in may remove its run's folder, or
 * the grader's: that is its failure to be graded, not the grader's).
 */
function namesIn(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((entry) => entry.name);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

/** Removes the folder `dir` and what it holds; one already gone is fine. */
function removeFolder(dir: string): void {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/**
 * The offset of the first byte at which the files `a` and `b` differ, read side by side in
 * pieces of 64 KiB (never whole): null if one is the start of the other (or both are the same).
 */
export function firstDifference(a: string, b: string): number | null {
  using left = Deno.openSync(a);
  using right = Deno.openSync(b);
  const one = new Uint8Array(64 * 1024);
  const two = new Uint8Array(64 * 1024);
  for (let offset = 0;;) {
    const n = readFull(left, one);
    const m = readFull(right, two);
    const common = Math.min(n, m);
    for (let i = 0; i < common; i++) {
      if (one[i] !== two[i]) return offset + i;
    }
    if (n < one.length || m < two.length) return null;
    offset += common;
  }
}

/** Reads into `buf` until it is full or the file ends; how many bytes it holds. */
function readFull(file: Deno.FsFile, buf: Uint8Array): number {
  let filled = 0;
  while (filled < buf.length) {
    const n = file.readSync(buf.subarray(filled));
    if (n === null || n === 0) break;
    filled += n;
  }
  return filled;
}

/** Whether `path` is a regular file whose SHA-256 is `sha`. */
async function sameFile(path: string, sha: string): Promise<boolean> {
  try {
    return Deno.lstatSync(path).isFile && await sha256File(path) === sha;
  } catch {
    return false;
  }
}

/** Whether `path` exists (even as a dangling link). */
export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The size in words: `64 MiB (67108864 bytes)`. */
export function sizeWords(size: number | "sample"): string {
  if (size === "sample") return "the sample text";
  return size < 1024
    ? `${size} byte${size === 1 ? "" : "s"}`
    : `${formatBytes(size)} (${size} bytes)`;
}

/** One check's outcome. */
export interface CheckResult {
  id: string;
  title: string;
  points: number;
  earned: number;
  passed: boolean;
  /** Why not, or null. */
  why: string | null;
  /** What it measured (CPU shares, peak memory, how soon a death was noticed). */
  details: string[];
  /** How long the check took, in ms. */
  ms: number;
}

/** A submission's grade. */
export interface Grade {
  assignment: string;
  submission: string;
  total: number;
  max: number;
  checks: CheckResult[];
  /** What the student should know besides the points (a private file imported). */
  notes: string[];
  /** How long the grading took, in ms. */
  ms: number;
}

/**
 * Notes on the submission's source: the files it imports whose names start with `_` (private:
 * they may change under it; everything it needs is in mod.ts). No points ride on them.
 */
export function sourceNotes(submission: string): string[] {
  let source: string;
  try {
    source = Deno.readTextFileSync(submission);
  } catch {
    return [];
  }
  const privates = new Set<string>();
  for (const match of source.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)) {
    if (/(^|\/)_[^/]*$|\/_[^/]*\//.test(match[1]!)) privates.add(match[1]!);
  }
  return [...privates].map((path) =>
    `it imports ${path}, a private file (its name starts with _): import from mod.ts instead`
  );
}

/** Grades `submission` against `assignment`; `only` limits it to some checks. */
export async function grade(
  assignment: Assignment,
  submission: string,
  options: { only?: string[]; progress?: (line: string) => void } = {},
): Promise<Grade> {
  const started = performance.now();
  const grading = new Grading(assignment, submission);
  const results: CheckResult[] = [];
  try {
    for (const check of assignment.checks) {
      if (options.only && !options.only.includes(check.id)) continue;
      const at = performance.now();
      let why: string | null;
      grading.details = [];
      try {
        why = await check.run(grading);
      } catch (error) {
        // The grader's own failure: say so, and give no points (never crash the table).
        why = `the grader could not run this check: ${
          error instanceof Error ? error.message : String(error)
        }`;
      }
      const result: CheckResult = {
        id: check.id,
        title: check.title,
        points: check.points,
        earned: why === null ? check.points : 0,
        passed: why === null,
        why,
        details: grading.details,
        ms: Math.round(performance.now() - at),
      };
      results.push(result);
      options.progress?.(
        `${result.passed ? "pass" : "FAIL"} ${check.id} (${(result.ms / 1000).toFixed(1)} s)`,
      );
    }
  } finally {
    grading.close();
  }
  return {
    assignment: assignment.name,
    submission,
    total: results.reduce((sum, result) => sum + result.earned, 0),
    max: results.reduce((sum, result) => sum + result.points, 0),
    checks: results,
    notes: sourceNotes(submission),
    ms: Math.round(performance.now() - started),
  };
}

/** The grade as a table a student reads. */
export function formatGrade(result: Grade): string {
  const rows = result.checks.map((check) => [
    check.id,
    `${check.earned}/${check.points}`,
    check.passed
      ? `passed${check.details.length > 0 ? ` (${check.details.join(", ")})` : ""}`
      : check.why!,
  ]);
  const width = [
    Math.max(5, ...rows.map((row) => row[0]!.length)),
    Math.max(6, ...rows.map((row) => row[1]!.length)),
  ];
  const line = (cells: string[]) =>
    `${cells[0]!.padEnd(width[0]!)}  ${cells[1]!.padStart(width[1]!)}  ${cells[2]}`;
  return [
    `${result.assignment}: ${result.submission}`,
    "",
    line(["check", "points", "result"]),
    line(["-".repeat(width[0]!), "-".repeat(width[1]!), "-".repeat(6)]),
    ...rows.map(line),
    "",
    `total: ${result.total}/${result.max}  (graded in ${(result.ms / 1000).toFixed(1)} s)`,
    ...result.notes.map((note) => `note: ${note}`),
  ].join("\n");
}
