/**
 * What the shared-memory lesson's server and client share, the way TLPI's `svshm_xfr.h` serves
 * its writer and reader: the options, their limits, and how to word a ring whose names are
 * taken or whose creator has gone. The ring itself (layout, protocol) is the transport's:
 * `transports/ring_buffer.ts`.
 *
 * @module
 */

import {
  refuseExisting,
  ringLayout,
  type RingNames,
  RingNamesTaken,
  ringParts,
  StaleRing,
} from "../../transports/ring_buffer.ts";
import { formatBytes } from "../../transports/units.ts";
import { parseCount, parseSize, UsageError } from "../_cli.ts";
import { cleanCommand } from "../_lesson.ts";

/** The shared-memory lesson's own options. */
export interface ShmOptions {
  /** The segment's POSIX name; the semaphores are NAME-free and NAME-filled. */
  name: string;
  /** True when --name was not given and the name was made up. */
  nameIsDefault: boolean;
  /** How many slots the ring has. */
  slots: number;
  /** The bytes per slot. */
  slotSize: number;
  /** Which of --slots and --slot-size were given: a client checks them against the ring. */
  given: { slots: boolean; slotSize: boolean };
}

/**
 * Defaults: 16 slots of 128 KiB, a 2 MiB ring. Measured here: 128 KiB slots moved files faster
 * than 64 KiB ones (fewer hand-offs and system calls), and writes of 256 KiB or more to an ext4
 * file were up to 4 times slower in the kernel (for the pipe lesson too).
 */
export const DEFAULT_SLOTS = 16;
/** The default slot size. */
export const DEFAULT_SLOT_SIZE = 128 * 1024;
/** At most this many slots. */
export const MAX_SLOTS = 1024;
/** At most this many bytes per slot. */
export const MAX_SLOT_SIZE = 16 * 1024 * 1024;
/** At most this much memory for the whole ring: memory stays bounded, whatever the file size. */
export const MAX_RING_BYTES = 256 * 1024 * 1024;

/**
 * The ring's size from `--slots` and `--slot-size` (the defaults where not given), within the
 * limits above; a usage error, one line, otherwise. The System V lesson's ring takes the same.
 */
export function parseRingSize(
  values: { slots?: string; "slot-size"?: string },
): { slots: number; slotSize: number } {
  const slotsText = values.slots;
  const slotSizeText = values["slot-size"];
  const slots = slotsText === undefined
    ? DEFAULT_SLOTS
    : parseCount(slotsText, "--slots", { min: 1, max: MAX_SLOTS });
  const slotSize = slotSizeText === undefined
    ? DEFAULT_SLOT_SIZE
    : parseSize(slotSizeText, "--slot-size", 1);
  if (slotSize > MAX_SLOT_SIZE) {
    throw new UsageError(
      `--slot-size must be at most ${MAX_SLOT_SIZE} (${formatBytes(MAX_SLOT_SIZE)}): got ${
        JSON.stringify(slotSizeText)
      }`,
    );
  }
  const ringBytes = ringLayout(slots, slotSize).size;
  if (ringBytes > MAX_RING_BYTES) {
    throw new UsageError(
      `--slots ${slots} × --slot-size ${slotSize} needs ${
        formatBytes(ringBytes)
      } of shared memory: at most ${formatBytes(MAX_RING_BYTES)}`,
    );
  }
  return { slots, slotSize };
}

/**
 * Refuses, with one line and before anything is created, a ring whose names are taken: in use
 * by another run (choose another --name), or left behind by a killed one (which command
 * removes them).
 */
export function refuseTakenNames(names: RingNames): void {
  try {
    refuseExisting(names);
  } catch (error) {
    if (!(error instanceof RingNamesTaken)) throw error;
    const them = error.taken.length === 1 ? "it" : "them";
    throw new Deno.errors.AlreadyExists(
      error.owners.length > 0
        ? `${error.message}; left untouched: choose another --name`
        : error.holders.length > 0
        ? `${error.message}: another run is using the name ${names.segment}; choose another --name`
        : `${error.message} (deno task clean removes what killed runs left): \`${
          cleanCommand(...error.taken.map((part) => part.name))
        }\` removes ${them}, or choose another --name`,
    );
  }
}

/** Rethrows `error`; a stale ring's message gets the command that removes what is left of it. */
export function explainStale(error: unknown): never {
  if (!(error instanceof StaleRing)) throw error;
  const left = ringParts(error.names).filter((part) => part.exists()).map((part) => part.name);
  throw new StaleRing(
    error.names,
    `${error.message} (remove what it left with \`${cleanCommand(...left)}\`)`,
  );
}
