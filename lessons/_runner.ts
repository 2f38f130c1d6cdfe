/**
 * The lesson runner: the one entry point every `lessons/<method>/main.ts` calls.
 *
 *     deno task lesson:fifo                     the demo: server and client, verified
 *     deno task lesson:fifo server [options]    one side by hand (terminal 1)
 *     deno task lesson:fifo client [options]    the other side by hand (terminal 2)
 *
 * @module
 */

import { checkOutput, typedIn, usableTempDir } from "../transports/files.ts";
import { formatBytes } from "../transports/units.ts";
import { parseCommandLine, usage, UsageError } from "./_cli.ts";
import { Demo } from "./_demo.ts";
import { listLabs, runLab } from "./_labs.ts";
import { type Lesson, SAMPLE_INPUT, tempDir } from "./_lesson.ts";
import { formatLine, type Speaker, stderrHasColor, writeStderr } from "./_log.ts";
import { describeError, runSide } from "./_side.ts";
import { LESSONS } from "./registry.ts";

/**
 * Parses the command line and runs the demo or one side of `lesson`, then exits with its
 * status: 0 success, 1 failure, 2 usage error (or an output that may never be written), 128 + n
 * after signal n.
 *
 * @example
 * ```ts ignore
 * import { runLesson } from "../_runner.ts";
 * if (import.meta.main) await runLesson(lesson, Deno.args);
 * ```
 */
export async function runLesson<O>(lesson: Lesson<O>, args: string[]): Promise<never> {
  let status: number;
  let who: Speaker = "runner";
  // ulimit -f: a write past the file-size limit gets SIGXFSZ, whose default action kills at
  // once and silently (status 153), leaving what the run made. Caught, the write (or
  // ftruncate) fails with EFBIG instead: said in one line, and cleaned up after.
  Deno.addSignalListener("SIGXFSZ", () => {});
  startWhereTyped();
  try {
    // A client that its server starts (launch says null) gets its output through the server.
    const serverTakesOutput = lesson.launch?.("client", []) === null;
    const { common, values } = parseCommandLine(args, lesson.options, { serverTakesOutput });
    if (common.help) {
      const threads = LESSONS.find((entry) => entry.method === lesson.method)?.sides === "threads";
      console.log(usage(lesson, { serverTakesOutput, threads }));
      Deno.exit(0);
    }
    const labs = lesson.labs ?? [];
    if (common.breakLab !== undefined && common.json) {
      throw new UsageError("--json is an option of the demo, not of --break (a lab only narrates)");
    }
    if (common.breakLab === "list") {
      console.log(listLabs(lesson.method, labs));
      Deno.exit(0);
    }
    who = common.breakLab !== undefined ? "lab" : common.mode === "demo" ? "runner" : common.mode;
    usableTempDir(); // TMPDIR, where runs keep their files: refused at once, in words
    if (common.breakLab !== undefined) {
      const lab = labs.find((candidate) => candidate.name === common.breakLab);
      if (!lab) {
        throw new UsageError(
          `the ${lesson.method} lesson has no lab ${
            JSON.stringify(common.breakLab)
          }; --break list shows its labs`,
        );
      }
      Deno.exit(await runLab(lab, tempDir(), (error) => describeError(error).message));
    }
    const options = lesson.parse(values);
    const chunks = lesson.chunk(options);
    const chunk = common.chunk ?? chunks.default;
    if (chunk > chunks.max) {
      throw new UsageError(
        `--chunk ${chunk} is too large for ${lesson.method}: at most ${chunks.max} (${
          formatBytes(chunks.max)
        }), ${chunks.why}`,
      );
    }
    if (common.mode === "client" && common.output === undefined) {
      throw new UsageError("the client needs --output PATH: the file to write");
    }
    // By hand, whatever the output path alone makes certain is found before anything starts
    // (in the demo, the runner checks it, and the sides get its file).
    if (common.mode !== "demo" && common.output !== undefined && common.outputVia === undefined) {
      checkOutput(common.output, { force: common.force });
    }
    status = common.mode === "demo"
      ? await new Demo(lesson, common, options, chunk).run()
      : await runSide(lesson, { ...common, input: common.input ?? SAMPLE_INPUT }, options, chunk);
  } catch (error) {
    const { message, status: code } = describeError(error);
    writeStderr(
      error instanceof UsageError
        ? `error: ${message} (see --help)\n`
        : formatLine(who, Deno.pid, message, { color: stderrHasColor(), kind: "error" }),
    );
    status = code;
  }
  Deno.exit(status);
}

/**
 * `deno task` runs a lesson in the project's folder, and says in INIT_CWD where it was typed:
 * go there, so that a relative `--input`, `--output` or `--path` means what it meant to the user
 * (as for `deno task clean` and `deno task grade`). Started any other way, or by the demo (its
 * sides start in the runner's folder), the working directory stays.
 */
function startWhereTyped(): void {
  try {
    Deno.chdir(typedIn());
  } catch { /* gone since: stay in the project's folder */ }
}
