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
 *   has connected.
 *
 * Both opens refuse to follow a symbolic link (`O_NOFOLLOW`) and check that what they opened
 * is a FIFO owned by this user, so a name replaced by an attacker is never used.
 *
 * @module
 */

import { dirname } from "node:path";
import * as libc from "./libc.ts";
import { PipeEnd } from "./pipe.ts";
import { seconds, sleep } from "./_wait.ts";

/** Options for {@linkcode Fifo.open}. */
export interface FifoOpenOptions {
  /** How long to wait for the other end, and later for data or room, in ms (default: for ever). */
  timeout?: number;
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
 * import { makeFifo } from "./fifo.ts";
 * using fifo = makeFifo("/tmp/example.fifo");
 * const reading = fifo.open("read", { timeout: 5000 });
 * using writer = await fifo.open("write", { timeout: 5000 });
 * using reader = await reading;
 * fifo.unlink(); // both ends are open: the name has done its job
 * await writer.write(new TextEncoder().encode("hi"));
 * ```
 */
export class Fifo implements Disposable {
  /** The FIFO's path. */
  readonly path: string;
  /** True if this process created the FIFO (and so must remove it). */
  readonly created: boolean;
  #unlinked = false;

  /** Use {@linkcode makeFifo} to get one. */
  constructor(path: string, created: boolean) {
    this.path = path;
    this.created = created;
  }

  /**
   * Opens one end of the FIFO and waits until the other end is open too: for a writer, until a
   * reader has the FIFO open; for a reader, until a writer has connected (it has written, or
   * come and gone). Throws `Deno.errors.TimedOut` when nobody comes within `timeout`.
   */
  async open(access: "read" | "write", options: FifoOpenOptions = {}): Promise<PipeEnd> {
    const timeoutMs = options.timeout ?? Infinity;
    const deadline = performance.now() + timeoutMs;
    const flags = (access === "read" ? libc.O.RDONLY : libc.O.WRONLY) |
      libc.O.NONBLOCK | libc.O.NOFOLLOW | libc.O.CLOEXEC;

    let fd: number | undefined;
    for (let pause = 5; fd === undefined; pause = Math.min(pause * 2, 200)) {
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
        await sleep(Math.min(pause, left));
      }
    }

    const end = new PipeEnd(fd, { timeout: timeoutMs });
    try {
      checkIsOwnFifo(this.path, fd);
      if (access === "read" && options.waitForWriter !== false) {
        await waitForWriter(end, this.path, deadline, timeoutMs);
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

  /** Removes the name if this process created it (for `using`). */
  [Symbol.dispose](): void {
    this.unlink();
  }
}

/**
 * Makes a FIFO at `path` with `mkfifo(3)`, mode 0600 (only this user may open it), unless a
 * FIFO is already there (made by the peer). Anything else at `path` is an error:
 * `Deno.errors.AlreadyExists`.
 *
 * @example
 * ```ts
 * import { makeFifo } from "./fifo.ts";
 * using fifo = makeFifo("/tmp/example.fifo");
 * console.log(fifo.created ? "I made it" : "the peer made it");
 * ```
 */
export function makeFifo(path: string, options: { mode?: number } = {}): Fifo {
  try {
    libc.mkfifo(path, options.mode ?? 0o600);
    return new Fifo(path, true);
  } catch (error) {
    if (!(error instanceof libc.LibcError)) throw error;
    if (error.code === "ENOENT") throw noDirectory(path);
    if (error.code !== "EEXIST") {
      throw new Error(`cannot create the FIFO ${path}: ${error.message}`);
    }
  }
  const info = Deno.lstatSync(path);
  if (!info.isFifo) throw notAFifo(path, info);
  return new Fifo(path, false);
}

/**
 * Checks, without creating anything, that {@linkcode makeFifo} could use `path`: either a FIFO
 * is there, or nothing is and the directory exists. Throws the same errors it would.
 *
 * @example
 * ```ts
 * import { checkFifoPath } from "./fifo.ts";
 * checkFifoPath("/tmp/example.fifo"); // fine: nothing there yet
 * ```
 */
export function checkFifoPath(path: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch {
    let directory = false;
    try {
      directory = Deno.statSync(dirname(path)).isDirectory;
    } catch { /* missing */ }
    if (!directory) throw noDirectory(path);
    return;
  }
  if (!info.isFifo) throw notAFifo(path, info);
}

function noDirectory(path: string): Error {
  return new Deno.errors.NotFound(`cannot create the FIFO ${path}: its directory does not exist`);
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
  return new Error(`cannot open the FIFO ${path}: ${error.code} (${error.description})`);
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
  const uid = Deno.uid();
  if (uid !== null && info.uid !== uid) {
    throw new Deno.errors.PermissionDenied(
      `refusing to use the FIFO ${path}: it belongs to user ${info.uid}, not to you`,
    );
  }
}

/** A reader waits in poll(2) until a writer has connected: data (POLLIN) or a hang-up (POLLHUP). */
async function waitForWriter(end: PipeEnd, path: string, deadline: number, timeoutMs: number) {
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) {
      throw new Deno.errors.TimedOut(
        `no writer opened the FIFO ${path} within ${seconds(timeoutMs)}`,
      );
    }
    const ready = await libc.pollPark(end.fd, libc.POLL.IN, Math.min(left, 100));
    if (ready & (libc.POLL.IN | libc.POLL.HUP)) return;
  }
}
