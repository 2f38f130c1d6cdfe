/**
 * The threads lesson: byte-exact copies in both models (shared memory, message passing with
 * transfer and with --copy), its bad input (--slots × --chunk bounded), a thread that throws
 * mid-transfer, before the first chunk, at the end marker, as it loads, when given its channel,
 * or never starts (tests/_threads_fault.ts), Ctrl-C, bounded memory in every model, the
 * narration of one process with several threads (ids and kernel names), --trace's sleeps and
 * wake-ups, the ring's spin yielding the CPU (taskset -c 0), --kill-after taking the whole
 * process, its labs' symptoms, and bench:threads' bad options and SIGTERM.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type BadCase, commonBadCases, testBadInputs } from "./_bad_input.ts";
import {
  assertNoStackTrace,
  assertNothingLeftBehind,
  assertOneError,
  filesIn,
  lessonCommand,
  makeInput,
  readUntil,
  ROOT,
  runDemoJson,
  runLesson,
  runWrapped,
  testDir,
  textReader,
  TMP,
} from "./_helpers.ts";
import { testLabs } from "./_labs.ts";
import { STREAM_SIZES, testTransfers } from "./_transfers.ts";

const MiB = 1024 * 1024;
const MESSAGE = ["--model", "message"];
const COPY = ["--model", "message", "--copy"];

testTransfers("threads", [
  ...STREAM_SIZES.map((size) => ({ size })),
  ...[0, 1, 4097].map((size) => ({ size, chunk: 1 })),
  ...[0, 1, 4096, 65537].map((size) => ({ size, chunk: 4096, args: ["--slots", "1"] })),
  ...STREAM_SIZES.map((size) => ({ size, args: MESSAGE })),
  ...[0, 1, 4097].map((size) => ({ size, chunk: 1, args: MESSAGE })),
  ...[0, 1, 65537].map((size) => ({ size, chunk: 4096, args: [...MESSAGE, "--slots", "1"] })),
  ...[0, 1, 65535, 65537, MiB + 13].map((size) => ({ size, args: COPY })),
]);

// By hand, `client` and `server` both start the one process; the common cases try the client.
// These try the server too.
const byHand: BadCase[] = [
  {
    name: "output exists, without --force, by hand (server)",
    args: ["server", "--output", "{dir}/old.bin"],
    status: 1,
    message: /output ".*old\.bin" already exists and was left alone: add --force to replace it/,
    setup: (dir) => Deno.writeTextFileSync(join(dir, "old.bin"), "old"),
  },
  {
    name: "output is a directory, by hand (server)",
    args: ["server", "--output", "{dir}"],
    status: 2,
    message: /output ".*" is a directory: the output may only be/,
  },
];

testBadInputs("threads", [
  ...commonBadCases({ tooLargeChunk: "32M" }),
  ...byHand,
  {
    name: "the server by hand without --output (its client thread needs one)",
    args: ["server"],
    status: 2,
    message: /the server needs --output PATH: its client thread writes that file/,
  },
  { name: "unknown model", args: ["--model", "pipes"], status: 2, message: /--model must be/ },
  {
    // Found by review: an empty value was taken for no experiment at all.
    name: "empty --throw-after",
    args: ["--throw-after="],
    status: 2,
    message: /--throw-after needs ROLE:BYTES, like client:1M/,
  },
  {
    name: "--copy with shared memory",
    args: ["--copy"],
    status: 2,
    message: /--copy is an option of --model message/,
  },
  { name: "no slots", args: ["--slots", "0"], status: 2, message: /--slots must be between 1/ },
  {
    name: "--slots × --chunk above 256 MiB (the ring, or the window's buffers, is memory)",
    args: ["--slots", "1024", "--chunk", "1M"],
    status: 2,
    message:
      /--chunk 1048576 is too large for threads: at most 262144 \(256\.0 KiB\), .*--slots 1024 of them, at most 256\.0 MiB in all/,
  },
  {
    name: "--throw-after with a bad role",
    args: ["--throw-after", "main:1"],
    status: 2,
    message: /--throw-after must be ROLE:BYTES/,
  },
]);

testLabs("threads", {
  "no-sync":
    /SYMPTOM: the checksums differ \(sent \w+, received \w+\): [1-9]\d* of 16384 chunks torn/,
  "lost-wakeup": /SYMPTOM: B slept until its timeout \(2\.0 s, "timed-out"\)/,
  "copy-vs-transfer":
    /SYMPTOM: after the transfer the sender's ArrayBuffer is detached \(byteLength 0\); after the copy it still holds 64\.0 MiB/,
});

for (const [model, args] of Object.entries({ shared: [], message: MESSAGE })) {
  Deno.test(`threads (${model}): one process, two threads, each with its own thread id`, async () => {
    const run = await runLesson("threads", ["--input", "lessons/sample.txt", ...args]);
    assert.equal(run.code, 0, run.stderr);
    const server = run.stderr.match(
      /^server +(\d+) │ I am the server thread.*thread id (\d+) \(gettid\) in process (\d+) \(getpid\)/m,
    );
    const client = run.stderr.match(
      /^client +(\d+) │ I am the client thread.*thread id (\d+) \(gettid\), in the same process (\d+)/m,
    );
    assert.ok(server && client, run.stderr);
    const [, pid, serverTid, serverPid] = server.map(Number);
    const [, clientPid, clientTid, clientProcess] = client.map(Number);
    assert.deepEqual([serverPid, clientPid, clientProcess], [pid, pid, pid], "one process");
    assert.notEqual(serverTid, pid);
    assert.notEqual(clientTid, pid);
    assert.notEqual(serverTid, clientTid, "two threads");
    assert.match(
      run.stderr,
      new RegExp(`/proc/${pid}/task/ lists \\d+ threads of this one process: ${pid} \\(the main`),
    );
    // The kernel's names of the two threads (comm), as `top -H` shows them.
    assert.match(
      run.stderr,
      new RegExp(
        `${serverTid} \\(the server thread, me, named "worker-\\d+"\\), ${clientTid} ` +
          `\\(the client thread, named "worker-\\d+"\\)`,
      ),
    );
  });
}

Deno.test("threads: --trace shows when a thread sleeps on the ring and when it wakes", async () => {
  const run = await runLesson("threads", [
    "--trace",
    "--slots",
    "1",
    "--chunk",
    "4K",
    "--size",
    "256K",
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(
    run.stderr,
    /sleeping in Atomics\.wait on the (free|filled) counter \(a futex wait\)/,
  );
  assert.match(run.stderr, /woke up \(\w+\) after [\d.]+ ms: the peer (freed|filled) a slot/);
  assert.match(run.stderr, /gettid\(\) = \d+/);
  const message = await runLesson("threads", [
    "--trace",
    "--model",
    "message",
    "--slots",
    "1",
    "--chunk",
    "4K",
    "--size",
    "64K",
  ]);
  assert.equal(message.code, 0, message.stderr);
  assert.match(message.stderr, /(the window is full|no message yet): waiting for/);
  assert.match(message.stderr, /woke up after [\d.]+ ms: (an acknowledgement|a message) came/);
});

for (const [model, args] of Object.entries({ shared: [], message: MESSAGE })) {
  for (const role of ["server", "client"]) {
    Deno.test(`threads (${model}): the ${role} thread throws mid-transfer; the other hears of it at once`, async () => {
      const dir = testDir(`threads-throw`);
      const started = performance.now();
      const run = await runLesson("threads", [
        "--size",
        "16M",
        "--output",
        join(dir, "out.bin"),
        "--timeout",
        "60",
        "--throw-after",
        `${role}:2M`,
        ...args,
      ]);
      const seconds = (performance.now() - started) / 1000;
      assert.equal(run.code, 1, run.stderr);
      // The main thread got the Worker's error event; the other thread was told and stopped.
      const peer = role === "server" ? "client" : "server";
      const died = `the ${role} thread died of an exception nobody caught \\(Uncaught Error: ` +
        `--throw-after: the ${role} thread throws after 2097152 bytes\\)`;
      assert.match(run.stderr, new RegExp(`^${role} +\\d+ │ error: ${died}`, "m"));
      assert.match(run.stderr, new RegExp(`^${peer} +\\d+ │ error: ${died}`, "m"));
      assert.match(run.stderr, /byte-exact copy: NO/);
      // The thread says what is coming, and Deno's print of the exception is one line.
      assert.match(run.stderr, /--throw-after: throwing an exception nobody catches/);
      assertOneLineUncaught(run.stderr, role);
      // Within the 2 s of the process lessons, not after the 60 s timeout.
      assert.ok(seconds < 10, `took ${seconds.toFixed(1)} s`);
      assert.deepEqual(filesIn(dir), []);
      Deno.removeSync(dir);
    });
  }
}

// The thread throws at the edges of the copy: before the first chunk (ROLE:0), and after the
// last one, before the end marker (ROLE:SIZE). The other thread stops at once, nothing is left.
for (const [model, args] of Object.entries({ shared: [], message: MESSAGE })) {
  Deno.test(`threads (${model}): a thread that throws before the first chunk or at the end marker`, async () => {
    for (const role of ["server", "client"]) {
      for (const bytes of [0, MiB]) {
        const dir = testDir("threads-throw-edge");
        const started = performance.now();
        const run = await runLesson("threads", [
          "--size",
          "1M",
          "--output",
          join(dir, "out.bin"),
          "--timeout",
          "60",
          "--throw-after",
          `${role}:${bytes}`,
          ...args,
        ]);
        const seconds = (performance.now() - started) / 1000;
        const what = `${role}:${bytes}`;
        assert.equal(run.code, 1, `${what}\n${run.stderr}`);
        const died = `the ${role} thread died of an exception nobody caught \\(Uncaught Error: ` +
          `--throw-after: the ${role} thread throws after ${bytes} bytes\\)`;
        assert.match(run.stderr, new RegExp(`^${role} +\\d+ │ error: ${died}`, "m"), what);
        assertOneLineUncaught(run.stderr, role);
        assert.match(run.stderr, /byte-exact copy: NO/, what);
        assert.ok(seconds < 15, `${what}: took ${seconds.toFixed(1)} s`);
        assert.deepEqual(filesIn(dir), [], what);
        Deno.removeSync(dir);
      }
    }
  });
}

/** A thread of the lesson's process that fails as `fault` says (tests/_threads_fault.ts). */
async function runWithFault(fault: string, args: string[]) {
  const dir = testDir("threads-fault");
  const started = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "-A",
      join(ROOT, "tests", "_threads_fault.ts"),
      "server",
      "--output",
      join(dir, "out.bin"),
      ...args,
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1", THREADS_FAULT: fault },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - started) / 1000;
  const files = filesIn(dir);
  Deno.removeSync(dir, { recursive: true });
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr), seconds, files };
}

// A thread that dies before it has its channel: the other is given no side to run (it used to
// be, and, told of the failure before it listened, waited for its whole --timeout).
for (const model of ["shared", "message"]) {
  Deno.test(`threads (${model}): a thread that throws as it loads fails the process at once`, async () => {
    for (const role of ["server", "client"]) {
      const run = await runWithFault(`load:${role}`, ["--model", model, "--timeout", "30"]);
      assert.equal(run.code, 1, run.stderr);
      assert.match(
        run.stderr,
        new RegExp(
          `^${role} +\\d+ │ error: the ${role} thread died of an exception nobody caught ` +
            `\\(Uncaught \\(in promise\\) Error: the ${role} thread fails as it loads\\)$`,
          "m",
        ),
      );
      assert.doesNotMatch(run.stderr, /I am the (server|client) thread/, "no side ran");
      assert.ok(run.seconds < 15, `took ${run.seconds.toFixed(1)} s`);
      assert.deepEqual(run.files, []);
    }
  });
}

Deno.test("threads (message): a thread that throws when given its channel; the other stops", async () => {
  const inputs = testDir("threads-fault-input");
  const input = makeInput(join(inputs, "in.bin"), 4 * MiB);
  for (const role of ["server", "client"]) {
    const peer = role === "server" ? "client" : "server";
    const run = await runWithFault(`run:${role}`, [
      "--model",
      "message",
      "--timeout",
      "30",
      "--input",
      input,
    ]);
    assert.equal(run.code, 1, run.stderr);
    const died = `the ${role} thread died of an exception nobody caught \\(Uncaught Error: ` +
      `the ${role} thread fails when given its channel\\)`;
    assert.match(run.stderr, new RegExp(`^${peer} +\\d+ │ error: ${died}`, "m"));
    assert.ok(run.seconds < 15, `took ${run.seconds.toFixed(1)} s`);
    assert.deepEqual(run.files, []);
  }
  Deno.removeSync(inputs, { recursive: true });
});

Deno.test("threads: a thread that never says it has started: one line after --timeout", async () => {
  const run = await runWithFault("silent:client", ["--timeout", "1"]);
  assert.equal(run.code, 1, run.stderr);
  const errors = run.stderr.split("\n").filter((line) => /\berror: /.test(line));
  assert.deepEqual(errors.length, 1, run.stderr);
  assert.match(
    errors[0]!,
    /^client +\d+ │ error: the client thread had not started after 1 s \(--timeout\)$/,
  );
  assert.deepEqual(run.files, []);
});

Deno.test("threads: --timeout too short for the threads to start says so (it used to say nothing)", async () => {
  const run = await runLesson("threads", ["--timeout", "0.001"]);
  assert.equal(run.code, 1, run.stderr);
  assert.match(
    run.stderr,
    /error: the (server|client) thread had not started after 0\.001 s \(--timeout\)/,
  );
  assertNoStackTrace(run);
});

// Both threads on one CPU: a waiting thread's spin must give the CPU away (sched_yield), or the
// peer it waits for cannot run until the spin is over, and every wait ends in a sleep (a busy
// spin made 64-byte round trips ~50 µs on the loaded 2-vCPU box, against ~6 µs yielding).
Deno.test("threads: on one CPU, a waiting thread's spin lets the other run (sched_yield)", async () => {
  const output = await new Deno.Command("taskset", {
    args: [
      "-c",
      "0",
      Deno.execPath(),
      "run",
      "--quiet",
      "-A",
      join(ROOT, "lessons", "threads", "main.ts"),
      "--size",
      "4M",
      "--chunk",
      "4K",
      "--slots",
      "1",
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1", TMPDIR: TMP },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  let spins = 0;
  let sleeps = 0;
  for (
    const [, , s, z] of stderr.matchAll(
      /found the ring (full|empty) \d+ times?: (\d+) ended while spinning \(sched_yield between tries\), (\d+) in a sleep/g,
    )
  ) {
    spins += Number(s);
    sleeps += Number(z);
  }
  assert.ok(spins + sleeps > 0, stderr);
  assert.ok(
    spins > sleeps,
    `${spins} waits ended while spinning, ${sleeps} in a sleep:\n${stderr}`,
  );
});

Deno.test("bench:threads: a bad option gives one line and status 2 (it gave a stack trace)", async () => {
  for (
    const [args, message] of [
      [["--bogus"], /^error: Unknown option '--bogus'$/m],
      [["--size", "abc"], /^error: --size must be a whole number of bytes, like 4096 or 64K/m],
      [
        ["--iterations", "0"],
        /^error: --iterations must be a whole number, at least 10: got "0"$/m,
      ],
    ] as const
  ) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "-A", join(ROOT, "bench", "threads.ts"), ...args],
      env: { NO_COLOR: "1", TMPDIR: TMP },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 2, stderr);
    assert.match(stderr, message);
    assert.doesNotMatch(stderr, /^\s+at /m, "a stack trace");
  }
});

Deno.test("bench:threads: SIGTERM during the shm run stops its processes and removes their objects", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "-A",
      join(ROOT, "bench", "threads.ts"),
      "--size",
      "4G",
      "--runs",
      "1",
    ],
    env: { NO_COLOR: "1", TMPDIR: TMP },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = textReader(child.stderr);
  let said = await readUntil(stderr, /^bench:threads: /m, 30_000);
  // The shm run comes first: its two processes are running by now.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const prefix = `ipc-lesson-bench-${child.pid}-threads-`;
  child.kill("SIGTERM");
  for (let r = await stderr.read(); !r.done; r = await stderr.read()) said += r.value;
  const status = await child.status;
  await child.stdout.cancel();
  assert.equal(status.code, 143, said);
  assert.match(said, /interrupted by SIGTERM: stopped the benchmark and removed what it created/);
  const peers = [...Deno.readDirSync("/proc")].filter((entry) => {
    try {
      return /^\d+$/.test(entry.name) &&
        Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).includes(prefix);
    } catch {
      return false;
    }
  });
  assert.deepEqual(peers.map((entry) => entry.name), [], "its measuring processes are gone");
  const objects = [...Deno.readDirSync("/dev/shm")].filter((e) => e.name.includes(prefix));
  assert.deepEqual(objects.map((entry) => entry.name), [], "its shm objects are gone");
});

Deno.test("threads: --kill-after client: the signal takes the whole process, both threads", async () => {
  const dir = testDir("threads-kill");
  const run = await runLesson("threads", [
    "--size",
    "16M",
    "--output",
    join(dir, "out.bin"),
    "--kill-after",
    "client:2M",
  ]);
  assert.equal(run.code, 1, run.stderr);
  const pids = [...run.stderr.matchAll(/^(?:server|client) +(\d+) │/gm)].map((m) => m[1]);
  assert.equal(new Set(pids).size, 1, "both sides speak from one process");
  assertOneError(
    run,
    /the process \(both threads\) was killed by SIGKILL after .*: transfer incomplete/,
  );
  assert.deepEqual(filesIn(dir), []);
  Deno.removeSync(dir);
});

for (const [model, args] of Object.entries({ shared: [], message: MESSAGE })) {
  Deno.test(`threads (${model}): Ctrl-C stops both threads, and leaves nothing`, async (t) => {
    await t.step("the demo", async () => {
      const dir = testDir("threads-ctrl-c");
      const child = lessonCommand("threads", [
        "--size",
        "64M",
        "--chunk",
        "1",
        "--output",
        join(dir, "out.bin"),
        ...args,
      ]).spawn();
      const stderr = textReader(child.stderr);
      let said = await readUntil(stderr, /^client +\d+ │/m, 30_000);
      await new Promise((resolve) => setTimeout(resolve, 500));
      child.kill("SIGINT");
      for (let r = await stderr.read(); !r.done; r = await stderr.read()) said += r.value;
      const status = await child.status;
      await child.stdout.cancel();
      assert.equal(status.code, 130, said);
      assert.match(
        said,
        /^server +\d+ │ interrupted by SIGINT after .*; removed what this server/m,
      );
      assert.match(
        said,
        /^client +\d+ │ interrupted by SIGINT after .*; removed what this client/m,
      );
      assert.match(said, /error: interrupted by SIGINT: stopped both sides/);
      const pid = said.match(/^server +(\d+) │/m)![1];
      assert.equal(isRunning(pid!), false, "the process is gone");
      assert.deepEqual(filesIn(dir), []);
      Deno.removeSync(dir);
    });

    await t.step("by hand: the server process (both threads)", async () => {
      const dir = testDir("threads-ctrl-c-hand");
      const input = makeInput(join(dir, "in.bin"), 8 * MiB);
      const child = lessonCommand("threads", [
        "server",
        "--input",
        input,
        "--output",
        join(dir, "out.bin"),
        "--chunk",
        "1",
        ...args,
      ]).spawn();
      const stderr = textReader(child.stderr);
      let said = await readUntil(stderr, /^client +\d+ │/m, 30_000);
      await new Promise((resolve) => setTimeout(resolve, 500));
      child.kill("SIGINT");
      for (let r = await stderr.read(); !r.done; r = await stderr.read()) said += r.value;
      const status = await child.status;
      await child.stdout.cancel();
      assert.equal(status.code, 130, said);
      assert.match(said, /server .*error: interrupted by SIGINT after .*removed what this server/);
      assert.match(said, /client .*error: interrupted by SIGINT after .*removed what this client/);
      assert.deepEqual(filesIn(dir), ["in.bin"], "no output, partial or unnamed file");
      Deno.removeSync(dir, { recursive: true });
    });
    assertNothingLeftBehind();
  });
}

// --copy allocates a clone per chunk: the allocators' free memory rises by some 25 MiB over the
// first tens of MiB, then stays; so it is compared from 64 MiB on, over 8 times the data. (From
// 64 to 512 MiB it still grew by 25 to 34 MiB here, eight runs: the bound for --copy is 48 MiB;
// a copy held in memory would grow by 448.)
const MEMORY_RUNS = { shared: [1, 128], message: [1, 128], copy: [64, 512] };
for (const [model, args] of Object.entries({ shared: [], message: MESSAGE, copy: COPY })) {
  const [from, to] = MEMORY_RUNS[model as keyof typeof MEMORY_RUNS];
  Deno.test(`threads (${model}): peak memory does not grow with --size`, async () => {
    const small = await runDemoJson("threads", ["--size", `${from}M`, ...args]);
    const large = await runDemoJson("threads", ["--size", `${to}M`, ...args]);
    for (const { run, result } of [small, large]) {
      assert.equal(run.code, 0, run.stderr);
      assert.equal(result.byteExact, true);
    }
    // One process: both threads report the same high-water mark of its memory.
    const a = small.result.server!.peakRssBytes!;
    const b = large.result.server!.peakRssBytes!;
    assert.ok(a > 0 && b > 0);
    assert.ok(
      b - a <= (model === "copy" ? 48 : 32) * MiB,
      `${(a / MiB).toFixed(1)} MiB for ${from} MiB, ${(b / MiB).toFixed(1)} MiB for ${to} MiB`,
    );
  });
}

/**
 * Deno prints a Worker's uncaught exception whatever its parent does; the --throw-after
 * exception has no stack, so the print is one line, and nothing else looks like a stack trace.
 */
function assertOneLineUncaught(stderr: string, role: string): void {
  const uncaught = stderr.split("\n").filter((line) => /│ error: Uncaught \(in worker/.test(line));
  assert.equal(uncaught.length, 1, stderr);
  // Relayed by the demo with the process's pid (one process, the server's), and without Deno's
  // colours (found by review).
  assert.match(
    uncaught[0]!,
    new RegExp(`^server +\\d+ │ error: Uncaught \\(in worker "${role}"\\) Error: --throw-after`),
  );
  assert.equal(stderr.includes("\x1b["), false, "colour codes in a log");
  assert.doesNotMatch(stderr, /^\s*(\S+ +\S+ │)?\s+at /m, "a stack trace was printed");
}

function isRunning(pid: string): boolean {
  try {
    const state = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]![0];
    return state !== "Z";
  } catch {
    return false;
  }
}

// Found by review: the help spoke of two processes and two terminals, and offered --output to
// the client only, though the server (one process, both threads) needs it.
Deno.test("threads: --help describes one process of two threads, whose server takes --output", async () => {
  const run = await runLesson("threads", ["--help"]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /runs the demo: one process, whose server thread copies/);
  assert.doesNotMatch(run.stdout, /two processes|two terminals/);
  assert.match(run.stdout, /^ {2}--output PATH +file the client writes[^\n\[]*$/m);
});

Deno.test("threads: too few open files for two Workers is one line with the limit to raise", async () => {
  // Found by review: at 33 or 34 a Worker's import failed with a stack trace; at 32 Deno panicked.
  for (const args of [[], ["server", "--output", join(TMP, `threads-nofile-${Deno.pid}.out`)]]) {
    const run = await runWrapped(["prlimit", "--nofile=40"], "threads", args);
    assert.equal(run.code, 1, run.stderr);
    assertOneError(
      run,
      /^server +\d+ │ error: two threads need more open files than the limit allows: each Worker is a JavaScript runtime of its own, which opens files to load its modules; raise the limit to 64 or more \(ulimit -n, now 40\)$/m,
    );
    assert.doesNotMatch(run.stderr, /Uncaught|panicked/);
  }
  assertNothingLeftBehind();
});

Deno.test("threads: the demo relays Deno's print of an uncaught exception without its colours", async () => {
  // Found by review: without NO_COLOR, Deno colours it even into a pipe, and the codes reached logs.
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "-A", join(ROOT, "lessons/threads/main.ts"), "--size", "4M"]
      .concat(["--throw-after", "server:1M"]),
    cwd: ROOT,
    clearEnv: true,
    env: { TMPDIR: TMP, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 1, stderr);
  assert.match(
    stderr,
    /^server +\d+ │ error: Uncaught \(in worker "server"\) Error: --throw-after/m,
  );
  assert.equal(stderr.includes("\x1b["), false, "colour codes in a log");
});
