/**
 * Lesson: POSIX message queues.
 *
 *     deno task lesson:mq                                                 the demo
 *     deno task lesson:mq server --name /my-queue --input F              terminal 1
 *     deno task lesson:mq client --name /my-queue --output G             terminal 2
 *
 * The server creates a queue and sends the input file through it as messages: each message
 * carries the next bytes of the file, and an empty message marks the end. The client opens
 * the queue and writes what it receives into the output file. README.md states the protocol
 * exactly, so a program in any language can be the peer.
 *
 * @module
 */

import {
  type MessageQueue,
  MQ_LIMIT_FILES,
  queueExists,
  queueLimits,
  queueNameProblem,
  queueUsers,
  removeQueue,
} from "../../transports/mq.ts";
import { parseCount, parseSize } from "../_cli.ts";
import { LessonError, UsageError } from "../_files.ts";
import { type KernelObject, type Lesson, uniqueName } from "../_lesson.ts";
import type { Log } from "../_log.ts";
import { runLesson } from "../_runner.ts";
import { client } from "./client.ts";
import { labs } from "./labs.ts";
import { server } from "./server.ts";

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

/** The queue called `name`, as a kernel object the demo can check for and remove. */
export function queueObject(name: string): KernelObject {
  return {
    description: `the message queue ${name}`,
    exists: () => queueExists(name),
    remove: () => void removeQueue(name),
  };
}

/**
 * The command that removes the objects `names` when nobody uses them: `deno task clean NAME…`,
 * with each name quoted for the shell when it needs to be.
 */
export function cleanCommand(...names: string[]): string {
  const quoted = names.map((name) =>
    /^[\w@%+=:,./-]+$/.test(name) ? name : `'${name.replaceAll("'", `'\\''`)}'`
  );
  return `deno task clean ${quoted.join(" ")}`;
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

/** Reads `--msgsize` or `--maxmsg`: at least 1, and not above the system's limit. */
function parseAttribute(
  text: string | undefined,
  option: "--msgsize" | "--maxmsg",
  limit: number,
): number {
  if (text === undefined) return limit;
  const value = option === "--msgsize"
    ? parseSize(text, option, 0)
    : parseCount(text, option, { min: 0, max: Number.MAX_SAFE_INTEGER });
  const file = option === "--msgsize" ? MQ_LIMIT_FILES.msgsize : MQ_LIMIT_FILES.maxmsg;
  const unit = option === "--msgsize" ? "bytes per message" : "messages per queue";
  if (value === 0) {
    throw new UsageError(`${option} must be at least 1 (the limit here is ${limit}, from ${file})`);
  }
  if (value > limit) {
    throw new UsageError(
      `${option} ${value} is above the system's limit of ${limit} ${unit} (${file}); ` +
        "only a process with CAP_SYS_RESOURCE may go higher",
    );
  }
  return value;
}

/** The message-queue lesson. */
export const lesson: Lesson<MqOptions> = {
  method: "mq",
  title: "Lesson: POSIX message queues - mq_open(3), mq_send(3), mq_receive(3), mq_unlink(3)",
  description: [
    "The server creates a message queue (O_CREAT | O_EXCL, mode 0600) and sends the input",
    "through it, one piece of the file per message, then an empty message to mark the end.",
    "The client opens the queue, removes its name at once (the queue lives on while both",
    "have it open) and writes every message it receives into the output.",
  ].join("\n"),
  options: {
    name: {
      type: "string",
      arg: "/NAME",
      help: "the queue's name (default: a unique /ipc-lesson-mq-… name)",
    },
    msgsize: {
      type: "string",
      arg: "BYTES",
      help: "the largest message, mq_msgsize (default and limit: fs/mqueue/msgsize_max)",
    },
    maxmsg: {
      type: "string",
      arg: "N",
      help: "how many messages the queue holds, mq_maxmsg (default and limit: fs/mqueue/msg_max)",
    },
  },
  examples: [
    "deno task lesson:mq",
    "deno task lesson:mq --size 64M --quiet",
    "deno task lesson:mq --trace --maxmsg 3 --msgsize 512",
    "deno task lesson:mq server --name /my-queue --input notes.txt     # terminal 1",
    "deno task lesson:mq client --name /my-queue --output copy.txt     # terminal 2",
  ],
  entry: import.meta.url,

  parseOptions(values) {
    const given = values["name"] as string | undefined;
    if (given === "") throw new UsageError("--name needs a name, like /my-queue");
    const name = given ?? `/${uniqueName("mq")}`;
    const problem = queueNameProblem(name);
    if (problem !== null) throw new UsageError(`--name ${problem}`);
    const limits = queueLimits();
    return {
      name,
      nameIsDefault: given === undefined,
      msgsize: parseAttribute(values["msgsize"] as string | undefined, "--msgsize", limits.msgsize),
      maxmsg: parseAttribute(values["maxmsg"] as string | undefined, "--maxmsg", limits.maxmsg),
    };
  },
  // One message carries one chunk of the file, so a chunk is at most a message.
  defaultChunk: (options) => options.msgsize,
  maxChunk: (options) => ({
    bytes: options.msgsize,
    why: "the largest message the queue takes (mq_msgsize, set with --msgsize)",
  }),
  prepareDemo: (options) => {
    // The server would refuse a name that is taken; say it once, before either side starts.
    if (queueExists(options.name)) throw nameTaken(options.name);
    return {
      args: [
        "--name",
        options.name,
        "--msgsize",
        String(options.msgsize),
        "--maxmsg",
        String(options.maxmsg),
      ],
      objects: [queueObject(options.name)],
    };
  },
  labs,
  server,
  client,
};

if (import.meta.main) await runLesson(lesson, Deno.args);
