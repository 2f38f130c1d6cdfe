/**
 * The shared-memory lesson: the transports (SharedMemory, Semaphore), byte-exact copies through
 * rings of several shapes, the by-hand mode in both start orders, bad input, names that are
 * taken, peers that never come, hang or die, and its break-it labs. Nothing may be left in
 * /dev/shm.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { LibcError, traceCalls } from "../transports/libc.ts";
import { Semaphore, semaphorePath } from "../transports/semaphore.ts";
import { SharedMemory, shmPath } from "../transports/shm.ts";
import { ringNames } from "../transports/ring_buffer.ts";
import { commonBadCases, testBadInputs } from "./_bad_input.ts";
import { testLabs } from "./_labs.ts";
import {
  assertNoStackTrace,
  assertNothingLeftBehind,
  assertOneError,
  assertSameFile,
  filesIn,
  finishSide,
  lessonCommand,
  makeInput,
  readUntil,
  ROOT,
  runDemoJson,
  runLesson,
  startSide,
  testDir,
} from "./_helpers.ts";
import { testTransfers, type TransferCase } from "./_transfers.ts";
import { pathExists } from "../transports/files.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

/** A name no other test uses, without a pid in it (so `deno task clean` sees it as stale). */
function testName(what: string): string {
  return `/ipc-lesson-shm-test-${what}-${crypto.randomUUID().slice(0, 8)}`;
}

/** The three files of a ring in /dev/shm. */
function ringPaths(name: string): string[] {
  const names = ringNames(name);
  return [shmPath(names.segment), semaphorePath(names.free), semaphorePath(names.filled)];
}

// ---------------------------------------------------------------------------------------------
// The transports, in one process
// ---------------------------------------------------------------------------------------------

Deno.test("SharedMemory: two mappings of one object share their bytes", () => {
  const name = testName("map");
  {
    using created = SharedMemory.create(name, 10_000);
    assert.equal(created.created, true);
    assert.equal(created.size, 10_000);
    const info = Deno.statSync(shmPath(name));
    assert.equal(info.size, 10_000, "ftruncate gave it its size");
    assert.equal(info.mode! & 0o777, 0o600);
    assert.deepEqual([...created.bytes.subarray(0, 4)], [0, 0, 0, 0], "a new object is zeroed");

    using opened = SharedMemory.open(name);
    assert.equal(opened.created, false);
    assert.equal(opened.size, 10_000);
    assert.notEqual(opened.address, created.address, "two mappings, two addresses");
    created.bytes.set([1, 2, 3], 9_000);
    assert.deepEqual([...opened.bytes.subarray(9_000, 9_003)], [1, 2, 3]);

    // O_EXCL: a second create fails and leaves the object as it was.
    assert.throws(
      () => SharedMemory.create(name, 64),
      (error) => error instanceof LibcError && error.code === "EEXIST",
    );
    assert.equal(Deno.statSync(shmPath(name)).size, 10_000);
    assert.equal(opened.bytes[9_000], 1);

    opened.close();
    opened.close(); // closing twice is harmless
    assert.throws(() => opened.bytes, Deno.errors.BadResource);
    // The opener does not remove the name; the creator does, at the end of the block.
    opened[Symbol.dispose]();
    assert.equal(pathExists(shmPath(name)), true);
  }
  assert.equal(pathExists(shmPath(name)), false);
  assert.throws(
    () => SharedMemory.open(name),
    (error) => error instanceof LibcError && error.code === "ENOENT",
  );
});

Deno.test("SharedMemory and Semaphore: names are checked before any call", () => {
  const bad = ["ring", "/", "/a/b", "/.", "/..", "/" + "x".repeat(256)];
  for (const name of bad) {
    assert.throws(() => SharedMemory.create(name, 1), TypeError, name);
    assert.throws(() => Semaphore.create(name, 0), TypeError, name);
  }
  // 255 bytes is a valid file name, but not after "sem.": a semaphore's limit is 251.
  const long = "/" + "x".repeat(252);
  assert.throws(() => Semaphore.create(long, 0), /too long.*sem\.NAME/);
  assert.throws(() => SharedMemory.create("/ipc-lesson-shm-test-size", 0), RangeError);
  assert.throws(() => Semaphore.create("/ipc-lesson-shm-test-value", -1), RangeError);
});

Deno.test("Semaphore: post, tryWait, wait, value, and the name's life", async () => {
  const name = testName("sem");
  {
    using sem = Semaphore.create(name, 2, { timeout: 200 });
    assert.equal(Deno.statSync(semaphorePath(name)).mode! & 0o777, 0o600);
    using other = Semaphore.open(name);
    assert.equal(other.value, 2);
    assert.equal(sem.tryWait(), true);
    await other.wait();
    assert.equal(sem.tryWait(), false, "the count is 0");
    other.post();
    assert.equal(sem.value, 1);
    await sem.wait();

    // A wait that nobody answers times out, with the message given.
    const started = performance.now();
    await assert.rejects(
      sem.wait({ timeoutMessage: () => "nobody posted" }),
      (error) => error instanceof Deno.errors.TimedOut && error.message === "nobody posted",
    );
    assert.ok(performance.now() - started >= 190);

    // A post while the wait is parked on a worker thread ends the wait.
    setTimeout(() => other.post(), 150);
    await sem.wait({ timeout: 5000 });
    assert.equal(sem.value, 0);

    // O_EXCL: the existing semaphore keeps its count.
    other.post();
    assert.throws(
      () => Semaphore.create(name, 7),
      (error) => error instanceof LibcError && error.code === "EEXIST",
    );
    assert.equal(other.value, 1);
    other.close();
    other.close();
    assert.throws(() => other.post(), Deno.errors.BadResource);
  }
  assert.equal(pathExists(semaphorePath(name)), false, "the creator removed the name");
});

Deno.test("Semaphore: its waits' deadlines are on CLOCK_MONOTONIC, never on the wall clock", async () => {
  // sem_timedwait's deadline is wall-clock time: set back during a wait on the main thread, it
  // would freeze the event loop. Both the short wait here and the parks use sem_clockwait.
  const name = testName("sem-clock");
  using sem = Semaphore.create(name, 0);
  const lines: string[] = [];
  traceCalls((line) => lines.push(line));
  try {
    await assert.rejects(sem.wait({ timeout: 300 }), Deno.errors.TimedOut);
  } finally {
    traceCalls(null);
  }
  const waits = lines.filter((line) => /^sem_\w*wait\(/.test(line)).map((line) =>
    line.replace(/\(.*/, "")
  );
  assert.ok(waits.includes("sem_clockwait"), lines.join("\n"));
  assert.deepEqual([...new Set(waits)].sort(), ["sem_clockwait", "sem_trywait"]);
  assert.ok(
    lines.some((line) => /^sem_clockwait\(.*, CLOCK_MONOTONIC, <now\+\d+ ms>\) = /.test(line)),
    lines.join("\n"),
  );
});

Deno.test("Semaphore: whileParked gives up a wait, after one last try", async () => {
  const name = testName("parked");
  using sem = Semaphore.create(name, 0, { timeout: 5000 });
  sem.unlink();

  // Called only while parked, at most every checkEveryMs: it throws, and the wait fails.
  let calls = 0;
  await assert.rejects(
    sem.wait({
      checkEveryMs: 50,
      whileParked: () => {
        if (++calls === 3) throw new Error("the peer has gone");
      },
    }),
    /the peer has gone/,
  );
  assert.equal(calls, 3);

  // A post that came just before the check is not lost: the last try takes it.
  await sem.wait({
    checkEveryMs: 0,
    whileParked: () => {
      sem.post(); // the peer posts, then exits
      throw new Error("the peer has gone");
    },
  });
  assert.equal(sem.value, 0);
});

// ---------------------------------------------------------------------------------------------
// Byte-exact copies through rings of several shapes
// ---------------------------------------------------------------------------------------------

/** Sizes around a slot and around the whole ring, for `slots` slots of `slotSize` bytes. */
function ringCases(slots: number, slotSize: number, extra: number[] = []): TransferCase[] {
  const ring = slots * slotSize;
  const sizes = [0, 1, slotSize - 1, slotSize, slotSize + 1, ring - 1, ring, ring + 1, ...extra];
  const args = ["--slots", String(slots), "--slot-size", String(slotSize)];
  return [...new Set(sizes)].map((size) => ({ size, args }));
}

testTransfers("shm", [
  // One slot: producer and consumer must take turns on every chunk.
  ...ringCases(1, 4 * KiB, [MiB + 13, 64 * MiB]),
  ...ringCases(4, 64 * KiB, [MiB + 13]),
  ...ringCases(64, 4 * KiB, [MiB + 13]),
  // The defaults: 16 slots of 128 KiB.
  ...[0, 1, 128 * KiB - 1, 128 * KiB, 128 * KiB + 1, 2 * MiB - 1, 2 * MiB, 2 * MiB + 1]
    .map((size) => ({ size })),
  { size: MiB + 13 },
  { size: 64 * MiB },
  // Chunks smaller than a slot: partly filled slots.
  ...[0, 1, 4097].map((size) => ({ size, chunk: 1, args: ["--slots", "2", "--slot-size", "4K"] })),
  { size: MiB + 13, chunk: 1000, args: ["--slots", "4", "--slot-size", "64K"] },
]);

Deno.test("shm: peak memory does not grow with the file size", async () => {
  const small = await runDemoJson("shm", ["--size", "1M"]);
  const large = await runDemoJson("shm", ["--size", "64M"]);
  for (const { result } of [small, large]) assert.equal(result.byteExact, true);
  for (const role of ["server", "client"] as const) {
    const a = small.result[role]!.peakRssBytes!;
    const b = large.result[role]!.peakRssBytes!;
    assert.ok(a > 0 && b > 0);
    assert.ok(b - a <= 32 * MiB, `${role}: ${a / MiB} MiB for 1 MiB, ${b / MiB} MiB for 64 MiB`);
  }
});

// ---------------------------------------------------------------------------------------------
// By hand, in either order
// ---------------------------------------------------------------------------------------------

for (const first of ["server", "client"] as const) {
  Deno.test(`shm by hand: the ${first} starts first`, async () => {
    const dir = testDir(`shm-${first}-first`);
    const input = makeInput(join(dir, "ïnput file.bin"), 3 * MiB + 5);
    const output = join(dir, "öutput file.bin");
    const name = testName(`${first}-first`);
    const args = {
      server: ["--name", name, "--input", input, "--slots", "4", "--slot-size", "16K"],
      client: ["--name", name, "--output", output],
    };
    const waiting = { server: "waiting for a client", client: "waiting for the server" };
    const second = first === "server" ? "client" : "server";

    const a = await startSide("shm", first, args[first], waiting[first]);
    if (first === "server") {
      // The server made all three, mode 0600; ls -l /dev/shm shows them while it waits.
      for (const path of ringPaths(name)) assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
      assert.equal(Deno.statSync(shmPath(name)).size, 4096 + 4 * 16 * KiB);
    } else {
      // The client makes nothing: it waits for the server's segment to appear.
      for (const path of ringPaths(name)) assert.equal(pathExists(path), false);
    }
    const b = lessonCommand("shm", [second, ...args[second]]).spawn();
    const [ra, rb] = await Promise.all([finishSide(a), b.output()]);
    const stderr = { [first]: ra.stderr, [second]: new TextDecoder().decode(rb.stderr) };
    assert.equal(ra.status.code, 0, ra.stderr);
    assert.equal(rb.code, 0, stderr[second]);
    assertSameFile(output, input);
    // Each side names the other's pid; the client saw the server's layout.
    const serverPid = stderr["client"]!.match(/attached: the server, process (\d+), made 4 slots/)
      ?.[1];
    const clientPid = stderr["server"]!.match(/the client, process (\d+), has attached/)?.[1];
    assert.ok(serverPid && clientPid, stderr["client"]);
    assert.match(stderr["server"]!, new RegExp(`^server +${serverPid} `, "m"));
    assert.match(stderr["client"]!, new RegExp(`^client +${clientPid} `, "m"));
    for (const path of ringPaths(name)) assert.equal(pathExists(path), false);
    Deno.removeSync(dir, { recursive: true });
    assertNothingLeftBehind();
  });
}

Deno.test("shm by hand: a client told another layout refuses before it attaches", async () => {
  const dir = testDir("shm-layout");
  const input = makeInput(join(dir, "input.bin"), 100_000);
  const name = testName("layout");
  const server = await startSide("shm", "server", [
    "--name",
    name,
    "--input",
    input,
    "--slots",
    "4",
    "--timeout",
    "1",
  ], "waiting for a client");
  const client = await runLesson("shm", [
    "client",
    "--name",
    name,
    "--slots",
    "8",
    "--output",
    join(dir, "output.bin"),
  ]);
  assert.equal(client.code, 1);
  assertOneError(client, /the server made 4 slots of 131072 bytes, but this client was given/);
  // It never attached, so the server waited in vain and gave up.
  const { status, stderr } = await finishSide(server);
  assert.equal(status.code, 1);
  assert.match(stderr, /error: no client attached to the shared-memory segment .* within 1 s/);
  assert.deepEqual(filesIn(dir), ["input.bin"]);
  Deno.removeSync(dir, { recursive: true });
  assertNothingLeftBehind();
});

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

const shmCases = [
  {
    name: "name without a slash",
    args: ["--name", "ipc-lesson-shm-ring"],
    status: 2 as const,
    message: /--name must start with a slash, like \/ipc-lesson-shm-ring/,
  },
  {
    name: "empty name",
    args: ["--name="],
    status: 2 as const,
    message: /--name must start with a slash/,
  },
  {
    name: "name that is only a slash",
    args: ["--name", "/"],
    status: 2 as const,
    message: /--name needs a name after the slash/,
  },
  {
    name: "name with a second slash",
    args: ["--name", "/ipc-lesson-shm/ring"],
    status: 2 as const,
    message: /--name must not contain a second slash: a POSIX IPC name is a single component/,
  },
  {
    name: "name too long for its semaphores",
    args: ["--name", `/ipc-lesson-shm-${"x".repeat(240)}`],
    status: 2 as const,
    message: /--name is too long: at most 244 bytes after the slash, because the semaphore/,
  },
  {
    name: "name without the project's prefix",
    args: ["--name", "/ring"],
    status: 2 as const,
    message: /--name must start with \/ipc-lesson-, so that deno task clean can find/,
  },
  {
    name: "0 slots",
    args: ["--slots", "0"],
    status: 2 as const,
    message: /--slots must be between 1 and 1024: got 0/,
  },
  {
    name: "too many slots",
    args: ["--slots", "1025"],
    status: 2 as const,
    message: /--slots must be between 1 and 1024: got 1025/,
  },
  {
    name: "slots not a number",
    args: ["--slots", "many"],
    status: 2 as const,
    message: /--slots must be a whole number/,
  },
  {
    name: "slot size 0",
    args: ["--slot-size", "0"],
    status: 2 as const,
    message: /--slot-size must be at least 1/,
  },
  {
    name: "slot size too large",
    args: ["--slot-size", "32M"],
    status: 2 as const,
    message: /--slot-size must be at most 16777216 \(16\.0 MiB\)/,
  },
  {
    name: "ring too large",
    args: ["--slots", "1024", "--slot-size", "1M"],
    status: 2 as const,
    message: /--slots 1024 × --slot-size 1048576 needs 1\.00 GiB of shared memory: at most 256/,
  },
  {
    name: "chunk larger than the slot",
    args: ["--slot-size", "4K", "--chunk", "8K"],
    status: 2 as const,
    message: /--chunk 8192 is too large for shm: at most 4096 .*a chunk must fit in one slot/,
  },
  {
    name: "server whose client never comes",
    args: ["server", "--input", "{input}", "--timeout", "0.5"],
    status: 1 as const,
    message: /no client attached to the shared-memory segment \/ipc-lesson-shm-.* within 0\.5 s/,
  },
  {
    name: "client whose server never comes",
    args: ["client", "--output", "{output}", "--timeout", "0.5"],
    status: 1 as const,
    message: /no server created the shared-memory segment \/ipc-lesson-shm-.* within 0\.5 s/,
  },
];

testBadInputs("shm", [...commonBadCases({ tooLargeChunk: "256K" }), ...shmCases]);

// ---------------------------------------------------------------------------------------------
// Names that are taken: a clear message, and the existing objects left untouched
// ---------------------------------------------------------------------------------------------

Deno.test("shm: a segment that already exists is refused and left untouched", async (t) => {
  const name = testName("taken");
  using segment = SharedMemory.create(name, 12_345);
  segment.bytes.set(new TextEncoder().encode("precious"), 100);
  const dir = testDir("shm-taken");
  const input = makeInput(join(dir, "input.bin"), 5000);
  // This process maps it: in use, so no advice to remove it.
  const message = new RegExp(
    `the shared-memory segment ${name} \\(/dev/shm/.*\\) already exists, and process ` +
      `${Deno.pid} uses it: another run is using the name ${name}; choose another --name`,
  );
  for (const mode of ["demo", "server"]) {
    await t.step(mode, async () => {
      const args = ["--name", name, "--input", input];
      const run = await runLesson(
        "shm",
        mode === "demo" ? [...args, "--output", `${dir}/o`] : [
          "server",
          ...args,
        ],
      );
      assert.equal(run.code, 1);
      assertOneError(run, message);
      const again = SharedMemory.open(name);
      assert.equal(again.size, 12_345);
      assert.equal(new TextDecoder().decode(again.bytes.subarray(100, 108)), "precious");
      again.close();
      const names = ringNames(name);
      assert.equal(pathExists(semaphorePath(names.free)), false);
      assert.equal(pathExists(semaphorePath(names.filled)), false);
    });
  }
  assert.deepEqual(filesIn(dir), ["input.bin"]);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("shm: a semaphore that already exists is refused and keeps its count", async () => {
  const name = testName("taken-sem");
  const names = ringNames(name);
  using filled = Semaphore.create(names.filled, 5);
  const dir = testDir("shm-taken-sem");
  const input = makeInput(join(dir, "input.bin"), 5000);
  const run = await runLesson("shm", ["server", "--name", name, "--input", input]);
  assert.equal(run.code, 1);
  assertOneError(
    run,
    new RegExp(
      `the semaphore ${names.filled} .* already exists, and process ${Deno.pid} uses it: ` +
        "another run is using the name",
    ),
  );
  assert.equal(filled.value, 5);
  // The server created nothing, so it left nothing.
  assert.equal(pathExists(shmPath(name)), false);
  assert.equal(pathExists(semaphorePath(names.free)), false);
  Deno.removeSync(dir, { recursive: true });
});

// ---------------------------------------------------------------------------------------------
// Peers that die or hang
// ---------------------------------------------------------------------------------------------

Deno.test("shm: a side killed mid-transfer in the demo is reported by the other", async (t) => {
  for (const victim of ["server", "client"] as const) {
    await t.step(`the ${victim} is killed with SIGKILL`, async () => {
      const dir = testDir(`shm-kill-${victim}`);
      const survivor = victim === "server" ? "client" : "server";
      const { run, result } = await runDemoJson("shm", [
        "--size",
        "32M",
        "--slot-size",
        "64K",
        "--output",
        join(dir, "output.bin"),
        "--timeout",
        "60",
        "--kill-after",
        `${victim}:1M`,
      ]);
      assert.equal(run.code, 1, run.stderr);
      assert.equal(result.byteExact, false);
      assert.equal(result[victim]!.signal, "SIGKILL");
      // The survivor noticed by itself (not by the 60 s timeout), said so, and exited with 1.
      assert.equal(result[survivor]!.exitCode, 1);
      assert.match(
        run.stderr,
        new RegExp(
          `${survivor} .*error: the ${victim} exited after .*: transfer incomplete \\(process ${
            result[victim]!.pid
          } is gone\\)`,
        ),
      );
      assertNoStackTrace(run);
      assert.deepEqual(filesIn(dir), [], "no output, partial or unverified file");
      Deno.removeSync(dir);
      assertNothingLeftBehind();
    });
  }
});

Deno.test("shm: a side that hangs is reported at the timeout", async () => {
  const dir = testDir("shm-hang");
  const { run, result } = await runDemoJson("shm", [
    "--size",
    "8M",
    "--slot-size",
    "64K",
    "--output",
    join(dir, "output.bin"),
    "--timeout",
    "1",
    "--kill-after",
    "client:1M:STOP",
  ]);
  // A stopped process still exists: the server cannot tell it from a slow one, so it waits
  // until the timeout, then says what it saw. (The runner then stops the client.)
  assert.notEqual(run.code, 0);
  assert.equal(result.server!.exitCode, 1);
  assert.match(
    run.stderr,
    /server .*error: no slot became free for 1 s: the client \(process \d+\) still runs but takes no slots \(is it stopped, with Ctrl-Z\?\)/,
  );
  assertNoStackTrace(run);
  assert.deepEqual(filesIn(dir), []);
  Deno.removeSync(dir);
  assertNothingLeftBehind();
});

Deno.test("shm by hand: kill -9 of one side; the other reports it and leaves nothing", async (t) => {
  for (const victim of ["server", "client"] as const) {
    await t.step(`kill -9 the ${victim}`, async () => {
      const dir = testDir(`shm-kill9-${victim}`);
      const input = makeInput(join(dir, "input.bin"), 4 * MiB);
      const output = join(dir, "output.bin");
      const name = testName(`kill9-${victim}`);
      // The victim stops itself after 1 MiB (SIGSTOP), so the kill lands mid-transfer.
      const stop = ["--kill-after", `${victim}:1M:STOP`];
      const args = (role: "server" | "client") => [
        "--name",
        name,
        "--timeout",
        "60",
        "--slot-size",
        "64K",
        ...(role === "server" ? ["--input", input] : ["--output", output]),
        ...(role === victim ? stop : []),
      ];
      const server = await startSide("shm", "server", args("server"), "waiting for a client");
      const client = await startSide("shm", "client", args("client"), "attached");
      const stopped = victim === "server" ? server : client;
      await readUntil(stopped.stderr, "sending myself SIGSTOP");
      const killedAt = performance.now();
      stopped.child.kill("SIGKILL");

      const survivor = await finishSide(victim === "server" ? client : server);
      const seconds = (performance.now() - killedAt) / 1000;
      assert.equal(survivor.status.code, 1, survivor.stderr);
      assert.match(
        survivor.stderr,
        new RegExp(
          `error: the ${victim} exited after .*: transfer incomplete \\(process ${stopped.child.pid} is gone\\)`,
        ),
      );
      console.log(`    the survivor reported the dead ${victim} after ${seconds.toFixed(2)} s`);
      assert.equal((await stopped.child.status).signal, "SIGKILL");
      await stopped.child.stdout.cancel();
      await stopped.stderr.cancel();
      // The names were removed when both sides had attached; the client removed its partial file.
      for (const path of ringPaths(name)) assert.equal(pathExists(path), false);
      assert.deepEqual(filesIn(dir), ["input.bin"]);
      Deno.removeSync(dir, { recursive: true });
      assertNothingLeftBehind();
    });
  }
});

Deno.test("shm by hand: names left by a killed server point to deno task clean", async () => {
  const dir = testDir("shm-stale");
  const input = makeInput(join(dir, "input.bin"), 5000);
  const name = testName("stale");
  // A server killed while it waits for its client leaves its three names behind.
  const server = await startSide(
    "shm",
    "server",
    ["--name", name, "--input", input],
    "waiting for a",
  );
  server.child.kill("SIGKILL");
  await finishSide(server);
  for (const path of ringPaths(name)) assert.equal(pathExists(path), true, path);

  // The next server with that name refuses, and says why.
  const again = await runLesson("shm", ["server", "--name", name, "--input", input]);
  assert.equal(again.code, 1);
  assertOneError(
    again,
    new RegExp(
      "already exist: nobody has them open or mapped, so a killed run left them behind " +
        `\\(deno task clean removes what killed runs left\\): \`deno task clean ${name} ` +
        `${name}-free ${name}-filled\` removes them`,
    ),
  );

  // A client finds the segment ready, but its creator gone.
  const client = await runLesson("shm", ["client", "--name", name, "--output", `${dir}/out`]);
  assert.equal(client.code, 1);
  assertOneError(
    client,
    new RegExp(
      "the shared-memory segment .* is stale: the process that made it \\(\\d+\\) is no longer " +
        `running; a run killed with kill -9 left it behind \\(remove what it left with ` +
        `\`deno task clean ${name} ${name}-free ${name}-filled\`\\)`,
    ),
  );

  // deno task clean lists them, then removes them. (Its TMPDIR is a folder of this test's own:
  // as root, clean also looks for message queues, in a folder it makes there with mktemp.)
  const cleanTmp = join(dir, "clean-tmp");
  Deno.mkdirSync(cleanTmp);
  const clean = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(ROOT, "lessons", "clean.ts"), ...args],
      env: { TMPDIR: cleanTmp },
      stdout: "piped",
    }).output();
  const dry = new TextDecoder().decode((await clean(["--dry-run"])).stdout);
  for (const path of ringPaths(name)) assert.match(dry, new RegExp(`would remove .*${path}`));
  for (const path of ringPaths(name)) assert.equal(pathExists(path), true);
  const removed = new TextDecoder().decode((await clean([])).stdout);
  for (const path of ringPaths(name)) assert.match(removed, new RegExp(`removed .*${path}`));
  assert.deepEqual(filesIn(dir), ["clean-tmp", "input.bin"], "no output or partial file");
  Deno.removeSync(dir, { recursive: true });
  assertNothingLeftBehind();
});

// ---------------------------------------------------------------------------------------------
// A C program as the peer: the layout and the protocol of README.md are all it knows
// ---------------------------------------------------------------------------------------------

const cc = await new Deno.Command("sh", { args: ["-c", "command -v cc"], stdout: "null" })
  .output().then((output) => output.success).catch(() => false);

Deno.test({
  name: "shm by hand: a C client (lessons/shm/c_client.c) copies from the lesson's server",
  ignore: !cc,
  fn: async () => {
    const dir = testDir("shm-c-client");
    const binary = join(dir, "c_client");
    const build = await new Deno.Command("cc", {
      args: ["-O2", "-Wall", "-Werror", "-o", binary, join(ROOT, "lessons/shm/c_client.c")],
      stderr: "piped",
    }).output();
    assert.equal(build.code, 0, new TextDecoder().decode(build.stderr));
    const input = makeInput(join(dir, "input.bin"), 5 * MiB + 7);
    const output = join(dir, "output.bin");
    const name = testName("c-client");
    const server = await startSide("shm", "server", [
      "--name",
      name,
      "--input",
      input,
      "--slots",
      "8",
      "--slot-size",
      "64K",
    ], "waiting for a client");
    const client = await new Deno.Command("sh", {
      args: ["-c", `"$0" "$1" > "$2"`, binary, name, output],
      stderr: "piped",
    }).output();
    assert.equal(client.code, 0, new TextDecoder().decode(client.stderr));
    const { status, stderr } = await finishSide(server);
    assert.equal(status.code, 0, stderr);
    assert.match(stderr, /the client has emptied every slot: the transfer is complete/);
    assertSameFile(output, input);
    Deno.removeSync(dir, { recursive: true });
    assertNothingLeftBehind();
  },
});

testLabs("shm", {
  "no-sync":
    /SYMPTOM: the copy is corrupted: the output's SHA-256 [0-9a-f]{12}… differs from the input's [0-9a-f]{12}…, yet it has the right size \(4\.00 MiB\); only \d+ of 1024 chunks arrived intact/,
  "no-ftruncate":
    /SYMPTOM: the child, process \d+, was killed by SIGBUS at its first store into the mapping .*exit status 135/,
  "stale-segment":
    /SYMPTOM: the restarted server refused to start \(exit status 1\): its names already exist: .*a killed run left them behind \(deno task clean removes what killed runs left\)/,
});
