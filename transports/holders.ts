/**
 * Who has this kernel object open? Linux answers in `/proc`, and only the kernel's answer
 * counts: a name says who made an object, not whether anybody still uses it.
 *
 * A process can hold an object in three ways, and `/proc/PID` shows each:
 *
 * - a **descriptor**: every open descriptor is a link under `/proc/PID/fd/`, and `stat` on the
 *   link gives the device and inode of the object itself (a pipe, a FIFO, a message queue, a
 *   file). An `O_PATH` descriptor counts too: it opens nothing for reading or writing, but it
 *   names the object, so a FIFO server waiting for its client holds one to say "mine, in use";
 * - a **mapping**: `mmap` keeps a shared-memory segment or a named semaphore (glibc maps
 *   `/dev/shm/sem.NAME`) in use after its descriptor is closed. `/proc/PID/maps` lists every
 *   mapped file with its device and inode. (Match the inode, not the path: glibc creates a
 *   semaphore under a temporary name and renames it, so its line reads
 *   `/dev/shm/sem.XXXXXX (deleted)` although `/dev/shm/sem.NAME` is the same inode.)
 * - a **working directory**: `/proc/PID/cwd`, for folders.
 *
 * And one process holds nothing yet but is about to: a thread blocked in `open(2)` on a FIFO,
 * waiting for a peer to open the other end (`/proc/PID/task/TID/wchan` reads
 * `wait_for_partner`). Its system call's arguments (`/proc/PID/task/TID/syscall`) give the address
 * of the path it opens, and `/proc/PID/mem` the path: that FIFO counts as held by it too.
 *
 * A channel with no end-of-stream signal of its own (a message queue has no EPIPE and no
 * end-of-file) uses {@linkcode otherHolders} to notice that its peer has died; `deno task clean`
 * uses {@linkcode holdersOfPath} and {@linkcode readProcessTable} never to remove what is in use.
 *
 * Only processes whose `/proc/PID/fd` this user may read are seen: one's own, or all for root.
 *
 * @module
 */

import * as libc from "./libc.ts";

/** How the kernel identifies an object whatever its name: `"DEVICE:INODE"`, like `"27:270"`. */
export type Identity = string;

/**
 * The identity of the object `info` describes (from `Deno.statSync` or `Deno.lstatSync`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { identityOf } from "./holders.ts";
 * assert.match(identityOf(Deno.statSync("/tmp")), /^\d+:\d+$/); // e.g. "65024:1310721"
 * // The same object by another path: /proc/self/cwd leads to the working directory.
 * assert.equal(identityOf(Deno.statSync("/proc/self/cwd")), identityOf(Deno.statSync(".")));
 * ```
 */
export function identityOf(info: Deno.FileInfo): Identity {
  return `${info.dev}:${info.ino}`;
}

/** The device and inode that identify the object behind descriptor `fd` of process `pid`. */
function identity(pid: number | "self", fd: number | string): Identity | null {
  try {
    return identityOf(Deno.statSync(`/proc/${pid}/fd/${fd}`));
  } catch {
    return null; // closed meanwhile, or not ours to look at
  }
}

/**
 * The pids of the other processes that have the same object open as our descriptor `fd`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { otherHolders } from "./holders.ts";
 * import * as libc from "./libc.ts";
 * const path = Deno.makeTempFileSync();
 * const fd = libc.open(path, libc.O.RDONLY | libc.O.CLOEXEC);
 * assert.deepEqual(otherHolders(fd), []); // only this process has it open
 * libc.close(fd);
 * Deno.removeSync(path);
 * ```
 */
export function otherHolders(fd: number): number[] {
  const wanted = identity("self", fd);
  if (wanted === null) return [];
  const holders: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || pid === Deno.pid) continue;
    let fds: Iterable<Deno.DirEntry>;
    try {
      fds = Deno.readDirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    try {
      for (const link of fds) {
        if (identity(pid, link.name) === wanted) {
          holders.push(pid);
          break;
        }
      }
    } catch { /* the process exited while we looked */ }
  }
  return holders;
}

/**
 * Whether process `pid` is still running: `/proc/PID/stat` exists, and its state is not Z (a
 * zombie: dead, not yet reaped by its parent) or X. `kill(pid, 0)` alone would call a zombie
 * alive.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isRunning } from "./holders.ts";
 * assert.equal(isRunning(Deno.pid), true);
 * assert.equal(isRunning(0), false); // not a process id
 * ```
 */
export function isRunning(pid: number): boolean {
  const state = stateOf(pid);
  return state !== null && state !== "Z" && state !== "X";
}

/** Whether process `pid` is stopped: state T in `/proc/PID/stat` (SIGSTOP, Ctrl-Z, a debugger). */
export function isStopped(pid: number): boolean {
  return stateOf(pid) === "T";
}

/** The state letter of process `pid` in `/proc/PID/stat` (R, S, T, Z, …); null if it is gone. */
function stateOf(pid: number): string | null {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.charAt(stat.lastIndexOf(")") + 2);
  } catch {
    return null; // gone
  }
}

/**
 * Sends `signal` to process `pid`, if it is still there. A stopped process acts on a signal
 * only once it is continued, so it also gets SIGCONT (except with SIGKILL, which needs none).
 */
export function stopProcess(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
    if (signal !== "SIGKILL") Deno.kill(pid, "SIGCONT");
  } catch { /* already gone */ }
}

/**
 * This process's peak resident memory, in bytes: VmHWM in `/proc/self/status`, the high-water
 * mark of this program's own memory. (getrusage's `ru_maxrss` would also count the parent's
 * peak, which a process started with fork + exec inherits.)
 */
export function peakResidentBytes(): number {
  const kib = Deno.readTextFileSync("/proc/self/status").match(/^VmHWM:\s*(\d+) kB/m)?.[1];
  return Number(kib ?? 0) * 1024;
}

/**
 * This process's soft limit `name` as `/proc/self/limits` lists it ("Max open files", "Max file
 * size", "Max msgqueue size"): a number (bytes for a size), Infinity for "unlimited", or null
 * if it cannot be read (out of descriptors, the file cannot be opened either).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { softLimit } from "./holders.ts";
 * assert.ok(softLimit("Max open files")! > 0); // ulimit -n
 * assert.equal(softLimit("No such limit"), null);
 * ```
 */
export function softLimit(name: string): number | null {
  let limits: string;
  try {
    limits = Deno.readTextFileSync("/proc/self/limits");
  } catch {
    return null;
  }
  const soft = limits.match(new RegExp(`^${name}\\s+(\\S+)`, "m"))?.[1];
  return soft === undefined ? null : soft === "unlimited" ? Infinity : Number(soft);
}

// ---------------------------------------------------------------------------------------------
// Every process at once: the table `deno task clean` decides with
// ---------------------------------------------------------------------------------------------

/** What /proc showed of every process at one moment. */
export interface ProcessTable {
  /**
   * The pids that hold the object `identity` (a descriptor, `O_PATH` included, a mapping, or
   * a working directory), in increasing order; this process too, if it holds it.
   */
  holdersOf(identity: Identity): number[];
  /**
   * The pids that hold anything inside the folder `dir` or the folder itself (a descriptor,
   * a mapping, a working directory), in increasing order.
   */
  holdersUnder(dir: string): number[];
  /** How many processes could not be looked at (another user's, unless we are root). */
  readonly unseen: number;
}

/**
 * `st_dev` as `stat(2)` gives it, from the `MAJOR:MINOR` (hexadecimal) that `/proc/PID/maps`
 * shows: glibc's `makedev()`.
 */
function deviceNumber(majorMinor: string): number {
  const [major = NaN, minor = NaN] = majorMinor.split(":").map((part) => parseInt(part, 16));
  return (minor & 0xff) + (major & 0xfff) * 2 ** 8 + Math.floor(minor / 0x100) * 2 ** 20 +
    Math.floor(major / 0x1000) * 2 ** 44;
}

/** A path as /proc shows it, without the ` (deleted)` it adds once the name is gone. */
function livePath(path: string): string {
  return path.endsWith(" (deleted)") ? path.slice(0, -" (deleted)".length) : path;
}

/** Reads what process `pid` holds; null if it cannot be looked at (gone, or not ours). */
function readProcess(pid: number): { identities: Set<Identity>; paths: string[] } | null {
  const identities = new Set<Identity>();
  const paths: string[] = [];
  const hold = (link: string) => {
    try {
      identities.add(identityOf(Deno.statSync(link)));
      paths.push(livePath(Deno.readLinkSync(link)));
    } catch { /* closed meanwhile; or a pipe or socket, which has no path */ }
  };
  let fds: Deno.DirEntry[];
  try {
    fds = [...Deno.readDirSync(`/proc/${pid}/fd`)];
  } catch {
    return null;
  }
  for (const fd of fds) hold(`/proc/${pid}/fd/${fd.name}`);
  hold(`/proc/${pid}/cwd`);
  for (const path of fifosBeingOpened(pid)) {
    try {
      identities.add(identityOf(Deno.statSync(path)));
      paths.push(Deno.realPathSync(path));
    } catch { /* opened, or given up, meanwhile */ }
  }
  let maps = "";
  try {
    maps = Deno.readTextFileSync(`/proc/${pid}/maps`);
  } catch { /* exited meanwhile */ }
  // "7fc5b2eca000-7fc5b2ecb000 rw-s 00000000 00:1b 270    /dev/shm/ipc-lesson-shm-lab"
  for (const line of maps.split("\n")) {
    // The path is the rest of the line, as it is (two spaces stay two), after the padding; the
    // kernel writes a line break in it as \012.
    const [, device, inode, path = ""] = line.match(MAPS_RECORD) ?? [];
    if (device === undefined || inode === undefined || inode === "0") continue; // anonymous
    identities.add(`${deviceNumber(device)}:${inode}`);
    if (path.startsWith("/")) paths.push(livePath(path.replaceAll("\\012", "\n")));
  }
  return { identities, paths };
}

/** The numbers of the system calls that open a path, `[open, openat, openat2]`, by machine. */
const OPEN_CALLS: Partial<Record<typeof Deno.build.arch, [number | null, number, number]>> = {
  x86_64: [2, 257, 437],
  aarch64: [null, 56, 437],
};

/** `AT_FDCWD`: an `openat` relative to the working directory. */
const AT_FDCWD = -100n;

/**
 * The FIFOs that threads of `pid` are blocked opening, waiting for a peer, as paths this
 * process can reach (`/proc/PID/root/…`, `/proc/PID/cwd/…`, `/proc/PID/fd/N/…`); none if the
 * process cannot be looked at that closely (another user's, unless we are root).
 */
function fifosBeingOpened(pid: number): string[] {
  const found: string[] = [];
  const calls = OPEN_CALLS[Deno.build.arch];
  let tasks: Deno.DirEntry[];
  try {
    tasks = [...Deno.readDirSync(`/proc/${pid}/task`)];
  } catch {
    return found;
  }
  for (const task of tasks) {
    const dir = `/proc/${pid}/task/${task.name}`;
    try {
      if (calls === undefined) break;
      if (Deno.readTextFileSync(`${dir}/wchan`) !== "wait_for_partner") continue;
      // "257 0xffffff9c 0x7ffc74f08ae7 0x0 …": the call's number, then its arguments.
      const [call, ...args] = Deno.readTextFileSync(`${dir}/syscall`).trim().split(" ");
      const at = calls.indexOf(Number(call));
      if (at < 0) continue;
      const [dirfd, address] = at === 0 ? [AT_FDCWD, args[0]] : [BigInt(args[0]!), args[1]];
      const path = readString(pid, Number(address));
      const base = path.startsWith("/")
        ? `/proc/${pid}/root`
        : BigInt.asIntN(32, dirfd) === AT_FDCWD
        ? `/proc/${pid}/cwd`
        : `/proc/${pid}/fd/${BigInt.asIntN(32, dirfd)}`;
      found.push(`${base}/${path}`);
    } catch { /* the thread moved on, or is not ours to read */ }
  }
  return found;
}

/** The text at `address` in the memory of process `pid`, up to its NUL (at most PATH_MAX). */
function readString(pid: number, address: number): string {
  using mem = Deno.openSync(`/proc/${pid}/mem`);
  mem.seekSync(address, Deno.SeekMode.Start);
  const bytes = new Uint8Array(4096);
  const n = mem.readSync(bytes) ?? 0;
  const end = bytes.subarray(0, n).indexOf(0);
  if (end < 0) throw new RangeError("no path at that address");
  return new TextDecoder().decode(bytes.subarray(0, end));
}

/** One line of `/proc/PID/maps`: address, permissions, offset, device, inode, then the path. */
const MAPS_RECORD = /^\S+ \S+ \S+ ([0-9a-f]+:[0-9a-f]+) (\d+) *(.*)$/;

/**
 * Looks at every process in `/proc` once: its descriptors (`O_PATH` ones too), its mappings
 * and its working directory. Ask the table as many questions as needed; it does not change.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { identityOf, readProcessTable } from "./holders.ts";
 * const path = Deno.makeTempFileSync();
 * using file = Deno.openSync(path); // held by this process while it is open
 * const table = readProcessTable();
 * assert.deepEqual(table.holdersOf(identityOf(Deno.statSync(path))), [Deno.pid]);
 * Deno.removeSync(path);
 * ```
 */
export function readProcessTable(): ProcessTable {
  const processes = new Map<number, { identities: Set<Identity>; paths: string[] }>();
  let unseen = 0;
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const held = readProcess(pid);
    if (held) processes.set(pid, held);
    else if (isRunning(pid)) unseen++;
  }
  const sorted = (pids: number[]) => pids.sort((a, b) => a - b);
  return {
    holdersOf(identity) {
      return sorted(
        [...processes].filter(([, held]) => held.identities.has(identity)).map(([pid]) => pid),
      );
    },
    holdersUnder(dir) {
      let real: string;
      try {
        real = Deno.realPathSync(dir); // /proc shows paths with symbolic links resolved
      } catch {
        real = dir;
      }
      const inside = (path: string) => path === real || path.startsWith(`${real}/`);
      return sorted(
        [...processes].filter(([, held]) => held.paths.some(inside)).map(([pid]) => pid),
      );
    },
    unseen,
  };
}

/**
 * The pids of the processes (this one included) that have the object at `path` open (any
 * descriptor, `O_PATH` included), mapped into memory, or as their working directory: a FIFO,
 * a shared-memory segment (`/dev/shm/NAME`), a semaphore (`/dev/shm/sem.NAME`), a message
 * queue where `/dev/mqueue` is mounted. A symbolic link at `path` is not followed. Throws
 * `Deno.errors.NotFound` if nothing is at `path`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { holdersOfPath } from "./holders.ts";
 * const path = Deno.makeTempFileSync();
 * assert.deepEqual(holdersOfPath(path), []); // nobody uses it
 * using file = Deno.openSync(path);
 * assert.deepEqual(holdersOfPath(path), [Deno.pid]);
 * Deno.removeSync(path);
 * ```
 */
export function holdersOfPath(path: string): number[] {
  const wanted = identityOf(Deno.lstatSync(path));
  return readProcessTable().holdersOf(wanted);
}

/**
 * The pids of the processes (this one included) that have the message queue `name` open,
 * or null if no queue has that name. It works whether or not `/dev/mqueue` is mounted: it
 * opens the queue for a moment (which changes nothing in it) to learn its identity from
 * `/proc/self/fd`, closes it, then asks {@linkcode readProcessTable}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { holdersOfQueue } from "./holders.ts";
 * import { MessageQueue } from "./mq.ts";
 * const name = `/my-queue-${Deno.pid}`;
 * assert.equal(holdersOfQueue(name), null); // no such queue
 * using queue = MessageQueue.create(name, { maxmsg: 1, msgsize: 16 });
 * assert.deepEqual(holdersOfQueue(name), [Deno.pid]);
 * ```
 */
export function holdersOfQueue(name: string): number[] | null {
  const found = queueIdentity(name);
  return found === null ? null : readProcessTable().holdersOf(found.identity);
}

/**
 * The identity and owner of the message queue `name`, learned by opening it for a moment
 * (`mq_open` with `O_RDONLY`, which neither sends nor receives); null if no queue has that
 * name. Throws a `LibcError` (EACCES) if this user may not open it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { queueIdentity } from "./holders.ts";
 * import { MessageQueue } from "./mq.ts";
 * const name = `/my-queue-${Deno.pid}`;
 * assert.equal(queueIdentity(name), null);
 * using queue = MessageQueue.create(name, { maxmsg: 1, msgsize: 16 });
 * assert.equal(queueIdentity(name)?.uid, Deno.uid()); // and an identity such as "20:35587"
 * ```
 */
export function queueIdentity(name: string): { identity: Identity; uid: number | null } | null {
  let fd: number;
  try {
    fd = libc.mq_open(name, libc.O.RDONLY | libc.O.NONBLOCK | libc.O.CLOEXEC);
  } catch (error) {
    if (error instanceof libc.LibcError && error.code === "ENOENT") return null;
    throw error;
  }
  try {
    const info = Deno.statSync(`/proc/self/fd/${fd}`);
    return { identity: identityOf(info), uid: info.uid };
  } finally {
    libc.mq_close(fd);
  }
}
