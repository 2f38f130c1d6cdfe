/**
 * Finding the kernel objects that killed runs left behind, and deciding whether each is still in
 * use. The kernel decides, not the name: an object is in use while some process holds it (an
 * open descriptor, `O_PATH` included, or a mapping), as `/proc` shows (see
 * `transports/holders.ts`). A name such as `ipc-lesson-fifo-4711-3f9a2c` says which process
 * made the object, but that process may have handed it on, or died while its pid was given to
 * another process; so the pid in a name is only shown, never trusted.
 *
 * Where each kind lives:
 * - FIFOs and the demo's temporary folders: in the temporary directory (TMPDIR or /tmp);
 * - POSIX shared memory: `/dev/shm/NAME`; named semaphores: `/dev/shm/sem.NAME`;
 * - POSIX message queues: `/dev/mqueue/NAME`, where that file system is mounted. Where it is
 *   not, root lists them through a private mount (`unshare -m`): the queues belong to the IPC
 *   namespace, not to a mount, so every mount of the `mqueue` file system shows the same ones,
 *   with the same device and inode. We do not mount `/dev/mqueue` for everybody: a cleanup
 *   tool should not change the machine's mounts, and the private mount goes with its process.
 *   A queue given by name needs no mount at all: opening it for a moment shows its identity.
 *
 * {@linkcode findLeftovers} lists this project's objects (named `ipc-lesson-…`), for
 * `deno task clean` and the tests; {@linkcode findNamed} finds objects by whatever name a
 * student gave them (`/tmp/my.fifo`, `/my-queue`), for `deno task clean NAME`.
 *
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import { LibcError, mq_unlink, sem_unlink, shm_unlink, unlink } from "../transports/libc.ts";
import {
  type Identity,
  identityOf,
  isRunning,
  queueIdentity,
  readProcessTable,
} from "../transports/holders.ts";
import { NAME_PREFIX, tempDir } from "./_lesson.ts";

/** The kinds of object `deno task clean` knows. */
export type LeftoverKind =
  | "FIFO"
  | "shared memory"
  | "semaphore"
  | "message queue"
  | "demo folder";

/** One object found, with who holds it. */
export interface Leftover {
  /** What it is. */
  readonly kind: LeftoverKind;
  /** Where it shows: a path (`/dev/mqueue/NAME` for a queue, even where that is not mounted). */
  readonly path: string;
  /** Its POSIX name (`/NAME`) for a queue, a segment or a semaphore; null otherwise. */
  readonly name: string | null;
  /** Its owner's user id (null where the system does not say). */
  readonly uid: number | null;
  /**
   * The processes that held it when we looked (an open descriptor, `O_PATH` included, a
   * mapping; for a folder, anything inside it or a working directory there). Empty: unused.
   */
  readonly holders: number[];
  /**
   * The process its name says made it (`ipc-lesson-METHOD-PID-…`), if a process with that pid
   * runs now. Only information: pids are reused, and a maker may have handed the object on.
   */
  readonly runningPid: number | null;
  /**
   * Looks again, just before removing: the processes that hold it now, or null if it has gone
   * or another object has taken its name since we looked (then it must be left alone).
   */
  recheck(): number[] | null;
  /** Removes it with the call that fits its kind (`unlink`, `shm_unlink`, …). */
  remove(): void;
}

/** What {@linkcode findLeftovers} found, and what it could not look at. */
export interface LeftoverReport {
  /** The objects found, in use or not. */
  found: Leftover[];
  /** Notes on places that could not be searched. */
  notes: string[];
}

/** What {@linkcode findNamed} found for the names it was given. */
export interface NamedReport {
  /** The objects the names name (anybody's: the caller decides what it may remove). */
  found: Leftover[];
  /** One sentence per name that names nothing removable (not a FIFO, nothing there, …). */
  problems: string[];
  /** Remarks that change nothing: a name that also names a file that is left alone. */
  notes: string[];
}

/**
 * The pid in a name such as `ipc-lesson-fifo-4711-3f9a2c` or `ipc-lesson-unix-socket-4711-…`:
 * the first part made only of digits, after a method name of one or more words. Null if the
 * name has none (`ipc-lesson-shm-lab`).
 *
 * @example
 * ```ts
 * import { pidInName } from "./_leftovers.ts";
 * pidInName("ipc-lesson-sysv-mq-4711-3f9a2c"); // 4711
 * pidInName("ipc-lesson-shm-lab"); // null
 * ```
 */
export function pidInName(name: string): number | null {
  const match = name.match(/^ipc-lesson-(?:[a-z0-9]*[a-z][a-z0-9]*-)+?(\d+)(?=[-.]|$)/);
  const pid = Number(match?.[1]);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

/** The pid in the name, if such a process runs (and is not this one): information only. */
function runningCreator(name: string): number | null {
  const pid = pidInName(name);
  return pid !== null && pid !== Deno.pid && isRunning(pid) ? pid : null;
}

function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return null;
    }
    throw error;
  }
}

function ownedByMe(uid: number | null): boolean {
  const me = Deno.uid();
  return me === null || uid === null || uid === me;
}

function listDir(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((entry) => entry.name);
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------------------------
// One object of each kind
// ---------------------------------------------------------------------------------------------

/** A found object; `holders` is filled in once, from one look at every process. */
class Found implements Leftover {
  holders: number[] = [];
  readonly runningPid: number | null;

  constructor(
    readonly kind: LeftoverKind,
    readonly path: string,
    readonly name: string | null,
    readonly uid: number | null,
    /** The device and inode it had when we found it. */
    readonly identity: Identity,
    /** Its identity now, or null if nothing has its name any more. */
    private readonly identityNow: () => Identity | null,
    private readonly removeIt: () => void,
  ) {
    this.runningPid = runningCreator(basename(path).replace(/^sem\./, ""));
  }

  recheck(): number[] | null {
    const now = this.identityNow();
    if (now !== this.identity) return null;
    const table = readProcessTable();
    return this.kind === "demo folder" ? table.holdersUnder(this.path) : table.holdersOf(now);
  }

  remove(): void {
    this.removeIt();
  }
}

function pathIdentity(path: string): () => Identity | null {
  return () => {
    const info = lstatOrNull(path);
    return info === null ? null : identityOf(info);
  };
}

function fifo(path: string, info: Deno.FileInfo): Found {
  return new Found(
    "FIFO",
    path,
    null,
    info.uid,
    identityOf(info),
    pathIdentity(path),
    () => unlink(path),
  );
}

function demoFolder(path: string, info: Deno.FileInfo): Found {
  return new Found(
    "demo folder",
    path,
    null,
    info.uid,
    identityOf(info),
    pathIdentity(path),
    () => Deno.removeSync(path, { recursive: true }), // does not follow symbolic links
  );
}

/**
 * The file `/dev/shm/FILE`: a semaphore if FILE is `sem.NAME` (that is how glibc names them),
 * shared memory otherwise.
 */
function shmFile(file: string, info: Deno.FileInfo): Found {
  const path = join("/dev/shm", file);
  if (file.startsWith("sem.")) {
    const name = `/${file.slice("sem.".length)}`;
    return new Found(
      "semaphore",
      path,
      name,
      info.uid,
      identityOf(info),
      pathIdentity(path),
      () => sem_unlink(name),
    );
  }
  const name = `/${file}`;
  return new Found(
    "shared memory",
    path,
    name,
    info.uid,
    identityOf(info),
    pathIdentity(path),
    () => shm_unlink(name),
  );
}

function queue(name: string, identity: Identity, uid: number | null): Found {
  const path = join("/dev/mqueue", name.slice(1));
  const identityNow = mqueueMounted() ? pathIdentity(path) : () => {
    try {
      return queueIdentity(name)?.identity ?? null;
    } catch {
      return null; // cannot open it any more: not the queue we found
    }
  };
  return new Found("message queue", path, name, uid, identity, identityNow, () => mq_unlink(name));
}

/**
 * The message queue `name`, or null if there is none. Where `/dev/mqueue` is not mounted it is
 * opened for a moment to learn its identity; a queue this user may not open is a problem.
 */
function queueNamed(name: string, problem: (sentence: string) => void): Found | null {
  if (mqueueMounted()) {
    const info = lstatOrNull(join("/dev/mqueue", name.slice(1)));
    return info === null ? null : queue(name, identityOf(info), info.uid);
  }
  try {
    const found = queueIdentity(name);
    return found === null ? null : queue(name, found.identity, found.uid);
  } catch (error) {
    if (!(error instanceof LibcError)) throw error;
    if (error.code === "EACCES") {
      problem(
        `the message queue ${name} exists, but this user may not open it to see who holds it ` +
          "(it is another user's): left alone",
      );
      return null;
    }
    if (error.code === "EINVAL" || error.code === "ENAMETOOLONG") return null; // not a queue name
    throw error;
  }
}

/** Fills in every object's holders from one look at every process; notes what it missed. */
function lookForHolders(found: Found[], notes: string[]): void {
  if (found.length === 0) return; // nothing to ask about: spare the look at /proc
  const table = readProcessTable();
  for (const object of found) {
    object.holders = object.kind === "demo folder"
      ? table.holdersUnder(object.path)
      : table.holdersOf(object.identity);
  }
  if (table.unseen > 0 && Deno.uid() !== 0) {
    notes.push(
      `${table.unseen} processes of other users could not be looked at: an object only they ` +
        "hold would look unused (root sees every process)",
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Message queues: /dev/mqueue, or a private mount of it
// ---------------------------------------------------------------------------------------------

function mqueueMounted(): boolean {
  try {
    return Deno.readTextFileSync("/proc/self/mounts").split("\n")
      .some((line) => line.split(" ")[1] === "/dev/mqueue" && line.split(" ")[2] === "mqueue");
  } catch {
    return false;
  }
}

/** Every message queue in the IPC namespace with its identity and owner, or null (see notes). */
function listQueues(notes: string[]): { name: string; identity: Identity; uid: number }[] | null {
  if (mqueueMounted()) {
    return listDir("/dev/mqueue").flatMap((file) => {
      const info = lstatOrNull(join("/dev/mqueue", file));
      return info ? [{ name: `/${file}`, identity: identityOf(info), uid: info.uid ?? -1 }] : [];
    });
  }
  // Not mounted: root may mount it in a private mount namespace, just to look. `find` prints
  // device, inode, owner and name of each, separated by NUL (a name may hold a newline).
  if (Deno.uid() === 0) {
    try {
      const output = new Deno.Command("unshare", {
        args: [
          "-m",
          "sh",
          "-c",
          'd=$(mktemp -d) || exit 1; mount -t mqueue none "$d" && ' +
          `find "$d" -mindepth 1 -maxdepth 1 -printf '%D %i %U %f\\0'; s=$?; ` +
          'umount "$d"; rmdir "$d"; exit $s',
        ],
        stdout: "piped",
        stderr: "null",
      }).outputSync();
      if (output.success) {
        return new TextDecoder().decode(output.stdout).split("\0").filter(Boolean).map(
          (entry) => {
            const [dev, ino, uid, ...rest] = entry.split(" ");
            return { name: `/${rest.join(" ")}`, identity: `${dev}:${ino}`, uid: Number(uid) };
          },
        );
      }
    } catch { /* no unshare */ }
  }
  notes.push(
    "message queues: /dev/mqueue is not mounted, so they cannot be listed " +
      "(as root: mount -t mqueue none /dev/mqueue); deno task clean /NAME still removes one by name",
  );
  return null;
}

// ---------------------------------------------------------------------------------------------
// This project's objects, by their prefix
// ---------------------------------------------------------------------------------------------

/**
 * Finds every object of this project (named `ipc-lesson-…`) that belongs to this user, in use
 * or not: FIFOs and demo folders in `tmp`, segments and semaphores in `/dev/shm`, queues. Each
 * comes with the processes that hold it.
 *
 * @example
 * ```ts ignore
 * import { findLeftovers } from "./_leftovers.ts";
 * for (const object of findLeftovers().found) {
 *   console.log(object.kind, object.path, object.holders.length ? "in use" : "left behind");
 * }
 * ```
 */
export function findLeftovers(options: { tmp?: string } = {}): LeftoverReport {
  const found: Found[] = [];
  const notes: string[] = [];
  const tmp = options.tmp ?? tempDir();

  for (const name of listDir(tmp).filter((n) => n.startsWith(NAME_PREFIX))) {
    const path = join(tmp, name);
    const info = lstatOrNull(path);
    if (info === null) continue; // removed while we looked (another run finishing)
    if (!ownedByMe(info.uid)) continue;
    if (info.isFifo) found.push(fifo(path, info));
    else if (info.isDirectory && /^ipc-lesson-(run|lab)-/.test(name)) {
      found.push(demoFolder(path, info));
    }
  }

  for (const file of listDir("/dev/shm")) {
    if (!file.startsWith(NAME_PREFIX) && !file.startsWith(`sem.${NAME_PREFIX}`)) continue;
    const info = lstatOrNull(join("/dev/shm", file));
    if (info === null || !info.isFile || !ownedByMe(info.uid)) continue;
    found.push(shmFile(file, info));
  }

  for (const { name, identity, uid } of listQueues(notes) ?? []) {
    if (name.startsWith(`/${NAME_PREFIX}`) && ownedByMe(uid)) {
      found.push(queue(name, identity, uid));
    }
  }
  lookForHolders(found, notes);
  return { found, notes };
}

// ---------------------------------------------------------------------------------------------
// Objects by any name: deno task clean NAME
// ---------------------------------------------------------------------------------------------

/** How `ls -l` would call the thing at a path that is not a FIFO. */
function typeOf(info: Deno.FileInfo): string {
  if (info.isFile) return "a regular file";
  if (info.isDirectory) return "a directory";
  if (info.isSymlink) return "a symbolic link";
  if (info.isSocket) return "a socket";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  return "something else";
}

/** The single file-name component of a POSIX IPC name (`/my-queue`, or `my-queue`), or null. */
function posixPart(name: string): string | null {
  const part = name.startsWith("/") ? name.slice(1) : name;
  if (part === "" || part === "." || part === ".." || part.includes("/")) return null;
  return new TextEncoder().encode(part).length <= 255 ? part : null;
}

/**
 * Finds the objects that each of `names` names, whatever the names are, and whoever owns them:
 *
 * - a path (absolute, or relative to `cwd`) names the FIFO there; a path in `/dev/shm` or
 *   `/dev/mqueue` names the segment, semaphore or queue it shows;
 * - a POSIX name, `/x` (or `x`), names the queue `/x`, the segment `/dev/shm/x` and the
 *   semaphore `/dev/shm/sem.x`: each that exists.
 *
 * A name that names none of these, or only something that is not a FIFO (a regular file, a
 * directory, a symbolic link), gets a problem; such a thing is never among `found`.
 *
 * @example
 * ```ts ignore
 * import { findNamed } from "./_leftovers.ts";
 * const { found, problems } = findNamed(["/tmp/my.fifo", "/my-queue"]);
 * ```
 */
export function findNamed(names: string[], options: { cwd?: string } = {}): NamedReport {
  const found: Found[] = [];
  const problems: string[] = [];
  const notes: string[] = [];
  const cwd = options.cwd ?? Deno.cwd();
  const seen = new Set<string>();
  let matched = 0; // objects the current name names (one named twice is removed once)
  const add = (object: Found) => {
    matched++;
    if (seen.has(`${object.kind} ${object.path}`)) return;
    seen.add(`${object.kind} ${object.path}`);
    found.push(object);
  };

  for (const name of names) {
    matched = 0;
    const problemsBefore = problems.length;
    let notFifo: string | null = null;
    const problem = (sentence: string) => problems.push(sentence);
    try {
      // 1. As a path.
      const path = resolve(cwd, name);
      const info = name === "" ? null : lstatOrNull(path);
      const folder = dirname(path);
      if (info?.isFifo) add(fifo(path, info));
      else if (info?.isFile && folder === "/dev/shm") add(shmFile(basename(path), info));
      else if (folder === "/dev/mqueue" && posixPart(basename(path)) !== null) {
        const object = queueNamed(`/${basename(path)}`, problem);
        if (object) add(object);
      } else if (info) notFifo = `${path} is ${typeOf(info)}, not a FIFO`;

      // 2. As a POSIX name.
      const part = posixPart(name);
      if (part !== null) {
        const segment = lstatOrNull(join("/dev/shm", part));
        if (segment?.isFile) add(shmFile(part, segment));
        if (new TextEncoder().encode(part).length <= 255 - "sem.".length) {
          const semaphore = lstatOrNull(join("/dev/shm", `sem.${part}`));
          if (semaphore?.isFile) add(shmFile(`sem.${part}`, semaphore));
        }
        const object = queueNamed(`/${part}`, problem);
        if (object) add(object);
      }
    } catch (error) {
      problem(`cannot look for ${JSON.stringify(name)}: ${(error as Error).message}`);
      continue;
    }
    const what =
      "(deno task clean removes only FIFOs, message queues, shared memory and semaphores)";
    if (problems.length > problemsBefore && matched === 0) continue; // said why
    if (matched > 0) {
      if (notFifo) notes.push(`${notFifo}: left alone ${what}`);
    } else if (notFifo) {
      problem(`${notFifo}: left alone ${what}`);
    } else {
      problem(
        `no FIFO, message queue, shared-memory segment or semaphore is named ${
          JSON.stringify(name)
        }`,
      );
    }
  }
  lookForHolders(found, notes);
  return { found, problems, notes };
}
