/**
 * The bad-input tests every lesson runs: each mistake must give exit status 2 (usage) or 1
 * (run time), exactly one error line that says what failed and why, no stack trace, and no
 * output file.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  assertNothingLeftBehind,
  assertOneError,
  filesIn,
  makeInput,
  runLesson,
  runWrapped,
  testDir,
} from "./_helpers.ts";

/** One bad command line and what it must produce. */
export interface BadCase {
  /** What the case is about. */
  name: string;
  /** The arguments (paths may use `{dir}`, `{input}`, `{output}`). */
  args: string[];
  /** The exit status: 2 for usage errors, 1 for failures at run time. */
  status: 1 | 2;
  /** What the one error line must say. */
  message: RegExp;
  /** Prepares the test folder before the run. */
  setup?: (dir: string) => void;
  /** Runs the command another way (for example without the file-read capability). */
  wrap?: string[];
}

/** Mistakes that every lesson must handle the same way. */
export function commonBadCases(options: { tooLargeChunk: string }): BadCase[] {
  return [
    {
      name: "input missing",
      args: ["--input", "{dir}/missing.txt", "--output", "{output}"],
      status: 1,
      message: /cannot open input ".*missing\.txt": no such file or directory/,
    },
    {
      name: "input is a directory",
      args: ["--input", "{dir}", "--output", "{output}"],
      status: 1,
      message: /cannot open input ".*": is a directory/,
    },
    {
      name: "input unreadable",
      args: ["--input", "{dir}/secret.txt", "--output", "{output}"],
      status: 1,
      message: /cannot open input ".*secret\.txt": permission denied/,
      setup: (dir) => {
        Deno.writeTextFileSync(join(dir, "secret.txt"), "secret");
        Deno.chmodSync(join(dir, "secret.txt"), 0o000);
      },
      // root reads anything: drop the capabilities that let it, so the mode counts.
      wrap: Deno.uid() === 0
        ? [
          "setpriv",
          "--inh-caps=-dac_override,-dac_read_search",
          "--bounding-set=-dac_override,-dac_read_search",
        ]
        : [],
    },
    {
      name: "output directory missing",
      args: ["--input", "{input}", "--output", "{dir}/nowhere/out.bin"],
      status: 1,
      message: /cannot create output ".*out\.bin": directory ".*nowhere" does not exist/,
    },
    {
      name: "output is a directory",
      args: ["--input", "{input}", "--output", "{dir}"],
      status: 2,
      message:
        /output ".*" is a directory: the output may only be a new file or an existing regular file/,
    },
    {
      name: "output ends with a slash",
      args: ["--input", "{input}", "--output", "{dir}/newdir/"],
      status: 2,
      message: /output ".*newdir\/" ends with "\/", so it can only name a directory/,
    },
    {
      name: "output is a FIFO",
      args: ["--input", "{input}", "--output", "{dir}/a.fifo"],
      status: 2,
      message: /output ".*a\.fifo" is a FIFO: the output may only be/,
      setup: (dir) => {
        new Deno.Command("mkfifo", { args: ["-m", "600", `${dir}/a.fifo`] }).outputSync();
      },
    },
    {
      name: "output exists, without --force",
      args: ["--input", "{input}", "--output", "{dir}/old.bin"],
      status: 1,
      message: /output ".*old\.bin" already exists and was left alone: add --force to replace it/,
      setup: (dir) => Deno.writeTextFileSync(join(dir, "old.bin"), "old"),
    },
    {
      name: "output exists, without --force, by hand",
      args: ["client", "--output", "{dir}/old.bin"],
      status: 1,
      message: /output ".*old\.bin" already exists and was left alone: add --force to replace it/,
      setup: (dir) => Deno.writeTextFileSync(join(dir, "old.bin"), "old"),
    },
    {
      name: "output is a directory, by hand",
      args: ["client", "--output", "{dir}"],
      status: 2,
      message: /output ".*" is a directory: the output may only be/,
    },
    {
      name: "output is the input",
      args: ["--input", "{input}", "--output", "{input}"],
      status: 1,
      message: /is the same file as input/,
    },
    {
      name: "output is a hard link to the input",
      args: ["--input", "{input}", "--output", "{dir}/hardlink.bin"],
      status: 1,
      message: /is the same file as input/,
      setup: (dir) => Deno.linkSync(join(dir, "input.bin"), join(dir, "hardlink.bin")),
    },
    {
      // Any symbolic link is refused, and left alone: it is not followed.
      name: "output is a symbolic link to the input",
      args: ["--input", "{input}", "--output", "{dir}/symlink.bin"],
      status: 2,
      message: /output ".*symlink\.bin" is a symbolic link: the output may only be/,
      setup: (dir) => Deno.symlinkSync(join(dir, "input.bin"), join(dir, "symlink.bin")),
    },
    {
      name: "output is the input, even with --force",
      args: ["--input", "{input}", "--output", "{input}", "--force"],
      status: 1,
      message: /is the same file as input/,
    },
    {
      name: "input is a FIFO with no writer",
      args: ["--input", "{dir}/in.fifo", "--output", "{output}"],
      status: 1,
      message: /cannot open input ".*in\.fifo": it is a FIFO, not a regular file/,
      setup: (dir) => {
        new Deno.Command("mkfifo", { args: ["-m", "600", `${dir}/in.fifo`] }).outputSync();
      },
    },
    {
      name: "input is a FIFO with no writer, by hand",
      args: ["server", "--input", "{dir}/in.fifo"],
      status: 1,
      message: /cannot open input ".*in\.fifo": it is a FIFO, not a regular file/,
      setup: (dir) => {
        new Deno.Command("mkfifo", { args: ["-m", "600", `${dir}/in.fifo`] }).outputSync();
      },
    },
    { name: "unknown option", args: ["--bogus"], status: 2, message: /unknown option --bogus/ },
    { name: "unknown argument", args: ["sever"], status: 2, message: /unknown argument "sever"/ },
    {
      name: "option without its value",
      args: ["--input"],
      status: 2,
      message: /--input needs a value/,
    },
    { name: "chunk 0", args: ["--chunk", "0"], status: 2, message: /--chunk must be at least 1/ },
    {
      name: "chunk negative",
      args: ["--chunk=-5"],
      status: 2,
      message: /--chunk must be a whole number/,
    },
    {
      name: "chunk not a number",
      args: ["--chunk", "lots"],
      status: 2,
      message: /--chunk must be a whole number/,
    },
    {
      name: "chunk above what the method allows",
      args: ["--chunk", options.tooLargeChunk],
      status: 2,
      message: /--chunk .* is too large/,
    },
    {
      name: "timeout 0",
      args: ["--timeout", "0"],
      status: 2,
      message: /--timeout must be a number of seconds above 0/,
    },
    {
      name: "timeout not a number",
      args: ["--timeout", "soon"],
      status: 2,
      message: /--timeout must be/,
    },
    {
      name: "size not a number",
      args: ["--size", "big"],
      status: 2,
      message: /--size must be a whole number/,
    },
    {
      name: "input and size together",
      args: ["--input", "{input}", "--size", "10"],
      status: 2,
      message: /--input and --size cannot be used together/,
    },
    {
      name: "kill-after with a bad role",
      args: ["--kill-after", "both:1"],
      status: 2,
      message: /--kill-after must be/,
    },
    {
      name: "client without --output",
      args: ["client"],
      status: 2,
      message: /the client needs --output/,
    },
    {
      name: "--json for one side",
      args: ["server", "--json"],
      status: 2,
      message: /--json is not an option of the server/,
    },
    {
      name: "--size for one side",
      args: ["client", "--size", "1", "--output", "{output}"],
      status: 2,
      message: /--size is not an option of the client/,
    },
  ];
}

/** Registers one test that runs every bad case of `method`. */
export function testBadInputs(method: string, cases: BadCase[]): void {
  Deno.test(`${method}: bad input`, async (t) => {
    for (const badCase of cases) {
      await t.step(badCase.name, async () => {
        const dir = testDir(`${method}-bad`);
        const input = makeInput(join(dir, "input.bin"), 5000);
        badCase.setup?.(dir);
        const before = filesIn(dir);
        const args = badCase.args.map((arg) =>
          arg.replaceAll("{dir}", dir).replaceAll("{input}", input).replaceAll(
            "{output}",
            join(dir, "output.bin"),
          )
        );
        const run = badCase.wrap?.length
          ? await runWrapped(badCase.wrap, method, args)
          : await runLesson(method, args);
        assert.equal(run.code, badCase.status, `exit status\n${run.stderr}`);
        assertOneError(run, badCase.message);
        assert.equal(run.stdout, "", "nothing on stdout");
        // No output, partial or staging file appeared.
        assert.deepEqual(filesIn(dir), before);
        Deno.chmodSync(dir, 0o755);
        Deno.removeSync(dir, { recursive: true });
      });
    }
    assertNothingLeftBehind();
  });
}
