/**
 * `deno task bench:by-hand`: the pipe and FIFO lessons run by hand (server | client), against
 * `cat in | cat > out` on the same file, in the same run.
 *
 *     deno task bench:by-hand [--size 1G] [--runs 5] [--dir /dev/shm]
 *
 * The file lives in a tmpfs (/dev/shm by default), so that no disk is measured. The three
 * commands are interleaved (A B C A B C …) so that drift on a noisy machine hits them all, and
 * the report gives medians and ratios:
 * - wall: the whole command, process start-up included (`cat` starts in a millisecond, Deno in
 *   tens of them);
 * - transfer: the lesson's own clock, from the moment both sides are ready to the client's
 *   last write (with `--stamped`, each side's last line is its statistics).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { lessonNamed, ROOT } from "./_channels.ts";
import { Interrupted } from "../transports/errors.ts";
import { typedIn, writeRandomFile } from "../transports/files.ts";
import { parseSize } from "../transports/units.ts";
import { abortOnStopSignals } from "../transports/wait.ts";

const USAGE = `usage: deno task bench:by-hand [--size N] [--runs N] [--dir DIR]

  --size N    bytes through each command (default 1G); K, M, G suffixes
  --runs N    interleaved runs of each command (default 5)
  --dir DIR   where the input and output live (default /dev/shm: a tmpfs, so no disk is timed)`;

/** A mistake on the command line: one line and the usage, status 2. */
class UsageError extends Error {}

/** The settings from the command line; null for `--help`. */
function parseOptions(args: string[]): { size: number; runs: number; dir: string } | null {
  let values;
  try {
    values = parseArgs({
      args,
      options: {
        size: { type: "string", default: "1G" },
        runs: { type: "string", default: "5" },
        dir: { type: "string", default: "/dev/shm" },
        help: { type: "boolean" },
      },
      strict: true,
    }).values;
  } catch (error) {
    throw new UsageError((error as Error).message.split(".")[0]);
  }
  if (values.help) return null;
  let size;
  try {
    size = parseSize(values.size, "--size", 1);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const runs = /^\d+$/.test(values.runs.trim()) ? Number(values.runs) : NaN;
  if (!(runs >= 1 && runs <= 1000)) {
    throw new UsageError(
      `--runs must be a whole number from 1 to 1000: got ${JSON.stringify(values.runs)}`,
    );
  }
  return { size, runs, dir: resolve(typedIn(), values.dir) };
}

/** The baseline's name (its pipe sign is escaped in the Markdown table only). */
const CAT = "cat in | cat > out";
const lesson = (method: string) => fileURLToPath(new URL(lessonNamed(method)!.main, ROOT));

interface Sample {
  wall: number;
  transfer: number | null;
}

/** A side's statistics line (`--stamped`): `<ms> <role> <pid> stats <JSON>`. */
const STATS_LINE = /^\d+\.\d+ (?:server|client) \d+ stats (\{.*\})$/;

/** The times a side's statistics line gives (CLOCK_MONOTONIC ms); null for any other line. */
function sideTimes(line: string): { startedAt?: number; stoppedAt?: number } | null {
  const json = line.match(STATS_LINE)?.[1];
  return json === undefined ? null : JSON.parse(json);
}

/**
 * Runs a shell pipeline in a session of its own, so that Ctrl-C (`signal`) can end all of its
 * processes at once; returns its wall time and, from the sides' statistics, the transfer time.
 */
async function timed(
  script: string,
  env: Record<string, string>,
  signal: AbortSignal,
): Promise<Sample> {
  signal.throwIfAborted();
  const started = performance.now();
  const child = new Deno.Command("sh", {
    args: ["-c", script],
    env,
    stdout: "null",
    stderr: "piped",
    detached: true,
  }).spawn();
  const stop = () => {
    try {
      Deno.kill(-child.pid, "SIGTERM");
    } catch { /* already gone */ }
  };
  signal.addEventListener("abort", stop);
  const output = await child.output().finally(() => signal.removeEventListener("abort", stop));
  signal.throwIfAborted();
  const wall = (performance.now() - started) / 1000;
  const stderr = new TextDecoder().decode(output.stderr);
  if (!output.success) {
    const last = stderr.trim().split("\n").findLast((line) => line.includes("error")) ?? "";
    throw new Error(`a run failed (exit status ${output.code}): ${last || script}`);
  }
  let readyAt = -Infinity;
  let stoppedAt: number | undefined;
  for (const line of stderr.split("\n")) {
    const times = sideTimes(line);
    if (times === null) continue;
    if (times.startedAt !== undefined) readyAt = Math.max(readyAt, times.startedAt);
    if (times.stoppedAt !== undefined) stoppedAt = times.stoppedAt;
  }
  const transfer = stoppedAt === undefined ? null : (stoppedAt - readyAt) / 1000;
  return { wall, transfer };
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** Measures; returns the exit status. */
async function main(args: string[]): Promise<number> {
  let settings;
  try {
    settings = parseOptions(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`error: ${error.message}\n${USAGE}`);
    return 2;
  }
  if (settings === null) {
    console.log(USAGE);
    return 0;
  }
  const { size, runs } = settings;
  // Ctrl-C (or SIGTERM, SIGHUP) ends the running command's session; the folder goes below.
  const { signal } = abortOnStopSignals(new AbortController());
  let dir;
  try {
    dir = Deno.makeTempDirSync({ dir: settings.dir, prefix: "ipc-bench-" });
  } catch (error) {
    const why = (error as Error).message.replace(/ \(os error \d+\).*$/, "");
    console.error(`error: cannot make a folder in --dir ${settings.dir}: ${why}`);
    return 1;
  }
  try {
    const input = join(dir, "input.bin");
    const output = join(dir, "output.bin");
    console.error(`writing ${size} random bytes to ${input}`);
    writeRandomFile(input, size);
    const env = {
      DENO: Deno.execPath(),
      PIPE: lesson("pipe"),
      FIFO: lesson("fifo"),
      IN: input,
      OUT: output,
      PATH_FIFO: join(dir, "bench.fifo"),
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    };
    const side = `"$DENO" run -A`;
    const commands: Record<string, string> = {
      [CAT]: `cat "$IN" | cat > "$OUT"`,
      "pipe lesson":
        `${side} "$PIPE" server --stamped --input "$IN" | ${side} "$PIPE" client --stamped --output "$OUT"`,
      "fifo lesson":
        `${side} "$FIFO" server --stamped --path "$PATH_FIFO" --input "$IN" & ${side} "$FIFO" client --stamped --path "$PATH_FIFO" --output "$OUT"; wait`,
    };
    const samples: Record<string, Sample[]> = Object.fromEntries(
      Object.keys(commands).map((k) => [k, []]),
    );
    for (let run = 1; run <= runs; run++) {
      for (const [name, script] of Object.entries(commands)) {
        const sample = await timed(script, env, signal);
        samples[name]!.push(sample);
        console.error(`run ${run}/${runs}  ${name.padEnd(12)} wall ${sample.wall.toFixed(3)} s`);
        Deno.removeSync(output);
      }
    }

    const mib = size / 1048576;
    const catWall = median(samples[CAT]!.map((s) => s.wall));
    console.log(
      `\n${mib} MiB through each, ${
        runs === 1 ? "1 run" : `${runs} interleaved runs, medians`
      }; ratio = speed / cat's speed\n`,
    );
    console.log(
      "| command | wall s | MiB/s (wall) | ratio (wall) | transfer s | MiB/s (transfer) | ratio (transfer) |",
    );
    console.log("|---|---:|---:|---:|---:|---:|---:|");
    for (const [name, list] of Object.entries(samples)) {
      const wall = median(list.map((s) => s.wall));
      const transfers = list.map((s) => s.transfer).filter((t): t is number => t !== null);
      const transfer = transfers.length ? median(transfers) : null;
      const cells = [
        name.replaceAll("|", "\\|"),
        wall.toFixed(3),
        (mib / wall).toFixed(0),
        (catWall / wall).toFixed(2),
        transfer === null ? "-" : transfer.toFixed(3),
        transfer === null ? "-" : (mib / transfer).toFixed(0),
        transfer === null ? "-" : (catWall / transfer).toFixed(2),
      ];
      console.log(`| ${cells.join(" | ")} |`);
    }
    return 0;
  } catch (error) {
    if (error instanceof Interrupted) {
      console.error(`${error.message}: stopped the runs and removed ${dir}`);
      return error.status;
    }
    console.error(`error: ${(error as Error).message}`);
    return 1;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
