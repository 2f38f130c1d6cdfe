/**
 * The System V queue lesson's server: the sender.
 *
 * It makes the key (`ftok`), creates the queue for it, sends the input file through it as
 * messages of type 1, then a message of type 2 that marks the end and says how many bytes were
 * sent, waits until the client has taken everything, and removes the queue (`IPC_RMID`). Unlike
 * a pipe or a POSIX queue, a System V queue is removed by no exit, no close and no unlink: only
 * by `IPC_RMID`.
 *
 * @module
 */

import { LibcError } from "../../transports/libc.ts";
import * as libc from "../../transports/libc.ts";
import {
  formatKey,
  SYSV_MQ_LIMIT_FILES,
  SysvQueue,
  sysvQueueLimits,
} from "../../transports/sysv_mq.ts";
import { formatBytes } from "../../transports/units.ts";
import { seconds } from "../../transports/wait.ts";
import { LessonError, type Side } from "../_lesson.ts";
import {
  DATA,
  describeKey,
  END,
  END_TEXT_BYTES,
  endText,
  isRunKeyFile,
  keyOf,
  keyTaken,
  limitsText,
  observe,
  statOrNull,
  type SysvMqOptions,
  traceFill,
} from "./common.ts";

/** Sends the input file through the queue of the lesson's key. */
export async function server(side: Side<SysvMqOptions>): Promise<void> {
  const { log, options } = side;

  // 1. Open the input first: if it is missing, nobody should be kept waiting for us.
  using input = side.openInput();
  log.say(
    `I am the server, the sender: I send ${JSON.stringify(input.path)} (${
      formatBytes(input.size)
    })`,
  );

  // 2. The key. ftok() makes it from a file's inode and device numbers and a project id, so
  //    two programs that agree on a file and an id get the same number without talking. The
  //    run's own key file is made here (exclusively, 0600) when it is missing.
  using keyFile = makeKeyFile(options);
  const key = keyOf(options);
  log.say(
    options.fixedKey !== 0
      ? `the key is ${formatKey(key)}, given with --key`
      : `ftok(${JSON.stringify(options.file)}, ${options.projectId}) = ${
        formatKey(key)
      }: the project ` +
        `id ${options.projectId} (0x${
          options.projectId.toString(16)
        }) in the top byte, then the low bits ` +
        `of the file's device and inode numbers${
          keyFile.made ? " (I made this file for the run; it goes at the end)" : ""
        }`,
  );

  // 3. Create the queue: IPC_CREAT | IPC_EXCL fails with EEXIST if the key has a queue, so we
  //    never send into someone else's (or into one a killed run left, full of old messages).
  //    Mode 0600 lets only this user use it.
  using queue = createQueue(side, key);
  log.say(
    `created the queue with msgget(${formatKey(key)}, IPC_CREAT | IPC_EXCL | 0600) = ` +
      `${queue.msqid}: its identifier, which msgsnd, msgrcv and msgctl take`,
  );

  // 4. Its byte budget: a queue holds at most msg_qbytes bytes of text (msgmnb by default);
  //    a message that does not fit makes msgsnd wait (or fail with EAGAIN under IPC_NOWAIT).
  if (options.budget !== 0) setQbytes(queue, options.budget);
  const { qbytes } = queue.stat();
  if (side.chunk > qbytes) {
    throw new LessonError(
      `--chunk ${side.chunk} is larger than the queue's msg_qbytes of ${qbytes}: a message ` +
        "that size would never fit, and msgsnd would wait for ever; use a smaller --chunk or a " +
        "larger --qbytes",
    );
  }
  const perQueue = Math.floor(qbytes / Math.max(1, side.chunk));
  log.say(
    `msg_qbytes is ${qbytes} bytes${
      options.budget !== 0
        ? " (set with msgctl(IPC_SET), --qbytes)"
        : ` (${SYSV_MQ_LIMIT_FILES.msgmnb})`
    }: about ${perQueue} message${perQueue === 1 ? "" : "s"} of ${side.chunk} bytes fit, then ` +
      "msgsnd must wait for the client to take one (--trace shows it)",
  );
  log.say(`the limits here: ${limitsText()}`);
  observe(log, queue.msqid);
  if (side.byHand && keyFile.made) {
    log.say(
      `in another terminal, run: deno task lesson:sysv-mq client --path ${options.file} ` +
        `--proj ${options.projectId} --output copy.txt   (or --key ${formatKey(key)})`,
    );
  }

  // 5. The copy loop: read a piece of the file, send it as one message of type 1. The size
  //    given to msgsnd counts the text only, not the mtype in front of it.
  log.say(
    `sending the file in messages of type ${DATA} of up to ${side.chunk} bytes (msgmax is ` +
      `${sysvQueueLimits().msgmax}: a longer one fails with EINVAL)`,
  );
  const buf = new Uint8Array(side.chunk);
  let messages = 0;
  side.startClock();
  for (;;) {
    const n = input.read(buf);
    if (n === 0) break;
    await sendOrExplain(side, queue, buf.subarray(0, n), DATA);
    messages++;
    side.count(n);
  }

  // 6. The end-of-file marker: a message of its own type. A queue has no end-of-file: a
  //    receiver cannot tell "nothing yet" from "nothing ever" unless the protocol says so.
  //    Its text is the number of bytes sent (8 bytes, little-endian): any process of this user
  //    may msgsnd to the key, or msgrcv from it, so the client checks that the count matches.
  await sendOrExplain(side, queue, endText(side.bytes), END);
  log.say(
    `sent ${formatBytes(side.bytes)} in ${messages} message${messages === 1 ? "" : "s"} of ` +
      `type ${DATA}, then the message of type ${END} that marks the end and carries the count, ` +
      `${side.bytes} (${END_TEXT_BYTES} bytes, little-endian)`,
  );

  // 7. Wait until the client has taken every message: IPC_RMID removes the queue at once,
  //    with whatever it still holds.
  log.say("waiting until the client has taken every message (msg_qnum back to 0)");
  try {
    await queue.waitUntilEmpty();
  } catch (error) {
    throw explain(error, side, queue);
  }

  // 8. Remove the queue. Nothing else would: it is not a file, it has no descriptor to close,
  //    and it outlives every process that used it (the no-rmid lab shows it).
  queue.remove();
  log.say(
    `the client has taken everything; removed the queue with msgctl(${queue.msqid}, IPC_RMID): ` +
      `/proc/sysvipc/msg no longer lists msqid ${queue.msqid}`,
  );
}

/** The run's key file, made when it is missing (and removed at the end), or none. */
function makeKeyFile(options: SysvMqOptions): { made: boolean } & Disposable {
  if (options.fixedKey !== 0 || !isRunKeyFile(options.file)) {
    return { made: false, [Symbol.dispose]() {} };
  }
  let fd: number;
  try {
    fd = libc.open(
      options.file,
      libc.O.RDONLY | libc.O.CREAT | libc.O.EXCL | libc.O.CLOEXEC,
      0o600,
    );
  } catch (error) {
    if (error instanceof LibcError && error.code === "EEXIST") {
      throw new LessonError(
        `the key file ${options.file} already exists: another run's, or one a killed run left ` +
          "(deno task clean removes it when unused); choose another --path",
      );
    }
    throw error;
  }
  // Kept open while we run: /proc then shows the file in use, and deno task clean leaves it.
  return {
    made: true,
    [Symbol.dispose]() {
      libc.close(fd);
      try {
        Deno.removeSync(options.file);
      } catch { /* removed already (by the demo, after a fault) */ }
    },
  };
}

/** msgctl(IPC_SET) of msg_qbytes; above msgmnb it needs CAP_SYS_RESOURCE (else EPERM). */
function setQbytes(queue: SysvQueue, qbytes: number): void {
  try {
    queue.setQbytes(qbytes);
  } catch (error) {
    if (!(error instanceof LibcError && error.code === "EPERM")) throw error;
    throw new LessonError(
      `cannot set msg_qbytes to ${qbytes}: msgctl(IPC_SET) failed with EPERM: above ` +
        `${sysvQueueLimits().msgmnb} (${SYSV_MQ_LIMIT_FILES.msgmnb}) only a process with ` +
        "CAP_SYS_RESOURCE may set it",
    );
  }
}

/** Creates the queue, with one clear line for the ways that can fail. */
function createQueue(side: Side<SysvMqOptions>, key: number): SysvQueue {
  try {
    return SysvQueue.create(key, { ...side.waits, spin: !side.log.tracing });
  } catch (error) {
    if (!(error instanceof LibcError)) throw error;
    if (error.code === "EEXIST") throw keyTaken(key, side.options);
    const why = error.code === "ENOSPC"
      ? `the system has as many queues as msgmni allows (${SYSV_MQ_LIMIT_FILES.msgmni}: ${sysvQueueLimits().msgmni}); ipcs -q lists them, and deno task clean removes those the lessons' killed runs left`
      : error.code === "ENOMEM"
      ? "the kernel has no memory for another queue"
      : null;
    throw new LessonError(
      `cannot create a queue with ${describeKey(key, side.options)}: ${error.code} ` +
        `(${error.description})${why ? `: ${why}` : ""}`,
    );
  }
}

/** Sends one message; a client that has gone or stays away becomes one clear line. */
async function sendOrExplain(
  side: Side<SysvMqOptions>,
  queue: SysvQueue,
  message: Uint8Array,
  type: number,
): Promise<void> {
  if (side.log.tracing) {
    const stat = statOrNull(queue);
    if (stat !== null && stat.cbytes + message.length > stat.qbytes) {
      side.log.trace(
        `  the next message (${message.length} bytes) does not fit: ${stat.cbytes} + ` +
          `${message.length} > msg_qbytes ${stat.qbytes}, so msgsnd(IPC_NOWAIT) fails with ` +
          "EAGAIN until the client takes one; I wait (a blocking msgsnd would sleep here)",
      );
    }
  }
  try {
    await queue.send(message, type);
  } catch (error) {
    throw explain(error, side, queue);
  }
  if (side.log.tracing) traceFill(side.log, queue);
}

/**
 * What a failed wait means for the server. A queue has no EPIPE: the transport notices that
 * the process that received last (msg_lrpid) has exited. Before the client's first receive,
 * nobody has: only the timeout can tell that no client came.
 */
function explain(error: unknown, side: Side<SysvMqOptions>, queue: SysvQueue): unknown {
  if (error instanceof Deno.errors.BrokenPipe) {
    return new LessonError(
      `client exited after ${formatBytes(side.bytes)}: transfer incomplete (${error.message})`,
    );
  }
  if (error instanceof Deno.errors.TimedOut) {
    let stat: { lrpid: number; qnum: number } | undefined;
    try {
      stat = queue.stat();
    } catch { /* removed meanwhile */ }
    if (stat === undefined || stat.lrpid !== 0) {
      return new LessonError(
        `the client (process ${stat?.lrpid ?? "?"}) took nothing for ${
          seconds(side.timeoutMs)
        }: ${error.message}`,
      );
    }
    const waiting = `${stat.qnum} message${stat.qnum === 1 ? "" : "s"}`;
    return new LessonError(
      `no client came within ${seconds(side.timeoutMs)}: nobody has received from the queue ` +
        `${formatKey(queue.key)} (msg_lrpid is 0), and ${waiting} wait in it`,
    );
  }
  return error;
}
