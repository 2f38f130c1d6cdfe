/**
 * `deno task assignments:export DIR`: a student-ready copy of the project in DIR, without the
 * reference solutions and the mutants (the wrong solutions the tests grade), the tests (the
 * unit tests beside the code too), the instructors' and developers' notes, and the git history.
 * The lessons stay: their other sides are the peers the grader runs, and their code is the
 * textbook; so does the benchmark, which the lessons' READMEs quote and one of their exercises
 * runs. `deno.json` keeps the tasks that still work, each README loses the passages that name a
 * task or link a file the copy lacks (the test suite, say), so that a student can follow every
 * one literally, and a comment in the code loses its aside that points at one.
 *
 * In a git checkout only the files git tracks go: a term of grading leaves the class's hand-ins,
 * `grades.csv` and a grader's staged copies in the tree, and none may reach the students (one
 * line on stderr names what was left out). Without git, only the course's own folders and files
 * go, never a dot-file. A relative DIR is from where the command was typed.
 *
 *     deno task assignments:export /tmp/course
 *     cd /tmp/course && deno task grade fifo-client      (the starter: low marks, every reason)
 *
 * @module
 */

import { basename, dirname, isAbsolute, join, normalize, relative } from "node:path";
import { reason } from "../transports/files.ts";
import { ASSIGNMENTS } from "./registry.ts";
import { ROOT } from "./_grader.ts";
import { fromCaller } from "./grade.ts";

/** What never goes into a student's copy (paths relative to the root). */
export const LEFT_OUT: RegExp[] = [
  /^\.git(\/|$)/,
  /^tests(\/|$)/,
  /(^|\/)[^/]*_test\.ts$/, // the unit tests beside the code they test: tests too
  /^\.ci(\/|$)/,
  /^DEVELOPERS\.md$/, // how the project is built: for its developers
  /^assignments\/README\.md$/, // the instructor's notes: grading a class, the grader's tests
  /^assignments\/[^/]+\/solution(\/|$)/,
  /^assignments\/[^/]+\/mutants\.ts$/,
  /^assignments\/_mutants\.ts$/,
  /(^|\/)\.hand-in-/, // another student's hand-in, staged by a grader running now (or killed)
  /(^|\/)node_modules(\/|$)/,
];

/** Whether `path` (relative to the root) goes into the copy. */
export function exported(path: string): boolean {
  return !LEFT_OUT.some((pattern) => pattern.test(path));
}

/**
 * The project's own entries at its root: without git, only these are taken to be the course
 * (a class's `hand-ins/` and `grades.csv` lie beside them).
 */
const COURSE_ROOTS = [
  "README.md",
  "deno.json",
  "mod.ts",
  "lessons",
  "transports",
  "bench",
  "assignments",
];

/** The files that go into the copy, and those left out only because git does not track them. */
export interface Selection {
  /** The files to copy, relative to the root, sorted. */
  files: string[];
  /**
   * Files on disk that would go too if git tracked them (a class's `grades.csv`, say); without
   * git, the files outside the course's own folders and files ({@linkcode COURSE_ROOTS}).
   */
  untracked: string[];
  /** Whether git said which files belong to the course. */
  git: boolean;
}

/**
 * The files of the project, relative to `root`, that go into the copy. In a git checkout, only
 * what git tracks (read from the working tree, edits and all): whatever else lies in the tree
 * is not part of the course but of this instructor's term (the class's hand-ins, `grades.csv`,
 * a student program's stray log), and must not reach the students. Without git, the files on
 * disk in the course's own folders and files, but never a dot-file or dot-folder.
 *
 * @example
 * ```ts ignore
 * const { files, untracked } = exportedFiles();
 * console.log(`${files.length} files; not tracked: ${untracked.join(", ")}`);
 * ```
 */
export function exportedFiles(root: string = ROOT): Selection {
  const git = gitFiles(root);
  if (git === undefined) {
    const walked = walkedFiles(root);
    const course = (path: string) => COURSE_ROOTS.includes(path.split("/")[0]!);
    return {
      files: walked.filter(course),
      untracked: walked.filter((path) => !course(path)),
      git: false,
    };
  }
  return {
    git: true,
    // A path git tracks may be gone from the tree, or a symbolic link, or a submodule's folder.
    files: git.tracked.filter((path) => exported(path) && isPlainFile(join(root, path))).sort(),
    // Named on stderr as files one may have meant to add: not a dot-file (`.env`, a test's own
    // staged file), which nobody hands out unawares.
    untracked: git.untracked.filter((path) => exported(path) && !hidden(path)).sort(),
  };
}

/**
 * What git says of the files under `root`: those it tracks, and those it does not (without
 * the ones `.gitignore` names: nobody meant those for anyone). Undefined where `root` is no
 * git checkout, or git is not installed.
 */
function gitFiles(root: string): { tracked: string[]; untracked: string[] } | undefined {
  try {
    Deno.statSync(join(root, ".git")); // a folder, or a file in a worktree
  } catch {
    return undefined;
  }
  const list = (...args: string[]): string[] | undefined => {
    let output: Deno.CommandOutput;
    try {
      output = new Deno.Command("git", { args: ["ls-files", "-z", ...args], cwd: root })
        .outputSync();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined; // no git on this machine
      throw error;
    }
    if (!output.success) {
      // Not a reason to fall back to copying everything: that is what leaks the hand-ins.
      const why = new TextDecoder().decode(output.stderr).trim().split("\n")[0];
      throw new Error(`git ls-files failed in ${root}: ${why || `status ${output.code}`}`);
    }
    return new TextDecoder().decode(output.stdout).split("\0").filter((path) => path !== "");
  };
  const tracked = list();
  const untracked = list("--others", "--exclude-standard");
  return tracked && untracked && { tracked, untracked };
}

/**
 * The files on disk under `root` that go into the copy, where git cannot tell which belong to
 * the project: a dot-file or dot-folder (`.git`, `.env`, a grader's staged `.hand-in-…`) never
 * does, nor a symbolic link (it may point anywhere).
 */
function walkedFiles(root: string): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      const path = join(dir, entry.name);
      const rel = relative(root, path);
      if (hidden(entry.name) || !exported(rel) || entry.isSymlink) continue;
      if (entry.isDirectory) walk(path);
      else if (entry.isFile) files.push(rel);
    }
  };
  walk(root);
  return files.sort();
}

/** Whether `path` is, or is inside, a dot-file or dot-folder. */
function hidden(path: string): boolean {
  return /(^|\/)\./.test(path);
}

/** Whether `path` is a regular file (not a link, a folder, or nothing at all). */
function isPlainFile(path: string): boolean {
  try {
    return Deno.lstatSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * The one line that says which files stayed behind because git does not track them (or, without
 * git, because they lie outside the course's folders), naming a few; undefined when there are
 * none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { untrackedNote } from "./export.ts";
 * assert.equal(
 *   untrackedNote(["grades.csv"]),
 *   "left out 1 file git does not track: grades.csv (git add it to export it)",
 * );
 * assert.equal(untrackedNote([]), undefined);
 * ```
 */
export function untrackedNote(untracked: string[], git = true): string | undefined {
  if (untracked.length === 0) return undefined;
  const shown = untracked.slice(0, 3).join(", ");
  const more = untracked.length > 3 ? ` and ${untracked.length - 3} more` : "";
  const [count, them] = untracked.length === 1
    ? ["1 file", "it"]
    : [`${untracked.length} files`, "them"];
  if (!git) {
    return `left out ${count} outside the course's own folders (there is no git to say what ` +
      `belongs to it): ${shown}${more}`;
  }
  const how = `git add ${them} to export ${them}`;
  return `left out ${count} git does not track: ${shown}${more} (${how})`;
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
 * with nothing under it. A code block left with one command of several: "the first command"
 * after it reads "the command". The rest is untouched, byte for byte.
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
  // Whether the last code block was cut down to one command: the text after it (up to the next
  // code block or heading) then says "the command", not "the first command".
  let oneLeft = false;
  for (let block of blocks) {
    if (block.kind === "code") {
      const body = block.lines.slice(1, -1);
      const left = body.filter((line) => !taskMissing(line));
      const commands = left.filter((line) => line.trim() !== "" && !/^\s*#/.test(line));
      oneLeft = left.length < body.length && commands.length === 1;
      if (left.length === body.length) kept.push(block);
      else if (left.length > 0) {
        kept.push({ kind: "code", lines: [block.lines[0]!, ...left, ...block.lines.slice(-1)] });
      }
    } else if (block.kind === "heading") oneLeft = false;
    if (block.kind === "text" && oneLeft) {
      const lines = block.lines.map((line) =>
        line.replace(/\b([Tt])he first command\b/g, "$1he command")
      );
      if (lines.some((line, i) => line !== block.lines[i])) block = { kind: "text", lines };
    }
    if (block.kind === "text") {
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
    } else if (block.kind !== "code") kept.push(block);
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

/**
 * What a README says of the project that is not true of the copy, and what the copy says instead:
 * the file, the text, and the copy's text. (Found by review: the copy's README promised a
 * solution in each assignment's folder.)
 */
export const REWORDED: { file: string; text: string; copy: string }[] = [
  {
    file: "README.md",
    text: "(student README and rubric, starter, solution, wrong solutions)",
    copy: "(student README and rubric, starter)",
  },
];

/**
 * `markdown` (the file `from`) with each passage of {@linkcode REWORDED} that is in it reworded
 * for the copy; a table's cell keeps its width, so that its column stays aligned.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reworded } from "./export.ts";
 * const row = "| a | b (student README and rubric, starter, solution, wrong solutions) |";
 * const copy = reworded(row, "README.md");
 * assert.equal(copy, "| a | b (student README and rubric, starter)                            |");
 * assert.equal(copy.length, row.length);
 * assert.equal(reworded(row, "lessons/README.md"), row);
 * ```
 */
export function reworded(markdown: string, from: string): string {
  let text = markdown;
  for (const passage of REWORDED) {
    if (passage.file !== from) continue;
    text = text.split("\n").map((line) => {
      const at = line.indexOf(passage.text);
      if (at < 0) return line;
      let out = line.slice(0, at) + passage.copy + line.slice(at + passage.text.length);
      const end = out.indexOf(" |", at + passage.copy.length); // where its table cell ends
      const shorter = passage.text.length - passage.copy.length;
      if (line.startsWith("|") && end >= 0 && shorter > 0) {
        out = out.slice(0, end) + " ".repeat(shorter) + out.slice(end);
      }
      return out;
    }).join("\n");
  }
  return text;
}

/** Each path a line of code or comment names: `word/…/name.md` or `name.ts`. */
function pathsIn(line: string): string[] {
  return line.match(/[\w.-]+(?:\/[\w.-]+)*\.(?:md|ts)\b/g) ?? [];
}

/**
 * Whether `path`, named in the file `from`, is a file the copy left out: read from the root or
 * from beside `from`, it is in no place the copy has, and in one that {@linkcode LEFT_OUT} names.
 */
function leftOutOf(copy: Copy, path: string, from: string): boolean {
  const places = [normalize(path), normalize(join(dirname(from), path))];
  return !places.some((place) => copy.files.has(place)) && places.some((place) => !exported(place));
}

/**
 * `source` (the TypeScript file `from`) without the asides in its comments that point at a file
 * the copy lacks: "(coursework: see the instructor's notes at X.md)" goes, with the space before
 * it, so that the JSDoc a student reads never sends them to a file they do not have. The code
 * is untouched (an example's code in a JSDoc too), and so is every comment with nothing to drop.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { codeForTheCopy } from "./export.ts";
 * const copy = { files: new Set(["mod.ts", "README.md"]), tasks: new Set<string>() };
 * assert.equal(codeForTheCopy("// A side (see tests/README.md).", "mod.ts", copy), "// A side.");
 * const kept = "// A side (see README.md).";
 * assert.equal(codeForTheCopy(kept, "mod.ts", copy), kept);
 * ```
 */
export function codeForTheCopy(source: string, from: string, copy: Copy): string {
  const comment = /^\s*(\/\/|\/?\*)/;
  let example = false; // inside a JSDoc example's code block: code, not prose
  return source.split("\n").map((line) => {
    if (/^\s*\*\s*```/.test(line)) example = !example;
    if (example || !comment.test(line)) return line;
    return line.replace(
      / ?\(([^()]*)\)/g,
      (aside, inside: string) =>
        pathsIn(inside).some((path) => leftOutOf(copy, path, from)) ? "" : aside,
    );
  }).join("\n");
}

/**
 * Writes the copy of the project at `root` into the folder `dest` (which must not exist, or be
 * empty, and must be outside the project); returns the files written, and the ones left out
 * because git does not track them.
 *
 * @example
 * ```ts ignore
 * const { files } = exportTo("/tmp/course");
 * console.log(`wrote ${files.length} files`);
 * ```
 */
export function exportTo(dest: string, root: string = ROOT): Selection {
  // Each failure in words, as the project says them: not Deno's `Permission denied (os error
  // 13): mkdir '/course'` (found by review). Where the path cannot even be followed (a file
  // on the way, a folder it may not enter), the folder cannot be made there either.
  const cannotCreate = (error: unknown) =>
    new Error(`cannot create the folder ${dest}: ${reason(error)}`);
  let inside: boolean;
  try {
    inside = within(root, dest);
  } catch (error) {
    throw cannotCreate(error);
  }
  if (inside) {
    throw new Error(`${dest} is inside the project (${root}): choose a folder outside it`);
  }
  let info: Deno.FileInfo | undefined;
  try {
    info = Deno.statSync(dest);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw cannotCreate(error);
  }
  if (info !== undefined && !info.isDirectory) {
    throw new Error(`${dest} is a file: choose a new or empty folder`);
  }
  let entries: number;
  try {
    entries = info === undefined ? 0 : [...Deno.readDirSync(dest)].length;
  } catch (error) {
    throw new Error(`cannot read the folder ${dest}: ${reason(error)}`);
  }
  if (entries > 0) throw new Error(`${dest} is not empty: choose a new or empty folder`);
  const selection = exportedFiles(root);
  const { files } = selection;
  const config = JSON.parse(Deno.readTextFileSync(join(root, "deno.json")));
  config.tasks = exportedTasks(config.tasks ?? {}, new Set(files));
  const copy: Copy = { files: new Set(files), tasks: new Set(Object.keys(config.tasks)) };
  try {
    Deno.mkdirSync(dest, { recursive: true });
  } catch (error) {
    throw cannotCreate(error);
  }
  for (const file of files) {
    const to = join(dest, file);
    try {
      Deno.mkdirSync(dirname(to), { recursive: true });
      if (file === "deno.json") {
        Deno.writeTextFileSync(to, JSON.stringify(config, null, 2) + "\n");
      } else if (file.endsWith(".md")) {
        const text = Deno.readTextFileSync(join(root, file));
        Deno.writeTextFileSync(to, forTheCopy(reworded(text, file), file, copy));
      } else if (file.endsWith(".ts")) {
        const text = Deno.readTextFileSync(join(root, file));
        Deno.writeTextFileSync(to, codeForTheCopy(text, file, copy));
      } else Deno.copyFileSync(join(root, file), to);
    } catch (error) {
      throw new Error(`cannot copy ${file} to ${to}: ${reason(error)}`);
    }
  }
  return selection;
}

/**
 * Whether `path` is `root` or inside it, judged on where both really are: a symbolic link on
 * the way (`/tmp/here` → the project) must not let the copy land in the project it copies.
 */
function within(root: string, path: string): boolean {
  const inside = relative(realPath(root), realPath(path));
  return inside === "" || inside !== ".." && !inside.startsWith("../") && !isAbsolute(inside);
}

/** `path` with every symbolic link resolved, as far as it exists (the rest is yet to be made). */
function realPath(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound) || dirname(path) === path) throw error;
    return join(realPath(dirname(path)), basename(path));
  }
}

/** `path` as one shell word, for a command line the user can paste. */
function shellWord(path: string): string {
  return /^[\w./+-]+$/.test(path) ? path : `'${path.replaceAll("'", `'\\''`)}'`;
}

const USAGE =
  `usage: deno task assignments:export DIR   (a new or empty folder, outside the project)

A student's copy of the project: the lessons, the transports, the benchmark and the assignments'
starters and READMEs, without the solutions, the mutants, the tests and the instructor's notes.
In a git checkout, only the files git tracks (never the class's hand-ins or grades); without
git, only the course's own folders and files.`;

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
    // `deno task` runs this in the project's root; a relative DIR is from where the user typed it.
    const { files, untracked, git } = exportTo(fromCaller(target));
    const note = untrackedNote(untracked, git);
    if (note !== undefined) console.error(note);
    const names = ASSIGNMENTS.map((assignment) => assignment.name).join(", ");
    console.log(
      `wrote ${files.length} files to ${target}: the lessons, the transports, the benchmark ` +
        `and the assignments (${names}) without their solutions; ` +
        `try: cd ${shellWord(target)} && deno task grade ${ASSIGNMENTS[0]!.name}`,
    );
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    Deno.exit(1);
  }
}
