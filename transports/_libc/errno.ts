/**
 * errno, read soundly, and {@linkcode LibcError}, the error a failed call becomes: which call,
 * which errno (`ENOENT`, …) and the system's own message.
 *
 * ## errno, and how it gets lost
 *
 * `errno` is not a return value. It is one `int` per thread, which every failing call on that
 * thread overwrites (and a successful one may too). In C, "read errno right after the call" is
 * easy, because nothing runs in between. In JavaScript much can: the runtime allocates a BigInt
 * for a 64-bit result, or an object for a closure; an allocation can start the garbage
 * collector; the runtime's own code makes system calls. Any of them can leave its own errno
 * behind. libc.ts once read errno with a second FFI call made after such allocations, and
 * about one benchmark run in fifty failed with `read failed: ENOENT`, a value read(2) never
 * returns. So here:
 *
 * - errno is read from memory, not by a call. `__errno_location()` gives the address of this
 *   thread's errno once, at load (a Worker loads its own copy of this module, on its own
 *   thread, and gets its own); an `Int32Array` over those 4 bytes reads it with a plain load.
 * - Every wrapper writes 0 there, makes the call and reads errno in the next statement: no
 *   call, no allocation and no return from a function in between. Deno hands a 64-bit result
 *   back as a BigInt, allocated before the wrapper could look at errno, so the `ssize_t`
 *   results of read, write and mq_receive are declared `i32`: on x86_64 and aarch64 that reads
 *   the low half of the result register, exact for every count below 2^31 (and Linux never
 *   moves more than 0x7ffff000 bytes in one call), while -1 stays -1. Trace lines and error
 *   messages are built only after errno has been read.
 * - Beside every wrapper stand the errno values its manual page documents. A failure with any
 *   other value, or with errno still 0, means errno was lost after all. A call that returned -1
 *   did nothing, so the wrapper makes it once more; if errno is lost again, it fails with a
 *   {@linkcode LibcError} that says so (code `ERRNO_LOST`), rather than act on a value that
 *   is not the call's. Two exceptions: close(2) is never made twice (Linux frees the
 *   descriptor even when close fails, and another thread may get that number at once); and
 *   read, write, sendmsg and recvmsg, whose pages allow "other errors, depending on the object
 *   connected to fd", take any errno but 0 as their own and are never made twice either (on a
 *   socket a failed call takes the pending error: a second try would read end-of-file where
 *   the connection broke, and a copy would end short without a word).
 *
 * A lost errno that happens to hold a value the call *can* fail with is not caught by the last
 * rule: only reading it soundly prevents that, which is why the first two rules come first.
 * Where a result can be known without errno (which descriptors poll(2) found ready is in
 * `revents`), it is taken from there.
 *
 * errno is per thread, so a `nonblocking: true` symbol, which runs on a worker thread, leaves
 * its errno there. Such symbols are only used to *park* (wait until something may have
 * changed); the real operation is then retried synchronously, where errno can be read.
 *
 * @module
 */

import { c } from "./ffi.ts";

/**
 * Linux errno numbers by name (the generic table, used by x86_64 and aarch64), for comparisons
 * such as `error.errno === Errno.EEXIST`.
 */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  ERANGE: 34,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENOMSG: 42,
  EIDRM: 43,
  ENONET: 64,
  ENOPKG: 65,
  EPROTO: 71,
  EOVERFLOW: 75,
  ENOTSOCK: 88,
  EDESTADDRREQ: 89,
  EMSGSIZE: 90,
  EPROTOTYPE: 91,
  ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  EISCONN: 106,
  ENOTCONN: 107,
  ETOOMANYREFS: 109,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTDOWN: 112,
  EHOSTUNREACH: 113,
  EALREADY: 114,
  EINPROGRESS: 115,
  EDQUOT: 122,
} as const;

const ERRNO_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Errno).map(([name, number]) => [number, name]),
);

/**
 * This thread's `errno`: the `int` whose address `__errno_location()` returns, seen through an
 * `Int32Array`, so that reading it is a load from memory, with no call and no allocation.
 * Resolved once, when the module loads: a thread's errno stays where it is for the thread's
 * life, and every thread that runs JavaScript (the main one, each Worker) loads its own copy of
 * this module.
 */
const THREAD_ERRNO: Int32Array = new Int32Array(
  Deno.UnsafePointerView.getArrayBuffer(c.__errno_location()!, 4),
);

/**
 * The cell every wrapper writes and reads: {@linkcode THREAD_ERRNO}, unless a test stands in.
 * The wrappers import it, and an imported binding is live: they see the stand-in at once.
 */
export let errnoCell: Int32Array = THREAD_ERRNO;

/**
 * A C function as this module calls it: its name, and the errno values its manual page lists
 * under ERRORS. Any other value after a failure means errno was lost (but see `anyErrno`).
 */
export interface Call {
  /** The function's name, as trace lines and messages show it. */
  readonly name: string;
  /** The errno values it is documented to fail with. */
  readonly errors: ReadonlySet<number>;
  /** Whether a failure whose errno was lost may be retried (never for close). */
  readonly retry: boolean;
  /**
   * The manual page allows other errors, "depending on the object connected to fd" (read,
   * write, sendmsg, recvmsg: a socket reports its network's errors, EHOSTUNREACH, ENETDOWN…).
   * Any errno but 0 is then the call's own, and the call is never made twice: a failed call
   * on a socket is not a no-op, it takes the socket's pending error, and a second try would
   * see what follows it (end-of-file, where the connection broke).
   */
  readonly anyErrno: boolean;
}

/**
 * Describes a call from its manual page: `errors` is the list of errno names under ERRORS,
 * separated by spaces. `retry: false` for a call that must never be made twice (close);
 * `anyErrno: true` for one whose page allows other errors (see {@linkcode Call}).
 */
export function documented(
  name: string,
  errors: string,
  options: { retry?: boolean; anyErrno?: boolean } = {},
): Call {
  const numbers = new Set<number>();
  for (const code of errors.trim().split(/\s+/)) {
    const number = (Errno as Record<string, number>)[code];
    if (number === undefined) throw new Error(`libc.ts: unknown errno ${code} for ${name}`);
    numbers.add(number);
  }
  const anyErrno = options.anyErrno ?? false;
  return { name, errors: numbers, retry: (options.retry ?? true) && !anyErrno, anyErrno };
}

/** Whether `errnum` is what `call` failed with: documented, or any but 0 where others may come. */
function isOwn(call: Call, errnum: number): boolean {
  return call.errors.has(errnum) || (call.anyErrno && errnum !== 0);
}

/** How many failures had lost their errno (see {@linkcode _errnoLostCount}). */
let lostCount = 0;

/**
 * Whether a call must be made once more: its first try failed (`failed`), and errno holds a
 * value the call is not documented to fail with, or still the 0 written before it. The failed
 * call did nothing, so nothing is done twice. Every wrapper asks this right after reading errno
 * (see `call.ts`).
 */
export function retry(call: Call, failed: boolean, errnum: number, tries: number): boolean {
  if (!failed || tries > 1 || !call.retry || isOwn(call, errnum)) return false;
  lostCount++;
  return true;
}

/**
 * The name of an errno number, such as `"ENOENT"` for 2.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errnoName } from "../libc.ts";
 * assert.equal(errnoName(2), "ENOENT");
 * assert.equal(errnoName(4095), "errno 4095"); // a number without a name
 * ```
 */
export function errnoName(errnum: number): string {
  return ERRNO_NAMES[errnum] ?? `errno ${errnum}`;
}

/** strerror's messages, by number: the same for the life of the process (the "C" locale). */
const messages = new Map<number, string>();

/**
 * The system's message for an errno, as `strerror(3)` gives it: "No such file or directory".
 * Accepts a number or a name (`"ENOENT"`), which is also what Deno puts in `error.code`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { strerror } from "../libc.ts";
 * assert.equal(strerror("EEXIST"), "File exists");
 * assert.equal(strerror(2), "No such file or directory");
 * ```
 */
export function strerror(errnum: number | string): string {
  const number = typeof errnum === "string" ? (Errno as Record<string, number>)[errnum] : errnum;
  if (number === undefined) return String(errnum);
  let message = messages.get(number);
  if (message === undefined) {
    message = Deno.UnsafePointerView.getCString(c.strerror(number)!);
    messages.set(number, message);
  }
  return message;
}

/**
 * A failed call into the C library: which call, which errno, and the system's message.
 *
 * When errno was lost (the call failed, but errno held a value the call cannot fail with, on
 * every try), `code` is `"ERRNO_LOST"` and `errno` is 0: no caller can mistake it for a real
 * error such as ENOENT.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Errno, LibcError, unlink } from "../libc.ts";
 * assert.throws(() => unlink("/no/such/file"), (error) => {
 *   assert.ok(error instanceof LibcError);
 *   assert.equal(error.call, "unlink");
 *   assert.equal(error.errno, Errno.ENOENT);
 *   assert.equal(error.code, "ENOENT");
 *   assert.equal(error.message, "unlink failed: ENOENT (No such file or directory)");
 *   return true;
 * });
 * ```
 */
export class LibcError extends Error {
  /** The C function that failed, such as `"mq_open"`. */
  readonly call: string;
  /** The errno number (0 when it was lost). */
  readonly errno: number;
  /** The errno name, such as `"ENOENT"`, or `"ERRNO_LOST"`. */
  readonly code: string;
  /** The system's message for the errno, such as `"No such file or directory"`. */
  readonly description: string;

  /**
   * Builds the error for `call` from an errno number. With `lostAfter` (a number of tries),
   * `errnum` is instead the value errno held after the last try, one the call cannot fail
   * with: the error says that errno was lost.
   */
  constructor(call: string, errnum: number, lostAfter?: number) {
    const lost = lostAfter !== undefined;
    const code = lost ? "ERRNO_LOST" : errnoName(errnum);
    const tries = lostAfter === 1 ? "" : `; tried ${lostAfter === 2 ? "twice" : lostAfter}`;
    const description = !lost
      ? strerror(errnum)
      : errnum === 0
      ? `errno was lost (still 0 after ${call} returned -1${tries})`
      : `errno was lost (it held ${errnoName(errnum)}, which ${call} cannot fail with${tries})`;
    super(`${call} failed: ${lost ? description : `${code} (${description})`}`);
    this.name = "LibcError";
    this.call = call;
    this.errno = lost ? 0 : errnum;
    this.code = code;
    this.description = description;
  }
}

/**
 * For tests only: how many failed calls have found errno lost so far (each try counts). It
 * stays 0 while errno is read soundly.
 */
export function _errnoLostCount(): number {
  return lostCount;
}

/**
 * For tests only: makes every wrapper write and read `cell` instead of this thread's errno,
 * so that a test can make errno look lost; `null` restores the real one. A stand-in whose
 * index 0 is a getter returning, say, ENOENT after a failed read plays a clobbered errno.
 */
export function _useErrnoCellForTests(cell: Int32Array | null): void {
  errnoCell = cell ?? THREAD_ERRNO;
}

/**
 * The error for a failed call: a {@linkcode LibcError} for its errno, or, when errno holds a
 * value the call is not documented to fail with, one that says errno was lost.
 */
export function errorFor(call: Call, errnum: number, tries: number): LibcError {
  if (isOwn(call, errnum)) return new LibcError(call.name, errnum);
  lostCount++;
  return new LibcError(call.name, errnum, tries);
}
