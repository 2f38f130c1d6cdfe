/**
 * POSIX shared memory: memory with a name, which several processes map into their address
 * spaces. What one process stores there, the others can load at once: no system call and no
 * copy through the kernel.
 *
 * 1. `shm_open(3)` creates or opens the object by name. On Linux it is a file in the memory
 *    file system at `/dev/shm`, so `ls -l /dev/shm` shows it.
 * 2. `ftruncate(2)` gives a new object its size. It starts empty, and touching a mapping beyond
 *    the end of the object raises SIGBUS.
 * 3. `posix_fallocate(3)` reserves the memory for every page now. `ftruncate` only sets the
 *    size: the pages are found at the first store into each, and if `/dev/shm` is full by then
 *    the store raises SIGBUS (a `read(2)` into the mapping fails with EFAULT). Reserved at
 *    creation, a full `/dev/shm` is one clear error (ENOSPC) before anything starts.
 * 4. `mmap(2)` with `MAP_SHARED` maps it. The descriptor can be closed right away: the mapping
 *    keeps the object alive.
 * 5. `munmap(2)` removes the mapping, and `shm_unlink(3)` removes the name. The memory is freed
 *    once the name is gone and no process maps it any more.
 *
 * Shared memory has no synchronisation of its own: two processes that use it need something
 * else to take turns, such as the semaphores of `semaphore.ts`.
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

/** Options for {@linkcode SharedMemory.create}. */
export interface SharedMemoryOptions {
  /** Permission bits of the new object (default 0o600: only this user may open it). */
  mode?: number;
}

/**
 * What is wrong with `name` as the name of a shared-memory object (a slash and at most 255
 * bytes, without another slash), as the end of a sentence; null if nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shmNameProblem } from "./shm.ts";
 * assert.equal(shmNameProblem("/ipc-lesson-demo"), null);
 * assert.match(shmNameProblem("/a/b")!, /^must not contain a second slash/);
 * ```
 */
export function shmNameProblem(name: string): string | null {
  return posixNameProblem(name, NAME_MAX);
}

/**
 * Where Linux shows the shared-memory object `name`: `/dev/shm/NAME` (without the slash).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shmPath } from "./shm.ts";
 * assert.equal(shmPath("/ipc-lesson-demo"), "/dev/shm/ipc-lesson-demo");
 * ```
 */
export function shmPath(name: string): string {
  return `/dev/shm/${name.slice(1)}`;
}

function checkName(name: string): void {
  const problem = shmNameProblem(name);
  if (problem) {
    throw new TypeError(`Invalid shared-memory name ${JSON.stringify(name)}: ${problem}`);
  }
}

/**
 * A POSIX shared-memory object, mapped into this process. {@linkcode SharedMemory.bytes} is the
 * mapping itself: a store into it is a store into memory that the other processes see, with no
 * copy in between.
 *
 * The process that created the object removes its name ({@linkcode SharedMemory.unlink}, or at
 * the end of a `using` block); every process unmaps its own mapping.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SharedMemory } from "./shm.ts";
 * using created = SharedMemory.create("/ipc-lesson-example", 4096);
 * using opened = SharedMemory.open("/ipc-lesson-example"); // as another process would
 * created.bytes[0] = 42;
 * assert.equal(opened.bytes[0], 42); // the same memory, mapped twice
 * ```
 */
export class SharedMemory implements Disposable {
  /** The object's name, such as `/ipc-lesson-shm-4711-3f9a2c`. */
  readonly name: string;
  /** The size of the mapping in bytes (0 for an object that has no size yet). */
  readonly size: number;
  /** True if this process created the object (and so must remove its name). */
  readonly created: boolean;
  #address: Deno.PointerObject | null;
  #bytes: Uint8Array<ArrayBuffer>;
  #closed = false;
  #unlinked = false;

  private constructor(
    name: string,
    size: number,
    created: boolean,
    address: Deno.PointerObject | null,
  ) {
    this.name = name;
    this.size = size;
    this.created = created;
    this.#address = address;
    // The mapping as an ArrayBuffer: no copy, the bytes are the shared memory itself.
    this.#bytes = address === null
      ? new Uint8Array(0)
      : new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(address, size));
  }

  /**
   * Creates a new object of `size` bytes and maps it: `shm_open(O_RDWR | O_CREAT | O_EXCL)`,
   * `ftruncate`, `posix_fallocate`, `mmap(MAP_SHARED)`. `O_EXCL` makes it fail with a
   * {@linkcode libc.LibcError} whose code is EEXIST when the name is taken, so an existing
   * object is never reused or changed. When `/dev/shm` has no room for `size` bytes, it fails
   * with a {@linkcode libc.LibcError} whose code is ENOSPC and whose message says how much
   * room there is, and nothing is left behind. A new object is all zero bytes.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { SharedMemory } from "./shm.ts";
   * using segment = SharedMemory.create("/ipc-lesson-example", 65536);
   * assert.equal(segment.path, "/dev/shm/ipc-lesson-example");
   * assert.equal(Deno.statSync(segment.path).size, 65536);
   * ```
   */
  static create(name: string, size: number, options: SharedMemoryOptions = {}): SharedMemory {
    checkName(name);
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new RangeError(`A shared-memory object needs a size of at least 1 byte: got ${size}`);
    }
    let fd: number;
    try {
      fd = libc.shm_open(name, libc.O.RDWR | libc.O.CREAT | libc.O.EXCL, options.mode ?? 0o600);
    } catch (error) {
      throw naming(error, name);
    }
    try {
      // The size; then the memory itself, every page reserved now (ENOSPC if it does not fit),
      // so that no store into the mapping can fail later with SIGBUS.
      libc.ftruncate(fd, size);
      reserve(fd, name, size);
      return new SharedMemory(name, size, true, libc.mmap(size, READ_WRITE, libc.MAP_SHARED, fd));
    } catch (error) {
      // The name is ours (O_EXCL): do not leave a half-made object behind.
      libc.shm_unlink(name);
      throw error;
    } finally {
      // The mapping keeps the object alive; the descriptor is no longer needed.
      libc.close(fd);
    }
  }

  /**
   * Opens an existing object and maps all of it, as large as it is now:
   * `shm_open(O_RDWR)` and `mmap(MAP_SHARED)`. Fails with a {@linkcode libc.LibcError} whose
   * code is ENOENT when there is no such object, and with `Deno.errors.PermissionDenied` when
   * it belongs to another user. An object that has no size yet (its creator has not called
   * `ftruncate` so far) is opened with nothing mapped: `size` is 0.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { SharedMemory } from "./shm.ts";
   * using created = SharedMemory.create("/ipc-lesson-example", 4096);
   * using opened = SharedMemory.open("/ipc-lesson-example");
   * assert.equal(opened.size, 4096); // the size its creator gave it
   * assert.equal(opened.created, false);
   * ```
   */
  static open(name: string): SharedMemory {
    checkName(name);
    let fd: number;
    try {
      fd = libc.shm_open(name, libc.O.RDWR);
    } catch (error) {
      if (error instanceof libc.LibcError && error.code === "EACCES") {
        throw new Deno.errors.PermissionDenied(
          `cannot open the shared-memory object ${name}: shm_open failed with EACCES ` +
            `(${error.description}): its owner has not let you in (ls -l ${shmPath(name)})`,
        );
      }
      throw naming(error, name);
    }
    try {
      // fstat(2) through /proc: the size, and the owner, of the object this descriptor holds.
      const info = Deno.statSync(`/proc/self/fd/${fd}`);
      const uid = Deno.uid();
      if (uid !== null && info.uid !== uid) {
        throw new Deno.errors.PermissionDenied(
          `refusing to use the shared-memory object ${name}: it belongs to user ${info.uid}, not to you`,
        );
      }
      const address = info.size > 0 ? libc.mmap(info.size, READ_WRITE, libc.MAP_SHARED, fd) : null;
      return new SharedMemory(name, info.size, false, address);
    } finally {
      libc.close(fd);
    }
  }

  /** Where Linux shows the object: `/dev/shm/NAME`. */
  get path(): string {
    return shmPath(this.name);
  }

  /** The address of the mapping in this process (0 when nothing is mapped), for messages. */
  get address(): bigint {
    return this.#address === null ? 0n : Deno.UnsafePointer.value(this.#address);
  }

  /**
   * The mapping, as bytes. Valid until {@linkcode SharedMemory.close}: the memory behind it is
   * unmapped then, and touching it would crash the process, so this throws afterwards.
   */
  get bytes(): Uint8Array<ArrayBuffer> {
    if (this.#closed) {
      throw new Deno.errors.BadResource(`the shared-memory object ${this.name} has been closed`);
    }
    return this.#bytes;
  }

  /**
   * Removes the name with `shm_unlink(3)`, if this process created the object and has not
   * removed it yet. Mappings stay valid: the memory lives on until the last one is gone.
   */
  unlink(): void {
    if (!this.created || this.#unlinked) return;
    this.#unlinked = true;
    try {
      libc.shm_unlink(this.name);
    } catch (error) {
      // Already gone (someone else removed it): nothing left to clean up.
      if (!(error instanceof libc.LibcError && error.code === "ENOENT")) throw error;
    }
  }

  /** Unmaps the object with `munmap(2)`. Closing twice is harmless. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#address !== null) libc.munmap(this.#address, this.size);
    this.#address = null;
  }

  /** Removes the name if this process created it, and unmaps (for `using`). */
  [Symbol.dispose](): void {
    try {
      this.unlink();
    } finally {
      this.close();
    }
  }
}

const READ_WRITE = libc.PROT.READ | libc.PROT.WRITE;

/**
 * Reserves the pages of a new object (`posix_fallocate`); ENOSPC, when `/dev/shm` has no room
 * for them, gets a message that says how much room there is.
 */
function reserve(fd: number, name: string, size: number): void {
  try {
    libc.posix_fallocate(fd, 0, size);
  } catch (error) {
    if (!(error instanceof libc.LibcError && error.code === "ENOSPC")) throw naming(error, name);
    let room = "/dev/shm has not got that much room";
    let need = formatSize(size);
    try {
      const space = libc.statvfs(shmPath(name));
      let free = formatSize(space.availableBytes);
      if (free === need) {
        // Rounded alike (2 MiB + a header page against 2 MiB): the exact bytes tell them apart.
        need += ` (${size} bytes)`;
        free += ` (${space.availableBytes} bytes)`;
      }
      room = `/dev/shm has only ${free} free (of ${formatSize(space.totalBytes)})`;
    } catch { /* statvfs failed: say no more */ }
    error.message = `cannot reserve ${need} for the shared-memory object ${name}: ` +
      `${room}; posix_fallocate failed with ENOSPC`;
    throw error;
  }
}

/** A size for messages: `8 MiB`, `1.5 KiB`, `100 bytes`. */
function formatSize(bytes: number): string {
  const units = [["GiB", 2 ** 30], ["MiB", 2 ** 20], ["KiB", 2 ** 10]] as const;
  for (const [unit, size] of units) {
    if (bytes >= size) return `${Number((bytes / size).toFixed(2))} ${unit}`;
  }
  return `${bytes} bytes`;
}

/**
 * The failure `error` of a call on the object `name`, with the name in its message:
 * `shm_open /x failed: EMFILE (…)`. It is the same LibcError, with the same `code`.
 */
function naming(error: unknown, name: string): unknown {
  if (error instanceof libc.LibcError) {
    error.message = `${error.call} ${name} failed: ${error.code} (${error.description})`;
  }
  return error;
}

// ---------------------------------------------------------------------------------------------
// Leftovers: segments that killed runs left behind (for `deno task clean`)
// ---------------------------------------------------------------------------------------------

/** A POSIX shared-memory segment, as `deno task clean` lists and names it. */
export const SEGMENT_KIND: LeftoverKind = {
  label: "shared memory",
  noun: "shared-memory segment",
  plural: "shared memory",
  atAnyPath: false,
};

/**
 * Finds shared-memory segments, the files of `/dev/shm` (but `sem.NAME`, glibc's name for a
 * semaphore): for `{ prefix, dir }`, this user's segments whose names start with `/PREFIX`;
 * for `{ name, cwd }`, the segment that `name` names: a POSIX name (`/my-shm`, or `my-shm`),
 * or a path in `/dev/shm`. `shm_unlink(3)` removes it; a process that has it mapped keeps it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findLeftovers } from "./leftovers.ts";
 * import { segmentLeftovers, SharedMemory } from "./shm.ts";
 *
 * const name = `/my-app-${Deno.pid}`;
 * using segment = SharedMemory.create(name, 4096); // mapped here: in use
 * const { found } = findLeftovers([segmentLeftovers], { name, cwd: "/" });
 * assert.deepEqual(found.map((object) => [object.path, object.holders]), [
 *   [`/dev/shm${name}`, [Deno.pid]],
 * ]);
 * ```
 */
export const segmentLeftovers: LeftoverFinder = new LeftoverFinder(
  [SEGMENT_KIND],
  (query, report) => {
    const files = new Set<string>();
    if ("prefix" in query) {
      for (const file of namesIn("/dev/shm", query.prefix)) files.add(file);
    } else {
      // As a path in /dev/shm, and as a POSIX name: often the same segment.
      const path = resolve(query.cwd, query.name);
      if (dirname(path) === "/dev/shm") files.add(basename(path));
      const part = posixPart(query.name);
      if (part !== null) files.add(part);
    }
    for (const file of files) {
      if (file.startsWith("sem.")) continue; // a semaphore
      const path = `/dev/shm/${file}`;
      const info = lstatOrNull(path);
      if (!info?.isFile || ("prefix" in query && !mine(info.uid))) continue;
      const name = `/${file}`;
      report.found.push(
        leftoverAt(SEGMENT_KIND, path, info, () => libc.shm_unlink(name), { name }),
      );
    }
  },
);
