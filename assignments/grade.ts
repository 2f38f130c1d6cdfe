/**
 * The grader: `deno task grade <name> [--submission PATH] [--json] [--only CHECK,…]`, or
 * `deno task grade <name> --submissions DIR` for a whole class (a CSV on stdout).
 *
 * It runs the student's side against the lesson's own other side, and prints a table: each
 * check, its points, passed or why not, and the total. Without `--submission` it grades the
 * assignment's starter. `--json` prints the same as one JSON object; the exit status is 0 only
 * at full marks (1 otherwise, 2 for a usage mistake). The grader runs the student's code with
 * your permissions: it is not a sandbox.
 *
 * @module
 */

import { join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { typedIn, usableTempDir } from "../transports/files.ts";
import { isRunning } from "../transports/holders.ts";
import {
  type Assignment,
  ASSIGNMENTS_DIR,
  cleanups,
  formatGrade,
  type Grade,
  grade,
  interruptCleanup,
  ROOT,
} from "./_grader.ts";
import { ASSIGNMENTS } from "./registry.ts";

const USAGE = `usage: deno task grade <assignment> [--submission PATH] [--json] [--only CHECK,...]
       deno task grade <assignment> --submissions DIR [--only CHECK,...]   (a CSV of names and points)

PATH is a file, or a folder holding the starter's file name (a hand-in of several files).

assignments: ${ASSIGNMENTS.map((assignment) => assignment.name).join(", ")}`;

/** A usage mistake: one line and the usage, status 2. */
class Usage extends Error {}

/**
 * A hand-in that cannot be graded, in one line a student can act on (`cannot read /x/zed.ts:
 * permission denied`): it gets a row of zeros with this reason, and the class goes on.
 */
class Ungradable extends Error {}

/** The assignment called `name`. */
function assignmentNamed(name: string | undefined): Assignment {
  const found = ASSIGNMENTS.find((assignment) => assignment.name === name);
  if (!found) {
    throw new Usage(
      name === undefined ? "which assignment?" : `there is no assignment ${JSON.stringify(name)}`,
    );
  }
  return found;
}

/**
 * `text` as it can be shown on one line: as it is, or quoted as JSON when it holds a line
 * break or another control character (a file named `bob⏎newline.ts` must not split a progress
 * line in two).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shown } from "./grade.ts";
 * assert.equal(shown("alice"), "alice");
 * assert.equal(shown("bob\nnewline"), '"bob\\nnewline"');
 * ```
 */
export function shown(text: string): string {
  // deno-lint-ignore no-control-regex
  return /[\u0000-\u001f\u007f]/.test(text) ? JSON.stringify(text) : text;
}

/**
 * Why a file operation failed, in the words of its error: `permission denied` for Deno's
 * `Permission denied (os error 13): open '…'` (the path is said by the caller, once).
 */
function failure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const words = message.replace(/\s*\(os error \d+\)[\s\S]*$/, "");
  return words.charAt(0).toLowerCase() + words.slice(1);
}

/** `text` on one line: its line breaks as ` | `, as the grader quotes a program's stderr. */
function oneLine(text: string): string {
  return text.trim().replace(/\s*[\r\n]+\s*/g, " | ");
}

/** One hand-in: a file `NAME.ts`, or a folder `NAME/` holding the starter's file name. */
export interface HandIn {
  /** The student's name, from the file or folder. */
  name: string;
  /** The file to run. */
  path: string;
  /** The folder it came in, for a folder hand-in (its other files go with it). */
  folder?: string;
  /** Why it cannot be graded at all (a folder without the starter's file). */
  problem?: string;
}

/** An entry of the hand-ins' folder that is not a hand-in, and why. */
export interface Skipped {
  /** The entry's name in the folder. */
  name: string;
  /** Why it was skipped: `not NAME.ts or a folder`. */
  why: string;
}

/**
 * The hand-ins in `dir`: `NAME.ts`, or `NAME/` holding the starter's file name; a symbolic link
 * counts as what it points to. Every other entry is `skipped`, with why, so that the caller can
 * say so: a student missing from the grade sheet without a word is a grade lost.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { join } from "node:path";
 * import { submissionsIn } from "./grade.ts";
 * import { ASSIGNMENTS } from "./registry.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(join(dir, "alice.ts"), "");
 * Deno.writeTextFileSync(join(dir, "HANK.TS"), "");
 * const { handIns, skipped } = submissionsIn(dir, ASSIGNMENTS[0]!);
 * assert.deepEqual(handIns.map((handIn) => handIn.name), ["alice"]);
 * assert.deepEqual(skipped, [{ name: "HANK.TS", why: "not NAME.ts or a folder" }]);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function submissionsIn(
  dir: string,
  assignment: Assignment,
): { handIns: HandIn[]; skipped: Skipped[] } {
  const handIns: HandIn[] = [];
  const skipped: Skipped[] = [];
  for (const { name } of Deno.readDirSync(dir)) {
    const path = join(dir, name);
    if (name.startsWith(".")) {
      skipped.push({ name, why: "a hidden file or folder (its name starts with a dot)" });
      continue;
    }
    // stat, not the entry's own kind: a link to a file is the file it points to.
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(path);
    } catch (error) {
      const why = error instanceof Deno.errors.NotFound
        ? "a symbolic link to nothing"
        : `cannot read it: ${failure(error)}`;
      skipped.push({ name, why });
      continue;
    }
    if (info.isFile && name.endsWith(".ts")) {
      handIns.push({ name: name.slice(0, -3), path });
    } else if (info.isDirectory) {
      handIns.push(folderHandIn(name, path, assignment));
    } else {
      skipped.push({ name, why: "not NAME.ts or a folder" });
    }
  }
  const byName = (a: { name: string }, b: { name: string }) => a.name < b.name ? -1 : 1;
  return { handIns: handIns.sort(byName), skipped: skipped.sort(byName) };
}

/** A folder hand-in, or why it has nothing to grade: no starter's file, or none it can read. */
function folderHandIn(name: string, folder: string, assignment: Assignment): HandIn {
  const path = join(folder, assignment.starter);
  try {
    if (Deno.statSync(path).isFile) return { name, path, folder };
  } catch (error) {
    // A folder the grader may not enter holds a client.ts for all it knows: say what it knows.
    if (!(error instanceof Deno.errors.NotFound)) {
      return { name, path, problem: `cannot read ${shown(folder)}: ${failure(error)}` };
    }
  }
  return {
    name,
    path,
    problem: `the folder ${shown(folder)} holds no ${assignment.starter}: nothing to grade`,
  };
}

/** The prefix of a staged copy's name, with the grader's pid: `.hand-in-PID-`. */
const STAGED = /^\.hand-in-(\d+)-/;

/** A staged hand-in: the file to run, and the copy's root (a file, or a folder) and its origin. */
export interface Staged extends Disposable {
  /** The file to run. */
  path: string;
  /** The copy: the file, or the folder. */
  copy: string;
  /** What was copied: the file, or the folder. */
  original: string;
}

/**
 * A hand-in, copied to where the student wrote it, so that its imports resolve as they did in
 * the student's copy (`../../mod.ts` from `assignments/<name>/`): a file beside the starter, a
 * folder beside the assignment's folder. Symbolic links are copied as what they point to.
 * Removed again at the end of the `using` block. `skip` hears of each entry of a folder that
 * was not copied (a link to nothing, a link to a folder, a FIFO). What cannot be read throws
 * an {@linkcode Ungradable} that says so.
 */
export function stage(
  assignment: Assignment,
  handIn: HandIn,
  skip: (path: string, why: string) => void = () => {},
): Staged {
  const tag = `.hand-in-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const original = handIn.folder ?? handIn.path;
  const copy = handIn.folder === undefined
    ? join(ASSIGNMENTS_DIR, assignment.name, `${tag}.ts`)
    : join(ASSIGNMENTS_DIR, tag);
  const remove = () => {
    try {
      Deno.removeSync(copy, { recursive: true });
    } catch (error) {
      // A hand-in may remove its own copy (or never have been copied): gone is what we want.
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  };
  cleanups.add(remove);
  const dispose = () => {
    cleanups.delete(remove);
    remove();
  };
  try {
    if (handIn.folder === undefined) copyFile(handIn.path, copy);
    else copyFolder(handIn.folder, copy, skip);
  } catch (error) {
    dispose();
    throw error;
  }
  const path = handIn.folder === undefined ? copy : join(copy, assignment.starter);
  return { path, copy, original, [Symbol.dispose]: dispose };
}

/** Copies the file `from` (what it points to, if a link), saying which side failed. */
function copyFile(from: string, to: string): void {
  try {
    Deno.openSync(from).close();
  } catch (error) {
    throw new Ungradable(`cannot read ${shown(from)}: ${failure(error)}`);
  }
  try {
    Deno.copyFileSync(from, to);
  } catch (error) {
    throw new Ungradable(`cannot copy ${shown(from)} to ${shown(to)}: ${failure(error)}`);
  }
}

/**
 * Copies the folder `from`: its folders, and its files, links to files as the files. A link to
 * a folder is not followed (it may lead back up, or to `/`), nor is anything but a file copied
 * (a FIFO would block the copy): `skip` hears of each.
 */
function copyFolder(from: string, to: string, skip: (path: string, why: string) => void): void {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(from)];
  } catch (error) {
    throw new Ungradable(`cannot read ${shown(from)}: ${failure(error)}`);
  }
  Deno.mkdirSync(to);
  for (const entry of entries) {
    const path = join(from, entry.name);
    if (entry.isDirectory) {
      copyFolder(path, join(to, entry.name), skip);
      continue;
    }
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw new Ungradable(`cannot read ${shown(path)}: ${failure(error)}`);
      }
      skip(path, "a symbolic link to nothing");
      continue;
    }
    if (info.isFile) copyFile(path, join(to, entry.name));
    else if (info.isDirectory) skip(path, "a symbolic link to a folder (not followed)");
    else skip(path, "not a file or a folder");
  }
}

/**
 * The grade with the staged copy's path (`copy`, a file or a folder), wherever it shows (Deno's
 * `at file:///…` line, the submission), replaced by what the student handed in (`original`).
 */
export function renamed(result: Grade, copy: string, original: string): Grade {
  const swap = (text: string) => text.replaceAll(copy, original);
  return {
    ...result,
    submission: swap(result.submission),
    checks: result.checks.map((check) => ({
      ...check,
      why: check.why === null ? null : swap(check.why),
    })),
  };
}

/** The checks `only` asks for (all without it). */
function asked(assignment: Assignment, only: string[] | undefined) {
  return assignment.checks.filter((check) => only === undefined || only.includes(check.id));
}

/** The grade of a hand-in that could not be run: every check asked for lost, for `problem`. */
function ungraded(assignment: Assignment, handIn: HandIn, only?: string[]): Grade {
  const checks = asked(assignment, only).map((check) => ({
    id: check.id,
    title: check.title,
    points: check.points,
    earned: 0,
    passed: false,
    why: handIn.problem!,
    details: [],
    ms: 0,
  }));
  return {
    assignment: assignment.name,
    submission: handIn.path,
    total: 0,
    max: checks.reduce((sum, check) => sum + check.points, 0),
    checks,
    notes: [],
    ms: 0,
  };
}

/** A CSV cell. */
function cell(value: string | number): string {
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One row of the class's CSV: a name, its grade, and whether it could be graded at all. */
interface CsvRow {
  name: string;
  grade: Grade;
  /** It could not be run at all (unreadable, no starter's file): zero in every column. */
  ungraded?: boolean;
}

/** The CSV's header line: `name,total,<one column per check>,why`. */
function csvHeader(assignment: Assignment): string {
  return ["name", "total", ...assignment.checks.map((check) => check.id), "why"].join(",") + "\n";
}

/**
 * One CSV line (the class's grades are printed a line at a time, as each is graded): the name,
 * the total, each check's points (an empty cell for a check that was not run, as with `--only`;
 * a 0 in every cell for a hand-in that could not be run at all), and `why`: the first check lost
 * and its reason (empty when none was); for a hand-in that could not be run at all, the reason
 * alone, under no check, since none ran.
 */
function csvLine(assignment: Assignment, row: CsvRow): string {
  const { name, grade, ungraded } = row;
  const lost = grade.checks.find((result) => !result.passed);
  return [
    name,
    grade.total,
    ...assignment.checks.map((check) =>
      ungraded ? 0 : grade.checks.find((result) => result.id === check.id)?.earned ?? ""
    ),
    lost === undefined ? "" : ungraded ? lost.why ?? "" : `${lost.id}: ${lost.why}`,
  ].map(cell).join(",") + "\n";
}

/** Writes `text` to stdout, all of it, now: a class's rows go out as each is graded. */
function print(text: string): void {
  const bytes = new TextEncoder().encode(text);
  for (let at = 0; at < bytes.length;) at += Deno.stdout.writeSync(bytes.subarray(at));
}

/**
 * A path given on the command line, from where the user typed it: `deno task` runs the grader in
 * the project's root, and says in INIT_CWD where the user was.
 */
export function fromCaller(path: string): string {
  return resolve(typedIn(), path);
}

/**
 * Removes the hand-ins staged by graders that were killed (SIGKILL, the OOM killer: no cleanup
 * ran), `assignments/<name>/.hand-in-PID-*.ts` and `assignments/.hand-in-PID-*`, whose PID no
 * longer runs; a running grader's copies are left alone. Returns what it removed, from the
 * project's root.
 */
function removeStaleCopies(): string[] {
  const removed: string[] = [];
  const folders = [
    ASSIGNMENTS_DIR,
    ...ASSIGNMENTS.map((assignment) => join(ASSIGNMENTS_DIR, assignment.name)),
  ];
  for (const folder of folders) {
    let names: string[];
    try {
      names = [...Deno.readDirSync(folder)].map((entry) => entry.name);
    } catch {
      continue; // no such folder: nothing staged in it
    }
    for (const name of names) {
      const pid = name.match(STAGED)?.[1];
      if (pid === undefined || isRunning(Number(pid))) continue;
      try {
        Deno.removeSync(join(folder, name), { recursive: true });
        removed.push(relative(ROOT, join(folder, name)));
      } catch { /* another grader removed it first */ }
    }
  }
  return removed;
}

/** The file a `--submission` names: the file, or for a folder, the starter's file in it. */
function submissionFile(submission: string, assignment: Assignment): HandIn {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(submission);
  } catch (error) {
    throw new Usage(`cannot read the submission ${shown(submission)}: ${failure(error)}`);
  }
  if (info.isDirectory) {
    // A hand-in of several files: the folder goes with it, as with --submissions.
    const handIn = folderHandIn("", submission, assignment);
    if (handIn.problem !== undefined) throw new Usage(handIn.problem);
    return handIn;
  }
  if (!info.isFile) throw new Usage(`${shown(submission)} is not a file`);
  return { name: "", path: submission };
}

/**
 * Where `file` runs if it runs where it is: only inside `assignments/<name>/` (the starter, the
 * solution), where `../../mod.ts` means what it meant in the student's copy; null anywhere
 * else, inside the project or not: there it is staged. Judged, and run, by its real path: Deno
 * resolves a link's imports from the link, so a link elsewhere to a file there runs the file.
 */
function inPlace(file: string, assignment: Assignment): string | null {
  try {
    const home = Deno.realPathSync(join(ASSIGNMENTS_DIR, assignment.name));
    const real = Deno.realPathSync(file);
    const path = relative(home, real);
    return path.startsWith("..") || path.startsWith("/") ? null : real;
  } catch {
    return null; // staging says why it cannot be read
  }
}

/** The folder of hand-ins `--submissions` names, or the usage mistake it is. */
function handInsFolder(typed: string, assignment: Assignment) {
  const dir = fromCaller(typed);
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(dir);
  } catch (error) {
    throw new Usage(`cannot read the folder of submissions ${shown(dir)}: ${failure(error)}`);
  }
  if (!info.isDirectory) {
    throw new Usage(
      `--submissions takes a folder of hand-ins, and ${shown(dir)} is not one ` +
        `(for one hand-in: --submission PATH)`,
    );
  }
  try {
    return submissionsIn(dir, assignment);
  } catch (error) {
    throw new Usage(`cannot read the folder of submissions ${shown(dir)}: ${failure(error)}`);
  }
}

/**
 * Grades one hand-in of a class, whatever it does: whatever goes wrong (it cannot be read or
 * copied, it removed the grader's own files) is its row of zeros with the reason, never the
 * end of the class's run.
 */
async function gradeHandIn(
  assignment: Assignment,
  handIn: HandIn,
  options: { only?: string[]; progress: (line: string) => void },
): Promise<CsvRow> {
  const { name } = handIn;
  if (handIn.problem !== undefined) {
    // Not "skipping": that is what an entry that gets no row is told.
    console.error(`${shown(name)} gets a row of zeros: ${handIn.problem}`);
    return { name, grade: ungraded(assignment, handIn, options.only), ungraded: true };
  }
  console.error(`grading ${shown(name)} (${shown(handIn.path)})`);
  try {
    using staged = stage(assignment, handIn, (path, why) => {
      console.error(`  not copied: ${shown(path)}: ${why}`);
    });
    const graded = await grade(assignment, staged.path, options);
    return { name, grade: renamed(graded, staged.copy, staged.original) };
  } catch (error) {
    const problem = error instanceof Ungradable
      ? error.message
      : `the grader could not grade it: ${oneLine(String((error as Error)?.message ?? error))}`;
    console.error(`  a row of zeros: ${problem}`);
    return {
      name,
      grade: ungraded(assignment, { ...handIn, problem }, options.only),
      ungraded: true,
    };
  }
}

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      submission: { type: "string" },
      submissions: { type: "string" },
      json: { type: "boolean" },
      only: { type: "string" },
      help: { type: "boolean" },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length > 1) throw new Usage(`unexpected argument ${positionals[1]}`);
  const assignment = assignmentNamed(positionals[0]);
  const ids = assignment.checks.map((check) => check.id).join(", ");
  const only = values.only?.split(",").filter((id) => id !== "");
  // `--only ,` would grade nothing, and nothing is full marks: a CI would see success.
  if (only?.length === 0) throw new Usage(`--only names no check: name one or more of ${ids}`);
  for (const id of only ?? []) {
    if (!assignment.checks.some((check) => check.id === id)) {
      throw new Usage(`${assignment.name} has no check ${JSON.stringify(id)}: ${ids}`);
    }
  }
  const progress = (line: string) => {
    if (!values.json) console.error(`  ${line}`);
  };

  if (values.submissions !== undefined) {
    if (values.submission !== undefined) {
      throw new Usage("--submission and --submissions cannot be used together");
    }
    // (Found by review: it was ignored, and a script that asked for JSON got the CSV.)
    if (values.json) {
      throw new Usage("--json is for one --submission: --submissions prints a CSV");
    }
    const { handIns, skipped } = handInsFolder(values.submissions, assignment);
    for (const { name, why } of skipped) console.error(`skipping ${shown(name)}: ${why}`);
    if (handIns.length === 0) {
      throw new Usage(
        `${values.submissions} holds no submission (NAME.ts, or NAME/${assignment.starter})`,
      );
    }
    // Once, before any hand-in: a TMPDIR that cannot be used is the grader's failure, not a row
    // of zeros for every student.
    usableTempDir();
    sayStaleCopiesRemoved();
    // The header now, and each row as soon as it is graded: what is graded is never lost.
    print(csvHeader(assignment));
    for (const handIn of handIns) {
      print(csvLine(assignment, await gradeHandIn(assignment, handIn, { only, progress })));
    }
    return 0;
  }

  const handIn = values.submission === undefined
    ? { name: "", path: join(ASSIGNMENTS_DIR, assignment.name, assignment.starter) }
    : submissionFile(fromCaller(values.submission), assignment);
  const submission = handIn.path;
  usableTempDir();
  sayStaleCopiesRemoved();
  if (!values.json) console.error(`grading ${shown(submission)} (${assignment.name})`);
  // In `assignments/<name>/`, a file runs where it is; from anywhere else, it is copied beside
  // the starter (a folder beside the assignment's), so that `../../mod.ts` means what it meant
  // in the student's copy.
  const real = inPlace(submission, assignment);
  using staged = real === null ? stage(assignment, handIn) : null;
  const graded = await grade(assignment, real ?? staged!.path, { only, progress });
  const result = staged
    ? renamed(graded, staged.copy, staged.original)
    : renamed(graded, real!, submission);
  if (staged && handIn.folder === undefined) result.notes.push(...onlyThisFile(result, assignment));
  console.log(
    values.json
      ? JSON.stringify(result, null, 2)
      : formatGrade({ ...result, submission: shown(result.submission) }),
  );
  return result.total === result.max ? 0 : 1;
}

/**
 * A note for a one-file hand-in whose import of a file beside it was not found: only the file
 * was copied (beside the starter), and Deno's message names a path the student never had.
 */
function onlyThisFile(result: Grade, assignment: Assignment): string[] {
  const besideStarter = `${pathToFileURL(join(ASSIGNMENTS_DIR, assignment.name)).href}/`;
  const missed = result.checks.some((check) =>
    check.why?.includes("Module not found") && check.why.includes(besideStarter)
  );
  return missed
    ? [
      `only ${shown(result.submission)} was copied, so a file beside it that it imports was ` +
      `not found: hand in its folder instead (--submission DIR, DIR holding ` +
      `${assignment.starter})`,
    ]
    : [];
}

/** Removes what killed graders staged (see {@linkcode removeStaleCopies}), and says so. */
function sayStaleCopiesRemoved(): void {
  const removed = removeStaleCopies();
  if (removed.length > 0) {
    console.error(
      `removed ${removed.length} staged hand-in${removed.length === 1 ? "" : "s"} ` +
        `left by a grader that was killed: ${removed.map(shown).join(", ")}`,
    );
  }
}

if (import.meta.main) {
  // Ctrl-C on the grader: its runs are in process groups of their own, which the terminal's
  // Ctrl-C does not reach; end them, remove what they made, and stop.
  for (const [signal, status] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) {
    Deno.addSignalListener(signal, () => {
      interruptCleanup();
      console.error(`error: the grader was interrupted by ${signal}; it removed what it had made`);
      Deno.exit(status);
    });
  }
  let status: number;
  try {
    status = await main(Deno.args);
  } catch (error) {
    const usage = error instanceof Usage ||
      (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    console.error(`error: ${(error as Error).message}${usage ? `\n\n${USAGE}` : ""}`);
    status = usage ? 2 : 1;
  }
  Deno.exit(status);
}
