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

import { MQ_LIMIT_FILES, queueLimits, queueNameProblem } from "../../transports/mq.ts";
import { parseCount, parseSize, UsageError } from "../_cli.ts";
import { defineLesson, type Lesson, uniqueName } from "../_lesson.ts";
import { runLesson } from "../_runner.ts";
import { client } from "./client.ts";
import { type MqOptions, queueObject } from "./common.ts";
import { labs } from "./labs.ts";
import { server } from "./server.ts";

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
export const lesson: Lesson<MqOptions> = defineLesson({
  method: "mq",
  title: "Lesson: POSIX message queues - mq_open(3), mq_send(3), mq_receive(3), mq_unlink(3)",
  description: [
    "The server creates a message queue (O_CREAT | O_EXCL, mode 0600) and sends the input",
    "through it, one piece of the file per message, then an empty message to mark the end.",
    "The client opens the queue, removes its name at once (the queue lives on while both",
    "have it open) and writes every message it receives into the output.",
  ].join("\n"),
  examples: [
    "deno task lesson:mq",
    "deno task lesson:mq --size 64M --quiet",
    "deno task lesson:mq --trace --maxmsg 3 --msgsize 512",
    "deno task lesson:mq server --name /my-queue --input lessons/sample.txt          # terminal 1",
    "deno task lesson:mq client --name /my-queue --output /tmp/copy.txt --force     # terminal 2",
  ],
  entry: import.meta.url,
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
  parse(values): MqOptions {
    if (values.name === "") throw new UsageError("--name needs a name, like /my-queue");
    const name = values.name ?? `/${uniqueName("mq")}`;
    const problem = queueNameProblem(name);
    if (problem !== null) throw new UsageError(`--name ${problem}`);
    const limits = queueLimits();
    return {
      name,
      nameIsDefault: values.name === undefined,
      msgsize: parseAttribute(values.msgsize, "--msgsize", limits.msgsize),
      maxmsg: parseAttribute(values.maxmsg, "--maxmsg", limits.maxmsg),
    };
  },
  // One message carries one chunk of the file, so a chunk is at most a message.
  chunk: (options) => ({
    default: options.msgsize,
    max: options.msgsize,
    why: "the largest message the queue takes (mq_msgsize, set with --msgsize)",
  }),
  objects: (options) => [queueObject(options.name)],
  labs,
  server,
  client,
});

if (import.meta.main) await runLesson(lesson, Deno.args);
