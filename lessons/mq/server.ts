/**
 * The message-queue lesson's server: the sender.
 *
 * It creates the queue, sends the input file through it one message at a time, then an empty
 * message that marks the end, and waits until the client has taken everything. A queue has no
 * end-of-file of its own: the empty message is the protocol's way of saying "that was all".
 *
 * @module
 */

import { softLimit } from "../../transports/holders.ts";
import { LibcError } from "../../transports/libc.ts";
import {
  MessageQueue,
  MQ_LIMIT_FILES,
  queueLimits,
  queueMemory,
  queueMemoryLimit,
} from "../../transports/mq.ts";
import { formatBytes } from "../../transports/units.ts";
import { seconds } from "../../transports/wait.ts";
import { LessonError, type Side } from "../_lesson.ts";
import { type MqOptions, nameTaken, traceDepth } from "./common.ts";

/** Sends the input file through the queue `side.options.name`. */
export async function server(side: Side<MqOptions>): Promise<void> {
  const { log } = side;
  const { name, maxmsg, msgsize } = side.options;

  // 1. Open the input first: if it is missing, nobody should be kept waiting for us.
  using input = side.openInput();
  log.say(
    `I am the server, the sender: I send ${JSON.stringify(input.path)} (${
      formatBytes(input.size)
    })`,
  );

  // 2. Create the queue: O_CREAT | O_EXCL fails if the name is taken, so we never send into
  //    someone else's queue, and mode 0600 lets only this user open it. The size is fixed
  //    now, for good: mq_maxmsg messages of at most mq_msgsize bytes.
  using queue = createQueue(side);
  log.say(
    `created the queue ${name} with mq_open(O_CREAT | O_EXCL | O_WRONLY, 0600): ` +
      `it holds ${maxmsg} messages of up to ${msgsize} bytes`,
  );
  // The limits are the system's, in /proc; only CAP_SYS_RESOURCE lifts them.
  const limits = queueLimits();
  log.say(
    `the system allows at most ${limits.maxmsg} messages of ${limits.msgsize} bytes ` +
      `(${MQ_LIMIT_FILES.maxmsg}, ${MQ_LIMIT_FILES.msgsize}); only a process with ` +
      `CAP_SYS_RESOURCE may ask for more, ${capabilityNote()}`,
  );
  log.say(observeHint(queue));
  if (side.byHand && side.options.nameIsDefault) {
    log.say(
      `in another terminal, run: deno task lesson:mq client --name ${name} --output copy.txt`,
    );
  }

  // 3. The copy loop: read a piece of the file, send it as one message. A message longer than
  //    mq_msgsize would fail with EMSGSIZE, so the pieces are at most that long. When the
  //    queue is full, mq_send() fails with EAGAIN and we wait for the client to make room:
  //    that is back-pressure (--trace shows it).
  log.say(
    `sending the file in messages of up to ${side.chunk} bytes (a message longer than ` +
      `${msgsize} would fail with EMSGSIZE); when ${maxmsg} are waiting, the queue is full ` +
      "and I must wait for the client",
  );
  const buf = new Uint8Array(side.chunk);
  let messages = 0;
  side.startClock();
  for (;;) {
    const n = input.read(buf);
    if (n === 0) break;
    await sendOrExplain(side, queue, buf.subarray(0, n));
    messages++;
    side.count(n);
  }

  // 4. The end-of-file marker: a message of zero bytes. A pipe's writer says "the end" by
  //    closing; closing a queue says nothing to anyone, so the protocol needs a marker.
  await sendOrExplain(side, queue, new Uint8Array(0));
  log.say(
    `sent ${formatBytes(side.bytes)} in ${messages} message${messages === 1 ? "" : "s"}, ` +
      "then the empty message that marks the end",
  );

  // 5. Wait until the client has taken every message. If we removed the name and left now,
  //    a client that has not opened the queue yet (a small file, a client started late)
  //    would never find it, and the messages would go with the queue.
  log.say("waiting until the client has taken every message (mq_curmsgs back to 0)");
  try {
    await queue.waitUntilEmpty();
  } catch (error) {
    throw explain(error, side, queue);
  }

  // 6. Remove the name, unless the client already has (it does so as soon as it has opened
  //    the queue), and close. The queue itself goes with the last descriptor.
  if (queue.unlink()) {
    log.say(`the client has taken everything; removed the name ${name} with mq_unlink()`);
  } else {
    log.say(`the client has taken everything, and had already removed the name ${name}`);
  }
  queue.close();
}

/** Creates the queue, with one clear line for the ways that can fail. */
function createQueue(side: Side<MqOptions>): MessageQueue {
  const { name, maxmsg, msgsize } = side.options;
  try {
    return MessageQueue.create(name, { maxmsg, msgsize, access: "send", ...side.waits });
  } catch (error) {
    if (!(error instanceof LibcError)) throw error;
    if (error.code === "EEXIST") throw nameTaken(name);
    const why = error.code === "EMFILE"
      ? tooMuchQueueMemory(maxmsg, msgsize)
      : error.code === "ENOSPC"
      ? tooManyQueues()
      : error.code === "ENFILE"
      ? "the system's table of open files is full (/proc/sys/fs/file-max): other programs hold them"
      : null;
    throw new LessonError(
      `cannot create the queue ${name}: ${error.code} (${error.description})` +
        (why ? `: ${why}` : ""),
    );
  }
}

/**
 * EMFILE from mq_open(O_CREAT) means, almost always, that this user's queues would take more
 * memory than RLIMIT_MSGQUEUE allows (or, rarely, that this process has every descriptor it
 * may have). The memory is the user's, shared by every run: removing leftovers helps only if
 * there are any, and nothing helps while other runs hold their queues.
 */
function tooMuchQueueMemory(maxmsg: number, msgsize: number): string {
  if (openDescriptors() >= (softLimit("Max open files") ?? Infinity)) {
    return "this process has as many open descriptors as RLIMIT_NOFILE allows (ulimit -n)";
  }
  const limit = queueMemoryLimit();
  const need = queueMemory(maxmsg, msgsize);
  const rule = `RLIMIT_MSGQUEUE ("Max msgqueue size" in /proc/self/limits, ulimit -q) lets ` +
    `all the queues of one user take ${
      limit === null ? "a limited amount" : formatBytes(limit)
    } of memory together, and this queue needs about ${formatBytes(need)} ` +
    `(${maxmsg} messages × ${msgsize} bytes, plus the kernel's bookkeeping)`;
  if (limit !== null && need > limit) {
    return `${rule}, more than the whole limit: use a smaller --maxmsg or --msgsize`;
  }
  return `${rule}: this user's other queues hold the rest, those of other runs still going ` +
    "(deno task clean cannot remove a queue in use): wait for them to finish, or use a " +
    "smaller --maxmsg or --msgsize";
}

/** ENOSPC from mq_open(O_CREAT): the system-wide count of queues is at its limit. */
function tooManyQueues(): string {
  let max = "";
  try {
    max = ` (${Deno.readTextFileSync(QUEUES_MAX).trim()})`;
  } catch { /* not readable */ }
  return `the system already has as many queues as ${QUEUES_MAX} allows${max}, and only a ` +
    "process with CAP_SYS_RESOURCE may go past it: other runs or programs hold them, or a " +
    "killed run left some behind (deno task clean NAME removes one that nobody has open)";
}

/** The most queues the system (this IPC namespace) may have at once. */
const QUEUES_MAX = "/proc/sys/fs/mqueue/queues_max";

/** How many descriptors this process has open now. */
function openDescriptors(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

/** Sends one message; a client that has gone or stays away becomes one clear line. */
async function sendOrExplain(
  side: Side<MqOptions>,
  queue: MessageQueue,
  message: Uint8Array,
): Promise<void> {
  try {
    await queue.send(message);
  } catch (error) {
    throw explain(error, side, queue);
  }
  traceDepth(side.log, queue);
}

/**
 * What a failed wait means for the server. A queue has no EPIPE: the transport notices a
 * client that has gone because the queue has no name (the client removed it after opening)
 * and nobody else has it open. While the name is still there, the client never came.
 */
function explain(error: unknown, side: Side<MqOptions>, queue: MessageQueue): unknown {
  if (error instanceof Deno.errors.BrokenPipe) {
    return new LessonError(
      `the client exited after the server had sent ${formatBytes(side.bytes)}: ` +
        "transfer incomplete " +
        "(the queue has no name any more and nobody else has it open)",
    );
  }
  if (error instanceof Deno.errors.TimedOut && queue.linked) {
    return new LessonError(
      `no client opened the queue ${queue.name} within ${seconds(side.timeoutMs)}`,
    );
  }
  return error;
}

/** How to look at the queue from outside while it runs. */
function observeHint(queue: MessageQueue): string {
  const viaProc = `cat /proc/${Deno.pid}/fd/${queue.fd}`;
  if (mqueueMounted()) {
    return `to watch it from another terminal: cat /dev/mqueue${queue.name} (QSIZE: bytes ` +
      `waiting), until the client removes the name; after that, ${viaProc}`;
  }
  return `to watch it from another terminal: ${viaProc} (QSIZE: bytes waiting); /dev/mqueue ` +
    "is not mounted here (as root: mkdir -p /dev/mqueue; mount -t mqueue none /dev/mqueue)";
}

/** Whether this process may go above the limits, for the narration. */
function capabilityNote(): string {
  if (hasCapability(CAP_SYS_RESOURCE)) return "and this one has it";
  // Checked at run time: root has it on most machines, but not in every container.
  return Deno.uid() === 0 ? "and here not even root has it" : "and this one has not got it";
}

/** The capability that lets a process go above the queue limits (linux/capability.h). */
const CAP_SYS_RESOURCE = 24;

/** Whether this process has a capability in its effective set (CapEff in /proc/self/status). */
function hasCapability(bit: number): boolean {
  const hex = Deno.readTextFileSync("/proc/self/status").match(/^CapEff:\s*([0-9a-f]+)/m)?.[1];
  return hex !== undefined && (BigInt(`0x${hex}`) >> BigInt(bit) & 1n) === 1n;
}

function mqueueMounted(): boolean {
  try {
    return Deno.readTextFileSync("/proc/self/mounts").split("\n")
      .some((line) => line.split(" ")[2] === "mqueue" && line.split(" ")[1] === "/dev/mqueue");
  } catch {
    return false;
  }
}
