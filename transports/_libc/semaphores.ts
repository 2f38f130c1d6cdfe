/**
 * POSIX named semaphores: sem_open(3) makes or opens one, sem_post(3) adds one to its count,
 * sem_trywait(3) and sem_clockwait(3) take one, and sem_unlink(3) removes the name.
 *
 * sem_post and sem_trywait are the hot paths of the shared-memory lesson: when they succeed
 * and tracing is off, they return at once, with nothing allocated.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { O, sem_close, sem_getvalue, sem_open, sem_post, sem_trywait } from "../libc.ts";
 * import { sem_unlink, WOULD_BLOCK } from "../libc.ts";
 * const name = `/ipc-lesson-example-${Deno.pid}-semaphore`;
 * const sem = sem_open(name, O.CREAT | O.EXCL, 0o600, 1);
 * sem_unlink(name); // the semaphore lives on while it is open
 * assert.equal(sem_trywait(sem), 0); // 1 → 0
 * assert.equal(sem_trywait(sem), WOULD_BLOCK); // at zero, a wait would have to wait
 * sem_post(sem);
 * assert.equal(sem_getvalue(sem), 1);
 * sem_close(sem);
 * ```
 *
 * @module
 */

import { ALREADY_EXPIRED, bytesOf, check, cstring, timespecOf, tryCheck } from "./call.ts";
import { O, WOULD_BLOCK } from "./constants.ts";
import { documented, errnoCell, errorFor, retry } from "./errno.ts";
import { c } from "./ffi.ts";
import { OPEN_ERRORS, UNLINK_ERRORS } from "./files.ts";
import { monotonicMs } from "./system.ts";
import { creationFlags, failed, octal, quote, tracer } from "./trace.ts";

// sem_open(3), and the errors of the calls glibc makes for it in /dev/shm: open(2), write(2)
// (the new semaphore's bytes), mmap(2) and link(2) (to give the new file its name at once).
const SEM_OPEN = documented(
  "sem_open",
  "EACCES EEXIST EINVAL EMFILE ENAMETOOLONG ENFILE ENOENT ENOMEM   " +
    `${OPEN_ERRORS} EIO EPIPE EAGAIN EMLINK EXDEV`,
);

/** `sem_open(3)`: opens (or with `O.CREAT`, creates with `value`) a named semaphore. */
export function sem_open(name: string, oflag: number, mode = 0, value = 0): Deno.PointerObject {
  const cname = cstring(name);
  let sem: Deno.PointerValue, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    sem = c.sem_open(cname, oflag, mode, value);
    errnum = errnoCell[0]!;
    // SEM_FAILED is (sem_t *) 0 in glibc, which Deno hands back as null: nothing allocated.
  } while (retry(SEM_OPEN, sem === null, errnum, ++tries));
  const args = () =>
    // sem_open takes no access mode: a semaphore is always open for waiting and posting.
    `${quote(name)}, ${creationFlags(oflag)}${oflag & O.CREAT ? `, ${octal(mode)}, ${value}` : ""}`;
  if (sem === null) {
    const error = errorFor(SEM_OPEN, errnum, tries);
    tracer?.(`sem_open(${args()}) = SEM_FAILED ${failed(error).slice(3)}`);
    throw error;
  }
  tracer?.(`sem_open(${args()}) = 0x${Deno.UnsafePointer.value(sem).toString(16)}`);
  return sem;
}

const semArg = (sem: Deno.PointerObject) => `0x${Deno.UnsafePointer.value(sem).toString(16)}`;

const SEM_CLOSE = documented("sem_close", "EINVAL");

/** `sem_close(3)`: closes this process's handle on a named semaphore. */
export function sem_close(sem: Deno.PointerObject): void {
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.sem_close(sem);
    errnum = errnoCell[0]!;
  } while (retry(SEM_CLOSE, r === -1, errnum, ++tries));
  check(SEM_CLOSE, r, errnum, tries, () => semArg(sem));
}

// sem_unlink(3), and unlink(2)'s errors, which come through it (glibc unlinks
// /dev/shm/sem.NAME).
const SEM_UNLINK = documented("sem_unlink", `EACCES ENAMETOOLONG ENOENT   ${UNLINK_ERRORS}`);

/** `sem_unlink(3)`: removes a semaphore's name (`/dev/shm/sem.NAME`). */
export function sem_unlink(name: string): void {
  const cname = cstring(name);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.sem_unlink(cname);
    errnum = errnoCell[0]!;
  } while (retry(SEM_UNLINK, r === -1, errnum, ++tries));
  check(SEM_UNLINK, r, errnum, tries, () => quote(name));
}

const SEM_POST = documented("sem_post", "EINVAL EOVERFLOW");

/** `sem_post(3)`: adds one to the count, waking a waiter if there is one. */
export function sem_post(sem: Deno.PointerObject): void {
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.sem_post(sem);
    errnum = errnoCell[0]!;
    if (r === 0 && tracer === null) return;
  } while (retry(SEM_POST, r === -1, errnum, ++tries));
  check(SEM_POST, r, errnum, tries, () => semArg(sem));
}

// sem_wait(3) documents sem_wait, sem_trywait and sem_timedwait together.
const SEM_TRYWAIT = documented("sem_trywait", "EAGAIN EINTR EINVAL ETIMEDOUT");

/** `sem_trywait(3)`: takes one from the count if it is above zero; WOULD_BLOCK if it is zero. */
export function sem_trywait(sem: Deno.PointerObject): 0 | typeof WOULD_BLOCK {
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.sem_trywait(sem);
    errnum = errnoCell[0]!;
    if (r === 0 && tracer === null) return 0;
  } while (retry(SEM_TRYWAIT, r === -1, errnum, ++tries));
  return tryCheck(SEM_TRYWAIT, r, errnum, tries, () => semArg(sem)) === WOULD_BLOCK
    ? WOULD_BLOCK
    : 0;
}

// sem_clockwait is documented with sem_wait (glibc adds it to the same page).
const SEM_CLOCKWAIT = documented("sem_clockwait", "EAGAIN EINTR EINVAL ETIMEDOUT");

/** CLOCK_MONOTONIC's number (Linux): the clock the waits' deadlines are on. */
const CLOCK_MONOTONIC = 1;

/**
 * A `struct timespec` `ms` milliseconds from now on CLOCK_MONOTONIC. (sem_timedwait's
 * deadline is on CLOCK_REALTIME, the wall clock: set back by an hour during a wait of 10 ms on
 * the main thread, it would freeze the event loop for that hour.)
 */
function monotonicDeadlineIn(ms: number): Uint8Array<ArrayBuffer> {
  return bytesOf(timespecOf(monotonicMs() + Math.max(0, ms)));
}

/**
 * `sem_clockwait(3)` on CLOCK_MONOTONIC, on this thread: takes one from the count, waiting at
 * most `ms` milliseconds (0: not at all) for it to rise above zero; WOULD_BLOCK when it did not
 * in time. The event loop stands still meanwhile, so `ms` must be short; use
 * {@linkcode sem_clockwaitPark} for longer waits.
 */
export function sem_clockwait(sem: Deno.PointerObject, ms: number): 0 | typeof WOULD_BLOCK {
  const at = ms <= 0 ? bytesOf(ALREADY_EXPIRED) : monotonicDeadlineIn(ms);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.sem_clockwait(sem, CLOCK_MONOTONIC, at);
    errnum = errnoCell[0]!;
  } while (retry(SEM_CLOCKWAIT, r === -1, errnum, ++tries));
  return tryCheck(
      SEM_CLOCKWAIT,
      r,
      errnum,
      tries,
      () => `${semArg(sem)}, CLOCK_MONOTONIC, <now+${ms} ms>`,
    ) === WOULD_BLOCK
    ? WOULD_BLOCK
    : 0;
}

/**
 * Polls a semaphore for at most `us` microseconds without sleeping in the kernel:
 * `sem_trywait(3)`, with `sched_yield(2)` between tries so that a peer waiting for this CPU can
 * run and post. When the peer posts within microseconds, as two processes streaming through
 * shared memory do, this saves a futex sleep and a wake-up, which cost tens of microseconds
 * (more when a halted CPU must be woken). Returns true when it took one. errno is not read: for
 * a valid semaphore, sem_trywait fails only while the count is zero. Traced as one line.
 */
export function sem_trywaitSpin(sem: Deno.PointerObject, us: number): boolean {
  const until = performance.now() + us / 1000;
  let tries = 0;
  let took = false;
  do {
    tries++;
    if (c.sem_trywait(sem) === 0) {
      took = true;
      break;
    }
    c.sched_yield();
  } while (performance.now() < until);
  tracer?.(
    `sem_trywait(${semArg(sem)}) ×${tries}, sched_yield() between, for up to ${us} µs = ${
      took ? "0" : "-1 EAGAIN"
    }`,
  );
  return took;
}

/**
 * Parks in `sem_clockwait(3)` (CLOCK_MONOTONIC) on a worker thread for at most `ms`. Resolves
 * to true when it took one from the count, false otherwise (time ran out, or an error whose
 * errno is lost on the worker thread: the caller retries synchronously to see it).
 */
export async function sem_clockwaitPark(sem: Deno.PointerObject, ms: number): Promise<boolean> {
  const r = await c.sem_clockwait_park(sem, CLOCK_MONOTONIC, monotonicDeadlineIn(ms));
  tracer?.(`sem_clockwait(${semArg(sem)}, CLOCK_MONOTONIC, <now+${ms} ms>) = ${r}`);
  return r === 0;
}

const SEM_GETVALUE = documented("sem_getvalue", "EINVAL");

/** `sem_getvalue(3)`: the current count. */
export function sem_getvalue(sem: Deno.PointerObject): number {
  const value = new Int32Array(1);
  const buf = new Uint8Array(value.buffer);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.sem_getvalue(sem, buf);
    errnum = errnoCell[0]!;
  } while (retry(SEM_GETVALUE, r === -1, errnum, ++tries));
  // As strace shows an int the call wrote: `[1]`.
  check(
    SEM_GETVALUE,
    r,
    errnum,
    tries,
    () => `${semArg(sem)}, ${r === 0 ? `[${value[0]}]` : "<int *>"}`,
  );
  return value[0]!;
}
