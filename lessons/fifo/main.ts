/**
 * Lesson: named pipes (FIFOs).
 *
 *     deno task lesson:fifo                                           the demo
 *     deno task lesson:fifo server --path /tmp/my.fifo --input F      terminal 1
 *     deno task lesson:fifo client --path /tmp/my.fifo --output G     terminal 2
 *
 * The server writes the input file into a FIFO; the client reads it out into the output
 * file. The FIFO carries the file's raw bytes and nothing else, so any program that can
 * open a file can be the peer: `cat /tmp/my.fifo > copy` works as a client.
 *
 * @module
 */

import { join } from "node:path";
import { checkFifoPath } from "../../transports/fifo.ts";
import { pipeMaxSize } from "../../transports/pipe.ts";
import { UsageError } from "../_cli.ts";
import { defineLesson, type Lesson, tempDir, uniqueName } from "../_lesson.ts";
import { runLesson } from "../_runner.ts";
import { client } from "./client.ts";
import { fifoObject, type FifoOptions } from "./common.ts";
import { labs } from "./labs.ts";
import { server } from "./server.ts";

/** The FIFO lesson. */
export const lesson: Lesson<FifoOptions> = defineLesson({
  method: "fifo",
  title: "Lesson: named pipes (FIFOs) - mkfifo(3), open(2), read(2), write(2)",
  description: [
    "The server writes the input into a FIFO, a pipe with a name in the file system; the",
    "client reads it out. Either side creates the FIFO if it is not there yet (mode 0600);",
    "the side that created it removes it. Opening waits until the other end is opened too.",
  ].join("\n"),
  examples: [
    "deno task lesson:fifo",
    "deno task lesson:fifo --size 64M --chunk 1M --quiet",
    "deno task lesson:fifo --trace",
    "deno task lesson:fifo server --path /tmp/my.fifo --input lessons/sample.txt   # terminal 1",
    "deno task lesson:fifo client --path /tmp/my.fifo --output /tmp/copy.txt --force   # terminal 2",
    "deno task lesson:fifo server --path /tmp/my.fifo & until [ -p /tmp/my.fifo ]; do sleep 0.1; done; cat /tmp/my.fifo   # any reader will do",
  ],
  entry: import.meta.url,
  options: {
    path: {
      type: "string",
      arg: "PATH",
      help: "where the FIFO lives (default: a unique name in the temporary directory)",
    },
    "keep-name": {
      type: "boolean",
      help: "the side that made the FIFO removes its name only when it exits, not once " +
        "connected, so that more processes can open it (several servers, one reader); a " +
        "server that finds another one already writing joins it only with --keep-name",
    },
  },
  parse(values): FifoOptions {
    if (values.path === "") throw new UsageError("--path needs a path");
    if (values.path?.includes("\0")) throw new UsageError("--path must not contain a NUL byte");
    return {
      path: values.path ?? join(tempDir(), uniqueName("fifo")),
      pathIsDefault: values.path === undefined,
      keepName: values["keep-name"] === true,
    };
  },
  chunk: () => ({
    default: 64 * 1024,
    max: pipeMaxSize(),
    why: "the most a pipe can hold (/proc/sys/fs/pipe-max-size)",
  }),
  objects(options) {
    // Both sides would trip over a bad path, or one already there; say it once, before they start.
    checkFifoPath(options.path);
    return [fifoObject(options.path)];
  },
  labs,
  server,
  client,
});

if (import.meta.main) await runLesson(lesson, Deno.args);
