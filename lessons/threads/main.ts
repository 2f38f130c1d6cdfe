/**
 * Lesson: threads. The same copy between two threads of one process, in the two models of the
 * lectures: shared memory, and message passing.
 *
 *     deno task lesson:threads                                  the demo (shared memory)
 *     deno task lesson:threads --model message                  postMessage, transferring
 *     deno task lesson:threads server --output copy.txt         by hand: one process, two threads
 *
 * The demo starts one process. Its main thread starts the server and the client as two
 * Workers, threads of that process, and hands them their channel (`process.ts`); each runs its
 * side as a process would (`thread.ts`). By hand, `server` and `client` both start that one
 * process: the client is a thread of it, not a process of its own.
 *
 * @module
 */

import { type Mode, parseCommandLine, parseCount, UsageError } from "../_cli.ts";
import { defineLesson, type Lesson, serverStartsClient } from "../_lesson.ts";
import { runLesson } from "../_runner.ts";
import { formatBytes } from "../../transports/units.ts";
import { client } from "./client.ts";
import {
  DEFAULT_SLOTS,
  MAX_SLOTS,
  type Model,
  parseThrowAfter,
  type ThreadsOptions,
} from "./common.ts";
import { labs } from "./labs.ts";
import { runProcess } from "./process.ts";
import { server } from "./server.ts";

/** At most this many bytes per chunk: each slot or buffer is allocated whole, --slots of them. */
const MAX_CHUNK = 16 * 1024 * 1024;
/**
 * At most this many bytes in flight between the threads (--slots × --chunk): the ring, or the
 * window's buffers, are memory of the process, filled and touched as the copy runs; without a
 * bound, `--slots 1024 --chunk 16M` would ask for 16 GiB.
 */
const MAX_IN_FLIGHT = 256 * 1024 * 1024;

/** The threads lesson. */
export const lesson: Lesson<ThreadsOptions> = defineLesson({
  method: "threads",
  title: "Lesson: threads - Worker, SharedArrayBuffer, Atomics.wait/notify (futex), postMessage",
  description: [
    "One process, two threads: its main thread starts the server and the client as Workers.",
    "--model shared: the server reads the input into the slots of a ring in a SharedArrayBuffer,",
    "counted by two counters that Atomics.wait and Atomics.notify sleep and wake on (futex semantics).",
    "--model message: it posts each chunk to the client, transferring the buffer (or, with",
    "--copy, cloning it), at most --slots chunks unacknowledged. Each thread says its kernel",
    "thread id (gettid); /proc/PID/task/ lists them all.",
  ].join("\n"),
  examples: [
    "deno task lesson:threads",
    "deno task lesson:threads --size 64M --quiet",
    "deno task lesson:threads --model message --size 64M --quiet",
    "deno task lesson:threads --model message --copy --size 64M --quiet",
    "deno task lesson:threads --trace --slots 2 --chunk 4K --size 20K",
    "deno task lesson:threads server --input lessons/sample.txt --output /tmp/copy.txt --force",
  ],
  entry: import.meta.url,
  options: {
    model: {
      type: "string",
      arg: "MODEL",
      help: "shared (a ring in a SharedArrayBuffer, the default) or message (postMessage)",
    },
    copy: {
      type: "boolean",
      help: "message model: clone each chunk instead of transferring it",
    },
    slots: {
      type: "string",
      arg: "N",
      help:
        `chunks in flight between the threads: ring slots or message window (default ${DEFAULT_SLOTS}; ` +
        `--slots × --chunk at most ${formatBytes(MAX_IN_FLIGHT)})`,
    },
    "throw-after": {
      type: "string",
      arg: "ROLE:BYTES",
      help: "experiment: that thread throws an exception nobody catches after moving BYTES " +
        "(server:1M); the other thread hears of it",
    },
  },
  parse(values): ThreadsOptions {
    const model = values.model ?? "shared";
    if (model !== "shared" && model !== "message") {
      throw new UsageError(`--model must be shared or message: got ${JSON.stringify(model)}`);
    }
    if (values.copy && model !== "message") {
      throw new UsageError("--copy is an option of --model message: shared memory copies nothing");
    }
    if (values["throw-after"] === "") {
      throw new UsageError("--throw-after needs ROLE:BYTES, like client:1M");
    }
    const throwAfter = values["throw-after"] ?? "";
    return {
      model: model as Model,
      copy: values.copy === true,
      slots: values.slots === undefined
        ? DEFAULT_SLOTS
        : parseCount(values.slots, "--slots", { min: 1, max: MAX_SLOTS }),
      throwAfter,
      crash: throwAfter === "" ? null : parseThrowAfter(throwAfter),
    };
  },
  chunk: (options) => ({
    default: 64 * 1024,
    max: Math.min(MAX_CHUNK, Math.floor(MAX_IN_FLIGHT / options.slots)),
    why: `each ring slot or message buffer is allocated whole, --slots ${options.slots} of ` +
      `them, at most ${formatBytes(MAX_IN_FLIGHT)} in all`,
  }),
  // One process: the demo starts it as the server, given the client's settings too.
  launch: serverStartsClient,
  labs,
  server,
  client,
});

if (import.meta.main) {
  // `server` (from the demo, or by hand) is the lesson's process, which runs both sides as
  // threads; by hand, so is `client`: there is no other process. Everything else (the demo,
  // --help, --break) is the runner's.
  let mode: Mode = "demo";
  try {
    mode = parseCommandLine(Deno.args, lesson.options, { serverTakesOutput: true }).common.mode;
  } catch { /* the runner says what is wrong */ }
  if (mode !== "demo") await runProcess(lesson, Deno.args);
  await runLesson(lesson, Deno.args);
}
