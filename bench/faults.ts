/**
 * `deno task bench:faults`: what each lesson does when one side crashes, hangs or is
 * interrupted in the middle of a transfer, and how long the other side takes to notice.
 *
 *     deno task bench:faults [--size 64M] [--timeout 2]
 *
 * Each case runs a lesson's demo with `--kill-after ROLE:BYTES:SIGNAL`: the victim sends
 * itself the signal after moving a quarter of the data. The time to detect runs from the
 * moment the victim says so to the first error line of another process (the survivor, or the
 * runner); the outcome is that line and the demo's exit status. A Markdown table goes to
 * stdout.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { type LessonEntry, LESSONS } from "../lessons/registry.ts";
import { findLeftovers, loadFinders } from "../transports/leftovers.ts";
import { parseSize } from "../transports/units.ts";
import { ROOT } from "./_channels.ts";

const FAULTS = [
  { victim: "server", signal: "KILL", what: "server killed (SIGKILL)" },
  { victim: "client", signal: "KILL", what: "client killed (SIGKILL)" },
  { victim: "server", signal: "STOP", what: "server hangs (SIGSTOP)" },
  { victim: "client", signal: "STOP", what: "client hangs (SIGSTOP)" },
  { victim: "server", signal: "INT", what: "server interrupted (SIGINT)" },
  { victim: "client", signal: "TERM", what: "client terminated (SIGTERM)" },
] as const;

/** Splits a byte stream into lines of text (without the line breaks), as they arrive. */
async function* linesOf(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + text).split("\n");
    rest = lines.pop()!;
    yield* lines;
  }
  if (rest !== "") yield rest;
}

interface Outcome {
  status: number;
  line: string;
  millis: number | null;
}

async function run(
  lesson: LessonEntry,
  fault: (typeof FAULTS)[number],
  size: number,
  timeout: string,
): Promise<Outcome> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      fileURLToPath(new URL(lesson.main, ROOT)),
      "--size",
      String(size),
      "--timeout",
      timeout,
      "--kill-after",
      `${fault.victim}:${Math.floor(size / 4)}:${fault.signal}`,
    ],
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let killedAt: number | null = null;
  let detected: { at: number; line: string } | null = null;
  for await (const line of linesOf(child.stderr)) {
    const now = performance.now();
    if (line.includes("--kill-after: sending myself")) killedAt = now;
    // The victim's own "interrupted" line is not the survivor noticing.
    const fromVictim = line.startsWith(fault.victim);
    if (killedAt !== null && detected === null && /error: /.test(line) && !fromVictim) {
      detected = { at: now, line: line.replace(/^.*error: /, "") };
    }
    // A byte stream's reader takes the crash for the end of the file: only the runner's
    // check (exit status and SHA-256) catches it.
    if (killedAt !== null && detected === null && line.includes("byte-exact copy: NO")) {
      detected = { at: now, line: "(the client saw end-of-file) runner: byte-exact copy: NO" };
    }
  }
  const status = (await child.status).code;
  return {
    status,
    line: detected?.line ?? "(no error line)",
    millis: killedAt !== null && detected !== null ? detected.at - killedAt : null,
  };
}

const USAGE = `usage: deno task bench:faults [--size N] [--timeout SECONDS]

  --size N           bytes each demo copies (default 64M); the fault comes after a quarter
  --timeout SECONDS  how long a side waits for its peer (default 2)`;

async function main(args: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args,
      options: {
        size: { type: "string", default: "64M" },
        timeout: { type: "string", default: "2" },
        help: { type: "boolean" },
      },
      strict: true,
    }).values;
  } catch (error) {
    console.error(`error: ${(error as Error).message.split(".")[0]}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  let size;
  try {
    size = parseSize(values.size, "--size", 1);
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    return 2;
  }
  // As the lessons take it (each demo would refuse it otherwise, 54 times over).
  const seconds = /^\d+(\.\d+)?$/.test(values.timeout.trim()) ? Number(values.timeout) : NaN;
  if (!(seconds > 0 && seconds <= 86_400)) {
    console.error(
      `error: --timeout must be a number of seconds above 0 and at most 86400: got ${
        JSON.stringify(values.timeout)
      }`,
    );
    return 2;
  }
  console.log(`| fault | method | exit | the first error line after the fault | time to detect |`);
  console.log(`|---|---|---:|---|---:|`);
  for (const fault of FAULTS) {
    for (const lesson of LESSONS) {
      const outcome = await run(lesson, fault, size, values.timeout);
      const time = outcome.millis === null ? "–" : `${outcome.millis.toFixed(0)} ms`;
      const line = outcome.line.replaceAll("|", "\\|");
      console.log(`| ${fault.what} | ${lesson.method} | ${outcome.status} | ${line} | ${time} |`);
    }
  }
  // Every finder of the lessons' transports: FIFOs, queues, segments, semaphores.
  const finders = await loadFinders(LESSONS.map((lesson) => new URL(lesson.transport, ROOT)));
  const tmp = Deno.env.get("TMPDIR") || "/tmp";
  const left = findLeftovers(finders, { prefix: "ipc-lesson-", dir: tmp }).found
    .filter((object) => object.holders.length === 0);
  console.log(
    `\nobjects left behind afterwards: ${
      left.length === 0 ? "none" : left.map((o) => o.path).join(", ")
    }`,
  );
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
