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
import { unlink } from "../../transports/libc.ts";
import { LessonError, UsageError } from "../_files.ts";
import { type KernelObject, type Lesson, tempDir, uniqueName } from "../_lesson.ts";
import { runLesson } from "../_runner.ts";
import { client } from "./client.ts";
import { labs } from "./labs.ts";
import { server } from "./server.ts";

/** The FIFO lesson's own options. */
export interface FifoOptions {
  /** Where the FIFO lives. */
  path: string;
  /** True when --path was not given and the path was made up. */
  pathIsDefault: boolean;
}

/** The FIFO at `path`, as a kernel object the demo can check for and remove. */
export function fifoObject(path: string): KernelObject {
  return {
    description: `the FIFO ${path}`,
    exists: () => {
      try {
        return Deno.lstatSync(path).isFifo === true;
      } catch {
        return false;
      }
    },
    remove: () => unlink(path),
  };
}

/** The FIFO lesson. */
export const lesson: Lesson<FifoOptions> = {
  method: "fifo",
  title: "Lesson: named pipes (FIFOs) - mkfifo(3), open(2), read(2), write(2)",
  description: [
    "The server writes the input into a FIFO, a pipe with a name in the file system; the",
    "client reads it out. Either side creates the FIFO if it is not there yet (mode 0600);",
    "the side that created it removes it. Opening waits until the other end is opened too.",
  ].join("\n"),
  options: {
    path: {
      type: "string",
      arg: "PATH",
      help: "where the FIFO lives (default: a unique name in the temporary directory)",
    },
  },
  examples: [
    "deno task lesson:fifo",
    "deno task lesson:fifo --size 64M --chunk 1M --quiet",
    "deno task lesson:fifo --trace",
    "deno task lesson:fifo server --path /tmp/my.fifo --input notes.txt     # terminal 1",
    "deno task lesson:fifo client --path /tmp/my.fifo --output copy.txt     # terminal 2",
    "deno task lesson:fifo server --path /tmp/my.fifo & cat /tmp/my.fifo    # any reader will do",
  ],
  entry: import.meta.url,

  parseOptions(values) {
    const given = values["path"] as string | undefined;
    if (given === "") throw new UsageError("--path needs a path");
    if (given?.includes("\0")) throw new UsageError("--path must not contain a NUL byte");
    return {
      path: given ?? join(tempDir(), uniqueName("fifo")),
      pathIsDefault: given === undefined,
    };
  },
  defaultChunk: () => 64 * 1024,
  maxChunk: () => ({
    bytes: pipeMaxSize(),
    why: "the most a pipe can hold (/proc/sys/fs/pipe-max-size)",
  }),
  prepareDemo: (options) => {
    // Both sides would trip over a bad path; say it once, before they start.
    checkFifoPath(options.path);
    // In the demo both sides are ours and make the FIFO themselves: one that is already there
    // belongs to another run, or was left by a killed one.
    const fifo = fifoObject(options.path);
    if (fifo.exists()) {
      throw new LessonError(
        `the FIFO ${options.path} already exists: another run is using it, or a killed run left it behind (deno task clean removes what killed runs left); choose another --path`,
      );
    }
    return { args: ["--path", options.path], objects: [fifo] };
  },
  labs,
  server,
  client,
};

if (import.meta.main) await runLesson(lesson, Deno.args);
