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
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { lessonNamed, ROOT } from "./_channels.ts";
import { writeRandomFile } from "../transports/files.ts";
import { parseSize } from "../transports/units.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    size: { type: "string", default: "1G" },
    runs: { type: "string", default: "5" },
    dir: { type: "string", default: "/dev/shm" },
  },
  strict: true,
});
let size;
try {
  size = parseSize(values.size, "--size", 1);
} catch (error) {
  console.error(`error: ${(error as Error).message}`);
  Deno.exit(2);
}
const runs = Number(values.runs);
const dir = Deno.makeTempDirSync({ dir: values.dir, prefix: "ipc-bench-" });
/** The baseline's name in the table (the pipe sign escaped for Markdown). */
const CAT = "cat in \\| cat > out";
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

/** Runs a shell pipeline; returns its wall time and, from the sides' statistics, the transfer time. */
async function timed(script: string, env: Record<string, string>): Promise<Sample> {
  const started = performance.now();
  const output = await new Deno.Command("sh", { args: ["-c", script], env, stderr: "piped" })
    .output();
  const wall = (performance.now() - started) / 1000;
  const stderr = new TextDecoder().decode(output.stderr);
  if (!output.success) throw new Error(`failed: ${script}\n${stderr}`);
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
      const sample = await timed(script, env);
      samples[name]!.push(sample);
      console.error(`run ${run}/${runs}  ${name.padEnd(12)} wall ${sample.wall.toFixed(3)} s`);
      Deno.removeSync(output);
    }
  }

  const mib = size / 1048576;
  const catWall = median(samples[CAT]!.map((s) => s.wall));
  console.log(
    `\n${mib} MiB through each, ${runs} interleaved runs, medians; ratio = speed / cat's speed\n`,
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
      name,
      wall.toFixed(3),
      (mib / wall).toFixed(0),
      (catWall / wall).toFixed(2),
      transfer === null ? "-" : transfer.toFixed(3),
      transfer === null ? "-" : (mib / transfer).toFixed(0),
      transfer === null ? "-" : (catWall / transfer).toFixed(2),
    ];
    console.log(`| ${cells.join(" | ")} |`);
  }
} finally {
  Deno.removeSync(dir, { recursive: true });
}
