/**
 * Lesson: System V shared memory, synchronised by a System V semaphore set.
 *
 *     deno task lesson:sysv-shm                                                  the demo
 *     deno task lesson:sysv-shm server --path /tmp --proj 7 --input F            terminal 1
 *     deno task lesson:sysv-shm client --path /tmp --proj 7 --output G           terminal 2
 *
 * The same bounded buffer as the POSIX shm lesson (`transports/ring_buffer.ts`): a ring of
 * slots in a segment, two counters (free slots, filled slots). Here the segment comes from
 * shmget/shmat and the counters are the two semaphores of one set (semget, semop with
 * SEM_UNDO), all found by one key that ftok(3) makes from a path and a project id.
 *
 * @module
 */

import { ftok, isMadeUpKey, LibcError, madeUpKey as libcMadeUpKey } from "../../transports/libc.ts";
import { formatKey, ftokPathProblem } from "../../transports/sysv_shm.ts";
import { formatBytes } from "../../transports/units.ts";
import { parseCount, UsageError } from "../_cli.ts";
import { defineLesson, type KernelObject, type Lesson } from "../_lesson.ts";
import { runLesson } from "../_runner.ts";
import { client } from "./client.ts";
import {
  DEFAULT_PROJ,
  DEFAULT_SLOTS,
  MAX_SLOT_SIZE,
  MAX_SLOTS,
  parseRingSize,
  refuseTakenKeyLine,
  type SysvShmOptions,
} from "./common.ts";
import { labs } from "./labs.ts";
import { objectsOfKey } from "./server.ts";
import { server } from "./server.ts";

/** Parses `--key`: hex (`0x5ca1ab1e`, as ipcs prints it) or decimal, 32 bits, not 0. */
function parseKey(text: string): number {
  const trimmed = text.trim();
  const value = /^0x[0-9a-f]{1,8}$/i.test(trimmed)
    ? Number.parseInt(trimmed.slice(2), 16)
    : /^-?\d+$/.test(trimmed)
    ? Number(trimmed)
    : NaN;
  if (!Number.isSafeInteger(value) || value < -(2 ** 31) || value > 0xffffffff) {
    throw new UsageError(
      `--key must be a 32-bit number, like 0x5ca1ab1e or 1234: got ${JSON.stringify(text)}`,
    );
  }
  if (value === 0) {
    throw new UsageError(
      "--key must not be 0: that is IPC_PRIVATE, a key no other process can find",
    );
  }
  return value | 0;
}

/**
 * A key for this run when none is given: random, in the lessons' own range (top byte 0x1e), so
 * deno task clean knows a killed run's objects for the lessons'.
 */
function madeUpKey(): number {
  return libcMadeUpKey();
}

/** The System V shared-memory lesson. */
export const lesson: Lesson<SysvShmOptions> = defineLesson({
  method: "sysv-shm",
  title: "Lesson: System V shared memory - ftok(3), shmget(2), shmat(2), semget(2), semop(2)",
  description: [
    "The server makes a semaphore set of two (free slots, filled slots) and a segment holding",
    "a ring of slots, both found by one key (ftok of --path and --proj, or --key), then reads",
    "the input file straight into free slots; the client writes the output straight out of",
    "filled ones. Every claim uses SEM_UNDO. The segment is marked for removal (IPC_RMID) as",
    "soon as the client has attached; the set is removed when the client has detached.",
  ].join("\n"),
  examples: [
    "deno task lesson:sysv-shm",
    "deno task lesson:sysv-shm --size 64M --quiet",
    "deno task lesson:sysv-shm --trace --slots 4 --slot-size 4K --size 20K",
    "deno task lesson:sysv-shm server --path lessons/sample.txt --proj 7 --input lessons/sample.txt   # terminal 1",
    "deno task lesson:sysv-shm client --path lessons/sample.txt --proj 7 --output /tmp/copy.txt --force  # terminal 2",
    "deno task lesson:sysv-shm --break list",
  ],
  entry: import.meta.url,
  options: {
    key: {
      type: "string",
      arg: "KEY",
      help: "the System V key, hex or decimal (default: made up for the run, or ftok of --path)",
    },
    path: {
      type: "string",
      arg: "PATH",
      help: "an existing file both sides ftok(3) into the key, with --proj",
    },
    proj: {
      type: "string",
      arg: "ID",
      help: `ftok's project id, 1 to 255 (default ${DEFAULT_PROJ})`,
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
  parse(values): SysvShmOptions {
    if (values.path === "") throw new UsageError("--path needs the path of an existing file");
    if (values.key === "") throw new UsageError("--key needs a key, like 0x5ca1ab1e");
    if (values.proj === "") throw new UsageError("--proj needs a project id, 1 to 255");
    const keyText = values.key || undefined;
    const path = values.path || undefined;
    const projText = values.proj || undefined;
    if (keyText !== undefined && (path !== undefined || projText !== undefined)) {
      throw new UsageError("--key gives the key itself: leave out --path and --proj, or --key");
    }
    if (projText !== undefined && path === undefined && keyText === undefined) {
      throw new UsageError("--proj is ftok's project id: it needs --path, the file ftok uses");
    }
    const proj = projText === undefined
      ? DEFAULT_PROJ
      : parseCount(projText, "--proj", { min: 1, max: 255 });
    let keyValue: number;
    let keySource: string;
    if (path !== undefined) {
      const problem = ftokPathProblem(path);
      if (problem !== null) throw new UsageError(`--path ${JSON.stringify(path)} ${problem}`);
      try {
        keyValue = ftok(path, proj);
      } catch (error) {
        if (!(error instanceof LibcError)) throw error;
        // Worded as the sysv-mq lesson words it.
        throw new UsageError(
          `--path ${JSON.stringify(path)} cannot make a key: ftok(${
            JSON.stringify(path)
          }, ${proj}) failed with ${error.code} (${error.description.toLowerCase()}); --path ` +
            "must name a file that exists (ftok makes the key from its inode and device " +
            "numbers), or give the key itself with --key",
        );
      }
      keySource = `ftok(${JSON.stringify(path)}, ${proj})`;
    } else if (keyText !== undefined) {
      keyValue = parseKey(keyText);
      // The demo hands the key it made up to both sides as --key: say where it came from.
      keySource = isMadeUpKey(keyValue) ? "made up for this run, in the lessons' range" : "--key";
    } else {
      keyValue = madeUpKey();
      keySource = "made up for this run";
    }
    const { slots, slotSize } = parseRingSize(values);
    return {
      key: path === undefined ? formatKey(keyValue) : "",
      path: path ?? "",
      proj: path === undefined ? "" : String(proj),
      keyValue,
      keySource,
      keyIsDefault: path === undefined && keyText === undefined,
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
  objects(options): KernelObject[] {
    // Both sides would trip over a key that is taken; say it once, before they start.
    refuseTakenKeyLine(options.keyValue);
    return objectsOfKey(options.keyValue);
  },
  labs,
  server,
  client,
});

if (import.meta.main) await runLesson(lesson, Deno.args);
