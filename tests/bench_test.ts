/**
 * The benchmark harness works end to end: a tiny --quick run of every lesson in the registry, in both modes,
 * with latency, as JSON, plus the Markdown report and the SVG chart. (Speed is never asserted:
 * the numbers are for reading, not for a test on a shared machine.)
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { lessonNamed, loadChannel } from "../bench/_channels.ts";
import { METHODS } from "../lessons/registry.ts";
import { assertNothingLeftBehind, readUntil, ROOT, testDir, textReader, TMP } from "./_helpers.ts";

Deno.test("bench: a tiny --quick run produces every row, a report and a chart", async () => {
  const out = testDir("bench-out");
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      join(ROOT, "bench/main.ts"),
      "--quick",
      "--size",
      "256K",
      "--iterations",
      "50",
      "--c",
      "off",
      "--json",
      "--out",
      out,
    ],
    env: { TMPDIR: TMP },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  const report = JSON.parse(new TextDecoder().decode(output.stdout));
  for (
    const key of ["cpu", "kernel", "deno", "mqMsgMax", "mqMsgsizeMax", "pipeMaxSize", "loadAverage"]
  ) {
    assert.ok(key in report.machine, `machine.${key}`);
  }
  for (const method of METHODS) {
    // A lesson with no channel between two processes (threads) has file rows only: its demo,
    // and each of its registry variants ("threads --model message").
    const channel = await loadChannel(lessonNamed(method)!);
    const variants = (lessonNamed(method)!.variants ?? []).map((args) =>
      [method, ...args].join(" ")
    );
    const rows = channel === null
      ? [method, ...variants].map((name) => [name, "file"])
      : [[method, "channel"], [method, "file"], ...variants.map((name) => [name, "file"])];
    for (const [name, mode] of rows) {
      const row = report.throughput.find((r: { method: string; mode: string }) =>
        r.method === name && r.mode === mode
      );
      assert.ok(row, `${name} ${mode}`);
      assert.equal(row.bytes, 256 * 1024);
      assert.ok(row.mibPerSecond.median > 0);
      assert.ok(
        row.mibPerSecond.min <= row.mibPerSecond.median &&
          row.mibPerSecond.median <= row.mibPerSecond.max,
      );
      assert.ok(row.peakRssBytes.server > 0 && row.peakRssBytes.client > 0);
    }
    for (const size of channel === null ? [] : [64, 4096]) {
      const row = report.latency.find((r: { method: string; messageSize: number }) =>
        r.method === method && r.messageSize === size
      );
      assert.ok(row, `${method} latency ${size}`);
      assert.ok(
        row.roundTripMicros.median > 0 && row.roundTripMicros.p99 >= row.roundTripMicros.median,
      );
    }
  }
  const mq = report.throughput.find((r: { method: string }) => r.method === "mq");
  assert.equal(mq.chunk, report.machine.mqMsgsizeMax, "mq reports the message size it used");
  assert.match(Deno.readTextFileSync(join(out, "report.md")), /^# IPC benchmark/);
  assert.match(Deno.readTextFileSync(join(out, "chart.svg")), /^<svg /);
  Deno.removeSync(out, { recursive: true });
  assertNothingLeftBehind();
});

Deno.test("bench: a bad option is refused with one line and status 2, before any measuring", async () => {
  const notAFolder = join(testDir("bench-bad-options"), "file");
  Deno.writeTextFileSync(notAFolder, "");
  for (
    const [args, message] of [
      [["--runs", "0"], /^error: --runs must be a whole number from 1 to 1000: got "0"$/m],
      [["--iterations", "1e3"], /^error: --iterations must be a whole number from 10 to /m],
      [["--methods", ","], /^error: --methods names no method$/m],
      [
        ["--c", "/nonexistent/refbench.c"],
        /^error: --c "\/nonexistent\/refbench\.c" is not a file/m,
      ],
      [["--out", notAFolder], /^error: --out ".*file" is not a folder: the report is two files$/m],
      [
        ["--out", `${notAFolder}/report`],
        /^error: --out ".*file\/report": cannot write the report there/m,
      ],
    ] as const
  ) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "-A", join(ROOT, "bench", "main.ts"), ...args],
      env: { NO_COLOR: "1", TMPDIR: TMP },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 2, `${args.join(" ")}: ${stderr}`);
    assert.match(stderr, message);
    assert.doesNotMatch(stderr, /^run \d|^\s+at /m, "measured, or a stack trace");
  }
  Deno.removeSync(join(notAFolder, ".."), { recursive: true });
});

Deno.test("bench:by-hand and bench:faults: --help, and a bad option is one line and status 2", async () => {
  for (
    const [script, args, status, message] of [
      ["by_hand.ts", ["--help"], 0, /^usage: deno task bench:by-hand /m],
      ["by_hand.ts", ["--bogus"], 2, /^error: Unknown option '--bogus'$/m],
      ["by_hand.ts", ["--runs", "x"], 2, /^error: --runs must be a whole number from 1 to 1000/m],
      ["by_hand.ts", ["--dir", "/nonexistent"], 1, /^error: cannot make a folder in --dir /m],
      ["faults.ts", ["--help"], 0, /^usage: deno task bench:faults /m],
      ["faults.ts", ["--bogus"], 2, /^error: Unknown option '--bogus'$/m],
      ["faults.ts", ["--timeout", "abc"], 2, /^error: --timeout must be a number of seconds/m],
    ] as const
  ) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "-A", join(ROOT, "bench", script), ...args],
      env: { NO_COLOR: "1", TMPDIR: TMP },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(status === 0 ? output.stdout : output.stderr);
    assert.equal(output.code, status, `${script} ${args.join(" ")}: ${text}`);
    assert.match(text, message);
    assert.doesNotMatch(text, /^\s+at |Uncaught/m, "a stack trace");
  }
});

Deno.test("bench:by-hand: SIGTERM mid-run ends the running command and removes its files", async () => {
  const dir = testDir("by-hand-sigterm");
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "-A",
      join(ROOT, "bench", "by_hand.ts"),
      "--size",
      "64M",
      "--runs",
      "50",
      "--dir",
      dir,
    ],
    env: { NO_COLOR: "1", TMPDIR: TMP },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = textReader(child.stderr);
  let said = await readUntil(stderr, /run 1\/50 {2}pipe lesson/, 60_000);
  child.kill("SIGTERM");
  for (let r = await stderr.read(); !r.done; r = await stderr.read()) said += r.value;
  const { code } = await child.status;
  assert.equal(code, 143, said);
  assert.match(said, /interrupted by SIGTERM: stopped the runs and removed /);
  assert.deepEqual([...Deno.readDirSync(dir)], [], "its folder is gone");
  // No side of the lesson it was running is left (they were in the command's session).
  const sides = [...Deno.readDirSync("/proc")].filter((entry) => {
    try {
      return Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).includes(dir);
    } catch {
      return false;
    }
  });
  assert.deepEqual(sides.map((entry) => entry.name), [], "processes of the run still there");
  Deno.removeSync(dir, { recursive: true });
});
