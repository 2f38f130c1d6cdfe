/**
 * Lesson: System V message queues.
 *
 *     deno task lesson:sysv-mq                                          the demo
 *     deno task lesson:sysv-mq server --key 0x1234 --input F             terminal 1
 *     deno task lesson:sysv-mq client --key 0x1234 --output G            terminal 2
 *
 * The server creates a queue for a key (from `ftok(--path, --proj)`, or `--key`) and sends the
 * input file through it as messages of type 1, then a message of type 2 that marks the end and
 * carries the number of bytes sent. The client finds the queue by the same key, writes what it
 * receives into the output file, and keeps it only if that many bytes came. README.md states the protocol exactly; `peer.c` beside it speaks it in C.
 *
 * @module
 */

import { join } from "node:path";
import {
  formatKey,
  ftokPathProblem,
  parseKey,
  SYSV_MQ_LIMIT_FILES,
  sysvQueueLimits,
} from "../../transports/sysv_mq.ts";
import { ftok, LibcError } from "../../transports/libc.ts";
import { parseCount, parseSize, UsageError } from "../_cli.ts";
import { defineLesson, type Lesson, tempDir, uniqueName } from "../_lesson.ts";
import { runLesson } from "../_runner.ts";
import { client } from "./client.ts";
import {
  DEFAULT_PROJ,
  END_TEXT_BYTES,
  ftokFailed,
  isRunKeyFile,
  queueObjects,
  type SysvMqOptions,
} from "./common.ts";
import { labs } from "./labs.ts";
import { server } from "./server.ts";

/** The System V message-queue lesson. */
export const lesson: Lesson<SysvMqOptions> = defineLesson({
  method: "sysv-mq",
  title: "Lesson: System V message queues - ftok(3), msgget(2), msgsnd(2), msgrcv(2), msgctl(2)",
  description: [
    "The server makes a key with ftok(--path, --proj) (or takes --key), creates a queue for it",
    "(IPC_CREAT | IPC_EXCL, mode 0600) and sends the input as messages of type 1, then a message",
    "of type 2 that marks the end and carries the byte count. The client finds the queue by the",
    "same key, copies every message into the output, and keeps it only if the count matches (any",
    "process of the user may send to the queue). The queue outlives both: the server removes it",
    "(IPC_RMID).",
  ].join("\n"),
  examples: [
    "deno task lesson:sysv-mq",
    "deno task lesson:sysv-mq --size 16M --quiet",
    "deno task lesson:sysv-mq --trace --size 20K --chunk 3000 --qbytes 8000",
    "deno task lesson:sysv-mq server --path lessons/sample.txt --proj 7 --input lessons/sample.txt   # terminal 1",
    "deno task lesson:sysv-mq client --path lessons/sample.txt --proj 7 --output /tmp/copy.txt --force   # terminal 2",
  ],
  entry: import.meta.url,
  options: {
    path: {
      type: "string",
      arg: "PATH",
      help: "the existing file ftok() makes the key from (default: a key file the run makes, " +
        "ipc-lesson-sysv-mq-….key in the temporary directory)",
    },
    proj: {
      type: "string",
      arg: "N",
      help: `the project id ftok() takes, 1 to 255 (default ${DEFAULT_PROJ}, 'L')`,
    },
    key: {
      type: "string",
      arg: "KEY",
      help: "the key itself, like 0x4c0b1234, instead of ftok(--path, --proj)",
    },
    qbytes: {
      type: "string",
      arg: "BYTES",
      help: "the queue's byte budget, msg_qbytes (default kernel/msgmnb; above it only with " +
        "CAP_SYS_RESOURCE)",
    },
  },
  parse(values): SysvMqOptions {
    if (values.key !== undefined && (values.path !== undefined || values.proj !== undefined)) {
      throw new UsageError("--key gives the key itself: leave out --path and --proj, or --key");
    }
    let key = 0;
    if (values.key !== undefined) {
      const parsed = parseKey(values.key);
      if (typeof parsed === "string") throw new UsageError(`--key ${parsed}`);
      key = parsed;
    }
    if (values.path === "") throw new UsageError("--path needs the path of an existing file");
    if (values.path?.includes("\0")) throw new UsageError("--path must not contain a NUL byte");
    const problem = values.path === undefined ? null : ftokPathProblem(values.path);
    if (problem !== null) throw new UsageError(`--path ${JSON.stringify(values.path)} ${problem}`);
    const proj = values.proj === undefined ? DEFAULT_PROJ : parseCount(values.proj, "--proj", {
      min: 1,
      max: 255,
    });
    const { msgmnb } = sysvQueueLimits();
    let qbytes = 0;
    if (values.qbytes !== undefined) {
      qbytes = parseSize(values.qbytes, "--qbytes", 1);
      if (qbytes < END_TEXT_BYTES) {
        throw new UsageError(
          `--qbytes ${qbytes} is below ${END_TEXT_BYTES} bytes: the end message carries the ` +
            `count of bytes sent in ${END_TEXT_BYTES} bytes, and a message larger than ` +
            "msg_qbytes never fits",
        );
      }
      if (qbytes > msgmnb && !mayRaiseQbytes()) {
        throw new UsageError(
          `--qbytes ${qbytes} is above the system's limit of ${msgmnb} bytes per queue ` +
            `(${SYSV_MQ_LIMIT_FILES.msgmnb}); only a process with CAP_SYS_RESOURCE may go higher, ` +
            // Root has it on most machines, but not in every container.
            (Deno.uid() === 0 ? "and here not even root has it" : "and this one has not got it"),
        );
      }
    }
    const file = values.path ?? join(tempDir(), `${uniqueName("sysv-mq")}.key`);
    // A --path that cannot make a key is a bad option value, said before anything starts. (A
    // run's key file may not exist yet: its server makes it, and a client waits for it.)
    if (key === 0 && !isRunKeyFile(file)) {
      try {
        ftok(file, proj);
      } catch (error) {
        if (!(error instanceof LibcError)) throw error;
        throw new UsageError(ftokFailed(file, proj, error));
      }
    }
    return {
      // The demo passes these on to both sides: the run's key file as --path.
      path: key !== 0 ? false : file,
      proj: key !== 0 ? false : proj,
      key: key !== 0 ? formatKey(key) : false, // key_t is signed: 0xffffffff is -1
      qbytes: qbytes !== 0 ? qbytes : false,
      file,
      projectId: proj,
      fixedKey: key,
      budget: qbytes,
    };
  },
  // One message carries one chunk of the file, so a chunk is at most msgmax bytes, and no
  // more than the queue's byte budget (--qbytes, or msgmnb): a message larger than
  // msg_qbytes never fits. (Both are sysctls: root may set msgmnb below msgmax.)
  chunk: (options) => {
    const { msgmax, msgmnb } = sysvQueueLimits();
    const budget = options.budget !== 0 ? options.budget : msgmnb;
    const max = Math.min(msgmax, budget);
    return {
      default: max,
      max,
      why: max === msgmax
        ? `the largest message the kernel takes (msgmax, ${SYSV_MQ_LIMIT_FILES.msgmax})`
        : options.budget !== 0
        ? "the queue's byte budget set with --qbytes: a larger message would never fit"
        : `a new queue's byte budget (msgmnb, ${SYSV_MQ_LIMIT_FILES.msgmnb}): a larger message ` +
          "would never fit",
    };
  },
  objects: queueObjects,
  labs,
  server,
  client,
});

/**
 * Whether this process has CAP_SYS_RESOURCE (bit 24 of `CapEff` in /proc/self/status), which
 * msgctl(IPC_SET) asks of a msg_qbytes above msgmnb: root usually has it.
 */
function mayRaiseQbytes(): boolean {
  try {
    const line = Deno.readTextFileSync("/proc/self/status").match(/^CapEff:\s*([0-9a-f]+)$/m);
    return line !== null && (BigInt(`0x${line[1]}`) & (1n << 24n)) !== 0n;
  } catch {
    return false;
  }
}

if (import.meta.main) await runLesson(lesson, Deno.args);
