/**
 * What the message-queue lesson's server and client share, the way a C lesson's header file
 * serves both programs: the options, the refusal of a name that is taken, and the trace of how
 * full the queue is.
 *
 * @module
 */

import { queueIdentity } from "../../transports/holders.ts";
import { mine } from "../../transports/leftovers.ts";
import { type MessageQueue, queueExists, queueUsers, removeQueue } from "../../transports/mq.ts";
import { cleanCommand, type KernelObject, LessonError } from "../_lesson.ts";
import type { Log } from "../_log.ts";

/** The message-queue lesson's own options. */
export interface MqOptions {
  /** The queue's name: `/` and one component. */
  name: string;
  /** True when --name was not given and the name was made up. */
  nameIsDefault: boolean;
  /** How many messages the queue holds (`mq_maxmsg`). */
  maxmsg: number;
  /** The largest message, in bytes (`mq_msgsize`). */
  msgsize: number;
}

/**
 * The queue called `name`, as a kernel object the demo can check for and remove. The server
 * would refuse a name that is taken: say it once, before either side starts.
 */
export function queueObject(name: string): KernelObject {
  if (queueExists(name)) throw nameTaken(name);
  return {
    description: `the message queue ${name}`,
    exists: () => queueExists(name),
    remove: () => void removeQueue(name),
  };
}

/**
 * The error for a name that is already taken: who holds the queue, that it was left alone,
 * and what to do about it. A queue that nobody has open was left behind (by a killed run, or
 * on purpose: a queue keeps its messages while it has a name).
 */
export function nameTaken(name: string): LessonError {
  let users: number[];
  try {
    users = queueUsers(name) ?? [];
  } catch (error) {
    if (!(error instanceof Deno.errors.PermissionDenied)) throw error;
    return new LessonError(
      `a message queue named ${name} already exists, and you may not even open it (${
        error.message.slice(error.message.lastIndexOf(": ") + 2)
      }); it was left untouched: choose another --name`,
    );
  }
  // Another user's: not a killed run of ours, and not ours to remove (clean would refuse).
  const owner = queueIdentity(name)?.uid ?? null;
  if (!mine(owner)) {
    return new LessonError(
      `a message queue named ${name} already exists, and it is another user's (uid ${owner}), ` +
        "not yours to use or remove; it was left untouched: choose another --name",
    );
  }
  if (users.length > 0) {
    return new LessonError(
      `a message queue named ${name} already exists (process ${
        users.join(", ")
      } has it open); it was left untouched: choose another --name`,
    );
  }
  return new LessonError(
    `a message queue named ${name} already exists (nobody has it open: a killed run ` +
      `probably left it behind); it was left untouched: run \`${
        cleanCommand(name)
      }\` to remove it, or choose another --name`,
  );
}

/**
 * With --trace: how full the queue is after a send or a receive, so that the back-pressure
 * shows (`mq_getattr` is called only then).
 */
export function traceDepth(log: Log, queue: MessageQueue): void {
  if (!log.tracing) return;
  const { curmsgs, maxmsg } = queue.attributes();
  const bar = maxmsg <= 32 ? ` [${"#".repeat(curmsgs)}${".".repeat(maxmsg - curmsgs)}]` : "";
  log.trace(`  queue now holds ${curmsgs} of ${maxmsg} messages${bar}`);
}
