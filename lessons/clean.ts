/**
 * `deno task clean`: removes the kernel objects that killed lesson runs left behind, and never
 * one that is in use.
 *
 * A process killed with SIGKILL gets no chance to clean up, so its FIFO, queue, shared-memory
 * segment or semaphores stay in the kernel until someone removes them. Whether an object is
 * still in use is the kernel's to say, not its name's: `/proc` shows every process that has it
 * open (an `O_PATH` descriptor too) or mapped into memory, and an object that some process
 * holds is left alone. So is every object of another user, even for root.
 *
 *     deno task clean                    list and remove this project's leftovers (ipc-lesson-…)
 *     deno task clean --dry-run          only list them
 *     deno task clean NAME...            remove these objects, whatever their names
 *     deno task clean --dry-run NAME...  only say what would be removed
 *
 * @module
 */

import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { findLeftovers, findNamed, type Leftover, type LeftoverKind } from "./_leftovers.ts";

const USAGE = "usage: deno task clean [--dry-run] [NAME...]";

const HELP = `${USAGE}

Without NAME: lists and removes what killed lesson runs left behind: your FIFOs and demo
folders in TMPDIR (or /tmp), shared-memory segments, semaphores and message queues whose names
start with ipc-lesson-, that no process holds open or mapped.

With NAME: removes exactly the objects named, whatever their names:
  a FIFO by its path                              deno task clean /tmp/my.fifo
  a message queue, a shared-memory segment or a   deno task clean /my-queue /my-shm
  semaphore by its POSIX name (a name that fits
  more than one kind removes each)

An object that a process holds (open, even with O_PATH, or mapped) is in use and left alone,
and so is every object of another user. A named object that cannot be removed, or a path that
is not a FIFO (a regular file is never removed), gets one error line and exit status 1.

  --dry-run  only say what would be removed
  --help     show this help`;

/** `the FIFO /tmp/x`, `the message queue /x`: how a sentence names an object. */
function describe(object: Leftover): string {
  const noun: Record<LeftoverKind, string> = {
    "FIFO": "FIFO",
    "shared memory": "shared-memory segment",
    "semaphore": "semaphore",
    "message queue": "message queue",
    "demo folder": "demo folder",
  };
  return `the ${noun[object.kind]} ${object.name ?? object.path}`;
}

/** `process 4711`, `processes 4711, 4712`. */
function processes(pids: number[]): string {
  return `process${pids.length === 1 ? "" : "es"} ${pids.join(", ")}`;
}

/** One line of the listing: `removed  FIFO           /tmp/…  (note)`. */
function line(verb: string, object: Leftover, note = ""): string {
  return `${verb.padEnd(13)} ${object.kind.padEnd(14)} ${object.path}${note ? `  (${note})` : ""}`;
}

/**
 * A note on an unused object whose name carries the pid of a process that still runs: that
 * process made it but no longer holds it (or the pid has been given to another process).
 */
function creatorNote(object: Leftover): string {
  return object.runningPid === null
    ? ""
    : `nobody holds it, though process ${object.runningPid}, whose pid is in its name, runs`;
}

/**
 * Removes `object` unless it is in use: looks once more just before (a FIFO's maker opens it a
 * moment after mkfifo). Returns what happened, as a word for the listing, and a reason.
 */
function removeIfUnused(object: Leftover): { done: boolean; why: string } {
  const holders = object.recheck();
  if (holders === null) {
    return { done: false, why: "it changed while we looked (gone, or another took its name)" };
  }
  if (holders.length > 0) return { done: false, why: `held by ${processes(holders)}` };
  try {
    object.remove();
    return { done: true, why: "" };
  } catch (error) {
    return { done: false, why: (error as Error).message };
  }
}

/** `deno task clean [--dry-run]`: this project's objects that nobody holds. */
function cleanLeftovers(dryRun: boolean): number {
  const { found, notes } = findLeftovers();
  for (const note of notes) console.log(`note: ${note}`);
  for (const object of found.filter((object) => object.holders.length > 0)) {
    console.log(line("in use", object, `held by ${processes(object.holders)}`));
  }
  const stale = found.filter((object) => object.holders.length === 0);
  if (stale.length === 0) {
    console.log("nothing to clean: no objects left behind by lesson runs");
    return 0;
  }
  let failed = 0;
  for (const object of stale) {
    if (dryRun) {
      console.log(line("would remove", object, creatorNote(object)));
      continue;
    }
    const { done, why } = removeIfUnused(object);
    if (done) console.log(line("removed", object, creatorNote(object)));
    else if (why.startsWith("held by")) console.log(line("in use", object, why));
    else if (why.startsWith("it changed")) console.log(line("left alone", object, why));
    else {
      failed++;
      console.log(line("not removed", object, why));
    }
  }
  if (dryRun) {
    console.log(`${stale.length} object(s) would be removed; run without --dry-run to remove them`);
  }
  return failed === 0 ? 0 : 1;
}

/** `deno task clean [--dry-run] NAME...`: exactly these objects, or one error line each. */
function cleanNamed(names: string[], dryRun: boolean): number {
  const { found, problems, notes } = findNamed(names, { cwd: startingDirectory() });
  for (const note of notes) console.log(`note: ${note}`);
  const errors = [...problems];
  const me = Deno.uid();
  for (const object of found) {
    if (me !== null && object.uid !== null && object.uid !== me) {
      errors.push(`${describe(object)} belongs to another user (uid ${object.uid}): left alone`);
    } else if (object.holders.length > 0) {
      errors.push(
        `${describe(object)} is in use, held by ${processes(object.holders)}: left alone`,
      );
    } else if (dryRun) {
      console.log(line("would remove", object, creatorNote(object)));
    } else {
      const { done, why } = removeIfUnused(object);
      if (done) console.log(line("removed", object, creatorNote(object)));
      else errors.push(`${describe(object)} was not removed: ${why}`);
    }
  }
  for (const error of errors) console.error(`error: ${error}`);
  return errors.length === 0 ? 0 : 1;
}

/**
 * Where a relative NAME starts from. `deno task` runs its command in the project's folder and
 * passes the folder it was started in as INIT_CWD; started any other way, the working directory.
 */
function startingDirectory(): string {
  const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
  const initial = Deno.env.get("INIT_CWD");
  return initial && resolve(Deno.cwd()) === root ? initial : Deno.cwd();
}

function main(args: string[]): number {
  let dryRun: boolean;
  let names: string[];
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { "dry-run": { type: "boolean" }, help: { type: "boolean" } },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    dryRun = values["dry-run"] === true;
    names = positionals;
  } catch (error) {
    console.error(`error: ${(error as Error).message.split(".")[0]} (${USAGE})`);
    return 2;
  }
  return names.length > 0 ? cleanNamed(names, dryRun) : cleanLeftovers(dryRun);
}

if (import.meta.main) Deno.exit(main(Deno.args));
