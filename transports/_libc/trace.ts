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

/** Formats flag bits by name: `O_WRONLY|O_NONBLOCK`. */
function flags(value: number, names: Record<string, number>, prefix: string): string {
  const parts: string[] = [];
  let rest = value;
  for (const [name, bit] of Object.entries(names)) {
    if (bit !== 0 && (value & bit) === bit) {
      parts.push(prefix + name);
      rest &= ~bit;
    }
  }
  if (prefix === "O_" && (value & 3) === 0) parts.unshift("O_RDONLY");
  if (rest !== 0) parts.push(`0x${rest.toString(16)}`);
  return parts.join("|") || "0";
}

export const openFlags = (value: number) => flags(value, O, "O_");
export const pollEvents = (value: number) => flags(value, POLL, "POLL");
export const octal = (mode: number) => `0${mode.toString(8)}`;
export const quote = (s: string) => JSON.stringify(s);
