/**
 * `deno task assignments:export DIR`: a student-ready copy of the project in DIR, without the
 * reference solutions and the mutants (the wrong solutions the tests grade), the tests, the
 * instructors' and developers' notes, and the git history. The lessons stay: their other sides
 * are the peers the grader runs, and their code is the textbook; so does the benchmark, which
 * the lessons' READMEs quote and one of their exercises runs. `deno.json` keeps the tasks that
 * still work, and each README loses the passages that name a task or link a file the copy lacks
 * (the test suite, say), so that a student can follow every one literally.
 *
 *     deno task assignments:export /tmp/course
 *     cd /tmp/course && deno task grade fifo-client      (the starter: low marks, every reason)
 *
 * @module
 */

import { dirname, isAbsolute, join, normalize, relative, resolve } from "node:path";
import { ASSIGNMENTS } from "./registry.ts";
import { ROOT } from "./_grader.ts";

/** What never goes into a student's copy (paths relative to the root). */
export const LEFT_OUT: RegExp[] = [
  /^\.git(\/|$)/,
  /^tests(\/|$)/,
  /^\.ci(\/|$)/,
  /^DEVELOPERS\.md$/, // how the project is built: for its developers
  /^assignments\/README\.md$/, // the instructor's notes: grading a class, the grader's tests
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

/** What the copy has, for checking what a README names. */
export interface Copy {
  /** Its files, relative to its root. */
  files: Set<string>;
  /** The tasks of its `deno.json`. */
  tasks: Set<string>;
}

/** Each `deno task NAME` in `text` (a placeholder, `lesson:<method>`, is no name). */
export function tasksNamed(text: string): string[] {
  return [...text.matchAll(/\bdeno(?:@[\w.]+)? task (?:-q )?([\w:<>-]+)/g)]
    .map((match) => match[1]!)
    .filter((name) => !name.includes("<"));
}

/** Each relative link or image target in `text` (`](path)`), without its `#anchor`. */
export function linksIn(text: string): string[] {
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((match) => match[1]!.split("#")[0]!)
    .filter((target) => target !== "" && !/^[a-z]+:/.test(target));
}

/** Whether `target`, linked from the file `from` (both relative to the root), is in the copy. */
export function linkedInCopy(target: string, from: string, copy: Copy): boolean {
  const path = normalize(join(dirname(from), target)).replace(/\/$/, "");
  if (path.startsWith("..")) return false; // outside the copy altogether
  return copy.files.has(path) || [...copy.files].some((file) => file.startsWith(`${path}/`));
}

/**
 * `markdown` (the file `from`) without the passages that name a task the copy lacks or link a
 * file it lacks: such a paragraph, list item or table row goes whole (half a sentence would
 * mislead more than none), such a line of a code block goes alone, and so does a heading left
 * with nothing under it. The rest is untouched, byte for byte.
 */
export function forTheCopy(markdown: string, from: string, copy: Copy): string {
  const taskMissing = (text: string) => tasksNamed(text).some((task) => !copy.tasks.has(task));
  const missing = (text: string) =>
    taskMissing(text) || linksIn(text).some((target) => !linkedInCopy(target, from, copy));

  // Blocks: a code block, a heading, a blank line, or a run of other lines, which splits into
  // units (table rows, list items, or one paragraph) that stay or go one by one.
  type Block = { kind: "code" | "heading" | "blank" | "text"; lines: string[] };
  const blocks: Block[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^\s*```/.test(line)) {
      const start = i;
      while (++i < lines.length && !/^\s*```/.test(lines[i]!));
      blocks.push({ kind: "code", lines: lines.slice(start, i + 1) });
    } else if (line.trim() === "") blocks.push({ kind: "blank", lines: [line] });
    else if (/^#{1,6} /.test(line)) blocks.push({ kind: "heading", lines: [line] });
    else {
      const last = blocks.at(-1);
      if (last?.kind === "text") last.lines.push(line);
      else blocks.push({ kind: "text", lines: [line] });
    }
  }

  const kept: Block[] = [];
  for (const block of blocks) {
    if (block.kind === "code") {
      const body = block.lines.slice(1, -1);
      const left = body.filter((line) => !taskMissing(line));
      if (left.length === body.length) kept.push(block);
      else if (left.length > 0) {
        kept.push({ kind: "code", lines: [block.lines[0]!, ...left, ...block.lines.slice(-1)] });
      }
    } else if (block.kind === "text") {
      const table = block.lines.every((line) => line.startsWith("|"));
      const units: string[][] = [];
      for (const line of block.lines) {
        const starts = table || /^\s*([-*]|\d+\.) /.test(line) || units.length === 0;
        if (starts) units.push([line]);
        else units.at(-1)!.push(line);
      }
      // A table's head (its first two rows) stays if any of its rows does.
      const left = units.filter((unit, n) => (table && n < 2) || !missing(unit.join("\n")));
      if (left.length === units.length) kept.push(block);
      else if (left.length > (table ? 2 : 0)) kept.push({ kind: "text", lines: left.flat() });
    } else kept.push(block);
  }

  // A heading with nothing under it before the next heading of its level or above goes too.
  const level = (block: Block) => block.lines[0]!.match(/^#+/)![0].length;
  for (let i = kept.length - 1; i >= 0; i--) {
    if (kept[i]!.kind !== "heading") continue;
    const next = kept.slice(i + 1).find((block) => block.kind !== "blank");
    if (next === undefined || next.kind === "heading" && level(next) <= level(kept[i]!)) {
      kept.splice(i, kept[i + 1]?.kind === "blank" ? 2 : 1);
    }
  }
  if (kept.length === blocks.length && kept.every((block, i) => block === blocks[i])) {
    return markdown;
  }
  // Where a passage went, the blank lines around it are one now.
  const joined = kept.filter((block, i) => block.kind !== "blank" || kept[i - 1]?.kind !== "blank");
  return joined.flatMap((block) => block.lines).join("\n");
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
  const config = JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json")));
  config.tasks = exportedTasks(config.tasks ?? {}, new Set(files));
  const copy: Copy = { files: new Set(files), tasks: new Set(Object.keys(config.tasks)) };
  for (const file of files) {
    Deno.mkdirSync(dirname(join(dest, file)), { recursive: true });
    if (file === "deno.json") {
      Deno.writeTextFileSync(join(dest, file), JSON.stringify(config, null, 2) + "\n");
    } else if (file.endsWith(".md")) {
      const text = Deno.readTextFileSync(join(ROOT, file));
      Deno.writeTextFileSync(join(dest, file), forTheCopy(text, file, copy));
    } else Deno.copyFileSync(join(ROOT, file), join(dest, file));
  }
  return files;
}

const USAGE =
  `usage: deno task assignments:export DIR   (a new or empty folder, outside the project)

A student's copy of the project: the lessons, the transports, the benchmark and the assignments'
starters and READMEs, without the solutions, the mutants, the tests and the instructor's notes.`;

if (import.meta.main) {
  const [target, ...extra] = Deno.args;
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(USAGE);
    Deno.exit(0);
  }
  if (target === undefined || extra.length > 0 || target.startsWith("-")) {
    const why = target === undefined
      ? "which folder?"
      : extra.length > 0
      ? `one folder only: got ${Deno.args.join(" ")}`
      : `unknown option ${target}`;
    console.error(`error: ${why}\n\n${USAGE}`);
    Deno.exit(2);
  }
  try {
    const files = exportTo(target);
    const names = ASSIGNMENTS.map((assignment) => assignment.name).join(", ");
    console.log(
      `wrote ${files.length} files to ${target}: the lessons, the transports, the benchmark ` +
        `and the assignments (${names}) without their solutions; ` +
        `try: cd ${target} && deno task grade ${ASSIGNMENTS[0]!.name}`,
    );
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    Deno.exit(1);
  }
}
