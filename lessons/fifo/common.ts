/**
 * What the FIFO lesson's server and client share, the way a C lesson's header file serves
 * both programs: the options, what to say about a FIFO found already there, and how often to
 * look for other readers.
 *
 * @module
 */

import type { Fifo } from "../../transports/fifo.ts";
import type { PipeUser } from "../../transports/pipe.ts";
import { holdersOfPath } from "../../transports/holders.ts";
import { unlink } from "../../transports/libc.ts";
import { cleanCommand, type KernelObject, LessonError } from "../_lesson.ts";

/** The FIFO lesson's own options. */
export interface FifoOptions {
  /** Where the FIFO lives. */
  path: string;
  /** True when --path was not given and the path was made up. */
  pathIsDefault: boolean;
  /**
   * --keep-name: the creator keeps the name until it exits, instead of removing it once
   * connected, so that more writers or readers can open the same FIFO meanwhile.
   */
  keepName: boolean;
}

/** How often a copy loop looks in /proc for the readers, in ms (each look reads /proc). */
export const LOOK_EVERY_MS = 250;

/**
 * What a side says about a FIFO it did not create: who else is on it, and as what, or, when
 * nobody is, that a killed run left it behind, and how to remove it. `/proc/PID/fdinfo` tells
 * a reader (its end open for reading: a client waiting) from a side that holds only an
 * `O_PATH` descriptor (a server waiting for a reader: it cannot open its end before one comes).
 * A FIFO nobody is on is harmless to use (a pipe keeps no data once its last end is closed),
 * but it is not this side's to remove.
 */
export function aboutFoundFifo(
  fifo: Fifo,
  me: "server" | "client",
  users: PipeUser[] = fifo.otherUsers(),
): string {
  if (users.length > 0) {
    const who = users.map((user) => `process ${user.pid} has it open ${roleOf(user, me)}`);
    return `the FIFO ${fifo.path} is already there, and ${
      who.join("; ")
    }: the side that made it removes it`;
  }
  return `the FIFO ${fifo.path} is already there, and no process has it open: a killed run ` +
    "left it behind, or it was made by hand with mkfifo. I use it, but it is not mine to " +
    `remove: ${cleanCommand(fifo.path)} removes it`;
}

/** What another process on the FIFO is to `me`, by the end it has open. */
function roleOf(user: PipeUser, me: "server" | "client"): string {
  if (user.reads) {
    return me === "server" ? "for reading (the client, waiting for me)" : "for reading";
  }
  if (user.writes) return me === "client" ? "for writing (the server)" : "for writing";
  return me === "client"
    ? "but no end yet (the server, waiting for me)"
    : "but no end yet (another server, waiting for a reader like me)";
}

/**
 * A second server refuses a FIFO that another process is already writing into: both writers'
 * bytes would mix in the one reader's copy, with nothing in the stream to tell. Sharing one
 * FIFO among several writers is exercise 3, asked for with --keep-name.
 */
export function refuseOtherWriters(path: string, users: PipeUser[]): void {
  const writers = users.filter((user) => user.writes).map((user) => user.pid);
  if (writers.length === 0) return;
  throw new LessonError(
    `process ${writers.join(", ")} already has the FIFO ${path} open for writing: another ` +
      "writer, and our bytes would mix in the reader's copy; start every server with " +
      "--keep-name to share it on purpose (exercise 3), or choose another --path",
  );
}

/**
 * The FIFO at `path`, as a kernel object the demo can check for and remove. In the demo both
 * sides are ours and make the FIFO themselves: one that is already there belongs to another
 * run (a process has it open), or was left by a killed one (nobody has): refused, at once.
 */
export function fifoObject(path: string): KernelObject {
  const fifo = {
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
  if (!fifo.exists()) return fifo;
  let holders: number[] = [];
  try {
    holders = holdersOfPath(path);
  } catch { /* gone meanwhile */ }
  throw new LessonError(
    holders.length > 0
      ? `the FIFO ${path} already exists: process ${
        holders.join(", ")
      } has it open, so another run is using it; choose another --path`
      : `the FIFO ${path} already exists: no process has it open, so a killed run left it ` +
        `behind; ${cleanCommand(path)} removes it, or choose another --path`,
  );
}
