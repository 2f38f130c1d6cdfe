/**
 * Faults at the edges of the transports (issue 10): a FIFO held while its side waits, FIFOs,
 * queues, segments and semaphores left behind (and those in use), two readers on one FIFO, a
 * writer that says nothing, a stray sem_post, a full /dev/shm, the limits of message queues,
 * and a queue this user may not open. Each test asserts what the user sees (exit status, one
 * line) and what the kernel holds afterwards.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as libc from "../transports/libc.ts";
import { holdersOfPath } from "../transports/holders.ts";
import { MessageQueue, queueExists, removeQueue } from "../transports/mq.ts";
import { Semaphore, semaphorePath } from "../transports/semaphore.ts";
import { SharedMemory, shmPath } from "../transports/shm.ts";
import { ringNames } from "../transports/ring_buffer.ts";
import {
  assertNothingLeftBehind,
  assertOneError,
  assertSameFile,
  filesIn,
  finishSide,
  lessonCommand,
  makeInput,
  runLesson,
  type RunningSide,
  runWrapped,
  startSide,
  testDir,
} from "./_helpers.ts";

const asRoot = Deno.uid() === 0;

/** A POSIX name no other test uses, with the project's prefix and this test run's pid. */
function uniqueName(method: string, what: string): string {
  return `/ipc-lesson-${method}-${Deno.pid}-faults-${what}-${crypto.randomUUID().slice(0, 6)}`;
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs a shell command line (with `$1`… as arguments) to the end. */
async function sh(script: string, ...args: string[]): Promise<Deno.CommandOutput> {
  return await new Deno.Command("sh", { args: ["-c", script, "sh", ...args] }).output();
}

/** The flags descriptor `fd` of process `pid` was opened with (/proc/PID/fdinfo). */
function fdFlags(pid: number, fd: string): number {
  const text = Deno.readTextFileSync(`/proc/${pid}/fdinfo/${fd}`);
  return parseInt(text.match(/^flags:\s*([0-7]+)$/m)![1]!, 8);
}

/** The descriptors of process `pid` that lead to the file at `path`. */
function descriptorsOn(pid: number, path: string): string[] {
  const wanted = Deno.lstatSync(path);
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].map((e) => e.name).filter((fd) => {
    try {
      const info = Deno.statSync(`/proc/${pid}/fd/${fd}`);
      return info.dev === wanted.dev && info.ino === wanted.ino;
    } catch {
      return false;
    }
  });
}

/** Stops a side started by hand (SIGTERM) and waits for it. */
async function stop(side: RunningSide): Promise<{ status: Deno.CommandStatus; stderr: string }> {
  side.child.kill("SIGTERM");
  return await finishSide(side);
}

// ---------------------------------------------------------------------------------------------
// 1. A FIFO is held (O_PATH) while its side waits, so /proc shows it in use
// ---------------------------------------------------------------------------------------------

Deno.test("fifo: a side waiting for its peer holds the FIFO with an O_PATH descriptor", async (t) => {
  const dir = testDir("fifo-opath");
  const input = makeInput(join(dir, "input.bin"), 1000);
  const path = join(dir, "held.fifo");

  await t.step(
    "a server waiting for a reader (its open() fails with ENXIO meanwhile)",
    async () => {
      const server = await startSide(
        "fifo",
        "server",
        ["--path", path, "--input", input],
        "waiting for a reader",
      );
      // The kernel says the FIFO is in use, by the server, through an O_PATH descriptor: it has
      // opened neither end (no reader has appeared, no writer either).
      assert.deepEqual(holdersOfPath(path), [server.child.pid]);
      const fds = descriptorsOn(server.child.pid, path);
      assert.equal(fds.length, 1, `descriptors on the FIFO: ${fds}`);
      assert.notEqual(fdFlags(server.child.pid, fds[0]!) & libc.O.PATH, 0, "an O_PATH descriptor");
      const { status } = await stop(server);
      assert.equal(status.code, 143);
      assert.equal(exists(path), false, "the server made the FIFO, and removed it");
    },
  );

  await t.step("a client waiting for a writer", async () => {
    const client = await startSide(
      "fifo",
      "client",
      ["--path", path, "--output", join(dir, "out.bin")],
      "waiting for a writer",
    );
    assert.deepEqual(holdersOfPath(path), [client.child.pid]);
    const flags = descriptorsOn(client.child.pid, path).map((fd) => fdFlags(client.child.pid, fd));
    assert.equal(flags.filter((f) => f & libc.O.PATH).length, 1, "one O_PATH descriptor");
    assert.equal(flags.filter((f) => !(f & libc.O.PATH)).length, 1, "and the read end");
    const { status } = await stop(client);
    assert.equal(status.code, 143);
    assert.equal(exists(path), false);
  });
  assert.deepEqual(filesIn(dir), ["input.bin"]);
  Deno.removeSync(dir, { recursive: true });
});

// ---------------------------------------------------------------------------------------------
// 2. Objects already there: in use, or left behind (with the command that removes them)
// ---------------------------------------------------------------------------------------------

Deno.test("fifo: a FIFO left behind is reported as such, named with deno task clean PATH, and left in place", async (t) => {
  const dir = testDir("fifo-left-behind");
  const input = makeInput(join(dir, "input.bin"), 300_000);
  const path = join(dir, "stale.fifo");
  libc.mkfifo(path, 0o600);

  await t.step("by hand: used, reported as left behind, not removed", async () => {
    const server = await startSide(
      "fifo",
      "server",
      ["--path", path, "--input", input],
      "waiting for a reader",
    );
    assert.match(
      server.said,
      new RegExp(
        `the FIFO ${path} is already there, and no process has it open: a killed run left it ` +
          `behind.*deno task clean ${path} removes it`,
      ),
    );
    assert.doesNotMatch(server.said, /the client made it/);
    const output = join(dir, "copy.bin");
    const client = await runLesson("fifo", ["client", "--path", path, "--output", output]);
    assert.equal(client.code, 0, client.stderr);
    // The client found the server on it, and says who, not who made it.
    assert.match(
      client.stderr,
      new RegExp(`already there, and process ${server.child.pid} has it open`),
    );
    assert.doesNotMatch(client.stderr, /the server made it/);
    assert.equal((await finishSide(server)).status.code, 0);
    assertSameFile(output, input);
    // Neither side made it, so neither removed it.
    assert.equal(Deno.lstatSync(path).isFifo, true);
    Deno.removeSync(output);
  });

  await t.step("the demo refuses it with one line naming the command", async () => {
    const run = await runLesson("fifo", [
      "--path",
      path,
      "--input",
      input,
      "--output",
      join(dir, "demo.bin"),
    ]);
    assert.equal(run.code, 1);
    assertOneError(
      run,
      new RegExp(
        `the FIFO ${path} already exists: no process has it open, so a killed run left it ` +
          `behind; deno task clean ${path} removes it, or choose another --path`,
      ),
    );
    assert.equal(Deno.lstatSync(path).isFifo, true);
  });

  await t.step("the demo refuses a FIFO in use, and names who uses it", async () => {
    const held = libc.open(path, libc.O.PATH | libc.O.CLOEXEC);
    try {
      const run = await runLesson("fifo", [
        "--path",
        path,
        "--input",
        input,
        "--output",
        join(dir, "demo.bin"),
      ]);
      assert.equal(run.code, 1);
      assertOneError(
        run,
        new RegExp(
          `the FIFO ${path} already exists: process ${Deno.pid} has it open, so another run ` +
            "is using it; choose another --path",
        ),
      );
      assert.equal(Deno.lstatSync(path).isFifo, true);
    } finally {
      libc.close(held);
    }
  });
  Deno.removeSync(path);
  assert.deepEqual(filesIn(dir), ["input.bin"]);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("mq: a queue of any name that nobody has open is left behind: the message names deno task clean NAME", async () => {
  const dir = testDir("mq-left-behind");
  const input = makeInput(join(dir, "input.bin"), 1000);
  const name = uniqueName("mq", "stale");
  MessageQueue.create(name, { maxmsg: 1, msgsize: 16 }).close(); // created, then nobody holds it
  try {
    const run = await runLesson("mq", ["server", "--name", name, "--input", input]);
    assert.equal(run.code, 1);
    assertOneError(
      run,
      new RegExp(
        `a message queue named ${name} already exists \\(nobody has it open: a killed run ` +
          `probably left it behind\\); it was left untouched: run \`deno task clean ${name}\``,
      ),
    );
    assert.equal(queueExists(name), true, "left untouched");
  } finally {
    removeQueue(name);
  }
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("shm: names left behind are told from names in use, by who maps them", async (t) => {
  const dir = testDir("shm-left-behind");
  const input = makeInput(join(dir, "input.bin"), 1000);

  await t.step("a segment nobody maps: left behind, with the command", async () => {
    const name = uniqueName("shm", "stale");
    libc.close(libc.shm_open(name, libc.O.CREAT | libc.O.EXCL | libc.O.RDWR, 0o600));
    try {
      const run = await runLesson("shm", ["server", "--name", name, "--input", input]);
      assert.equal(run.code, 1);
      assertOneError(
        run,
        new RegExp(
          `the shared-memory segment ${name} \\(${shmPath(name)}\\) already exists: nobody has ` +
            `it open or mapped, so a killed run left it behind .*\`deno task clean ${name}\` ` +
            "removes it, or choose another --name",
        ),
      );
      assert.equal(exists(shmPath(name)), true, "left untouched");
      const names = ringNames(name);
      assert.equal(exists(semaphorePath(names.free)), false, "and nothing was created");
    } finally {
      libc.shm_unlink(name);
    }
  });

  await t.step("a semaphore nobody maps: left behind, named by its own name", async () => {
    const name = uniqueName("shm", "stale-sem");
    const names = ringNames(name);
    Semaphore.create(names.filled, 3).close();
    try {
      const run = await runLesson("shm", ["server", "--name", name, "--input", input]);
      assert.equal(run.code, 1);
      assertOneError(
        run,
        new RegExp(`\`deno task clean ${names.filled}\` removes it, or choose another --name`),
      );
    } finally {
      libc.sem_unlink(names.filled);
    }
  });

  await t.step("a segment this process maps: in use, nothing touched", async () => {
    const name = uniqueName("shm", "held");
    using segment = SharedMemory.create(name, 5000);
    segment.bytes[7] = 42;
    const run = await runLesson("shm", ["server", "--name", name, "--input", input]);
    assert.equal(run.code, 1);
    assertOneError(
      run,
      new RegExp(
        `already exists, and process ${Deno.pid} uses it: another run is using the name ${name}; ` +
          "choose another --name",
      ),
    );
    assert.doesNotMatch(run.stderr, /deno task clean/);
    assert.equal(segment.bytes[7], 42);
    assert.equal(Deno.statSync(shmPath(name)).size, 5000);
  });
  Deno.removeSync(dir, { recursive: true });
  assertNothingLeftBehind();
});

// ---------------------------------------------------------------------------------------------
// 3. Two readers on one FIFO: a partial copy never exits 0 where the program can know
// ---------------------------------------------------------------------------------------------

/** Waits until `path` is a FIFO held by `count` processes (the sides are waiting on it). */
async function untilHeldBy(path: string, count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if (holdersOfPath(path).length >= count) return;
    } catch { /* not made yet */ }
    if (Date.now() > deadline) throw new Error(`${path} never had ${count} holders`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("fifo: two clients on one FIFO: the second refuses, the first gets the whole copy", async () => {
  const dir = testDir("fifo-two-clients");
  const input = makeInput(join(dir, "input.bin"), 3 * 1024 * 1024 + 7);
  const path = join(dir, "shared.fifo");
  const outputs = [join(dir, "one.bin"), join(dir, "two.bin")];
  const first = lessonCommand("fifo", [
    ...["client", "--path", path, "--output", outputs[0]!, "--timeout", "20"],
  ]).output();
  await untilHeldBy(path, 1);
  // The second finds a reader already there, and leaves before it opens its end.
  const second = await runLesson("fifo", ["client", "--path", path, "--output", outputs[1]!]);
  assert.equal(second.code, 1, second.stderr);
  assertOneError(
    second,
    new RegExp(`process \\d+ also has the FIFO ${path} open for reading: each byte goes to`),
  );
  assert.equal(exists(outputs[1]!), false, "no output from a client that failed");
  const server = await runLesson("fifo", ["server", "--path", path, "--input", input]);
  assert.equal(server.code, 0, server.stderr);
  const result = await first;
  assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
  assertSameFile(outputs[0]!, input);
  assert.equal(exists(path), false, "the first client made the FIFO, and removed it");
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("fifo: a client that finds another reader on the FIFO fails before reading", async () => {
  const dir = testDir("fifo-other-reader");
  const input = makeInput(join(dir, "input.bin"), 100_000);
  const path = join(dir, "shared.fifo");
  const output = join(dir, "copy.bin");
  const client = lessonCommand("fifo", ["client", "--path", path, "--output", output]).output();
  await untilHeldBy(path, 1);
  // This process opens the read end too (a reader with a descriptor, which never reads).
  const reader = libc.open(path, libc.O.RDONLY | libc.O.NONBLOCK | libc.O.CLOEXEC);
  try {
    // (The server's own look may still see the client on its way out, and then fail too.)
    await runLesson("fifo", ["server", "--path", path, "--input", input]);
    const result = await client;
    const run = {
      code: result.code,
      signal: null,
      stdout: "",
      stderr: new TextDecoder().decode(result.stderr),
    };
    assert.equal(run.code, 1, run.stderr);
    assertOneError(
      run,
      new RegExp(
        `process ${Deno.pid} also has the FIFO ${path} open for reading: each byte goes to only ` +
          "one reader, so neither would get the whole file",
      ),
    );
    assert.equal(exists(output), false);
    // The client read nothing: every byte is still in the pipe, for the other reader.
    const got = new Uint8Array(200_000);
    let n = 0;
    for (;;) {
      const r = libc.read(reader, got.subarray(n));
      if (r === 0) break;
      if (r !== libc.WOULD_BLOCK) n += r;
    }
    assert.deepEqual(got.subarray(0, n), Deno.readFileSync(input));
  } finally {
    libc.close(reader);
  }
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("fifo: a client and cat reading one FIFO: a partial copy never leaves both lesson sides at 0", async () => {
  const dir = testDir("fifo-client-and-cat");
  const input = makeInput(join(dir, "input.bin"), 3 * 1024 * 1024);
  const path = join(dir, "shared.fifo");
  const output = join(dir, "copy.bin");
  const catOut = join(dir, "cat.bin");
  const client = lessonCommand("fifo", ["client", "--path", path, "--output", output]).output();
  await untilHeldBy(path, 1);
  // cat waits in open() (it has no descriptor until a writer comes), then reads what it can.
  const cat = sh('exec cat "$1" > "$2"', path, catOut);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const server = await runLesson("fifo", ["server", "--path", path, "--input", input]);
  const [clientResult] = await Promise.all([client, cat]);
  const clientStderr = new TextDecoder().decode(clientResult.stderr);
  const whole = exists(output) && Deno.statSync(output).size === Deno.statSync(input).size;
  if (clientResult.code === 0 && !whole) {
    // The client could not see cat (it came and went between two looks); the server can: both
    // readers still had their ends open when it was about to close its own.
    assert.equal(server.code, 1, `a partial copy, and both sides exited 0:\n${server.stderr}`);
    assertOneError(server, /all had the FIFO .* open for reading: each byte went to only one/);
  } else if (clientResult.code === 0) {
    assertSameFile(output, input);
  } else {
    assert.match(clientStderr, /also has the FIFO .* open for reading/);
    assert.equal(exists(output), false);
  }
  Deno.removeSync(dir, { recursive: true });
});

// ---------------------------------------------------------------------------------------------
// 6. A writer that connected but sent nothing is not "no writer"
// ---------------------------------------------------------------------------------------------

Deno.test("fifo: a silent writer, an empty writer and no writer get three true messages", async (t) => {
  const dir = testDir("fifo-writers");
  const path = join(dir, "w.fifo");

  await t.step("a writer that holds its end open and sends nothing", async () => {
    const client = await startSide(
      "fifo",
      "client",
      ["--path", path, "--output", join(dir, "silent.bin"), "--timeout", "1.5"],
      "waiting for a writer",
    );
    const writer = sh('exec 3>"$1"; sleep 4', path);
    const { status, stderr } = await finishSide(client);
    await writer;
    assert.equal(status.code, 1, stderr);
    assertOneError(
      { code: 1, signal: null, stdout: "", stderr },
      /no data came through the pipe for 1\.5 s, and the writer has not closed its end/,
    );
    assert.match(stderr, /a writer has connected/);
    assert.doesNotMatch(stderr, /no writer opened/);
    assert.equal(exists(join(dir, "silent.bin")), false);
  });

  await t.step(
    "a writer that opens and closes without writing: an empty copy, exit 0",
    async () => {
      const output = join(dir, "empty.bin");
      const client = await startSide(
        "fifo",
        "client",
        ["--path", path, "--output", output, "--timeout", "5"],
        "waiting for a writer",
      );
      assert.equal((await sh(': > "$1"', path)).code, 0);
      const { status, stderr } = await finishSide(client);
      assert.equal(status.code, 0, stderr);
      assert.match(stderr, /end-of-file at once: the writer closed its end without writing/);
      assert.equal(Deno.statSync(output).size, 0);
    },
  );

  await t.step("no writer at all", async () => {
    const run = await runLesson("fifo", [
      "client",
      "--path",
      path,
      "--output",
      join(dir, "none.bin"),
      "--timeout",
      "1",
    ]);
    assert.equal(run.code, 1);
    assertOneError(run, new RegExp(`no writer opened the FIFO ${path} within 1 s`));
  });
  assert.equal(exists(path), false);
  Deno.removeSync(dir, { recursive: true });
});

// ---------------------------------------------------------------------------------------------
// 4. shm: a stray sem_post, and a /dev/shm without room
// ---------------------------------------------------------------------------------------------

Deno.test("shm: a stray sem_post on NAME-filled before the client attached never gives exit 0", async () => {
  const dir = testDir("shm-stray-post");
  const input = makeInput(join(dir, "input.bin"), 100_000);
  const output = join(dir, "copy.bin");
  const name = uniqueName("shm", "stray");
  const names = ringNames(name);
  const server = await startSide(
    "shm",
    "server",
    ["--name", name, "--input", input],
    "waiting for a client",
  );
  {
    // Someone with the name posts "filled" once, although no slot was filled.
    using filled = Semaphore.open(names.filled);
    filled.post();
  }
  const client = await runLesson("shm", ["client", "--name", name, "--output", output]);
  const { status } = await finishSide(server);
  assert.equal(client.code, 1, client.stderr);
  // Found at the end marker (the server's total was not there, or differs), or just after it
  // (a post was left over): which one depends on how far the server had got.
  assertOneError(client, /something else posted (\S+-filled|it) \(a stray sem_post\)/);
  assert.equal(exists(output), false, "no output file");
  assert.notEqual(status.code, 0, "nor does the server say the transfer is complete");
  for (const path of [shmPath(name), semaphorePath(names.free), semaphorePath(names.filled)]) {
    assert.equal(exists(path), false, path);
  }
  Deno.removeSync(dir, { recursive: true });
});

/** Whether this process may make a private mount namespace (root, with unshare(1)). */
const canUnshare = asRoot &&
  (await new Deno.Command("unshare", { args: ["-m", "true"] }).output().then(
    (o) => o.success,
    () => false,
  ));

Deno.test({
  name: "shm: a /dev/shm without room for the ring is one clear line at set-up, and nothing left",
  ignore: !canUnshare,
  async fn(t) {
    const dir = testDir("shm-full");
    const input = makeInput(join(dir, "input.bin"), 100_000);
    // A private mount namespace with a /dev/shm of 1 MiB, listed when the lesson has ended; the
    // ring needs 16 × 128 KiB + 4 KiB.
    const inside = [
      "unshare",
      "-m",
      "sh",
      "-c",
      'mount -t tmpfs -o size=1M tmpfs /dev/shm && "$@"; s=$?; echo "left: $(ls -A /dev/shm)"; exit $s',
      "sh",
    ];
    const ring = ["--slots", "16", "--slot-size", "128K"];

    await t.step("by hand: the server", async () => {
      const run = await runWrapped(inside, "shm", [
        "server",
        "--name",
        uniqueName("shm", "full"),
        "--input",
        input,
        ...ring,
      ]);
      assert.equal(run.code, 1, run.stderr);
      assertOneError(
        run,
        /cannot reserve 2 MiB for the shared-memory object .*: \/dev\/shm has only 1 MiB free \(of 1 MiB\); posix_fallocate failed with ENOSPC: make the ring smaller/,
      );
      assert.doesNotMatch(run.stderr, /SIGBUS|bad address/i);
      assert.equal(run.stdout.trim(), "left:", "nothing left in that /dev/shm");
    });

    // The same ring in a /dev/shm of `size`: by hand, the server's one line.
    const serverIn = (size: string) =>
      runWrapped(
        inside.map((arg) => arg.replace("size=1M", `size=${size}`)),
        "shm",
        ["server", "--name", uniqueName("shm", "full"), "--input", input, ...ring],
      );

    await t.step("short by a page: the exact bytes, where rounding would hide it", async () => {
      const run = await serverIn("2M");
      assert.equal(run.code, 1, run.stderr);
      assertOneError(
        run,
        /cannot reserve 2 MiB \(2101248 bytes\) for the shared-memory object .*: \/dev\/shm has only 2 MiB \(2097152 bytes\) free/,
      );
      assert.equal(run.stdout.trim(), "left:", "nothing left in that /dev/shm");
    });

    await t.step("room for the segment, not for a semaphore: said as plainly", async () => {
      const run = await serverIn("2052k");
      assert.equal(run.code, 1, run.stderr);
      assertOneError(
        run,
        /cannot create the semaphore \/ipc-lesson-shm-.*-(free|filled): \/dev\/shm is full \(sem_open failed with ENOSPC\): make room in \/dev\/shm/,
      );
      assert.equal(run.stdout.trim(), "left:", "nothing left in that /dev/shm");
    });

    await t.step("the demo", async () => {
      const run = await runWrapped(inside, "shm", [
        "--size",
        "8M",
        ...ring,
        "--output",
        join(dir, "copy.bin"),
      ]);
      assert.notEqual(run.code, 0, run.stderr);
      assert.match(
        run.stderr,
        /server .*error: cannot reserve 2 MiB for the shared-memory object .*posix_fallocate failed with ENOSPC/,
      );
      assert.doesNotMatch(run.stderr, /SIGBUS|bad address|signal/i);
      assert.equal(run.stdout.trim().split("\n").at(-1), "left:", "nothing left in that /dev/shm");
      assert.equal(exists(join(dir, "copy.bin")), false);
    });
    Deno.removeSync(dir, { recursive: true });
  },
});

Deno.test({
  name: "files: a file system that reports no size (ramfs) is not taken for a full one",
  ignore: !canUnshare,
  async fn() {
    const dir = testDir("ramfs");
    // ramfs grows as it is written, and statvfs says 0 blocks, 0 free: no limit to check.
    const inside = [
      "unshare",
      "-m",
      "sh",
      "-c",
      `mount -t ramfs ramfs ${dir} && "$@"; s=$?; echo "in it: $(ls -A ${dir})"; exit $s`,
      "sh",
    ];
    const run = await runWrapped(inside, "fifo", ["--quiet", "--output", join(dir, "copy.txt")]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /byte-exact copy: yes/);
    assert.equal(run.stdout.trim(), "in it: copy.txt");
    Deno.removeSync(dir, { recursive: true });
  },
});

// ---------------------------------------------------------------------------------------------
// 5. mq: the limits, named; EACCES names the queue
// ---------------------------------------------------------------------------------------------

Deno.test({
  name: "mq: EMFILE names RLIMIT_MSGQUEUE, its size, and who holds the rest",
  ignore: !(await new Deno.Command("prlimit", { args: ["--version"], stdout: "null" }).output()
    .then((o) => o.success, () => false)),
  async fn(t) {
    const dir = testDir("mq-rlimit");
    const input = makeInput(join(dir, "input.bin"), 1000);

    await t.step("the queue alone is above the limit", async () => {
      const name = uniqueName("mq", "rlimit");
      const run = await runWrapped(["prlimit", "--msgqueue=50000", "--"], "mq", [
        "server",
        "--name",
        name,
        "--input",
        input,
      ]);
      assert.equal(run.code, 1, run.stderr);
      assertOneError(
        run,
        new RegExp(
          `cannot create the queue ${name}: EMFILE \\(Too many open files\\): RLIMIT_MSGQUEUE ` +
            '\\("Max msgqueue size" in /proc/self/limits, ulimit -q\\) lets all the queues of one ' +
            "user take 48.8 KiB of memory together, and this queue needs about 80.9 KiB .*more " +
            "than the whole limit",
        ),
      );
      assert.doesNotMatch(run.stderr, /deno task clean/);
      assert.equal(queueExists(name), false);
    });

    await t.step("this user's other queues hold the rest", async () => {
      // A queue of this process's takes 5 × 8 KiB; the server's would fit alone in 100000
      // bytes, but not beside it.
      using other = MessageQueue.create(uniqueName("mq", "hog"), { maxmsg: 5, msgsize: 8192 });
      const name = uniqueName("mq", "rlimit2");
      const run = await runWrapped(["prlimit", "--msgqueue=100000", "--"], "mq", [
        "server",
        "--name",
        name,
        "--input",
        input,
      ]);
      assert.equal(run.code, 1, run.stderr);
      assertOneError(
        run,
        /EMFILE .*RLIMIT_MSGQUEUE .* 97.7 KiB of memory together, .*: this user's other queues hold the rest, those of other runs still going \(deno task clean cannot remove a queue in use\)/,
      );
      assert.equal(queueExists(name), false);
      assert.equal(other.linked, true);
    });
    Deno.removeSync(dir, { recursive: true });
  },
});

Deno.test({
  name: "mq: ENOSPC names queues_max",
  ignore: !asRoot,
  async fn() {
    const dir = testDir("mq-queues-max");
    const input = makeInput(join(dir, "input.bin"), 1000);
    // A private IPC namespace, whose queues_max is 0: no queue can be created there.
    const run = await runWrapped(
      ["unshare", "-i", "sh", "-c", 'echo 0 > /proc/sys/fs/mqueue/queues_max && exec "$@"', "sh"],
      "mq",
      ["server", "--name", uniqueName("mq", "max"), "--input", input],
    );
    assert.equal(run.code, 1, run.stderr);
    assertOneError(
      run,
      /ENOSPC .*: the system already has as many queues as \/proc\/sys\/fs\/mqueue\/queues_max allows \(0\)/,
    );
    Deno.removeSync(dir, { recursive: true });
  },
});

Deno.test({
  name: "mq: EACCES names the queue, for the client and for the server",
  ignore: !asRoot, // a queue of another user's, and a root without CAP_DAC_OVERRIDE
  async fn() {
    const dir = testDir("mq-eacces");
    const input = makeInput(join(dir, "input.bin"), 1000);
    const name = uniqueName("mq", "foreign");
    const fd = libc.mq_open(name, libc.O.CREAT | libc.O.EXCL | libc.O.RDWR, 0o600, {
      maxmsg: 1,
      msgsize: 16,
    });
    Deno.chownSync(`/proc/self/fd/${fd}`, 65534, 65534);
    libc.mq_close(fd);
    const noOverride = [
      "setpriv",
      "--bounding-set=-dac_override,-dac_read_search",
      "--inh-caps=-dac_override,-dac_read_search",
    ];
    try {
      const client = await runWrapped(noOverride, "mq", [
        "client",
        "--name",
        name,
        "--output",
        join(dir, "out.bin"),
        "--timeout",
        "1",
      ]);
      assert.equal(client.code, 1, client.stderr);
      assertOneError(
        client,
        new RegExp(
          `cannot open the queue ${name}: mq_open failed with EACCES \\(Permission denied\\): ` +
            "it belongs to ",
        ),
      );
      const server = await runWrapped(noOverride, "mq", [
        "server",
        "--name",
        name,
        "--input",
        input,
      ]);
      assert.equal(server.code, 1, server.stderr);
      assertOneError(
        server,
        new RegExp(
          `a message queue named ${name} already exists, and you may not even open it .*; it was ` +
            "left untouched: choose another --name",
        ),
      );
      assert.equal(queueExists(name), true);
    } finally {
      removeQueue(name);
    }
    assert.deepEqual(filesIn(dir), ["input.bin"]);
    Deno.removeSync(dir, { recursive: true });
    assertNothingLeftBehind();
  },
});
