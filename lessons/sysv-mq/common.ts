/**
 * What the System V queue lesson's server and client share, the way a C lesson's header file
 * serves both programs: the options, the protocol's message types, how both find the key, the
 * refusal of a key that already has a queue, and what to show of the queue from outside.
 *
 * @module
 */

import { basename } from "node:path";
import * as libc from "../../transports/libc.ts";
import {
  formatKey,
  isStale,
  KEY_FILE_PATTERN,
  MTYPE,
  SYSV_MQ_LIMIT_FILES,
  SysvQueue,
  sysvQueueLimits,
  sysvQueueOf,
} from "../../transports/sysv_mq.ts";
import { seconds, sleep } from "../../transports/wait.ts";
import { type KernelObject, LessonError, tempDir } from "../_lesson.ts";
import type { Log } from "../_log.ts";

/**
 * The System V queue lesson's own options. The first four are the command line's, as the demo
 * passes them on to both sides (false: not given); the others are what they mean.
 */
export interface SysvMqOptions {
  /** --path, or false: then `file` is a key file of the run. */
  path: string | false;
  /** --proj, or false (the default project id). */
  proj: number | false;
  /** --key as `ipcs` prints it (`0xffffffff`, never a negative number), or false. */
  key: string | false;
  /** --qbytes, or false. */
  qbytes: number | false;
  /** The file `ftok` makes the key from (a key file of the run by default). */
  file: string;
  /** The project id `ftok` takes, 1 to 255. */
  projectId: number;
  /** The key given with --key, or 0: the key comes from `ftok(file, projectId)`. */
  fixedKey: number;
  /** The queue's byte budget `msg_qbytes` (0: leave the kernel's default, msgmnb). */
  budget: number;
}

/** The protocol: type 1 carries data, type 2 says "that was all, and this many bytes". */
export const DATA = MTYPE.DATA;
/** The end-of-file message's type. */
export const END = MTYPE.END;

/** The end message's text: the number of bytes sent, as an unsigned 64-bit little-endian count. */
export const END_TEXT_BYTES = 8;

/** The end message's text for a copy of `bytes` bytes (8 bytes, little-endian, as peer.c sends it). */
export function endText(bytes: number): Uint8Array {
  const text = new Uint8Array(END_TEXT_BYTES);
  new DataView(text.buffer).setBigUint64(0, BigInt(bytes), true);
  return text;
}

/** The count an end message's text carries, or null if it is not 8 bytes long (not the server's). */
export function endCount(text: Uint8Array): number | null {
  if (text.length !== END_TEXT_BYTES) return null;
  return Number(new DataView(text.buffer, text.byteOffset, text.length).getBigUint64(0, true));
}

/** The project id when --proj is not given: `'L'`, for "lesson". */
export const DEFAULT_PROJ = 76;

/**
 * Whether `path` is a key file a run makes for itself (`ipc-lesson-sysv-mq-….key`): the
 * server creates it when it is missing, and the client waits for it. Any other --path must
 * name a file that exists, since `ftok` needs its inode.
 */
export function isRunKeyFile(path: string): boolean {
  return KEY_FILE_PATTERN.test(basename(path));
}

/** How a sentence names the key: `key 0x4c0b1234 (ftok("/tmp/x", 76))`. */
export function describeKey(key: number, options: SysvMqOptions): string {
  return options.fixedKey !== 0
    ? `key ${formatKey(key)} (--key)`
    : `key ${formatKey(key)} (ftok(${JSON.stringify(options.file)}, ${options.projectId}))`;
}

/**
 * The key, with `ftok(path, proj)` unless --key gave one. ENOENT gets one line: ftok needs a
 * file that exists, because the key is made from its inode and device numbers.
 */
export function keyOf(options: SysvMqOptions): number {
  if (options.fixedKey !== 0) return options.fixedKey;
  try {
    return libc.ftok(options.file, options.projectId);
  } catch (error) {
    if (error instanceof libc.LibcError) {
      throw new LessonError(ftokFailed(options.file, options.projectId, error));
    }
    throw error;
  }
}

/**
 * Why `ftok(file, proj)` failed, as one line (the sysv-shm lesson words it alike): ftok needs
 * a file that exists, because the key is made from its inode and device numbers.
 */
export function ftokFailed(file: string, proj: number, error: libc.LibcError): string {
  return `--path ${JSON.stringify(file)} cannot make a key: ftok(${
    JSON.stringify(file)
  }, ${proj}) failed with ${error.code} (${error.description.toLowerCase()}); --path must ` +
    "name a file that exists (ftok makes the key from its inode and device numbers), or give " +
    "the key itself with --key";
}

/**
 * The key once the key file exists: the client may start before the server has made the run's
 * key file. Waits up to `timeoutMs` for it; any other missing --path fails at once.
 */
export async function waitForKey(
  options: SysvMqOptions,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<number> {
  if (options.fixedKey !== 0 || !isRunKeyFile(options.file)) return keyOf(options);
  const deadline = performance.now() + timeoutMs;
  for (let pause = 2;; pause = Math.min(pause * 2, 100)) {
    try {
      Deno.statSync(options.file);
      return keyOf(options);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (performance.now() >= deadline) {
      throw new LessonError(
        `no server made the key file ${options.file} within ${seconds(timeoutMs)}`,
      );
    }
    await sleep(pause, signal);
  }
}

/**
 * The error for a key that has a queue already: whose it is, whether anybody still uses it,
 * and how to remove it. The queue is left alone either way.
 */
export function keyTaken(key: number, options: SysvMqOptions): LessonError {
  const info = sysvQueueOf(key);
  const what = `a System V message queue with ${describeKey(key, options)} already exists`;
  const other = options.fixedKey !== 0 ? "another --key" : "another --path or --proj";
  if (info === null) {
    return new LessonError(`${what} (it went a moment ago); try again, or choose ${other}`);
  }
  const holds = `msqid ${info.msqid}, ${info.qnum} message${info.qnum === 1 ? "" : "s"}`;
  if (info.uid !== Deno.uid()) {
    return new LessonError(
      `${what} (${holds}), owned by user ${info.uid}: it was left untouched; choose ${other}`,
    );
  }
  if (isStale(info)) {
    const pids = [...new Set([info.lspid, info.lrpid])].filter((pid) => pid !== 0);
    // A killed run's only if its key is the lessons' own: any program may have made it.
    const whose = libc.lessonKeys(tempDir())(key) !== null
      ? "so a killed run left it behind"
      : "so the program that made it exited without removing it";
    return new LessonError(
      `${what} (${holds}): ${processes(pids)}, the last to use it, ${
        pids.length === 1 ? "has" : "have"
      } exited, ${whose} (System V queues outlive their processes); it was left ` +
        `untouched: \`ipcrm -q ${info.msqid}\` or \`deno task clean ${
          formatKey(key)
        }\` removes it, ` +
        `or choose ${other}`,
    );
  }
  const users = info.running.length > 0
    ? `${processes(info.running)} ${info.running.length === 1 ? "uses" : "use"} it`
    : "nobody has sent or received yet, so it may be a program's that is starting";
  return new LessonError(
    `${what} (${holds}): ${users}; it was left untouched: choose ${other} ` +
      `(\`ipcrm -q ${info.msqid}\` would remove it, if you know it is not in use)`,
  );
}

/** `process 4711`, `processes 4711 and 4712`: the subject of a sentence. */
function processes(pids: readonly number[]): string {
  return `process${pids.length === 1 ? "" : "es"} ${pids.join(" and ")}`;
}

/**
 * The queue of a demo run, as a kernel object the runner can check for and remove. Its key may
 * not be known yet: the server makes the run's key file when it starts. A key that has a queue
 * already is refused before either side starts.
 */
export function queueObjects(options: SysvMqOptions): KernelObject[] {
  let key: number | null = null;
  const knownKey = () => {
    if (key === null && (options.fixedKey !== 0 || exists(options.file))) key = keyOf(options);
    return key;
  };
  const runKeyFile = options.fixedKey === 0 && isRunKeyFile(options.file);
  if (runKeyFile && exists(options.file)) {
    throw new LessonError(
      `the key file ${options.file} already exists: another run's, or one a killed run left ` +
        "(deno task clean removes it when unused); choose another --path",
    );
  }
  if (!runKeyFile) {
    key = keyOf(options);
    if (sysvQueueOf(key) !== null) throw keyTaken(key, options);
  }
  const queue: KernelObject = {
    description: options.fixedKey !== 0
      ? `the System V message queue with key ${formatKey(options.fixedKey)}`
      : `the System V message queue of ftok(${JSON.stringify(options.file)}, ${options.projectId})`,
    exists: () => {
      try {
        const known = knownKey();
        return known !== null && sysvQueueOf(known) !== null;
      } catch {
        return false; // no key file: no key, and so no queue of ours
      }
    },
    remove: () => {
      const info = sysvQueueOf(knownKey()!);
      if (info !== null) libc.msgctl(info.msqid, libc.IPC.RMID);
    },
  };
  if (!runKeyFile) return [queue];
  // Listed after the queue: the queue's key is taken from the file, so the file goes last.
  return [queue, {
    description: `the key file ${options.file}`,
    exists: () => exists(options.file),
    remove: () => Deno.removeSync(options.file),
  }];
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The queue as `ipcs -q` and `/proc/sysvipc/msg` show it, for the narration: what a student
 * can type in another terminal while the lesson runs.
 */
export function observe(log: Log, msqid: number): void {
  const lines = libc.sysvipcLines("msg", msqid);
  if (lines !== null) {
    log.say(`/proc/sysvipc/msg (the kernel's table of queues, what ipcs reads):`);
    log.say(`  ${lines[0]}`);
    log.say(`  ${lines[1]}`);
  }
  try {
    const output = new Deno.Command("ipcs", { args: ["-q"], stdout: "piped", stderr: "null" })
      .outputSync();
    const text = new TextDecoder().decode(output.stdout).split("\n");
    const header = text.find((line) => line.startsWith("key"));
    const mine = text.find((line) => line.split(/\s+/)[1] === String(msqid));
    if (header && mine) {
      log.say("ipcs -q (the same, for people):");
      log.say(`  ${header.trimEnd()}`);
      log.say(`  ${mine.trimEnd()}`);
    }
  } catch { /* no ipcs here: /proc/sysvipc/msg said it all */ }
}

/** The limits, as an error message or the narration quotes them. */
export function limitsText(): string {
  const { msgmax, msgmnb, msgmni } = sysvQueueLimits();
  return `msgmax ${msgmax} bytes per message (${SYSV_MQ_LIMIT_FILES.msgmax}), msgmnb ` +
    `${msgmnb} bytes per queue (${SYSV_MQ_LIMIT_FILES.msgmnb}), msgmni ${msgmni} queues ` +
    `(${SYSV_MQ_LIMIT_FILES.msgmni})`;
}

/**
 * With --trace: how full the queue is (`msg_qnum`, `__msg_cbytes` of `msg_qbytes`), so that
 * the byte budget and the blocking it causes show. (`msgctl(IPC_STAT)` is called only then.)
 * A queue removed meanwhile shows nothing: the next send or receive says so.
 */
export function traceFill(log: Log, queue: SysvQueue): void {
  if (!log.tracing) return;
  const stat = statOrNull(queue);
  if (stat === null) return;
  const cells = 16;
  const filled = Math.round(cells * stat.cbytes / Math.max(1, stat.qbytes));
  log.trace(
    `  queue now holds ${stat.qnum} message${stat.qnum === 1 ? "" : "s"}, ${stat.cbytes} of ` +
      `${stat.qbytes} bytes (msg_qbytes) [${"#".repeat(filled)}${".".repeat(cells - filled)}]`,
  );
}

/** `msgctl(IPC_STAT)`, or null if the queue has been removed (EIDRM, EINVAL). */
export function statOrNull(queue: SysvQueue): libc.MsqidDs | null {
  try {
    return queue.stat();
  } catch (error) {
    if (error instanceof libc.LibcError && (error.code === "EIDRM" || error.code === "EINVAL")) {
      return null;
    }
    throw error;
  }
}
