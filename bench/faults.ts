/**
 * `deno task bench:faults`: what each lesson does when one side crashes, hangs or is
 * interrupted in the middle of a transfer, and how long the other side takes to notice.
 *
 *     deno task bench:faults [--size 64M] [--timeout 2]
 *
 * Each case runs a lesson's demo with `--kill-after ROLE:BYTES:SIGNAL`: the victim sends
 * itself the signal after moving a quarter of the data. The time to detect runs from the
 * moment the victim says so to the first line of the other side (another process) after it; when
 * that side takes the fault for the end of the data, or there is no other side (the threads
 * lesson is one process), to the runner's verdict (its check of the copy). The outcome is who
 * noticed, that line, and the demo's exit status. A Markdown table goes to stdout.
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
  /** Who noticed the fault, and how: a side's first line after it, or the runner's verdict. */
  line: string;
  millis: number | null;
}

/** A line of a demo: `server 4711 │ text` (who speaks, their pid, what they say). */
const SPEAKER = /^(\S+)\s+(\d+) │ (.*)$/;

/**
 * A line of the other side about the fault: an error, or a step that says the peer went away, or
 * that a wait ran out. (Its other steps, such as "sent 4.00 MiB", are not about the fault.)
 */
const ABOUT_THE_FAULT =
  /error: |went away|has gone|is gone|exited|was killed|did not finish|incomplete|\bE[A-Z]{3,}\b|no data came|no message came|no slot|stayed full|stopped|stuck|interrupted|for \d+(\.\d+)? s\b/;

/** A line that takes the fault for the normal end of the data: the reader of a byte stream. */
const TAKES_IT_FOR_THE_END = /^end-of-file (after|at once)/;

/** The text of a line without its speaker, and without the "error: " in front. */
const said = (text: string) => text.replace(/^.*?error: /, "");

/** A line of the demo's stderr, and when it arrived (ms). */
export interface TimedLine {
  at: number;
  line: string;
}

/**
 * Who noticed the fault, and how, from the demo's lines in the order they came: the other side's
 * first line about it (a process other than the victim's: the signal reaches all of the victim's
 * process, both threads of the threads lesson); or, when that side took the fault for the end
 * of the data or said nothing, the runner's verdict. The time runs from the victim's
 * "--kill-after: sending myself" line. Null when nobody noticed.
 */
export function whoNoticed(lines: TimedLine[]): { line: string; millis: number } | null {
  let killedAt: number | null = null;
  let victimPid: string | null = null;
  /** The first line of the other side about the fault. */
  let survivor = null as { at: number; who: string; text: string } | null;
  /** Its line that took the fault for the end of the data. */
  let tookItForTheEnd = null as { at: number; who: string; text: string } | null;
  /** The runner's verdict: its first error line, or its check of the copy. */
  let runner = null as { at: number; text: string } | null;
  for (const { at, line } of lines) {
    const [, who = "", pid = "", text = line] = line.match(SPEAKER) ?? [];
    if (killedAt === null) {
      if (text.includes("--kill-after: sending myself")) {
        killedAt = at;
        victimPid = pid;
      }
      continue;
    }
    if (who === "runner") {
      if (runner === null && text.includes("byte-exact copy: NO")) {
        runner = { at, text: "byte-exact copy: NO" };
      } else if (/error: /.test(text) && (runner === null || !runner.text.includes("error"))) {
        // Its error line says more than the check does, and comes a line after it.
        runner = { at: runner?.at ?? at, text: `error: ${said(text)}` };
      }
    } else if (who !== "" && pid !== victimPid && survivor === null) {
      if (ABOUT_THE_FAULT.test(text)) survivor = { at, who, text };
      else if (TAKES_IT_FOR_THE_END.test(text)) tookItForTheEnd ??= { at, who, text };
    } else if (who === "" && survivor === null && /error: /.test(line)) {
      // A line without a speaker (a crash's own message): whoever printed it noticed.
      survivor = { at, who: "(a side)", text: line };
    }
  }
  if (killedAt === null) return null;
  const verdict = runner === null ? "" : `the runner: ${said(runner.text)}`;
  let noticed: { at: number; line: string } | null = null;
  if (survivor !== null) {
    noticed = { at: survivor.at, line: `the ${survivor.who}: ${said(survivor.text)}` };
  } else if (tookItForTheEnd !== null && runner !== null) {
    // A byte stream's reader takes the crash for the end of the file: only the runner's check
    // (exit status and SHA-256) catches it.
    noticed = {
      at: runner.at,
      line:
        `the ${tookItForTheEnd.who} took it for the end ("${tookItForTheEnd.text}"); ${verdict}`,
    };
  } else if (runner !== null) {
    // No other side said anything about it: the signal took the whole process (the threads
    // lesson), or the other side ended without a word.
    noticed = { at: runner.at, line: verdict };
  }
  return noticed && { line: noticed.line, millis: noticed.at - killedAt };
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
  // Each line with the time it arrived: the time to detect is the gap between two of them.
  const lines: TimedLine[] = [];
  for await (const line of linesOf(child.stderr)) lines.push({ at: performance.now(), line });
  const status = (await child.status).code;
  const noticed = whoNoticed(lines);
  return {
    status,
    line: noticed?.line ?? "(nobody noticed)",
    millis: noticed?.millis ?? null,
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
  console.log(
    `| fault | method | exit | who noticed, and how: their first line after the fault | time to detect |`,
  );
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
