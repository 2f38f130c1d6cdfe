/**
 * POSIX message queues: mq_open(3) makes or opens a queue, mq_send(3) and mq_receive(3) move
 * one message each (mq_timedsend(3) and mq_timedreceive(3) wait at most so long), and
 * mq_unlink(3) removes the name.
 *
 * mq_send and mq_receive carry the bytes of the message-queue lesson: when they succeed and
 * tracing is off, they return at once, with nothing allocated.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mq_close, mq_getattr, mq_open, mq_receive, mq_send, mq_unlink } from "../libc.ts";
 * import { O, WOULD_BLOCK } from "../libc.ts";
 * const name = `/ipc-lesson-example-${Deno.pid}-queue`;
 * const attr = { maxmsg: 2, msgsize: 64 };
 * const mq = mq_open(name, O.RDWR | O.CREAT | O.EXCL | O.NONBLOCK, 0o600, attr);
 * mq_unlink(name); // the queue itself lives on until its last descriptor is closed
 * assert.equal(mq_send(mq, new TextEncoder().encode("hi")), 0);
 * assert.equal(mq_getattr(mq).curmsgs, 1);
 * const buf = new Uint8Array(attr.msgsize); // room for the largest message
 * assert.equal(mq_receive(mq, buf), 2);
 * assert.equal(mq_receive(mq, buf), WOULD_BLOCK); // empty, and O_NONBLOCK
 * // Priorities: the higher one is taken first, whatever the order of sending.
 * mq_send(mq, new TextEncoder().encode("low"), 1);
 * mq_send(mq, new TextEncoder().encode("urgent"), 9);
 * const prio = new Uint32Array(1); // unsigned int msg_prio
 * assert.equal(mq_receive(mq, buf, prio), 6);
 * assert.equal(prio[0], 9);
 * assert.equal(mq_receive(mq, buf, prio), 3);
 * assert.equal(prio[0], 1);
 * mq_close(mq);
 * ```
 *
 * @module
 */

import {
  ALREADY_EXPIRED,
  bytesOf,
  check,
  cstring,
  deadlineIn,
  SizeArgument,
  tryCheck,
} from "./call.ts";
import { O, WOULD_BLOCK } from "./constants.ts";
import { documented, errnoCell, retry } from "./errno.ts";
import { c } from "./ffi.ts";
import { creationFlags, octal, openFlags, quote, tracer } from "./trace.ts";

/** The fields of `struct mq_attr` that matter. */
export interface MqAttr {
  /** `mq_flags`: 0 or `O.NONBLOCK`. */
  flags: number;
  /** `mq_maxmsg`: how many messages the queue holds before a sender must wait. */
  maxmsg: number;
  /** `mq_msgsize`: the largest message, in bytes. */
  msgsize: number;
  /** `mq_curmsgs`: how many messages are in the queue now. */
  curmsgs: number;
}

// struct mq_attr { long mq_flags, mq_maxmsg, mq_msgsize, mq_curmsgs; long __reserved[4]; };
function mqAttrStruct(attr?: Partial<MqAttr>): BigInt64Array<ArrayBuffer> {
  const s = new BigInt64Array(8);
  s[0] = BigInt(attr?.flags ?? 0);
  s[1] = BigInt(attr?.maxmsg ?? 0);
  s[2] = BigInt(attr?.msgsize ?? 0);
  s[3] = BigInt(attr?.curmsgs ?? 0);
  return s;
}

const MQ_OPEN = documented(
  "mq_open",
  "EACCES EEXIST EINVAL EMFILE ENAMETOOLONG ENFILE ENOENT ENOMEM ENOSPC",
);

/**
 * `mq_open(3)`: opens (or with `O.CREAT`, creates) a message queue and returns its descriptor.
 * `attr` sets `mq_maxmsg` and `mq_msgsize` when the queue is created.
 */
export function mq_open(
  name: string,
  oflag: number,
  mode = 0,
  attr?: Pick<MqAttr, "maxmsg" | "msgsize">,
): number {
  const attrBuf = attr ? bytesOf(mqAttrStruct(attr)) : null;
  const cname = cstring(name);
  let mqdes: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    mqdes = c.mq_open(cname, oflag, mode, attrBuf);
    errnum = errnoCell[0]!;
  } while (retry(MQ_OPEN, mqdes === -1, errnum, ++tries));
  return check(MQ_OPEN, mqdes, errnum, tries, () => {
    const shown = attr ? `{mq_maxmsg=${attr.maxmsg}, mq_msgsize=${attr.msgsize}}` : "NULL";
    return `${quote(name)}, ${openFlags(oflag)}${
      oflag & O.CREAT ? `, ${octal(mode)}, ${shown}` : ""
    }`;
  });
}

// Never retried, like close(2), which it is on Linux.
const MQ_CLOSE = documented("mq_close", "EBADF", { retry: false });

/** `mq_close(3)`: closes a message-queue descriptor (the queue itself lives on). */
export function mq_close(mqdes: number): void {
  errnoCell[0] = 0;
  const r = c.mq_close(mqdes);
  const errnum = errnoCell[0]!;
  check(MQ_CLOSE, r, errnum, 1, () => `${mqdes}`);
}

// mq_unlink(3), and EINVAL, which glibc returns for a name without its leading slash.
const MQ_UNLINK = documented("mq_unlink", "EACCES ENAMETOOLONG ENOENT   EINVAL");

/** `mq_unlink(3)`: removes a queue's name; the queue goes once every descriptor is closed. */
export function mq_unlink(name: string): void {
  const cname = cstring(name);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.mq_unlink(cname);
    errnum = errnoCell[0]!;
  } while (retry(MQ_UNLINK, r === -1, errnum, ++tries));
  check(MQ_UNLINK, r, errnum, tries, () => quote(name));
}

const MQ_GETATTR = documented("mq_getattr", "EBADF EINVAL");

/** `mq_getattr(3)`: the queue's attributes, including how many messages it holds now. */
export function mq_getattr(mqdes: number): MqAttr {
  const s = mqAttrStruct();
  const buf = bytesOf(s);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.mq_getattr(mqdes, buf);
    errnum = errnoCell[0]!;
  } while (retry(MQ_GETATTR, r === -1, errnum, ++tries));
  check(MQ_GETATTR, r, errnum, tries, () => `${mqdes}, <attr>`);
  return {
    flags: Number(s[0]),
    maxmsg: Number(s[1]),
    msgsize: Number(s[2]),
    curmsgs: Number(s[3]),
  };
}

const MQ_SETATTR = documented("mq_setattr", "EBADF EINVAL");

/**
 * `mq_setattr(3)`: sets the descriptor's `mq_flags`, the only attribute that can change after
 * creation: `O.NONBLOCK`, or 0 to make sends and receives wait.
 */
export function mq_setattr(mqdes: number, flags: number): void {
  const attr = bytesOf(mqAttrStruct({ flags }));
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.mq_setattr(mqdes, attr, null);
    errnum = errnoCell[0]!;
  } while (retry(MQ_SETATTR, r === -1, errnum, ++tries));
  check(
    MQ_SETATTR,
    r,
    errnum,
    tries,
    () => `${mqdes}, {mq_flags=${creationFlags(flags)}}, NULL`,
  );
}

const MQ_SEND = documented("mq_send", "EAGAIN EBADF EINTR EINVAL EMSGSIZE ETIMEDOUT");
const sendSize = new SizeArgument();

/** `mq_send(3)`: puts one message on the queue; waits while it is full (unless O_NONBLOCK). */
export function mq_send(mqdes: number, msg: Uint8Array, prio = 0): number | typeof WOULD_BLOCK {
  const length = sendSize.of(msg.length);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.mq_send(mqdes, msg, length, prio);
    errnum = errnoCell[0]!;
    if (r === 0 && tracer === null) return 0; // the common case, with nothing to allocate
  } while (retry(MQ_SEND, r === -1, errnum, ++tries));
  return tryCheck(
    MQ_SEND,
    r,
    errnum,
    tries,
    () => `${mqdes}, <${msg.length} bytes>, ${msg.length}, ${prio}`,
  );
}

const MQ_RECEIVE = documented("mq_receive", "EAGAIN EBADF EINTR EINVAL EMSGSIZE ETIMEDOUT");
const receiveSize = new SizeArgument();

/**
 * `mq_receive(3)`: takes the oldest highest-priority message into `buf` (which must hold
 * `mq_msgsize` bytes) and returns its length. When `prio` is given, the message's priority is
 * written into `prio[0]` (C's `unsigned int *msg_prio`); null, as in C, when it does not matter.
 */
export function mq_receive(
  mqdes: number,
  buf: Uint8Array,
  prio: Uint32Array<ArrayBuffer> | null = null,
): number | typeof WOULD_BLOCK {
  const length = receiveSize.of(buf.length);
  let n: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    n = c.mq_receive(mqdes, buf, length, prio);
    errnum = errnoCell[0]!;
    if (n >= 0 && tracer === null) return n; // the common case
  } while (retry(MQ_RECEIVE, n === -1, errnum, ++tries));
  return tryCheck(
    MQ_RECEIVE,
    n,
    errnum,
    tries,
    () => `${mqdes}, <buffer>, ${buf.length}, ${priorityArg(prio, n >= 0)}`,
  );
}

/** How `msg_prio` reads in a trace line: `[5]` once the call has written it, as in strace. */
const priorityArg = (prio: Uint32Array | null, written: boolean) =>
  prio === null ? "NULL" : written ? `[${prio[0]}]` : "<unsigned int *>";

const MQ_TIMEDSEND = documented("mq_timedsend", "EAGAIN EBADF EINTR EINVAL EMSGSIZE ETIMEDOUT");

/**
 * `mq_timedsend(3)`: like {@linkcode mq_send}, but waits at most `ms` milliseconds (0: not at
 * all) for room; returns WOULD_BLOCK when there was none in time.
 */
export function mq_timedsend(
  mqdes: number,
  msg: Uint8Array,
  ms: number,
  prio = 0,
): number | typeof WOULD_BLOCK {
  const at = bytesOf(ms <= 0 ? ALREADY_EXPIRED : deadlineIn(ms));
  const length = sendSize.of(msg.length);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.mq_timedsend(mqdes, msg, length, prio, at);
    errnum = errnoCell[0]!;
  } while (retry(MQ_TIMEDSEND, r === -1, errnum, ++tries));
  return tryCheck(
    MQ_TIMEDSEND,
    r,
    errnum,
    tries,
    () => `${mqdes}, <${msg.length} bytes>, ${msg.length}, ${prio}, <now+${ms} ms>`,
  );
}

const MQ_TIMEDRECEIVE = documented(
  "mq_timedreceive",
  "EAGAIN EBADF EINTR EINVAL EMSGSIZE ETIMEDOUT",
);

/**
 * `mq_timedreceive(3)`: like {@linkcode mq_receive}, but waits at most `ms` milliseconds (0: not
 * at all) for a message; returns WOULD_BLOCK when none came in time.
 */
export function mq_timedreceive(
  mqdes: number,
  buf: Uint8Array,
  ms: number,
  prio: Uint32Array<ArrayBuffer> | null = null,
): number | typeof WOULD_BLOCK {
  const at = bytesOf(ms <= 0 ? ALREADY_EXPIRED : deadlineIn(ms));
  const length = receiveSize.of(buf.length);
  let n: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    n = c.mq_timedreceive(mqdes, buf, length, prio, at);
    errnum = errnoCell[0]!;
  } while (retry(MQ_TIMEDRECEIVE, n === -1, errnum, ++tries));
  return tryCheck(
    MQ_TIMEDRECEIVE,
    n,
    errnum,
    tries,
    () => `${mqdes}, <buffer>, ${buf.length}, ${priorityArg(prio, n >= 0)}, <now+${ms} ms>`,
  );
}

/**
 * Parks in `mq_timedsend(3)` on a worker thread for at most `ms`: the message is sent if room
 * appears in time. Resolves to true when it was sent, false otherwise (time ran out, or an
 * error whose errno is lost on the worker thread: the caller retries synchronously to see it).
 */
export async function mq_timedsendPark(
  mqdes: number,
  msg: Uint8Array,
  ms: number,
  prio = 0,
): Promise<boolean> {
  const at = deadlineIn(ms);
  const r = await c.mq_timedsend_park(mqdes, msg, BigInt(msg.length), prio, bytesOf(at));
  tracer?.(
    `mq_timedsend(${mqdes}, <${msg.length} bytes>, ${msg.length}, ${prio}, <now+${ms} ms>) = ${r}`,
  );
  return r === 0;
}

/**
 * Parks in `mq_timedreceive(3)` on a worker thread for at most `ms`. Resolves to the length of
 * the message received (its priority in `prio[0]`, if given), or null when none came (or an error whose errno is lost on the worker
 * thread: the caller retries synchronously to see it).
 */
export async function mq_timedreceivePark(
  mqdes: number,
  buf: Uint8Array,
  ms: number,
  prio: Uint32Array<ArrayBuffer> | null = null,
): Promise<number | null> {
  const at = deadlineIn(ms);
  const r = await c.mq_timedreceive_park(mqdes, buf, BigInt(buf.length), prio, bytesOf(at));
  tracer?.(
    `mq_timedreceive(${mqdes}, <buffer>, ${buf.length}, ${
      priorityArg(prio, r >= 0)
    }, <now+${ms} ms>) = ${r}`,
  );
  return r >= 0 ? r : null;
}
