/**
 * Finding the kernel objects that killed runs left behind: everything named with this
 * project's prefix (`ipc-lesson-`), owned by this user, whose creating process is gone.
 *
 * Where each kind lives:
 * - FIFOs and the demo's temporary folders: in the temporary directory (TMPDIR or /tmp);
 * - POSIX shared memory: `/dev/shm/NAME`; named semaphores: `/dev/shm/sem.NAME`;
 * - POSIX message queues: `/dev/mqueue/NAME`, where that file system is mounted. Where it is
 *   not, root can still list them by mounting it privately (`unshare -m`).
 *
 * @module
 */

import { join } from "node:path";
import { mq_unlink, processExists, sem_unlink, shm_unlink, unlink } from "../transports/libc.ts";
import { NAME_PREFIX, tempDir } from "./_lesson.ts";

/** One object left behind. */
export interface Leftover {
  /** `FIFO`, `shared memory`, `semaphore`, `message queue`, `demo folder`. */
  kind: string;
  /** Where it shows: a path. */
  path: string;
  /** The process that created it, from the name, if that process still runs. */
  runningPid: number | null;
  /** Removes it with the call that fits its kind. */
  remove(): void;
}

/** What {@linkcode findLeftovers} found, and what it could not look at. */
export interface LeftoverReport {
  /** The objects found. */
  found: Leftover[];
  /** Notes on places that could not be searched. */
  notes: string[];
}

/** The pid in a name such as `ipc-lesson-fifo-4711-3f9a2c`, if that process still runs. */
function runningCreator(name: string): number | null {
  const pid = Number(name.match(/^ipc-lesson-[a-z]+-(\d+)-/)?.[1]);
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === Deno.pid) return null;
  return processExists(pid) ? pid : null;
}

function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch {
    return null;
  }
}

function ownedByMe(info: Deno.FileInfo): boolean {
  const uid = Deno.uid();
  return uid === null || info.uid === uid;
}

function listDir(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((entry) => entry.name);
  } catch {
    return [];
  }
}

/** Lists the message queues in the IPC namespace, or explains why it cannot. */
function listQueues(notes: string[]): { dir: string; names: string[] } | null {
  if (listDir("/dev/mqueue").length > 0 || isMqueueMount("/dev/mqueue")) {
    return { dir: "/dev/mqueue", names: listDir("/dev/mqueue") };
  }
  // Not mounted: root may mount it in a private mount namespace, just to look.
  if (Deno.uid() === 0) {
    try {
      const output = new Deno.Command("unshare", {
        // The mount lives only in the private namespace; the folder goes afterwards.
        args: [
          "-m",
          "sh",
          "-c",
          'd=$(mktemp -d) || exit 1; mount -t mqueue none "$d" && ls -1 "$d"; s=$?; umount "$d"; rmdir "$d"; exit $s',
        ],
        stdout: "piped",
        stderr: "null",
      }).outputSync();
      if (output.success) {
        const names = new TextDecoder().decode(output.stdout).split("\n").filter(Boolean);
        return { dir: "/dev/mqueue", names };
      }
    } catch { /* no unshare */ }
  }
  notes.push(
    "message queues: /dev/mqueue is not mounted, so they cannot be listed (as root: mount -t mqueue none /dev/mqueue)",
  );
  return null;
}

function isMqueueMount(dir: string): boolean {
  try {
    return Deno.readTextFileSync("/proc/self/mounts").split("\n")
      .some((line) => line.split(" ")[1] === dir && line.split(" ")[2] === "mqueue");
  } catch {
    return false;
  }
}

/** Finds every object of this project that is still there. */
export function findLeftovers(options: { tmp?: string } = {}): LeftoverReport {
  const found: Leftover[] = [];
  const notes: string[] = [];
  const tmp = options.tmp ?? tempDir();

  for (const name of listDir(tmp).filter((n) => n.startsWith(NAME_PREFIX))) {
    const path = join(tmp, name);
    const info = lstatOrNull(path);
    if (info === null) continue; // removed while we looked (another run finishing)
    if (!ownedByMe(info)) continue;
    if (info.isFifo) {
      found.push({
        kind: "FIFO",
        path,
        runningPid: runningCreator(name),
        remove: () => unlink(path),
      });
    } else if (info.isDirectory && /^ipc-lesson-(run|lab)-/.test(name)) {
      found.push({
        kind: "demo folder",
        path,
        runningPid: null,
        remove: () => Deno.removeSync(path, { recursive: true }),
      });
    }
  }

  for (const name of listDir("/dev/shm")) {
    const path = join("/dev/shm", name);
    const info = name.includes(NAME_PREFIX) ? lstatOrNull(path) : null;
    if (info === null || !ownedByMe(info)) continue;
    if (name.startsWith(NAME_PREFIX)) {
      found.push({
        kind: "shared memory",
        path,
        runningPid: runningCreator(name),
        remove: () => shm_unlink(`/${name}`),
      });
    } else if (name.startsWith(`sem.${NAME_PREFIX}`)) {
      const semName = name.slice("sem.".length);
      found.push({
        kind: "semaphore",
        path,
        runningPid: runningCreator(semName),
        remove: () => sem_unlink(`/${semName}`),
      });
    }
  }

  const queues = listQueues(notes);
  for (const name of queues?.names.filter((n) => n.startsWith(NAME_PREFIX)) ?? []) {
    found.push({
      kind: "message queue",
      path: join(queues!.dir, name),
      runningPid: runningCreator(name),
      remove: () => mq_unlink(`/${name}`),
    });
  }
  return { found, notes };
}
