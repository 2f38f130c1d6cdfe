/**
 * `deno task assignments:export DIR`: a student-ready copy of the project in DIR, without the
 * reference solutions and the mutants (the wrong solutions the tests grade), and without the
 * tests, the benchmark and the git history. The lessons stay: their other sides are the peers
 * the grader runs, and their code is the textbook. `deno.json` keeps the tasks that still work.
 *
 *     deno task assignments:export /tmp/course
 *     cd /tmp/course && deno task grade fifo-client      (the starter: low marks, every reason)
 *
 * @module
 */

import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { ASSIGNMENTS } from "./registry.ts";
import { ROOT } from "./_grader.ts";

/** What never goes into a student's copy (paths relative to the root). */
export const LEFT_OUT: RegExp[] = [
  /^\.git(\/|$)/,
  /^tests(\/|$)/,
  /^bench(\/|$)/,
  /^\.ci(\/|$)/,
  /^assignments\/[^/]+\/solution(\/|$)/,
  /^assignments\/[^/]+\/mutants\.ts$/,
  /^assignments\/_mutants\.ts$/,
  /(^|\/)node_modules(\/|$)/,
];

/** Whether `path` (relative to the root) goes into the copy. */
export function exported(path: string): boolean {
  return !LEFT_OUT.some((pattern) => pattern.test(path));
}

/** The files of the project, relative to the root, that go into the copy. */
export function exportedFiles(root: string = ROOT): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      const path = join(dir, entry.name);
      const rel = relative(root, path);
      if (!exported(rel) || entry.isSymlink) continue;
      if (entry.isDirectory) walk(path);
      else if (entry.isFile) files.push(rel);
    }
  };
  walk(root);
  return files.sort();
}

/** The tasks of `deno.json` whose files are all in the copy. */
export function exportedTasks(
  tasks: Record<string, string>,
  files: Set<string>,
): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, command] of Object.entries(tasks)) {
    const paths = command.match(/[\w./-]+\.ts\b|\b(?:tests|bench|\.ci)\//g) ?? [];
    if (paths.every((path) => files.has(path))) kept[name] = command;
  }
  return kept;
}

/** Writes the copy into `target` (which must not exist, or be empty); returns the files written. */
export function exportTo(target: string): string[] {
  const dest = resolve(target);
  const inside = relative(ROOT, dest);
  if (inside === "" || !inside.startsWith("..") && !isAbsolute(inside)) {
    throw new Error(`${target} is inside the project: choose a folder outside it`);
  }
  try {
    if ([...Deno.readDirSync(dest)].length > 0) {
      throw new Error(`${target} is not empty: choose a new or empty folder`);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const files = exportedFiles();
  for (const file of files) {
    Deno.mkdirSync(dirname(join(dest, file)), { recursive: true });
    if (file === "deno.json") continue;
    Deno.copyFileSync(join(ROOT, file), join(dest, file));
  }
  const config = JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json")));
  config.tasks = exportedTasks(config.tasks ?? {}, new Set(files));
  Deno.writeTextFileSync(join(dest, "deno.json"), JSON.stringify(config, null, 2) + "\n");
  return files;
}

if (import.meta.main) {
  const [target, ...extra] = Deno.args;
  if (target === undefined || extra.length > 0 || target.startsWith("-")) {
    console.error("usage: deno task assignments:export DIR   (a new or empty folder)");
    Deno.exit(2);
  }
  try {
    const files = exportTo(target);
    console.log(
      `wrote ${files.length} files to ${target}: the lessons, the transports and the assignments ` +
        `(${ASSIGNMENTS.map((assignment) => assignment.name).join(", ")}) without their ` +
        `solutions; try: cd ${target} && deno task grade ${ASSIGNMENTS[0]!.name}`,
    );
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    Deno.exit(1);
  }
}
