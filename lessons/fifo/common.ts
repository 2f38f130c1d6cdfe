/**
 * What the FIFO lesson's server and client share, the way a C lesson's header file serves
 * both programs: the options, what to say about a FIFO found already there, and how often to
 * look for other readers.
 *
 * @module
 */

import type { Fifo } from "../../transports/fifo.ts";
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
