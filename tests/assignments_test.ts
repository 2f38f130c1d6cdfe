/**
 * The coursework kit's grader, proved on each assignment: the reference solution (the lesson's
 * own code as a plain program) scores 100; the starter scores low, with a reason for every
 * check and no crash; and each typical wrong solution (a mutant: the solution with one
 * mistake) loses the points of the check named for its mistake.
 *
 * A mutant is graded on its own check, whose reason must name the mistake (`says`); with
 * GRADE_MUTANTS_FULL=1 every check runs, and the mutant must lose its own check and no other.
 *
 *     deno test -A tests/assignments_test.ts
 *     GRADE_MUTANTS_FULL=1 deno test -A tests/assignments_test.ts --filter fifo-client
 */

import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import {
  type Assignment,
  ASSIGNMENTS_DIR,
  formatGrade,
  type Grade,
  grade,
  ROOT,
  sourceNotes,
} from "../assignments/_grader.ts";
import { type Mutant, writeMutant } from "../assignments/_mutants.ts";
import { forTheCopy } from "../assignments/export.ts";
import { ASSIGNMENTS } from "../assignments/registry.ts";
import { startGrader } from "./_helpers.ts";

const FULL = Deno.env.get("GRADE_MUTANTS_FULL") === "1";

async function mutantsOf(assignment: Assignment): Promise<Mutant[]> {
  const module = await import(`../assignments/${assignment.name}/mutants.ts`);
  return module.MUTANTS as Mutant[];
}

/**
 * Every assignment's reference and starter, graded in full, three at a time, before any mutant
 * is: a grader measures CPU time per process, so the runs disturb one another's measurements
 * little, and the starters' processes fail at once. The mutants (some of which spin, and must
 * be seen to) are graded one at a time afterwards.
 */
const fullGrades = new Map<string, { reference: Grade; starter: Grade }>();

Deno.test("every reference and starter, graded in full", async () => {
  const jobs = ASSIGNMENTS.flatMap((assignment) => {
    const folder = join(ASSIGNMENTS_DIR, assignment.name);
    return [
      { assignment, kind: "reference" as const, path: join(folder, assignment.solution) },
      { assignment, kind: "starter" as const, path: join(folder, assignment.starter) },
    ];
  });
  const results = new Map<string, Grade>();
  const lane = async () => {
    for (let job = jobs.shift(); job; job = jobs.shift()) {
      results.set(`${job.assignment.name} ${job.kind}`, await grade(job.assignment, job.path));
    }
  };
  await Promise.all([lane(), lane(), lane()]);
  for (const assignment of ASSIGNMENTS) {
    const reference = results.get(`${assignment.name} reference`)!;
    const starter = results.get(`${assignment.name} starter`)!;
    fullGrades.set(assignment.name, { reference, starter });
    console.log(
      `    ${assignment.name}: reference ${reference.total} in ${
        (reference.ms / 1000).toFixed(1)
      } s, starter ${starter.total} in ${(starter.ms / 1000).toFixed(1)} s`,
    );
  }
});

for (const assignment of ASSIGNMENTS) {
  Deno.test(`${assignment.name}: the grader`, async (t) => {
    await t.step("the checks add up to 100, with distinct ids", () => {
      assert.equal(assignment.checks.reduce((sum, check) => sum + check.points, 0), 100);
      const ids = assignment.checks.map((check) => check.id);
      assert.equal(new Set(ids).size, ids.length);
    });

    const graded = fullGrades.get(assignment.name);
    assert.ok(graded, "the references and starters are graded by the first test");
    const { reference, starter } = graded;

    await t.step("the reference solution scores 100", () => {
      const failed = reference.checks.filter((check) => !check.passed);
      assert.deepEqual(failed.map((check) => `${check.id}: ${check.why}`), []);
      assert.equal(reference.total, 100);
    });

    await t.step("the starter scores low, with a reason for every lost check", () => {
      assert.ok(starter.total <= 40, `the starter scored ${starter.total}`);
      assert.equal(starter.checks.length, assignment.checks.length);
      for (const check of starter.checks.filter((check) => !check.passed)) {
        assert.ok(check.why && check.why.length > 20, `${check.id}: ${check.why}`);
        assert.doesNotMatch(check.why!, /the grader could not run this check/);
      }
      // The reason names the TODO the student has to write.
      assert.match(starter.checks[0]!.why!, /TODO/);
      // It moves no data: how it waits or ends earns it nothing (the shm and System V starters
      // once got ctrl-c and no-busy-wait, which cannot see them wait on the channel).
      for (const id of ["ctrl-c", "no-busy-wait", "nothing-left"]) {
        const check = starter.checks.find((check) => check.id === id)!;
        assert.equal(check.passed, false, `${id} passed (${check.details.join(", ")})`);
      }
    });

    for (const mutant of await mutantsOf(assignment)) {
      await t.step(`mutant ${mutant.name} (${mutant.mistake}) loses ${mutant.check}`, async () => {
        const dir = Deno.makeTempDirSync({ prefix: "ipc-lesson-mutant-" });
        try {
          const path = writeMutant(assignment, mutant, dir);
          const result = await grade(assignment, path, FULL ? {} : { only: [mutant.check] });
          const lost = result.checks.filter((check) => !check.passed).map((check) => check.id);
          const why = result.checks.map((check) => `${check.id}: ${check.why ?? "passed"}`);
          assert.deepEqual(lost, [mutant.check], why.join("\n"));
          assert.match(result.checks.find((check) => check.id === mutant.check)!.why!, mutant.says);
          assert.equal(
            result.total,
            result.max - assignment.checks.find((check) => check.id === mutant.check)!.points,
          );
        } finally {
          Deno.removeSync(dir, { recursive: true });
        }
      });
    }
  });
}

Deno.test("every starter type-checks", async () => {
  const files = ASSIGNMENTS.map((assignment) =>
    join(ASSIGNMENTS_DIR, assignment.name, assignment.starter)
  );
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["check", ...files],
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
});

Deno.test("each assignment's README states its rubric: every check with its points", () => {
  for (const assignment of ASSIGNMENTS) {
    const readme = Deno.readTextFileSync(join(ASSIGNMENTS_DIR, assignment.name, "README.md"));
    for (const check of assignment.checks) {
      assert.match(
        readme,
        new RegExp(`^\\| \`${check.id}\`\\s+\\|\\s+${check.points} \\|`, "m"),
        `${assignment.name}/README.md: the rubric row of ${check.id} (${check.points} points)`,
      );
    }
    assert.match(readme, /^\|\s+\|\s+100 \|/m, `${assignment.name}/README.md: the total`);
    assert.match(readme, new RegExp(`deno task grade ${assignment.name}`));
  }
});

Deno.test("each assignment's grading time is the same in its README, assignments/README.md and README.md", () => {
  const tables = [join(ROOT, "README.md"), join(ASSIGNMENTS_DIR, "README.md")].map((path) => ({
    path: relative(ROOT, path),
    text: Deno.readTextFileSync(path),
  }));
  for (const assignment of ASSIGNMENTS) {
    const readme = Deno.readTextFileSync(join(ASSIGNMENTS_DIR, assignment.name, "README.md"));
    const own = readme.match(/^# the grader \(about (\d+) s\)/m);
    assert.ok(own, `${assignment.name}/README.md: "# the grader (about N s)"`);
    for (const { path, text } of tables) {
      const row = text.split("\n").find((line) => line.startsWith(`| [\`${assignment.name}\`]`));
      assert.ok(row, `${path}: the row of ${assignment.name}`);
      assert.match(row, new RegExp(`\\|\\s+~${own[1]} s \\|$`), `${path}: ${assignment.name}`);
    }
  }
});

/** Runs `deno task grade ARGS…` in `cwd`; its status, stdout and stderr. */
async function gradeCli(args: string[], cwd = ROOT) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "grade", ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code,
    stdout: new TextDecoder().decode(stdout),
    stderr: new TextDecoder().decode(stderr),
  };
}

Deno.test("deno task grade: the table, --json with its exit status, --submissions as CSV", async (t) => {
  const fifo = ASSIGNMENTS.find((assignment) => assignment.name === "fifo-client")!;
  const solution = join(ASSIGNMENTS_DIR, fifo.name, fifo.solution);

  await t.step("--json at full marks exits 0", async () => {
    const run = await gradeCli([fifo.name, "--submission", solution, "--only", "order", "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout);
    assert.equal(result.total, 10);
    assert.equal(result.max, 10);
    assert.deepEqual(result.checks.map((check: { id: string }) => check.id), ["order"]);
  });

  await t.step("the starter: a table with the reason, exit 1", async () => {
    const run = await gradeCli([fifo.name, "--only", "order"]);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^order\s+0\/10\s+the server started first: .*TODO 3 to 6/m);
    assert.match(run.stdout, /^total: 0\/10/m);
  });

  await t.step("--submissions DIR: one CSV row per submission", async () => {
    const dir = Deno.makeTempDirSync({ prefix: "ipc-lesson-class-" });
    try {
      // As students hand them in: a folder with the starter's file (and any other files of
      // theirs), or one file; both import ../../mod.ts, as in their copy of the project.
      Deno.mkdirSync(join(dir, "bob"));
      Deno.copyFileSync(
        join(ASSIGNMENTS_DIR, fifo.name, fifo.starter),
        join(dir, "bob", "client.ts"),
      );
      Deno.writeTextFileSync(
        join(dir, "alice.ts"),
        Deno.readTextFileSync(solution).replaceAll('"../../../mod.ts"', '"../../mod.ts"'),
      );
      const run = await gradeCli([fifo.name, "--submissions", dir, "--only", "order"]);
      assert.equal(run.code, 0, run.stderr);
      const ids = fifo.checks.map((check) => check.id).join(",");
      const [header, alice, bob, ...rest] = run.stdout.split("\n");
      assert.equal(header, `name,total,${ids},why`);
      // A check that was not run (--only) is an empty cell, not a 0.
      assert.equal(alice, "alice,10,,10,,,,,,,");
      assert.match(bob!, /^bob,0,,0,,,,,,,"order: the server started first: .*TODO 3 to 6/);
      assert.deepEqual(rest, [""]);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });

  await t.step("usage mistakes: one line and the usage, exit 2", async () => {
    for (const args of [["no-such"], [fifo.name, "--only", "nope"], [fifo.name, "--bogus"]]) {
      const run = await gradeCli(args);
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      assert.match(run.stderr, /^error: .*\n\nusage: deno task grade/);
    }
  });
});

/** Runs `deno run -A assignments/export.ts ARGS…` in the project; its status and output. */
async function exportCli(args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "assignments/export.ts", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The Markdown files under `dir`, relative to it. */
function markdownIn(dir: string, under = dir): string[] {
  return [...Deno.readDirSync(under)].flatMap((entry) => {
    const path = join(under, entry.name);
    if (entry.isDirectory) return markdownIn(dir, path);
    return entry.name.endsWith(".md") ? [relative(dir, path)] : [];
  });
}

Deno.test("deno task assignments:export: a student's copy without solutions, that grades", async (t) => {
  const dir = join(Deno.makeTempDirSync({ prefix: "ipc-lesson-export-" }), "course");
  try {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", "assignments:export", dir],
      cwd: ROOT,
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));

    await t.step("no solutions, mutants, tests or notes; the tasks that work", () => {
      for (const assignment of ASSIGNMENTS) {
        const folder = join(dir, "assignments", assignment.name);
        assert.ok(Deno.statSync(join(folder, assignment.starter)).isFile);
        assert.ok(Deno.statSync(join(folder, "README.md")).isFile);
        assert.throws(() => Deno.statSync(join(folder, "solution")), Deno.errors.NotFound);
        assert.throws(() => Deno.statSync(join(folder, "mutants.ts")), Deno.errors.NotFound);
      }
      const gone = ["tests", ".git", "assignments/_mutants.ts", "assignments/README.md"];
      for (const path of [...gone, "DEVELOPERS.md"]) {
        assert.throws(() => Deno.statSync(join(dir, path)), Deno.errors.NotFound, path);
      }
      const tasks = JSON.parse(Deno.readTextFileSync(join(dir, "deno.json"))).tasks;
      assert.ok(tasks.grade && tasks["lesson:fifo"] && tasks.bench && tasks["bench:threads"]);
      assert.ok(!tasks.test && !tasks.check, Object.keys(tasks).join(" "));
    });

    await t.step("no README names a task or links a file that the copy lacks", () => {
      const tasks = new Set(
        Object.keys(JSON.parse(Deno.readTextFileSync(join(dir, "deno.json"))).tasks),
      );
      const wrong: string[] = [];
      for (const file of markdownIn(dir)) {
        const text = Deno.readTextFileSync(join(dir, file));
        for (const [, name] of text.matchAll(/\bdeno(?:@[\d.]+)? task (?:-q )?([\w:<>-]+)/g)) {
          if (!name!.includes("<") && !tasks.has(name!)) wrong.push(`${file}: deno task ${name}`);
        }
        for (const [, link] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
          const target = link!.split("#")[0]!;
          if (target === "" || /^[a-z]+:/.test(target)) continue; // an anchor, a web address
          const path = resolve(dir, dirname(file), target);
          const inside = !relative(dir, path).startsWith("..");
          if (!inside || !exists(path)) wrong.push(`${file}: ${link}`);
        }
      }
      assert.deepEqual(wrong, []);
    });

    await t.step("and each keeps the rest: the lessons' READMEs whole", () => {
      for (const file of markdownIn(join(ROOT, "lessons"))) {
        const copied = Deno.readTextFileSync(join(dir, "lessons", file));
        assert.equal(copied, Deno.readTextFileSync(join(ROOT, "lessons", file)), file);
      }
      const readme = Deno.readTextFileSync(join(dir, "README.md"));
      assert.match(readme, /^## Course map$/m);
      assert.match(readme, /^npx -y deno@[\d.]+ task lesson:fifo$/m);
      assert.doesNotMatch(readme, /^## Tests$/m);
    });

    await t.step("a newcomer's correct solution grades in the copy", async () => {
      // A newcomer writes a correct solution from the README: here, the reference, dropped in.
      const fifo = ASSIGNMENTS.find((assignment) => assignment.name === "fifo-client")!;
      const mine = join(dir, "assignments", fifo.name, "mine.ts");
      Deno.writeTextFileSync(
        mine,
        Deno.readTextFileSync(join(ASSIGNMENTS_DIR, fifo.name, fifo.solution)).replaceAll(
          '"../../../mod.ts"',
          '"../../mod.ts"',
        ),
      );
      const run = await gradeCli(
        [fifo.name, "--submission", mine, "--only", "bytes,protocol"],
        dir,
      );
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, /^total: 35\/35/m);
    });

    await t.step(
      "--help: the usage, exit 0; a mistake: one line and the usage, exit 2",
      async () => {
        const help = await exportCli(["--help"]);
        assert.equal(help.code, 0, help.stderr);
        assert.match(help.stdout, /^usage: deno task assignments:export DIR/);
        for (const args of [[], ["--bogus"], [dir, "more"]]) {
          const run = await exportCli(args);
          assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
          assert.match(run.stderr, /^error: .*\n\nusage: deno task assignments:export DIR/);
        }
        const full = await exportCli([dir]);
        assert.equal(full.code, 1);
        assert.match(full.stderr, /^error: .* is not empty: choose a new or empty folder\n$/);
      },
    );
  } finally {
    Deno.removeSync(dirname(dir), { recursive: true });
  }
});

Deno.test("the export's README filter drops whole passages that name what the copy lacks", () => {
  const copy = { files: new Set(["README.md", "lessons/fifo/README.md"]), tasks: new Set(["go"]) };
  const markdown = [
    "# Title",
    "",
    "Run `deno task go`, then read [the lesson](lessons/fifo/README.md).",
    "",
    "```sh",
    "deno task go",
    "deno task test",
    "```",
    "",
    "- kept",
    "- gone: `deno task test`",
    "",
    "| what | where |",
    "| ---- | ----- |",
    "| kept | [fifo](lessons/fifo/) |",
    "| gone | [tests](tests/) |",
    "",
    "## Tests",
    "",
    "`deno task test` runs them all,",
    "in two lines.",
    "",
  ].join("\n");
  assert.equal(
    forTheCopy(markdown, "README.md", copy),
    [
      "# Title",
      "",
      "Run `deno task go`, then read [the lesson](lessons/fifo/README.md).",
      "",
      "```sh",
      "deno task go",
      "```",
      "",
      "- kept",
      "",
      "| what | where |",
      "| ---- | ----- |",
      "| kept | [fifo](lessons/fifo/) |",
      "",
    ].join("\n"),
  );
  // A link out of the copy goes too; a file with nothing to drop stays as it was, byte for byte.
  const outside = "# A\n\nkept\n\n[up](../../outside.md) is outside the copy\n";
  assert.equal(forTheCopy(outside, "README.md", copy), "# A\n\nkept\n");
  assert.equal(forTheCopy("# A\n\n\nkept\n", "README.md", copy), "# A\n\n\nkept\n");
  // A block left with one command: "the first command" after it reads "the command".
  const quickStart = [
    "```sh",
    "deno task go",
    "deno task test",
    "```",
    "",
    "The first command goes.",
    "",
    "The second runs `deno task test`.",
    "",
  ].join("\n");
  assert.equal(
    forTheCopy(quickStart, "README.md", copy),
    ["```sh", "deno task go", "```", "", "The command goes.", ""].join("\n"),
  );
  // Where both stay, the words stay.
  const both = quickStart.replaceAll("deno task test", "deno task go");
  assert.equal(forTheCopy(both, "README.md", copy), both);
});

/**
 * Hand-ins as they come: hostile or broken programs, each of which once hung or crashed the
 * grader, or scored what it had not earned. The grader must finish in bounded time, give each a
 * row or a reason, and leave no process, file or kernel object behind.
 */
const HOSTILE = {
  // A correct copy, under a name a CSV must quote.
  'O"Brien, Ann': `import { makeFifo, OutputFile, runProgram } from "../../mod.ts";
await runProgram(async ({ args, waits }) => {
  using output = new OutputFile(args.output);
  using fifo = makeFifo(args.path);
  using readEnd = await fifo.open("read", waits);
  fifo.unlink();
  const buf = new Uint8Array(65536);
  for (let n; (n = await readEnd.read(buf)) > 0;) output.write(buf.subarray(0, n));
  output.commit();
}, { options: ["path", "output"] });
`,
  // kill(0, SIGKILL): its process group, which was the grader's.
  killpg: `Deno.kill(0, "SIGKILL");\n`,
  // A child that outlives it and holds its stderr open: the grader once waited on it forever.
  orphan: `new Deno.Command("sleep", { args: ["3001"], stderr: "inherit" }).spawn();
setInterval(() => {}, 1000);
`,
  syntax: `const x = ;\n`,
};

/** The hand-ins a grader has copied into the assignment's folder (and not yet removed). */
function stagedCopies(assignment: Assignment): string[] {
  return [...Deno.readDirSync(join(ASSIGNMENTS_DIR, assignment.name))]
    .map((entry) => entry.name)
    .filter((name) => name.startsWith(".hand-in-"));
}

/** Processes whose command line contains `text`. */
function processesWith(text: string): string[] {
  const found: string[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).replaceAll("\0", " ");
      if (cmdline.includes(text) && Number(entry.name) !== Deno.pid) found.push(cmdline);
    } catch { /* gone */ }
  }
  return found;
}

Deno.test("the grader survives hostile hand-ins, and cleans up after them", async (t) => {
  const fifo = ASSIGNMENTS.find((assignment) => assignment.name === "fifo-client")!;
  const dir = Deno.makeTempDirSync({ prefix: "ipc-lesson-hostile-" });
  const hangAfterCopy = HOSTILE['O"Brien, Ann'].replace(
    "output.commit();",
    "output.commit();\n  await new Promise(() => setInterval(() => {}, 1000));",
  );
  try {
    await t.step("--submissions keeps going past each, and quotes odd names", async () => {
      const class_ = join(dir, "class");
      Deno.mkdirSync(class_);
      for (const [name, source] of Object.entries(HOSTILE)) {
        Deno.writeTextFileSync(join(class_, `${name}.ts`), source);
      }
      // A folder whose program is not under the starter's name.
      Deno.mkdirSync(join(class_, "carol"));
      Deno.writeTextFileSync(join(class_, "carol", "main.ts"), HOSTILE['O"Brien, Ann']);
      const stagedBefore = stagedCopies(fifo);
      const run = await gradeCli([fifo.name, "--submissions", class_, "--only", "ctrl-c"]);
      assert.equal(run.code, 0, run.stderr);
      // The checks not run (--only) are empty cells.
      const zeros = (total: number) =>
        fifo.checks.map((check) => check.id === "ctrl-c" ? total : "").join(",");
      const rows = run.stdout.split("\n");
      assert.equal(rows[0], `name,total,${fifo.checks.map((check) => check.id).join(",")},why`);
      assert.equal(rows[1], `"O""Brien, Ann",10,${zeros(10)},`);
      // Each row says why, in words a student can act on (and names the file handed in); one
      // that could not be graded at all is 0 in every column, its reason under no check.
      assert.match(rows[2]!, /^carol,0,0,0,0,0,0,0,0,0,"?the folder .*carol holds no client\.ts/);
      assert.match(run.stderr, /^carol gets a row of zeros: the folder .*carol holds no client/m);
      assert.match(rows[3]!, new RegExp(`^killpg,0,${zeros(0)},"?ctrl-c: .*killed by SIGKILL`));
      assert.match(rows[4]!, new RegExp(`^orphan,0,${zeros(0)},"?ctrl-c: .*must catch the signal`));
      assert.match(
        rows[5]!,
        new RegExp(`^syntax,0,${zeros(0)},"?ctrl-c: .*SyntaxError.*class/syntax\\.ts:1`),
      );
      assert.equal(rows.length, 7, run.stdout);
      assert.deepEqual(processesWith("sleep 3001"), [], "the orphan's child was left running");
      // (Another grader may be running meanwhile: only this one's copies count.)
      assert.deepEqual(stagedCopies(fifo).filter((name) => !stagedBefore.includes(name)), []);
    });

    await t.step("a program that exits 0 without copying earns no memory points", async () => {
      const path = join(ASSIGNMENTS_DIR, fifo.name, `.hostile-${Deno.pid}-empty.ts`);
      Deno.writeTextFileSync(path, "");
      try {
        const result = await grade(fifo, path, { only: ["memory"] });
        assert.equal(result.total, 0);
        assert.match(result.checks[0]!.why!, /needs a transfer that works: .*no output file/);
      } finally {
        Deno.removeSync(path);
      }
    });

    await t.step(
      "a program that copies and then never exits costs seconds, not the limit",
      async () => {
        const path = join(ASSIGNMENTS_DIR, fifo.name, `.hostile-${Deno.pid}-hang.ts`);
        Deno.writeTextFileSync(path, hangAfterCopy);
        try {
          const result = await grade(fifo, path, { only: ["nothing-left"] });
          assert.equal(result.total, 0);
          assert.match(result.checks[0]!.why!, /still running when the grader stopped it/);
          assert.ok(result.ms < 15_000, `took ${result.ms} ms (the run's limit is 30 s)`);
        } finally {
          Deno.removeSync(path);
        }
      },
    );

    await t.step("Ctrl-C on the grader ends its runs and removes what they made", async () => {
      const path = join(dir, "hang.ts");
      Deno.writeTextFileSync(path, hangAfterCopy);
      const grader = startGrader([fifo.name, "--submission", path, "--only", "nothing-left"]);
      const tag = `.hand-in-${grader.pid}-`;
      let student: string[] = [];
      for (let i = 0; i < 150 && student.length === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        student = processesWith(tag);
      }
      assert.equal(student.length, 1, "the student's program never started");
      const work = student[0]!.match(/--path (\S+)\/run-\d+\//)![1]!;
      grader.kill("SIGINT");
      const { code, stderr } = await grader.output();
      assert.equal(code, 130, new TextDecoder().decode(stderr));
      assert.match(new TextDecoder().decode(stderr), /interrupted by SIGINT/);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(processesWith(tag), []);
      assert.throws(() => Deno.statSync(work), Deno.errors.NotFound);
      assert.deepEqual(stagedCopies(fifo).filter((name) => name.startsWith(tag)), []);
    });

    await t.step("a relative --submission is taken from where the user typed it", async () => {
      const cwd = join(dir, "elsewhere");
      Deno.mkdirSync(cwd);
      Deno.writeTextFileSync(join(cwd, "mine.ts"), HOSTILE['O"Brien, Ann']);
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: [
          "task",
          "-q",
          "--config",
          join(ROOT, "deno.json"),
          "grade",
          fifo.name,
          "--submission",
          "mine.ts",
          "--only",
          "ctrl-c",
        ],
        cwd,
        // As typed in a shell: `deno task` keeps an INIT_CWD it inherits (this test runs under
        // `deno task test`, whose INIT_CWD is the project), and sets it only when there is none.
        env: { INIT_CWD: cwd },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
      assert.equal(code, 0, said);
      assert.match(said, /^total: 10\/10/m);
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a hand-in that imports a private (_*.ts) file is told so under the table", () => {
  const path = Deno.makeTempFileSync({ suffix: ".ts" });
  try {
    Deno.writeTextFileSync(
      path,
      'import { libc } from "../../transports/_libc/ffi.ts";\n' +
        'import { runProgram } from "../../mod.ts";\n' +
        'const lesson = await import("../../lessons/_lesson.ts");\n',
    );
    const notes = sourceNotes(path);
    assert.deepEqual(notes.map((note) => note.split(",")[0]), [
      "it imports ../../transports/_libc/ffi.ts",
      "it imports ../../lessons/_lesson.ts",
    ]);
    const table = formatGrade({
      assignment: "fifo-client",
      submission: path,
      total: 0,
      max: 0,
      checks: [],
      notes,
      ms: 0,
    });
    assert.match(table, /^note: it imports \.\.\/\.\.\/transports\/_libc\/ffi\.ts, .*mod\.ts/m);
  } finally {
    Deno.removeSync(path);
  }
});

// Found by review: --help was "Unknown option", and an existing output named no way out.
Deno.test("an assignment program: --help is its usage; an existing output says what to do", async () => {
  const run = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "-A", "assignments/fifo-client/solution/client.ts", ...args],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output().then((out) => ({
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
    }));
  const help = await run(["--help"]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(
    help.stdout,
    /^usage: deno run -A assignments\/fifo-client\/solution\/client\.ts --\w+ [A-Z]+ .*\[--timeout SECONDS\]$/m,
  );
  const dir = Deno.makeTempDirSync();
  const output = join(dir, "copy.txt");
  Deno.writeTextFileSync(output, "mine\n");
  const exists = await run(["--path", join(dir, "no.fifo"), "--output", output]);
  assert.equal(exists.code, 1, exists.stderr);
  assert.match(
    exists.stderr,
    /already exists and was left alone: remove it, or choose another output/,
  );
  assert.equal(Deno.readTextFileSync(output), "mine\n");
  const wrong = await run(["--force"]);
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /\(usage: --help lists the options\)/);
  Deno.removeSync(dir, { recursive: true });
});

// Found by review: a bad --key or --clients was a plain Error, exit 1, where the lessons (and a
// missing option) exit 2; the starters, which students copy, taught the wrong habit.
Deno.test("a value the starter or solution checks itself: a usage error, one line, exit 2", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "ipc-lesson-usage-" });
  try {
    const cases: { name: string; args: string[]; says: RegExp; made: string }[] = [
      {
        name: "sysv-mq-client",
        args: ["--key", "foo", "--output", join(dir, "copy.txt")],
        says:
          /^error: --key foo: must be a 32-bit number, .*got "foo" \(usage: --help lists the options\)\n$/,
        made: join(dir, "copy.txt"),
      },
      {
        name: "tcp-server",
        args: [
          "--port-file",
          join(dir, "port"),
          "--input",
          "lessons/sample.txt",
          "--clients",
          "two",
        ],
        says:
          /^error: --clients must be a whole number of at least 1: got two \(usage: --help lists the options\)\n$/,
        made: join(dir, "port"),
      },
    ];
    for (const { name, args, says, made } of cases) {
      const assignment = ASSIGNMENTS.find((assignment) => assignment.name === name)!;
      for (const file of [assignment.solution, assignment.starter]) {
        const program = join("assignments", name, file);
        const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
          args: ["run", "--quiet", "-A", program, ...args],
          cwd: ROOT,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        const said = new TextDecoder().decode(stderr);
        assert.equal(code, 2, `${program}: ${said}`);
        assert.match(said, says, program);
        assert.equal(new TextDecoder().decode(stdout), "", program);
        assert.ok(!exists(made), `${program} made ${made}`);
      }
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
