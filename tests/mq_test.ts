/**
 * The message-queue lesson: byte-exact copies around the message size, both sides by hand in
 * both start orders, a foreign peer, bad input, a name that is taken, and peers that never come
 * or die in the middle, and its break-it labs. After each test no queue is left.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as libc from "../transports/libc.ts";
import { MessageQueue, queueExists, removeQueue } from "../transports/mq.ts";
import { commonBadCases, testBadInputs } from "./_bad_input.ts";
import { testLabs } from "./_labs.ts";
import {
  assertNoStackTrace,
  assertNothingLeftBehind,
  assertOneError,
  assertSameFile,
  filesIn,
  finishSide,
  makeInput,
  readUntil,
  ROOT,
  runLesson,
  startSide,
  testDir,
} from "./_helpers.ts";
import { testTransfers } from "./_transfers.ts";

const MiB = 1024 * 1024;
/** The system's limits here: 10 messages of 8192 bytes (even root cannot go higher). */
const MSGSIZE = Number(Deno.readTextFileSync("/proc/sys/fs/mqueue/msgsize_max"));
const MAXMSG = Number(Deno.readTextFileSync("/proc/sys/fs/mqueue/msg_max"));

/** A queue name no other test uses, with the project's prefix (so `deno task clean` knows it). */
function queueName(what: string): string {
  return `/ipc-lesson-mq-${Deno.pid}-test-${what}-${crypto.randomUUID().slice(0, 8)}`;
}

testTransfers("mq", [
  ...[0, 1, MSGSIZE - 1, MSGSIZE, MSGSIZE + 1, 10 * MSGSIZE, 10 * MSGSIZE + 1, MiB + 13, 64 * MiB]
    .map((size) => ({ size })),
  // Smaller queues and messages: more waiting, more messages.
  { size: MiB + 13, args: ["--maxmsg", "1"] },
  { size: 100_003, args: ["--msgsize", "100", "--maxmsg", "3"] },
  { size: 65_537, args: ["--msgsize", "1"] },
  // Messages shorter than the queue allows.
  { size: 4097, chunk: 1 },
  { size: MiB + 13, chunk: 1000 },
]);

testBadInputs("mq", [
  ...commonBadCases({ tooLargeChunk: String(MSGSIZE + 1) }),
  {
    name: "name without a leading slash",
    args: ["--name", "my-queue"],
    status: 2,
    message: /--name must start with a slash, like \/my-queue/,
  },
  {
    name: "name with a second slash",
    args: ["--name", "/my/queue"],
    status: 2,
    message: /--name must not contain a second slash/,
  },
  {
    name: "name longer than NAME_MAX",
    args: ["--name", `/${"q".repeat(256)}`],
    status: 2,
    message: /--name is too long: 256 bytes after the slash, at most 255/,
  },
  { name: "empty name", args: ["--name="], status: 2, message: /--name needs a name/ },
  { name: "name /..", args: ["--name", "/.."], status: 2, message: /--name cannot be "\/\.\."/ },
  {
    name: "msgsize 0",
    args: ["--msgsize", "0"],
    status: 2,
    message: /--msgsize must be at least 1 .*\/proc\/sys\/fs\/mqueue\/msgsize_max/,
  },
  {
    name: "msgsize above the limit",
    args: ["--msgsize", String(MSGSIZE + 1)],
    status: 2,
    message: new RegExp(
      `--msgsize ${MSGSIZE + 1} is above the system's limit of ${MSGSIZE} bytes per message ` +
        "\\(/proc/sys/fs/mqueue/msgsize_max\\)",
    ),
  },
  {
    name: "maxmsg 0",
    args: ["--maxmsg", "0"],
    status: 2,
    message: /--maxmsg must be at least 1 .*\/proc\/sys\/fs\/mqueue\/msg_max/,
  },
  {
    name: "maxmsg above the limit",
    args: ["--maxmsg", String(MAXMSG + 1)],
    status: 2,
    message: new RegExp(
      `--maxmsg ${MAXMSG + 1} is above the system's limit of ${MAXMSG} messages per queue ` +
        "\\(/proc/sys/fs/mqueue/msg_max\\)",
    ),
  },
  {
    name: "maxmsg not a number",
    args: ["--maxmsg", "many"],
    status: 2,
    message: /--maxmsg must be a whole number/,
  },
  {
    name: "chunk above a smaller --msgsize",
    args: ["--msgsize", "100", "--chunk", "101"],
    status: 2,
    message: /--chunk 101 is too large for mq: at most 100 .*mq_msgsize/,
  },
  {
    name: "server alone: no client comes (the file fits in the queue)",
    args: ["server", "--timeout", "0.5", "--name", queueName("alone")],
    status: 1,
    message: /no client opened the queue \/ipc-lesson-mq-.*alone.* within 0\.5 s/,
  },
  {
    name: "server alone: no client comes (the queue fills up)",
    args: ["server", "--timeout", "0.5", "--input", "{input}", "--msgsize", "100"],
    status: 1,
    message: /no client opened the queue \/ipc-lesson-mq-.* within 0\.5 s/,
  },
  {
    name: "client alone: no server comes",
    args: ["client", "--timeout", "0.5", "--name", queueName("alone"), "--output", "{output}"],
    status: 1,
    message: /no server created the queue \/ipc-lesson-mq-.*alone.* within 0\.5 s/,
  },
]);

Deno.test("mq: a queue name that is taken is reported once and left untouched", async (t) => {
  const name = queueName("taken");
  const dir = testDir("mq-taken");
  const input = makeInput(join(dir, "input.bin"), 5000);
  const output = join(dir, "output.bin");
  // Someone else's queue, with a message in it and attributes of its own.
  const queue = MessageQueue.create(name, { maxmsg: 3, msgsize: 100 });
  await queue.send(new TextEncoder().encode("not yours"));

  const cases = [
    { mode: "the demo", args: ["--input", input, "--output", output] },
    { mode: "the server by hand", args: ["server", "--input", input] },
  ];
  for (const holder of ["held open by its owner", "left behind, open nowhere"]) {
    if (holder.startsWith("left")) queue.close();
    for (const { mode, args } of cases) {
      await t.step(`${mode}, ${holder}`, async () => {
        const run = await runLesson("mq", [...args, "--name", name]);
        assert.equal(run.code, 1, run.stderr);
        assertOneError(
          run,
          holder.startsWith("held")
            ? new RegExp(
              `a message queue named ${name} already exists \\(process ${Deno.pid} has it ` +
                "open\\); it was left untouched: choose another --name",
            )
            : new RegExp(
              `a message queue named ${name} already exists \\(nobody has it open: a killed ` +
                `run probably left it behind\\); it was left untouched: run \`deno task clean ${name}\``,
            ),
        );
        // The demo said it once, before starting anything.
        if (mode === "the demo") assert.doesNotMatch(run.stderr, /started the (server|client)/);
        assert.deepEqual(filesIn(dir), ["input.bin"]);
      });
    }
  }

  // Still there, as it was: same attributes, same message.
  using again = await MessageQueue.open(name);
  assert.deepEqual(again.attributes(), {
    flags: libc.O.NONBLOCK,
    maxmsg: 3,
    msgsize: 100,
    curmsgs: 1,
  });
  assert.equal(new TextDecoder().decode(await again.receive()), "not yours");
  assert.equal(again.unlink(), true);
  assert.equal(queueExists(name), false);
  Deno.removeSync(dir, { recursive: true });
  assertNothingLeftBehind();
});

for (const first of ["server", "client"] as const) {
  Deno.test(`mq by hand: the ${first} starts first`, async () => {
    const dir = testDir(`mq-${first}-first`);
    // Larger than the queue, so a server that starts first fills it and waits for the client.
    const input = makeInput(join(dir, "ïnput file.bin"), 2 * MiB + 3);
    const output = join(dir, "öutput file.bin");
    const name = queueName(`${first}-first`);
    const args = {
      server: ["--name", name, "--input", input],
      client: ["--name", name, "--output", output],
    };
    const second = first === "server" ? "client" : "server";
    const a = await startSide(
      "mq",
      first,
      args[first],
      first === "server" ? "sending the file" : "waiting up to",
    );
    if (first === "server") assert.equal(queueExists(name), true);
    const b = await startSide("mq", second, args[second], /I am the/);
    const [ra, rb] = await Promise.all([finishSide(a), finishSide(b)]);
    assert.equal(ra.status.code, 0, ra.stderr);
    assert.equal(rb.status.code, 0, rb.stderr);
    assertSameFile(output, input);
    const client = first === "client" ? ra : rb;
    assert.match(client.stderr, new RegExp(`removed the name ${name} with mq_unlink\\(\\)`));
    assert.match(client.stderr, /end of file after 2\.00 MiB in 257 messages/);
    assert.equal(queueExists(name), false);
    Deno.removeSync(dir, { recursive: true });
    assertNothingLeftBehind();
  });
}

Deno.test("mq by hand: a foreign client that never removes the name", async () => {
  // A minimal peer that follows the protocol but leaves the name alone: the server removes it.
  const dir = testDir("mq-foreign");
  const input = makeInput(join(dir, "input.bin"), 100_000);
  const output = join(dir, "output.bin");
  const name = queueName("foreign");
  const server = await startSide("mq", "server", ["--name", name, "--input", input], "sending");
  const foreign = `
    import * as libc from "./transports/libc.ts";
    const [name, path] = Deno.args;
    const fd = libc.mq_open(name, libc.O.RDONLY);
    const buf = new Uint8Array(libc.mq_getattr(fd).msgsize);
    using file = Deno.openSync(path, { write: true, createNew: true });
    for (let n; (n = libc.mq_receive(fd, buf)) !== 0;) file.writeSync(buf.subarray(0, n));
    libc.mq_close(fd);`;
  const peer = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", foreign, name, output],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(peer.code, 0, new TextDecoder().decode(peer.stderr));
  const { status, stderr } = await finishSide(server);
  assert.equal(status.code, 0, stderr);
  assert.match(stderr, new RegExp(`removed the name ${name} with mq_unlink\\(\\)`));
  assertSameFile(output, input);
  assert.equal(queueExists(name), false);
  Deno.removeSync(dir, { recursive: true });
  assertNothingLeftBehind();
});

Deno.test("mq by hand: kill -9 of one side mid-transfer is noticed by the other", async (t) => {
  for (const victim of ["server", "client"] as const) {
    await t.step(`the ${victim} is killed`, async () => {
      const dir = testDir(`mq-kill-${victim}`);
      const input = makeInput(join(dir, "input.bin"), 8 * MiB);
      const output = join(dir, "output.bin");
      const name = queueName(`kill-${victim}`);
      // The victim stops itself after 1 MiB (SIGSTOP), mid-transfer; then we kill it with
      // SIGKILL, as `kill -9` does. A long --timeout shows that the survivor does not just
      // give up waiting: it notices.
      const common = ["--name", name, "--timeout", "60"];
      const stop = ["--kill-after", `${victim}:1M:STOP`];
      const server = await startSide("mq", "server", [
        ...common,
        "--input",
        input,
        ...(victim === "server" ? stop : []),
      ], "sending the file");
      const client = await startSide("mq", "client", [
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
          ? /error: the server exited after .*, before the end-of-file message: transfer incomplete/
          : /error: the client exited after the server had sent .*: transfer incomplete/,
      );
      assertNoStackTrace({ code: 1, signal: null, stdout: "", stderr: s.stderr });
      // Noticed within seconds, long before the 60 s timeout (the goal is 2 s; not asserted
      // exactly, because these machines are shared and noisy).
      assert.ok(noticedAfter < 20, `noticed after ${noticedAfter.toFixed(1)} s`);
      console.log(
        `    the ${victim === "server" ? "client" : "server"} noticed in ${
          noticedAfter.toFixed(2)
        } s`,
      );
      // No output, named or partial; the client removed the name when it opened the queue.
      assert.deepEqual(filesIn(dir), ["input.bin"]);
      assert.equal(queueExists(name), false);
      Deno.removeSync(dir, { recursive: true });
      assertNothingLeftBehind();
    });
  }
});

Deno.test("mq: the demo reports a side killed mid-transfer", async (t) => {
  for (const victim of ["server", "client"] as const) {
    await t.step(`--kill-after ${victim}:3M`, async () => {
      const dir = testDir(`mq-demo-kill-${victim}`);
      const output = join(dir, "output.bin");
      const run = await runLesson("mq", [
        "--size",
        "8M",
        "--output",
        output,
        "--kill-after",
        `${victim}:3M`,
        "--timeout",
        "60",
      ]);
      assert.equal(run.code, 1, run.stderr);
      assert.match(
        run.stderr,
        victim === "server"
          ? /client .*error: the server exited after .*, before the end-of-file message: transfer incomplete/
          : /server .*error: the client exited after the server had sent .*: transfer incomplete/,
      );
      assert.match(run.stderr, /byte-exact copy: NO/);
      assertNoStackTrace(run);
      assert.deepEqual(filesIn(dir), []);
      Deno.removeSync(dir);
      assertNothingLeftBehind();
    });
  }
});

Deno.test("mq: removeQueue and queueExists on a queue of our own", () => {
  const name = queueName("helpers");
  assert.equal(queueExists(name), false);
  assert.equal(removeQueue(name), false);
  MessageQueue.create(name, { maxmsg: 1, msgsize: 1 }).close();
  assert.equal(queueExists(name), true);
  assert.equal(removeQueue(name), true);
  assert.equal(queueExists(name), false);
});

Deno.test("mq: a higher priority overtakes, and receive tells the priority", async (t) => {
  const text = (s: string) => new TextEncoder().encode(s);
  const received = async (queue: MessageQueue) => {
    const message = new TextDecoder().decode(await queue.receive());
    return [message, queue.lastPriority];
  };

  await t.step("waiting messages: highest priority first, oldest first within one", async () => {
    using queue = MessageQueue.create(queueName("prio"), { maxmsg: 4, msgsize: 16 });
    assert.equal(queue.lastPriority, 0); // nothing received yet
    await queue.send(text("routine"));
    await queue.send(text("urgent 1"), { priority: 3 });
    await queue.send(text("urgent 2"), { priority: 3 });
    await queue.send(text("top"), { priority: libc.MQ_PRIO_MAX - 1 });
    assert.deepEqual(
      [await received(queue), await received(queue), await received(queue), await received(queue)],
      [["top", 32767], ["urgent 1", 3], ["urgent 2", 3], ["routine", 0]],
    );
  });

  await t.step("the priority comes through a receive and a send that had to wait", async () => {
    const name = queueName("prio-wait");
    using queue = MessageQueue.create(name, { maxmsg: 1, msgsize: 16, timeout: 10_000 });
    using peer = await MessageQueue.open(name, { timeout: 10_000 });
    // The receive finds the queue empty and parks (well past its short waits on this thread).
    const receiving = received(queue);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await peer.send(text("late"), { priority: 9 });
    assert.deepEqual(await receiving, ["late", 9]);
    // The queue is full (one message), so the second send parks until the receive below.
    await peer.send(text("first"), { priority: 1 });
    const sending = peer.send(text("second"), { priority: 4 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(await received(queue), ["first", 1]);
    await sending;
    assert.deepEqual(await received(queue), ["second", 4]);
  });

  await t.step("a priority out of range is refused, and nothing is sent", async () => {
    using queue = MessageQueue.create(queueName("prio-bad"), { maxmsg: 1, msgsize: 16 });
    for (const priority of [-1, 1.5, libc.MQ_PRIO_MAX, NaN]) {
      await assert.rejects(
        queue.send(text("x"), { priority }),
        (error: Error) =>
          error instanceof RangeError &&
          error.message ===
            `a message priority must be an integer from 0 to 32767 (MQ_PRIO_MAX is 32768), not ${priority}`,
      );
    }
    assert.equal(queue.attributes().curmsgs, 0);
  });
  assertNothingLeftBehind();
});

testLabs("mq", {
  "small-buffer":
    /SYMPTOM: mq_receive\(\) into a 64-byte buffer failed with EMSGSIZE .*only 13 bytes; the queue still holds 1 message/,
  "no-end-marker":
    /SYMPTOM: the client received 3 messages, then waited 2 s for more and gave up: "no message came through the queue \/ipc-lesson-mq-[\w-]+ for 2 s, after 34 bytes: the server is stuck, or never sent the empty end-of-file message", with exit status 1 and no output file/,
});
