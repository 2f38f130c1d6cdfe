/**
 * System V message queues: msgget(2) makes or finds a queue by its key, msgsnd(2) and msgrcv(2)
 * move one message each, msgctl(2) reads (`IPC_STAT`) or changes (`IPC_SET`) its settings, or
 * removes it (`IPC_RMID`).
 *
 * A message is a `struct msgbuf`: a `long mtype` (above 0) followed by the bytes. The size given
 * to msgsnd and msgrcv counts the bytes only, not the `mtype` in front of them:
 *
 *     struct msgbuf {        offset  size
 *         long mtype;           0      8    the message's type, > 0
 *         char mtext[];         8      n    its bytes (n may be 0)
 *     };
 *
 * msgsnd and msgrcv carry the bytes of the System V queue lesson: when they succeed and tracing
 * is off, they return at once, with nothing allocated. Both are called with `IPC_NOWAIT` by the
 * transport: neither has a timed variant, and a blocking call could not be cancelled.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IPC } from "./sysv.ts";
 * import { MessageBuffer, msgctl, msgget, msgrcv, msgsnd, msqidStat } from "./sysv_msg.ts";
 * import { WOULD_BLOCK } from "./constants.ts";
 * const msqid = msgget(IPC.PRIVATE, IPC.CREAT | IPC.EXCL | 0o600); // a new queue, no key
 * try {
 *   const out = new MessageBuffer(16);
 *   out.mtype = 1;
 *   out.text.set([104, 105]); // "hi"
 *   assert.equal(msgsnd(msqid, out, 2, IPC.NOWAIT), 0);
 *   assert.equal(msqidStat(msqid).qnum, 1);
 *   const into = new MessageBuffer(16);
 *   assert.equal(msgrcv(msqid, into, 16, 0, IPC.NOWAIT), 2); // type 0: the first message
 *   assert.equal(into.mtype, 1);
 *   assert.equal(msgrcv(msqid, into, 16, 0, IPC.NOWAIT), WOULD_BLOCK); // empty: ENOMSG
 * } finally {
 *   msgctl(msqid, IPC.RMID);
 * }
 * ```
 *
 * @module
 */

import { check, SizeArgument, tryCheck } from "./call.ts";
import { WOULD_BLOCK } from "./constants.ts";
import { documented, Errno, errnoCell, retry, strerror } from "./errno.ts";
import { c } from "./ffi.ts";
import { octal, tracer } from "./trace.ts";
import { IPC } from "./sysv.ts";

/**
 * A `struct msgbuf` with room for `size` bytes of text: the buffer msgsnd reads and msgrcv
 * fills. `mtype` is the 8-byte `long` at offset 0, `text` the bytes from offset 8.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MessageBuffer } from "./sysv_msg.ts";
 * const message = new MessageBuffer(4);
 * message.mtype = 2;
 * assert.equal(message.bytes.length, 8 + 4); // long mtype, then char mtext[4]
 * assert.equal(message.bytes[0], 2); // little-endian: the low byte first
 * ```
 */
export class MessageBuffer {
  /** The whole struct, as msgsnd and msgrcv take it. */
  readonly bytes: Uint8Array<ArrayBuffer>;
  /** `mtext`: the message's bytes (a view into `bytes`, from offset 8). */
  readonly text: Uint8Array<ArrayBuffer>;
  /** `mtype` seen as two 32-bit halves, low half first (x86_64 and aarch64 are little-endian). */
  readonly #type: Int32Array<ArrayBuffer>;

  /** A buffer for messages of up to `size` bytes. */
  constructor(size: number) {
    this.bytes = new Uint8Array(8 + size);
    this.text = this.bytes.subarray(8);
    this.#type = new Int32Array(this.bytes.buffer, 0, 2);
  }

  /** `long mtype`: above 0 in a message sent; what msgrcv wrote into it after a receive. */
  get mtype(): number {
    return this.#type[1]! * 2 ** 32 + (this.#type[0]! >>> 0);
  }

  set mtype(type: number) {
    this.#type[0] = type | 0;
    this.#type[1] = Math.floor(type / 2 ** 32);
  }
}

/** What `msgctl(IPC_STAT)` says about a queue: the fields of `struct msqid_ds` that matter. */
export interface MsqidDs {
  /** `msg_perm.__key`: the key it was made with (0 for `IPC_PRIVATE`). */
  key: number;
  /** `msg_perm.uid`, `msg_perm.gid`: its owner. */
  uid: number;
  /** The owner's group. */
  gid: number;
  /** `msg_perm.cuid`: who created it. */
  cuid: number;
  /** `msg_perm.mode`: its permission bits (0600). */
  mode: number;
  /** `msg_stime`, `msg_rtime`, `msg_ctime`: the last send, receive and change, in seconds. */
  stime: number;
  /** The time of the last receive (0: never). */
  rtime: number;
  /** The time of the last change (creation, IPC_SET). */
  ctime: number;
  /** `__msg_cbytes`: how many bytes of text it holds now. */
  cbytes: number;
  /** `msg_qnum`: how many messages it holds now. */
  qnum: number;
  /** `msg_qbytes`: the most bytes of text it may hold (a sender waits beyond it). */
  qbytes: number;
  /** `msg_lspid`: the process that sent last (0: nobody yet). */
  lspid: number;
  /** `msg_lrpid`: the process that received last (0: nobody yet). */
  lrpid: number;
}

// struct ipc_perm {                        offset
//     key_t          __key;                   0   i32
//     uid_t          uid;                     4   u32
//     gid_t          gid;                     8   u32
//     uid_t          cuid;                   12   u32
//     gid_t          cgid;                   16   u32
//     mode_t         mode;                   20   u32 (glibc: unsigned short + pad on older ones)
//     unsigned short __seq;                  24   u16
//     ... padding, two reserved longs         up to 48
// };
// struct msqid_ds {
//     struct ipc_perm msg_perm;               0
//     time_t          msg_stime;             48   i64
//     time_t          msg_rtime;             56   i64
//     time_t          msg_ctime;             64   i64
//     unsigned long   __msg_cbytes;          72   u64
//     msgqnum_t       msg_qnum;              80   u64
//     msglen_t        msg_qbytes;            88   u64
//     pid_t           msg_lspid;             96   i32
//     pid_t           msg_lrpid;            100   i32
//     unsigned long   __glibc_reserved4, 5; 104, 112
// };                                          size 120
// (The same on x86_64 and aarch64; checked with offsetof() in C.)
const MSQID_DS_SIZE = 120;
const OFF = {
  key: 0,
  uid: 4,
  gid: 8,
  cuid: 12,
  mode: 20,
  stime: 48,
  rtime: 56,
  ctime: 64,
  cbytes: 72,
  qnum: 80,
  qbytes: 88,
  lspid: 96,
  lrpid: 100,
} as const;

const MSGGET = documented("msgget", "EACCES EEXIST ENOENT ENOMEM ENOSPC");

/**
 * `msgget(2)`: the queue that `key` names, or a new one when `flags` has `IPC.CREAT` (with
 * `IPC.EXCL`: fail with EEXIST if the key has one already). The low 9 bits of `flags` are the
 * new queue's mode. Returns its identifier, the `msqid` the other calls take.
 */
export function msgget(key: number, flags: number): number {
  let msqid: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    msqid = c.msgget(key, flags);
    errnum = errnoCell[0]!;
  } while (retry(MSGGET, msqid === -1, errnum, ++tries));
  return check(MSGGET, msqid, errnum, tries, () => `${keyText(key)}, ${ipcFlags(flags)}`);
}

const MSGSND = documented("msgsnd", "EACCES EAGAIN EFAULT EIDRM EINTR EINVAL ENOMEM");
const sendSize = new SizeArgument();

/**
 * `msgsnd(2)`: puts the message in `message` (its `mtype` and the first `length` bytes of its
 * text) on the queue. With `IPC.NOWAIT` in `flags`, a queue without room for it (its bytes
 * would pass `msg_qbytes`) makes it return WOULD_BLOCK (EAGAIN) instead of waiting.
 */
export function msgsnd(
  msqid: number,
  message: MessageBuffer,
  length: number,
  flags: number,
): number | typeof WOULD_BLOCK {
  const size = sendSize.of(length);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.msgsnd(msqid, message.bytes, size, flags);
    errnum = errnoCell[0]!;
    if (r === 0 && tracer === null) return 0; // the common case, with nothing to allocate
  } while (retry(MSGSND, r === -1, errnum, ++tries));
  return tryCheck(
    MSGSND,
    r,
    errnum,
    tries,
    () => `${msqid}, {mtype=${message.mtype}, <${length} bytes>}, ${length}, ${ipcFlags(flags)}`,
  );
}

const MSGRCV = documented("msgrcv", "E2BIG EACCES EFAULT EIDRM EINTR EINVAL ENOMSG ENOSYS");
const receiveSize = new SizeArgument();
const receiveType = new SizeArgument(); // a long, made a BigInt once per distinct value

/**
 * `msgrcv(2)`: takes one message into `message` and returns the length of its text; its type
 * is then in `message.mtype`. `msgtyp` chooses which message: 0 the first in the queue, n > 0
 * the first of type n, n < 0 the first of the lowest type up to |n|. A message longer than
 * `maxLength` fails with E2BIG (the message stays in the queue). With `IPC.NOWAIT`, when no
 * message fits the choice it returns WOULD_BLOCK (ENOMSG) instead of waiting.
 */
export function msgrcv(
  msqid: number,
  message: MessageBuffer,
  maxLength: number,
  msgtyp: number,
  flags: number,
): number | typeof WOULD_BLOCK {
  const size = receiveSize.of(maxLength);
  const type = receiveType.of(msgtyp);
  let n: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    n = c.msgrcv(msqid, message.bytes, size, type, flags);
    errnum = errnoCell[0]!;
    if (n >= 0 && tracer === null) return n; // the common case
  } while (retry(MSGRCV, n === -1, errnum, ++tries));
  const args = () =>
    `${msqid}, ${
      n >= 0 ? `{mtype=${message.mtype}, <${n} bytes>}` : "<buffer>"
    }, ${maxLength}, ${msgtyp}, ${ipcFlags(flags)}`;
  if (n === -1 && errnum === Errno.ENOMSG) {
    // What IPC_NOWAIT answers when no message of the type asked for is there: "not yet".
    tracer?.(`msgrcv(${args()}) = -1 ENOMSG (${strerror(errnum)})`);
    return WOULD_BLOCK;
  }
  return tryCheck(MSGRCV, n, errnum, tries, args);
}

const MSGCTL = documented("msgctl", "EACCES EFAULT EIDRM EINVAL EPERM");

/**
 * `msgctl(2)` with `IPC.RMID` (remove the queue at once: its messages are lost, and every
 * process waiting on it wakes up with EIDRM), `IPC.STAT` or `IPC.SET` with a `struct msqid_ds`
 * buffer of 120 bytes (see {@linkcode msqidStat} and {@linkcode msqidSetQbytes}).
 */
export function msgctl(msqid: number, cmd: number, buf: Uint8Array | null = null): void {
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.msgctl(msqid, cmd, buf);
    errnum = errnoCell[0]!;
  } while (retry(MSGCTL, r === -1, errnum, ++tries));
  check(MSGCTL, r, errnum, tries, () => `${msqid}, ${ctlCommand(cmd)}, ${ctlBuffer(cmd, buf)}`);
}

/**
 * `msgctl(msqid, IPC_STAT, &ds)`: the queue's `struct msqid_ds`, read field by field.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IPC } from "./sysv.ts";
 * import { msgctl, msgget, msqidStat } from "./sysv_msg.ts";
 * const msqid = msgget(IPC.PRIVATE, IPC.CREAT | 0o600);
 * const ds = msqidStat(msqid);
 * msgctl(msqid, IPC.RMID);
 * assert.equal(ds.mode & 0o777, 0o600);
 * assert.equal(ds.qnum, 0);
 * assert.equal(ds.qbytes, Number(Deno.readTextFileSync("/proc/sys/kernel/msgmnb")));
 * ```
 */
export function msqidStat(msqid: number): MsqidDs {
  const buf = new Uint8Array(MSQID_DS_SIZE);
  msgctl(msqid, IPC.STAT, buf);
  const view = new DataView(buf.buffer);
  const u32 = (at: number) => view.getUint32(at, true);
  const i32 = (at: number) => view.getInt32(at, true);
  const u64 = (at: number) => Number(view.getBigUint64(at, true));
  return {
    key: i32(OFF.key),
    uid: u32(OFF.uid),
    gid: u32(OFF.gid),
    cuid: u32(OFF.cuid),
    mode: u32(OFF.mode) & 0o777,
    stime: u64(OFF.stime),
    rtime: u64(OFF.rtime),
    ctime: u64(OFF.ctime),
    cbytes: u64(OFF.cbytes),
    qnum: u64(OFF.qnum),
    qbytes: u64(OFF.qbytes),
    lspid: i32(OFF.lspid),
    lrpid: i32(OFF.lrpid),
  };
}

/**
 * `msgctl(IPC_SET)` of `msg_qbytes`: the queue's byte budget. It takes `IPC_STAT` first, since
 * `IPC_SET` also sets the owner and mode from the same buffer. Up to `/proc/sys/kernel/msgmnb`
 * anybody (the owner) may set it; above, only a process with CAP_SYS_RESOURCE (EPERM).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IPC } from "./sysv.ts";
 * import { msgctl, msgget, msqidSetQbytes, msqidStat } from "./sysv_msg.ts";
 * const msqid = msgget(IPC.PRIVATE, IPC.CREAT | 0o600);
 * msqidSetQbytes(msqid, 1024);
 * assert.equal(msqidStat(msqid).qbytes, 1024);
 * msgctl(msqid, IPC.RMID);
 * ```
 */
export function msqidSetQbytes(msqid: number, qbytes: number): void {
  const buf = new Uint8Array(MSQID_DS_SIZE);
  msgctl(msqid, IPC.STAT, buf);
  new DataView(buf.buffer).setBigUint64(OFF.qbytes, BigInt(qbytes), true);
  msgctl(msqid, IPC.SET, buf);
}

// --- How the arguments read in a trace line -----------------------------------------------

/** A key as ipcs prints it: `0x4c0b1234`; `IPC_PRIVATE` for 0. */
function keyText(key: number): string {
  return key === IPC.PRIVATE ? "IPC_PRIVATE" : `0x${(key >>> 0).toString(16).padStart(8, "0")}`;
}

/** `IPC_CREAT|IPC_EXCL|0600`, as strace shows msgget's and msgsnd's flags. */
function ipcFlags(flags: number): string {
  const names = [
    [IPC.CREAT, "IPC_CREAT"],
    [IPC.EXCL, "IPC_EXCL"],
    [IPC.NOWAIT, "IPC_NOWAIT"],
  ] as const;
  const parts: string[] = names.filter(([bit]) => flags & bit).map(([, name]) => name);
  const mode = flags & 0o777;
  if (mode !== 0) parts.push(octal(mode));
  else if (parts.length === 0) parts.push("0"); // as strace shows no flags
  return parts.join("|");
}

function ctlCommand(cmd: number): string {
  return cmd === IPC.RMID
    ? "IPC_RMID"
    : cmd === IPC.STAT
    ? "IPC_STAT"
    : cmd === IPC.SET
    ? "IPC_SET"
    : `${cmd}`;
}

function ctlBuffer(cmd: number, buf: Uint8Array | null): string {
  if (buf === null) return "NULL";
  const view = new DataView(buf.buffer, buf.byteOffset);
  const qbytes = view.getBigUint64(OFF.qbytes, true);
  const qnum = view.getBigUint64(OFF.qnum, true);
  return cmd === IPC.SET
    ? `{msg_qbytes=${qbytes}, ...}`
    : `{msg_qnum=${qnum}, msg_qbytes=${qbytes}, msg_lspid=${
      view.getInt32(OFF.lspid, true)
    }, msg_lrpid=${view.getInt32(OFF.lrpid, true)}, ...}`;
}
