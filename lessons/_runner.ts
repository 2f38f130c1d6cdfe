/**
 * The lesson runner: the one entry point every `lessons/<method>/main.ts` calls.
 *
 *     deno task lesson:fifo                     the demo: server and client, verified
 *     deno task lesson:fifo server [options]    one side by hand (terminal 1)
 *     deno task lesson:fifo client [options]    the other side by hand (terminal 2)
 *
 * @module
 */

import { parseCommandLine, usage } from "./_cli.ts";
import { checkOutput, UsageError } from "./_files.ts";
import { type Lesson, SAMPLE_INPUT } from "./_lesson.ts";
import { formatBytes, formatLine, type Role, stderrHasColor, writeStderr } from "./_log.ts";
import { runDemo } from "./_demo.ts";
import { listLabs, runLab } from "./_labs.ts";
import { describeError, runSide } from "./_side.ts";

/**
 * Parses the command line and runs the demo or one side of `lesson`, then exits with its
 * status: 0 success, 1 failure, 2 usage error (or an output that may never be written), 128 + n
 * after signal n.
 *
 * @example
 * ```ts ignore
 * import { runLesson } from "../_runner.ts";
 * import { lesson } from "./main.ts";
 * await runLesson(lesson, Deno.args);
 * ```
 */
export async function runLesson<O>(lesson: Lesson<O>, args: string[]): Promise<never> {
  let status: number;
  let role: Role = "runner";
  try {
    const { common, values } = parseCommandLine(args, lesson.options, {
      serverTakesOutput: lesson.serverStartsClient === true,
    });
    if (common.help) {
      console.log(usage(lesson));
      Deno.exit(0);
    }
    if (common.breakLab === "list") {
      console.log(listLabs(lesson.method, lesson.labs ?? []));
      Deno.exit(0);
    }
    if (common.breakLab !== undefined) {
      role = "lab";
      Deno.exit(await runLab(lesson.method, lesson.labs ?? [], common.breakLab));
    }
    if (common.mode !== "demo") role = common.mode;
    const options = lesson.parseOptions(values, common);
    const chunk = common.chunk ?? lesson.defaultChunk(options);
    const max = lesson.maxChunk(options);
    if (chunk > max.bytes) {
      throw new UsageError(
        `--chunk ${chunk} is too large for ${lesson.method}: at most ${max.bytes} (${
          formatBytes(max.bytes)
        }), ${max.why}`,
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
      ? await runDemo(lesson, common, options, chunk)
      : await runSide(lesson, { ...common, input: common.input ?? SAMPLE_INPUT }, options, chunk);
  } catch (error) {
    const { message, status: code } = describeError(error);
    writeStderr(
      error instanceof UsageError
        ? `error: ${message} (see --help)\n`
        : formatLine(role, Deno.pid, message, { color: stderrHasColor(), kind: "error" }),
    );
    status = code;
  }
  Deno.exit(status);
}
