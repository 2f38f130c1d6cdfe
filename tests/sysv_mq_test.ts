/**
 * The System V queue lesson: byte-exact copies around msgmax and msg_qbytes, by hand in both
 * orders, a side killed with kill -9, a leftover queue with the same key, bad keys, project ids
 * and sizes, its C peer in both roles, and its break-it labs. "Nothing left" is checked against
 * /proc/sysvipc/msg: no queue with the test's key remains.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as libc from "../transports/libc.ts";
import {
  formatKey,
  MTYPE,
  SysvQueue,
  sysvQueueLimits,
  sysvQueueOf,
} from "../transports/sysv_mq.ts";
import { commonBadCases, testBadInputs } from "./_bad_input.ts";
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
  runLesson,
  runWrapped,
  startSide,
  testDir,
  textReader,
} from "./_helpers.ts";
import { testLabs } from "./_labs.ts";
import { testTransfers } from "./_transfers.ts";

const MiB = 1024 * 1024;
const { msgmax, msgmnb } = sysvQueueLimits();

/** A key of this test process alone: 0x5eXXXXXX, made from the pid and a counter. */
let keys = 0;
function freshKey(): string {
  keys++;
  return formatKey(0x5e000000 | ((Deno.pid & 0xffff) << 8) | (keys & 0xff));
}

/** Asserts that /proc/sysvipc/msg lists no queue with `key`. */
function assertNoQueue(key: string): void {
  assert.equal(sysvQueueOf(Number(key) | 0), null, `a queue with key ${key} is left`);
}

testTransfers("sysv-mq", [
  ...[0, 1, msgmax - 1, msgmax, msgmax + 1, msgmnb + 1, MiB + 13].map((size) => ({ size })),
  ...[0, 1, 4097].map((size) => ({ size, chunk: 1 })),
  // A message of msgmax - 1, msgmax bytes; and a budget of one message at a time.
  ...[msgmax - 1, msgmax].map((chunk) => ({ size: 3 * msgmax + 5, chunk })),
  { size: 100_000, chunk: 1000, args: ["--qbytes", "1000"] },
  { size: 100_000, chunk: 999, args: ["--qbytes", "1000", "--proj", "255"] },
]);

/** Runs `deno task clean ARGS` with TMPDIR `tmp` (where it looks for run key files). */
async function cleanIn(tmp: string, args: string[]): Promise<{
  code: number;
  stdout: string;
  stderr: string;
}> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, "lessons/clean.ts"), ...args],
    env: { TMPDIR: tmp },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

/** Makes a queue with `key` in a process that then exits without IPC_RMID: a leftover. */
function leaveQueue(key: string, send: boolean): void {
  const script = `import * as libc from "./transports/libc.ts";
    const id = libc.msgget(${Number(key) | 0}, libc.IPC.CREAT | libc.IPC.EXCL | 0o600);
    const m = new libc.MessageBuffer(3); m.mtype = 1;
    if (${send}) libc.msgsnd(id, m, 3, libc.IPC.NOWAIT);`;
  const output = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    cwd: ROOT,
    stderr: "piped",
  }).outputSync();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
}

const sysvCases = [
  {
    name: "--key not a number",
    args: ["--key", "0xzz"],
    status: 2 as const,
    message: /--key must be a 32-bit number, like 0x4c0b1234/,
  },
  {
    name: "--key too large",
    args: ["--key", "0x100000000"],
    status: 2 as const,
    message: /--key must be a 32-bit number/,
  },
  {
    name: "--key 0 (IPC_PRIVATE)",
    args: ["--key", "0"],
    status: 2 as const,
    message: /--key must not be 0: that is IPC_PRIVATE/,
  },
  {
    name: "--key with --path",
    args: ["--key", "0x1234", "--path", "{input}"],
    status: 2 as const,
    message: /--key gives the key itself: leave out --path and --proj/,
  },
  {
    name: "--proj 0",
    args: ["--proj", "0"],
    status: 2 as const,
    message: /--proj must be between 1 and 255: got 0/,
  },
  {
    name: "--proj 256",
    args: ["--proj", "256"],
    status: 2 as const,
    message: /--proj must be between 1 and 255: got 256/,
  },
  {
    name: "--proj not a number",
    args: ["--proj", "L"],
    status: 2 as const,
    message: /--proj must be a whole number/,
  },
  {
    name: "--path missing, for ftok",
    args: ["--path", "{dir}/no-such-file", "--input", "{input}", "--output", "{output}"],
    status: 2 as const,
    message:
      /--path ".*no-such-file" cannot make a key: ftok\(".*no-such-file", 76\) failed with ENOENT \(no such file or directory\); --path must name a file that exists/,
  },
  {
    name: "--path missing, by hand",
    args: ["server", "--path", "{dir}/no-such-file", "--input", "{input}"],
    status: 2 as const,
    message:
      /--path ".*no-such-file" cannot make a key: ftok\(".*no-such-file", 76\) failed with ENOENT/,
  },
  {
    name: "empty --path",
    args: ["--path="],
    status: 2 as const,
    message: /--path needs the path of an existing file/,
  },
  {
    name: "--chunk beyond msgmax",
    args: ["--chunk", String(msgmax + 1)],
    status: 2 as const,
    message: new RegExp(`at most ${msgmax} .*msgmax, /proc/sys/kernel/msgmax`),
  },
  {
    name: "--chunk larger than --qbytes",
    args: ["--chunk", "2000", "--qbytes", "1000", "--input", "{input}", "--output", "{output}"],
    status: 2 as const,
    message:
      /--chunk 2000 is too large for sysv-mq: at most 1000 .*--qbytes: a larger message would never fit/,
  },
  {
    name: "--qbytes below the end message's 8 bytes",
    args: ["--qbytes", "7", "--input", "{input}", "--output", "{output}"],
    status: 2 as const,
    message:
      /--qbytes 7 is below 8 bytes: the end message carries the count of bytes sent in 8 bytes, and a message larger than msg_qbytes never fits/,
  },
  {
    name: "--path under /proc, which names another file in each process",
    args: ["--path", "/proc/self/status"],
    status: 2 as const,
    message:
      /--path "\/proc\/self\/status" names another file in each process \(under \/proc, \/dev\/fd or \/dev\/stdin, \/proc\/self is each process's own\): server and client would get different keys; give the path of a regular file/,
  },
  {
    name: "client waits for a server that never comes",
    args: ["client", "--key", freshKey(), "--timeout", "0.5", "--output", "{output}"],
    status: 1 as const,
    message: /no server created a queue with key 0x5e[0-9a-f]{6} \(--key\) within 0\.5 s/,
  },
  {
    name: "server waits for a client that never comes",
    args: ["server", "--key", freshKey(), "--timeout", "0.5", "--input", "{input}"],
    status: 1 as const,
    message:
      /no client came within 0\.5 s: nobody has received from the queue 0x5e[0-9a-f]{6} \(msg_lrpid is 0\), and 2 messages wait in it$/m,
  },
];

testBadInputs("sysv-mq", [...commonBadCases({ tooLargeChunk: String(msgmax + 1) }), ...sysvCases]);

Deno.test("sysv-mq: a queue left with the same key is refused with one line, and left alone", async (t) => {
  const key = freshKey();
  leaveQueue(key, true); // made by a process that has exited, with one message in it
  const dir = testDir("sysv-mq-stale");
  const input = makeInput(join(dir, "input.bin"), 5000);
  try {
    await t.step("the demo", async () => {
      const run = await runLesson("sysv-mq", [
        "--key",
        key,
        "--input",
        input,
        "--output",
        join(dir, "out"),
      ]);
      assert.equal(run.code, 1, run.stderr);
      assertOneError(
        run,
        new RegExp(
          `a System V message queue with key ${key} \\(--key\\) already exists \\(msqid \\d+, 1 message\\): process \\d+, the last to use it, has exited, so the program that made it exited without removing it .*it was left untouched: \`ipcrm -q \\d+\` or \`deno task clean ${key}\` removes it`,
        ),
      );
    });
    await t.step("the server by hand", async () => {
      const run = await runLesson("sysv-mq", ["server", "--key", key, "--input", input]);
      assert.equal(run.code, 1, run.stderr);
      assertOneError(
        run,
        /already exists .*has exited, so the program that made it exited without removing it.*ipcrm -q \d+/,
      );
      assert.doesNotMatch(
        run.stderr,
        /killed/,
        "a key not the lessons': not called a killed run's",
      );
    });
    await t.step("a key the lessons make up: a killed run's", async () => {
      const madeUp = formatKey(libc.madeUpKey());
      leaveQueue(madeUp, true);
      try {
        const run = await runLesson("sysv-mq", ["server", "--key", madeUp, "--input", input]);
        assert.equal(run.code, 1, run.stderr);
        assertOneError(
          run,
          /already exists .*: process \d+, the last to use it, has exited, so a killed run left it behind/,
        );
      } finally {
        const info = sysvQueueOf(Number(madeUp) | 0);
        if (info) libc.msgctl(info.msqid, libc.IPC.RMID);
      }
    });
    const info = sysvQueueOf(Number(key) | 0);
    assert.equal(info?.qnum, 1, "the refused runs left the queue, and its message, alone");
    await t.step(
      "plain deno task clean names it (not the lessons' key); clean KEY removes it",
      async () => {
        const plain = await cleanIn(dir, []);
        assert.equal(plain.code, 0, plain.stderr);
        assert.match(
          plain.stdout,
          new RegExp(
            `note: left alone: the System V message queue msqid ${
              info!.msqid
            } \\(key ${key}, 1 message\\) is unused .*: \`deno task clean ${key}\` or \`ipcrm -q ${
              info!.msqid
            }\` removes it`,
          ),
        );
        assert.equal(sysvQueueOf(Number(key) | 0)?.msqid, info!.msqid, "plain clean left it");
        const named = await cleanIn(dir, [key]);
        assert.equal(named.code, 0, named.stderr);
        assert.match(
          named.stdout,
          new RegExp(`removed +System V queue +msqid ${info!.msqid} \\(key ${key}\\)`),
        );
        assertNoQueue(key);
      },
    );
  } finally {
    const left = sysvQueueOf(Number(key) | 0);
    if (left) new Deno.Command("ipcrm", { args: ["-q", String(left.msqid)] }).outputSync();
    Deno.removeSync(dir, { recursive: true });
  }
  assertNothingLeftBehind();
});

Deno.test("sysv-mq: plain deno task clean removes only the lessons' stale queues, never a live one", async () => {
  const dir = testDir("sysv-mq-clean-policy");
  const keyFile = join(dir, `ipc-lesson-sysv-mq-test-${Deno.pid}.key`); // a killed run's
  Deno.writeFileSync(keyFile, new Uint8Array(0), { createNew: true, mode: 0o600 });
  const heldFile = join(dir, `ipc-lesson-sysv-mq-test-${Deno.pid}-held.key`); // a running one's
  const held = Deno.openSync(heldFile, { createNew: true, write: true, mode: 0o600 });
  const unusedFile = join(dir, `ipc-lesson-sysv-mq-test-${Deno.pid}-unused.key`); // killed early
  Deno.writeFileSync(unusedFile, new Uint8Array(0), { createNew: true, mode: 0o600 });
  const unused = formatKey(libc.ftok(unusedFile, 76));
  const keys = {
    run: formatKey(libc.ftok(keyFile, 76)), // ftok of a run key file: the lessons'
    madeUp: formatKey(libc.madeUpKey()), // top byte 0x1e: the lessons'
    students: freshKey(), // any other key: a student's own, left on purpose perhaps
  };
  const created: SysvQueue[] = [];
  try {
    for (const key of Object.values(keys)) leaveQueue(key, true);
    leaveQueue(unused, false); // a server killed before its first send: never used
    const unusedId = sysvQueueOf(Number(unused) | 0)!.msqid;
    // Live: used by this process, which runs; and never used, but its run key file is held.
    const live = SysvQueue.create(libc.madeUpKey());
    created.push(live);
    await live.send(new Uint8Array(1), MTYPE.DATA);
    const starting = SysvQueue.create(libc.ftok(heldFile, 76));
    created.push(starting);
    const ids = Object.fromEntries(
      Object.entries(keys).map(([name, key]) => [name, sysvQueueOf(Number(key) | 0)!.msqid]),
    );

    const plain = await cleanIn(dir, []);
    assert.equal(plain.code, 0, plain.stderr);
    for (const name of ["run", "madeUp"] as const) {
      assert.match(
        plain.stdout,
        new RegExp(`removed +System V queue +msqid ${ids[name]} \\(key ${keys[name]}\\)`),
      );
      assertNoQueue(keys[name]);
    }
    assert.match(plain.stdout, new RegExp(`removed +key file +${keyFile}`));
    // Never used, and nobody holds its run key file: its run was killed before it sent.
    assert.match(plain.stdout, new RegExp(`removed +System V queue +msqid ${unusedId} `));
    assertNoQueue(unused);
    assert.match(
      plain.stdout,
      new RegExp(
        `in use +System V queue +msqid ${starting.msqid} .*held by process ${Deno.pid}`,
      ),
    );
    assert.match(
      plain.stdout,
      new RegExp(
        `note: left alone: the System V message queue msqid ${
          ids["students"]
        } \\(key ${keys.students}, 1 message\\).*\`deno task clean ${keys.students}\` or \`ipcrm -q ${
          ids["students"]
        }\` removes it`,
      ),
    );
    assert.doesNotMatch(plain.stdout, new RegExp(`msqid ${live.msqid}\\b`));
    assert.ok(sysvQueueOf(Number(keys.students) | 0), "the student's queue survived");
    assert.ok(live.exists() && starting.exists(), "live queues survived");

    // By name: a stale one goes; a live one, or one never used, is refused with one line.
    const named = await cleanIn(dir, [keys.students]);
    assert.equal(named.code, 0, named.stderr);
    assertNoQueue(keys.students);
    const refused = await cleanIn(dir, [formatKey(live.key), formatKey(starting.key)]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      new RegExp(
        `error: the System V message queue msqid ${live.msqid} is in use, held by process ${Deno.pid}: left alone`,
      ),
    );
    assert.match(
      refused.stderr,
      new RegExp(
        `error: the System V message queue msqid ${starting.msqid} .*has never been used .*left alone`,
      ),
    );
    assert.ok(live.exists() && starting.exists(), "live queues survived");
  } finally {
    for (const queue of created) queue.remove();
    for (const key of [...Object.values(keys), unused]) {
      const left = sysvQueueOf(Number(key) | 0);
      if (left) libc.msgctl(left.msqid, libc.IPC.RMID);
    }
    held.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("sysv-mq: after kill -9 of the whole demo, plain deno task clean removes what it left", async () => {
  const dir = testDir("sysv-mq-demo-killed");
  // A new session (setsid), so that one kill reaches the runner, the server and the client.
  const demo = new Deno.Command("setsid", {
    args: [
      Deno.execPath(),
      "run",
      "-A",
      join(ROOT, "lessons/sysv-mq/main.ts"),
      "--size",
      "4M",
      "--chunk",
      "1",
      "--timeout",
      "60",
    ],
    env: { TMPDIR: dir },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    // Wait until the run's queue carries data (the key file's ftok, any project id).
    let queue = null;
    for (let tries = 0; queue === null && tries < 300; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const file = filesIn(dir).find((name) => name.endsWith(".key"));
      if (file === undefined) continue;
      try {
        const info = sysvQueueOf(libc.ftok(join(dir, file), 76));
        if (info && info.lspid !== 0) queue = info;
      } catch { /* the key file went meanwhile */ }
    }
    assert.ok(queue, "the demo's queue never carried data");
    Deno.kill(-demo.pid, "SIGKILL");
    const status = await demo.status;
    assert.equal(status.signal, "SIGKILL");
    await new Promise((resolve) => setTimeout(resolve, 200)); // the children die too
    assert.ok(sysvQueueOf(queue.key), "kill -9 left the queue");
    const plain = await cleanIn(dir, []);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, new RegExp(`removed +System V queue +msqid ${queue.msqid} `));
    assert.match(plain.stdout, /removed +key file +.*ipc-lesson-sysv-mq-.*\.key/);
    assert.equal(sysvQueueOf(queue.key), null);
    assert.deepEqual(filesIn(dir).filter((name) => name.endsWith(".key")), []);
  } finally {
    try {
      Deno.kill(-demo.pid, "SIGKILL");
    } catch { /* gone */ }
    await demo.stderr.cancel();
    Deno.removeSync(dir, { recursive: true });
  }
});

for (const first of ["server", "client"] as const) {
  Deno.test(`sysv-mq by hand: the ${first} starts first`, async () => {
    const dir = testDir(`sysv-mq-${first}-first`);
    // Larger than the queue, so a server that starts first fills it and waits for the client.
    const input = makeInput(join(dir, "ïnput file.bin"), 2 * MiB + 3);
    const output = join(dir, "öutput file.bin");
    const key = freshKey();
    const args = {
      server: ["--key", key, "--input", input],
      client: ["--key", key, "--output", output],
    };
    const second = first === "server" ? "client" : "server";
    const a = await startSide(
      "sysv-mq",
      first,
      args[first],
      first === "server" ? "sending the file" : "waiting up to",
    );
    if (first === "server") assert.notEqual(sysvQueueOf(Number(key) | 0), null);
    const b = await startSide("sysv-mq", second, args[second], /I am the/);
    const [ra, rb] = await Promise.all([finishSide(a), finishSide(b)]);
    assert.equal(ra.status.code, 0, ra.stderr);
    assert.equal(rb.status.code, 0, rb.stderr);
    assertSameFile(output, input);
    const [server, client] = first === "server" ? [ra, rb] : [rb, ra];
    assert.match(
      client.stderr,
      /the message of type 2: the end, after 2\.00 MiB in 257 messages of type 1/,
    );
    assert.match(server.stderr, /removed the queue with msgctl\(\d+, IPC_RMID\)/);
    assert.match(server.stderr, /ipcs -q/);
    assertNoQueue(key);
    Deno.removeSync(dir, { recursive: true });
    assertNothingLeftBehind();
  });
}

Deno.test("sysv-mq by hand: ftok of the same file and project id meets; the run's key file", async () => {
  const dir = testDir("sysv-mq-ftok");
  const input = makeInput(join(dir, "input.bin"), 50_000);
  const output = join(dir, "output.bin");
  const keyFile = join(dir, "ipc-lesson-sysv-mq-test-1.key"); // a run's key file: made by the server
  const common = ["--path", keyFile, "--proj", "9"];
  const client = await startSide("sysv-mq", "client", [...common, "--output", output], "I am the");
  const server = await startSide("sysv-mq", "server", [...common, "--input", input], /ftok/);
  const [rs, rc] = await Promise.all([finishSide(server), finishSide(client)]);
  assert.equal(rs.status.code, 0, rs.stderr);
  assert.equal(rc.status.code, 0, rc.stderr);
  assert.match(
    rs.stderr,
    /ftok\(".*ipc-lesson-sysv-mq-test-1\.key", 9\) = 0x09[0-9a-f]{6}: the project id 9/,
  );
  assertSameFile(output, input);
  assert.deepEqual(filesIn(dir), ["input.bin", "output.bin"], "the server removed its key file");
  Deno.removeSync(dir, { recursive: true });
  assertNothingLeftBehind();
});

Deno.test("sysv-mq by hand: kill -9 of one side mid-transfer is noticed within 2 s, nothing left", async (t) => {
  for (const victim of ["server", "client"] as const) {
    await t.step(`the ${victim} is killed`, async () => {
      const dir = testDir(`sysv-mq-kill-${victim}`);
      const input = makeInput(join(dir, "input.bin"), 8 * MiB);
      const output = join(dir, "output.bin");
      const key = freshKey();
      const common = ["--key", key, "--timeout", "60"];
      const stop = ["--kill-after", `${victim}:1M:STOP`];
      const server = await startSide("sysv-mq", "server", [
        ...common,
        "--input",
        input,
        ...(victim === "server" ? stop : []),
      ], "sending the file");
      const client = await startSide("sysv-mq", "client", [
        ...common,
        "--output",
        output,
        ...(victim === "client" ? stop : []),
      ], "I am the client");
      const [dead, survivor] = victim === "server" ? [server, client] : [client, server];
      await readUntil(dead.stderr, "sending myself SIGSTOP");
      const killedAt = performance.now();
      dead.child.kill("SIGKILL");
      const [d, s] = await Promise.all([finishSide(dead), finishSide(survivor)]);
      const noticedAfter = (performance.now() - killedAt) / 1000;
      assert.equal(d.status.signal, "SIGKILL");
      assert.equal(s.status.code, 1, s.stderr);
      const lastLine = s.stderr.trim().split("\n").at(-1)!;
      assert.match(
        lastLine,
        victim === "server"
          ? /error: the server exited after .*, before the end-of-file message: transfer incomplete \(process \d+, the last to send .*msg_lspid.*I removed the queue it left \(IPC_RMID\)/
          : /error: client exited after .*: transfer incomplete \(process \d+, the last to receive .*msg_lrpid/,
      );
      assertNoStackTrace({ code: 1, signal: null, stdout: "", stderr: s.stderr });
      // The goal is 2 s (the transport looks every 0.3 s); a shared, noisy machine gets slack.
      assert.ok(noticedAfter < 4, `noticed after ${noticedAfter.toFixed(1)} s`);
      console.log(`    noticed in ${noticedAfter.toFixed(2)} s`);
      assert.deepEqual(filesIn(dir), ["input.bin"]);
      assertNoQueue(key);
      Deno.removeSync(dir, { recursive: true });
      assertNothingLeftBehind();
    });
  }
});

Deno.test("sysv-mq: the C peer (peer.c) speaks the protocol, in both roles", async (t) => {
  const dir = testDir("sysv-mq-peer");
  const peer = join(dir, "peer");
  const cc = new Deno.Command("cc", {
    args: ["-O2", "-Wall", "-Werror", "-o", peer, join(ROOT, "lessons/sysv-mq/peer.c")],
    stderr: "piped",
  }).outputSync();
  assert.equal(cc.code, 0, new TextDecoder().decode(cc.stderr));
  const input = makeInput(join(dir, "input.bin"), 3 * msgmax + 17);

  await t.step("C server, Deno client", async () => {
    const key = freshKey();
    const output = join(dir, "from-c.bin");
    const server = new Deno.Command("sh", {
      args: ["-c", `exec "$0" server -k "$1" < "$2"`, peer, key, input],
      stderr: "piped",
    }).spawn();
    const run = await runLesson("sysv-mq", ["client", "--key", key, "--output", output]);
    const status = await server.output();
    assert.equal(run.code, 0, run.stderr);
    assert.equal(status.code, 0, new TextDecoder().decode(status.stderr));
    assertSameFile(output, input);
    assertNoQueue(key);
  });

  await t.step("Deno server, C client", async () => {
    const key = freshKey();
    const output = join(dir, "to-c.bin");
    const server = await startSide(
      "sysv-mq",
      "server",
      ["--key", key, "--input", input],
      "sending",
    );
    const client = await new Deno.Command("sh", {
      args: ["-c", `exec "$0" client -k "$1" > "$2"`, peer, key, output],
      stderr: "piped",
    }).output();
    const rs = await finishSide(server);
    assert.equal(client.code, 0, new TextDecoder().decode(client.stderr));
    assert.equal(rs.status.code, 0, rs.stderr);
    assertSameFile(output, input);
    assertNoQueue(key);
  });

  await t.step("C client, over ftok of the same file and project id", async () => {
    const output = join(dir, "ftok.bin");
    const server = await startSide("sysv-mq", "server", [
      "--path",
      input,
      "--proj",
      "200",
      "--input",
      input,
    ], "sending");
    const client = await new Deno.Command("sh", {
      args: ["-c", `exec "$0" client -p "$1" -j 200 > "$2"`, peer, input, output],
      stderr: "piped",
    }).output();
    const rs = await finishSide(server);
    assert.equal(client.code, 0, new TextDecoder().decode(client.stderr));
    assert.equal(rs.status.code, 0, rs.stderr);
    assertSameFile(output, input);
  });
  Deno.removeSync(dir, { recursive: true });
  assertNothingLeftBehind();
});

testLabs("sysv-mq", {
  "no-rmid":
    /SYMPTOM: the queue 0x[0-9a-f]{8} \(msqid \d+\) outlived the process that made it: ipcs -q still lists it, with 1 message of 5 bytes/,
  "wrong-type":
    /SYMPTOM: msgrcv\(msgtyp 3\) found nothing for 1 s \(ENOMSG each try\), though the queue holds 1 message \(of type 1\)/,
  "key-collision":
    /SYMPTOM: program B got program A's queue \(msqid \d+ both\) and took A's message: "for A's client only"/,
});

Deno.test("sysv-mq: limits set low with sysctl (in a private IPC namespace) get one line each", async (t) => {
  // A user namespace makes its own IPC namespace, whose msg* sysctls its root may set.
  const limited = (settings: string, args: string[]) =>
    runWrapped(
      [
        "unshare",
        "--user",
        "--map-root-user",
        "--ipc",
        "sh",
        "-c",
        `${settings} && exec "$@"`,
        "sh",
      ],
      "sysv-mq",
      args,
    );
  await t.step("msgmnb below msgmax: the default chunk fits the queue", async () => {
    const run = await limited("echo 50 > /proc/sys/kernel/msgmnb", ["--quiet"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /byte-exact copy: yes/);
    assert.match(run.stderr, /in 29 writes/); // 1428 bytes in messages of 50
    const big = await limited("echo 50 > /proc/sys/kernel/msgmnb", ["--chunk", "51"]);
    assert.equal(big.code, 2);
    assertOneError(
      big,
      /--chunk 51 is too large for sysv-mq: at most 50 .*a new queue's byte budget \(msgmnb, \/proc\/sys\/kernel\/msgmnb\): a larger message would never fit/,
    );
  });
  await t.step("msgmax 100: messages of 100 bytes", async () => {
    const run = await limited("echo 100 > /proc/sys/kernel/msgmax", ["--quiet", "--size", "1000"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /in 10 writes/);
  });
  await t.step("msgmni 0: no queue at all", async () => {
    const key = freshKey();
    const run = await limited("echo 0 > /proc/sys/kernel/msgmni", [
      "server",
      "--key",
      key,
      "--input",
      join(ROOT, "lessons/sample.txt"),
    ]);
    assert.equal(run.code, 1);
    assertOneError(
      run,
      new RegExp(
        `cannot create a queue with key ${key} \\(--key\\): ENOSPC .*as many queues as msgmni allows \\(/proc/sys/kernel/msgmni: 0\\)`,
      ),
    );
  });
});

Deno.test("sysv-mq: a queue this user may not read is refused by the client, and left alone", async () => {
  const dir = testDir("sysv-mq-not-ours");
  const key = freshKey();
  // Mode 0200: not even its owner may read it. Root reads anything (CAP_IPC_OWNER): drop that.
  const msqid = libc.msgget(Number(key) | 0, libc.IPC.CREAT | libc.IPC.EXCL | 0o200);
  try {
    const wrapper = Deno.uid() === 0 ? ["setpriv", "--bounding-set=-ipc_owner"] : ["env"];
    const output = join(dir, "out");
    const run = await runWrapped(wrapper, "sysv-mq", ["client", "--key", key, "--output", output]);
    assert.equal(run.code, 1, run.stderr);
    assertOneError(
      run,
      new RegExp(
        `the queue with key ${key} \\(--key\\) is not ours: msgctl failed with EACCES \\(msqid ${msqid} belongs to user ${Deno.uid()}, mode 0200, which does not let this user in\\); it was left untouched`,
      ),
    );
    assert.deepEqual(filesIn(dir), [], "no output");
    assert.equal(sysvQueueOf(Number(key) | 0)?.msqid, msqid, "left alone");
  } finally {
    libc.msgctl(msqid, libc.IPC.RMID);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("sysv-mq: a queue removed under the client before the end is said so, not 'the server exited'", async () => {
  const dir = testDir("sysv-mq-removed");
  const key = freshKey();
  const output = join(dir, "out");
  // This test is the server: it makes the queue and sends one message, but never the end.
  using queue = SysvQueue.create(Number(key) | 0, { timeout: 5000 });
  await queue.send(new TextEncoder().encode("some"), MTYPE.DATA);
  try {
    const client = await startSide("sysv-mq", "client", [
      "--key",
      key,
      "--output",
      output,
      "--trace",
    ], /msgrcv\(.*\) = 4/);
    queue.remove();
    const { status, stderr } = await finishSide(client);
    assert.equal(status.code, 1, stderr);
    assert.match(stderr, new RegExp(`msgget\\(${key}, 0\\) = ${queue.msqid}\\n`)); // flags 0
    assert.match(
      stderr.trim().split("\n").at(-1)!,
      /error: the queue was removed before the end-of-file message, after 4 bytes: transfer incomplete \(the queue .* was removed \(IPC_RMID\) by another process: msgrcv failed with (EIDRM|EINVAL)\)$/,
    );
    assertNoStackTrace({ code: 1, signal: null, stdout: "", stderr });
    assert.deepEqual(filesIn(dir), [], "no output");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("sysv-mq: --help's --trace example shows msgsnd waiting for room (EAGAIN)", async () => {
  // The client may take a message between the server's look at the queue and its msgsnd (seen
  // once in CI): then that msgsnd succeeds. Three runs give the wait every chance to show.
  let run;
  for (let attempt = 1; attempt <= 3; attempt++) {
    run = await runLesson("sysv-mq", [
      "--trace",
      "--size",
      "20K",
      "--chunk",
      "3000",
      "--qbytes",
      "8000",
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stderr,
      /the next message \(3000 bytes\) does not fit: 6000 \+ 3000 > msg_qbytes 8000, so msgsnd\(IPC_NOWAIT\) fails with EAGAIN/,
    );
    if (/= -1 EAGAIN/.test(run.stderr)) break;
  }
  assert.match(
    run!.stderr,
    /msgsnd\(\d+, \{mtype=1, <3000 bytes>\}, 3000, IPC_NOWAIT\) = -1 EAGAIN/,
  );
  const help = await runLesson("sysv-mq", ["--help"]);
  assert.match(
    help.stdout,
    /deno task lesson:sysv-mq --trace --size 20K --chunk 3000 --qbytes 8000/,
  );
});

Deno.test("sysv-mq: a queue with a lessons' key owned by another user is refused by both sides and never removed", async () => {
  const dir = testDir("sysv-mq-other-user");
  const key = formatKey(libc.madeUpKey()); // the lessons' own kind of key
  leaveQueue(key, true); // stale: its sender has exited
  const msqid = sysvQueueOf(Number(key) | 0)!.msqid;
  // Give it away (IPC_SET of msg_perm.uid, at offset 4 of struct msqid_ds): another user's.
  const buf = new Uint8Array(120);
  libc.msgctl(msqid, libc.IPC.STAT, buf);
  new DataView(buf.buffer).setUint32(4, 65534, true);
  libc.msgctl(msqid, libc.IPC.SET, buf);
  try {
    const run = await runLesson("sysv-mq", [
      "server",
      "--key",
      key,
      "--input",
      join(ROOT, "lessons/sample.txt"),
    ]);
    assert.equal(run.code, 1);
    assertOneError(
      run,
      new RegExp(
        `a System V message queue with key ${key} \\(--key\\) already exists \\(msqid ${msqid}, 1 message\\), owned by user 65534: it was left untouched`,
      ),
    );
    // Nor does a client take it for its server's, even as root (whom no mode keeps out): anyone
    // could have filled it.
    const copy = join(dir, "copy");
    const client = await runLesson("sysv-mq", ["client", "--key", key, "--output", copy]);
    assert.equal(client.code, 1, client.stderr);
    assertOneError(
      client,
      new RegExp(
        `refusing to use the System V queue ${key} \\(msqid ${msqid}\\): it belongs to user 65534, not to you`,
      ),
    );
    assert.throws(() => Deno.lstatSync(copy), Deno.errors.NotFound);
    const plain = await cleanIn(dir, []);
    assert.equal(plain.code, 0, plain.stderr);
    assert.doesNotMatch(plain.stdout, new RegExp(`msqid ${msqid}\\b`));
    const named = await cleanIn(dir, [key]);
    assert.equal(named.code, 1);
    assert.match(
      named.stderr,
      new RegExp(
        `error: the System V message queue msqid ${msqid} belongs to another user \\(uid 65534\\): left alone`,
      ),
    );
    assert.equal(sysvQueueOf(Number(key) | 0)?.qnum, 1, "left alone, message and all");
  } finally {
    libc.msgctl(msqid, libc.IPC.RMID);
    Deno.removeSync(dir, { recursive: true });
  }
});

/** Whether this process has CAP_SYS_RESOURCE (bit 24 of CapEff), as the lesson checks. */
function hasSysResource(): boolean {
  const line = Deno.readTextFileSync("/proc/self/status").match(/^CapEff:\s*([0-9a-f]+)$/m);
  return (BigInt(`0x${line![1]}`) & (1n << 24n)) !== 0n;
}

Deno.test("sysv-mq: --qbytes above msgmnb needs CAP_SYS_RESOURCE: refused without it, used with it", async () => {
  const above = String(msgmnb * 2);
  // Without the capability (dropped from the bounding set where we are root): one line.
  const wrapper = Deno.uid() === 0 ? ["setpriv", "--bounding-set=-sys_resource"] : ["env"];
  const refused = await runWrapped(wrapper, "sysv-mq", ["--qbytes", above]);
  assert.equal(refused.code, 2, refused.stderr);
  assertOneError(
    refused,
    new RegExp(
      `--qbytes ${above} is above the system's limit of ${msgmnb} bytes per queue \\(/proc/sys/kernel/msgmnb\\); only a process with CAP_SYS_RESOURCE may go higher`,
    ),
  );
  // With it (root, on most machines; not in every container): the queue gets that budget.
  if (hasSysResource()) {
    const run = await runLesson("sysv-mq", ["--qbytes", above, "--size", "100K"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stderr,
      new RegExp(`msg_qbytes is ${above} bytes \\(set with msgctl\\(IPC_SET\\)`),
    );
  }
});

Deno.test("sysv-mq: a --key with the top bit set (a negative key_t) works in the demo", async () => {
  const key = formatKey(0x80000000 | ((Deno.pid & 0xffff) << 8) | 0xee); // 0x8…: key_t < 0
  const run = await runLesson("sysv-mq", ["--key", key, "--quiet"]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /byte-exact copy: yes/);
  assertNoQueue(key);
});

Deno.test("sysv-mq: a hostile sender's message of another type stops the client with one line, no output", async () => {
  const dir = testDir("sysv-mq-hostile");
  const key = freshKey();
  const output = join(dir, "out");
  // This test is the server, and an intruder that sends a type the protocol does not have.
  using queue = SysvQueue.create(Number(key) | 0, { timeout: 5000 });
  await queue.send(new TextEncoder().encode("data"), MTYPE.DATA);
  await queue.send(new Uint8Array(10), 5);
  try {
    const run = await runLesson("sysv-mq", ["client", "--key", key, "--output", output]);
    assert.equal(run.code, 1, run.stderr);
    assertOneError(
      run,
      new RegExp(
        `a message of type 5 came through the queue ${key}: the protocol has only 1 \\(data\\) and 2 \\(the end\\); another program is using this key`,
      ),
    );
    assert.deepEqual(filesIn(dir), [], "no output, partial or whole");
    assert.ok(queue.exists(), "the client leaves the server's queue alone");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("sysv-mq: a lab killed with kill -9 leaves a queue that plain deno task clean removes", async () => {
  const dir = testDir("sysv-mq-lab-killed");
  const lab = lessonCommand("sysv-mq", ["--break", "wrong-type"], { env: { TMPDIR: dir } }).spawn();
  try {
    await readUntil(textReader(lab.stderr), "2. the receiver asks for type 3");
    lab.kill("SIGKILL");
    await lab.status;
    const [folder] = filesIn(dir);
    const [keyFile] = filesIn(join(dir, folder!));
    const key = libc.ftok(join(dir, folder!, keyFile!), 2);
    assert.ok(sysvQueueOf(key), "kill -9 left the lab's queue");
    const plain = await cleanIn(dir, []);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(
      plain.stdout,
      new RegExp(`removed +System V queue +msqid \\d+ \\(key ${formatKey(key)}\\)`),
    );
    assert.match(plain.stdout, /removed +demo folder +.*ipc-lesson-lab-/);
    assert.equal(sysvQueueOf(key), null);
  } finally {
    await lab.stdout.cancel().catch(() => {});
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("sysv-mq by hand: a message injected by another process of the user fails the copy, no output", async (t) => {
  // Any process of this user may msgsnd to the key. The server sends 1000-byte messages into a
  // queue of 10100 bytes: once it holds 10, the server waits for room, and 100 bytes are left
  // for the intruder (this test, through FFI), whose messages then sit between the server's.
  const size = 64 * 1024;
  const count = (n: number) => {
    const text = new Uint8Array(8);
    new DataView(text.buffer).setBigUint64(0, BigInt(n), true);
    return text;
  };
  const injected = "INJECTED";
  const cases: {
    name: string;
    inject: [number, Uint8Array][];
    error: (key: string) => RegExp;
  }[] = [
    {
      name: "a data message too many",
      inject: [[MTYPE.DATA, new TextEncoder().encode(injected)]],
      error: (key) =>
        new RegExp(
          `error: the end message says ${size} bytes were sent, but ${
            size + injected.length
          } came through the queue ${key}: another process sent messages to it or took some from it; a System V queue has no owner-only channel between two processes: any process of this user may msgsnd to it or msgrcv from it; the copy is not kept$`,
        ),
    },
    {
      name: "an early end message without a count",
      inject: [[MTYPE.END, new Uint8Array(0)]],
      error: (key) =>
        new RegExp(
          `error: an end message \\(type 2\\) without the server's 8-byte count came through the queue ${key} after 10000 bytes: another process sent it; a System V queue has no owner-only channel`,
        ),
    },
    {
      name: "an early end message with a wrong count",
      inject: [[MTYPE.END, count(size)]],
      error: (key) =>
        new RegExp(
          `error: the end message says ${size} bytes were sent, but 10000 came through the queue ${key}: another process sent`,
        ),
    },
    {
      name: "an early end message with the count so far, then more data",
      inject: [[MTYPE.END, count(10000)], [MTYPE.DATA, new TextEncoder().encode(injected)]],
      error: (key) =>
        new RegExp(
          `error: \\d+ messages? came through the queue ${key} after the end \\(process \\d+ sent last, says msg_lspid\\): another process sent (it|them); a System V queue has no owner-only channel`,
        ),
    },
  ];
  const dir = testDir("sysv-mq-injected");
  const input = makeInput(join(dir, "input.bin"), size);
  for (const { name, inject, error } of cases) {
    await t.step(name, async () => {
      const key = freshKey();
      const output = join(dir, "out.bin");
      const common = ["--key", key, "--timeout", "20"];
      const server = await startSide("sysv-mq", "server", [
        ...common,
        "--input",
        input,
        "--chunk",
        "1000",
        "--qbytes",
        "10100",
      ], "sending the file");
      try {
        for (let waited = 0; sysvQueueOf(Number(key) | 0)?.qnum !== 10; waited += 10) {
          assert.ok(waited < 10_000, "the server did not fill the queue with 10 messages");
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        {
          using intruder = await SysvQueue.open(Number(key) | 0, { timeout: 1000 });
          for (const [type, text] of inject) await intruder.send(text, type);
        }
        const run = await runLesson("sysv-mq", ["client", ...common, "--output", output]);
        assert.equal(run.code, 1, run.stderr);
        assertOneError(run, error(key));
        assert.deepEqual(filesIn(dir), ["input.bin"], "no output, partial or whole");
      } finally {
        // The server sees the client gone (or the queue empty) and removes the queue.
        const rs = await finishSide(server);
        assert.ok(rs.status.code === 0 || rs.status.code === 1, rs.stderr);
        assertNoStackTrace({ code: rs.status.code, signal: null, stdout: "", stderr: rs.stderr });
      }
      assertNoQueue(key);
    });
  }
  Deno.removeSync(dir, { recursive: true });
  assertNothingLeftBehind();
});
