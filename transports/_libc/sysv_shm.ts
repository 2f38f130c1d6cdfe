/**
 * System V shared memory and semaphore sets, in the order a program uses them: shmget(2) makes
 * or finds a segment by key, shmat(2) maps it, shmdt(2) unmaps it, shmctl(2) reads its
 * `struct shmid_ds` (`IPC_STAT`) or removes it (`IPC_RMID`); semget(2) makes or finds a set of
 * semaphores, semop(2) and semtimedop(2) change their counts (waiting while a count would go
 * below zero), and semctl(2) sets (`SETVAL`), reads (`GETVAL`, `GETPID`, `IPC_STAT`) or removes
 * (`IPC_RMID`) them.
 *
 * The structures these calls share with the kernel are written out below with their offsets
 * on 64-bit Linux (x86-64; arm64 differs only in `struct semid_ds`), each with its C
 * declaration from `<sys/shm.h>` and `<sys/sem.h>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IPC, SEM_UNDO, semctlGetVal, semctlRemove, semctlSetVal, semget } from "../libc.ts";
 * import { semop, sembufs, WOULD_BLOCK } from "../libc.ts";
 * const semid = semget(IPC.PRIVATE, 1, IPC.CREAT | 0o600); // a set of one semaphore, at 0
 * semctlSetVal(semid, 0, 1);
 * assert.equal(semop(semid, sembufs([0, -1, SEM_UNDO | IPC.NOWAIT])), 0); // 1 → 0
 * assert.equal(semop(semid, sembufs([0, -1, IPC.NOWAIT])), WOULD_BLOCK); // it would wait
 * assert.equal(semctlGetVal(semid, 0), 0);
 * semctlRemove(semid);
 * ```
 *
 * @module
 */

import { check, failure, tryCheck } from "./call.ts";
import { WOULD_BLOCK } from "./constants.ts";
import { documented, errnoCell, retry } from "./errno.ts";
import { c } from "./ffi.ts";
import { IPC } from "./sysv.ts";
import { octal, tracer } from "./trace.ts";

// ---------------------------------------------------------------------------------------------
// Constants of <sys/shm.h> and <sys/sem.h> (Linux values)
// ---------------------------------------------------------------------------------------------

/** `semop` flag: the kernel undoes this operation when the process exits (see `semadj`). */
export const SEM_UNDO = 0x1000;
/** `shmat` flag: map the segment read-only. */
export const SHM_RDONLY = 0o10000;
/** `shm_perm.mode` bit: the segment is marked for removal (`ipcs` shows the status "dest"). */
export const SHM_DEST = 0o1000;

/** The `semctl` commands this project uses (`<sys/sem.h>`), besides `IPC_STAT`/`IPC_RMID`. */
export const SEMCTL = {
  /** The pid of the last process that changed semaphore `semnum` (semop, SETVAL, undo). */
  GETPID: 11,
  /** The count of semaphore `semnum`. */
  GETVAL: 12,
  /** How many processes wait for semaphore `semnum` to rise. */
  GETNCNT: 14,
  /** Set the count of semaphore `semnum` (and clear every process's `semadj` for it). */
  SETVAL: 16,
} as const;

/** The highest count a System V semaphore can hold (`SEMVMX`, Linux). */
export const SEMVMX = 32767;

// ---------------------------------------------------------------------------------------------
// struct sembuf
// ---------------------------------------------------------------------------------------------

/**
 * One operation of a `semop` call, as `<sys/sem.h>` declares it:
 *
 *     struct sembuf {              offset  size
 *       unsigned short sem_num;    0       2    which semaphore of the set
 *       short          sem_op;     2       2    add this (< 0: wait until it can be taken)
 *       short          sem_flg;    4       2    IPC_NOWAIT, SEM_UNDO
 *     };                                   6 in all, no padding
 */
export const SEMBUF = { size: 6, semNum: 0, semOp: 2, semFlg: 4 } as const;

/** One operation: `[sem_num, sem_op, sem_flg]`. */
export type SemOperation = readonly [semNum: number, semOp: number, semFlg: number];

/**
 * An array of `struct sembuf` for {@linkcode semop}, in this machine's byte order. Made once
 * and reused: the hot path of a ring passes the same operations again and again.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sembufs } from "../libc.ts";
 * const ops = sembufs([1, -1, 0], [0, 1, 0]); // take one from #1, give one to #0
 * assert.equal(ops.length, 12);
 * assert.equal(new DataView(ops.buffer).getInt16(2, true), -1);
 * ```
 */
export function sembufs(...operations: SemOperation[]): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(SEMBUF.size * operations.length);
  const view = new DataView(bytes.buffer);
  const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  operations.forEach(([num, op, flg], i) => {
    const at = i * SEMBUF.size;
    view.setUint16(at + SEMBUF.semNum, num, little);
    view.setInt16(at + SEMBUF.semOp, op, little);
    view.setInt16(at + SEMBUF.semFlg, flg, little);
  });
  return bytes;
}

/** How strace shows an array of sembuf: `[{sem_num=0, sem_op=-1, sem_flg=SEM_UNDO}]`. */
function sembufText(sops: Uint8Array<ArrayBuffer>): string {
  const view = new DataView(sops.buffer, sops.byteOffset, sops.byteLength);
  const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const items: string[] = [];
  for (let at = 0; at + SEMBUF.size <= sops.length; at += SEMBUF.size) {
    const flg = view.getInt16(at + SEMBUF.semFlg, little);
    const flags = [flg & IPC.NOWAIT ? "IPC_NOWAIT" : "", flg & SEM_UNDO ? "SEM_UNDO" : ""]
      .filter(Boolean).join("|") || "0";
    items.push(
      `{sem_num=${view.getUint16(at + SEMBUF.semNum, little)}, sem_op=${
        view.getInt16(at + SEMBUF.semOp, little)
      }, sem_flg=${flags}}`,
    );
  }
  return `[${items.join(", ")}]`;
}

// ---------------------------------------------------------------------------------------------
// struct ipc_perm, struct shmid_ds, struct semid_ds
// ---------------------------------------------------------------------------------------------

/**
 * The owner and permissions every System V object has (`<bits/ipc-perm.h>`, 64-bit Linux):
 *
 *     struct ipc_perm {            offset  size
 *       key_t          __key;      0       4    the key it was made with (IPC_PRIVATE once removed)
 *       uid_t          uid;        4       4    owner
 *       gid_t          gid;        8       4
 *       uid_t          cuid;       12      4    creator
 *       gid_t          cgid;       16      4
 *       mode_t         mode;       20      4    permission bits (0600), and SHM_DEST for a segment
 *       unsigned short __seq;      24      2    slot usage sequence number
 *       ...                                     padding and two reserved longs: 48 in all
 *     };
 */
export const IPC_PERM = { key: 0, uid: 4, gid: 8, cuid: 12, cgid: 16, mode: 20, size: 48 } as const;

/**
 * A segment's state, `shmctl(IPC_STAT)` (`<bits/shm.h>`, 64-bit Linux):
 *
 *     struct shmid_ds {            offset  size
 *       struct ipc_perm shm_perm;  0       48
 *       size_t     shm_segsz;      48      8    size in bytes
 *       time_t     shm_atime;      56      8    last shmat
 *       time_t     shm_dtime;      64      8    last shmdt
 *       time_t     shm_ctime;      72      8    creation, or last change by IPC_SET
 *       pid_t      shm_cpid;       80      4    the creator
 *       pid_t      shm_lpid;       84      4    the last to shmat or shmdt
 *       shmatt_t   shm_nattch;     88      8    how many mappings it has now
 *       ...                                     two reserved longs: 112 in all
 *     };
 */
export const SHMID_DS = {
  segsz: 48,
  atime: 56,
  dtime: 64,
  ctime: 72,
  cpid: 80,
  lpid: 84,
  nattch: 88,
  size: 112,
} as const;

/**
 * A semaphore set's state, `semctl(IPC_STAT)` (`<bits/types/struct_semid_ds.h>`):
 *
 *     struct semid_ds {            offset x86-64  arm64  size
 *       struct ipc_perm sem_perm;  0              0      48
 *       time_t     sem_otime;      48             48     8    last semop (0: never)
 *       (reserved long, x86-64)    56             -      8
 *       time_t     sem_ctime;      64             56     8    creation, or last SETVAL/IPC_SET
 *       (reserved long, x86-64)    72             -      8
 *       unsigned long sem_nsems;   80             64     8    how many semaphores it has
 *       ...                                               two reserved longs: 104 (88) in all
 *     };
 */
export const SEMID_DS = Deno.build.arch === "x86_64"
  ? { otime: 48, ctime: 64, nsems: 80, size: 104 } as const
  : { otime: 48, ctime: 56, nsems: 64, size: 88 } as const;

/** What {@linkcode shmctlStat} reads from `struct shmid_ds`. */
export interface ShmidDs {
  /** The key it was made with; 0 (IPC_PRIVATE) once it is marked for removal. */
  key: number;
  /** Owner and creator. */
  uid: number;
  cuid: number;
  /** The permission bits (0o600), without the status bits. */
  mode: number;
  /** Marked for removal (`SHM_DEST`): gone once the last process detaches. */
  dest: boolean;
  /** Size in bytes. */
  segsz: number;
  /** The creator's pid, and the pid of the last process to attach or detach. */
  cpid: number;
  lpid: number;
  /** How many mappings it has now. */
  nattch: number;
  /** Last attach, detach, change: seconds since the epoch (0: never). */
  atime: number;
  dtime: number;
  ctime: number;
}

/** What {@linkcode semctlStat} reads from `struct semid_ds`. */
export interface SemidDs {
  key: number;
  uid: number;
  cuid: number;
  mode: number;
  /** Last semop, in seconds since the epoch (0: never); creation or last SETVAL. */
  otime: number;
  ctime: number;
  nsems: number;
}

const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function perm(view: DataView) {
  return {
    key: view.getInt32(IPC_PERM.key, little),
    uid: view.getUint32(IPC_PERM.uid, little),
    cuid: view.getUint32(IPC_PERM.cuid, little),
    mode: view.getUint32(IPC_PERM.mode, little),
  };
}

const hexKey = (key: number) => `0x${(key >>> 0).toString(16).padStart(8, "0")}`;

/** `IPC_CREAT|IPC_EXCL|0600`, as strace shows the flags of a `*get` call. */
function getFlags(flags: number): string {
  const names = [
    flags & IPC.CREAT ? "IPC_CREAT" : "",
    flags & IPC.EXCL ? "IPC_EXCL" : "",
  ].filter(Boolean);
  const mode = flags & 0o777;
  return [...names, mode ? octal(mode) : ""].filter(Boolean).join("|") || "0";
}

// ---------------------------------------------------------------------------------------------
// Shared memory
// ---------------------------------------------------------------------------------------------

const SHMGET = documented("shmget", "EACCES EEXIST EINVAL ENFILE ENOENT ENOMEM ENOSPC EPERM");

/**
 * `shmget(2)`: the id of the segment with `key`; with `IPC.CREAT` a new one of `size` bytes
 * (rounded up to whole pages, all zero bytes), and with `IPC.EXCL` too, EEXIST if the key has
 * one already. The low 9 bits of `flags` are the new segment's permissions.
 */
export function shmget(key: number, size: number, flags: number): number {
  const bytes = BigInt(size);
  let id: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    id = c.shmget(key, bytes, flags);
    errnum = errnoCell[0]!;
  } while (retry(SHMGET, id === -1, errnum, ++tries));
  return check(SHMGET, id, errnum, tries, () => `${hexKey(key)}, ${size}, ${getFlags(flags)}`);
}

const SHMAT = documented("shmat", "EACCES EIDRM EINVAL ENOMEM");
// (void *) -1, what shmat returns on failure.
const SHMAT_FAILED = 0xffffffffffffffffn;

/**
 * `shmat(2)`: maps segment `shmid` where the kernel chooses, and returns the address. Like
 * mmap's, its result is a pointer Deno allocates before errno is read; see `memory.ts`.
 */
export function shmat(shmid: number, flags = 0): Deno.PointerObject {
  let address: Deno.PointerValue, errnum: number, failed: boolean, tries = 0;
  do {
    errnoCell[0] = 0;
    address = c.shmat(shmid, null, flags);
    errnum = errnoCell[0]!;
    failed = address === null || Deno.UnsafePointer.value(address) === SHMAT_FAILED;
  } while (retry(SHMAT, failed, errnum, ++tries));
  const args = () => `${shmid}, NULL, ${flags & SHM_RDONLY ? "SHM_RDONLY" : "0"}`;
  if (address === null || failed) throw failure(SHMAT, errnum, tries, args);
  tracer?.(`shmat(${args()}) = 0x${Deno.UnsafePointer.value(address).toString(16)}`);
  return address;
}

const SHMDT = documented("shmdt", "EINVAL");

/** `shmdt(2)`: unmaps the segment attached at `address`. */
export function shmdt(address: Deno.PointerObject): void {
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.shmdt(address);
    errnum = errnoCell[0]!;
  } while (retry(SHMDT, r === -1, errnum, ++tries));
  check(SHMDT, r, errnum, tries, () => `0x${Deno.UnsafePointer.value(address).toString(16)}`);
}

const SHMCTL = documented("shmctl", "EACCES EFAULT EIDRM EINVAL ENOMEM EOVERFLOW EPERM");

/** `shmctl(shmid, IPC_STAT, &buf)`: the segment's `struct shmid_ds`. */
export function shmctlStat(shmid: number): ShmidDs {
  const buf = new Uint8Array(SHMID_DS.size);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.shmctl(shmid, IPC.STAT, buf);
    errnum = errnoCell[0]!;
  } while (retry(SHMCTL, r === -1, errnum, ++tries));
  const view = new DataView(buf.buffer);
  const p = perm(view);
  const ds: ShmidDs = {
    key: p.key,
    uid: p.uid,
    cuid: p.cuid,
    mode: p.mode & 0o777,
    dest: (p.mode & SHM_DEST) !== 0,
    segsz: Number(view.getBigUint64(SHMID_DS.segsz, little)),
    cpid: view.getInt32(SHMID_DS.cpid, little),
    lpid: view.getInt32(SHMID_DS.lpid, little),
    nattch: Number(view.getBigUint64(SHMID_DS.nattch, little)),
    atime: Number(view.getBigInt64(SHMID_DS.atime, little)),
    dtime: Number(view.getBigInt64(SHMID_DS.dtime, little)),
    ctime: Number(view.getBigInt64(SHMID_DS.ctime, little)),
  };
  check(
    SHMCTL,
    r,
    errnum,
    tries,
    () =>
      r === -1
        ? `${shmid}, IPC_STAT, <struct shmid_ds *>`
        : `${shmid}, IPC_STAT, {shm_perm={key=${hexKey(ds.key)}, uid=${ds.uid}, mode=${
          octal(p.mode)
        }}, shm_segsz=${ds.segsz}, shm_cpid=${ds.cpid}, ` +
          `shm_lpid=${ds.lpid}, shm_nattch=${ds.nattch}, ...}`,
  );
  return ds;
}

/**
 * `shmctl(shmid, IPC_RMID, NULL)`: marks the segment for removal. Its key is freed at once
 * (shmget can no longer find it), but the memory lives until the last process detaches.
 */
export function shmctlRemove(shmid: number): void {
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.shmctl(shmid, IPC.RMID, null);
    errnum = errnoCell[0]!;
  } while (retry(SHMCTL, r === -1, errnum, ++tries));
  check(SHMCTL, r, errnum, tries, () => `${shmid}, IPC_RMID, NULL`);
}

// ---------------------------------------------------------------------------------------------
// Semaphore sets
// ---------------------------------------------------------------------------------------------

const SEMGET = documented("semget", "EACCES EEXIST EINVAL ENOENT ENOMEM ENOSPC");

/**
 * `semget(2)`: the id of the semaphore set with `key`; with `IPC.CREAT` a new set of `nsems`
 * semaphores (each at 0 on Linux; POSIX leaves them undefined until SETVAL), with `IPC.EXCL`
 * too, EEXIST if the key has one already.
 */
export function semget(key: number, nsems: number, flags: number): number {
  let id: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    id = c.semget(key, nsems, flags);
    errnum = errnoCell[0]!;
  } while (retry(SEMGET, id === -1, errnum, ++tries));
  return check(SEMGET, id, errnum, tries, () => `${hexKey(key)}, ${nsems}, ${getFlags(flags)}`);
}

const SEMOP = documented(
  "semop",
  "E2BIG EACCES EAGAIN EFAULT EFBIG EIDRM EINTR EINVAL ENOMEM ERANGE",
);
const SEMTIMEDOP = documented(
  "semtimedop",
  "E2BIG EACCES EAGAIN EFAULT EFBIG EIDRM EINTR EINVAL ENOMEM ERANGE",
);

/** `nsops` as the BigInt a `size_t` parameter takes, made once per length. */
const NSOPS = [0n, 1n, 2n, 3n, 4n];
const nsopsOf = (sops: Uint8Array) => NSOPS[sops.length / SEMBUF.size] ?? BigInt(sops.length / 6);

/**
 * `semop(2)`: applies the operations in `sops` (see {@linkcode sembufs}) all at once, or none.
 * An operation that would take a count below zero waits, unless its flags hold IPC_NOWAIT:
 * then (and when a signal interrupts the wait) it returns WOULD_BLOCK. The hot path: when it
 * succeeds and tracing is off, it returns at once, with nothing allocated.
 */
export function semop(semid: number, sops: Uint8Array<ArrayBuffer>): 0 | typeof WOULD_BLOCK {
  const nsops = nsopsOf(sops);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.semop(semid, sops, nsops);
    errnum = errnoCell[0]!;
    if (r === 0 && tracer === null) return 0;
  } while (retry(SEMOP, r === -1, errnum, ++tries));
  return tryCheck(SEMOP, r, errnum, tries, () => `${semid}, ${sembufText(sops)}, ${nsops}`) ===
      WOULD_BLOCK
    ? WOULD_BLOCK
    : 0;
}

/** A relative `struct timespec` of `ms` milliseconds: semtimedop's timeout is not a deadline. */
function interval(ms: number): Uint8Array<ArrayBuffer> {
  const whole = Math.max(0, ms);
  const seconds = Math.floor(whole / 1000);
  return new Uint8Array(
    new BigInt64Array([BigInt(seconds), BigInt(Math.round((whole - seconds * 1000) * 1e6))])
      .buffer,
  );
}

/**
 * `semtimedop(2)` on this thread: {@linkcode semop}, waiting at most `ms` milliseconds (a
 * relative time, unlike `sem_timedwait`'s deadline); WOULD_BLOCK when time ran out (EAGAIN)
 * or a signal came (EINTR). The event loop stands still meanwhile: keep `ms` short, and use
 * {@linkcode semtimedopPark} for longer waits.
 */
export function semtimedop(
  semid: number,
  sops: Uint8Array<ArrayBuffer>,
  ms: number,
): 0 | typeof WOULD_BLOCK {
  const nsops = nsopsOf(sops);
  const timeout = interval(ms);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.semtimedop(semid, sops, nsops, timeout);
    errnum = errnoCell[0]!;
  } while (retry(SEMTIMEDOP, r === -1, errnum, ++tries));
  return tryCheck(
      SEMTIMEDOP,
      r,
      errnum,
      tries,
      () => `${semid}, ${sembufText(sops)}, ${nsops}, {tv_sec=0, tv_nsec=${ms * 1e6}}`,
    ) === WOULD_BLOCK
    ? WOULD_BLOCK
    : 0;
}

/**
 * Parks in `semtimedop(2)` on a worker thread for at most `ms`. Resolves to true when the
 * operations were applied, false otherwise (time ran out, or an error whose errno is lost on
 * the worker thread: the caller retries synchronously to see it).
 */
export async function semtimedopPark(
  semid: number,
  sops: Uint8Array<ArrayBuffer>,
  ms: number,
): Promise<boolean> {
  const r = await c.semtimedop_park(semid, sops, nsopsOf(sops), interval(ms));
  tracer?.(`semtimedop(${semid}, ${sembufText(sops)}, <${ms} ms>) = ${r}`);
  return r === 0;
}

/**
 * Polls with {@linkcode semop} (whose operations must carry IPC_NOWAIT) for at most `us`
 * microseconds, with `sched_yield(2)` between tries: a peer streaming through shared memory
 * posts within microseconds, and a sleep in the kernel and the wake-up cost far more. Returns
 * true when the operations were applied. errno is not read: with IPC_NOWAIT on a valid set,
 * semop fails only with EAGAIN (the synchronous retry afterwards sees any other error).
 */
export function semopSpin(semid: number, sops: Uint8Array<ArrayBuffer>, us: number): boolean {
  const nsops = nsopsOf(sops);
  const until = performance.now() + us / 1000;
  let tries = 0;
  let took = false;
  do {
    tries++;
    if (c.semop(semid, sops, nsops) === 0) {
      took = true;
      break;
    }
    c.sched_yield();
  } while (performance.now() < until);
  tracer?.(
    `semop(${semid}, ${
      sembufText(sops)
    }, ${nsops}) ×${tries}, sched_yield() between, for up to ${us} µs = ${
      took ? "0" : "-1 EAGAIN"
    }`,
  );
  return took;
}

const SEMCTL_CALL = documented("semctl", "EACCES EFAULT EIDRM EINVAL EPERM ERANGE");
const COMMAND_NAMES: Record<number, string> = {
  0: "IPC_RMID",
  11: "GETPID",
  12: "GETVAL",
  14: "GETNCNT",
  16: "SETVAL",
};

/** `semctl(semid, semnum, cmd, arg)` with the union's `int val`: GETVAL, SETVAL, GETPID, … */
function semctlValue(semid: number, semnum: number, cmd: number, value = 0): number {
  const arg = BigInt(value);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.semctl(semid, semnum, cmd, arg);
    errnum = errnoCell[0]!;
  } while (retry(SEMCTL_CALL, r === -1, errnum, ++tries));
  return check(
    SEMCTL_CALL,
    r,
    errnum,
    tries,
    () =>
      `${semid}, ${semnum}, ${COMMAND_NAMES[cmd] ?? cmd}${
        cmd === SEMCTL.SETVAL ? `, ${value}` : ""
      }`,
  );
}

/** `semctl(semid, semnum, SETVAL, value)`: sets one semaphore's count. */
export function semctlSetVal(semid: number, semnum: number, value: number): void {
  semctlValue(semid, semnum, SEMCTL.SETVAL, value);
}

/** `semctl(semid, semnum, GETVAL)`: one semaphore's count now. */
export function semctlGetVal(semid: number, semnum: number): number {
  return semctlValue(semid, semnum, SEMCTL.GETVAL);
}

/** `semctl(semid, semnum, GETPID)`: the last process that changed that semaphore (0: none). */
export function semctlGetPid(semid: number, semnum: number): number {
  return semctlValue(semid, semnum, SEMCTL.GETPID);
}

/** `semctl(semid, semnum, GETNCNT)`: how many processes wait for that semaphore to rise. */
export function semctlGetNcnt(semid: number, semnum: number): number {
  return semctlValue(semid, semnum, SEMCTL.GETNCNT);
}

/**
 * `semctl(semid, 0, IPC_RMID)`: removes the set at once. Unlike a segment it is never "marked
 * for removal": every process waiting on it wakes up with EIDRM, and any later call fails
 * with EINVAL or EIDRM.
 */
export function semctlRemove(semid: number): void {
  semctlValue(semid, 0, IPC.RMID);
}

/** `semctl(semid, 0, IPC_STAT, &buf)`: the set's `struct semid_ds`. */
export function semctlStat(semid: number): SemidDs {
  const buf = new Uint8Array(SEMID_DS.size);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.semctl_buf(semid, 0, IPC.STAT, buf);
    errnum = errnoCell[0]!;
  } while (retry(SEMCTL_CALL, r === -1, errnum, ++tries));
  const view = new DataView(buf.buffer);
  const p = perm(view);
  const ds: SemidDs = {
    key: p.key,
    uid: p.uid,
    cuid: p.cuid,
    mode: p.mode & 0o777,
    otime: Number(view.getBigInt64(SEMID_DS.otime, little)),
    ctime: Number(view.getBigInt64(SEMID_DS.ctime, little)),
    nsems: Number(view.getBigUint64(SEMID_DS.nsems, little)),
  };
  check(
    SEMCTL_CALL,
    r,
    errnum,
    tries,
    () =>
      r === -1
        ? `${semid}, 0, IPC_STAT, <struct semid_ds *>`
        : `${semid}, 0, IPC_STAT, {sem_perm={key=${hexKey(ds.key)}, uid=${ds.uid}, mode=${
          octal(p.mode)
        }}, sem_otime=${ds.otime}, sem_nsems=${ds.nsems}, ...}`,
  );
  return ds;
}
