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
 * protocol are in `transports/ring_buffer.ts` and README.md, precise enough for a C program
 * to be the peer.
 *
 * @module
 */

import { ringNameProblem, ringNames, ringParts } from "../../transports/ring_buffer.ts";
import { formatBytes } from "../../transports/units.ts";
import { UsageError } from "../_cli.ts";
import { defineLesson, type Lesson, NAME_PREFIX, uniqueName } from "../_lesson.ts";
import { runLesson } from "../_runner.ts";
import { client } from "./client.ts";
import {
  DEFAULT_SLOTS,
  MAX_SLOT_SIZE,
  MAX_SLOTS,
  parseRingSize,
  refuseTakenNames,
  type ShmOptions,
} from "./common.ts";
import { labs } from "./labs.ts";
import { server } from "./server.ts";

/** The shared-memory lesson. */
export const lesson: Lesson<ShmOptions> = defineLesson({
  method: "shm",
  title:
    "Lesson: POSIX shared memory - shm_open(3), mmap(2), sem_open(3), sem_wait(3), sem_post(3)",
  description: [
    "The server makes a ring of slots in a shared-memory segment (shm_open, ftruncate, mmap)",
    "and two counting semaphores (free slots, filled slots), then reads the input file",
    "straight into free slots; the client writes the output file straight out of filled ones.",
    "A slot holding 0 bytes marks the end of the file. Either side may start first.",
  ].join("\n"),
  examples: [
    "deno task lesson:shm",
    "deno task lesson:shm --size 64M --quiet",
    "deno task lesson:shm --trace --slots 4 --slot-size 4K --size 20K",
    "deno task lesson:shm server --name /ipc-lesson-shm-lab --input lessons/sample.txt         # terminal 1",
    "deno task lesson:shm client --name /ipc-lesson-shm-lab --output /tmp/copy.txt --force     # terminal 2",
  ],
  entry: import.meta.url,
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
  parse(values): ShmOptions {
    const given = values.name;
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
    const { slots, slotSize } = parseRingSize(values);
    return {
      name: given ?? `/${uniqueName("shm")}`,
      nameIsDefault: given === undefined,
      slots,
      slotSize,
      given: { slots: values.slots !== undefined, slotSize: values["slot-size"] !== undefined },
    };
  },
  // One chunk fills one slot: the server reads that much of the file straight into the slot.
  chunk: (options) => ({
    default: options.slotSize,
    max: options.slotSize,
    why: "a chunk must fit in one slot (raise --slot-size)",
  }),
  objects(options) {
    // Both sides would trip over a name that is taken; say it once, before they start.
    const names = ringNames(options.name);
    refuseTakenNames(names);
    return ringParts(names);
  },
  labs,
  server,
  client,
});

if (import.meta.main) await runLesson(lesson, Deno.args);
