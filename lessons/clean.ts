/**
 * `deno task clean`: removes the kernel objects that killed lesson runs left behind, and never
 * one that is in use.
 *
 * A process killed with SIGKILL gets no chance to clean up, so its FIFO, queue, shared-memory
 * segment or semaphores stay in the kernel until someone removes them. Whether an object is
 * still in use is the kernel's to say, not its name's: `/proc` shows every process that has it
 * open (an `O_PATH` descriptor too), mapped into memory, or is blocked opening it (a FIFO
 * waiting for its other end), and an object that some process holds is left alone. So is every
 * object of another user, even for root.
 *
 *     deno task clean                    list and remove this project's leftovers (ipc-lesson-…)
 *     deno task clean --dry-run          only list them
 *     deno task clean NAME...            remove these objects, whatever their names
 *     deno task clean --dry-run NAME...  only say what would be removed
 *
 * Where each kind of object lives is its transport's to know: every lesson's transport (see
 * `registry.ts`) exports a `LeftoverFinder` for the objects it makes (`transports/leftovers.ts`),
 * and this program asks each, plus the runner's own folders in TMPDIR. So a new lesson's objects
 * are cleaned up without a line here.
 *
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  findLeftovers as askFinders,
  type Leftover,
  leftoverAt,
  LeftoverFinder,
  type LeftoverKind,
  type LeftoverReport,
  loadFinders,
  lookForHolders,
  lstatOrNull,
  mine,
  namesIn,
} from "../transports/leftovers.ts";
import { FileError, tempDir, typedIn } from "../transports/files.ts";
import { isRunning } from "../transports/holders.ts";
import { SOCKET_KIND } from "../transports/socket.ts";
import { LESSONS } from "./registry.ts";

/**
 * The prefix of every name the lessons give a kernel object (`uniqueName` in `_lesson.ts`).
 * Declared here too, so that cleaning up never depends on the lesson runner being importable.
 */
const NAME_PREFIX = "ipc-lesson-";

const USAGE = "usage: deno task clean [--dry-run] [NAME...]";

const HELP = `${USAGE}

Without NAME: lists and removes what killed lesson runs left behind: your FIFOs, demo
folders and graders' work folders in TMPDIR (or /tmp), shared-memory segments, semaphores and message queues whose names
start with ipc-lesson-, that no process holds open or mapped; and the lessons' own System V
queues, segments and semaphore sets (a key a lesson made up, or ftok of a run key file
ipc-lesson-….key in TMPDIR) whose processes have all exited. Other stale System V objects of
yours are only named, each with the command that removes it.

With NAME: removes exactly the objects named, whatever their names:
  a FIFO by its path                              deno task clean /tmp/my.fifo
  a message queue, a shared-memory segment or a   deno task clean /my-queue /my-shm
  semaphore by its POSIX name (a name that fits
  more than one kind removes each)
  a System V queue, segment or set by its key     deno task clean 0x4c0b1234
  a run's key file in TMPDIR (or /tmp) by its     deno task clean /tmp/ipc-lesson-sysv-mq-….key
  path, once no queue of its key exists

An object that a process holds (open, even with O_PATH, mapped, or a FIFO it is blocked
opening) is in use and left alone, and so is every object of another user, and a socket file
whose path has a line break (nothing can tell whether a server listens on it). A named object
that cannot be removed, or a path that names none of these (no other regular file is ever
removed), gets one error line and exit status 1.

  --dry-run  only say what would be removed
  --help     show this help`;

// ---------------------------------------------------------------------------------------------
// What to look for: every lesson's transport, and the runner's folders
// ---------------------------------------------------------------------------------------------

/**
 * The finders of every lesson's transport, in course order (a transport shared by two lessons
 * is asked once).
 */
const TRANSPORT_FINDERS: LeftoverFinder[] = await loadFinders(
  LESSONS.map((lesson) => new URL(`../${lesson.transport}`, import.meta.url)),
);

/** A folder of the lesson runner's, as a listing shows it. */
const DEMO_FOLDER: LeftoverKind = {
  label: "demo folder",
  noun: "demo folder",
  plural: "demo folders",
  atAnyPath: false,
};

/** A grader's work folder (its inputs and runs), as a listing shows it. */
const GRADER_FOLDER: LeftoverKind = {
  label: "grader folder",
  noun: "grader's work folder",
  plural: "graders' work folders",
  atAnyPath: false,
};

/**
 * The runner's folders in TMPDIR: `ipc-lesson-lab-…` (a break-it lab's files) and
 * `ipc-lesson-run-…` (a benchmark's, or an older demo's); and a grader's, `ipc-lesson-grade-…`
 * (tens of MiB of inputs, when a grader was killed). Found in a listing, or by their path in
 * TMPDIR; a folder is held while anything inside it is open or some process works in it.
 */
const runnerFolders = new LeftoverFinder([DEMO_FOLDER, GRADER_FOLDER], (query, report) => {
  let dir: string, files: string[];
  if ("prefix" in query) {
    [dir, files] = [query.dir, namesIn(query.dir, query.prefix)];
  } else {
    // By name: only such a folder, directly in the temporary folder, where runs make theirs.
    const path = resolve(query.cwd, query.name);
    if (dirname(path) !== resolve(tempDir())) return;
    [dir, files] = [dirname(path), [basename(path)]];
  }
  for (const file of files) {
    const kind = file.startsWith(`${NAME_PREFIX}grade-`)
      ? GRADER_FOLDER
      : file.startsWith(`${NAME_PREFIX}lab-`) || file.startsWith(`${NAME_PREFIX}run-`)
      ? DEMO_FOLDER
      : null;
    if (kind === null) continue;
    const path = join(dir, file);
    const info = lstatOrNull(path);
    if (!info?.isDirectory || !mine(info.uid)) continue;
    // Deno.removeSync does not follow symbolic links inside the folder.
    const remove = () => Deno.removeSync(path, { recursive: true });
    report.found.push(leftoverAt(kind, path, info, remove, { folder: true }));
  }
});

/**
 * Every object of this project (named `ipc-lesson-…`) that belongs to this user, in use or not:
 * what each lesson's transport finds (FIFOs in `tmp`, queues, segments, semaphores) and the
 * runner's folders in `tmp`. Each comes with the processes that hold it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findLeftovers } from "./clean.ts";
 * const { found } = findLeftovers({ tmp: Deno.makeTempDirSync() });
 * assert.ok(found.every((object) => object.path.includes("ipc-lesson-")));
 * ```
 */
export function findLeftovers(options: { tmp?: string } = {}): LeftoverReport {
  const dir = options.tmp ?? tempDir();
  return askFinders([...TRANSPORT_FINDERS, runnerFolders], { prefix: NAME_PREFIX, dir });
}

/** `a, b or c`; `a, b and c`. */
function list(words: string[], last: "or" | "and"): string {
  return words.length < 2
    ? words.join("")
    : `${words.slice(0, -1).join(", ")} ${last} ${words.at(-1)}`;
}

const KINDS = [...TRANSPORT_FINDERS, runnerFolders].flatMap((finder) => finder.kinds);

/** How `ls -l` would call the thing at a path that is not what a name may remove. */
function typeOf(info: Deno.FileInfo): string {
  if (info.isFile) return "a regular file";
  if (info.isDirectory) return "a directory";
  if (info.isSymlink) return "a symbolic link";
  if (info.isSocket) return "a socket";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  if (info.isFifo) return "a FIFO";
  return "something else";
}

/**
 * Finds the objects that each of `names` names, whatever the names are, and whoever owns them:
 * every lesson's transport is asked. A path (absolute, or relative to `cwd`) names the FIFO
 * there, or the segment, semaphore or queue that a path in `/dev/shm` or `/dev/mqueue` shows; a
 * POSIX name, `/x` (or `x`), names the queue `/x`, the segment `/dev/shm/x` and the semaphore
 * `/dev/shm/sem.x`: each that exists.
 *
 * A name that names none of these, or only something that may not be removed (a regular file,
 * a directory, a symbolic link), gets a problem; such a thing is never among `found`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findNamed } from "./clean.ts";
 * const { found, problems } = findNamed([`/no-such-queue-${Deno.pid}`]);
 * assert.deepEqual(found, []);
 * assert.match(problems[0]!, /^no FIFO, message queue, .* is named/);
 * ```
 */
export function findNamed(names: string[], options: { cwd?: string } = {}): LeftoverReport {
  const cwd = options.cwd ?? Deno.cwd();
  const found = new Map<string, Leftover>(); // one named twice is removed once
  const problems: string[] = [];
  const notes: string[] = [];
  const removable = `(deno task clean removes only ${
    list(KINDS.map((kind) => kind.plural), "and")
  })`;
  const pathKinds = list(KINDS.filter((kind) => kind.atAnyPath).map((kind) => kind.noun), "or");

  for (const name of names) {
    const report: LeftoverReport = { found: [], notes, problems: [] };
    let notRemovable: string | null = null;
    try {
      for (const finder of [...TRANSPORT_FINDERS, runnerFolders]) {
        finder.find({ name, cwd }, report);
      }
      // Something is at the path, but no transport made it: it is left alone, and said so.
      const path = resolve(cwd, name);
      const info = name === "" ? null : lstatOrNull(path);
      if (info && !report.found.some((object) => object.path === path)) {
        notRemovable = `${path} is ${typeOf(info)}, not a ${pathKinds}: left alone ${removable}`;
      }
    } catch (error) {
      problems.push(`cannot look for ${JSON.stringify(name)}: ${(error as Error).message}`);
      continue;
    }
    problems.push(...report.problems);
    for (const object of report.found) {
      const why = unjudgeable(object);
      if (why !== null) problems.push(`${describe(object)}: ${why}`);
      else found.set(`${object.kind} ${object.path}`, object);
    }
    if (report.found.length > 0) {
      if (notRemovable) notes.push(notRemovable);
    } else if (report.problems.length > 0) {
      continue; // said why
    } else if (notRemovable) {
      problems.push(notRemovable);
    } else {
      problems.push(
        `no ${list(KINDS.map((kind) => kind.noun), "or")} is named ${JSON.stringify(name)}`,
      );
    }
  }
  const objects = [...found.values()];
  lookForHolders(objects, notes);
  return { found: objects, problems, notes };
}

// ---------------------------------------------------------------------------------------------
// Saying and removing
// ---------------------------------------------------------------------------------------------

/**
 * The pid in a name such as `ipc-lesson-fifo-4711-3f9a2c` or `ipc-lesson-unix-socket-4711-…`
 * (see `uniqueName` in `_lesson.ts`): the first part made only of digits, after a method name of
 * one or more words. Null if the name has none (`ipc-lesson-shm-lab`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pidInName } from "./clean.ts";
 * assert.equal(pidInName("ipc-lesson-sysv-mq-4711-3f9a2c"), 4711);
 * assert.equal(pidInName("ipc-lesson-shm-lab"), null);
 * ```
 */
export function pidInName(name: string): number | null {
  const match = name.match(/^ipc-lesson-(?:[a-z0-9]*[a-z][a-z0-9]*-)+?(\d+)(?=[-.]|$)/);
  const pid = Number(match?.[1]);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

/**
 * `the FIFO /tmp/x`, `the message queue /x`: how a sentence names an object. A path with a
 * line break is quoted, so that the sentence stays one line.
 */
function describe(object: Leftover): string {
  const name = object.name ?? object.path;
  return `the ${object.noun} ${/[\n\r]/.test(name) ? JSON.stringify(name) : name}`;
}

/**
 * Why `object` cannot be judged stale, or null. Whether a socket file is in use is told by
 * `/proc/net/unix`, one socket a line, where its path is printed as it is: a path with a line
 * break (`\n`, or a `\r` that a line reader also takes for one) spans two lines, is never
 * matched, and so would always look unused, even while its server listens. Such a file is
 * left alone, whatever its name.
 */
function unjudgeable(object: Leftover): string | null {
  return object.kind === SOCKET_KIND.label && /[\n\r]/.test(object.path)
    ? "its path has a line break, so /proc/net/unix (one socket a line) cannot tell whether a " +
      "server listens on it: left alone (if you know nothing does, remove it yourself)"
    : null;
}

/** `process 4711`, `processes 4711, 4712`. */
function processes(pids: readonly number[]): string {
  return `process${pids.length === 1 ? "" : "es"} ${pids.join(", ")}`;
}

/** One line of the listing: `removed  FIFO           /tmp/…  (note)`. */
function line(verb: string, object: Leftover, note = ""): string {
  return `${verb.padEnd(13)} ${object.kind.padEnd(14)} ${object.path}${note ? `  (${note})` : ""}`;
}

/**
 * A note on an unused object whose name carries the pid of a process that still runs: that
 * process made it but no longer holds it (or the pid has been given to another process). The
 * pid in a name is only shown, never trusted.
 */
function creatorNote(object: Leftover): string {
  const pid = pidInName(object.path.slice(object.path.lastIndexOf("/") + 1).replace(/^sem\./, ""));
  return pid === null || pid === Deno.pid || !isRunning(pid)
    ? ""
    : `nobody holds it, though process ${pid}, whose pid is in its name, runs`;
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
  const report = findLeftovers();
  const { notes } = report;
  for (const note of notes) console.log(`note: ${note}`);
  const found = report.found.filter((object) => {
    const why = unjudgeable(object);
    if (why !== null) console.log(`note: ${describe(object)}: ${why}`);
    return why === null;
  });
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
  // One name at a time, each looked up after the last was removed, and run key files last: the
  // key file of a queue that this same command removes is free to go by then.
  const keyFilesLast = [...names].sort((a, b) =>
    Number(a.endsWith(".key")) - Number(b.endsWith(".key"))
  );
  let status = 0;
  const said = new Set<string>(); // a note said for one name is not said again for the next
  for (const name of keyFilesLast) status = Math.max(status, cleanOne(name, dryRun, said));
  return status;
}

/** Removes the objects `name` names, or says why not; returns the exit status. */
function cleanOne(name: string, dryRun: boolean, said: Set<string>): number {
  const { found, problems, notes } = findNamed([name], { cwd: typedIn() });
  for (const note of notes) {
    const gist = note.replace(/\d+/g, "N"); // its counts may change from one name to the next
    if (said.has(gist)) continue;
    said.add(gist);
    console.log(`note: ${note}`);
  }
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
    // "Unknown option '-r'": said the way the lessons say it.
    const message = (error as Error).message.split(".")[0]!.replace(/^Unknown/, "unknown");
    console.error(`error: ${message} (${USAGE})`);
    return 2;
  }
  if (names.includes("")) {
    console.error(`error: an empty NAME names nothing (${USAGE})`);
    return 2;
  }
  try {
    tempDir(); // where runs keep their files: a TMPDIR Deno cannot read is said at once
  } catch (error) {
    if (!(error instanceof FileError)) throw error;
    console.error(`error: ${error.message}`);
    return 1;
  }
  return names.length > 0 ? cleanNamed(names, dryRun) : cleanLeftovers(dryRun);
}

if (import.meta.main) Deno.exit(main(Deno.args));
