/**
 * What every wrapper shares: C arguments made from JavaScript values (strings, sizes,
 * deadlines), and the outcome of a call: its result, {@linkcode WOULD_BLOCK}, or a
 * {@linkcode LibcError}, traced.
 *
 * Every wrapper has the same core, the C idiom `errno = 0; r = f(…); e = errno;`, made in
 * consecutive statements, and repeated once if errno was lost (see `errno.ts`):
 *
 *     do {
 *       errnoCell[0] = 0;
 *       r = c.f(…);
 *       errnum = errnoCell[0]!;
 *     } while (retry(F, r === -1, errnum, ++tries));
 *
 * Arguments (C strings, BigInts) are made before it; trace lines and errors after it, by the
 * functions here. The core itself is written out in each wrapper, calling the symbol directly:
 * a helper in between would be one more call on every hot path, and a place where errno could
 * be lost.
 *
 * @module
 */

import { WOULD_BLOCK } from "./constants.ts";
import { type Call, Errno, errnoName, errorFor, type LibcError, strerror } from "./errno.ts";
import { failed, quote, tracer } from "./trace.ts";

const encoder = new TextEncoder();

/** A NUL-terminated UTF-8 copy of `s`, as C expects a `const char *`. */
export function cstring(s: string): Uint8Array<ArrayBuffer> {
  if (s.includes("\0")) throw new TypeError(`Name contains a NUL byte: ${quote(s)}`);
  return encoder.encode(s + "\0");
}

/**
 * A `size_t` argument as the BigInt that Deno's fast calls take, remembered: a hot loop passes
 * the same length again and again, and `BigInt(n)` would make a new one every time. (A plain
 * number is accepted too, but takes Deno's slow path, measured about 0.25 µs a call slower.)
 */
export class SizeArgument {
  #number = 0;
  #bigint = 0n;

  /** `BigInt(n)`, made only when `n` differs from the last one. */
  of(n: number): bigint {
    if (n !== this.#number) {
      this.#bigint = BigInt(n);
      this.#number = n;
    }
    return this.#bigint;
  }
}

/** A `struct timespec` holding the time `at`, in milliseconds (on whichever clock). */
export function timespecOf(at: number): BigInt64Array<ArrayBuffer> {
  const seconds = Math.floor(at / 1000);
  return new BigInt64Array([BigInt(seconds), BigInt(Math.round((at - seconds * 1000) * 1e6))]);
}

/** A `struct timespec` holding the absolute time `ms` milliseconds from now on CLOCK_REALTIME. */
export function deadlineIn(ms: number): BigInt64Array<ArrayBuffer> {
  return timespecOf(Date.now() + Math.max(0, ms));
}

/** A `struct timespec` in the past: a timed call given it never waits. */
export const ALREADY_EXPIRED = new BigInt64Array([0n, 0n]);

/**
 * The outcome of a call that returns -1 on failure, given the errno read right after it:
 * returns the result, or throws a {@linkcode LibcError}. `tries` is how many times the call
 * was made; `args` formats its arguments for the trace line, and `result` its result (what
 * strace adds after it, such as the flags `fcntl(F_GETFL)` returned); both are called only
 * when tracing, after the call, so they can show what the call wrote into its buffers.
 */
export function check(
  call: Call,
  value: number,
  errnum: number,
  tries: number,
  args: () => string,
  result: (value: number) => string = String,
): number {
  if (value !== -1) {
    tracer?.(`${call.name}(${args()}) = ${result(value)}`);
    return value;
  }
  throw failure(call, errnum, tries, args);
}

/** {@linkcode errorFor}, traced: `unlink("/x") = -1 ENOENT (No such file or directory)`. */
export function failure(call: Call, errnum: number, tries: number, args: () => string): LibcError {
  const error = errorFor(call, errnum, tries);
  tracer?.(`${call.name}(${args()}) = ${failed(error)}`);
  return error;
}

/**
 * Like {@linkcode check}, but a call that would block (EAGAIN, or EINTR for an interrupted
 * one, or ETIMEDOUT for a timed call given a deadline in the past) returns WOULD_BLOCK. (On a
 * socket, ETIMEDOUT is the connection's end, not a deadline: an error, as the call says.)
 */
export function tryCheck(
  call: Call,
  value: number,
  errnum: number,
  tries: number,
  args: () => string,
  result?: (value: number) => string,
): number | typeof WOULD_BLOCK {
  if (
    value === -1 && call.errors.has(errnum) &&
    (errnum === Errno.EAGAIN || errnum === Errno.EINTR ||
      (errnum === Errno.ETIMEDOUT && !call.anyErrno))
  ) {
    tracer?.(`${call.name}(${args()}) = -1 ${errnoName(errnum)} (${strerror(errnum)})`);
    return WOULD_BLOCK;
  }
  return check(call, value, errnum, tries, args, result);
}

/** The bytes of a C struct held in a `BigInt64Array`, as a `"buffer"` parameter takes them. */
export const bytesOf = (array: BigInt64Array<ArrayBuffer>) => new Uint8Array(array.buffer);
