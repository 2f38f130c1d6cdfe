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
import { parseArgs } from "node:util";
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
       deno task grade <assignment> --submissions DIR      (a CSV of names and points)

assignments: ${ASSIGNMENTS.map((assignment) => assignment.name).join(", ")}`;

/** A usage mistake: one line and the usage, status 2. */
class Usage extends Error {}

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

/** The hand-ins in `dir`: `NAME.ts`, or `NAME/` holding the starter's file name. */
export function submissionsIn(dir: string, assignment: Assignment): HandIn[] {
  const found: HandIn[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    if (entry.isFile && entry.name.endsWith(".ts")) {
      found.push({ name: entry.name.slice(0, -3), path: join(dir, entry.name) });
    } else if (entry.isDirectory) {
      const folder = join(dir, entry.name);
      const file = join(folder, assignment.starter);
      if (entry.name.startsWith(".")) continue;
      let isFile = false;
      try {
        isFile = Deno.statSync(file).isFile;
      } catch { /* no submission in it */ }
      found.push(
        isFile ? { name: entry.name, path: file, folder } : {
          name: entry.name,
          path: file,
          problem: `the folder ${folder} holds no ${assignment.starter}: nothing to grade`,
        },
      );
    }
  }
  return found.sort((a, b) => a.name < b.name ? -1 : 1);
}

/**
 * A hand-in, copied to where the student wrote it, so that its imports resolve as they did in
 * the student's copy (`../../mod.ts` from `assignments/<name>/`): a file beside the starter, a
 * folder beside the assignment's folder. Removed again at the end of the `using` block.
 */
export function stage(assignment: Assignment, handIn: HandIn): { path: string } & Disposable {
  const tag = `.hand-in-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  let copy: string;
  let path: string;
  if (handIn.folder === undefined) {
    path = copy = join(ASSIGNMENTS_DIR, assignment.name, `${tag}.ts`);
    Deno.copyFileSync(handIn.path, copy);
  } else {
    copy = join(ASSIGNMENTS_DIR, tag);
    copyFolder(handIn.folder, copy);
    path = join(copy, assignment.starter);
  }
  const remove = () => Deno.removeSync(copy, { recursive: true });
  cleanups.add(remove);
  return {
    path,
    [Symbol.dispose]: () => {
      cleanups.delete(remove);
      remove();
    },
  };
}

function copyFolder(from: string, to: string): void {
  Deno.mkdirSync(to);
  for (const entry of Deno.readDirSync(from)) {
    if (entry.isDirectory) copyFolder(join(from, entry.name), join(to, entry.name));
    else if (entry.isFile) Deno.copyFileSync(join(from, entry.name), join(to, entry.name));
  }
}

/**
 * The grade with the staged copy's path, wherever it shows (Deno's `at file:///…` line, the
 * submission), replaced by the file the student handed in.
 */
export function renamed(result: Grade, copy: string, original: string): Grade {
  const swap = (text: string) => text.replaceAll(copy, original);
  return {
    ...result,
    submission: original,
    checks: result.checks.map((check) => ({
      ...check,
      why: check.why === null ? null : swap(check.why),
    })),
  };
}

/** The grade of a hand-in that could not be run: every check lost, for `problem`. */
function ungraded(assignment: Assignment, handIn: HandIn): Grade {
  const checks = assignment.checks.map((check) => ({
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

/**
 * The class's grades as CSV: name, total, each check's points, and `why`: the first check lost
 * and its reason (empty at full marks), so that a hand-in that did not even run says so.
 */
export function toCsv(assignment: Assignment, grades: { name: string; grade: Grade }[]): string {
  const header = ["name", "total", ...assignment.checks.map((check) => check.id), "why"];
  const rows = grades.map(({ name, grade }) => {
    const lost = grade.checks.find((result) => !result.passed);
    return [
      name,
      grade.total,
      ...assignment.checks.map((check) =>
        grade.checks.find((result) => result.id === check.id)?.earned ?? 0
      ),
      lost === undefined ? "" : `${lost.id}: ${lost.why}`,
    ];
  });
  return [header, ...rows].map((row) => row.map(cell).join(",")).join("\n") + "\n";
}

/**
 * A path given on the command line, from where the user typed it: `deno task` runs the grader in
 * the project's root, and says in INIT_CWD where the user was.
 */
export function fromCaller(path: string): string {
  return resolve(Deno.env.get("INIT_CWD") ?? Deno.cwd(), path);
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
  const only = values.only?.split(",").filter((id) => id !== "");
  for (const id of only ?? []) {
    if (!assignment.checks.some((check) => check.id === id)) {
      throw new Usage(
        `${assignment.name} has no check ${JSON.stringify(id)}: ${
          assignment.checks.map((check) => check.id).join(", ")
        }`,
      );
    }
  }
  const progress = (line: string) => {
    if (!values.json) console.error(`  ${line}`);
  };

  if (values.submissions !== undefined) {
    if (values.submission !== undefined) {
      throw new Usage("--submission and --submissions cannot be used together");
    }
    const found = submissionsIn(fromCaller(values.submissions), assignment);
    if (found.length === 0) {
      throw new Usage(
        `${values.submissions} holds no submission (NAME.ts, or NAME/${assignment.starter})`,
      );
    }
    const grades = [];
    for (const handIn of found) {
      if (handIn.problem !== undefined) {
        console.error(`skipping ${handIn.name}: ${handIn.problem}`);
        grades.push({ name: handIn.name, grade: ungraded(assignment, handIn) });
        continue;
      }
      console.error(`grading ${handIn.name} (${handIn.path})`);
      using staged = stage(assignment, handIn);
      const graded = await grade(assignment, staged.path, { only, progress });
      grades.push({ name: handIn.name, grade: renamed(graded, staged.path, handIn.path) });
    }
    Deno.stdout.writeSync(new TextEncoder().encode(toCsv(assignment, grades)));
    return 0;
  }

  const submission = values.submission === undefined
    ? join(ASSIGNMENTS_DIR, assignment.name, assignment.starter)
    : fromCaller(values.submission);
  try {
    if (!Deno.statSync(submission).isFile) throw new Usage(`${submission} is not a file`);
  } catch (error) {
    if (error instanceof Usage) throw error;
    throw new Usage(`cannot read the submission ${submission}: ${(error as Error).message}`);
  }
  if (!values.json) console.error(`grading ${submission} (${assignment.name})`);
  // Inside the project, a file runs where it is; from elsewhere, it is copied beside the
  // starter, so that `../../mod.ts` means what it meant in the student's copy.
  const inside = !relative(ROOT, submission).startsWith("..");
  using staged = inside ? null : stage(assignment, { name: "", path: submission });
  const graded = await grade(assignment, staged?.path ?? submission, { only, progress });
  const result = staged ? renamed(graded, staged.path, submission) : graded;
  console.log(values.json ? JSON.stringify(result, null, 2) : formatGrade(result));
  return result.total === result.max ? 0 : 1;
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
