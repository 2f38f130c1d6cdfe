/**
 * The demo runner under attack (issue 10, sections 2, 4 and 5): killed with SIGKILL in the
 * middle of a transfer, interrupted while it verifies, asked for more random bytes than the
 * disk holds, run twice on the same names, given values that start with a dash, and sent
 * SIGHUP. The input is never waited for when it is not a regular file.
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { LESSONS, METHODS } from "../lessons/registry.ts";
import { isRunning } from "../transports/holders.ts";
import { bindAbstractLock, close } from "../transports/libc.ts";
import {
  assertNoStackTrace,
  assertNothingLeftBehind,
  assertOneError,
  assertSameFile,
  collect,
  entry,
  filesIn,
  lessonCommand,
  makeInput,
  readUntil,
  ROOT,
  type Run,
  runLesson,
  runWrapped,
  testDir,
  textReader,
  TMP,
} from "./_helpers.ts";

/** The pids of the sides named in what a run said. */
function sidePids(said: string): number[] {
  return [...new Set([...said.matchAll(/^(?:server|client) +(\d+) │/gm)].map((m) => Number(m[1])))];
}

/** Waits until none of `pids` runs any more; returns those still running after `ms`. */
async function waitUntilGone(pids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  while (pids.some(isRunning) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return pids.filter(isRunning);
}

/** Reads the rest of a stream to the end. */
async function readRest(reader: ReadableStreamDefaultReader<string>): Promise<string> {
  let rest = "";
  for (let r = await reader.read(); !r.done; r = await reader.read()) rest += r.value;
  return rest;
}

/** Waits until process `pid` has written `bytes` (its `wchar` in /proc/PID/io), or `ms` pass. */
async function untilWritten(pid: number, bytes: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    let written = 0;
    try {
      written = Number(Deno.readTextFileSync(`/proc/${pid}/io`).match(/^wchar: (\d+)$/m)?.[1]);
    } catch {
      return; // gone already: the counts must agree all the same
    }
    if (written >= bytes || Date.now() > deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The lines of the runner that say a side started: the transfer is under way after them. */
const STARTED = /started the (client|server) as (my child, )?process \d+/;

for (const method of METHODS) {
  Deno.test(`${method}: the runner killed with SIGKILL leaves nothing; its sides clean up and go`, async () => {
    const dir = testDir(`${method}-runner-killed`);
    const output = join(dir, "output.bin");
    // One byte at a time: 64 MiB would take many minutes, so the copy is surely under way.
    const child = lessonCommand(method, ["--size", "64M", "--chunk", "1", "--output", output])
      .spawn();
    const stderr = textReader(child.stderr);
    let said = await readUntil(stderr, /^client +\d+ │/m, 30_000);
    if (!/^server +\d+ │/m.test(said)) said += await readUntil(stderr, /^server +\d+ │/m);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    child.kill("SIGKILL");
    said += await readRest(stderr);
    assert.equal((await child.status).signal, "SIGKILL");
    await child.stdout.cancel();

    // The kernel sent each side SIGTERM (PR_SET_PDEATHSIG): they remove what they made, and go.
    const pids = sidePids(said);
    // Two processes, or one whose threads are the two sides.
    const threads = LESSONS.find((lesson) => lesson.method === method)?.sides === "threads";
    assert.ok(pids.length >= (threads ? 1 : 2), said);
    assert.deepEqual(await waitUntilGone(pids, 15_000), [], `sides still running\n${said}`);
    assert.deepEqual(filesIn(dir), [], "no output, partial or temporary file");
    Deno.removeSync(dir);
    assertNothingLeftBehind();
  });
}

Deno.test("pipe: Ctrl-C while the runner checks the copy stops it with 130; the output is not placed", async () => {
  const dir = testDir("interrupt-verify");
  // A sparse file: 1 GiB of zeros that costs no disk, and takes a while to hash.
  const input = join(dir, "big.bin");
  Deno.writeFileSync(input, new Uint8Array(0));
  Deno.truncateSync(input, 1024 ** 3);
  const output = join(dir, "output.bin");
  const child = lessonCommand("pipe", ["--input", input, "--output", output, "--chunk", "1M"])
    .spawn();
  const stderr = textReader(child.stderr);
  let said = await readUntil(stderr, "checking the copy", 120_000);
  child.kill("SIGINT");
  said += await readRest(stderr);
  const status = await child.status;
  await child.stdout.cancel();
  const run: Run = { code: status.code, signal: status.signal, stdout: "", stderr: said };
  assert.equal(status.code, 130, said);
  assertOneError(
    run,
    /interrupted by SIGINT while checking the copy: the copy was discarded, and ".*output\.bin" was not written/,
  );
  assert.doesNotMatch(said, /byte-exact copy/);
  assert.deepEqual(filesIn(dir), ["big.bin"]);
  Deno.removeSync(dir, { recursive: true });
  assertNothingLeftBehind();
});

Deno.test("demo: more random input than the disk holds is refused at once, with one line", async () => {
  const dir = testDir("huge-size");
  const started = performance.now();
  const run = await runLesson("fifo", ["--size", "8388607G", "--output", join(dir, "out.bin")]);
  assert.equal(run.code, 1, run.stderr);
  assertOneError(
    run,
    /not enough space for the random input and the copy .*: the file system of .* has .* free/,
  );
  assert.equal(run.stderr.trim().split("\n").length, 1, "nothing was started or written");
  assert.ok(performance.now() - started < 10_000, "refused before writing");
  assert.deepEqual(filesIn(dir), []);
  Deno.removeSync(dir);
});

Deno.test("demo: writing the random input can be interrupted", async () => {
  const dir = testDir("interrupt-random");
  // 8 GiB: it fits on the disk (with its copy), and takes far longer than the test waits.
  const child = lessonCommand("pipe", ["--size", "8G", "--output", join(dir, "out.bin")]).spawn();
  const stderr = textReader(child.stderr);
  let said = await readUntil(stderr, /writing 8\.00 GiB of random bytes/, 30_000);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const signalled = performance.now();
  child.kill("SIGINT");
  said += await readRest(stderr);
  const status = await child.status;
  await child.stdout.cancel();
  assert.equal(status.code, 130, said);
  assert.ok(performance.now() - signalled < 10_000, "stopped soon after Ctrl-C");
  assertOneError(
    { code: status.code, signal: null, stdout: "", stderr: said },
    /interrupted by SIGINT while writing the random input: nothing was started, nothing is left/,
  );
  assert.doesNotMatch(said, STARTED);
  assert.deepEqual(filesIn(dir), []);
  Deno.removeSync(dir);
});

Deno.test("input: a FIFO with no writer is refused at once, never waited for", async () => {
  const dir = testDir("input-fifo");
  const fifo = join(dir, "input.fifo");
  new Deno.Command("mkfifo", { args: ["-m", "600", fifo] }).outputSync();
  // In a child process, so that a regression (an open that blocks) cannot hang the suite.
  const code = `
    import { InputFile } from ${JSON.stringify(join(ROOT, "transports", "files.ts"))};
    try { new InputFile(Deno.args[0]); console.log("opened"); }
    catch (error) { console.log(error.name + ": " + error.message); }`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", code, fifo],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  const output = await child.output();
  clearTimeout(timer);
  assert.equal(output.signal, null, "the open of a FIFO with no writer did not return");
  assert.match(
    new TextDecoder().decode(output.stdout),
    /FileError: cannot open input ".*input\.fifo": it is a FIFO, not a regular file/,
  );
  for (const method of METHODS) {
    for (const args of [["server", "--input", fifo], ["--input", fifo]]) {
      const run = await runLesson(method, [...args, "--timeout", "60"]);
      assert.equal(run.code, 1, run.stderr);
      assertOneError(run, /cannot open input ".*input\.fifo": it is a FIFO, not a regular file/);
    }
  }
  assert.equal(Deno.lstatSync(fifo).isFifo, true);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("input: a file written to during the copy is named as the cause, not the channel", async () => {
  const dir = testDir("input-changes");
  const input = makeInput(join(dir, "input.bin"), 128 * 1024 * 1024);
  const output = join(dir, "copy.bin");
  const child = lessonCommand("fifo", ["--input", input, "--output", output, "--chunk", "256"])
    .spawn();
  const stderr = textReader(child.stderr);
  let said = await readUntil(stderr, "a writer has connected", 60_000);
  // Someone writes to the input while the server reads it: the copy cannot match what is there.
  const file = Deno.openSync(input, { write: true });
  file.writeSync(new Uint8Array(4096).fill(0x55));
  file.close();
  for (let r = await stderr.read(); !r.done; r = await stderr.read()) said += r.value;
  await child.stdout.cancel();
  const { code } = await child.status;
  assert.equal(code, 1, said);
  assert.match(
    said,
    /error: the input ".*input\.bin" changed while it was being copied: the copy cannot be checked against it/,
  );
  assert.doesNotMatch(said, /the copy is not byte-exact/);
  assert.deepEqual(filesIn(dir), ["input.bin"], "no copy is named");
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("demo: an input the kernel makes as it is read (/proc) is named as why the copy differs", async () => {
  // /proc/self/status is the status of whoever reads it, at that moment: the server's read and
  // the runner's check differ. stat gives its size as 0.
  const run = await runLesson("fifo", ["--input", "/proc/self/status"]);
  assert.equal(run.code, 1, run.stderr);
  assertOneError(
    run,
    /error: the input "\/proc\/self\/status" is made by the kernel each time it is read \(stat gives its size as 0\)/,
  );
  assert.doesNotMatch(run.stderr, /differs from the input/);
});

Deno.test("demo: a client stopped (SIGSTOP) after its server exited is stopped within the grace period", async () => {
  // The unix server gives up on a client that takes nothing for --timeout, and exits. The
  // stopped client cannot finish: the runner stops it after the grace period (2 s), instead of
  // waiting out the timeout a second time (it did: 6 s more, then 2).
  const child = lessonCommand("unix", [
    ...["--size", "8M", "--timeout", "6"],
    ...["--kill-after", "client:1M:STOP"],
  ]).spawn();
  const stderr = textReader(child.stderr);
  let said = await readUntil(stderr, /^server +\d+ │ error: served 1 client: 0 complete/m, 60_000);
  const serverGaveUp = performance.now();
  const stopping =
    /^runner +\d+ │ (stopping the client: the server has failed|error: the client is stopped \(SIGSTOP\) and the server has exited: it cannot finish; stopping it)$/m;
  said += await readUntil(stderr, stopping);
  const waited = (performance.now() - serverGaveUp) / 1000;
  said += await readRest(stderr);
  await child.stdout.cancel();
  assert.equal((await child.status).code, 1, said);
  // (Once continued, the client may still say what it found before SIGTERM ends it.)
  assert.doesNotMatch(said, /Uncaught| {4}at /);
  assert.ok(waited < 5, `the runner waited ${waited.toFixed(1)} s after the server gave up`);
  assertNothingLeftBehind();
});

Deno.test("demo: a server interrupted mid-transfer never counts less than its client received", async (t) => {
  // Each send that went through is counted, even when Ctrl-C arrives while it is under way:
  // the client can never have received more than the server says it sent.
  for (const method of ["fifo", "mq", "sysv-mq", "unix"]) {
    await t.step(method, async () => {
      const child = lessonCommand(method, ["--size", "128M", "--chunk", "64"]).spawn();
      const stderr = textReader(child.stderr);
      let said = await readUntil(stderr, /started the client as process \d+/, 60_000);
      const server = Number(said.match(/started the server as process (\d+)/)![1]);
      const client = Number(said.match(/started the client as process (\d+)/)![1]);
      // Once the client has written 1 MiB of its copy, a transfer of several seconds (64 bytes
      // at a time) is surely under way: a fixed delay was once too late on a busy machine.
      await untilWritten(client, 1024 * 1024, 60_000);
      try {
        Deno.kill(server, "SIGINT");
      } catch { /* finished already: the counts must agree all the same */ }
      for (let r = await stderr.read(); !r.done; r = await stderr.read()) said += r.value;
      await child.stdout.cancel();
      await child.status;
      const count = (who: string) =>
        Number(said.match(new RegExp(`the ${who} (?:sent|received) .*?\\((\\d+) bytes\\)`))?.[1]);
      const [sent, received] = [count("server"), count("client")];
      assert.ok(Number.isInteger(sent) && Number.isInteger(received), said);
      assert.ok(received <= sent, `the client received ${received}, the server sent ${sent}`);
      assert.ok(sent < 128 * 1024 * 1024, `interrupted too late to show anything:\n${said}`);
    });
  }
});

Deno.test("--kill-after: BYTES 0 is before the first byte; a side killed after its part says so", async () => {
  const before = await runLesson("fifo", ["--kill-after", "server:0"]);
  assert.equal(before.code, 1, before.stderr);
  assert.match(before.stderr, /--kill-after: sending myself SIGKILL after 0 bytes/);
  assert.match(before.stderr, /byte-exact copy: NO/);
  // The sample's one chunk is 1.39 KiB: the server dies having sent it all.
  const after = await runLesson("fifo", ["--kill-after", "server:1K"]);
  assert.equal(after.code, 1, after.stderr);
  assert.match(after.stderr, /byte-exact copy: yes/);
  assertOneError(
    after,
    /error: the copy is byte-exact, but the server was killed by SIGKILL before it exited$/m,
  );
});

Deno.test("demo: a stderr that refuses writes (2>/dev/full) ends nothing early and leaves nothing", async () => {
  // The narration has nowhere to go; the copy is made, checked and cleaned up all the same.
  // (A closed terminal is the same, with EIO and then SIGHUP: status 129, nothing left.)
  for (const method of ["fifo", "shm", "sysv-shm", "unix"]) {
    const run = await runWrapped(
      ["sh", "-c", 'exec "$@" 2>/dev/full', "sh"],
      method,
      ["--size", "1M"],
    );
    assert.equal(run.code, 0, `${method}: ${run.stdout}${run.stderr}`);
    assertNothingLeftBehind();
  }
});

Deno.test("a TMPDIR that is no folder is one line naming it, for the demo, a side and a lab", async () => {
  const file = join(testDir("tmpdir-file"), "a-file");
  Deno.writeTextFileSync(file, "");
  const cases: [string, string][] = [
    ["/nonexistent", "cannot be used: no such folder"],
    [file, "is not a folder"],
  ];
  const runs: [string[], string][] = [[[], "runner"], [["server"], "server"], [
    ["--break", "no-reader"],
    "lab",
  ]];
  for (const [tmp, why] of cases) {
    for (const [args, who] of runs) {
      const run = await runLesson("fifo", args, { env: { TMPDIR: tmp } });
      assert.equal(run.code, 1, run.stderr);
      assertOneError(
        run,
        new RegExp(`^${who} +\\d+ │ error: the temporary folder ".*" \\(TMPDIR\\) ${why}$`),
      );
    }
  }
  Deno.removeSync(join(file, ".."), { recursive: true });
});

Deno.test("demo: a side whose Deno panics is said to have crashed in Deno, with the cause", async () => {
  // As the threads lesson did under ulimit -n 32 (before it checked the limit): Deno panicked in
  // a Worker, and the side said nothing of its own.
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "-A", join(ROOT, "tests/_panicking_lesson.ts")],
    env: { TMPDIR: TMP, NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const run = collect(output);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /^server +\d+ │ thread 'worker-2' \(6353\) panicked at /m);
  // The runner stops the client, which says so; the runner's one error line says why.
  assert.doesNotMatch(run.stderr, /unexpected error|^\s+at /m);
  assert.equal(run.stderr.match(/ error: /g)?.length, 1, run.stderr);
  assert.match(run.stderr, /^client +\d+ │ interrupted by SIGTERM after 0 bytes; removed what/m);
  assert.match(
    run.stderr,
    /^runner +\d+ │ error: the server crashed inside Deno itself \(a panic, not an error of the lesson\): called `Result::unwrap\(\)` on an `Err` value: Os \{ code: 24, .*"Too many open files" \}: raise the limit of open files \(ulimit -n, now \d+\)$/m,
  );
  assert.match(run.stderr, /^runner +\d+ │ stopping the client: the server has failed$/m);
  assertNothingLeftBehind();
});

Deno.test("a TMPDIR that is not valid UTF-8 is one line naming it: demo, side, lab, clean", async () => {
  // Deno cannot read such a variable at all: every program says so, and creates nothing.
  const dir = testDir("tmpdir-bytes");
  const runs: [string[], string][] = [
    [[entry("fifo")], "runner +\\d+ │ error: "],
    [[entry("fifo"), "server"], "server +\\d+ │ error: "],
    [[entry("fifo"), "--break", "no-reader"], "lab +\\d+ │ error: "],
    [[join(ROOT, "lessons/clean.ts"), "--dry-run"], "error: "],
  ];
  for (const [args, who] of runs) {
    const output = await new Deno.Command("sh", {
      args: [
        "-c",
        `TMPDIR="$(printf '%s/\\377' "$1")" && export TMPDIR && shift && exec "$@"`,
        "sh",
        dir,
        Deno.execPath(),
        "run",
        "--quiet",
        "-A",
        ...args,
      ],
      env: { NO_COLOR: "1" },
      stdin: "null",
    }).output();
    const run = collect(output);
    assert.equal(run.code, 1, run.stderr);
    assertOneError(
      run,
      new RegExp(
        `^${who}the temporary folder TMPDIR is not valid UTF-8 \\(Deno cannot pass on its ` +
          "bytes as they are\\): set TMPDIR to another folder, or unset it$",
      ),
    );
  }
  assert.deepEqual(filesIn(dir), []);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("demo: too few open files to start a side is said with the limit to raise", async () => {
  // 28: enough for Deno and the runner's files, too few to start a side (about 26 to 32 here).
  const run = await runWrapped(["prlimit", "--nofile=28"], "fifo", []);
  assert.equal(run.code, 1, run.stderr);
  assertOneError(
    run,
    /Too many open files \(os error 24\): raise the limit of open files \(ulimit -n, now 28\)$/,
  );
  assert.doesNotMatch(run.stderr, /unexpected error/);
});

Deno.test("ulimit -f: a write past the file-size limit is one line naming it, and nothing is left", async (t) => {
  // The kernel's SIGXFSZ would kill at once, silently (status 153), leaving the segment.
  const limited = ["prlimit", "--fsize=1048576"];
  await t.step("the shm server by hand: its segment is larger than the limit", async () => {
    const name = `/ipc-lesson-shm-${Deno.pid}-fsize`;
    const run = await runWrapped(limited, "shm", ["server", "--name", name, "--timeout", "1"]);
    assert.equal(run.code, 1, run.stderr);
    assertOneError(
      run,
      /^server +\d+ │ error: ftruncate failed: EFBIG \(File too large\): past the file-size limit \(ulimit -f, now 1\.00 MiB\)$/m,
    );
    assertNothingLeftBehind();
  });
  await t.step("the demo's random input", async () => {
    const run = await runWrapped(limited, "pipe", ["--size", "4M"]);
    assert.equal(run.code, 1, run.stderr);
    assertOneError(
      run,
      /^runner +\d+ │ error: cannot write the random input: file too large: past the file-size limit \(ulimit -f, now 1\.00 MiB\)$/m,
    );
    assert.doesNotMatch(run.stderr, STARTED);
    assertNothingLeftBehind();
  });
});

Deno.test("demo: two demos on the same names: the second is refused, the first succeeds", async (t) => {
  const dir = testDir("same-names");
  const input = makeInput(join(dir, "input.bin"), 8 * 1024 * 1024, 11);
  const cases: Record<string, string[]> = {
    fifo: ["--path", join(dir, "shared.fifo"), "--chunk", "16"],
    mq: ["--name", `/ipc-lesson-mq-${Deno.pid}-shared`, "--chunk", "16"],
    shm: ["--name", `/ipc-lesson-shm-${Deno.pid}-shared`, "--chunk", "16"],
    "pipe (the same output)": ["--chunk", "16"],
    // System V names its objects by a key, given or made by ftok from a path: the line names both.
    "sysv-mq (by --key)": [
      "--key",
      `0x4c${(Deno.pid % 0xffffff).toString(16).padStart(6, "0")}`,
      "--chunk",
      "16",
    ],
    "sysv-shm (by --path)": ["--path", input, "--proj", "77", "--chunk", "16"],
  };

  for (const [name, args] of Object.entries(cases)) {
    await t.step(name, async () => {
      const method = name.split(" ")[0]!;
      const first = join(dir, `first-${method}.bin`);
      const second = name.startsWith("pipe") ? first : join(dir, `second-${method}.bin`);
      const a = lessonCommand(method, ["--input", input, "--output", first, "--force", ...args])
        .spawn();
      const stderr = textReader(a.stderr);
      const said = await readUntil(stderr, /^client +\d+ │/m, 30_000);
      const b = await runLesson(method, ["--input", input, "--output", second, "--force", ...args]);
      assert.equal(b.code, 1, b.stderr);
      assertOneError(
        b,
        /is in use by another demo that is running now|already exist|another demo is writing the output/,
      );
      assert.equal(b.stderr.trim().split("\n").length, 1, b.stderr);
      const rest = await readRest(stderr);
      assert.equal((await a.status).code, 0, said + rest);
      await a.stdout.cancel();
      assert.match(rest, /byte-exact copy: yes/);
      assertSameFile(first, input);
      if (second !== first) assert.equal(filesIn(dir).includes(`second-${method}.bin`), false);
    });
  }
  Deno.removeSync(dir, { recursive: true });
  assertNothingLeftBehind();
});

Deno.test("demo: a name another demo has locked is refused, naming the options that name it", async () => {
  // Another demo's lock, taken just before this one's objects appear: held here instead.
  const key = `0x4c${(Deno.pid % 0xffffff).toString(16).padStart(6, "0")}`;
  const cases: [string, string[], string, RegExp][] = [
    [
      "fifo",
      ["--path", "/tmp/ipc-lesson-locked.fifo"],
      "the FIFO /tmp/ipc-lesson-locked.fifo",
      /choose another --path$/,
    ],
    [
      "sysv-mq",
      ["--key", key],
      `the System V message queue with key ${key}`,
      /choose another --path or --key$/,
    ],
    ["sysv-shm", ["--key", key], `the System V segment ${key}`, /choose another --key or --path$/],
  ];
  for (const [method, args, description, choose] of cases) {
    const lock = bindAbstractLock(`ipc-lesson-demo ${description}`);
    assert.notEqual(lock, null);
    try {
      const run = await runLesson(method, args);
      assert.equal(run.code, 1, run.stderr);
      assertOneError(run, /is in use by another demo that is running now: wait for it to finish/);
      assert.match(run.stderr.trim(), choose);
    } finally {
      close(lock!);
    }
  }
  assertNothingLeftBehind();
});

Deno.test("demo: values starting with a dash reach the sides intact", async () => {
  const dir = testDir("dash-values");
  makeInput(join(dir, "-dash.txt"), 100_000, 4);
  for (const method of METHODS) {
    for (
      const args of [
        ["--input=-dash.txt", `--output=-copy-${method}-1.bin`],
        ["--input", "-dash.txt", "--output", `-copy-${method}-2.bin`],
      ]
    ) {
      const run = await runLesson(method, ["--quiet", ...args], { cwd: dir });
      assert.equal(run.code, 0, run.stderr);
      assertNoStackTrace(run);
    }
    assertSameFile(join(dir, `-copy-${method}-1.bin`), join(dir, "-dash.txt"));
    assertSameFile(join(dir, `-copy-${method}-2.bin`), join(dir, "-dash.txt"));
  }
  // By hand too: the FIFO's path may start with a dash.
  const server = runLesson("fifo", ["server", "--path", "-lab.fifo", "--input", "-dash.txt"], {
    cwd: dir,
  });
  const client = await runLesson(
    "fifo",
    ["client", "--path", "-lab.fifo", "--output", "-hand.bin"],
    {
      cwd: dir,
    },
  );
  assert.equal(client.code, 0, client.stderr);
  assert.equal((await server).code, 0);
  assertSameFile(join(dir, "-hand.bin"), join(dir, "-dash.txt"));
  Deno.removeSync(dir, { recursive: true });
  assertNothingLeftBehind();
});

Deno.test("demo: the sides accept a --timeout in the runner's smallest form", async () => {
  // The round trip of every value is in lessons/_cli_test.ts; here, for real: the sides start,
  // and fail only for lack of time, never on the value.
  const run = await runLesson("fifo", ["--timeout", "0.0000001", "--quiet"]);
  assert.doesNotMatch(run.stderr, /--timeout must be|see --help/);
  assert.ok(run.code === 0 || run.code === 1, run.stderr);
  assertNothingLeftBehind();
});

Deno.test("SIGHUP: the runner and a side by hand exit with 129 and one line", async (t) => {
  await t.step("the runner", async () => {
    const dir = testDir("sighup-runner");
    const child = lessonCommand("fifo", [
      "--size",
      "64M",
      "--chunk",
      "1",
      "--output",
      join(dir, "out.bin"),
    ]).spawn();
    const stderr = textReader(child.stderr);
    let said = await readUntil(stderr, /^client +\d+ │/m, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    child.kill("SIGHUP");
    said += await readRest(stderr);
    const status = await child.status;
    await child.stdout.cancel();
    assert.equal(status.code, 129, said);
    assertOneError(
      { code: 129, signal: null, stdout: "", stderr: said },
      /^runner .*error: interrupted by SIGHUP: stopped both sides and removed what they created$/,
    );
    assert.deepEqual(await waitUntilGone(sidePids(said), 10_000), []);
    assert.deepEqual(filesIn(dir), []);
    Deno.removeSync(dir);
  });
  // Each side waits for a peer that never comes, until SIGHUP (as when its terminal closes).
  const waiting: Record<string, (dir: string) => string[]> = {
    "a fifo server": (dir) => ["fifo", "server", "--path", join(dir, "hup.fifo")],
    "a fifo client": (dir) => [
      "fifo",
      "client",
      "--path",
      join(dir, "hup.fifo"),
      "--output",
      join(dir, "out.bin"),
    ],
    "an mq server": () => ["mq", "server", "--name", `/ipc-lesson-mq-${Deno.pid}-hup`],
    "an shm server": () => ["shm", "server", "--name", `/ipc-lesson-shm-${Deno.pid}-hup`],
  };
  for (const [name, command] of Object.entries(waiting)) {
    await t.step(`${name} by hand`, async () => {
      const dir = testDir("sighup-side");
      const [method, role, ...args] = command(dir);
      const child = lessonCommand(method!, [role!, "--timeout", "60", ...args]).spawn();
      const stderr = textReader(child.stderr);
      let said = await readUntil(stderr, /waiting/, 30_000);
      child.kill("SIGHUP");
      said += await readRest(stderr);
      const status = await child.status;
      await child.stdout.cancel();
      assert.equal(status.code, 129, said);
      assertOneError(
        { code: 129, signal: null, stdout: "", stderr: said },
        new RegExp(
          `^${role} .*error: interrupted by SIGHUP after .*; removed what this ${role} created$`,
        ),
      );
      assert.deepEqual(filesIn(dir), []);
      Deno.removeSync(dir);
    });
  }
  assertNothingLeftBehind();
});

Deno.test("deno task lesson:… typed in another folder: relative paths are from there, as typed", async () => {
  // deno task runs the lesson in the project's folder and says in INIT_CWD where it was typed:
  // a relative --input or --output means the student's folder (as for clean and grade).
  const dir = testDir("typed-elsewhere");
  Deno.copyFileSync(join(ROOT, "lessons/sample.txt"), join(dir, "mine.txt"));
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      ...["task", "--quiet", "--config", join(ROOT, "deno.json"), "lesson:fifo"],
      ...["--input", "mine.txt", "--output", "copy.txt", "--quiet"],
    ],
    cwd: dir,
    // As typed in a shell: no INIT_CWD yet (deno task keeps one it inherits).
    clearEnv: true,
    env: { NO_COLOR: "1", PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", TMPDIR: TMP },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  assert.match(stderr, /byte-exact copy: yes/);
  assertSameFile(join(dir, "copy.txt"), join(dir, "mine.txt"));
  assert.deepEqual(filesIn(dir), ["copy.txt", "mine.txt"]);
  assert.equal(existsSync(join(ROOT, "copy.txt")), false, "nothing in the project's folder");
  Deno.removeSync(dir, { recursive: true });
});
