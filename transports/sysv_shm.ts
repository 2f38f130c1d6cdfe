/**
 * System V shared memory and a System V semaphore set: the older interface the POSIX one
 * (`shm.ts`, `semaphore.ts`) replaced, and the one most lab manuals still teach.
 *
 * 1. An object is named by a **key**, a number (`key_t`), not by a path: `ftok(3)` makes one
 *    from an existing file and a project id, or a program picks one. `ipcs` lists the objects,
 *    and `/proc/sysvipc/shm` and `/proc/sysvipc/sem` show them; they are not files, so no
 *    descriptor holds them and `ls` never shows them.
 * 2. `shmget(2)` with `IPC_CREAT | IPC_EXCL | 0600` makes a segment of a given size (zero
 *    bytes) or fails with EEXIST; `shmat(2)` maps it; `shmdt(2)` unmaps it.
 * 3. `semget(2)` makes a *set* of semaphores; `semctl(SETVAL)` gives each its count;
 *    `semop(2)` adds to or takes from several at once, atomically, and waits while a count
 *    would go below zero (`semtimedop(2)`: for at most a given time).
 * 4. An object outlives every process: it stays until `IPC_RMID` removes it, or the machine
 *    restarts. `shmctl(IPC_RMID)` only *marks* a segment for removal (`ipcs` shows "dest",
 *    the key is freed at once): it lives until the last process detaches. `semctl(IPC_RMID)`
 *    removes a set at once, waking every process that waits on it with EIDRM.
 * 5. `SEM_UNDO`: the kernel records, per process, how to undo each operation made with it
 *    (`semadj`), and applies that when the process exits, even by kill -9.
 *
 * {@linkcode SysVSegment} and {@linkcode SemaphoreSet} wrap them; a {@linkcode SysVCounter} is
 * one semaphore of a set seen as a counter of the shared bounded buffer (`ring_buffer.ts`),
 * so that the ring runs over System V exactly as it runs over POSIX shared memory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SemaphoreSet, SysVSegment } from "./sysv_shm.ts";
 * const key = 0x5ca1ab1e ^ Deno.pid;
 * using created = SysVSegment.create(key, 4096);
 * using opened = SysVSegment.open(key); // as another process would
 * created.bytes[0] = 42;
 * assert.equal(opened.bytes[0], 42); // the same memory, attached twice
 * assert.equal(created.stat().nattch, 2);
 * using set = SemaphoreSet.create(key, [3, 0]);
 * assert.equal(set.value(0), 3);
 * ```
 *
 * @module
 */

import { ChannelError } from "./errors.ts";
import { isRunning } from "./holders.ts";
import {
  Leftover,
  LeftoverFinder,
  type LeftoverKind,
  type LeftoverReport,
  mine,
} from "./leftovers.ts";
import type { NamedChannel, NamedEndOptions } from "./channel.ts";
import { formatKey } from "./_sysv_key.ts";
import * as libc from "./libc.ts";
import {
  readyHeader,
  RingBuffer,
  type RingCounter,
  ringLayout,
  type RingMemory,
  type RingOptions,
  ringSink,
  ringSource,
} from "./ring_buffer.ts";
import type { SemaphoreWaitOptions } from "./semaphore.ts";
import { seconds, sleep, SPIN_US, takeTurn, turnIsDue, untilReady } from "./wait.ts";

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

export { formatKey, ftokPathProblem } from "./_sysv_key.ts";

/**
 * A key from a plain word (the benchmark's channel names), as a hash: FNV-1a, 32 bits, never
 * 0 (`IPC_PRIVATE`, which no other process can find).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { keyOfWord } from "./sysv_shm.ts";
 * assert.equal(keyOfWord("ipc-lesson-bench-1"), keyOfWord("ipc-lesson-bench-1"));
 * assert.notEqual(keyOfWord("a"), 0);
 * ```
 */
export function keyOfWord(word: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(word)) {
    hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  }
  // In the lessons' own range of keys (top byte 0x1e), so deno task clean knows them.
  return (libc.LESSON_KEY_BYTE << 24) | (hash & 0xffffff);
}

/** The command that removes the segment and the set of `key`: `ipcrm -M 0x… -S 0x…`. */
export function ipcrmCommand(key: number, which: { segment: boolean; set: boolean }): string {
  const k = formatKey(key);
  return ["ipcrm", which.segment ? `-M ${k}` : "", which.set ? `-S ${k}` : ""]
    .filter(Boolean).join(" ");
}

// ---------------------------------------------------------------------------------------------
// The segment
// ---------------------------------------------------------------------------------------------

/** The objects of one key do not exist (shmget or semget failed with ENOENT). */
const isMissing = (error: unknown) => error instanceof libc.LibcError && error.code === "ENOENT";
/** The object has gone (removed by IPC_RMID): EINVAL or EIDRM. */
const isGone = (error: unknown) =>
  error instanceof libc.LibcError && (error.code === "EINVAL" || error.code === "EIDRM");

/**
 * A System V shared-memory segment, attached to this process. {@linkcode SysVSegment.bytes} is
 * the mapping itself. It implements the ring's `RingMemory`: its `name` is its key as `ipcs`
 * prints it.
 *
 * The process that created it removes it ({@linkcode SysVSegment.remove}, or at the end of a
 * `using` block); every process detaches its own mapping.
 */
export class SysVSegment implements RingMemory, Disposable {
  /** Its key. */
  readonly key: number;
  /** Its id, the number every other call takes (`ipcs -m` shows it as shmid). */
  readonly id: number;
  /** Its size in bytes, as created (the kernel rounds the memory up to whole pages). */
  readonly size: number;
  /** True if this process created it (and so must remove it). */
  readonly created: boolean;
  #address: Deno.PointerObject | null;
  #bytes: Uint8Array<ArrayBuffer>;
  #removed = false;

  private constructor(key: number, id: number, size: number, created: boolean) {
    this.key = key;
    this.id = id;
    this.size = size;
    this.created = created;
    this.#address = libc.shmat(id);
    this.#bytes = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(this.#address, size));
  }

  /**
   * Creates a segment of `size` bytes for `key` and attaches it: `shmget(key, size,
   * IPC_CREAT | IPC_EXCL | 0600)`, `shmat`. Fails with a {@linkcode libc.LibcError} whose code
   * is EEXIST when the key has a segment already (it is never reused), EINVAL when `size` is
   * beyond `/proc/sys/kernel/shmmax`, ENOSPC beyond `shmall` or `shmmni`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { SysVSegment } from "./sysv_shm.ts";
   * using segment = SysVSegment.create(0x5ca1ab1f ^ Deno.pid, 65536);
   * assert.equal(segment.stat().segsz, 65536);
   * assert.equal(segment.stat().cpid, Deno.pid);
   * ```
   */
  static create(key: number, size: number, options: { mode?: number } = {}): SysVSegment {
    checkKey(key);
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new RangeError(`A shared-memory segment needs at least 1 byte: got ${size}`);
    }
    const flags = libc.IPC.CREAT | libc.IPC.EXCL | (options.mode ?? 0o600);
    const id = libc.shmget(key, size, flags);
    try {
      return new SysVSegment(key, id, size, true);
    } catch (error) {
      libc.shmctlRemove(id); // ours (IPC_EXCL): leave nothing half-made behind
      throw error;
    }
  }

  /**
   * Finds the segment of `key` and attaches all of it: `shmget(key, 0, 0)`, `shmctl(IPC_STAT)`
   * for its size and owner, `shmat`. Fails with a {@linkcode libc.LibcError} whose code is
   * ENOENT when the key has none, and with `Deno.errors.PermissionDenied` when it belongs to
   * another user.
   */
  static open(key: number): SysVSegment {
    checkKey(key);
    const id = libc.shmget(key, 0, 0);
    const refuse = (owner: number | undefined) =>
      new Deno.errors.PermissionDenied(
        `refusing to use the System V segment ${formatKey(key)} (shmid ${id}): it belongs to ` +
          `${owner === undefined ? "another user" : `user ${owner}`}, not to you`,
      );
    // Another user's 0600 segment: shmget(key, 0, 0) finds it, IPC_STAT is refused (EACCES).
    const info = statOrRefuse(() => libc.shmctlStat(id), () => refuse(ownerOf("shm", id)));
    if (!mine(info.uid)) throw refuse(info.uid);
    return new SysVSegment(key, id, info.segsz, false);
  }

  /** How messages name it: its key, `0x5ca1ab1e`. */
  get name(): string {
    return formatKey(this.key);
  }

  /** The address of the mapping in this process (0 once detached). */
  get address(): bigint {
    return this.#address === null ? 0n : Deno.UnsafePointer.value(this.#address);
  }

  /** The mapping, as bytes; throws once detached (touching it then would crash the process). */
  get bytes(): Uint8Array<ArrayBuffer> {
    if (this.#address === null) {
      throw new Deno.errors.BadResource(`the System V segment ${this.name} has been detached`);
    }
    return this.#bytes;
  }

  /** Its `struct shmid_ds` now (`shmctl(IPC_STAT)`): creator, attachments, removal mark. */
  stat(): libc.ShmidDs {
    return libc.shmctlStat(this.id);
  }

  /** Whether this process has marked it for removal. */
  get removed(): boolean {
    return this.#removed;
  }

  /**
   * Marks it for removal (`shmctl(IPC_RMID)`), if this process created it and has not yet: the
   * key is free at once, the memory lives until the last process detaches. Gone already
   * (someone else removed it): nothing to do.
   */
  remove(): void {
    if (!this.created || this.#removed) return;
    this.#removed = true;
    try {
      libc.shmctlRemove(this.id);
    } catch (error) {
      if (!isGone(error)) throw error;
    }
  }

  /** Detaches it (`shmdt`). Detaching twice is harmless. */
  detach(): void {
    if (this.#address === null) return;
    const address = this.#address;
    this.#address = null;
    libc.shmdt(address);
  }

  /** Removes it if this process created it, and detaches (for `using`). */
  [Symbol.dispose](): void {
    try {
      this.remove();
    } finally {
      this.detach();
    }
  }
}

/** `stat()`, or `refusal()` when the kernel refuses it (EACCES: another user's object). */
function statOrRefuse<T>(stat: () => T, refusal: () => Error): T {
  try {
    return stat();
  } catch (error) {
    if (error instanceof libc.LibcError && error.code === "EACCES") throw refusal();
    throw error;
  }
}

/**
 * The owner of segment (`shm`) or set (`sem`) `id`, from `/proc/sysvipc`, which every user may
 * read, even when `IPC_STAT` is refused; undefined if it is not listed.
 */
function ownerOf(kind: "shm" | "sem", id: number): number | undefined {
  return rowsOf(kind).find((row) => (kind === "shm" ? row.shmid : row.semid) === id)?.uid;
}

function checkKey(key: number): void {
  if (!Number.isInteger(key) || key < -(2 ** 31) || key > 0xffffffff) {
    throw new RangeError(`A System V key is a 32-bit number: got ${key}`);
  }
  if (key === libc.IPC.PRIVATE) {
    throw new RangeError(
      "A System V key of 0 is IPC_PRIVATE: every shmget with it makes a new object no other " +
        "process can find",
    );
  }
}

// ---------------------------------------------------------------------------------------------
// The semaphore set
// ---------------------------------------------------------------------------------------------

/**
 * A System V semaphore set. Unlike a POSIX semaphore, one object holds several counters, and
 * one `semop` changes any of them together, atomically.
 */
export class SemaphoreSet implements Disposable {
  /** Its key. */
  readonly key: number;
  /** Its id (`ipcs -s` shows it as semid). */
  readonly id: number;
  /** How many semaphores it has. */
  readonly count: number;
  /** True if this process created it (and so must remove it). */
  readonly created: boolean;
  #removed = false;

  private constructor(key: number, id: number, count: number, created: boolean) {
    this.key = key;
    this.id = id;
    this.count = count;
    this.created = created;
  }

  /**
   * Creates a set of `values.length` semaphores for `key`, exclusively (`semget(key, n,
   * IPC_CREAT | IPC_EXCL | 0600)`), then gives each its count with `semctl(SETVAL)`. Between
   * the two a finder would see counts of 0 (Linux) or anything (POSIX): a peer must wait until
   * the creator says the set is ready (here: the ring's magic number, written after).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { SemaphoreSet } from "./sysv_shm.ts";
   * using set = SemaphoreSet.create(0x5ca1ab20 ^ Deno.pid, [16, 0]);
   * assert.deepEqual([set.value(0), set.value(1)], [16, 0]);
   * ```
   */
  static create(key: number, values: number[], options: { mode?: number } = {}): SemaphoreSet {
    checkKey(key);
    for (const value of values) {
      if (!Number.isInteger(value) || value < 0 || value > libc.SEMVMX) {
        throw new RangeError(
          `A System V semaphore holds 0 to ${libc.SEMVMX} (SEMVMX): got ${value}`,
        );
      }
    }
    const flags = libc.IPC.CREAT | libc.IPC.EXCL | (options.mode ?? 0o600);
    const id = libc.semget(key, values.length, flags);
    const set = new SemaphoreSet(key, id, values.length, true);
    try {
      values.forEach((value, i) => libc.semctlSetVal(id, i, value));
    } catch (error) {
      set.remove();
      throw error;
    }
    return set;
  }

  /**
   * Finds the set of `key` (`semget(key, 0, 0)`) and checks that it has `count` semaphores and
   * belongs to this user. Fails with a {@linkcode libc.LibcError} whose code is ENOENT when the
   * key has none.
   */
  static open(key: number, count: number): SemaphoreSet {
    checkKey(key);
    const id = libc.semget(key, 0, 0);
    const refuse = (owner: number | undefined) =>
      new Deno.errors.PermissionDenied(
        `refusing to use the System V semaphore set ${formatKey(key)} (semid ${id}): it belongs ` +
          `to ${owner === undefined ? "another user" : `user ${owner}`}, not to you`,
      );
    const info = statOrRefuse(() => libc.semctlStat(id), () => refuse(ownerOf("sem", id)));
    if (!mine(info.uid)) throw refuse(info.uid);
    if (info.nsems !== count) {
      throw new ChannelError(
        `the System V semaphore set ${formatKey(key)} (semid ${id}) has ${info.nsems} ` +
          `semaphores, not ${count}: it is not this program's`,
      );
    }
    return new SemaphoreSet(key, id, count, false);
  }

  /** Semaphore `index`'s count now (`semctl(GETVAL)`). */
  value(index: number): number {
    return libc.semctlGetVal(this.id, index);
  }

  /** The last process that changed semaphore `index` (`semctl(GETPID)`). */
  lastPid(index: number): number {
    return libc.semctlGetPid(this.id, index);
  }

  /** Its `struct semid_ds` now (`semctl(IPC_STAT)`). */
  stat(): libc.SemidDs {
    return libc.semctlStat(this.id);
  }

  /**
   * Removes it at once (`semctl(IPC_RMID)`) if this process created it and has not yet: every
   * process waiting on it wakes with EIDRM. Gone already: nothing to do.
   */
  remove(): void {
    if (!this.created || this.#removed) return;
    this.#removed = true;
    try {
      libc.semctlRemove(this.id);
    } catch (error) {
      if (!isGone(error)) throw error;
    }
  }

  /** Removes it if this process created it (for `using`). */
  [Symbol.dispose](): void {
    this.remove();
  }
}

/** What a wait that did not have to wait returns: one promise, made once. */
const DONE: Promise<void> = Promise.resolve();

/**
 * One semaphore of a set, seen as one of the ring's two counters (`RingCounter`), with
 * `SEM_UNDO` on every claim.
 *
 * A process takes one ({@linkcode SysVCounter.wait}: `sem_op = -1, SEM_UNDO`): the kernel
 * notes +1 in this process's `semadj` for it. Should the process die before it hands the slot
 * on, the kernel adds that 1 back: the slot it held is free (or filled) again, as if never
 * claimed. When it hands the slot on ({@linkcode SysVCounter.post} on the *other* counter), the
 * same `semop` also cancels that note: `{partner, +1, SEM_UNDO}` then `{partner, -1, 0}`
 * leave the partner's count as it was and its `semadj` back at 0. Without the cancelling pair
 * `semadj` would grow by one per slot, the kernel would add it all back at exit, and semop
 * fails with ERANGE once it passes 32767.
 */
export class SysVCounter implements RingCounter {
  /** `semaphore 1 (filled) of set 0x5ca1ab1e`. */
  readonly name: string;
  /** A stray post on a System V semaphore is a `semop`. */
  readonly postCall = "semop";
  readonly #set: SemaphoreSet;
  readonly #index: number;
  readonly #take: Uint8Array<ArrayBuffer>;
  readonly #takeNoWait: Uint8Array<ArrayBuffer>;
  readonly #give: Uint8Array<ArrayBuffer>;
  readonly #giveAndTake: Uint8Array<ArrayBuffer>;
  #missed = false;
  readonly #partner: number;
  readonly #undo: number;
  /** The `semop` arrays of postAndTakeMany and postMany, made once for each count. */
  readonly #manyOps = new Map<number, Uint8Array<ArrayBuffer>>();
  readonly #timeoutMs: number;
  readonly #signal: AbortSignal | undefined;

  /**
   * Semaphore `index` of `set`, called `label`; `partner` is the counter this process claims
   * from before it posts this one (free for filled, filled for free), whose `semadj` a post
   * cancels. `undo: false` leaves `SEM_UNDO` out (the sem-undo lab shows what that changes).
   */
  constructor(
    set: SemaphoreSet,
    index: number,
    label: string,
    partner: number,
    options: { timeout?: number; signal?: AbortSignal; undo?: boolean } = {},
  ) {
    const undo = options.undo === false ? 0 : libc.SEM_UNDO;
    this.name = `semaphore ${index} (${label}) of set ${formatKey(set.key)}`;
    this.#set = set;
    this.#index = index;
    this.#partner = partner;
    this.#undo = undo;
    this.#take = libc.sembufs([index, -1, undo]);
    this.#takeNoWait = libc.sembufs([index, -1, undo | libc.IPC.NOWAIT]);
    this.#give = undo
      ? libc.sembufs([index, 1, 0], [partner, 1, libc.SEM_UNDO], [partner, -1, 0])
      : libc.sembufs([index, 1, 0]);
    this.#giveAndTake = libc.sembufs(
      [index, 1, libc.IPC.NOWAIT],
      [partner, -1, libc.IPC.NOWAIT],
    );
    this.#timeoutMs = options.timeout ?? Infinity;
    this.#signal = options.signal;
  }

  /** The count now (`semctl(GETVAL)`). */
  get value(): number {
    return this.#set.value(this.#index);
  }

  /** Adds one (and cancels the partner's `semadj` for the slot handed on): one `semop`. */
  post(): void {
    libc.semop(this.#set.id, this.#give);
  }

  /**
   * Adds one and takes one from the partner, in one `semop` of two operations, if the partner
   * is above zero: the slot is handed on and the next one claimed at once. The partner's
   * `semadj` note (+1, from the last claim) is left as it is: it now stands for the slot just
   * claimed. If the partner is at zero nothing is applied (all or nothing): it only adds one
   * ({@linkcode SysVCounter.post}) and returns false.
   */
  postAndTake(): boolean {
    // After a miss (the partner was at zero: the peer is behind), one plain post before the
    // next try, so that a ring that stays full or empty does not pay two calls per slot.
    if (this.#missed) {
      this.#missed = false;
      this.post();
      return false;
    }
    if (libc.semop(this.#set.id, this.#giveAndTake) === 0) return true;
    this.#missed = true;
    this.post();
    return false;
  }

  /**
   * Adds `given` and takes `wanted` from the partner, in one `semop`, if the partner holds at
   * least `wanted` (all or nothing: false, and nothing changed, if not). `semadj` must end up
   * counting the partner's slots this process holds: it counted the `given` ones it hands back
   * (their claims' notes), and must count the `wanted` ones instead; so the part of the take
   * that differs, `wanted - given`, is made with `SEM_UNDO`, and the rest without:
   * `{this, +given}`, `{partner, -(wanted - given), SEM_UNDO}`, `{partner, -given}`. (A
   * `sem_op` of 0 would wait for zero: when `wanted` equals `given` that operation is left
   * out, which is {@linkcode SysVCounter.postAndTake}'s `semop`.)
   */
  postAndTakeMany(given: number, wanted: number): boolean {
    const key = given * 65536 + wanted;
    let sops = this.#manyOps.get(key);
    if (sops === undefined) {
      const nowait = libc.IPC.NOWAIT;
      const difference = wanted - given;
      sops = difference === 0
        ? libc.sembufs([this.#index, given, nowait], [this.#partner, -given, nowait])
        : libc.sembufs(
          [this.#index, given, nowait],
          [this.#partner, -difference, this.#undo | nowait],
          [this.#partner, -given, nowait],
        );
      this.#manyOps.set(key, sops);
    }
    return libc.semop(this.#set.id, sops) === 0;
  }

  /** Adds `n` (and cancels the partner's `semadj` for the `n` slots handed on): one `semop`. */
  postMany(n: number): void {
    if (n === 1) return this.post();
    let sops = this.#manyOps.get(-n);
    if (sops === undefined) {
      sops = this.#undo
        ? libc.sembufs([this.#index, n, 0], [this.#partner, n, libc.SEM_UNDO], [
          this.#partner,
          -n,
          0,
        ])
        : libc.sembufs([this.#index, n, 0]);
      this.#manyOps.set(-n, sops);
    }
    libc.semop(this.#set.id, sops);
  }

  /** Takes one if the count is above zero (`IPC_NOWAIT`); false if it is zero. */
  tryWait(): boolean {
    return libc.semop(this.#set.id, this.#takeNoWait) === 0;
  }

  /**
   * Takes one, waiting while the count is zero: the pattern of `semaphore.ts` (try, poll for
   * SPIN_US, `semtimedop` for up to SPIN_MS here, then park in slices of at most 100 ms on a
   * worker thread and retry here). Throws `Deno.errors.TimedOut`, the signal's reason, what
   * `whileParked` throws, or a {@linkcode libc.LibcError} (EIDRM: the set was removed).
   */
  wait(options: SemaphoreWaitOptions = {}): Promise<void> {
    if (!this.tryWait()) return this.#waitLonger(options);
    if (!turnIsDue()) return DONE;
    const signal = options.signal ?? this.#signal;
    return takeTurn().then(() => signal?.throwIfAborted());
  }

  async #waitLonger(options: SemaphoreWaitOptions): Promise<void> {
    const timeoutMs = options.timeout ?? this.#timeoutMs;
    const checkEveryMs = options.checkEveryMs ?? 250;
    const id = this.#set.id;
    let checkedAt = performance.now();
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
        wait: (ms) =>
          libc.semopSpin(id, this.#takeNoWait, SPIN_US) ||
          libc.semtimedop(id, this.#take, ms) === 0 || libc.WOULD_BLOCK,
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
          return await libc.semtimedopPark(id, this.#take, ms) || libc.WOULD_BLOCK;
        },
      },
      {
        timeoutMs,
        signal: options.signal ?? this.#signal,
        timeoutMessage: options.timeoutMessage ??
          (() => `${this.name} stayed at 0 for ${seconds(timeoutMs)}`),
      },
    );
  }
}

/** The ring's counters in a set of two: semaphore 0 counts free slots, 1 filled ones. */
export const FREE = 0;
/** Semaphore 1 counts the filled slots. */
export const FILLED = 1;

/**
 * The ring's two counters over `set` (semaphore 0: free, 1: filled), with `SEM_UNDO`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ringCounters, SemaphoreSet } from "./sysv_shm.ts";
 * using set = SemaphoreSet.create(0x5ca1ab21 ^ Deno.pid, [2, 0]);
 * const { free, filled } = ringCounters(set, { timeout: 1000 });
 * await free.wait({}); // the producer claims a slot: free 2 → 1
 * filled.post(); // and hands it on: filled 0 → 1
 * assert.deepEqual([free.value, filled.value], [1, 1]);
 * ```
 */
export function ringCounters(
  set: SemaphoreSet,
  options: { timeout?: number; signal?: AbortSignal; undo?: boolean } = {},
): { free: SysVCounter; filled: SysVCounter } {
  return {
    free: new SysVCounter(set, FREE, "free", FILLED, options),
    filled: new SysVCounter(set, FILLED, "filled", FREE, options),
  };
}

// ---------------------------------------------------------------------------------------------
// Finding the creator's ring
// ---------------------------------------------------------------------------------------------

/** A key whose segment or set exists already: what, made by whom, and whether in use. */
export class KeyTaken extends ChannelError {
  /** The key. */
  readonly key: number;
  /** Which objects exist. */
  readonly which: { segment: boolean; set: boolean };
  /** Live processes that use them (the creator, attached ones); none: left behind. */
  readonly users: number[];
  /** The other users who own some of them (not this one's to use, nor to remove). */
  readonly owners: number[];
  /**
   * True when what is known says a killed run of a ring left them (its key is the lessons'
   * own, or the segment holds a ring); false for another program's objects.
   */
  readonly killedRun: boolean;

  /** `which` objects of `key` exist; `facts` says what is known of them. */
  constructor(
    key: number,
    which: { segment: boolean; set: boolean },
    users: number[],
    facts: string,
    owners: number[] = [],
    killedRun = true,
  ) {
    super(facts);
    this.name = "KeyTaken";
    this.key = key;
    this.which = which;
    this.users = users;
    this.owners = owners;
    this.killedRun = killedRun;
  }
}

/**
 * Throws a {@linkcode KeyTaken} if `key` has a segment or a semaphore set already, before
 * anything is created, and touches nothing. The message says what exists, who made it, who is
 * attached, and whether a live process uses it (another run), nobody does (a killed run left
 * it behind), or it belongs to another user (whose objects are not ours to judge: the kernel
 * does not even let us `IPC_STAT` a 0600 one).
 */
export function refuseTakenKey(key: number): void {
  const k = formatKey(key);
  const facts: string[] = [];
  const users = new Set<number>();
  const owners = new Set<number>();
  let segment = false, set = false;
  try {
    const id = libc.shmget(key, 0, 0);
    segment = true;
    const owner = ownerOf("shm", id);
    if (owner !== undefined && !mine(owner)) {
      owners.add(owner);
      facts.push(`a shared-memory segment (shmid ${id}) of user ${owner}`);
    } else {
      const info = libc.shmctlStat(id);
      const alive = isRunning(info.cpid);
      if (alive) users.add(info.cpid);
      for (const pid of attachedPids(id)) users.add(pid);
      facts.push(
        `a shared-memory segment (shmid ${id}, ${info.segsz} bytes, made by process ${info.cpid}${
          alive ? ", which runs" : ", which is gone"
        }, attached ${info.nattch} time${info.nattch === 1 ? "" : "s"})`,
      );
    }
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
  try {
    const id = libc.semget(key, 0, 0);
    set = true;
    const owner = ownerOf("sem", id);
    if (owner !== undefined && !mine(owner)) {
      owners.add(owner);
      facts.push(`a semaphore set (semid ${id}) of user ${owner}`);
    } else {
      const info = libc.semctlStat(id);
      const last = Array.from({ length: info.nsems }, (_, i) => libc.semctlGetPid(id, i));
      for (const pid of last) if (isRunning(pid)) users.add(pid);
      facts.push(`a semaphore set (semid ${id}, ${info.nsems} semaphores)`);
    }
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
  if (!segment && !set) return;
  const list = [...users].sort((a, b) => a - b);
  const them = facts.length === 1 ? "it" : "them";
  const whose = owners.size > 0
    ? `${owners.size === 1 && facts.length === 1 ? "it is" : "they are"} another user's (${
      [...owners].map((uid) => `uid ${uid}`).join(", ")
    }), not yours to use or remove`
    : list.length > 0
    ? `${list.length === 1 ? "process" : "processes"} ${list.join(", ")} ${
      list.length === 1 ? "uses" : "use"
    } ${them}`
    : libc.isMadeUpKey(key)
    ? `nobody uses ${them}, so a killed run left ${them} behind`
    // Not a key the lessons make up: a program of yours may have made them (ipcmk, say).
    : `nobody uses ${them}: the program that made ${them} exited without removing ${them}`;
  throw new KeyTaken(
    key,
    { segment, set },
    list,
    `the System V key ${k} is taken: ${facts.join(" and ")} already exist${
      facts.length === 1 ? "s" : ""
    }; ${whose}`,
    [...owners],
    libc.isMadeUpKey(key),
  );
}

/** Options for {@linkcode openRingWhenReady}. */
export interface OpenRingOptions {
  /** How long to wait for the segment to appear and be ready, in ms (default: for ever). */
  timeout?: number;
  /** Give up once this is aborted, with its reason (Ctrl-C). */
  signal?: AbortSignal;
  /** What to call the creator in messages: `server`, `sender`. */
  creator: string;
}

/**
 * The attaching side's first step: waits until the segment of `key` exists (`shmget` fails
 * with ENOENT until then) and its creator has marked the ring ready (the magic number, written
 * last), with a growing pause. Then checks that the creator (`shm_cpid`) still runs and that
 * nobody has attached yet. Throws `Deno.errors.TimedOut` when nothing appears in time, and a
 * {@linkcode KeyTaken} when a segment exists but its creator has gone.
 */
export async function openRingWhenReady(
  key: number,
  options: OpenRingOptions,
): Promise<SysVSegment> {
  const timeoutMs = options.timeout ?? Infinity;
  const deadline = performance.now() + timeoutMs;
  let seen = false;
  for (let pause = 2;; pause = Math.min(pause * 2, 20)) {
    let segment: SysVSegment | null = null;
    try {
      segment = SysVSegment.open(key);
    } catch (error) {
      if (!isMissing(error) && !isGone(error)) throw error;
    }
    if (segment !== null) {
      seen = true;
      const ready = readyHeader(segment);
      const info = segment.stat();
      if (!isRunning(info.cpid)) {
        segment.detach();
        throw staleSegment(segment, info.cpid, ready !== null);
      }
      if (ready !== null) {
        if (ready.attachedPid !== 0) {
          segment.detach();
          throw new ChannelError(
            `process ${ready.attachedPid} has already attached to the ring ${segment.name}: ` +
              "a ring has one producer and one consumer",
          );
        }
        return segment;
      }
      segment.detach(); // made but not ready: look again in a moment
    }
    const left = deadline - performance.now();
    if (left <= 0) {
      throw new Deno.errors.TimedOut(
        seen
          ? `the System V segment ${formatKey(key)} exists, but was never marked ready within ${
            seconds(timeoutMs)
          }`
          : `no ${options.creator} created a System V segment with key ${formatKey(key)} within ${
            seconds(timeoutMs)
          }`,
      );
    }
    await sleep(Math.min(pause, left), options.signal);
  }
}

/**
 * The {@linkcode KeyTaken} for a segment whose creator `cpid` has exited. Only a segment that
 * holds a ring (`hasRing`), or whose key the lessons make up, is called a killed run's; any
 * other is another program's (`ipcmk -M`, say). Whether a set of the same key exists is looked
 * up, so that the command offered removes what is there.
 */
function staleSegment(segment: SysVSegment, cpid: number, hasRing: boolean): KeyTaken {
  let set = true;
  try {
    libc.semget(segment.key, 0, 0);
  } catch (error) {
    if (!isMissing(error)) throw error;
    set = false;
  }
  const what = `the System V segment ${segment.name} (shmid ${segment.id})`;
  const killedRun = hasRing || libc.isMadeUpKey(segment.key);
  return new KeyTaken(
    segment.key,
    { segment: true, set },
    [],
    killedRun
      ? `${what} is stale: the process that made it (${cpid}) is no longer running; a run ` +
        "killed with kill -9 left it behind"
      : `${what} holds no ring (no "RING" header), and the process that made it (${cpid}) is ` +
        "no longer running: another program's segment, not a server's",
    [],
    killedRun,
  );
}

/**
 * The creator's last step before it removes the set: waits until only `self` is attached to
 * `segment` (the peer has detached, so it will not touch the set again) or the peer has gone.
 * A semaphore set has no "marked for removal" state: removed while the peer still uses it, the
 * peer's next semop fails with EINVAL.
 */
export async function waitForDetach(
  segment: SysVSegment,
  peerPid: number,
  options: { timeout?: number; signal?: AbortSignal },
): Promise<void> {
  const deadline = performance.now() + (options.timeout ?? Infinity);
  for (let pause = 1;; pause = Math.min(pause * 2, 10)) {
    if (segment.stat().nattch <= 1 || !isRunning(peerPid)) return;
    const left = deadline - performance.now();
    if (left <= 0) {
      throw new Deno.errors.TimedOut(
        `process ${peerPid} did not detach from the System V segment ${segment.name} within ${
          seconds(options.timeout ?? Infinity)
        }`,
      );
    }
    await sleep(Math.min(pause, left), options.signal);
  }
}

// ---------------------------------------------------------------------------------------------
// What the kernel shows: ipcs and /proc/sysvipc
// ---------------------------------------------------------------------------------------------

/**
 * The lines of `/proc/sysvipc/shm` (or `sem`) for the objects `ids`, after the header line,
 * with runs of spaces squeezed: what the narration quotes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sysvipcLines } from "./sysv_shm.ts";
 * assert.match(sysvipcLines("shm", [])[0]!, /key +shmid perms/);
 * ```
 */
export function sysvipcLines(kind: "shm" | "sem", ids: number[]): string[] {
  let text = "";
  try {
    text = Deno.readTextFileSync(`/proc/sysvipc/${kind}`);
  } catch {
    return [`/proc/sysvipc/${kind} cannot be read`];
  }
  const [head = "", ...rows] = text.trimEnd().split("\n");
  const squeeze = (line: string) => line.trim().replace(/ +/g, " ");
  const mineRows = rows.filter((row) => ids.includes(Number(row.trim().split(/ +/)[1])));
  return [squeeze(head), ...mineRows.map(squeeze)];
}

/**
 * What `ipcs -m` (kind "shm") or `ipcs -s` ("sem") prints about the objects `ids`: the column
 * titles and their lines. Null if `ipcs` (util-linux) is not installed.
 */
export function ipcsLines(kind: "shm" | "sem", ids: number[]): string[] | null {
  let output: Deno.CommandOutput;
  try {
    output = new Deno.Command("ipcs", { args: [kind === "shm" ? "-m" : "-s"], stderr: "null" })
      .outputSync();
  } catch {
    return null;
  }
  const lines = new TextDecoder().decode(output.stdout).split("\n");
  const head = lines.find((line) => line.startsWith("key"));
  const rows = lines.filter((line) =>
    /^0x/.test(line) && ids.includes(Number(line.split(/ +/)[1]))
  );
  return [head ?? "", ...rows].map((line) => line.trimEnd().replace(/ {2,}/g, "  "));
}

/**
 * The processes that have segment `shmid` attached, from `/proc/PID/maps`: the kernel shows a
 * System V mapping as `/SYSV<key>`, with the shmid where a file's inode number would be.
 */
export function attachedPids(shmid: number): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    let maps: string;
    try {
      maps = Deno.readTextFileSync(`/proc/${pid}/maps`);
    } catch {
      continue;
    }
    for (const line of maps.split("\n")) {
      const fields = line.split(/ +/);
      if (fields[5]?.startsWith("/SYSV") && Number(fields[4]) === shmid) {
        pids.push(pid);
        break;
      }
    }
  }
  return pids.sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------------
// Leftovers: segments and sets that killed runs left behind (for `deno task clean`)
// ---------------------------------------------------------------------------------------------

/** A System V segment, as `deno task clean` lists and names it. */
export const SYSV_SEGMENT_KIND: LeftoverKind = {
  label: "System V shm",
  noun: "System V shared-memory segment",
  plural: "System V shared memory",
  atAnyPath: false,
};

/** A System V semaphore set, as `deno task clean` lists and names it. */
export const SYSV_SET_KIND: LeftoverKind = {
  label: "System V sem",
  noun: "System V semaphore set",
  plural: "System V semaphore sets",
  atAnyPath: false,
};

/** One row of `/proc/sysvipc/shm` or `sem`, by column title (a set has no cpid, nattch, …). */
interface Row {
  key: number;
  shmid: number;
  semid: number;
  uid: number;
  cpid: number;
  lpid: number;
  nattch: number;
  nsems: number;
  ctime: number;
}

function rowsOf(kind: "shm" | "sem"): Row[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/sysvipc/${kind}`);
  } catch {
    return [];
  }
  const [head = "", ...lines] = text.trim().split("\n");
  const titles = head.trim().split(/ +/);
  return lines.map((line) => {
    const values = line.trim().split(/ +/).map(Number);
    return Object.fromEntries(titles.map((title, i) => [title, values[i]!])) as unknown as Row;
  });
}

/**
 * Who uses set `semid` of key `key`, as far as the kernel tells (a set records no creator):
 * the running processes among the last to change each semaphore (`semctl(GETPID)`; `SETVAL`
 * counts, so a new set names its creator), the creator of a segment with the same key if it
 * runs or the segment is attached, and a process waiting on it (`GETNCNT`, whose pid the kernel
 * does not give: the last changer stands for it).
 */
function setUsers(semid: number, nsems: number, key: number): number[] {
  const pids = new Set<number>();
  for (let i = 0; i < nsems; i++) {
    try {
      const pid = libc.semctlGetPid(semid, i);
      if (isRunning(pid)) pids.add(pid);
      if (libc.semctlGetNcnt(semid, i) > 0 && pid > 0) pids.add(pid);
    } catch { /* removed meanwhile */ }
  }
  if (key !== 0) {
    for (const row of rowsOf("shm")) {
      if (row.key !== key) continue;
      if (isRunning(row.cpid)) pids.add(row.cpid);
      for (const pid of attachedPids(row.shmid)) pids.add(pid);
    }
    // A segment marked for removal has lost its key in /proc/sysvipc (0), but not in the
    // mappings: a process that still has the run's segment attached (a server stopped with
    // Ctrl-Z while its client was killed, say) uses the set of the same key.
    for (const pid of pidsMappingKey(key)) pids.add(pid);
  }
  return [...pids].sort((a, b) => a - b);
}

/**
 * The processes that have a System V segment of key `key` attached, from `/proc/PID/maps`,
 * where the kernel names the mapping `/SYSV<key in 8 hex digits>` from its creation on, even
 * after `IPC_RMID` has set its key to 0 everywhere else.
 */
function pidsMappingKey(key: number): number[] {
  const name = `/SYSV${(key >>> 0).toString(16).padStart(8, "0")}`;
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    let maps: string;
    try {
      maps = Deno.readTextFileSync(`/proc/${pid}/maps`);
    } catch {
      continue;
    }
    if (maps.split("\n").some((line) => line.split(/ +/)[5] === name)) pids.push(pid);
  }
  return pids;
}

/**
 * A System V object found in `/proc/sysvipc`: it has no path and no descriptor, so who holds it
 * is the kernel's count of attachments (a segment) or the last processes that changed it (a
 * set), not `/proc/PID/fd`.
 */
class SysVLeftover extends Leftover {
  readonly #users: () => number[];
  readonly #same: () => boolean;

  constructor(
    kind: LeftoverKind,
    key: number,
    id: number,
    uid: number,
    users: () => number[],
    same: () => boolean,
    remove: () => void,
  ) {
    const what = kind === SYSV_SEGMENT_KIND ? "shmid" : "semid";
    super({
      kind,
      path: `key ${formatKey(key)} ${what} ${id}`,
      name: formatKey(key),
      uid,
      identity: `sysv:${what}:${id}`,
      identityNow: () => null,
      remove,
    });
    this.#users = users;
    this.#same = same;
  }

  override heldBy(): number[] {
    return this.#users();
  }

  override recheck(): number[] | null {
    return this.#same() ? this.#users() : null;
  }
}

function segmentLeftover(row: Row): SysVLeftover {
  const id = row.shmid;
  return new SysVLeftover(
    SYSV_SEGMENT_KIND,
    row.key,
    id,
    row.uid,
    () => {
      const now = rowsOf("shm").find((r) => r.shmid === id);
      if (now === undefined) return [];
      const attached = attachedPids(id);
      // Attached in a process we cannot see (another pid namespace): the kernel's count says so.
      if (attached.length === 0 && now.nattch > 0) return [now.lpid || now.cpid];
      return attached;
    },
    () => rowsOf("shm").some((r) => r.shmid === id && r.ctime === row.ctime),
    () => libc.shmctlRemove(id),
  );
}

function setLeftover(row: Row): SysVLeftover {
  const id = row.semid;
  return new SysVLeftover(
    SYSV_SET_KIND,
    row.key,
    id,
    row.uid,
    () => setUsers(id, row.nsems, row.key),
    () => rowsOf("sem").some((r) => r.semid === id && r.ctime === row.ctime),
    () => libc.semctlRemove(id),
  );
}

/** The note for a stale segment or set whose key is not the lessons': how to remove it. */
function notLessonsNote(kind: "shm" | "sem", id: number, key: number, cpid: number): string {
  const what = kind === "shm"
    ? `shared-memory segment shmid ${id} (key ${formatKey(key)}) is unused (its creator, ` +
      `process ${cpid}, has exited, and nobody has it attached)`
    : `semaphore set semid ${id} (key ${formatKey(key)}) is unused (no running process ` +
      "changed it last)";
  const ipcrm = `ipcrm -${kind === "shm" ? "m" : "s"} ${id}`;
  const commands = key === 0
    ? `\`${ipcrm}\` removes it`
    : `\`deno task clean ${formatKey(key)}\` or \`${ipcrm}\` removes it`;
  return `left alone: the System V ${what}, but its key is not one the lessons make: ${commands}`;
}

/** `0x5ca1ab1e` (a key as ipcs prints it): the key it names, or null. */
function keyNamed(name: string): number | null {
  if (!/^0x[0-9a-f]{1,8}$/i.test(name)) return null;
  const key = Number.parseInt(name.slice(2), 16) | 0;
  return key === 0 ? null : key;
}

function findSysV(query: Parameters<LeftoverFinder["find"]>[0], report: LeftoverReport): void {
  if ("prefix" in query) {
    // This user's segments whose creator is gone, and sets that no running process has
    // changed last: never another user's, and never one a live creator may still use.
    // Only the lessons' own keys (made up, or ftok of a run key file in dir): a student's own
    // shmget/semget code leaves objects on purpose; those are only named, with the command.
    const whose = libc.lessonKeys(query.dir, query.prefix);
    for (const row of rowsOf("shm")) {
      if (!mine(row.uid) || isRunning(row.cpid)) continue;
      if (row.key !== 0 && whose(row.key) !== null) report.found.push(segmentLeftover(row));
      else if (row.nattch === 0) {
        report.notes.push(notLessonsNote("shm", row.shmid, row.key, row.cpid));
      }
    }
    for (const row of rowsOf("sem")) {
      if (!mine(row.uid) || setUsers(row.semid, row.nsems, row.key).length > 0) continue;
      if (row.key !== 0 && whose(row.key) !== null) report.found.push(setLeftover(row));
      else report.notes.push(notLessonsNote("sem", row.semid, row.key, 0));
    }
    return;
  }
  const key = keyNamed(query.name);
  if (key === null) return;
  for (const row of rowsOf("shm")) if (row.key === key) report.found.push(segmentLeftover(row));
  for (const row of rowsOf("sem")) if (row.key === key) report.found.push(setLeftover(row));
}

/**
 * Finds System V segments and semaphore sets in `/proc/sysvipc/shm` and `/proc/sysvipc/sem`:
 * for `{ prefix, dir }`, this user's objects whose creator is gone (System V objects have no
 * names, so the prefix does not apply); for `{ name }`, the segment and the set of the key
 * `name` (`0x5ca1ab1e`, as `ipcs` prints it). A segment that a process has attached, or a set
 * that a running process changed last, is in use.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findLeftovers } from "./leftovers.ts";
 * import { formatKey, SysVSegment, sysvLeftovers } from "./sysv_shm.ts";
 * using segment = SysVSegment.create(0x5ca1ab22 ^ Deno.pid, 4096); // attached here: in use
 * const { found } = findLeftovers([sysvLeftovers], { name: segment.name, cwd: "/" });
 * assert.deepEqual(found.map((object) => [object.name, object.holders]), [
 *   [formatKey(segment.key), [Deno.pid]],
 * ]);
 * ```
 */
export const sysvLeftovers: LeftoverFinder = new LeftoverFinder(
  [SYSV_SEGMENT_KIND, SYSV_SET_KIND],
  findSysV,
);

// ---------------------------------------------------------------------------------------------
// The ring as a channel of pieces (see channel.ts): what the benchmark measures
// ---------------------------------------------------------------------------------------------

/**
 * The same bounded buffer as `ring_buffer.ts`'s channel, over a System V segment and a set of
 * two semaphores, opened as the sysv-shm lesson opens it: the sender creates both for the key
 * {@linkcode keyOfWord}`(word)`, waits for the receiver to attach, then marks the segment for
 * removal (it lives on while attached); the set goes with the sender's stack.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { channel } from "./sysv_shm.ts";
 * using stack = new DisposableStack();
 * const options = { piece: 64, capacity: 256, timeout: 5000, stack, dir: "/tmp" };
 * const word = `ipc-lesson-example-${Deno.pid}`;
 * const [sink, source] = await Promise.all([
 *   channel.openSink(word, options),
 *   channel.openSource(word, options),
 * ]);
 * await sink.send(new Uint8Array([1, 2, 3]));
 * assert.deepEqual([...await source.receive()], [1, 2, 3]);
 * ```
 */
export const channel: NamedChannel = {
  kind: "named",
  async openSink(word: string, { piece, capacity, timeout, stack }: NamedEndOptions) {
    const key = keyOfWord(word);
    const slots = Math.max(2, Math.floor(capacity / piece));
    const set = stack.use(SemaphoreSet.create(key, [slots, 0]));
    const segment = stack.use(SysVSegment.create(key, ringLayout(slots, piece).size));
    const options: RingOptions = { timeout, peer: "receiver" };
    const ring = RingBuffer.create(segment, ringCounters(set, options), slots, piece, options);
    await ring.waitForPeer();
    segment.remove();
    return ringSink(ring);
  },
  async openSource(word: string, { timeout, stack }: NamedEndOptions) {
    const key = keyOfWord(word);
    const segment = stack.use(await openRingWhenReady(key, { timeout, creator: "sender" }));
    const set = SemaphoreSet.open(key, 2);
    const options: RingOptions = { timeout, peer: "sender" };
    return ringSource(RingBuffer.attach(segment, ringCounters(set, options), options));
  },
};
