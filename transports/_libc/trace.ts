/**
 * Tracing: with {@linkcode traceCalls}, every call made through libc.ts is reported in the
 * style of `strace`, `write(5, <65536 bytes>, 65536) = 65536`; and the helpers that write
 * arguments the way strace does (`O_WRONLY|O_NONBLOCK`, `0600`, `"/name"`).
 *
 * A wrapper builds its trace line only after errno has been read, and only when tracing is on:
 * the hot paths test `tracer === null` and return, with nothing to allocate.
 *
 * @module
 */

import { O, POLL } from "./constants.ts";
import type { LibcError } from "./errno.ts";

/**
 * Where trace lines go, or null when tracing is off. The wrappers import it, and an imported
 * binding is live: they see {@linkcode traceCalls}'s change at once.
 */
export let tracer: ((line: string) => void) | null = null;

/**
 * Reports every call made through libc.ts to `fn`, one line per call, in the style of
 * `strace`; `null` turns tracing off.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { close, O, open, traceCalls } from "../libc.ts";
 * const lines: string[] = [];
 * traceCalls((line) => lines.push(line)); // or console.error, as `--trace` does
 * const fd = open("/dev/null", O.RDONLY | O.CLOEXEC);
 * close(fd);
 * traceCalls(null);
 * assert.deepEqual(lines, [
 *   `open("/dev/null", O_RDONLY|O_CLOEXEC) = ${fd}`,
 *   `close(${fd}) = 0`,
 * ]);
 * ```
 */
export function traceCalls(fn: ((line: string) => void) | null): void {
  tracer = fn;
}

/**
 * How a failure reads in a trace line: `-1 ENOENT (No such file or directory)`, or
 * `-1 errno was lost (…)`.
 */
export function failed(error: LibcError): string {
  return error.errno === 0 ? `-1 ${error.description}` : `-1 ${error.code} (${error.description})`;
}

/**
 * Every flag of open(2) a trace line may have to name: those the lessons pass ({@linkcode O}),
 * and those only the kernel reports back through `fcntl(F_GETFL)` (O_LARGEFILE, which Linux
 * sets on every file a 64-bit process opens) or that a student may try.
 */
const OPEN_FLAG_NAMES: Record<string, number> = {
  ...O,
  APPEND: 0o2000,
  ASYNC: 0o20000,
  SYNC: 0o4010000, // __O_SYNC | O_DSYNC
  DSYNC: 0o10000,
  NOATIME: 0o1000000,
  // The flags here whose values differ between architectures.
  DIRECT: Deno.build.arch === "aarch64" ? 0o200000 : 0o40000,
  LARGEFILE: Deno.build.arch === "aarch64" ? 0o400000 : 0o100000,
  DIRECTORY: Deno.build.arch === "aarch64" ? 0o40000 : 0o200000,
};

const bitsIn = (n: number) => n.toString(2).replaceAll("0", "").length;

/**
 * Formats flag bits by name, as strace does: lowest bit first, each bit named once (a flag made
 * of several bits, such as O_TMPFILE, which includes O_DIRECTORY's, is looked for first), what
 * has no name in hexadecimal; "0" for none.
 */
function flags(value: number, names: Record<string, number>, prefix: string): string {
  const found: [string, number][] = [];
  let rest = value;
  const widestFirst = Object.entries(names).sort(([, a], [, b]) => bitsIn(b) - bitsIn(a));
  for (const [name, bits] of widestFirst) {
    if (bits !== 0 && (rest & bits) === bits) {
      found.push([prefix + name, bits]);
      rest &= ~bits;
    }
  }
  const parts = found.sort(([, a], [, b]) => a - b).map(([name]) => name);
  if (rest !== 0) parts.push(`0x${rest.toString(16)}`);
  return parts.join("|") || "0";
}

const ACCESS_MODES = ["O_RDONLY", "O_WRONLY", "O_RDWR", "0x3"];

/**
 * The flags of a call that opens something with an access mode (open, mq_open, shm_open), or
 * of `fcntl(F_GETFL)`'s answer: the mode first, `O_RDONLY|O_NONBLOCK`.
 */
export const openFlags = (value: number): string => {
  const others = flags(value & ~3, OPEN_FLAG_NAMES, "O_");
  return ACCESS_MODES[value & 3] + (others === "0" ? "" : `|${others}`);
};
/**
 * The flags of a call that takes no access mode (pipe2, sem_open, mq_setattr's `mq_flags`):
 * `O_NONBLOCK|O_CLOEXEC`, or `0`. A pipe's ends have their own modes, and a semaphore has none.
 */
export const creationFlags = (value: number): string => flags(value, OPEN_FLAG_NAMES, "O_");
export const pollEvents = (value: number): string => flags(value, POLL, "POLL");
export const octal = (mode: number): string => `0${mode.toString(8)}`;
export const quote = (s: string): string => JSON.stringify(s);
