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

Deno.test("bench report: the targets mark what a difference from C decides, and one run is '1 run'", async () => {
  const { markdownReport } = await import("../bench/_report.ts");
  const MiB = 1024 * 1024;
  const row = (method: string, chunk: number, deno: number, c: number) => ({
    method,
    mode: "channel" as const,
    chunk,
    bytes: 16 * MiB,
    runs: 1,
    mibPerSecond: { median: deno, min: deno, max: deno },
    cpuSecondsPerGiB: { server: 1, client: 1 },
    peakRssBytes: { server: 64 * MiB, client: 64 * MiB },
    c: { mibPerSecond: { median: c, min: c, max: c }, chunkUsed: chunk },
  });
  const report = (pin: string) => ({
    date: "2026-12-02T00:00:00Z",
    machine: { cpu: "cpu", cpus: 2, kernel: "6", deno: "2", pin, cReference: "C" },
    settings: { size: 16 * MiB, runs: 1, latencyRuns: 1, iterations: 1000, pin },
    throughput: [
      // C at 8,000 MiB/s with a checksum of 10,000 alone: checked at our cost (30,000), it would
      // have run at about 17,100, and 13,000 is 0.76 of that.
      row("shm", MiB, 13_000, 8_000),
      // Not decided by the checksum: at our cost C would run at about 4,230; 4,250 is 1.00 of that.
      row("tcp", MiB, 4_250, 3_300),
      row("sysv-mq", 8192, 1_300, 800),
      row("unix", MiB, 4_000, 2_000),
      row("pipe", 4096, 1_000, 3_000),
    ],
    latency: [{
      method: "shm",
      messageSize: 64,
      iterations: 1000,
      roundTripMicros: { median: 5, p99: 40 },
      c: { roundTripMicros: { median: 50, p99: 80 } },
    }],
    baseline: {
      memcpyMiBPerSecond: 15_000,
      checksumMiBPerSecond: 30_000,
      c: { memcpy: 15_000, checksum: 10_000 },
    },
  });
  const unpinned = markdownReport(report("none"));
  const cell = (text: string, measure: string) =>
    text.split("\n").find((line) => line.startsWith(`| ${measure} |`))?.split(" | ").at(-1);
  assert.equal(cell(unpinned, "shm channel, 1 MiB"), "not comparable ¹ |");
  assert.equal(cell(unpinned, "tcp channel, 1 MiB"), "met |");
  assert.equal(cell(unpinned, "sysv-mq channel, 8 KiB"), "not comparable ² |");
  assert.equal(cell(unpinned, "unix channel, 1 MiB"), "met ³ |");
  assert.equal(cell(unpinned, "pipe channel, 4 KiB"), "missed |", "a miss stands");
  assert.equal(cell(unpinned, "shm round trip, 64 B"), "not comparable ² |");
  assert.match(unpinned, /^## The lessons and C: alike, and different$/m);
  assert.match(unpinned, /^¹ The receivers check different checksums/m);
  assert.match(unpinned, /1 run of\n1,000 round trips/);
  assert.doesNotMatch(unpinned, /\b1 runs\b/);
  const pinned = markdownReport(report("same"));
  assert.equal(cell(pinned, "sysv-mq channel, 8 KiB"), "met |", "pinned: the waits decide nothing");
  assert.equal(cell(pinned, "shm round trip, 64 B"), "met |");
  assert.equal(cell(pinned, "shm channel, 1 MiB"), "not comparable ¹ |");
});

Deno.test("bench:faults: the table says who noticed: the other side, or the runner, never the victim", async () => {
  const { whoNoticed } = await import("../bench/faults.ts");
  const lines = (...texts: string[]) => texts.map((line, i) => ({ at: i * 10, line }));
  // The client is killed: the unix server notices at once, with EPIPE, before its error line.
  assert.deepEqual(
    whoNoticed(lines(
      "client   16406 │ --kill-after: sending myself SIGKILL after 1.00 MiB",
      "server   16405 │ client #1: it went away before the end: write failed with EPIPE (Broken pipe)",
      "server   16405 │ error: served 1 client: 0 complete; client #1 did not finish",
      "runner   16397 │ byte-exact copy: NO",
    )),
    {
      line:
        "the server: client #1: it went away before the end: write failed with EPIPE (Broken pipe)",
      millis: 10,
    },
  );
  // A step of the other side that is not about the fault does not count.
  assert.equal(
    whoNoticed(lines(
      "client   16456 │ --kill-after: sending myself SIGKILL after 1.00 MiB",
      "server   16455 │ sent 4.00 MiB to the client; shut down my write side (FIN)",
      "server   16455 │ client #1: it went away before the end: read failed with ECONNRESET",
    ))?.millis,
    20,
  );
  // The FIFO's writer is killed: its reader takes it for the end; the runner's check catches it.
  assert.deepEqual(
    whoNoticed(lines(
      "server   16534 │ --kill-after: sending myself SIGKILL after 1.00 MiB",
      "client   16535 │ end-of-file after 1.00 MiB: the writer has closed its end",
      "runner   16526 │ byte-exact copy: NO",
      "runner   16526 │ error: the server was killed by SIGKILL after the copy had reached 1.00 MiB: transfer incomplete",
    )),
    {
      line:
        'the client took it for the end ("end-of-file after 1.00 MiB: the writer has closed its end"); the runner: the server was killed by SIGKILL after the copy had reached 1.00 MiB: transfer incomplete',
      millis: 20,
    },
  );
  // Threads: the client thread is killed, and so is the server thread (one process): the runner.
  const threads = whoNoticed(lines(
    "client   16498 │ --kill-after: sending myself SIGKILL after 1.00 MiB",
    "server   16498 │ I am the server thread",
    "runner   16490 │ byte-exact copy: NO",
    "runner   16490 │ error: the process (both threads) was killed by SIGKILL after 1.00 MiB: transfer incomplete",
  ));
  assert.equal(
    threads?.line,
    "the runner: the process (both threads) was killed by SIGKILL after 1.00 MiB: transfer incomplete",
  );
  assert.doesNotMatch(threads!.line, /client saw|the client:/);
  // An interrupted victim's own line is not the other side noticing.
  assert.equal(
    whoNoticed(lines(
      "server   9416 │ --kill-after: sending myself SIGINT after 1.00 MiB",
      "server   9416 │ interrupted by SIGINT after 1.00 MiB",
      "client   9417 │ error: the server exited after 1.00 MiB without saying that was all",
    ))?.line,
    "the client: the server exited after 1.00 MiB without saying that was all",
  );
});

Deno.test("bench, bench:by-hand: relative --out, --c and --dir are taken from where the command was typed", async () => {
  // Found by review: from a sub-folder, the report landed in the project's folder, and an
  // existing --dir or --c was not found. deno task says in INIT_CWD where the user typed.
  const typed = testDir("bench-typed");
  Deno.mkdirSync(join(typed, "work"));
  const bench = (script: string, args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "-A", join(ROOT, "bench", script), ...args],
      cwd: ROOT,
      env: { NO_COLOR: "1", TMPDIR: TMP, INIT_CWD: typed },
      stdout: "piped",
      stderr: "piped",
    }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

  const missing = await bench("main.ts", ["--quick", "--methods", "pipe", "--c", "ref.c"]);
  assert.equal(missing.code, 2, decode(missing.stderr));
  assert.match(
    decode(missing.stderr),
    new RegExp(`^error: --c "${typed}/ref\\.c" is not a file`, "m"),
  );

  const quick = ["--quick", "--methods", "pipe", "--size", "64K", "--iterations", "10"];
  const report = await bench("main.ts", [...quick, "--c", "off", "--out", "results"]);
  assert.equal(report.code, 0, decode(report.stderr));
  assert.ok(Deno.statSync(join(typed, "results", "report.md")).isFile);
  assert.ok(Deno.statSync(join(typed, "results", "chart.svg")).isFile);

  const byHand = await bench("by_hand.ts", ["--size", "256K", "--runs", "1", "--dir", "work"]);
  assert.equal(byHand.code, 0, decode(byHand.stderr));
  assert.deepEqual([...Deno.readDirSync(join(typed, "work"))], [], "its files are gone");
  Deno.removeSync(typed, { recursive: true });
  assertNothingLeftBehind();
});
