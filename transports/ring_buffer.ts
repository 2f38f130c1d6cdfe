/**
 * A bounded buffer in POSIX shared memory: a ring of slots in a shared-memory segment, and two
 * counting semaphores that make the producer and the consumer take turns. The shared-memory
 * lesson's server and client use it, and so does the benchmark: one implementation, with no
 * special fast path.
 *
 * The segment (every field a 32-bit integer in the machine's byte order, little-endian on
 * x86-64 and arm64):
 *
 *     offset           field
 *     0                magic          "RING" (0x474e4952), written last: the ring is ready
 *     4                version        1
 *     8                slots          N
 *     12               slot_size      S, in bytes
 *     16               data_offset    where slot 0 starts: 32 + 4N, rounded up to 4096
 *     20               creator_pid    the process that made the ring (the lesson's server)
 *     24               attached_pid   0 until the other process attaches (the client)
 *     28               reserved       0
 *     32               length[N]      how many bytes slot i holds; 0 marks the end of the data
 *     total_offset     end_total      64 bits, at 32 + 4N rounded up to 8: -1 until the end,
 *                                     then how many bytes the producer published in all
 *     data_offset+i*S  slot i         S bytes
 *
 * The semaphores `NAME-free` (starts at N) and `NAME-filled` (starts at 0) count the free and
 * the filled slots. The classic algorithm, with w and r private to each process:
 *
 *     producer: wait(free);   fill slot w, length[w] = n;   post(filled);   w = (w + 1) mod N
 *     consumer: wait(filled); use slot r (length[r] bytes); post(free);     r = (r + 1) mod N
 *
 * `sem_post` and `sem_wait` synchronise memory (POSIX says so); glibc makes a post a release
 * and a successful wait an acquire, less than a full barrier but all the ring needs: what the
 * producer stored before its post is visible to the consumer after the wait that took that post.
 * Nothing else in the hot path synchronises.
 *
 * The magic number and `end_total` are stored with `Atomics.store` and read with `Atomics.load`.
 * The mapping is an ordinary ArrayBuffer (from `Deno.UnsafePointerView`), not a
 * SharedArrayBuffer, and ECMAScript's memory model orders Atomics only on shared buffers: here
 * the language gives them no ordering at all. The ring relies on V8 compiling Atomics on any
 * buffer to the same atomic instructions (a sequentially consistent store and load on x86_64
 * and aarch64), a property of the implementation, not a guarantee of the language. A C reader
 * gets its ordering from `__atomic_load_n` and from the semaphores' barriers.
 *
 * The counts are only right if nobody else posts. A stray `sem_post(filled)` (a bug, or a
 * curious user with the semaphore's name) lets the consumer take a slot the producer has not
 * filled: it may even find a 0 there, and stop early. So the end marker carries the total:
 * just before it publishes the end, the producer stores the number of bytes it sent in
 * `end_total`, and the consumer compares it with what it took; afterwards `filled` must be 0.
 *
 * Failures that are not a system call's (the peer has gone, a segment left behind, a header
 * that is not a ring's, a stray post) are {@linkcode ChannelError}s that state the facts; the
 * program using the ring words the advice.
 *
 * The ring needs only memory both processes map and two counters, so it runs over any kind:
 * {@linkcode RingMemory} (a POSIX {@linkcode SharedMemory} object, or a System V segment) and
 * {@linkcode RingCounter} (a POSIX named {@linkcode Semaphore}, or one semaphore of a System V
 * set: see `sysv_shm.ts`). The names, the finders and `openWhenReady` below are POSIX's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ringLayout, ringNames } from "./ring_buffer.ts";
 * assert.equal(ringNames("/ipc-lesson-shm-demo").free, "/ipc-lesson-shm-demo-free");
 * assert.equal(ringLayout(16, 65536).size, 4096 + 16 * 65536);
 * ```
 *
 * @module
 */

import type { NamedChannel, NamedEndOptions, Sink, Source } from "./channel.ts";
import { ChannelError } from "./errors.ts";
import { holdersOfPath, isRunning } from "./holders.ts";
import { mine } from "./leftovers.ts";
import { LibcError, sem_unlink, shm_unlink } from "./libc.ts";
import {
  Semaphore,
  semaphoreNameProblem,
  semaphorePath,
  type SemaphoreWaitOptions,
} from "./semaphore.ts";
import { SharedMemory, shmNameProblem, shmPath } from "./shm.ts";
import { formatBytes } from "./units.ts";
import { ready, seconds, sleep } from "./wait.ts";

// ---------------------------------------------------------------------------------------------
// The layout
// ---------------------------------------------------------------------------------------------

/** The first field of a ready ring: the bytes "RING" in memory (`xxd` shows them). */
export const MAGIC = 0x474e4952;
/** The layout's version. */
export const VERSION = 1;

/** The header fields, as indexes of 32-bit words. */
const FIELD = {
  magic: 0,
  version: 1,
  slots: 2,
  slotSize: 3,
  dataOffset: 4,
  creatorPid: 5,
  attachedPid: 6,
} as const;
/** Where the array `length[N]` starts, in bytes. */
const LENGTHS_OFFSET = 32;
const PAGE_SIZE = 4096;
/** What `end_total` holds until the producer publishes the end marker. */
const NO_TOTAL = -1n;

/** Where everything lies in a ring of `slots` slots of `slotSize` bytes. */
export interface RingLayout {
  /** N, the number of slots. */
  slots: number;
  /** S, the bytes per slot. */
  slotSize: number;
  /** Where the 64-bit `end_total` is: after `length[N]`, on an 8-byte boundary. */
  totalOffset: number;
  /** Where slot 0 starts: after the header and `end_total`, on a page boundary. */
  dataOffset: number;
  /** The size of the whole segment: `dataOffset + slots * slotSize`. */
  size: number;
}

/**
 * The layout of a ring of `slots` slots of `slotSize` bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ringLayout } from "./ring_buffer.ts";
 * assert.equal(ringLayout(16, 65536).dataOffset, 4096); // slot 0 starts on the second page
 * ```
 */
export function ringLayout(slots: number, slotSize: number): RingLayout {
  const totalOffset = Math.ceil((LENGTHS_OFFSET + 4 * slots) / 8) * 8;
  const dataOffset = Math.ceil((totalOffset + 8) / PAGE_SIZE) * PAGE_SIZE;
  return { slots, slotSize, totalOffset, dataOffset, size: dataOffset + slots * slotSize };
}

// ---------------------------------------------------------------------------------------------
// The names
// ---------------------------------------------------------------------------------------------

/** The three names of a ring: its segment and its two semaphores. */
export interface RingNames {
  /** The shared-memory segment: NAME. */
  segment: string;
  /** The semaphore that counts free slots: NAME-free. */
  free: string;
  /** The semaphore that counts filled slots: NAME-filled. */
  filled: string;
}

/**
 * The names of the ring called `name`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ringNames } from "./ring_buffer.ts";
 * assert.equal(ringNames("/ipc-lesson-shm-lab").filled, "/ipc-lesson-shm-lab-filled");
 * ```
 */
export function ringNames(name: string): RingNames {
  return { segment: name, free: `${name}-free`, filled: `${name}-filled` };
}

/**
 * What is wrong with `name` as the name of a ring, as the end of a sentence; null if nothing.
 * The longest name it leads to, NAME-filled, must still be a valid semaphore name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ringNameProblem } from "./ring_buffer.ts";
 * assert.equal(ringNameProblem("/ipc-lesson-shm-lab"), null);
 * assert.match(ringNameProblem("/" + "x".repeat(250))!, /^is too long/); // NAME-filled would be
 * ```
 */
export function ringNameProblem(name: string): string | null {
  const problem = shmNameProblem(name);
  if (problem !== null) return problem;
  if (semaphoreNameProblem(ringNames(name).filled) !== null) {
    const max = 255 - "sem.".length - "-filled".length;
    return `is too long: at most ${max} bytes after the slash, because the semaphore NAME-filled ` +
      "shows as /dev/shm/sem.NAME-filled and a file name has at most 255 bytes";
  }
  return null;
}

/** One of a ring's three objects: its name, how to name it in a sentence, where it shows. */
export interface RingPart {
  /** Its POSIX name: `/NAME`, `/NAME-free`, `/NAME-filled`. */
  readonly name: string;
  /** How to name it in a sentence: `the semaphore /NAME-free (/dev/shm/sem.NAME-free)`. */
  readonly description: string;
  /** Where it shows in the file system, under `/dev/shm`. */
  readonly path: string;
  /** Whether it exists now. */
  exists(): boolean;
  /** Removes its name (`shm_unlink`, `sem_unlink`). */
  remove(): void;
}

/**
 * The ring's three objects: the segment and its two semaphores.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ringNames, ringParts } from "./ring_buffer.ts";
 * const parts = ringParts(ringNames(`/ipc-doc-ring-${Deno.pid}`));
 * assert.deepEqual(parts.map((part) => part.path), [
 *   `/dev/shm/ipc-doc-ring-${Deno.pid}`,
 *   `/dev/shm/sem.ipc-doc-ring-${Deno.pid}-free`,
 *   `/dev/shm/sem.ipc-doc-ring-${Deno.pid}-filled`,
 * ]);
 * assert.ok(parts.every((part) => !part.exists())); // nothing of that name was ever made
 * ```
 */
export function ringParts(names: RingNames): RingPart[] {
  const part = (name: string, kind: string, path: string, remove: () => void): RingPart => ({
    name,
    description: `the ${kind} ${name} (${path})`,
    path,
    exists: () => exists(path),
    remove,
  });
  return [
    part(names.segment, "shared-memory segment", shmPath(names.segment), () => {
      shm_unlink(names.segment);
    }),
    part(names.free, "semaphore", semaphorePath(names.free), () => sem_unlink(names.free)),
    part(names.filled, "semaphore", semaphorePath(names.filled), () => sem_unlink(names.filled)),
  ];
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The owner of what is at `path` (null if it has gone). */
function ownerOf(path: string): number | null {
  try {
    return Deno.lstatSync(path).uid;
  } catch {
    return null; // removed meanwhile
  }
}

/** The processes that have the object at `path` open or mapped (none if it has gone). */
function holders(path: string): number[] {
  try {
    return holdersOfPath(path);
  } catch {
    return []; // removed meanwhile
  }
}

/**
 * Some of a ring's names exist already. The message says which, and whether a process holds
 * them (another ring is using the name) or nobody does (a killed process left them behind).
 */
export class RingNamesTaken extends ChannelError {
  /** The ring's objects that exist. */
  readonly taken: RingPart[];
  /** The processes that have any of them open or mapped, in order; none: left behind. */
  readonly holders: number[];
  /** The other users that own any of them, in order: not this user's to use or remove. */
  readonly owners: number[];

  /** `taken` exist, held by `holders`; `owners`: the other users whose any of them are. */
  constructor(taken: RingPart[], holders: number[], owners: number[] = []) {
    const them = taken.length === 1 ? "it" : "them";
    const descriptions = taken.map((part) => part.description);
    const list = descriptions.length === 1
      ? descriptions[0]
      : `${descriptions.slice(0, -1).join(", ")} and ${descriptions.at(-1)}`;
    const exist = `${list} already exist${taken.length === 1 ? "s" : ""}`;
    const users = `process ${holders.join(", ")} ${holders.length === 1 ? "uses" : "use"} ${them}`;
    const whose = `${taken.length === 1 ? "it is" : "they are"} another user's (${
      owners.map((uid) => `uid ${uid}`).join(", ")
    }), not yours to use or remove`;
    super(
      owners.length > 0
        ? `${exist}, and ${whose}`
        : holders.length > 0
        ? `${exist}, and ${users}`
        : `${exist}: nobody has ${them} open or mapped, so a killed run left ${them} behind`,
    );
    this.name = "RingNamesTaken";
    this.taken = taken;
    this.holders = holders;
    this.owners = owners;
  }
}

/**
 * Throws a {@linkcode RingNamesTaken} if any of the ring's names is taken, before anything is
 * created, and touches nothing. The kernel says which case it is: a process that maps or has
 * open one of the objects (`/proc/PID/maps`, `/proc/PID/fd`) is using the name; if nobody
 * does, a process killed with kill -9 left them behind.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { refuseExisting, ringNames, RingNamesTaken } from "./ring_buffer.ts";
 * const names = ringNames(`/ipc-doc-refuse-${Deno.pid}`);
 * refuseExisting(names); // no such name yet: returns, having touched nothing
 * const path = `/dev/shm${names.segment}`; // what a killed run would leave behind
 * Deno.writeFileSync(path, new Uint8Array(0), { mode: 0o600 });
 * try {
 *   assert.throws(() => refuseExisting(names), RingNamesTaken);
 * } finally {
 *   Deno.removeSync(path);
 * }
 * ```
 */
export function refuseExisting(names: RingNames): void {
  const taken = ringParts(names).filter((part) => part.exists());
  if (taken.length === 0) return;
  const users = [...new Set(taken.flatMap((part) => holders(part.path)))].sort((a, b) => a - b);
  const owners = [...new Set(taken.map((part) => ownerOf(part.path)))]
    .filter((uid): uid is number => uid !== null && !mine(uid)).sort((a, b) => a - b);
  throw new RingNamesTaken(taken, users, owners);
}

/**
 * A ring whose creator has gone before it was done: the segment exists but was never marked
 * ready, or its creator no longer runs. What is left of it stays until someone removes it.
 */
export class StaleRing extends ChannelError {
  /** The ring's names. */
  readonly names: RingNames;

  /** The ring `names` is stale; `message` says how it was seen. */
  constructor(names: RingNames, message: string) {
    super(message);
    this.name = "StaleRing";
    this.names = names;
  }
}

// ---------------------------------------------------------------------------------------------
// Waiting for the creator
// ---------------------------------------------------------------------------------------------

/** Options for {@linkcode openWhenReady}. */
export interface OpenWhenReadyOptions {
  /** How long to wait for the segment to appear and be ready, in ms (default: for ever). */
  timeout?: number;
  /** Give up once this is aborted, with its reason (Ctrl-C). */
  signal?: AbortSignal;
  /** What to call the creator in messages: `server`, `producer`. */
  creator: string;
}

/**
 * The attaching side's first step: waits until the segment `name` exists and its creator has
 * marked it ready (the magic number, written last), retrying `shm_open` with a growing pause.
 * Then checks that the creator still runs and that no one else has attached. Resolves to the
 * mapped segment. Throws `Deno.errors.TimedOut` when no segment appears in time, and a
 * {@linkcode StaleRing} when one exists but its creator has gone.
 *
 * @example
 * ```ts ignore
 * import { openWhenReady } from "./ring_buffer.ts";
 * using segment = await openWhenReady("/ipc-lesson-shm-lab", { timeout: 10_000, creator: "server" });
 * ```
 */
export async function openWhenReady(
  name: string,
  options: OpenWhenReadyOptions,
): Promise<SharedMemory> {
  const timeoutMs = options.timeout ?? Infinity;
  const deadline = performance.now() + timeoutMs;
  let exists = false;
  for (let pause = 2;; pause = Math.min(pause * 2, 20)) {
    let segment: SharedMemory | null = null;
    try {
      segment = SharedMemory.open(name);
    } catch (error) {
      // ENOENT: not created yet. Anything else is a real error.
      if (!(error instanceof LibcError && error.code === "ENOENT")) throw error;
    }
    if (segment !== null) {
      exists = true;
      if (segment.size >= LENGTHS_OFFSET && Atomics.load(header(segment), FIELD.magic) === MAGIC) {
        try {
          checkUsable(segment);
          return segment;
        } catch (error) {
          segment.close();
          throw error;
        }
      }
      // Created, but not sized or not initialised yet: the creator is between shm_open and
      // writing the magic number. Close, and look again in a moment.
      segment.close();
    }
    const left = deadline - performance.now();
    if (left <= 0 && exists) {
      throw new StaleRing(
        ringNames(name),
        `the shared-memory segment ${name} exists, but was never marked ready within ${
          seconds(timeoutMs)
        }: its creator may have been killed while making it`,
      );
    }
    if (left <= 0) {
      throw new Deno.errors.TimedOut(
        `no ${options.creator} created the shared-memory segment ${name} within ${
          seconds(timeoutMs)
        }`,
      );
    }
    await sleep(Math.min(pause, left), options.signal);
  }
}

/**
 * A ready segment is only usable if it holds a ring of this layout, its creator still runs, and
 * nobody has attached yet.
 */
function checkUsable(segment: SharedMemory): void {
  checkHeader(segment);
  const words = header(segment);
  const creator = Atomics.load(words, FIELD.creatorPid);
  if (!isRunning(creator)) {
    throw new StaleRing(
      ringNames(segment.name),
      `the shared-memory segment ${segment.name} is stale: the process that made it (${creator}) ` +
        "is no longer running; a run killed with kill -9 left it behind",
    );
  }
  const attached = Atomics.load(words, FIELD.attachedPid);
  if (attached !== 0) {
    throw new ChannelError(
      `process ${attached} has already attached to the ring ${segment.name}: ` +
        "a ring has one producer and one consumer",
    );
  }
}

/**
 * Checks that a ready segment's header describes a ring of this version whose layout matches
 * the segment's size (anything else is another program's segment, or an overwritten one), and
 * returns that layout.
 */
function checkHeader(segment: RingMemory): RingLayout {
  const words = header(segment);
  const version = words[FIELD.version];
  const slots = words[FIELD.slots]!;
  const slotSize = words[FIELD.slotSize]!;
  const layout = ringLayout(slots, slotSize);
  if (
    Atomics.load(words, FIELD.magic) !== MAGIC || version !== VERSION || slots < 1 ||
    slotSize < 1 || words[FIELD.dataOffset] !== layout.dataOffset || segment.size !== layout.size
  ) {
    throw new ChannelError(
      `the shared-memory segment ${segment.name} does not hold a ring of this lesson ` +
        `(version ${version}, ${slots} slots of ${slotSize} bytes, data at ${
          words[FIELD.dataOffset]
        }, ${segment.size} bytes in all)`,
    );
  }
  return layout;
}

/**
 * The layout a ready segment's header describes (what its creator chose), read without
 * attaching.
 *
 * @example
 * ```ts ignore
 * import { openWhenReady, readLayout } from "./ring_buffer.ts";
 * using segment = await openWhenReady("/ipc-lesson-shm-lab", { timeoutMs: 10_000, creator: "server" });
 * console.log(readLayout(segment).slots);
 * ```
 */
export function readLayout(segment: RingMemory): RingLayout {
  return checkHeader(segment);
}

/** The header's 32-bit words. */
function header(segment: RingMemory): Int32Array<ArrayBuffer> {
  return new Int32Array(segment.bytes.buffer, 0, LENGTHS_OFFSET / 4);
}

/**
 * What the header of a segment that its creator has marked ready says about the two processes:
 * the creator's pid, and the attached process's (0: nobody yet). Null while the magic number is
 * not there (not initialised yet, or too small to hold a header). For a transport that waits for
 * a ring in memory of another kind (System V), as {@linkcode openWhenReady} does for POSIX.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readyHeader } from "./ring_buffer.ts";
 * const memory = { name: "zeros", size: 4096, bytes: new Uint8Array(4096) };
 * assert.equal(readyHeader(memory), null); // no magic number: not ready
 * ```
 */
export function readyHeader(
  segment: RingMemory,
): { creatorPid: number; attachedPid: number } | null {
  if (segment.size < LENGTHS_OFFSET) return null;
  const words = header(segment);
  if (Atomics.load(words, FIELD.magic) !== MAGIC) return null;
  return {
    creatorPid: Atomics.load(words, FIELD.creatorPid),
    attachedPid: Atomics.load(words, FIELD.attachedPid),
  };
}

// ---------------------------------------------------------------------------------------------
// The ring
// ---------------------------------------------------------------------------------------------

/**
 * The memory a ring lives in: a POSIX {@linkcode SharedMemory} object, or any other mapping
 * both processes share (the System V segment of `sysv_shm.ts`). `bytes` must be the shared
 * memory itself, not a copy, and start on a page boundary.
 */
export interface RingMemory {
  /** How messages name it: `/NAME` for a POSIX segment, the key for a System V one. */
  readonly name: string;
  /** Its size in bytes. */
  readonly size: number;
  /** The mapping itself. */
  readonly bytes: Uint8Array<ArrayBuffer>;
}

/**
 * One of the ring's two counters: a POSIX named {@linkcode Semaphore}, or one semaphore of a
 * System V set (`sysv_shm.ts`). Adding one must be at least a release and taking one at least
 * an acquire: glibc's `sem_post` and `sem_wait` are just that, and `semop`, a system call that
 * takes the set's lock, is more.
 */
export interface RingCounter {
  /** How messages name it: `/NAME-free`, `semaphore 0 (free) of set 5`. */
  readonly name: string;
  /** The call that adds one, for messages about a stray one: `sem_post` (the default), `semop`. */
  readonly postCall?: string;
  /** Takes one, waiting while the count is zero (see {@linkcode Semaphore.wait}). */
  wait(options: SemaphoreWaitOptions): Promise<void>;
  /** Adds one. */
  post(): void;
  /**
   * Optional: adds one to this counter and takes one from the other counter of the ring in one
   * atomic step, if that one is above zero (a System V `semop` of two operations: one system
   * call where two would do); returns false, having only added one, if it is zero. The ring
   * uses it to hand a slot over and claim the next one at once.
   */
  postAndTake?(): boolean;
  /**
   * Optional: adds `given` to this counter and takes `wanted` from the other counter of the
   * ring in one atomic step, if that one holds at least `wanted`; returns false, having changed
   * nothing, if it does not. The consumer uses it to hand back the slots it has emptied and
   * claim several filled ones at once (a System V `semop` of several operations).
   */
  postAndTakeMany?(given: number, wanted: number): boolean;
  /** Optional: adds `n` at once (one `semop` where `n` calls of `sem_post` would do). */
  postMany?(n: number): void;
  /** The count now (a snapshot, for checks and `--trace`). */
  readonly value: number;
}

/** The ring's two counters. */
export interface RingSemaphores {
  /** Counts the free slots: starts at N. */
  free: RingCounter;
  /** Counts the filled slots: starts at 0. */
  filled: RingCounter;
}

/** Options for {@linkcode RingBuffer.create} and {@linkcode RingBuffer.attach}. */
export interface RingOptions {
  /** How long to wait for a slot, or for the other process to attach, in ms (default: for ever). */
  timeout?: number;
  /** Once this is aborted, every wait rejects with its reason (Ctrl-C). */
  signal?: AbortSignal;
  /** What to call the other process in messages: `client`, `server`. */
  peer: string;
}

/** The other process has exited (or was killed) before the transfer was complete. */
export class PeerGone extends ChannelError {
  /** The pid of the process that has gone. */
  readonly pid: number;

  /** The peer `peer` (process `pid`) has gone after `bytes` had passed. */
  constructor(peer: string, pid: number, bytes: number) {
    super(
      `the ${peer} exited after ${formatBytes(bytes)}: transfer incomplete ` +
        `(process ${pid} is gone)`,
    );
    this.name = "PeerGone";
    this.pid = pid;
  }
}

/**
 * A bounded buffer in a shared-memory segment. It owns nothing: the segment and the semaphores
 * are opened and closed by the caller (with `using`), and must outlive the ring.
 *
 * A slot is claimed, used and handed over: the producer fills a free slot and publishes it;
 * the consumer reads a filled slot and releases it. The slot is shared memory, so the data is
 * read from a file straight into it, and written to a file straight out of it.
 *
 * @example
 * ```ts ignore
 * // The producer: fill a free slot, then publish it.
 * const w = await ring.claimFree();
 * const n = input.read(ring.slots[w]!);
 * ring.publish(w, n); // 0 bytes: the end of the data
 *
 * // The consumer: use a filled slot, then release it.
 * const r = await ring.claimFilled();
 * output.write(ring.contents(r));
 * ring.release(r);
 * ```
 */
export class RingBuffer {
  /** The segment's name. */
  readonly name: string;
  /** N, the number of slots. */
  readonly slotCount: number;
  /** S, the bytes per slot. */
  readonly slotSize: number;
  /** One view per slot, `slotSize` bytes each: the shared memory itself, not a copy. */
  readonly slots: readonly Uint8Array<ArrayBuffer>[];
  #header: Int32Array<ArrayBuffer>;
  #lengths: Uint32Array<ArrayBuffer>;
  #total: BigInt64Array<ArrayBuffer>;
  #free: RingCounter;
  #filled: RingCounter;
  /** The last view contents() returned for each slot, reused while the length is the same. */
  #contents: Uint8Array<ArrayBuffer>[];
  #writeAt = 0;
  #readAt = 0;
  /** The next slot was claimed already, with the hand-over of the last (postAndTake). */
  #claimedAhead = false;
  /** Consumer, with counters that claim several at once: filled slots claimed, not yet used. */
  #ahead = 0;
  /** Consumer: slots emptied but not yet handed back: they go with the next claim. */
  #emptied = 0;
  /** Consumer: how many filled slots to try to claim at once next time (1 to a quarter ring). */
  #batch = 1;
  /** Consumer: the last try found the ring empty: hand back without a try next time. */
  #missed = false;
  /** Consumer: single claims in a row since the last failed try of several. */
  #singles = 0;
  #bytes = 0;
  #peer: string;
  #peerPid: number;
  #timeoutMs: number;
  #signal: AbortSignal | undefined;
  #waitForFree: SemaphoreWaitOptions;
  #waitForFilled: SemaphoreWaitOptions;

  private constructor(
    segment: RingMemory,
    semaphores: RingSemaphores,
    layout: RingLayout,
    options: RingOptions,
    peerPid: number,
  ) {
    const buffer = segment.bytes.buffer;
    this.name = segment.name;
    this.slotCount = layout.slots;
    this.slotSize = layout.slotSize;
    this.#header = header(segment);
    this.#lengths = new Uint32Array(buffer, LENGTHS_OFFSET, layout.slots);
    this.#total = new BigInt64Array(buffer, layout.totalOffset, 1);
    this.slots = Array.from(
      { length: layout.slots },
      (_, i) => new Uint8Array(buffer, layout.dataOffset + i * layout.slotSize, layout.slotSize),
    );
    this.#contents = [...this.slots];
    this.#free = semaphores.free;
    this.#filled = semaphores.filled;
    this.#peer = options.peer;
    this.#peerPid = peerPid;
    this.#timeoutMs = options.timeout ?? Infinity;
    this.#signal = options.signal;
    // Made once: a wait that does not have to park allocates nothing.
    this.#waitForFree = {
      timeout: this.#timeoutMs,
      signal: options.signal,
      timeoutMessage: () => this.#stuck("no slot became free", "takes no slots"),
      whileParked: () => this.#checkPeer(),
    };
    this.#waitForFilled = {
      timeout: this.#timeoutMs,
      signal: options.signal,
      timeoutMessage: () => this.#stuck("no slot was filled", "fills no slots"),
      whileParked: () => this.#checkPeer(),
    };
  }

  /**
   * The creator's step: writes the header of a ring of `slots` slots of `slotSize` bytes into
   * a new `segment` (at least {@linkcode ringLayout}`.size` bytes), whose semaphores already
   * exist. The magic number is stored last: an attaching process that sees it knows that
   * everything else is in place.
   */
  static create(
    segment: RingMemory,
    semaphores: RingSemaphores,
    slots: number,
    slotSize: number,
    options: RingOptions,
  ): RingBuffer {
    const layout = ringLayout(slots, slotSize);
    if (segment.size < layout.size) {
      throw new RangeError(
        `A ring of ${slots} slots of ${slotSize} bytes needs ${layout.size} bytes: the segment has ${segment.size}`,
      );
    }
    const words = header(segment);
    words[FIELD.version] = VERSION;
    words[FIELD.slots] = slots;
    words[FIELD.slotSize] = slotSize;
    words[FIELD.dataOffset] = layout.dataOffset;
    words[FIELD.creatorPid] = Deno.pid;
    words[FIELD.attachedPid] = 0;
    new Uint32Array(segment.bytes.buffer, LENGTHS_OFFSET, slots).fill(0);
    new BigInt64Array(segment.bytes.buffer, layout.totalOffset, 1)[0] = NO_TOTAL;
    // Last, with an atomic store: everything above is visible before the magic number is. (V8
    // makes this a sequentially consistent store even on this non-shared ArrayBuffer, where the
    // language itself promises no ordering: see the module's documentation.)
    Atomics.store(words, FIELD.magic, MAGIC);
    return new RingBuffer(segment, semaphores, layout, options, 0);
  }

  /**
   * The other process's step: checks the header of a ready `segment` (see
   * {@linkcode openWhenReady}) and attaches by storing its pid in `attached_pid` with an atomic
   * compare-and-exchange, so that two processes can never both attach.
   */
  static attach(
    segment: RingMemory,
    semaphores: RingSemaphores,
    options: RingOptions,
  ): RingBuffer {
    const layout = checkHeader(segment);
    const words = header(segment);
    const previous = Atomics.compareExchange(words, FIELD.attachedPid, 0, Deno.pid);
    if (previous !== 0) {
      throw new ChannelError(
        `process ${previous} has already attached to the ring ${segment.name}: ` +
          "a ring has one producer and one consumer",
      );
    }
    return new RingBuffer(segment, semaphores, layout, options, words[FIELD.creatorPid]!);
  }

  /** The other process's pid (0 while the creator waits for it). */
  get peerPid(): number {
    return this.#peerPid;
  }

  /** Bytes this process has published (producer) or taken (consumer) so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * The creator's second step: waits until the other process has attached (its pid appears in
   * the header), polling with a growing pause; resolves to that pid. Throws
   * `Deno.errors.TimedOut` when nobody comes within the timeout.
   */
  async waitForPeer(): Promise<number> {
    const deadline = performance.now() + this.#timeoutMs;
    for (let pause = 1;; pause = Math.min(pause * 2, 10)) {
      const pid = Atomics.load(this.#header, FIELD.attachedPid);
      if (pid !== 0) return this.#peerPid = pid;
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Deno.errors.TimedOut(
          `no ${this.#peer} attached to the shared-memory segment ${this.name} within ${
            seconds(this.#timeoutMs)
          }`,
        );
      }
      await sleep(Math.min(pause, left), this.#signal);
    }
  }

  /** Producer: waits for a free slot (`sem_wait(free)`) and returns its index. */
  async claimFree(): Promise<number> {
    if (this.#claimedAhead) {
      this.#claimedAhead = false;
      return ready(this.#writeAt, this.#signal);
    }
    await this.#free.wait(this.#waitForFree);
    return this.#writeAt;
  }

  /**
   * Producer: records that `slot` (the one {@linkcode RingBuffer.claimFree} returned) holds
   * `length` bytes, and hands it to the consumer (`sem_post(filled)`). A length of 0 marks the
   * end of the data; `end_total` then gets the number of bytes published, before the post.
   */
  publish(slot: number, length: number): void {
    if (slot !== this.#writeAt) {
      throw new RangeError(
        `Slot ${slot} cannot be published: the slot claimed is ${this.#writeAt}`,
      );
    }
    if (!Number.isInteger(length) || length < 0 || length > this.slotSize) {
      throw new RangeError(`A slot holds 0 to ${this.slotSize} bytes: got ${length}`);
    }
    this.#lengths[slot] = length;
    if (length === 0) Atomics.store(this.#total, 0, BigInt(this.#bytes));
    // Counters that can (System V) hand this slot over and claim the next free one in one call;
    // never after the end marker, which is the producer's last post.
    if (length !== 0 && this.#filled.postAndTake) this.#claimedAhead = this.#filled.postAndTake();
    else this.#filled.post();
    this.#writeAt = slot + 1 === this.slotCount ? 0 : slot + 1;
    this.#bytes += length;
  }

  /** Consumer: waits for a filled slot (`sem_wait(filled)`) and returns its index. */
  async claimFilled(): Promise<number> {
    if (this.#ahead > 0) {
      this.#ahead--;
      return ready(this.#readAt, this.#signal);
    }
    if (this.#claimedAhead) {
      this.#claimedAhead = false;
      return ready(this.#readAt, this.#signal);
    }
    await this.#filled.wait(this.#waitForFilled);
    return this.#readAt;
  }

  /**
   * Consumer: the bytes in `slot` (the one {@linkcode RingBuffer.claimFilled} returned), as a
   * view of the shared memory, valid until the slot is released. Empty: the end of the data.
   */
  contents(slot: number): Uint8Array<ArrayBuffer> {
    if (slot !== this.#readAt) {
      throw new RangeError(`Slot ${slot} cannot be read: the slot claimed is ${this.#readAt}`);
    }
    const length = this.#lengths[slot]!;
    if (length > this.slotSize) {
      throw new ChannelError(
        `slot ${slot} of ${this.name} claims to hold ${length} bytes, but a slot holds ` +
          `${this.slotSize}: the segment has been overwritten`,
      );
    }
    let view = this.#contents[slot]!;
    if (view.length !== length) this.#contents[slot] = view = this.slots[slot]!.subarray(0, length);
    return view;
  }

  /** Consumer: hands `slot` back to the producer (`sem_post(free)`). */
  release(slot: number): void {
    if (slot !== this.#readAt) {
      throw new RangeError(`Slot ${slot} cannot be released: the slot claimed is ${this.#readAt}`);
    }
    const length = this.#lengths[slot]!;
    this.#bytes += length;
    this.#readAt = slot + 1 === this.slotCount ? 0 : slot + 1;
    if (this.#free.postAndTakeMany && this.#free.postMany) {
      this.#releaseInBatches(length, this.#free.postAndTakeMany, this.#free.postMany);
      return;
    }
    // As in publish(): hand the slot back and claim the next filled one in one call, where the
    // counters can; never after the end marker, the last slot there is to take.
    if (length !== 0 && this.#free.postAndTake) this.#claimedAhead = this.#free.postAndTake();
    else this.#free.post();
  }

  /**
   * release(), with counters that can hand back several slots and claim several in one call
   * (System V: each call is a system call). While slots claimed ahead remain, an emptied slot
   * is only counted; when none remain, one call hands back every emptied slot and claims as
   * many filled ones as the batch says, if there are that many (all or nothing), else one,
   * else none. The batch doubles while such claims succeed, up to a quarter of the ring (so the
   * producer always has slots to fill), and falls back to 1 when one fails. The end marker
   * hands everything back at once, and claims nothing.
   */
  #releaseInBatches(
    length: number,
    postAndTakeMany: (given: number, wanted: number) => boolean,
    postMany: (n: number) => void,
  ): void {
    this.#emptied++;
    if (length !== 0 && this.#ahead > 0) return;
    const given = this.#emptied;
    this.#emptied = 0;
    if (length === 0 || this.#missed) {
      // After a miss (the ring was empty: the producer is behind), one plain hand-back before
      // the next try, so that a ring that stays empty does not cost two calls per slot.
      this.#missed = false;
      postMany.call(this.#free, given);
      return;
    }
    const batch = this.#batch;
    const most = Math.max(1, this.slotCount >> 2);
    if (batch > 1 && postAndTakeMany.call(this.#free, given, batch)) {
      this.#ahead = batch;
      this.#batch = Math.min(batch * 2, most);
    } else if (postAndTakeMany.call(this.#free, given, 1)) {
      this.#ahead = 1;
      // A failed try of several costs a call: after one, try again only after 8 single claims.
      if (batch > 1) {
        this.#batch = 1;
        this.#singles = 0;
      } else if (++this.#singles >= 8) this.#batch = Math.min(2, most);
    } else {
      this.#missed = true;
      this.#batch = 1;
      postMany.call(this.#free, given);
    }
  }

  /**
   * Producer, after the end marker: waits until the consumer has released every slot, so that
   * everything published has been taken. It takes the whole count of `free`: the ring is
   * finished afterwards. Then `filled` must be 0, every post taken; more means that something
   * else posted it, and the consumer took slots before they were filled. And `free` must be 0
   * too: more means that something else posted it, and this producer filled a slot again before
   * the consumer had emptied it (equal-sized chunks keep the byte counts equal, so only this
   * count shows it).
   */
  async drain(): Promise<void> {
    for (let i = 0; i < this.slotCount; i++) await this.#free.wait(this.#waitForFree);
    const extra = this.#filled.value;
    if (extra !== 0) throw this.#strayPost(extra);
    const extraFree = this.#free.value;
    if (extraFree !== 0) {
      throw new ChannelError(
        `${this.#free.name} still counts ${extraFree} free slot${
          extraFree === 1 ? "" : "s"
        } after every slot was taken back: something else posted it (a stray ${this.#postCall}), ` +
          `so slots were filled again before the ${this.#peer} had emptied them; the copy cannot ` +
          "be trusted",
      );
    }
  }

  /**
   * Consumer, after the end marker: checks that what it took is what the producer published.
   * The producer stored its total in `end_total` before it posted the end marker; -1 there
   * means the marker was found in a slot the producer had not filled yet. And `filled` must be
   * 0 now: the end marker was the producer's last post. Either failure means that something
   * else posted `filled` (a stray `sem_post`), and this copy is not whole.
   */
  checkEnd(): void {
    const total = Atomics.load(this.#total, 0);
    if (total === NO_TOTAL) {
      throw new ChannelError(
        `a slot holding 0 bytes ended the copy after ${formatBytes(this.#bytes)}, but the ` +
          `${this.#peer} had not published the end: something else posted ${this.#filled.name} ` +
          `(a stray ${this.#postCall}), so a slot was taken before it was filled; the copy is incomplete`,
      );
    }
    if (total !== BigInt(this.#bytes)) {
      throw new ChannelError(
        `the ${this.#peer} published ${total} bytes, but ${this.#bytes} came through the ring: ` +
          `something else posted ${this.#filled.name} or ${this.#free.name} (a stray ` +
          `${this.#postCall}), so a slot was taken before it was filled, or filled again before ` +
          "it was emptied; the copy is not whole",
      );
    }
    // Filled slots claimed ahead after the end marker were posted by something else too.
    const extra = this.#filled.value + this.#ahead;
    if (extra !== 0) throw this.#strayPost(extra);
  }

  /** The call a stray post was made with, for messages. */
  get #postCall(): string {
    return this.#filled.postCall ?? "sem_post";
  }

  #strayPost(extra: number): ChannelError {
    return new ChannelError(
      `${this.#filled.name} still counts ${extra} filled slot${extra === 1 ? "" : "s"} after ` +
        `the end marker was taken: something else posted it (a stray ${this.#postCall}), so slots were ` +
        "taken before they were filled; the copy cannot be trusted",
    );
  }

  /** The semaphores' counts now (`sem_getvalue`), for `--trace`: not for the hot path. */
  counts(): { free: number; filled: number } {
    return { free: this.#free.value, filled: this.#filled.value };
  }

  /** While a wait is parked: has the other process died? (kill(pid, 0), at most every 250 ms.) */
  #checkPeer(): void {
    const pid = this.#peerPid;
    if (pid !== 0 && !isRunning(pid)) throw new PeerGone(this.#peer, pid, this.#bytes);
  }

  #stuck(what: string, doing: string): string {
    const who = this.#peerPid === 0
      ? `the ${this.#peer}`
      : `the ${this.#peer} (process ${this.#peerPid})`;
    return `${what} for ${seconds(this.#timeoutMs)}: ${who} still runs but ${doing} ` +
      "(is it stopped, with Ctrl-Z?)";
  }
}

// A ring's objects are a segment and two semaphores: their transports find what a killed run
// left behind (`deno task clean` asks every exported finder of this module).
export { segmentLeftovers } from "./shm.ts";
export { semaphoreLeftovers } from "./semaphore.ts";

// ---------------------------------------------------------------------------------------------
// The ring as a channel of pieces (see channel.ts): what the benchmark measures
// ---------------------------------------------------------------------------------------------

/** A ring's producer copies each piece into a free slot, as the C reference's producer does. */
export function ringSink(ring: RingBuffer): Sink {
  return {
    async send(data) {
      const slot = await ring.claimFree();
      ring.slots[slot]!.set(data);
      ring.publish(slot, data.length);
    },
    async end() {
      ring.publish(await ring.claimFree(), 0);
      await ring.drain();
    },
  };
}

/**
 * A ring's consumer reads each filled slot in place, and hands it back at the next receive
 * (the end marker at once: nothing follows it).
 */
export function ringSource(ring: RingBuffer): Source {
  let held = -1;
  return {
    async receive() {
      if (held >= 0) ring.release(held);
      held = await ring.claimFilled();
      const data = ring.contents(held);
      if (data.length === 0) {
        ring.release(held);
        held = -1;
      }
      return data;
    },
  };
}

/**
 * The ring as a named channel, opened as the shared-memory lesson opens it: the sender creates
 * the segment `/word` and its two semaphores (slots of `piece` bytes, `capacity` bytes in all,
 * at least two slots), waits for the receiver to attach, then removes the three names; the
 * receiver waits for the ring to be ready and attaches. A slot holding 0 bytes ends the stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { channel } from "./ring_buffer.ts";
 * using stack = new DisposableStack();
 * const options = { piece: 64, capacity: 256, timeout: 5000, stack, dir: "/tmp" };
 * const word = `ipc-lesson-example-${Deno.pid}`;
 * const [sink, source] = await Promise.all([
 *   channel.openSink(word, options), // waits for the receiver to attach
 *   channel.openSource(word, options),
 * ]);
 * await sink.send(new Uint8Array([1, 2, 3]));
 * assert.deepEqual([...await source.receive()], [1, 2, 3]);
 * ```
 */
export const channel: NamedChannel = {
  kind: "named",
  refbench: "pshm",
  async openSink(word: string, { piece, capacity, timeout, stack }: NamedEndOptions) {
    const names = ringNames(`/${word}`);
    const slots = Math.max(2, Math.floor(capacity / piece));
    const segment = stack.use(SharedMemory.create(names.segment, ringLayout(slots, piece).size));
    const free = stack.use(Semaphore.create(names.free, slots));
    const filled = stack.use(Semaphore.create(names.filled, 0));
    const ring = RingBuffer.create(segment, { free, filled }, slots, piece, {
      timeout,
      peer: "receiver",
    });
    await ring.waitForPeer();
    for (const named of [segment, free, filled]) named.unlink();
    return ringSink(ring);
  },
  async openSource(word: string, { timeout, stack }: NamedEndOptions) {
    const names = ringNames(`/${word}`);
    const segment = stack.use(await openWhenReady(names.segment, { timeout, creator: "sender" }));
    const free = stack.use(Semaphore.open(names.free));
    const filled = stack.use(Semaphore.open(names.filled));
    return ringSource(RingBuffer.attach(segment, { free, filled }, { timeout, peer: "sender" }));
  },
};
