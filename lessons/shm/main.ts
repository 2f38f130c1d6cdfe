/**
 * Lesson: POSIX shared memory, synchronised by semaphores.
 *
 *     deno task lesson:shm                                                    the demo
 *     deno task lesson:shm server --name /ipc-lesson-shm-lab --input F        terminal 1
 *     deno task lesson:shm client --name /ipc-lesson-shm-lab --output G       terminal 2
 *
 * The server makes a ring of slots in a shared-memory segment and reads the input file
 * straight into the slots; the client writes the output file straight out of them. Two
 * counting semaphores make them take turns: the classic bounded buffer. The layout and the
 * protocol are in `ring_buffer.ts` and README.md, precise enough for a C program to be the
 * peer.
 *
 * @module
 */

import { parseCount, parseSize } from "../_cli.ts";
import { UsageError } from "../_files.ts";
import { type Lesson, NAME_PREFIX, uniqueName } from "../_lesson.ts";
import { formatBytes } from "../_log.ts";
import { runLesson } from "../_runner.ts";
import { client } from "./client.ts";
import { labs } from "./labs.ts";
import {
  refuseExisting,
  ringLayout,
  ringNameProblem,
  ringNames,
  ringObjects,
} from "./ring_buffer.ts";
import { server } from "./server.ts";

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

/** The shared-memory lesson. */
export const lesson: Lesson<ShmOptions> = {
  method: "shm",
  title:
    "Lesson: POSIX shared memory - shm_open(3), mmap(2), sem_open(3), sem_wait(3), sem_post(3)",
  description: [
    "The server makes a ring of slots in a shared-memory segment (shm_open, ftruncate, mmap)",
    "and two counting semaphores (free slots, filled slots), then reads the input file",
    "straight into free slots; the client writes the output file straight out of filled ones.",
    "A slot holding 0 bytes marks the end of the file. Either side may start first.",
  ].join("\n"),
  options: {
    name: {
      type: "string",
      arg: "/NAME",
      help:
        `the segment's name, /${NAME_PREFIX}…; semaphores NAME-free, NAME-filled (default: unique)`,
    },
    slots: {
      type: "string",
      arg: "N",
      help: `how many slots the ring has (default ${DEFAULT_SLOTS}, at most ${MAX_SLOTS})`,
    },
    "slot-size": {
      type: "string",
      arg: "BYTES",
      help: `bytes per slot; K, M suffixes (default 128K, at most ${formatBytes(MAX_SLOT_SIZE)})`,
    },
  },
  examples: [
    "deno task lesson:shm",
    "deno task lesson:shm --size 64M --quiet",
    "deno task lesson:shm --trace --slots 4 --slot-size 4K --size 20K",
    "deno task lesson:shm server --name /ipc-lesson-shm-lab --input notes.txt      # terminal 1",
    "deno task lesson:shm client --name /ipc-lesson-shm-lab --output copy.txt      # terminal 2",
  ],
  entry: import.meta.url,

  parseOptions(values) {
    const given = values["name"] as string | undefined;
    if (given !== undefined) {
      const problem = ringNameProblem(given);
      if (problem !== null) throw new UsageError(`--name ${problem}: got ${JSON.stringify(given)}`);
      if (!given.startsWith(`/${NAME_PREFIX}`)) {
        throw new UsageError(
          `--name must start with /${NAME_PREFIX}, so that deno task clean can find what a ` +
            `killed run leaves behind: got ${JSON.stringify(given)}`,
        );
      }
    }
    const slotsText = values["slots"] as string | undefined;
    const slotSizeText = values["slot-size"] as string | undefined;
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
    return {
      name: given ?? `/${uniqueName("shm")}`,
      nameIsDefault: given === undefined,
      slots,
      slotSize,
      given: { slots: slotsText !== undefined, slotSize: slotSizeText !== undefined },
    };
  },
  // One chunk fills one slot: the server reads that much of the file straight into the slot.
  defaultChunk: (options) => options.slotSize,
  maxChunk: (options) => ({
    bytes: options.slotSize,
    why: "a chunk must fit in one slot (raise --slot-size)",
  }),
  prepareDemo: (options) => {
    const names = ringNames(options.name);
    // Both sides would trip over a name that is taken; say it once, before they start.
    refuseExisting(names);
    return {
      args: [
        "--name",
        options.name,
        "--slots",
        String(options.slots),
        "--slot-size",
        String(options.slotSize),
      ],
      objects: ringObjects(names),
    };
  },
  labs,
  server,
  client,
};

if (import.meta.main) await runLesson(lesson, Deno.args);
