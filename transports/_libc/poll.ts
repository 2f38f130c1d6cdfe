/**
 * Pipes and waiting on descriptors: pipe2(2) and mkfifo(3) make pipes; poll(2) waits until a
 * descriptor is ready, on this thread ({@linkcode poll}, {@linkcode pollSpin}) or parked on a
 * worker thread while the event loop keeps turning ({@linkcode pollPark}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { close, O, pipe2, poll, POLL, read, WOULD_BLOCK, write } from "../libc.ts";
 * const [readFd, writeFd] = pipe2(O.NONBLOCK | O.CLOEXEC);
 * const buf = new Uint8Array(16);
 * assert.equal(read(readFd, buf), WOULD_BLOCK); // empty: waiting is a branch, not an error
 * assert.equal(poll(readFd, POLL.IN, 0), 0); // nothing to read yet
 * assert.equal(write(writeFd, new Uint8Array([1, 2, 3])), 3);
 * assert.equal(poll(readFd, POLL.IN, 0), POLL.IN);
 * assert.equal(read(readFd, buf), 3);
 * close(writeFd);
 * assert.equal(poll(readFd, POLL.IN, 0) & POLL.HUP, POLL.HUP); // the writer is gone
 * assert.equal(read(readFd, buf), 0); // end of file
 * close(readFd);
 * ```
 *
 * @module
 */

import { check, cstring, tryCheck } from "./call.ts";
import { WOULD_BLOCK } from "./constants.ts";
import { documented, errnoCell, retry } from "./errno.ts";
import { c } from "./ffi.ts";
import { creationFlags, octal, pollEvents, quote, tracer } from "./trace.ts";

function pollfd(fd: number, events: number): Uint8Array<ArrayBuffer> {
  // struct pollfd { int fd; short events; short revents; };
  const buf = new Uint8Array(8);
  const view = new DataView(buf.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, events, true);
  return buf;
}

const revents = (buf: Uint8Array) => new DataView(buf.buffer).getInt16(6, true);

/**
 * poll's result as strace shows it: how many descriptors are ready, and what happened to
 * each, `1 ([{fd=5, revents=POLLIN|POLLHUP}])`; or `0 (Timeout)`.
 */
const pollResult = (fd: number, n: number, ready: number) =>
  n > 0 ? `${n} ([{fd=${fd}, revents=${pollEvents(ready)}}])` : n === 0 ? "0 (Timeout)" : `${n}`;

const POLL_CALL = documented("poll", "EFAULT EINTR EINVAL ENOMEM");

/**
 * `poll(2)` on one descriptor, on this thread: waits at most `ms` milliseconds (0: not at all)
 * until `fd` is ready for `events`. Returns the `revents` bits (POLL.HUP and POLL.ERR may be
 * among them), or 0 when the time ran out. The event loop stands still meanwhile, so `ms` must
 * be short; use {@linkcode pollPark} for longer waits.
 *
 * What happened to the descriptor is read from `revents`, not from errno: a descriptor that
 * is not open is POLL.NVAL there, not a failure. poll itself fails only when it could not
 * wait (EINTR: a signal arrived, which counts as "nothing ready yet"; the caller looks again).
 */
export function poll(fd: number, events: number, ms: number): number {
  const buf = pollfd(fd, events);
  let n: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    n = c.poll(buf, 1n, ms);
    errnum = errnoCell[0]!;
  } while (retry(POLL_CALL, n === -1, errnum, ++tries));
  const ready = tryCheck(
    POLL_CALL,
    n,
    errnum,
    tries,
    () => `[{fd=${fd}, events=${pollEvents(events)}}], 1, ${ms}`,
    (n) => pollResult(fd, n, revents(buf)),
  );
  return ready !== WOULD_BLOCK && ready > 0 ? revents(buf) : 0;
}

/**
 * Polls one descriptor for at most `us` microseconds without sleeping in the kernel:
 * `poll(2)` with a timeout of 0, and `sched_yield(2)` between tries so that a peer waiting for
 * this CPU can run. When the peer acts within microseconds, as two processes streaming through
 * a message queue do, this saves a sleep and a wake-up, which cost tens of microseconds (more
 * when a halted CPU must be woken). Returns the `revents` bits, or 0 when the time ran out.
 * errno is not read: the answer is in `revents`, and a failure (EINTR) counts as "not ready
 * yet", like a timeout; the caller's next synchronous call reports any real error. Traced as
 * one line.
 */
export function pollSpin(fd: number, events: number, us: number): number {
  spinPollfd.setInt32(0, fd, true);
  spinPollfd.setInt16(4, events, true);
  const until = performance.now() + us / 1000;
  let tries = 0;
  let ready = 0;
  do {
    tries++;
    if (c.poll(spinPollfdBytes, 1n, 0) > 0) {
      ready = spinPollfd.getInt16(6, true);
      break;
    }
    c.sched_yield();
  } while (performance.now() < until);
  tracer?.(
    `poll([{fd=${fd}, events=${pollEvents(events)}}], 1, 0) ×${tries}, sched_yield() between, ` +
      `for up to ${us} µs = ${pollResult(fd, ready ? 1 : 0, ready)}`,
  );
  return ready;
}

// struct pollfd for pollSpin, made once: it runs on the main thread only, one call at a time.
const spinPollfdBytes = new Uint8Array(8);
const spinPollfd = new DataView(spinPollfdBytes.buffer);

/**
 * Parks in `poll(2)` on a worker thread until `fd` is ready for `events` or `ms` have passed,
 * while the event loop keeps running (timers, signal handlers). Resolves to the `revents` bits,
 * or 0 when the time ran out or the wait was interrupted: the caller simply tries again.
 */
export async function pollPark(fd: number, events: number, ms: number): Promise<number> {
  const buf = pollfd(fd, events);
  const n = await c.poll_park(buf, 1n, Math.max(0, Math.ceil(ms)));
  // errno belongs to the worker thread, so a failure is not inspected: the caller's next
  // synchronous attempt will report any real error.
  const ready = n > 0 ? revents(buf) : 0;
  tracer?.(
    `poll([{fd=${fd}, events=${pollEvents(events)}}], 1, ${Math.ceil(ms)}) = ${
      pollResult(fd, n, ready)
    }`,
  );
  return ready;
}

const NO_FDS = new Uint8Array(8);

/**
 * Gives the event loop one turn: a `poll(2)` on no descriptors with a zero timeout, on a worker
 * thread. Returns at once, yet the event loop runs while it does, so pending timers and signal
 * listeners get to run (about 0.05–0.2 ms, where `setTimeout(0)` costs 2 ms). Not traced: it is
 * not a step of the lesson.
 */
export async function yieldToEventLoop(): Promise<void> {
  await c.poll_park(NO_FDS, 0n, 0);
}

const PIPE2 = documented("pipe2", "EFAULT EINVAL EMFILE ENFILE ENOPKG");

/** `pipe2(2)`: a new pipe; returns `[readFd, writeFd]`. */
export function pipe2(flags: number): [number, number] {
  const fds = new Int32Array(2);
  const fdsBytes = new Uint8Array(fds.buffer);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.pipe2(fdsBytes, flags);
    errnum = errnoCell[0]!;
  } while (retry(PIPE2, r === -1, errnum, ++tries));
  // pipe2 takes no access mode (the read end is read-only, the write end write-only).
  check(PIPE2, r, errnum, tries, () => `[${fds[0]}, ${fds[1]}], ${creationFlags(flags)}`);
  return [fds[0]!, fds[1]!];
}

// mkfifo(3), with the errors of mknod(2), on which glibc builds it.
const MKFIFO = documented(
  "mkfifo",
  "EACCES EBADF EDQUOT EEXIST ENAMETOOLONG ENOENT ENOSPC ENOTDIR EROFS   EFAULT EINVAL ELOOP " +
    "ENOMEM EPERM",
);

/** `mkfifo(3)`: creates a FIFO (named pipe) at `path`; fails with EEXIST if anything is there. */
export function mkfifo(path: string, mode: number): void {
  const pathname = cstring(path);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.mkfifo(pathname, mode);
    errnum = errnoCell[0]!;
  } while (retry(MKFIFO, r === -1, errnum, ++tries));
  check(MKFIFO, r, errnum, tries, () => `${quote(path)}, ${octal(mode)}`);
}
