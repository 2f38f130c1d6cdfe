/**
 * The numbers the C headers give names to: flags for open(2), commands for fcntl(2), event bits
 * for poll(2), mmap(2)'s protection bits, and the value a non-blocking call returns when it
 * would have to wait.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { O } from "./constants.ts";
 * assert.equal(O.WRONLY | O.CREAT | O.EXCL, 0o301); // as in <fcntl.h>
 * ```
 *
 * @module
 */

// Linux; the values are the same on x86_64 and aarch64 unless noted.

/** Flags for `open(2)`, `mq_open(3)`, `shm_open(3)` and `sem_open(3)`. */
export const O = {
  RDONLY: 0o0,
  WRONLY: 0o1,
  RDWR: 0o2,
  CREAT: 0o100,
  EXCL: 0o200,
  NONBLOCK: 0o4000,
  CLOEXEC: 0o2000000,
  /** A descriptor that only names a file: no reading, no writing, and no side effects. */
  PATH: 0o10000000,
  // The flags here whose values differ between architectures.
  NOFOLLOW: Deno.build.arch === "aarch64" ? 0o100000 : 0o400000,
  /** An unnamed file in the given directory; it gets a name only with linkat(2). */
  TMPFILE: 0o20000000 | (Deno.build.arch === "aarch64" ? 0o40000 : 0o200000),
} as const;

/** Commands for `fcntl(2)`. */
export const F = { GETFL: 3, SETFL: 4, SETPIPE_SZ: 1031, GETPIPE_SZ: 1032 } as const;

/** Event bits for `poll(2)`. */
export const POLL = { IN: 0x1, OUT: 0x4, ERR: 0x8, HUP: 0x10, NVAL: 0x20 } as const;

/** Protection and flag bits for `mmap(2)`. */
export const PROT = { READ: 0x1, WRITE: 0x2 } as const;
/** `MAP_SHARED`: stores are visible to every process that maps the same object. */
export const MAP_SHARED = 0x1;

/**
 * `MQ_PRIO_MAX`: message priorities run from 0 to one below it. POSIX asks for at least 32;
 * Linux fixes it at 32768 (what `sysconf(_SC_MQ_PRIO_MAX)` returns there), and mq_send(3)
 * fails with EINVAL above it.
 */
export const MQ_PRIO_MAX = 32768;

/** Returned instead of a count when a call on a non-blocking descriptor would have to wait. */
export const WOULD_BLOCK: unique symbol = Symbol("WOULD_BLOCK");
