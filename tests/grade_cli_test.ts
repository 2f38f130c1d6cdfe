/**
 * `deno task grade` as an instructor runs it, on the hand-ins a class really hands in: links,
 * files it may not read, folders of several files, a program that removes the grader's own
 * folder, odd names; a grader killed earlier; command-line mistakes. Each run is a real grader
 * run, kept short with `--only protocol` (the fifo-client's protocol check takes about a second).
 *
 *     deno test -A tests/grade_cli_test.ts
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ASSIGNMENTS_DIR, ROOT } from "../assignments/_grader.ts";
import { ASSIGNMENTS } from "../assignments/registry.ts";
import { startGrader } from "./_helpers.ts";

const fifo = ASSIGNMENTS.find((assignment) => assignment.name === "fifo-client")!;
const IDS = fifo.checks.map((check) => check.id);

/** The reference solution as a student hands it in: importing `../../mod.ts`, as in their copy. */
const SOLUTION = Deno.readTextFileSync(join(ASSIGNMENTS_DIR, fifo.name, fifo.solution))
  .replaceAll('"../../../mod.ts"', '"../../mod.ts"');

/** The same, split in two files: `client.ts` imports its buffer size from `./helper.ts`. */
const TWO_FILES = {
  "client.ts": `import { BUFFER } from "./helper.ts";\nconsole.assert(BUFFER > 0);\n${SOLUTION}`,
  "helper.ts": "export const BUFFER = 65536;\n",
};

/** A CSV row for `--only protocol`: the checks not run are empty cells. */
function protocolRow(name: string, earned: number, why = ""): string {
  return [name, earned, ...IDS.map((id) => id === "protocol" ? earned : ""), why].join(",");
}

/**
 * A CSV row of a hand-in that could not be graded at all: 0 in every column, and why, under no
 * check (none ran).
 */
function ungradedRow(name: string, why: string): string {
  return [name, 0, ...IDS.map(() => 0), why].join(",");
}

/**
 * Runs `deno task grade ARGS…` in the project, under `wrapper` if given (setpriv); its status,
 * stdout and stderr.
 */
async function gradeCli(args: string[], wrapper: string[] = []) {
  const [program, ...before] = [...wrapper, Deno.execPath()];
  const { code, stdout, stderr } = await new Deno.Command(program!, {
    args: [...before, "task", "-q", "grade", ...args],
    cwd: ROOT,
    env: { INIT_CWD: ROOT },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code,
    stdout: new TextDecoder().decode(stdout),
    stderr: new TextDecoder().decode(stderr),
  };
}

/**
 * A wrapper under which files of mode 000 cannot be read: for root, setpriv without the
 * capabilities that let root read anything (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH).
 */
const WITHOUT_OVERRIDE = Deno.uid() === 0
  ? ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
  : [];

/** The hand-ins graders have staged in the assignment's folder and in `assignments/`. */
function stagedCopies(): string[] {
  return [ASSIGNMENTS_DIR, join(ASSIGNMENTS_DIR, fifo.name)].flatMap((folder) =>
    [...Deno.readDirSync(folder)]
      .filter((entry) => entry.name.startsWith(".hand-in-"))
      .map((entry) => join(folder, entry.name))
  );
}

Deno.test("grade: mistakes on the command line are usage errors, exit 2", async (t) => {
  const mistakes: [string[], RegExp][] = [
    // --only naming nothing would grade nothing, which is full marks: exit 0 for no program.
    [["--only", ","], /^error: --only names no check: name one or more of bytes, order, /],
    [["--only", ""], /^error: --only names no check/],
    [
      ["--submissions", join(ROOT, "deno.json")],
      /^error: --submissions takes a folder of hand-ins, and .*deno\.json is not one/,
    ],
    [
      ["--submissions", "/nonexistent-grade-cli"],
      /^error: cannot read the folder of submissions \/nonexistent-grade-cli: no such file/,
    ],
    [
      ["--submission", ASSIGNMENTS_DIR],
      /^error: the folder .*assignments\/? holds no client\.ts: nothing to grade/,
    ],
    // Found by review: --json was ignored, and a script that asked for JSON got the CSV.
    [
      ["--submissions", ROOT, "--json"],
      /^error: --json is for one --submission: --submissions prints a CSV$/m,
    ],
  ];
  for (const [args, says] of mistakes) {
    await t.step(args.join(" ") || "(empty)", async () => {
      const run = await gradeCli([fifo.name, ...args]);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, says);
      assert.match(run.stderr, /^error: [^\n]*\n\nusage: deno task grade/);
      assert.equal(run.stdout, "");
    });
  }
});

Deno.test("grade --submissions: every hand-in gets a row, whatever it is or does", async (t) => {
  const dir = Deno.makeTempDirSync({ prefix: "ipc-lesson-grade-cli-" });
  const class_ = join(dir, "class");
  const store = join(dir, "store");
  try {
    Deno.mkdirSync(class_);
    Deno.mkdirSync(store);
    Deno.writeTextFileSync(join(store, "solution.ts"), SOLUTION);
    for (const [name, text] of Object.entries(TWO_FILES)) {
      Deno.writeTextFileSync(join(store, name), text);
    }
    // A file, and a link to a file elsewhere.
    Deno.writeTextFileSync(join(class_, "alice.ts"), SOLUTION);
    Deno.symlinkSync(join(store, "solution.ts"), join(class_, "carol.ts"));
    // A folder of two files, both links: copied as the files they point to.
    Deno.mkdirSync(join(class_, "dave"));
    for (const name of Object.keys(TWO_FILES)) {
      Deno.symlinkSync(join(store, name), join(class_, "dave", name));
    }
    Deno.symlinkSync(join(store, "gone.txt"), join(class_, "dave", "notes.txt"));
    // A name with a line break.
    Deno.writeTextFileSync(join(class_, "bob\nnewline.ts"), SOLUTION);
    // Not hand-ins: each named on stderr, with why.
    Deno.writeTextFileSync(join(class_, "HANK.TS"), SOLUTION);
    Deno.symlinkSync(join(store, "gone.ts"), join(class_, "dangling.ts"));
    Deno.writeTextFileSync(join(class_, ".hidden.ts"), SOLUTION);
    // An over-eager clean-up: it removes the grader's work folder (two above its --output).
    Deno.writeTextFileSync(
      join(class_, "mallory.ts"),
      `const output = Deno.args[Deno.args.indexOf("--output") + 1]!;
Deno.removeSync(output.split("/").slice(0, -2).join("/"), { recursive: true });
console.error("error: cleaned up");
Deno.exit(1);
`,
    );
    // A folder without client.ts: a row of zeros that says so (after mallory, by name).
    Deno.mkdirSync(join(class_, "xavier"));
    Deno.writeTextFileSync(join(class_, "xavier", "notes.txt"), "my client is on my laptop\n");
    // A file and a folder the grader may not read; both sort after the others, so the class
    // must go on past mallory to reach them.
    Deno.writeTextFileSync(join(class_, "zed.ts"), SOLUTION);
    Deno.chmodSync(join(class_, "zed.ts"), 0o000);
    Deno.mkdirSync(join(class_, "yolanda"));
    Deno.writeTextFileSync(join(class_, "yolanda", "client.ts"), SOLUTION);
    Deno.chmodSync(join(class_, "yolanda"), 0o000);

    const before = stagedCopies();
    const run = await gradeCli(
      [fifo.name, "--submissions", class_, "--only", "protocol"],
      WITHOUT_OVERRIDE,
    );
    assert.equal(run.code, 0, run.stderr);
    // (bob's row spans two lines: his name is quoted, line break and all.)
    const graded = [
      `name,total,${IDS.join(",")},why`,
      protocolRow("alice", 10),
      protocolRow('"bob\nnewline"', 10),
      protocolRow("carol", 10),
      protocolRow("dave", 10),
    ].join("\n") + "\n";
    const rows = run.stdout.slice(graded.length).split("\n");

    await t.step("a link to a file is graded; a folder's linked files are copied", () => {
      assert.equal(run.stdout.slice(0, graded.length), graded);
    });

    await t.step("a hand-in that removes the grader's folder costs its own row only", () => {
      assert.match(rows[0]!, /^mallory,0,.*protocol: /);
    });

    await t.step("what cannot be read is a row of zeros that says so; the class goes on", () => {
      const xavier = join(class_, "xavier");
      const nothing = `the folder ${xavier} holds no client.ts: nothing to grade`;
      assert.equal(rows[1], ungradedRow("xavier", nothing));
      const yolanda = join(class_, "yolanda");
      assert.equal(rows[2], ungradedRow("yolanda", `cannot read ${yolanda}: permission denied`));
      const zed = join(class_, "zed.ts");
      assert.equal(rows[3], ungradedRow("zed", `cannot read ${zed}: permission denied`));
      assert.deepEqual(rows.slice(4), [""], run.stdout);
    });

    // Found by review: a folder without client.ts was announced as "skipping", the word for an
    // entry that gets no row, and its reason was filed under the first check.
    await t.step("stderr says which hand-ins get a row of zeros, and why", () => {
      const xavier = join(class_, "xavier");
      assert.ok(
        run.stderr.includes(
          `\nxavier gets a row of zeros: the folder ${xavier} holds no client.ts: nothing to grade\n`,
        ),
        run.stderr,
      );
      assert.match(run.stderr, /^yolanda gets a row of zeros: cannot read .*: permission denied$/m);
      assert.match(run.stderr, /^ {2}a row of zeros: cannot read .*zed\.ts: permission denied$/m);
      assert.doesNotMatch(run.stderr, /^skipping (xavier|yolanda|zed)/m);
    });

    await t.step("every entry skipped is named on stderr, with why", () => {
      assert.match(run.stderr, /^skipping HANK\.TS: not NAME\.ts or a folder$/m);
      assert.match(run.stderr, /^skipping dangling\.ts: a symbolic link to nothing$/m);
      assert.match(run.stderr, /^skipping \.hidden\.ts: a hidden file .*starts with a dot\)$/m);
      // And in a folder hand-in, what was not copied.
      assert.match(
        run.stderr,
        /^ {2}not copied: .*\/dave\/notes\.txt: a symbolic link to nothing$/m,
      );
    });

    await t.step("a name with a line break is quoted on stderr, not split", () => {
      assert.match(run.stderr, /^grading "bob\\nnewline" \(".*\/class\/bob\\nnewline\.ts"\)$/m);
      assert.doesNotMatch(run.stderr, /^newline/m);
    });

    await t.step("the grader's copies of the hand-ins are gone", () => {
      // (Another grader may be running meanwhile: only this one's copies count.)
      assert.deepEqual(stagedCopies().filter((path) => !before.includes(path)), []);
    });
  } finally {
    Deno.chmodSync(join(class_, "yolanda"), 0o700);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("grade --submissions: each row is out as soon as it is graded", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "ipc-lesson-grade-cli-" });
  try {
    Deno.writeTextFileSync(join(dir, "alice.ts"), SOLUTION);
    Deno.writeTextFileSync(join(dir, "bob.ts"), "setInterval(() => {}, 1000);\n");
    const grader = startGrader([fifo.name, "--submissions", dir, "--only", "protocol"], "piped");
    const stdout = new Response(grader.stdout).text();
    // Interrupted while it grades bob, which waits for ever:
    let said = "";
    const reader = grader.stderr.pipeThrough(new TextDecoderStream()).getReader();
    while (!said.includes("grading bob")) {
      const { value, done } = await reader.read();
      if (done) break;
      said += value;
    }
    grader.kill("SIGINT");
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      said += chunk.value;
    }
    const { code } = await grader.status;
    assert.equal(code, 130, said);
    // alice's row was printed before bob was even started.
    assert.equal(await stdout, `name,total,${IDS.join(",")},why\n${protocolRow("alice", 10)}\n`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("grade --submission: staged unless in assignments/<name>/; a folder of files", async (t) => {
  const dir = Deno.makeTempDirSync({ prefix: "ipc-lesson-grade-cli-" });
  // Inside the project, one folder down from its root: `../../mod.ts` is not the project's.
  const handIns = join(ROOT, `.grade-cli-test-${Deno.pid}`);
  Deno.mkdirSync(handIns);
  try {
    await t.step("a file inside the project, but not in assignments/<name>/", async () => {
      Deno.writeTextFileSync(join(handIns, "alice.ts"), SOLUTION);
      const run = await gradeCli([
        fifo.name,
        "--submission",
        join(handIns, "alice.ts"),
        "--only",
        "protocol",
      ]);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, /^total: 10\/10/m);
    });

    const folder = join(dir, "bob");
    Deno.mkdirSync(folder);
    for (const [name, text] of Object.entries(TWO_FILES)) {
      Deno.writeTextFileSync(join(folder, name), text);
    }

    await t.step("a folder holding client.ts is graded with its other files", async () => {
      const run = await gradeCli([fifo.name, "--submission", folder, "--only", "protocol"]);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, new RegExp(`^fifo-client: ${folder}/client\\.ts$`, "m"));
      assert.match(run.stdout, /^total: 10\/10/m);
    });

    await t.step("one file of a folder is told to hand in the folder", async () => {
      const file = join(folder, "client.ts");
      const run = await gradeCli([fifo.name, "--submission", file, "--only", "protocol"]);
      assert.equal(run.code, 1, run.stdout + run.stderr);
      assert.match(run.stdout, /^total: 0\/10/m);
      assert.match(
        run.stdout,
        new RegExp(
          `^note: only ${file} was copied, so a file beside it that it imports was not found: ` +
            `hand in its folder instead \\(--submission DIR`,
          "m",
        ),
      );
    });

    await t.step("a link elsewhere to a file in assignments/<name>/ runs that file", async () => {
      const link = join(dir, "link.ts");
      Deno.symlinkSync(join(ASSIGNMENTS_DIR, fifo.name, fifo.solution), link);
      const run = await gradeCli([fifo.name, "--submission", link, "--only", "protocol"]);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, new RegExp(`^fifo-client: ${link}$`, "m"));
    });

    await t.step("a name with a line break is quoted in the table's header", async () => {
      const file = join(dir, "carol\nnewline.ts");
      Deno.writeTextFileSync(file, SOLUTION);
      const run = await gradeCli([fifo.name, "--submission", file, "--only", "protocol"]);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.equal(run.stdout.split("\n")[0], `fifo-client: ${JSON.stringify(file)}`);
      assert.match(run.stderr, /^grading ".*\/carol\\nnewline\.ts" \(fifo-client\)$/m);
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
    Deno.removeSync(handIns, { recursive: true });
  }
});

Deno.test("grade: the copies a killed grader staged are removed; a running one's are kept", async () => {
  // No process has the pid pid_max: every pid is below it.
  const dead = Number(Deno.readTextFileSync("/proc/sys/kernel/pid_max").trim());
  const file = join(ASSIGNMENTS_DIR, fifo.name, `.hand-in-${dead}-gradecli.ts`);
  const folder = join(ASSIGNMENTS_DIR, `.hand-in-${dead}-gradecli`);
  const alive = join(ASSIGNMENTS_DIR, fifo.name, `.hand-in-${Deno.pid}-gradecli.ts`);
  try {
    Deno.writeTextFileSync(file, SOLUTION);
    Deno.mkdirSync(folder);
    Deno.writeTextFileSync(join(folder, "client.ts"), SOLUTION);
    Deno.writeTextFileSync(alive, SOLUTION);
    const solution = join(ASSIGNMENTS_DIR, fifo.name, fifo.solution);
    const run = await gradeCli([fifo.name, "--submission", solution, "--only", "protocol"]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.throws(() => Deno.statSync(file), Deno.errors.NotFound);
    assert.throws(() => Deno.statSync(folder), Deno.errors.NotFound);
    assert.ok(Deno.statSync(alive).isFile, "a running grader's copy was removed");
    const line = run.stderr.split("\n").find((line) => line.startsWith("removed "));
    assert.match(
      line ?? run.stderr,
      /^removed \d+ staged hand-ins? left by a grader that was killed: /,
    );
    assert.ok(line!.includes(`assignments/.hand-in-${dead}-gradecli`), line);
    assert.ok(line!.includes(`assignments/${fifo.name}/.hand-in-${dead}-gradecli.ts`), line);
    assert.ok(!line!.includes(`.hand-in-${Deno.pid}-`), line);
  } finally {
    for (const path of [file, folder, alive]) {
      try {
        Deno.removeSync(path, { recursive: true });
      } catch { /* removed by the grader */ }
    }
  }
});

// Found by review: Deno's own words ("No such file or directory (os error 2): tmpdir"), and a
// TMPDIR that is not UTF-8 left an ipc-lesson-grade-* folder behind on every run.
Deno.test("grade: a TMPDIR that cannot be used is one line, exit 1, and nothing made", async (t) => {
  const dir = Deno.makeTempDirSync({ prefix: "ipc-lesson-grade-cli-" });
  try {
    const cases: [string, string, RegExp][] = [
      [
        "no such folder",
        join(dir, "none"),
        /^error: the temporary folder ".*\/none" \(TMPDIR\) cannot be used: no such folder\n$/,
      ],
      [
        "a file",
        join(dir, "file"),
        /^error: the temporary folder ".*\/file" \(TMPDIR\) is not a folder\n$/,
      ],
    ];
    Deno.writeTextFileSync(join(dir, "file"), "");
    for (const [name, tmpdir, says] of cases) {
      await t.step(name, async () => {
        for (
          const args of [[], ["--submission", join(ASSIGNMENTS_DIR, fifo.name, fifo.solution)]]
        ) {
          const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
            args: ["task", "-q", "grade", fifo.name, ...args, "--only", "protocol"],
            cwd: ROOT,
            env: { INIT_CWD: ROOT, TMPDIR: tmpdir },
            stdout: "piped",
            stderr: "piped",
          }).output();
          const said = new TextDecoder().decode(stderr);
          assert.equal(code, 1, said);
          assert.match(said, says);
          assert.equal(new TextDecoder().decode(stdout), "");
        }
      });
    }

    await t.step("--submissions: once for the class, not a row of zeros per hand-in", async () => {
      const class_ = join(dir, "class");
      Deno.mkdirSync(class_);
      Deno.writeTextFileSync(join(class_, "alice.ts"), SOLUTION);
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["task", "-q", "grade", fifo.name, "--submissions", class_, "--only", "protocol"],
        cwd: ROOT,
        env: { INIT_CWD: ROOT, TMPDIR: join(dir, "none") },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(stderr);
      assert.equal(code, 1, said);
      assert.match(said, /^error: the temporary folder ".*\/none" \(TMPDIR\) cannot be used/);
      assert.equal(said.split("\n").length, 2, said);
      assert.equal(new TextDecoder().decode(stdout), "");
    });

    await t.step("not UTF-8: one line, and no work folder left in it", async () => {
      // Deno.Command's env cannot carry a byte that is not UTF-8: sh sets it, and lists the
      // folder after the run (then removes it: Deno could not name it).
      const script = 'tmp="$(printf "%s/\\377" "$1")"; mkdir "$tmp" || exit 99; ' +
        'TMPDIR="$tmp" "$2" task -q grade fifo-client --only protocol; echo "status $?"; ' +
        'ls -A "$tmp"; rm -rf "$tmp"';
      const { code, stdout, stderr } = await new Deno.Command("sh", {
        args: ["-c", script, "sh", dir, Deno.execPath()],
        cwd: ROOT,
        env: { INIT_CWD: ROOT },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(stderr);
      assert.equal(code, 0, said);
      // The status, and nothing listed in the folder: no ipc-lesson-grade-* left behind.
      assert.equal(new TextDecoder().decode(stdout), "status 1\n", said);
      assert.match(
        said,
        /^error: the temporary folder TMPDIR is not valid UTF-8 \(Deno cannot pass on its bytes as they are\): set TMPDIR to another folder, or unset it\n$/,
      );
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
