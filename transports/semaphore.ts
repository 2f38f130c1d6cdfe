/**
 * POSIX named semaphores: a counter in the kernel's shared memory that processes use to take
 * turns. `sem_post(3)` adds one; `sem_wait(3)` takes one, and waits while the count is zero.
 * A counting semaphore that starts at N lets N processes (or N slots of a buffer) through.
 *
 * On Linux, glibc keeps a named semaphore in a small shared-memory file, `/dev/shm/sem.NAME`,
 * and waits with a futex: posting and taking when no one has to wait costs no system call at
 * all.
 *
 * A wait never freezes the event loop, and can time out. It first tries `sem_trywait`; then
 * polls for a few microseconds, giving the CPU away between tries; then sleeps up to a
 * few milliseconds on this thread in `sem_clockwait`; and only then parks in short `sem_clockwait`
 * calls on a worker thread while the event loop runs (see `wait.ts`). Their deadlines are on
 * CLOCK_MONOTONIC: `sem_timedwait`'s, on the wall clock, would stretch if the clock were set back.
 *
 * @module
 */

import { basename, dirname, resolve } from "node:path";
import * as libc from "./libc.ts";
import {
  leftoverAt,
  LeftoverFinder,
  type LeftoverKind,
  lstatOrNull,
  mine,
  namesIn,
  posixPart,
} from "./leftovers.ts";
import { NAME_MAX, posixNameProblem } from "./_names.ts";
import { seconds, SPIN_US, takeTurn, turnIsDue, untilReady } from "./wait.ts";

/** Options for {@linkcode Semaphore.create} and {@linkcode Semaphore.open}. */
export interface SemaphoreOptions {
  /** How long {@linkcode Semaphore.wait} may wait, in ms (default: for ever). */
  timeout?: number;
  /** Once this is aborted, a waiting {@linkcode Semaphore.wait} rejects with its reason. */
  signal?: AbortSignal;
  /** Permission bits of a new semaphore (default 0o600: only this user may open it). */
  mode?: number;
}

/** Options for one {@linkcode Semaphore.wait}. */
export interface SemaphoreWaitOptions {
  /** How long to wait, in ms (default: the semaphore's `timeout`). */
  timeout?: number;
  /** Give up once this is aborted, with its reason (default: the semaphore's `signal`). */
  signal?: AbortSignal;
  /** The message of the `Deno.errors.TimedOut` thrown when the time runs out. */
  timeoutMessage?: () => string;
  /**
   * Called while the wait is parked (never while the count is above zero), at most every
   * `checkEveryMs`: it throws to give up waiting, for example when the process that should
   * post has died. Before that error is passed on, the wait tries to take one a last time,
   * so a post made just before the poster exited is not lost.
   */
  whileParked?: () => void;
  /** How often to call `whileParked`, in ms (default 250). */
  checkEveryMs?: number;
}

/** What a wait that did not have to wait returns: one promise, made once. */
const DONE: Promise<void> = Promise.resolve();

/** The longest count a semaphore can hold (`SEM_VALUE_MAX`, INT_MAX on Linux). */
export const SEM_VALUE_MAX = 2 ** 31 - 1;

/**
 * What is wrong with `name` as the name of a named semaphore, as the end of a sentence; null
 * if nothing. It is the rule for any POSIX IPC name, but 4 bytes shorter: the semaphore shows
 * as the file `/dev/shm/sem.NAME`, and a file name has at most 255 bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { semaphoreNameProblem } from "./semaphore.ts";
 * assert.equal(semaphoreNameProblem("/ipc-lesson-free"), null);
 * assert.match(semaphoreNameProblem("/" + "x".repeat(252))!, /^is too long: 252 bytes/);
 * ```
 */
export function semaphoreNameProblem(name: string): string | null {
  const problem = posixNameProblem(name, NAME_MAX - "sem.".length);
  return problem?.startsWith("is too long")
    ? `${problem} (a semaphore shows as /dev/shm/sem.NAME, and a file name has at most ${NAME_MAX})`
    : problem;
}

/**
 * Where Linux shows the named semaphore `name`: `/dev/shm/sem.NAME` (without the slash).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { semaphorePath } from "./semaphore.ts";
 * assert.equal(semaphorePath("/ipc-lesson-free"), "/dev/shm/sem.ipc-lesson-free");
 * ```
 */
export function semaphorePath(name: string): string {
  return `/dev/shm/sem.${name.slice(1)}`;
}

/**
 * The failure `error` of a call on the semaphore `name`, with the name in its message:
 * `sem_open /x failed: ENOENT (…)`. It is the same LibcError, with the same `code`.
 */
function naming(error: unknown, name: string): unknown {
  if (error instanceof libc.LibcError) {
    error.message = `${error.call} ${name} failed: ${error.code} (${error.description})`;
  }
  return error;
}

/**
 * What a wait makes of the failure `error` of `sem_trywait` or `sem_clockwait` on the semaphore
 * `name`. EAGAIN, EINTR and ETIMEDOUT never get here: the wrappers return WOULD_BLOCK for them.
 * A lost errno (`ERRNO_LOST`: -1 twice, and errno unreadable, see _libc/errno.ts) is "not now"
 * too: the call did nothing, on an open semaphore it fails only while the count is 0 (or when
 * its time runs out), and the wait calls it again, so a real error shows itself then. Anything
 * else (EINVAL: not a valid semaphore, or a bad deadline) is thrown, with the name in its message.
 */
function notNow(error: unknown, name: string): false {
  if (error instanceof libc.LibcError && error.code === "ERRNO_LOST") return false;
  throw naming(error, name);
}

function checkName(name: string): void {
  const problem = semaphoreNameProblem(name);
  if (problem) throw new TypeError(`Invalid semaphore name ${JSON.stringify(name)}: ${problem}`);
}

/**
 * A named POSIX semaphore, open in this process.
 *
 * The process that created it removes its name ({@linkcode Semaphore.unlink}, or at the end of
 * a `using` block); every process closes its own handle.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Semaphore } from "./semaphore.ts";
 * using items = Semaphore.create("/ipc-lesson-example-items", 0, { timeout: 5000 });
 * using same = Semaphore.open("/ipc-lesson-example-items"); // as another process would
 * same.post();
 * await items.wait(); // the count was 1: it returns at once
 * assert.equal(items.value, 0);
 * ```
 */
export class Semaphore implements Disposable {
  /** The semaphore's name, such as `/ipc-lesson-shm-4711-3f9a2c-free`. */
  readonly name: string;
  /** True if this process created the semaphore (and so must remove its name). */
  readonly created: boolean;
  #sem: Deno.PointerObject;
  #timeoutMs: number;
  #signal: AbortSignal | undefined;
  #closed = false;
  #unlinked = false;
  /** How many parked waits are running on worker threads now. */
  #parked = 0;
  /** close() was called while a wait was parked: sem_close once it returns. */
  #closeWhenUnparked = false;

  private constructor(
    name: string,
    created: boolean,
    sem: Deno.PointerObject,
    options: SemaphoreOptions,
  ) {
    this.name = name;
    this.created = created;
    this.#sem = sem;
    this.#timeoutMs = options.timeout ?? Infinity;
    this.#signal = options.signal;
  }

  /**
   * Creates a new semaphore holding `value`: `sem_open(O_CREAT | O_EXCL)`. `O_EXCL` makes it
   * fail with a {@linkcode libc.LibcError} whose code is EEXIST when the name is taken, so an
   * existing semaphore is never reused or changed.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Semaphore } from "./semaphore.ts";
   * using free = Semaphore.create("/ipc-lesson-example-free", 16);
   * assert.equal(free.path, "/dev/shm/sem.ipc-lesson-example-free");
   * assert.equal(free.value, 16);
   * ```
   */
  static create(name: string, value: number, options: SemaphoreOptions = {}): Semaphore {
    checkName(name);
    if (!Number.isSafeInteger(value) || value < 0 || value > SEM_VALUE_MAX) {
      throw new RangeError(
        `A semaphore's count must be between 0 and ${SEM_VALUE_MAX}: got ${value}`,
      );
    }
    let sem: Deno.PointerObject;
    try {
      sem = libc.sem_open(name, libc.O.CREAT | libc.O.EXCL, options.mode ?? 0o600, value);
    } catch (error) {
      if (error instanceof libc.LibcError && error.code === "ENOSPC") {
        // glibc keeps a named semaphore in a file of /dev/shm: a full /dev/shm has no room.
        error.message = `cannot create the semaphore ${name}: /dev/shm is full (sem_open ` +
          "failed with ENOSPC): make room in /dev/shm";
        throw error;
      }
      throw naming(error, name);
    }
    return new Semaphore(name, true, sem, options);
  }

  /**
   * Opens an existing semaphore: `sem_open` without `O_CREAT`. Fails with a
   * {@linkcode libc.LibcError} whose code is ENOENT when there is none, and with
   * `Deno.errors.PermissionDenied` when it belongs to another user.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Semaphore } from "./semaphore.ts";
   * using created = Semaphore.create("/ipc-lesson-example-open", 3);
   * using opened = Semaphore.open("/ipc-lesson-example-open");
   * assert.equal(opened.value, 3); // the count its creator gave it
   * assert.equal(opened.created, false);
   * ```
   */
  static open(name: string, options: Omit<SemaphoreOptions, "mode"> = {}): Semaphore {
    checkName(name);
    let owner: number | null = null;
    try {
      owner = Deno.lstatSync(semaphorePath(name)).uid;
    } catch { /* not there (sem_open will say so), or /dev/shm is elsewhere */ }
    const uid = Deno.uid();
    if (owner !== null && uid !== null && owner !== uid) {
      throw new Deno.errors.PermissionDenied(
        `refusing to use the semaphore ${name}: it belongs to user ${owner}, not to you`,
      );
    }
    let sem: Deno.PointerObject;
    try {
      sem = libc.sem_open(name, 0);
    } catch (error) {
      if (error instanceof libc.LibcError && error.code === "EACCES") {
        throw new Deno.errors.PermissionDenied(
          `cannot open the semaphore ${name}: sem_open failed with EACCES ` +
            `(${error.description}): its owner has not let you in (ls -l ${semaphorePath(name)})`,
        );
      }
      throw naming(error, name);
    }
    return new Semaphore(name, false, sem, options);
  }

  /** Where Linux shows the semaphore: `/dev/shm/sem.NAME`. */
  get path(): string {
    return semaphorePath(this.name);
  }

  /** The count now (`sem_getvalue(3)`): a snapshot, which may change the next moment. */
  get value(): number {
    return libc.sem_getvalue(this.#handle());
  }

  /** Adds one to the count (`sem_post(3)`), waking a process that waits, if there is one. */
  post(): void {
    libc.sem_post(this.#handle());
  }

  /**
   * Takes one from the count if it is above zero (`sem_trywait(3)`) and returns true; returns
   * false at once if it is zero. Any other failure (EINVAL) is thrown.
   */
  tryWait(): boolean {
    const sem = this.#handle();
    try {
      return libc.sem_trywait(sem) !== libc.WOULD_BLOCK;
    } catch (error) {
      return notNow(error, this.name);
    }
  }

  /**
   * Takes one from the count, waiting while it is zero. Throws `Deno.errors.TimedOut` when the
   * time runs out, or what `options.whileParked` throws.
   *
   * When the count is above zero this costs one `sem_trywait` and no thread hand-off. Otherwise
   * it polls for SPIN_US (see _wait.ts) and waits up to SPIN_MS on this thread, then parks on
   * a worker thread in slices of at most 100 ms while the event loop runs, retrying on this
   * thread after each.
   */
  wait(options: SemaphoreWaitOptions = {}): Promise<void> {
    // The common case, with nothing to allocate: the count is above zero.
    if (!this.tryWait()) return this.#waitLonger(options);
    if (!turnIsDue()) return DONE;
    const signal = options.signal ?? this.#signal;
    return takeTurn().then(() => signal?.throwIfAborted());
  }

  /** The count was zero: a short wait on this thread, then parks (the pattern of _wait.ts). */
  async #waitLonger(options: SemaphoreWaitOptions): Promise<void> {
    const timeoutMs = options.timeout ?? this.#timeoutMs;
    const checkEveryMs = options.checkEveryMs ?? 250;
    let checkedAt = performance.now();
    // wait() has just tried and found zero: the first attempt goes straight to the short wait.
    let justTried = true;
    await untilReady<true>(
      () => {
        if (justTried) {
          justTried = false;
          return libc.WOULD_BLOCK;
        }
        return this.tryWait() || libc.WOULD_BLOCK;
      },
      {
        wait: (ms) => this.#waitHere(ms) || libc.WOULD_BLOCK,
        park: async (ms) => {
          if (options.whileParked && performance.now() - checkedAt >= checkEveryMs) {
            checkedAt = performance.now();
            try {
              options.whileParked();
            } catch (error) {
              if (this.tryWait()) return true;
              throw error;
            }
          }
          return await this.#park(ms) || libc.WOULD_BLOCK;
        },
      },
      {
        timeoutMs,
        signal: options.signal ?? this.#signal,
        timeoutMessage: options.timeoutMessage ??
          (() => `the semaphore ${this.name} stayed at 0 for ${seconds(timeoutMs)}`),
      },
    );
  }

  /**
   * The short wait on this thread: first poll for SPIN_US (the peer of a busy
   * transfer posts within microseconds, and a futex sleep and wake-up cost far more), then
   * sleep in `sem_clockwait` for the rest of `ms`.
   */
  #waitHere(ms: number): boolean {
    const sem = this.#handle();
    if (libc.sem_trywaitSpin(sem, SPIN_US)) return true;
    try {
      return libc.sem_clockwait(sem, ms) === 0;
    } catch (error) {
      return notNow(error, this.name);
    }
  }

  /** One sem_clockwait of at most `ms` on a worker thread. */
  async #park(ms: number): Promise<boolean> {
    const sem = this.#handle();
    this.#parked++;
    try {
      return await libc.sem_clockwaitPark(sem, ms);
    } finally {
      this.#parked--;
      if (this.#closeWhenUnparked && this.#parked === 0) libc.sem_close(sem);
    }
  }

  #handle(): Deno.PointerObject {
    if (this.#closed) {
      throw new Deno.errors.BadResource(`the semaphore ${this.name} has been closed`);
    }
    return this.#sem;
  }

  /**
   * Removes the name with `sem_unlink(3)`, if this process created the semaphore and has not
   * removed it yet. Processes that have it open keep using it.
   */
  unlink(): void {
    if (!this.created || this.#unlinked) return;
    this.#unlinked = true;
    try {
      libc.sem_unlink(this.name);
    } catch (error) {
      // Already gone (someone else removed it): nothing left to clean up.
      if (!(error instanceof libc.LibcError && error.code === "ENOENT")) throw error;
    }
  }

  /**
   * Closes this process's handle (`sem_close(3)`). Closing twice is harmless. If a wait is
   * parked on a worker thread (an interrupted process that is exiting), the handle is closed
   * when that park returns: `sem_close` unmaps the semaphore, and the worker thread must not be
   * left waiting on memory that is gone.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#parked > 0) this.#closeWhenUnparked = true;
    else libc.sem_close(this.#sem);
  }

  /** Removes the name if this process created it, and closes (for `using`). */
  [Symbol.dispose](): void {
    try {
      this.unlink();
    } finally {
      this.close();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Leftovers: semaphores that killed runs left behind (for `deno task clean`)
// ---------------------------------------------------------------------------------------------

/** A named POSIX semaphore, as `deno task clean` lists and names it. */
export const SEMAPHORE_KIND: LeftoverKind = {
  label: "semaphore",
  noun: "semaphore",
  plural: "semaphores",
  atAnyPath: false,
};

/**
 * Finds named semaphores, the files `/dev/shm/sem.NAME` (see {@linkcode semaphorePath}): for
 * `{ prefix, dir }`, this user's semaphores whose names start with `/PREFIX`; for
 * `{ name, cwd }`, the semaphore that `name` names: a POSIX name (`/my-sem`, or `my-sem`), or a
 * path `/dev/shm/sem.NAME`. `sem_unlink(3)` removes it; a process that has it open keeps it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findLeftovers } from "./leftovers.ts";
 * import { Semaphore, semaphoreLeftovers } from "./semaphore.ts";
 *
 * const name = `/my-app-${Deno.pid}`;
 * using semaphore = Semaphore.create(name, 0); // open (mapped) here: in use
 * const { found } = findLeftovers([semaphoreLeftovers], { name, cwd: "/" });
 * assert.deepEqual(found.map((object) => [object.path, object.holders]), [
 *   [`/dev/shm/sem.${name.slice(1)}`, [Deno.pid]],
 * ]);
 * ```
 */
export const semaphoreLeftovers: LeftoverFinder = new LeftoverFinder(
  [SEMAPHORE_KIND],
  (query, report) => {
    const files = new Set<string>();
    if ("prefix" in query) {
      for (const file of namesIn("/dev/shm", `sem.${query.prefix}`)) files.add(file);
    } else {
      // As a path /dev/shm/sem.NAME, and as a POSIX name NAME (or sem.NAME, its file's name).
      const path = resolve(query.cwd, query.name);
      if (dirname(path) === "/dev/shm") files.add(basename(path));
      const part = posixPart(query.name);
      if (part !== null) files.add(part).add(`sem.${part}`);
    }
    for (const file of files) {
      if (!file.startsWith("sem.") || file === "sem." || posixPart(file) === null) continue;
      const path = `/dev/shm/${file}`;
      const info = lstatOrNull(path);
      if (!info?.isFile || ("prefix" in query && !mine(info.uid))) continue;
      const name = `/${file.slice("sem.".length)}`;
      report.found.push(
        leftoverAt(SEMAPHORE_KIND, path, info, () => libc.sem_unlink(name), { name }),
      );
    }
  },
);
