/**
 * Executable docs: every shell command in README.md, in each lesson's README.md and in each
 * lesson's `--help` "Examples:" runs, so a command that stops working fails CI.
 *
 * Where the commands come from:
 * - every fenced ```sh block of the Markdown files: each line is one command (a trailing
 *   `# comment` is dropped), unless a marker says otherwise;
 * - each lesson's `--help`, the lines under "Examples:"; a line ending in `# terminal 1` is paired
 *   with the next one, ending in `# terminal 2`, as a two-terminal recipe.
 *
 * Markers: HTML comments on the lines just before a block (several may stack):
 * - `<!-- docs-test: skip REASON -->`: the block is not run (needs root, takes minutes, changes
 *   the machine); REASON is printed.
 * - `<!-- docs-test: skip-line PREFIX | REASON -->`: the block's commands starting with PREFIX are
 *   not run; the others are.
 * - `<!-- docs-test: two-terminal -->`: the block is `# terminal 1` then `# terminal 2` lines. The
 *   first starts in the background, the second half a second later (the docs say either order
 *   works); both must exit 0.
 * - `<!-- docs-test: script -->`: the whole block runs as one shell script.
 *
 * How a command runs, faithfully but harmlessly: `npx -y deno@X` becomes this Deno, `deno task X`
 * gets `--config ROOT/deno.json`, and each command runs in bash (`pipefail`) from ROOT, under
 * `timeout` (30 s, then the whole process group is killed), with TMPDIR = the suite's TMP. Paths
 * under `/tmp/` are moved into a scratch directory of its own, and the fixed POSIX names
 * (`/my-queue`, `/ipc-lesson-shm-lab`) get a unique suffix, so nothing collides with a concurrent
 * test. After each command: a copy of `lessons/sample.txt` it wrote must be byte-exact, and no queue,
 * segment or semaphore of its names is left.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { METHODS } from "../lessons/registry.ts";
import { ROOT, TMP } from "./_helpers.ts";

/** One command (or a two-terminal pair) to run, with where it came from. */
interface DocCommand {
  source: string;
  /** The shell text as written in the docs (for a pair, the first terminal). */
  text: string;
  /** The second terminal of a two-terminal recipe. */
  second?: string;
  /** Why it is not run, if a marker says so. */
  skip?: string;
}

const SECONDS_LIMIT = 30;
const markdownFiles = ["README.md", ...METHODS.map((m) => `lessons/${m}/README.md`)];

/** Drops a trailing `# comment` (not a `#` inside a word or quotes, which the docs do not use). */
function stripComment(line: string): string {
  return line.replace(/\s+#\s.*$/, "").replace(/^#.*$/, "").trim();
}

/** The commands of one Markdown file, with its markers applied. */
function fromMarkdown(file: string): DocCommand[] {
  const lines = Deno.readTextFileSync(join(ROOT, file)).split("\n");
  const commands: DocCommand[] = [];
  for (let i = 0; i < lines.length; i++) {
    // A block may be indented, inside a list item: the same indent closes it.
    const indent = lines[i]!.match(/^( *)```sh$/)?.[1];
    if (indent === undefined) continue;
    const end = lines.indexOf(`${indent}\`\`\``, i + 1);
    const body = lines.slice(i + 1, end).map((line) => line.slice(indent.length));
    const source = `${file}:${i + 2}`;
    // The markers: the comment lines just above the block (blank lines between are allowed).
    const markers: string[] = [];
    for (let j = i - 1; j >= 0 && /^ *(<!-- docs-test:.*-->|)$/.test(lines[j]!); j--) {
      const m = lines[j]!.match(/^ *<!-- docs-test: (.*) -->$/);
      if (m) markers.push(m[1]!.trim());
    }
    const skip = markers.find((m) => m.startsWith("skip "))?.slice(5);
    const skipLines = markers.filter((m) => m.startsWith("skip-line ")).map((m) =>
      m.slice(10).split(" | ") as [string, string]
    );
    if (markers.includes("two-terminal")) {
      const [first, second] = body.join("\n").split(/^# terminal 2.*$/m).map((part) =>
        part.split("\n").map(stripComment).filter(Boolean).join("\n")
      );
      commands.push({ source, text: first!, second: second!, skip });
    } else if (markers.includes("script")) {
      commands.push({ source, text: body.join("\n"), skip });
    } else {
      for (const line of body.map(stripComment).filter(Boolean)) {
        const skipLine = skipLines.find(([prefix]) => line.startsWith(prefix));
        commands.push({ source, text: line, skip: skip ?? skipLine?.[1] });
      }
    }
    i = end;
  }
  return commands;
}

/** The "Examples:" of one lesson's `--help`. */
async function fromHelp(method: string): Promise<DocCommand[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, "lessons", method, "main.ts"), "--help"],
    cwd: ROOT,
    env: { NO_COLOR: "1", TMPDIR: TMP },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, `${method} --help`);
  const help = new TextDecoder().decode(output.stdout);
  const examples = help.split("Examples:\n")[1]!.split("\n\n")[0]!.split("\n");
  const source = `lessons/${method}/main.ts --help`;
  const commands: DocCommand[] = [];
  for (let k = 0; k < examples.length; k++) {
    const line = examples[k]!;
    if (/# terminal 1\s*$/.test(line)) {
      assert.match(examples[k + 1] ?? "", /# terminal 2\s*$/, `${source}: terminal 2 follows 1`);
      commands.push({
        source,
        text: stripComment(line),
        second: stripComment(examples[++k]!),
      });
    } else if (line.trim()) {
      commands.push({ source, text: stripComment(line) });
    }
  }
  return commands;
}

/** What the docs say, turned into what runs here (see the module's comment). */
function rewrite(text: string, scratch: string, suffix: string): string {
  // The docs' own /tmp paths first: the project itself may live under /tmp (a CI checkout).
  return text
    .replaceAll(/npx -y deno@\S+/g, "deno")
    .replaceAll(/(?<![\w.])\/tmp\//g, `${scratch}/`)
    .replaceAll(/(?<![\w./-])\/(my-queue|ipc-lesson-shm-lab)(?![\w-])/g, `/$1-${suffix}`)
    .replaceAll(/\bdeno task /g, `deno task --config ${join(ROOT, "deno.json")} `);
}

/** Starts one shell command, in its own process group under `timeout`. */
function start(script: string): Deno.ChildProcess {
  // A line with a background job waits for it, so its exit status counts too.
  const full = /&\s|&$/.test(script) && !/^wait$/m.test(script)
    ? `${script}\nrc=$?; wait $! || exit $?; exit $rc`
    : script;
  return new Deno.Command("timeout", {
    args: ["-k", "5", String(SECONDS_LIMIT), "bash", "-o", "pipefail", "-c", full],
    cwd: ROOT,
    env: {
      TMPDIR: TMP,
      NO_COLOR: "1",
      PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH") ?? ""}`,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Waits for a started command; asserts exit 0 with its output as the message. */
async function finish(child: Deno.ChildProcess, label: string): Promise<void> {
  const output = await child.output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes).slice(-2000);
  assert.equal(
    output.code,
    0,
    `${label} exited ${output.code}${output.code === 124 ? " (timed out)" : ""}\n` +
      `${decode(output.stdout)}\n${decode(output.stderr)}`,
  );
}

/** Runs one doc command in a scratch directory of its own and checks what it left. */
async function runOne(command: DocCommand, index: number): Promise<void> {
  const scratch = Deno.makeTempDirSync({ dir: TMP, prefix: "docs-" });
  const suffix = `docs${Deno.pid}-${index}`;
  const label = `${command.source}: ${command.text}${
    command.second ? ` // ${command.second}` : ""
  }`;
  try {
    const first = start(rewrite(command.text, scratch, suffix));
    if (command.second !== undefined) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const second = start(rewrite(command.second, scratch, suffix));
      await Promise.all([finish(first, label), finish(second, label)]);
    } else {
      await finish(first, label);
    }
    const copy = join(scratch, "copy.txt");
    const all = `${command.text}\n${command.second ?? ""}`;
    if (all.includes("lessons/sample.txt") && /\/tmp\/copy\.txt/.test(all)) {
      assert.deepEqual(
        Deno.readFileSync(copy),
        Deno.readFileSync(join(ROOT, "lessons/sample.txt")),
        `${label}: the copy is byte-exact`,
      );
    }
    for (const dir of ["/dev/shm", "/dev/mqueue"]) {
      try {
        const left = [...Deno.readDirSync(dir)].filter((e) => e.name.includes(suffix));
        assert.deepEqual(left.map((e) => e.name), [], `${label}: left in ${dir}`);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
  } finally {
    Deno.removeSync(scratch, { recursive: true });
  }
}

Deno.test("docs: every shell command in the READMEs and --help examples runs", async () => {
  const commands = [
    ...markdownFiles.flatMap(fromMarkdown),
    ...(await Promise.all(METHODS.map(fromHelp))).flat(),
  ];
  assert.ok(commands.length > 20, "the extraction found the commands");
  const toRun = commands.map((command, index) => ({ command, index })).filter((c) =>
    c.command.skip === undefined
  );
  // Three at a time: the machine has two cores, and most commands spend their time waiting.
  const queue = [...toRun];
  const failures: unknown[] = [];
  await Promise.all([0, 1, 2].map(async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      await runOne(next.command, next.index).catch((error) => failures.push(error));
    }
  }));
  const skipped = commands.filter((c) => c.skip !== undefined);
  console.log(`docs: ran ${toRun.length} commands, skipped ${skipped.length} by marker:`);
  for (const c of skipped) console.log(`  ${c.source}: ${c.text.split("\n")[0]} (${c.skip})`);
  if (failures.length > 0) throw failures.length === 1 ? failures[0] : new AggregateError(failures);
});
