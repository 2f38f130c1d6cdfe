/**
 * FIFOs (named pipes): a pipe with a name in the file system, so that two processes that are
 * not parent and child can find it. `ls -l` shows it with the type `p`.
 *
 * `mkfifo(3)` makes the name; `open(2)` on it connects to the pipe. Opening a FIFO normally
 * blocks until the other end is opened too. Here both opens are non-blocking, so the wait
 * can time out and never freezes the event loop:
 *
 * - a writer's `open(O_WRONLY | O_NONBLOCK)` fails with ENXIO while no reader has it open, so
 *   the writer retries with a growing pause;
 * - a reader's `open(O_RDONLY | O_NONBLOCK)` succeeds at once; the reader then parks in
 *   `poll(2)`, which reports POLLIN (data) or POLLHUP (a writer came and went) once a writer
 *   has connected. A writer that has connected but not written yet raises neither: `/proc`
 *   shows its descriptor (see {@linkcode pipeUsers}).
 *
 * While it waits, a side holds the FIFO by an `O_PATH` descriptor, which opens neither end
 * (see {@linkcode makeFifo}): `/proc` then shows that the FIFO is in use, to the peer and to
 * `deno task clean`, even while no end is open yet.
 *
 * Every open refuses to follow a symbolic link (`O_NOFOLLOW`) and checks that what it opened
 * is a FIFO owned by this user, so a name replaced by an attacker is never used.
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import * as libc from "./libc.ts";
import { ChannelError } from "./errors.ts";
import { otherHolders } from "./holders.ts";
import { NAME_MAX } from "./_names.ts";
import { PipeEnd, pipeSink, pipeSource, type PipeUser, pipeUsers } from "./pipe.ts";
import type { NamedChannel, NamedEndOptions } from "./channel.ts";
import { PARK_SLICE_MS, seconds, sleep } from "./wait.ts";
import {
  leftoverAt,
  LeftoverFinder,
  type LeftoverKind,
  lstatOrNull,
  mine,
  namesIn,
} from "./leftovers.ts";

/** Options for {@linkcode Fifo.open}. */
export interface FifoOpenOptions {
  /** How long to wait for the other end, and later for data or room, in ms (default: for ever). */
  timeout?: number;
  /** Once this is aborted, the wait (and later reads and writes) rejects with its reason. */
  signal?: AbortSignal;
  /**
   * For a reader: wait until a writer has connected (the default). Without it, the read end is
   * returned at once, and a read() before any writer has connected returns 0 as if at
   * end-of-file; only a protocol that knows the writer is already there can skip the wait (two
   * FIFOs, one each way, opened in a fixed order).
   */
  waitForWriter?: boolean;
}

/**
 * A FIFO's name in the file system, and whether this process created it. The process that
 * created the name removes it ({@linkcode Fifo.unlink}, or at the end of a `using` block).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeFifo } from "./fifo.ts";
 * using fifo = makeFifo(`/tmp/example-${Deno.pid}.fifo`);
 * const reading = fifo.open("read", { timeout: 5000 }); // waits for a writer to connect
 * using writer = await fifo.open("write", { timeout: 5000 }); // a reader is there: at once
 * await writer.write(new TextEncoder().encode("hi")); // now the reader's wait ends
 * using reader = await reading;
 * fifo.unlink(); // both ends are open: the name has done its job
 * const buffer = new Uint8Array(16);
 * const n = await reader.read(buffer);
 * assert.equal(new TextDecoder().decode(buffer.subarray(0, n)), "hi");
 * ```
 */
export class Fifo implements Disposable {
  /** The FIFO's path. */
  readonly path: string;
  /** True if this process created the FIFO (and so must remove it). */
  readonly created: boolean;
  /** The O_PATH descriptor that holds the FIFO (see {@linkcode makeFifo}); null once closed. */
  #pathFd: number | null;
  /** The device and inode of the FIFO that was checked: what every open must find. */
  #identity: string;
  #unlinked = false;

  /**
   * Use {@linkcode makeFifo} to get one. Takes over `pathFd`, an `O_PATH` descriptor on the
   * FIFO at `path`, already checked to be a FIFO of this user's.
   */
  constructor(path: string, created: boolean, pathFd: number) {
    this.path = path;
    this.created = created;
    this.#pathFd = pathFd;
    this.#identity = identity(`/proc/self/fd/${pathFd}`);
  }

  /**
   * The pids of the other processes that have this FIFO open in any way: an end, or an
   * `O_PATH` descriptor like ours (a peer waiting for us). Empty means that nobody is on it:
   * a FIFO found already there with nobody on it was left behind (or made by hand with
   * `mkfifo`). A process blocked in a plain `open(2)` of the FIFO is not seen: it has no
   * descriptor until the open returns.
   */
  otherHolders(): number[] {
    return this.#pathFd === null ? [] : otherHolders(this.#pathFd);
  }

  /**
   * The other processes on this FIFO, and which end each has open (`/proc/PID/fdinfo` holds
   * the flags of every descriptor): `reads` for a reader, `writes` for a writer, neither for a
   * process that holds only an `O_PATH` descriptor: a side waiting for its peer. (A reader of
   * this lesson opens its end at once, non-blocking; a writer cannot open its end before a
   * reader has: so one holding neither is, most likely, a writer waiting for a reader.)
   */
  otherUsers(): PipeUser[] {
    if (this.#pathFd === null) return [];
    const ends = new Map(pipeUsers(this.#pathFd).map((user) => [user.pid, user]));
    return otherHolders(this.#pathFd).map((pid) =>
      ends.get(pid) ?? { pid, reads: false, writes: false }
    );
  }

  /** Whether the name still leads to this very FIFO (its maker may have removed it). */
  stillNamed(): boolean {
    const info = lstatOrNull(this.path);
    return info !== null && `${info.dev}:${info.ino}` === this.#identity;
  }

  /**
   * Opens one end of the FIFO and waits until the other end is open too: for a writer, until a
   * reader has the FIFO open; for a reader, until a writer has connected (it has written, come
   * and gone, or holds its end open). Throws `Deno.errors.TimedOut` when nobody comes within
   * `timeout`.
   */
  async open(access: "read" | "write", options: FifoOpenOptions = {}): Promise<PipeEnd> {
    const timeoutMs = options.timeout ?? Infinity;
    const deadline = performance.now() + timeoutMs;
    const flags = (access === "read" ? libc.O.RDONLY : libc.O.WRONLY) |
      libc.O.NONBLOCK | libc.O.NOFOLLOW | libc.O.CLOEXEC;

    // A writer tries again every few ms, not every 200: when a reader comes, every waiting
    // writer must connect before the first one is done (see the exercise "Many writers").
    let fd: number | undefined;
    for (let pause = 5; fd === undefined; pause = Math.min(pause * 2, WRITER_RETRY_MS)) {
      try {
        fd = libc.open(this.path, flags);
      } catch (error) {
        // ENXIO: a non-blocking writer found no reader yet. Anything else is a real error.
        if (!(error instanceof libc.LibcError && error.code === "ENXIO")) {
          throw describeOpenError(this.path, error);
        }
        const left = deadline - performance.now();
        if (left <= 0) {
          throw new Deno.errors.TimedOut(
            `no reader opened the FIFO ${this.path} within ${seconds(timeoutMs)}`,
          );
        }
        await sleep(Math.min(pause, left), options.signal);
      }
    }

    const end = new PipeEnd(fd, { timeout: timeoutMs, signal: options.signal });
    try {
      checkIsOwnFifo(this.path, fd);
      // The name must still lead to the FIFO that was checked when it was made or found.
      if (identity(`/proc/self/fd/${fd}`) !== this.#identity) {
        throw new Deno.errors.PermissionDenied(
          `refusing to use the FIFO ${this.path}: it was replaced by another one since it was checked`,
        );
      }
      if (access === "read" && options.waitForWriter !== false) {
        await waitForWriter(end, this.path, deadline, timeoutMs, options.signal);
      }
      return end;
    } catch (error) {
      end.close();
      throw error;
    }
  }

  /** Removes the name, if this process created it and has not removed it yet. */
  unlink(): void {
    if (!this.created || this.#unlinked) return;
    this.#unlinked = true;
    try {
      libc.unlink(this.path);
    } catch (error) {
      // Already gone (someone else removed it): nothing left to clean up.
      if (!(error instanceof libc.LibcError && error.code === "ENOENT")) throw error;
    }
  }

  /** Removes the name if this process created it, and lets go of the FIFO (for `using`). */
  [Symbol.dispose](): void {
    try {
      this.unlink();
    } finally {
      if (this.#pathFd !== null) libc.close(this.#pathFd);
      this.#pathFd = null;
    }
  }
}

/**
 * Makes a FIFO at `path` with `mkfifo(3)`, mode 0600 (only this user may open it), unless a
 * FIFO is already there (made by the peer, or left behind: see {@linkcode Fifo.otherHolders}).
 * Anything else at `path` is an error: `Deno.errors.AlreadyExists`; a FIFO of another user's,
 * `Deno.errors.PermissionDenied`; a path where mkfifo fails, a `ChannelError` whose one line
 * says why (a name over NAME_MAX, a file where a folder should be, a folder missing, or on a
 * file system that holds no FIFOs, such as /proc).
 *
 * Then it holds the FIFO with `open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC)`. `O_PATH` opens
 * neither end: the descriptor only names the file, so the open returns at once, and no peer
 * sees a reader or a writer come. But it shows in `/proc/PID/fd`, so from now on the peer
 * and `deno task clean` (which decides from `/proc/*\/fd` what is in use) see that this
 * FIFO is in use, even while this process is still waiting for its peer. `fstat` of the
 * descriptor (through `/proc/self/fd`) checks what the name led to, with no window for a
 * swap: a FIFO, owned by this user.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeFifo } from "./fifo.ts";
 * const path = `/tmp/example-${Deno.pid}.fifo`;
 * using fifo = makeFifo(path);
 * assert.equal(fifo.created, true); // nothing was there: this process made it
 * assert.equal(Deno.lstatSync(path).isFifo, true);
 * using again = makeFifo(path); // as the peer would: the FIFO is already there
 * assert.equal(again.created, false);
 * ```
 */
export function makeFifo(path: string, options: { mode?: number } = {}): Fifo {
  let created = false;
  try {
    libc.mkfifo(path, options.mode ?? 0o600);
    created = true;
  } catch (error) {
    if (!(error instanceof libc.LibcError)) throw error;
    if (error.code !== "EEXIST") throw whyNotMkfifo(path, error);
  }
  let pathFd: number;
  try {
    pathFd = libc.open(path, libc.O.PATH | libc.O.NOFOLLOW | libc.O.CLOEXEC);
  } catch (error) {
    throw describeOpenError(path, error);
  }
  try {
    const info = Deno.statSync(`/proc/self/fd/${pathFd}`);
    if (!info.isFifo) throw notAFifo(path, info);
    checkOwner(path, info);
    return new Fifo(path, created, pathFd);
  } catch (error) {
    // Whatever is there now is not a FIFO of ours (even if we made one a moment ago, someone
    // has replaced it): leave it alone.
    libc.close(pathFd);
    throw error;
  }
}

/**
 * Checks, without creating anything, that {@linkcode makeFifo} could use `path`: either a FIFO
 * is there, or nothing is and the directory exists. Throws the same errors it would.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkFifoPath } from "./fifo.ts";
 * checkFifoPath(`/tmp/example-${Deno.pid}.fifo`); // fine: nothing there yet
 * assert.throws(() => checkFifoPath("/etc/hostname"), Deno.errors.AlreadyExists); // a file
 * ```
 */
export function checkFifoPath(path: string): void {
  const tooLong = nameTooLong(path);
  if (tooLong !== null) throw cannotCreate(path, tooLong);
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch {
    // Nothing there (or no way there): mkfifo needs a folder that can hold a FIFO.
    const why = directoryProblem(path);
    if (why !== null) throw cannotCreate(path, why);
    return;
  }
  if (!info.isFifo) throw notAFifo(path, info);
}

/**
 * Why `mkfifo(path)` failed with `error`, in one line: the errno, and what it means here. An
 * ENOENT is looked into: the folder may be missing, or be there on a file system that holds
 * no FIFOs (procfs, sysfs), where mkfifo says ENOENT too.
 */
function whyNotMkfifo(path: string, error: libc.LibcError): Error {
  const errno = `mkfifo failed with ${error.code} (${error.description})`;
  switch (error.code) {
    case "EACCES":
    case "EPERM": {
      // EPERM is also what sysfs says to mknod: the folder may be the trouble, not the rights.
      const why = error.code === "EPERM" ? directoryProblem(path) : null;
      return new Deno.errors.PermissionDenied(
        `cannot create the FIFO ${path}: ${errno}: ${why ?? "you may not write in its directory"}`,
      );
    }
    case "ENOENT":
      return cannotCreate(path, `${errno}: ${directoryProblem(path) ?? NO_FIFOS_THERE}`, error);
    case "ENOTDIR":
      return cannotCreate(
        path,
        `${errno}: ${directoryProblem(path) ?? "a part of the path is not a directory"}`,
        error,
      );
    case "ENAMETOOLONG":
      return cannotCreate(path, `${errno}: ${nameTooLong(path) ?? "the path is too long"}`, error);
    case "EROFS":
      return cannotCreate(path, `${errno}: its directory is on a read-only file system`, error);
    case "ELOOP":
      return cannotCreate(path, `${errno}: the path has too many symbolic links`, error);
    case "ENOSPC":
    case "EDQUOT":
      return cannotCreate(path, `${errno}: its file system has no room for a new file`, error);
    default:
      return cannotCreate(path, errno, error);
  }
}

/** What ENOENT means when the folder is there: its file system cannot hold a FIFO. */
const NO_FIFOS_THERE = "its directory is on a file system that cannot hold a FIFO (such as /proc)";

/** The one line for a FIFO that cannot be made at `path`, with the reason. */
function cannotCreate(path: string, why: string, cause?: unknown): ChannelError {
  return new ChannelError(`cannot create the FIFO ${path}: ${why}; choose another --path`, {
    cause,
  });
}

const encoder = new TextEncoder();

/**
 * Which part of `path` is too long for Linux, if any: a file name (one component) holds at
 * most NAME_MAX = 255 bytes, a whole path at most PATH_MAX = 4096 with its NUL.
 */
function nameTooLong(path: string): string | null {
  const long = path.split("/").find((part) => encoder.encode(part).length > NAME_MAX);
  if (long !== undefined) {
    return `a part of the path is ${
      encoder.encode(long).length
    } bytes long, and a file name may hold at most ${NAME_MAX} (NAME_MAX)`;
  }
  if (encoder.encode(path).length >= PATH_MAX) {
    return `the path is longer than ${PATH_MAX - 1} bytes (PATH_MAX)`;
  }
  return null;
}

/** `PATH_MAX` in `<limits.h>`: the longest path, with its NUL byte. */
const PATH_MAX = 4096;

/**
 * Why the folder of `path` cannot receive a new FIFO: it is missing, a part of the way is not
 * a folder, or its file system holds no FIFOs; null if nothing is wrong with it.
 */
function directoryProblem(path: string): string | null {
  const parent = dirname(resolve(path));
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(parent);
  } catch (error) {
    if (error instanceof Deno.errors.NotADirectory) {
      return `a part of the path to ${parent} is not a directory (a file stands in its way)`;
    }
    if (error instanceof Deno.errors.PermissionDenied) return null; // mkfifo will say
    return `its directory ${parent} does not exist`;
  }
  if (!info.isDirectory) return `${parent} is ${kindOf(info)}, not a directory`;
  const type = fileSystemType(info);
  if (type !== null && NO_FIFO_FILE_SYSTEMS.has(type)) {
    return `its directory ${parent} is on ${type}, a file system that cannot hold a FIFO`;
  }
  return null;
}

/**
 * File systems the kernel makes up for itself: they show its state as files, and `mknod`
 * (which `mkfifo` is) fails there with ENOENT or EPERM.
 */
const NO_FIFO_FILE_SYSTEMS = new Set([
  "proc",
  "sysfs",
  "cgroup",
  "cgroup2",
  "debugfs",
  "tracefs",
  "securityfs",
  "configfs",
  "pstore",
  "efivarfs",
  "bpf",
  "fusectl",
  "binfmt_misc",
  "mqueue",
  "devpts",
  "nsfs",
]);

/**
 * The type of the file system that holds the file `info` describes ("ext4", "tmpfs", "proc"),
 * from `/proc/self/mountinfo`: the mount whose device (`MAJOR:MINOR`, the third field) is
 * `info.dev`; null if none is found.
 */
function fileSystemType(info: Deno.FileInfo): string | null {
  let mounts = "";
  try {
    mounts = Deno.readTextFileSync("/proc/self/mountinfo");
  } catch {
    return null;
  }
  // "22 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw"
  for (const line of mounts.split("\n")) {
    const [, , device = ""] = line.split(" ");
    const [major, minor] = device.split(":").map(Number);
    if (major === undefined || minor === undefined) continue;
    if (makedev(major, minor) !== info.dev) continue;
    return line.split(" - ")[1]?.split(" ")[0] ?? null;
  }
  return null;
}

/** `st_dev` from a device's major and minor numbers, as glibc's `makedev()` packs them. */
function makedev(major: number, minor: number): number {
  return (minor & 0xff) + (major & 0xfff) * 2 ** 8 + Math.floor(minor / 0x100) * 2 ** 20 +
    Math.floor(major / 0x1000) * 2 ** 44;
}

function notAFifo(path: string, info: Deno.FileInfo): Error {
  return new Deno.errors.AlreadyExists(
    `${path} already exists and is not a FIFO (it is ${kindOf(info)}); choose another --path`,
  );
}

/** What kind of file `info` describes, for messages. */
function kindOf(info: Deno.FileInfo): string {
  if (info.isSymlink) return "a symbolic link";
  if (info.isDirectory) return "a directory";
  if (info.isFile) return "a regular file";
  if (info.isSocket) return "a socket";
  if (info.isCharDevice || info.isBlockDevice) return "a device";
  return "not a FIFO";
}

/** How often, at most, a writer waiting for a reader tries `open` again. */
const WRITER_RETRY_MS = 20;

function describeOpenError(path: string, error: unknown): unknown {
  if (!(error instanceof libc.LibcError)) return error;
  if (error.code === "ELOOP") {
    return new Deno.errors.PermissionDenied(
      `refusing to open ${path}: it is a symbolic link, not a FIFO`,
    );
  }
  if (error.code === "ENOENT") {
    return new Deno.errors.NotFound(`the FIFO ${path} disappeared before it could be opened`);
  }
  if (error.code === "EACCES") {
    return new Deno.errors.PermissionDenied(
      `cannot open the FIFO ${path}: ${error.code} (${error.description})`,
    );
  }
  return new ChannelError(
    `cannot open the FIFO ${path}: ${error.call} failed with ${error.code} (${error.description})`,
    { cause: error },
  );
}

/** Refuses anything but a FIFO owned by this user: someone may have swapped the name. */
function checkIsOwnFifo(path: string, fd: number): void {
  // /proc/self/fd/N leads to the file this descriptor really has open.
  const info = Deno.statSync(`/proc/self/fd/${fd}`);
  if (!info.isFifo) {
    throw new Deno.errors.PermissionDenied(
      `refusing to use ${path}: it is ${kindOf(info)}, not a FIFO`,
    );
  }
  checkOwner(path, info);
}

function checkOwner(path: string, info: Deno.FileInfo): void {
  const uid = Deno.uid();
  if (uid !== null && info.uid !== uid) {
    throw new Deno.errors.PermissionDenied(
      `refusing to use the FIFO ${path}: it belongs to user ${info.uid}, not to you`,
    );
  }
}

/** The device and inode of what `path` leads to: the same pair means the same FIFO. */
function identity(path: string): string {
  const info = Deno.statSync(path);
  return `${info.dev}:${info.ino}`;
}

/** How often a reader waiting for a writer looks in /proc for one that has not written yet. */
const WRITER_LOOK_EVERY_MS = 250;

/**
 * A reader waits in poll(2) until a writer has connected: data (POLLIN) or a hang-up (POLLHUP:
 * a writer came and went, perhaps with nothing to say: an empty input). A writer that has
 * opened its end but not written yet raises neither; now and then, and once more before
 * giving up, the reader looks in /proc for a descriptor open for writing on this FIFO.
 */
async function waitForWriter(
  end: PipeEnd,
  path: string,
  deadline: number,
  timeoutMs: number,
  signal?: AbortSignal,
) {
  for (let lookAt = performance.now() + WRITER_LOOK_EVERY_MS;;) {
    signal?.throwIfAborted();
    const left = deadline - performance.now();
    const ready = left > 0
      ? await libc.pollPark(end.fd, libc.POLL.IN, Math.min(left, PARK_SLICE_MS))
      : libc.poll(end.fd, libc.POLL.IN, 0);
    if (ready & (libc.POLL.IN | libc.POLL.HUP)) return;
    const now = performance.now();
    if (now >= lookAt || now >= deadline) {
      if (pipeUsers(end.fd).some((user) => user.writes)) return;
      lookAt = now + WRITER_LOOK_EVERY_MS;
    }
    if (now >= deadline) {
      throw new Deno.errors.TimedOut(
        `no writer opened the FIFO ${path} within ${seconds(timeoutMs)}`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Leftovers: FIFOs that killed runs left behind (for `deno task clean`)
// ---------------------------------------------------------------------------------------------

/** A FIFO, as `deno task clean` lists and names it. */
export const FIFO_KIND: LeftoverKind = {
  label: "FIFO",
  noun: "FIFO",
  plural: "FIFOs",
  atAnyPath: true,
};

/**
 * Finds FIFOs: for `{ prefix, dir }`, this user's FIFOs in the folder `dir` whose names start
 * with `prefix`; for `{ name, cwd }`, the FIFO at the path `name` (relative to `cwd`), whoever
 * owns it. A FIFO lives in a folder like any file, so nothing but a path finds it; what the
 * path leads to is looked at without following a symbolic link. `unlink(2)` removes it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fifoLeftovers, makeFifo } from "./fifo.ts";
 * import { findLeftovers } from "./leftovers.ts";
 *
 * const dir = Deno.makeTempDirSync();
 * using fifo = makeFifo(`${dir}/my.fifo`); // held (O_PATH) until the end of this block
 * const { found } = findLeftovers([fifoLeftovers], { name: "my.fifo", cwd: dir });
 * assert.deepEqual(found.map((object) => object.holders), [[Deno.pid]]);
 * fifo.unlink();
 * Deno.removeSync(dir);
 * ```
 */
export const fifoLeftovers: LeftoverFinder = new LeftoverFinder([FIFO_KIND], (query, report) => {
  const leftover = (path: string, info: Deno.FileInfo) =>
    leftoverAt(FIFO_KIND, path, info, () => libc.unlink(path));
  if ("prefix" in query) {
    for (const file of namesIn(query.dir, query.prefix)) {
      const path = join(query.dir, file);
      const info = lstatOrNull(path); // null: removed while we looked (a run finishing)
      if (info?.isFifo && mine(info.uid)) report.found.push(leftover(path, info));
    }
    return;
  }
  const path = resolve(query.cwd, query.name);
  const info = query.name === "" ? null : lstatOrNull(path);
  if (info?.isFifo) report.found.push(leftover(path, info));
});

// ---------------------------------------------------------------------------------------------
// The FIFO as a channel of pieces (see channel.ts): what the benchmark measures
// ---------------------------------------------------------------------------------------------

/**
 * The FIFO as a named channel, opened as the FIFO lesson opens it: `word` becomes a FIFO in
 * `dir`; the reader waits for a writer, the writer for a reader, and once both ends are open
 * the name has done its job and goes. In a pair (one FIFO each way) the read end opens at once
 * and the names go with the stack.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { channel } from "./fifo.ts";
 * using stack = new DisposableStack();
 * const dir = Deno.makeTempDirSync();
 * const options = { piece: 64, capacity: 0, timeout: 5000, stack, dir };
 * // One process holds both ends here, so the reader must not wait for a writer: `pair`.
 * const source = await channel.openSource("example", { ...options, pair: true });
 * const sink = await channel.openSink("example", options);
 * await sink.send(new Uint8Array([1, 2, 3]));
 * await sink.end();
 * assert.deepEqual([...await source.receive()], [1, 2, 3]);
 * stack.dispose(); // closes both ends and removes the FIFO
 * Deno.removeSync(dir);
 * ```
 */
export const channel: NamedChannel = {
  kind: "named",
  refbench: "fifo",
  async openSink(word: string, { dir, timeout, stack }: NamedEndOptions) {
    const fifo = stack.use(makeFifo(join(dir, word)));
    const end = stack.use(await fifo.open("write", { timeout }));
    fifo.unlink();
    return pipeSink(end);
  },
  async openSource(word: string, { dir, piece, timeout, stack, pair }: NamedEndOptions) {
    const fifo = stack.use(makeFifo(join(dir, word)));
    const end = stack.use(await fifo.open("read", { timeout, waitForWriter: !pair }));
    // Once a writer is connected the name has done its job; in a pair the writer may still
    // need it, and it goes at the end (the stack disposes of the Fifo).
    if (!pair) fifo.unlink();
    return pipeSource(end, piece);
  },
};
