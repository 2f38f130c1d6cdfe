/**
 * The system and its processes: does a process exist (kill(2) with signal 0), the monotonic
 * clock, how much room a file system has (statvfs(3)), may this process open a file
 * (access(2)), a signal when the parent dies and adopting orphans (prctl(2)), the parent's pid
 * (getppid(2)), and collecting a child that has ended (waitpid(2)).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ACCESS, access, getppid, processExists } from "../libc.ts";
 * assert.equal(processExists(Deno.pid), true);
 * assert.equal(processExists(getppid()), true);
 * assert.equal(access("/no/such/file", ACCESS.F_OK)?.code, "ENOENT");
 * assert.equal(access("/dev/null", ACCESS.R_OK), null); // anyone may read it
 * ```
 *
 * @module
 */

import { check, cstring, failure } from "./call.ts";
import {
  documented,
  Errno,
  errnoCell,
  errnoName,
  errorFor,
  LibcError,
  retry,
  strerror,
} from "./errno.ts";
import { c } from "./ffi.ts";
import { quote, tracer } from "./trace.ts";

const KILL = documented("kill", "EINVAL EPERM ESRCH");

/**
 * `kill(2)` with signal 0: does process `pid` still exist? (No signal is sent; the kernel
 * only checks. ESRCH means it does not; EPERM means it exists but belongs to someone else.)
 */
export function processExists(pid: number): boolean {
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.kill(pid, 0);
    errnum = errnoCell[0]!;
  } while (retry(KILL, r === -1, errnum, ++tries));
  if (r === -1 && (errnum === Errno.ESRCH || errnum === Errno.EPERM)) {
    tracer?.(`kill(${pid}, 0) = -1 ${errnoName(errnum)} (${strerror(errnum)})`);
    return errnum === Errno.EPERM;
  }
  check(KILL, r, errnum, tries, () => `${pid}, 0`);
  return true;
}

const timespec = new BigInt64Array(2);
const timespecBytes = new Uint8Array(timespec.buffer);
const CLOCK_GETTIME = documented(
  "clock_gettime",
  "EACCES EFAULT EINVAL ENODEV EOPNOTSUPP EPERM",
);

/**
 * `clock_gettime(CLOCK_MONOTONIC)` in milliseconds. The monotonic clock is the same for every
 * process on the machine, so two processes can compare their readings. (Not traced: it is a
 * measurement, not a step of the lesson.)
 */
export function monotonicMs(): number {
  errnoCell[0] = 0;
  const r = c.clock_gettime(1, /* CLOCK_MONOTONIC */ timespecBytes);
  const errnum = errnoCell[0]!;
  if (r !== 0) throw errorFor(CLOCK_GETTIME, errnum, 1);
  return Number(timespec[0]!) * 1000 + Number(timespec[1]!) / 1e6;
}

/** What {@linkcode statvfs} tells of a file system. */
export interface FsSpace {
  /** Bytes an unprivileged user may still write (`f_bavail × f_frsize`). */
  availableBytes: number;
  /** Bytes free, counting the blocks reserved for root (`f_bfree × f_frsize`). */
  freeBytes: number;
  /** The file system's size (`f_blocks × f_frsize`). */
  totalBytes: number;
  /** Mounted read-only (`ST_RDONLY` in `f_flag`). */
  readOnly: boolean;
}

const STATVFS = documented(
  "statvfs",
  "EACCES EBADF EFAULT EINTR EIO ELOOP ENAMETOOLONG ENOENT ENOMEM ENOSYS ENOTDIR EOVERFLOW",
);

/**
 * `statvfs(3)`: how much room the file system that holds `path` has.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { statvfs } from "../libc.ts";
 * const space = statvfs("/tmp");
 * assert.ok(space.totalBytes > 0);
 * assert.ok(0 <= space.availableBytes && space.availableBytes <= space.freeBytes);
 * assert.ok(space.freeBytes <= space.totalBytes);
 * ```
 */
export function statvfs(path: string): FsSpace {
  // struct statvfs (x86_64 and aarch64): unsigned long f_bsize, f_frsize; fsblkcnt_t f_blocks,
  // f_bfree, f_bavail; fsfilcnt_t f_files, f_ffree, f_favail; unsigned long f_fsid, f_flag,
  // f_namemax; int __f_spare[6];  (11 × 8 + 24 = 112 bytes)
  const s = new BigUint64Array(14);
  const pathname = cstring(path);
  const buf = new Uint8Array(s.buffer);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.statvfs(pathname, buf);
    errnum = errnoCell[0]!;
  } while (retry(STATVFS, r === -1, errnum, ++tries));
  check(STATVFS, r, errnum, tries, () => `${quote(path)}, <buf>`);
  const frsize = Number(s[1]);
  const ST_RDONLY = 1n;
  return {
    totalBytes: Number(s[2]) * frsize,
    freeBytes: Number(s[3]) * frsize,
    availableBytes: Number(s[4]) * frsize,
    readOnly: (s[9]! & ST_RDONLY) !== 0n,
  };
}

/** Modes for {@linkcode access}. */
export const ACCESS = { F_OK: 0, X_OK: 1, W_OK: 2, R_OK: 4 } as const;

const ACCESS_CALL = documented(
  "access",
  "EACCES EBADF EFAULT EINVAL EIO ELOOP ENAMETOOLONG ENOENT ENOMEM ENOTDIR EPERM EROFS ETXTBSY",
);

/**
 * `access(2)`: may this process (by its real user id) open `path` for `mode`? Returns null
 * when it may, or the {@linkcode LibcError} that says why not (EACCES, EROFS, ENOENT, …).
 */
export function access(path: string, mode: number): LibcError | null {
  const pathname = cstring(path);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.access(pathname, mode);
    errnum = errnoCell[0]!;
  } while (retry(ACCESS_CALL, r === -1, errnum, ++tries));
  const args = () => `${quote(path)}, ${mode}`;
  if (r === -1) return failure(ACCESS_CALL, errnum, tries, args);
  check(ACCESS_CALL, r, errnum, tries, args);
  return null;
}

const PRCTL = documented(
  "prctl",
  "EACCES EBADF EBUSY EFAULT EINVAL ENODEV ENXIO EOPNOTSUPP EPERM ERANGE",
);

/**
 * `prctl(PR_SET_PDEATHSIG, signal)`: asks the kernel to send this process `signal` when its
 * parent dies, even if the parent was killed with SIGKILL and could not say goodbye.
 * (Strictly: when the *thread* that started it exits; Deno starts children from its main
 * thread, which lives as long as the process.)
 */
export function setParentDeathSignal(signal: number): void {
  const PR_SET_PDEATHSIG = 1;
  const arg2 = BigInt(signal);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.prctl(PR_SET_PDEATHSIG, arg2, 0n, 0n, 0n);
    errnum = errnoCell[0]!;
  } while (retry(PRCTL, r === -1, errnum, ++tries));
  check(PRCTL, r, errnum, tries, () => `PR_SET_PDEATHSIG, ${signal}`);
}

/**
 * `prctl(PR_SET_CHILD_SUBREAPER, 1)`: makes this process a "child subreaper". A process whose
 * parent dies is then handed to this process (its nearest living subreaper ancestor), not to
 * init: whatever its descendants start and abandon, even in a session of their own (`setsid`),
 * stays within reach, as its child, in `/proc/PID/stat`'s ppid. The orphans that end become
 * this process's zombies until it collects them ({@linkcode reapChild}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * // A process stays a subreaper for life, so this runs in a Deno of its own. There, sh starts
 * // a sleep and exits at once: the orphaned sleep is handed to the subreaper, not to init.
 * const libc = new URL("../libc.ts", import.meta.url).href;
 * const script = `
 *   import { becomeChildSubreaper, reapChild } from "${libc}";
 *   becomeChildSubreaper();
 *   const sh = ["-c", "sleep 60 >/dev/null 2>&1 & echo $!"];
 *   const { stdout } = await new Deno.Command("sh", { args: sh, stdout: "piped" }).output();
 *   const orphan = Number(new TextDecoder().decode(stdout));
 *   const stat = Deno.readTextFileSync("/proc/" + orphan + "/stat");
 *   const ppid = Number(stat.split(") ")[1]!.split(" ")[1]); // the field after the state
 *   Deno.kill(orphan, "SIGKILL");
 *   while (!reapChild(orphan)) await new Promise((done) => setTimeout(done, 10));
 *   console.log(ppid === Deno.pid ? "adopted" : "not adopted");
 * `;
 * const child = new Deno.Command(Deno.execPath(), { args: ["eval", script], stdout: "piped" });
 * assert.equal(new TextDecoder().decode((await child.output()).stdout).trim(), "adopted");
 * ```
 */
export function becomeChildSubreaper(): void {
  const PR_SET_CHILD_SUBREAPER = 36;
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.prctl(PR_SET_CHILD_SUBREAPER, 1n, 0n, 0n, 0n);
    errnum = errnoCell[0]!;
  } while (retry(PRCTL, r === -1, errnum, ++tries));
  check(PRCTL, r, errnum, tries, () => "PR_SET_CHILD_SUBREAPER, 1");
}

const WAITPID = documented("waitpid", "ECHILD EINTR EINVAL");
/** waitpid's `WNOHANG`: return at once if the child has not ended. */
const WNOHANG = 1;

/**
 * `waitpid(pid, &status, WNOHANG)`: collects the child `pid` if it has ended (a zombie), so
 * that its entry in the process table goes; never waits. True if it was collected; false if it
 * still runs, or is not this process's child (ECHILD: gone, or never ours). Only for a child
 * nothing else waits for: Deno.Command collects its own children, and a second collector
 * would take their exit status from it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reapChild } from "../libc.ts";
 * assert.equal(reapChild(1), false); // init is nobody's child
 * ```
 */
export function reapChild(pid: number): boolean {
  const status = new Uint8Array(4);
  let r: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    r = c.waitpid(pid, status, WNOHANG);
    errnum = errnoCell[0]!;
  } while (retry(WAITPID, r === -1, errnum, ++tries));
  if (r === -1 && errnum === Errno.ECHILD) {
    tracer?.(`waitpid(${pid}, <status>, WNOHANG) = -1 ECHILD (${strerror(errnum)})`);
    return false;
  }
  return check(WAITPID, r, errnum, tries, () => `${pid}, <status>, WNOHANG`) === pid;
}

/** `getppid(2)`: the parent's pid (1, or a subreaper's, once the parent has died). It cannot fail. */
export function getppid(): number {
  return c.getppid();
}
