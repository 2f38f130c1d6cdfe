/**
 * `deno task assignments:export`: what reaches the students, and where.
 *
 * - Only what belongs to the course: in a git checkout, the files git tracks (never the class's
 *   hand-ins, `grades.csv`, a stray log, nor a hand-in a grader has staged), with one line on
 *   stderr naming what was left out; without git, the files on disk but no dot-file.
 * - No test (`*_test.ts` beside the code too), and the copy still type-checks without them; no
 *   comment in its code sends a student to a file it lacks.
 * - A relative DIR is taken from where the command was typed, as `deno task grade` takes a
 *   hand-in's path; "inside the project" is judged on where the folder really is.
 *
 * The README filter and the copy that grades are tested in `assignments_test.ts`.
 */

import assert from "node:assert/strict";
import { dirname, join, normalize, relative, resolve } from "node:path";
import {
  codeForTheCopy,
  exportTo,
  REWORDED,
  reworded,
  untrackedNote,
} from "../assignments/export.ts";
import { ROOT, testDir } from "./_helpers.ts";

/** The files under `dir`, relative to it, sorted (dot-files too). */
function filesUnder(dir: string, under = dir): string[] {
  return [...Deno.readDirSync(under)].flatMap((entry) => {
    const path = join(under, entry.name);
    return entry.isDirectory ? filesUnder(dir, path) : [relative(dir, path)];
  }).sort();
}

/** Whether anything is at `path`. */
function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Writes each file of `files` (path → text) under `dir`, making its folders. */
function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    Deno.mkdirSync(dirname(join(dir, path)), { recursive: true });
    Deno.writeTextFileSync(join(dir, path), text);
  }
}

/** Runs git in `dir`; throws with its stderr if it fails. */
function git(dir: string, ...args: string[]): void {
  const { success, stderr } = new Deno.Command("git", { args, cwd: dir, stderr: "piped" })
    .outputSync();
  assert.ok(success, `git ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
}

/** A small course: what the students should get, a unit test beside the code, a `.gitignore`. */
const COURSE = {
  "deno.json": `{ "tasks": { "lesson:fifo": "deno run -A lessons/fifo/main.ts" } }\n`,
  "mod.ts": "export const course = 1;\n",
  "lessons/fifo/main.ts": "export {};\n",
  "lessons/fifo/README.md": "# FIFO\n",
  "transports/units_test.ts": "export {};\n",
  ".gitignore": "bench/out/\n",
};
/**
 * What a term of grading leaves beside it: the class's hand-ins and grades, a log a student's
 * program wrote, the hand-ins a running grader (or a killed one) staged, and a file git ignores.
 */
const TERM = {
  "grades.csv": "name,total\nalice,100\n",
  "hand-ins/alice.ts": "// alice's hand-in\n",
  "debug-4242.log": "a student's program wrote this\n",
  "assignments/fifo-client/.hand-in-4242-0a1b2c3d.ts": "// bob's hand-in, staged\n",
  "assignments/.hand-in-4242-4e5f6a7b/client.ts": "// carol's hand-in, staged\n",
  "bench/out/report.md": "# ignored\n",
};

Deno.test({
  name: "export from a git checkout: only what git tracks, as it is in the working tree",
  fn() {
    const dir = testDir("export-git");
    try {
      const project = join(dir, "project");
      writeFiles(project, { ...COURSE, "lessons/gone.ts": "export {};\n" });
      git(project, "init", "-q");
      git(project, "add", ".");
      // A hand-in someone committed by mistake is still never exported.
      writeFiles(project, { "assignments/fifo-client/.hand-in-1-committed.ts": "// dave's\n" });
      git(project, "add", "assignments/fifo-client/.hand-in-1-committed.ts");
      // Since then: an edit not yet committed, a file removed, and the term's files.
      writeFiles(project, { ...TERM, "mod.ts": "export const course = 2;\n" });
      Deno.removeSync(join(project, "lessons/gone.ts"));

      const course = join(dir, "course");
      const { files, untracked } = exportTo(course, project);
      const expected = [
        ".gitignore",
        "deno.json",
        "lessons/fifo/README.md",
        "lessons/fifo/main.ts",
      ];
      assert.deepEqual(files, [...expected, "mod.ts"].sort());
      assert.deepEqual(filesUnder(course), files);
      assert.equal(Deno.readTextFileSync(join(course, "mod.ts")), "export const course = 2;\n");
      // What the instructor may have meant to add is named; staged hand-ins and ignored files
      // are not (they were never meant for anyone).
      assert.deepEqual(untracked, ["debug-4242.log", "grades.csv", "hand-ins/alice.ts"]);
      assert.equal(
        untrackedNote(untracked),
        "left out 3 files git does not track: debug-4242.log, grades.csv, hand-ins/alice.ts " +
          "(git add them to export them)",
      );
      assert.equal(
        untrackedNote(["a", "b", "c", "d", "e"]),
        "left out 5 files git does not track: a, b, c and 2 more (git add them to export them)",
      );
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("export without git: the course's own folders and files, no dot-file, no hand-in", () => {
  const dir = testDir("export-walk");
  try {
    const project = join(dir, "project");
    writeFiles(project, { ...COURSE, ...TERM, ".env": "SECRET=1\n", ".cache/x": "x\n" });
    const course = join(dir, "course");
    const { files, untracked, git } = exportTo(course, project);
    // Without git, what lies beside the course's own folders (the class's hand-ins and grades, a
    // stray log) stays, and is named; inside them, no dot-file, so no staged hand-in, ever.
    assert.deepEqual(files, [
      "bench/out/report.md",
      "deno.json",
      "lessons/fifo/README.md",
      "lessons/fifo/main.ts",
      "mod.ts",
    ]);
    assert.deepEqual(filesUnder(course), files);
    assert.equal(git, false);
    assert.deepEqual(untracked, ["debug-4242.log", "grades.csv", "hand-ins/alice.ts"]);
    assert.equal(
      untrackedNote(untracked, git),
      "left out 3 files outside the course's own folders (there is no git to say what belongs " +
        "to it): debug-4242.log, grades.csv, hand-ins/alice.ts",
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test({
  name: "export from a checkout git cannot read: refused, rather than copying everything",
  fn() {
    const dir = testDir("export-broken-git");
    try {
      const project = join(dir, "project");
      writeFiles(project, { ...COURSE, ...TERM, ".git": "not a git folder\n" });
      const course = join(dir, "course");
      assert.throws(() => exportTo(course, project), /^Error: git ls-files failed in .*: fatal: /);
      assert.ok(!exists(course));
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("export with a .git but no git on the PATH: the walk, without dot-files", () => {
  const dir = testDir("export-no-git");
  const path = Deno.env.get("PATH");
  try {
    const project = join(dir, "project");
    writeFiles(project, { ...COURSE, ".git/HEAD": "ref: refs/heads/main\n" });
    Deno.env.set("PATH", join(dir, "empty"));
    const { files } = exportTo(join(dir, "course"), project);
    assert.deepEqual(files, [
      "deno.json",
      "lessons/fifo/README.md",
      "lessons/fifo/main.ts",
      "mod.ts",
    ]);
  } finally {
    if (path === undefined) Deno.env.delete("PATH");
    else Deno.env.set("PATH", path);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("export: a comment's aside that names a file the copy lacks goes, the code stays", () => {
  const copy = {
    files: new Set(["mod.ts", "README.md", "lessons/mq/README.md", "lessons/mq/client.ts"]),
    tasks: new Set<string>(),
  };
  const source = [
    "/**",
    " * The lesson shape (coursework: see assignments/README.md). A side is a",
    " * plain module (see README.md); tested (tests/fifo_test.ts, transports/units_test.ts).",
    " */",
    'const notes = "(DEVELOPERS.md)"; // (the instructor notes: DEVELOPERS.md)',
    "// (lessons/mq/README.md, the protocol) stays",
    "",
  ].join("\n");
  assert.equal(
    codeForTheCopy(source, "mod.ts", copy),
    [
      "/**",
      " * The lesson shape. A side is a",
      " * plain module (see README.md); tested.",
      " */",
      'const notes = "(DEVELOPERS.md)"; // (the instructor notes: DEVELOPERS.md)',
      "// (lessons/mq/README.md, the protocol) stays",
      "",
    ].join("\n"),
  );
  // An example's code is code, even in a JSDoc comment.
  const example = [" * ```ts", ' * f("(see DEVELOPERS.md)");', " * ```"].join("\n");
  assert.equal(codeForTheCopy(example, "mod.ts", copy), example);
  // A name read from beside the file: "README.md" in lessons/mq/client.ts is that lesson's.
  const beside = '// It tells the server (see README.md, "the protocol").';
  assert.equal(codeForTheCopy(beside, "lessons/mq/client.ts", copy), beside);
});

/** Runs `deno task assignments:export ARGS…` as if typed in `where`; its status and output. */
async function exportTyped(where: string, args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "--config", join(ROOT, "deno.json"), "assignments:export", ...args],
    cwd: where, // `deno task` says so in INIT_CWD, and runs the export in the project's root
    // (…unless INIT_CWD is set already, as `npx` sets it: say where, as either would.)
    env: { INIT_CWD: where },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

Deno.test("deno task assignments:export, of this checkout, typed in a subfolder", async (t) => {
  const dir = testDir("export-real");
  const tag = crypto.randomUUID().slice(0, 8);
  // An untracked file, named to sort first among the untracked. (No staged hand-in here: the
  // grader's tests, running meanwhile, count those; the small projects above have them.)
  const untracked = `0-export-test-${tag}.csv`;
  const course = join(dir, "course");
  const lessons = join(ROOT, "lessons");
  try {
    Deno.writeTextFileSync(join(ROOT, untracked), "name,total\n");
    const typed = relative(lessons, course); // ../../tmp/…/course
    const run = await exportTyped(lessons, [typed]);
    assert.equal(run.code, 0, run.stderr);

    await t.step("a relative DIR is from where it was typed; so is the hint's cd", () => {
      assert.ok(Deno.statSync(join(course, "mod.ts")).isFile);
      const hint = run.stdout.match(/try: cd (\S+) && deno task grade fifo-client\n$/);
      assert.ok(hint, run.stdout);
      assert.equal(resolve(lessons, hint[1]!), course);
    });

    await t.step({
      name: "what git does not track stays out, and one line on stderr says so",
      fn() {
        if (!exists(join(ROOT, ".git"))) {
          // A checkout without git's records (an unpacked archive): the walk takes what is there.
          assert.ok(exists(join(course, untracked)));
          assert.doesNotMatch(run.stderr, /^left out /m);
          return;
        }
        assert.ok(!exists(join(course, untracked)));
        assert.deepEqual(filesUnder(course).filter((file) => /(^|\/)\.hand-in-/.test(file)), []);
        const note = run.stderr.split("\n").filter((line) => line.startsWith("left out "));
        assert.equal(note.length, 1, run.stderr);
        assert.match(note[0]!, /^left out \d+ files? git does not track: .*\(git add /);
        assert.ok(note[0]!.includes(`: ${untracked}`), note[0]);
        assert.ok(!note[0]!.includes(".hand-in-"), note[0]);
      },
    });

    await t.step("no test, and the copy type-checks without them", async () => {
      assert.deepEqual(filesUnder(course).filter((file) => file.endsWith("_test.ts")), []);
      // A copied module that imported a test would fail here: "Module not found".
      const check = await new Deno.Command(Deno.execPath(), {
        args: ["check", "-q", "mod.ts", "transports/", "lessons/", "bench/", "assignments/"],
        cwd: course,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(check.code, 0, new TextDecoder().decode(check.stderr));
    });

    // Found by review: the copy's README promised each assignment's solution, and the
    // sysv-mq-client README compared the student's client with it.
    await t.step("no README of the copy promises a solution: the copy has none", () => {
      const wrong: string[] = [];
      for (const file of filesUnder(course).filter((file) => file.endsWith(".md"))) {
        const lines = Deno.readTextFileSync(join(course, file)).split("\n");
        for (const [n, line] of lines.entries()) {
          // (What the export does, "a copy without the solutions", promises none.)
          if (/solution/i.test(line) && !/without (the|their) solutions/.test(line)) {
            wrong.push(`${file}:${n + 1}: ${line.trim()}`);
          }
        }
      }
      assert.deepEqual(wrong, []);
      const row = Deno.readTextFileSync(join(course, "README.md")).split("\n")
        .find((line) => line.startsWith("| [`assignments/`]"));
      assert.match(
        row ?? "",
        /coursework: one folder per assignment \(student README and rubric, starter\)/,
      );
    });

    await t.step("no comment in the copy's code names a file of the project it lacks", () => {
      const wrong: string[] = [];
      for (const file of filesUnder(course).filter((file) => file.endsWith(".ts"))) {
        const lines = Deno.readTextFileSync(join(course, file)).split("\n");
        for (const [n, line] of lines.entries()) {
          if (!/^\s*(\/\/|\/?\*)/.test(line)) continue; // code: a path there is data
          for (const [path] of line.matchAll(/[\w.-]+(?:\/[\w.-]+)*\.(?:md|ts)\b/g)) {
            const places = [normalize(path), normalize(join(dirname(file), path))];
            const lacks = places.some((place) => exists(join(ROOT, place))) &&
              !places.some((place) => exists(join(course, place)));
            if (lacks) wrong.push(`${file}:${n + 1}: ${path}`);
          }
        }
      }
      assert.deepEqual(wrong, []);
    });
  } finally {
    Deno.removeSync(join(ROOT, untracked));
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("deno task assignments:export: where DIR really is decides what is inside", async () => {
  const dir = testDir("export-where");
  const tag = crypto.randomUUID().slice(0, 8);
  try {
    // Typed outside the project, a plain name is a folder there (not in the project's root).
    const outside = join(dir, "outside");
    Deno.mkdirSync(outside);
    const run = await exportTyped(outside, [`course-${tag}`]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(Deno.statSync(join(outside, `course-${tag}`, "mod.ts")).isFile);
    assert.ok(!exists(join(ROOT, `course-${tag}`)));

    // Typed in a subfolder, a plain name is inside the project: refused, nothing made.
    const inside = await exportTyped(join(ROOT, "lessons"), [`course-${tag}`]);
    assert.equal(inside.code, 1);
    assert.match(inside.stderr, /^error: .*\/lessons\/course-\w+ is inside the project/);
    assert.ok(!exists(join(ROOT, "lessons", `course-${tag}`)));

    // Through a symbolic link to the project, still inside it.
    Deno.symlinkSync(ROOT, join(dir, "link"));
    const linked = await exportTyped(dir, [`link/course-${tag}`]);
    assert.equal(linked.code, 1);
    assert.match(linked.stderr, /is inside the project .*: choose a folder outside it\n$/);
    assert.ok(!exists(join(ROOT, `course-${tag}`)));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("export: each passage reworded for the copy is in its file, and a table stays aligned", () => {
  // A passage no longer in its file would be reworded nowhere, and the promise would be back.
  for (const { file, text, copy } of REWORDED) {
    const source = Deno.readTextFileSync(join(ROOT, file));
    assert.ok(source.includes(text), `${file} no longer says ${text}`);
    const copied = reworded(source, file);
    assert.ok(!copied.includes(text) && copied.includes(copy), file);
    // Line by line the same length: a table's columns stay where they were.
    const lengths = (markdown: string) => markdown.split("\n").map((line) => line.length);
    assert.deepEqual(lengths(copied), lengths(source));
  }
});

/**
 * A wrapper under which a folder of mode 555 cannot be written: for root, setpriv without the
 * capabilities that let root write anywhere (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH).
 */
const WITHOUT_OVERRIDE = Deno.uid() === 0
  ? ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
  : [];

// Found by review: Deno's own words, "Permission denied (os error 13): mkdir '/course-r1'".
Deno.test("deno task assignments:export: a folder it cannot create is one line, exit 1", async () => {
  const dir = testDir("export-cannot");
  const locked = join(dir, "locked");
  try {
    Deno.mkdirSync(locked);
    Deno.chmodSync(locked, 0o555);
    const cases: [string, RegExp][] = [
      [
        join(locked, "course"),
        /^error: cannot create the folder .*\/locked\/course: permission denied\n$/,
      ],
      [
        "/proc/ipc-lesson-export",
        /^error: cannot create the folder \/proc\/ipc-lesson-export: no such file or directory\n$/,
      ],
      [
        join(dir, "file", "course"),
        /^error: cannot create the folder .*\/file\/course: not a directory\n$/,
      ],
    ];
    Deno.writeTextFileSync(join(dir, "file"), "");
    for (const [target, says] of cases) {
      const [program, ...before] = [...WITHOUT_OVERRIDE, Deno.execPath()];
      const { code, stdout, stderr } = await new Deno.Command(program!, {
        args: [...before, "run", "-A", "assignments/export.ts", target],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(stderr);
      assert.equal(code, 1, said);
      assert.match(said, says);
      assert.equal(new TextDecoder().decode(stdout), "");
      assert.ok(!exists(target), target);
    }
  } finally {
    Deno.chmodSync(locked, 0o755);
    Deno.removeSync(dir, { recursive: true });
  }
});
