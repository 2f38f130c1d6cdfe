/**
 * System V IPC: what its three kinds of object share. They are named by a `key_t` (a number,
 * usually made by `ftok` from a path and a project id), created and found with `*get` and the
 * `IPC_*` flags, and controlled with `*ctl` (`IPC_STAT`, `IPC_RMID`). The message queue wrappers
 * are in `sysv_msg.ts`, the shared memory and semaphore wrappers in `sysv_shm.ts`.
 *
 * @module
 */

import { check, cstring } from "./call.ts";
import { documented, errnoCell, retry } from "./errno.ts";
import { c } from "./ffi.ts";
import { quote } from "./trace.ts";

/** The flags and commands of `<sys/ipc.h>` (Linux values). */
export const IPC = {
  /** `key_t IPC_PRIVATE`: a new object no other `*get` can find by key. */
  PRIVATE: 0,
  /** Create the object if the key has none. */
  CREAT: 0o1000,
  /** With `IPC_CREAT`: fail with EEXIST if the key already has one (create exclusively). */
  EXCL: 0o2000,
  /** Do not wait: fail with EAGAIN (`msgsnd`, `semop`) or ENOMSG (`msgrcv`) instead. */
  NOWAIT: 0o4000,
  /** `*ctl`: remove the object (a segment: once the last process has detached it). */
  RMID: 0,
  /** `*ctl`: set the owner, mode (and a queue's `msg_qbytes`) from the buffer. */
  SET: 1,
  /** `*ctl`: copy the object's `*id_ds` into the buffer. */
  STAT: 2,
} as const;

const FTOK = documented("ftok", "EACCES ELOOP ENAMETOOLONG ENOENT ENOTDIR EOVERFLOW");

/**
 * `ftok(3)`: a System V key from an existing file and a project id (1–255). glibc builds it
 * from the low 8 bits of `proj_id`, the low 8 bits of the file's device number and the low 16
 * bits of its inode number; so two paths may collide, and a file removed and made again (new
 * inode) gives a new key.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ftok } from "./sysv.ts";
 * const key = ftok("/tmp", 1);
 * assert.equal(key, ftok("/tmp", 1)); // the same path and id: the same key
 * assert.equal(key >>> 24, 1); // the project id is the top byte
 * ```
 */
export function ftok(path: string, projectId: number): number {
  if (!Number.isInteger(projectId) || projectId < 1 || projectId > 255) {
    throw new RangeError(`ftok project id must be 1 to 255, not ${projectId}`);
  }
  const pathname = cstring(path);
  let key: number, errnum: number, tries = 0;
  do {
    errnoCell[0] = 0;
    key = c.ftok(pathname, projectId);
    errnum = errnoCell[0]!;
  } while (retry(FTOK, key === -1, errnum, ++tries));
  return check(
    FTOK,
    key,
    errnum,
    tries,
    () => `${quote(path)}, ${projectId}`,
    (value) => `0x${(value >>> 0).toString(16).padStart(8, "0")}`, // as ipcs prints keys
  );
}

/** The three kinds of System V object, as `/proc/sysvipc/<kind>` names them. */
export type SysvKind = "msg" | "shm" | "sem";

/**
 * One line of `/proc/sysvipc/msg`, `shm` or `sem`: each column under its header's name (`key`,
 * `msqid`, `perms`, `cbytes`, `qnum`, `lspid`, `lrpid`, `uid`, `cuid`, … for a queue; `shmid`,
 * `cpid`, `lpid`, `nattch`, … for a segment; `semid`, `nsems`, … for a set), as numbers: `key`
 * is read as the signed `key_t` it is, and `perms` in octal, as the file writes it.
 */
export type SysvRow = Readonly<Record<string, number>>;

/**
 * Every object of `kind` in this IPC namespace, from `/proc/sysvipc/<kind>`: what `ipcs` reads
 * too, for every user (the file is world-readable; only the objects' modes protect them).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IPC, sysvipcTable } from "./sysv.ts";
 * import { msgctl, msgget } from "./sysv_msg.ts";
 * const msqid = msgget(IPC.PRIVATE, IPC.CREAT | 0o600);
 * const row = sysvipcTable("msg").find((row) => row["msqid"] === msqid);
 * msgctl(msqid, IPC.RMID);
 * assert.equal(row?.["perms"], 0o600);
 * assert.equal(row?.["uid"], Deno.uid());
 * ```
 */
export function sysvipcTable(kind: SysvKind): SysvRow[] {
  const [header, ...lines] = Deno.readTextFileSync(`/proc/sysvipc/${kind}`).split("\n");
  const names = header!.trim().split(/\s+/);
  return lines.filter((line) => line.trim() !== "").map((line) => {
    const fields = line.trim().split(/\s+/);
    return Object.fromEntries(names.map((name, i) => {
      const text = fields[i] ?? "";
      return [name, name === "perms" ? parseInt(text, 8) : Number(text)];
    }));
  });
}

/**
 * The `/proc/sysvipc/<kind>` header and the line for the object `id` (a `msqid`, `shmid` or
 * `semid`), as the file has them, for a narration that shows them; null if it is not there.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IPC, sysvipcLines } from "./sysv.ts";
 * import { msgctl, msgget } from "./sysv_msg.ts";
 * const msqid = msgget(IPC.PRIVATE, IPC.CREAT | 0o600);
 * const lines = sysvipcLines("msg", msqid);
 * msgctl(msqid, IPC.RMID);
 * assert.match(lines![0], /key +msqid perms/);
 * assert.equal(sysvipcLines("msg", msqid), null); // gone
 * ```
 */
export function sysvipcLines(kind: SysvKind, id: number): [string, string] | null {
  const [header, ...lines] = Deno.readTextFileSync(`/proc/sysvipc/${kind}`).split("\n");
  const line = lines.find((line) => line.trim().split(/\s+/)[1] === String(id));
  return line === undefined ? null : [header!.trimEnd(), line.trimEnd()];
}

/**
 * A System V limit from `/proc/sys/kernel/<name>`: `msgmax` (the largest message), `msgmnb`
 * (a new queue's `msg_qbytes`), `msgmni` (how many queues), `shmmax`, `shmall`, `shmmni`.
 * `sem` holds four numbers; this reads the first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kernelLimit } from "./sysv.ts";
 * assert.ok(kernelLimit("msgmax") >= 1); // 8192 by default
 * ```
 */
export function kernelLimit(name: string): number {
  return Number(Deno.readTextFileSync(`/proc/sys/kernel/${name}`).trim().split(/\s+/)[0]);
}

// ---------------------------------------------------------------------------------------------
// Which keys are the lessons' own (so that `deno task clean` removes their leftovers, and only
// theirs: a student's own msgget/shmget/semget code leaves objects on purpose)
// ---------------------------------------------------------------------------------------------

/**
 * The top byte of every key a lesson makes up (when it needs a key and none is given): keys
 * `0x1e000000` to `0x1effffff` are the lessons'. `ftok` puts its project id in the top byte, so
 * only `ftok(path, 30)` (0x1e) gives such a key: do not use project id 30 in your own programs,
 * or `deno task clean` takes their stale objects for the lessons'.
 */
export const LESSON_KEY_BYTE = 0x1e;

/**
 * A key for a run that was given none: {@linkcode LESSON_KEY_BYTE} in the top byte, 24 random
 * bits below it (so concurrent runs rarely meet; they create exclusively and fail with EEXIST
 * if they do). Returned as the signed `key_t` the calls take.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isMadeUpKey, LESSON_KEY_BYTE, madeUpKey } from "./sysv.ts";
 * const key = madeUpKey();
 * assert.equal(key >>> 24, LESSON_KEY_BYTE);
 * assert.ok(isMadeUpKey(key));
 * assert.ok(!isMadeUpKey(0x4c0b1234)); // ftok(path, 'L'): not a made-up key
 * ```
 */
export function madeUpKey(): number {
  const [word] = crypto.getRandomValues(new Uint32Array(1));
  return (LESSON_KEY_BYTE << 24) | (word! & 0xffffff);
}

/** Whether `key` is one a lesson makes up: its top byte is {@linkcode LESSON_KEY_BYTE}. */
export function isMadeUpKey(key: number): boolean {
  return key >>> 24 === LESSON_KEY_BYTE;
}

/**
 * How a run's key file is named: `ipc-lesson-…key` (`ipc-lesson-sysv-mq-4711-3f9a2c01.key`).
 * A lesson that meets its peer through `ftok` makes one in the temporary folder (or a lab, in
 * its `ipc-lesson-lab-…` folder there), and removes it at the end.
 */
export const RUN_KEY_FILE: RegExp = /^ipc-lesson-.*\.key$/;

/** Why a key is the lessons' own: see {@linkcode lessonKeys}. */
export interface LessonKey {
  /** The run key file whose `ftok` the key is; null for a made-up key. */
  readonly file: string | null;
  /** The reason, for a listing: `ftok of the run key file /tmp/ipc-lesson-….key`. */
  readonly why: string;
}

/**
 * The lessons' own keys, as seen from the temporary folder `dir`: a function that says where a
 * key comes from, or null when it is not the lessons'. A key is theirs if
 * - it is made up ({@linkcode isMadeUpKey});
 * - or it is `ftok(file, id)`, for any project id, of a run key file ({@linkcode RUN_KEY_FILE},
 *   this user's, a regular file) in `dir` whose name starts with `prefix`, or in one of this
 *   user's `ipc-lesson-lab-…` folders there. `ftok` keeps 16 bits of the inode and 8 of the
 *   device, and the file must still exist: once it is gone, nothing says whose the key was.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ftok, lessonKeys, madeUpKey } from "./sysv.ts";
 * const dir = Deno.makeTempDirSync();
 * const file = `${dir}/ipc-lesson-example.key`;
 * Deno.writeFileSync(file, new Uint8Array(0));
 * const whose = lessonKeys(dir);
 * assert.equal(whose(ftok(file, 76))?.file, file);
 * assert.equal(whose(madeUpKey())?.file, null); // made up: no file
 * assert.equal(whose(ftok("/tmp", 76)), null); // not the lessons'
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function lessonKeys(dir: string, prefix = "ipc-lesson-"): (key: number) => LessonKey | null {
  const files = new Map<number, string>(); // the low 24 bits of ftok(file, id) -> the file
  const me = Deno.uid();
  const mine = (info: Deno.FileInfo) => me === null || info.uid === me;
  const look = (folder: string, filePrefix: string, depth: number) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(folder)];
    } catch {
      return; // no such folder, or not ours to read: no key files there
    }
    for (const entry of entries) {
      const path = `${folder}/${entry.name}`;
      if (entry.isFile && entry.name.startsWith(filePrefix) && RUN_KEY_FILE.test(entry.name)) {
        try {
          if (!mine(Deno.lstatSync(path))) continue;
          files.set(ftok(path, 1) & 0xffffff, path);
        } catch { /* gone meanwhile */ }
      } else if (depth === 0 && entry.isDirectory && entry.name.startsWith("ipc-lesson-lab-")) {
        if (!entry.name.startsWith(prefix)) continue;
        try {
          if (mine(Deno.lstatSync(path))) look(path, "ipc-lesson-", 1);
        } catch { /* gone meanwhile */ }
      }
    }
  };
  look(dir, prefix, 0);
  const madeUp: LessonKey = {
    file: null,
    why: `a key the lessons make up (top byte 0x${LESSON_KEY_BYTE.toString(16)})`,
  };
  return (key) => {
    if (isMadeUpKey(key)) return madeUp;
    const file = key >>> 24 === 0 ? undefined : files.get(key & 0xffffff);
    return file === undefined ? null : { file, why: `ftok of the run key file ${file}` };
  };
}
