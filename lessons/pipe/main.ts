/**
 * Lesson: anonymous pipes, the `|` of the shell.
 *
 *     deno task lesson:pipe                                                   the demo
 *     deno task lesson:pipe server --input F | deno task lesson:pipe client --output G
 *
 * In the demo the server makes a pipe and starts the client as its child, with the pipe's
 * read end as the child's stdin: the pipe(2) + fork(2) + dup2(2) pattern. By hand, the shell
 * does exactly that for `|`, and the server writes to its stdout.
 *
 * @module
 */

import { pipeMaxSize } from "../../transports/pipe.ts";
import { defineLesson, type Lesson, serverStartsClient } from "../_lesson.ts";
import { runLesson } from "../_runner.ts";
import { client } from "./client.ts";
import type { PipeOptions } from "./common.ts";
import { labs } from "./labs.ts";
import { server } from "./server.ts";

/** The pipe lesson. */
export const lesson: Lesson<PipeOptions> = defineLesson({
  method: "pipe",
  title: "Lesson: anonymous pipes - pipe(2), fork + dup2, read(2), write(2)",
  description: [
    "The server makes a pipe and starts the client as its child process, with the pipe's read",
    "end as the child's stdin, then writes the input into the write end. The client reads its",
    "stdin until end-of-file. By hand, the shell makes the pipe: server | client.",
  ].join("\n"),
  examples: [
    "deno task lesson:pipe",
    "deno task lesson:pipe --size 64M --chunk 1M --quiet",
    "deno task lesson:pipe --trace --chunk 512",
    "deno task lesson:pipe server --input lessons/sample.txt | deno task lesson:pipe client --output /tmp/copy.txt --force",
    "deno task lesson:pipe server --input lessons/sample.txt | wc -c      # any reader will do",
  ],
  entry: import.meta.url,
  // Nothing to name: an anonymous pipe disappears with the last process that holds it.
  options: {},
  parse: (): PipeOptions => ({}),
  chunk: () => ({
    default: 64 * 1024,
    max: pipeMaxSize(),
    why: "the most a pipe can hold (/proc/sys/fs/pipe-max-size)",
  }),
  // As a shell does for "server | client": the server makes the pipe and starts the client.
  launch: serverStartsClient,
  labs,
  server,
  client,
});

if (import.meta.main) await runLesson(lesson, Deno.args);
