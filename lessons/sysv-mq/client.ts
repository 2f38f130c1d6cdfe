/**
 * The System V queue lesson's client: the receiver.
 *
 * It makes the same key as the server (`ftok` of the same file and project id, or `--key`),
 * finds the queue with `msgget(key, 0)` (waiting for the server to create it), and writes the
 * text of every message of type 1 into the output file, until the message of type 2 that marks
 * the end. That message carries the number of bytes the server sent: a System V queue is open to
 * every process of this user, so only a count that matches says nobody else sent or took data.
 *
 * @module
 */

import { LibcError } from "../../transports/libc.ts";
import { formatKey, SysvQueue, sysvQueueOf } from "../../transports/sysv_mq.ts";
import { formatBytes } from "../../transports/units.ts";
import { seconds } from "../../transports/wait.ts";
import { LessonError, type Side } from "../_lesson.ts";
import {
  DATA,
  describeKey,
  END,
  END_TEXT_BYTES,
  endCount,
  isRunKeyFile,
  statOrNull,
  type SysvMqOptions,
  traceFill,
  waitForKey,
} from "./common.ts";

/** Copies what comes through the queue of the lesson's key into the output file. */
export async function client(side: Side<SysvMqOptions>): Promise<void> {
  const { log, options } = side;

  // 1. Create the output first (unnamed until the copy is complete): a bad output path should
  //    fail before anyone waits for us.
  using output = side.createOutput();
  log.say(`I am the client, the receiver: I write ${JSON.stringify(output.path)}`);

  // 2. The key: the same ftok() of the same file and project id gives the same number. The
  //    run's key file may not be there yet (the server makes it): then we wait for it.
  if (
    side.byHand && options.fixedKey === 0 && isRunKeyFile(options.file) && !exists(options.file)
  ) {
    log.say(
      `waiting for a server to make the key file ${options.file}; in another terminal, run: ` +
        `deno task lesson:sysv-mq server --path ${options.file} --input FILE`,
    );
  }
  const key = await waitForKey(options, side.timeoutMs, side.signal);
  log.say(`the ${describeKey(key, options)}`);

  // 3. Find the queue. Only the server creates it, so it may not be there yet: msgget(key, 0)
  //    fails with ENOENT, and we try again until it appears or --timeout runs out.
  log.say(`waiting up to ${seconds(side.timeoutMs)} for the server to create the queue`);
  using queue = await openQueue(side, key);
  log.say(
    `found the queue with msgget(${formatKey(key)}, 0) = ${queue.msqid}; a message holds at ` +
      `most ${queue.msgmax} bytes (msgmax), so my receive buffer holds that, plus the mtype`,
  );

  // 4. The copy loop. msgrcv with msgtyp 0 takes the first message, whatever its type, so the
  //    order is the server's; its type (msg.mtype) says what it is: 1 data, 2 the end. (With
  //    msgtyp 1 we would never see the end; with -2, the lowest type first: try it, README.md.)
  let messages = 0;
  let count: number | null = null; // what the end message says the server sent
  side.startClock();
  for (;;) {
    const text = await receiveOrExplain(side, queue);
    const type = queue.lastType;
    if (type === END) {
      count = endCount(text);
      break;
    }
    if (type !== DATA) {
      throw new LessonError(
        `a message of type ${type} came through the queue ${formatKey(key)}: the protocol has ` +
          `only ${DATA} (data) and ${END} (the end); another program is using this key`,
      );
    }
    output.write(text);
    messages++;
    side.count(text.length);
  }
  side.stopClock();
  log.say(
    `the message of type ${END}: the end, after ${formatBytes(side.bytes)} in ${messages} ` +
      `message${messages === 1 ? "" : "s"} of type ${DATA}${
        count === null ? "" : `; it says the server sent ${count} bytes`
      }`,
  );

  // 5. Trust the copy only if the count matches. A queue is not a channel between two
  //    processes: any process of this user may msgsnd to the key (a message too many, an end
  //    too early) or msgrcv from it (a message too few), and message types are no signature.
  //    Nor may a message follow the end: the server sends nothing after it.
  checkEnd(side, queue, count);

  // 6. The copy is complete: give the output its name. The server removes the queue.
  log.say(await output.commit());
}

/**
 * Fails, with one line, unless the end message carried the server's count, the bytes received
 * match it, and nothing came after it. The output is then never named (the `using` drops it);
 * the server, still waiting for its queue to empty, sees us exit and removes the queue.
 */
function checkEnd(side: Side<SysvMqOptions>, queue: SysvQueue, count: number | null): void {
  const nobodyElse = "a System V queue has no owner-only channel between two processes: any " +
    "process of this user may msgsnd to it or msgrcv from it; the copy is not kept";
  const where = `the queue ${formatKey(queue.key)}`;
  if (count === null) {
    throw new LessonError(
      `an end message (type ${END}) without the server's ${END_TEXT_BYTES}-byte count came ` +
        `through ${where} after ${side.bytes} bytes: another process sent it; ${nobodyElse}`,
    );
  }
  if (count !== side.bytes) {
    throw new LessonError(
      `the end message says ${count} bytes were sent, but ${side.bytes} came through ${where}: ` +
        `another process sent messages to it or took some from it; ${nobodyElse}`,
    );
  }
  // msg_lspid names the process that sent last: after the end, the server sent nothing.
  const stat = statOrNull(queue);
  if (stat !== null && stat.qnum > 0) {
    throw new LessonError(
      `${stat.qnum} message${stat.qnum === 1 ? "" : "s"} came through ${where} after the end ` +
        `(process ${stat.lspid} sent last, says msg_lspid): another process sent ${
          stat.qnum === 1 ? "it" : "them"
        }; ${nobodyElse}`,
    );
  }
}

/** Finds the queue, waiting for the server to create it. */
async function openQueue(side: Side<SysvMqOptions>, key: number): Promise<SysvQueue> {
  try {
    return await SysvQueue.open(key, {
      wait: side.timeoutMs,
      spin: !side.log.tracing,
      ...side.waits,
    });
  } catch (error) {
    if (error instanceof Deno.errors.TimedOut) {
      throw new LessonError(
        `no server created a queue with ${describeKey(key, side.options)} within ${
          seconds(side.timeoutMs)
        }`,
      );
    }
    if (error instanceof LibcError && error.code === "EACCES") {
      const info = sysvQueueOf(key);
      throw new LessonError(
        `the queue with ${describeKey(key, side.options)} is not ours: ${error.call} failed ` +
          `with EACCES (${
            info === null ? "its mode" : `msqid ${info.msqid} belongs to user ${info.uid}, mode ` +
              `${info.mode.toString(8).padStart(4, "0")}, which`
          } does not let this user in); it was left untouched: choose another key`,
      );
    }
    throw error;
  }
}

/**
 * Receives one message. A queue has no end-of-file: if the server dies, no call says so. The
 * transport notices instead that the process that sent last (msg_lspid) has exited. Then
 * nobody can ever send the rest, and the queue would stay for ever: the client removes it.
 */
async function receiveOrExplain(side: Side<SysvMqOptions>, queue: SysvQueue): Promise<Uint8Array> {
  let text: Uint8Array;
  try {
    text = await queue.receive(0);
  } catch (error) {
    if (error instanceof Deno.errors.BrokenPipe && !queue.exists()) {
      // Removed under us: by the server (Ctrl-C) or by anybody else of this user (ipcrm).
      throw new LessonError(
        `the queue was removed before the end-of-file message, after ${formatBytes(side.bytes)}: ` +
          `transfer incomplete (${error.message})`,
      );
    }
    if (error instanceof Deno.errors.BrokenPipe) {
      const removed = queue.remove() ? "; I removed the queue it left (IPC_RMID)" : "";
      removeRunKeyFile(side.options);
      throw new LessonError(
        `the server exited after ${formatBytes(side.bytes)}, before the end-of-file message: ` +
          `transfer incomplete (${error.message})${removed}`,
      );
    }
    if (error instanceof Deno.errors.TimedOut && side.bytes > 0) {
      throw new LessonError(
        `${error.message}, after ${formatBytes(side.bytes)}: the server is stuck, or never ` +
          `sent the end-of-file message of type ${END}`,
      );
    }
    throw error;
  }
  if (side.log.tracing && queue.lastType !== END) traceFill(side.log, queue);
  return text;
}

/** The run's key file, when the server that made it is gone: nobody else would remove it. */
function removeRunKeyFile(options: SysvMqOptions): void {
  if (options.fixedKey !== 0 || !isRunKeyFile(options.file)) return;
  try {
    Deno.removeSync(options.file);
  } catch { /* gone already */ }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
