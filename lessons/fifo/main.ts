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
import { checkFifoPath, type Fifo } from "../../transports/fifo.ts";
import { holdersOfPath } from "../../transports/holders.ts";
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
 * What a side says about a FIFO it did not create: who else has it open (the peer, waiting),
 * or, when nobody does, that a killed run left it behind, and how to remove it. Such a FIFO
 * is harmless to use (a pipe keeps no data once its last end is closed), but it is not this
 * side's to remove.
 */
export function aboutFoundFifo(fifo: Fifo, peer: "server" | "client"): string {
  const holders = fifo.otherHolders();
  if (holders.length > 0) {
    return `the FIFO ${fifo.path} is already there, and process ${
      holders.join(", ")
    } has it open (the ${peer}, waiting for me): the side that made it removes it`;
  }
  return `the FIFO ${fifo.path} is already there, and no process has it open: a killed run ` +
    "left it behind, or it was made by hand with mkfifo. I use it, but it is not mine to " +
    `remove: ${cleanCommand(fifo.path)} removes it`;
}

/** The demo's refusal of a FIFO that is already there: in use, or left behind. */
function fifoTaken(path: string): LessonError {
  let holders: number[] = [];
  try {
    holders = holdersOfPath(path);
  } catch { /* gone meanwhile */ }
  if (holders.length > 0) {
    return new LessonError(
      `the FIFO ${path} already exists: process ${
        holders.join(", ")
      } has it open, so another run is using it; choose another --path`,
    );
  }
  return new LessonError(
    `the FIFO ${path} already exists: no process has it open, so a killed run left it ` +
      `behind; ${cleanCommand(path)} removes it, or choose another --path`,
  );
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
    // belongs to another run (a process has it open), or was left by a killed one (nobody has).
    const fifo = fifoObject(options.path);
    if (fifo.exists()) throw fifoTaken(options.path);
    return { args: ["--path", options.path], objects: [fifo] };
  },
  labs,
  server,
  client,
};

if (import.meta.main) await runLesson(lesson, Deno.args);
