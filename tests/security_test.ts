/**
 * Security: every kernel object is created exclusively with mode 0600, and a side refuses an
 * object that someone else put in its place (another user's FIFO, queue or segment: a way to
 * read the data, or to feed in one's own).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as libc from "../transports/libc.ts";
import {
  assertNothingLeftBehind,
  assertOneError,
  lessonCommand,
  readUntil,
  runLesson,
  testDir,
  textReader,
} from "./_helpers.ts";

const NOBODY = 65534;

/** Starts a server by hand and waits until it waits for its client. */
async function waitingServer(method: string, args: string[], ready: RegExp) {
  const child = lessonCommand(method, ["server", "--timeout", "5", ...args]).spawn();
  const stderr = textReader(child.stderr);
  await readUntil(stderr, ready);
  return {
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await child.stdout.cancel();
      await stderr.cancel();
    },
  };
}

Deno.test("security: every object is created with mode 0600", async (t) => {
  const dir = testDir("modes");
  await t.step("FIFO", async () => {
    const path = join(dir, "mode.fifo");
    const server = await waitingServer("fifo", ["--path", path], /waiting for a reader/);
    assert.equal(Deno.lstatSync(path).mode! & 0o777, 0o600);
    await server.stop();
  });
  await t.step("message queue", async () => {
    const name = `/ipc-lesson-mq-${Deno.pid}-mode`;
    const server = await waitingServer("mq", ["--name", name], /created the queue/);
    const fd = libc.mq_open(name, libc.O.RDONLY | libc.O.NONBLOCK | libc.O.CLOEXEC);
    try {
      assert.equal(Deno.statSync(`/proc/self/fd/${fd}`).mode! & 0o777, 0o600);
    } finally {
      libc.mq_close(fd);
    }
    await server.stop();
  });
  await t.step("shared memory and its semaphores", async () => {
    const name = `/ipc-lesson-shm-${Deno.pid}-mode`;
    const server = await waitingServer("shm", ["--name", name], /waiting for a client/);
    const entries = [...Deno.readDirSync("/dev/shm")].filter((e) => e.name.includes(name.slice(1)));
    assert.equal(entries.length, 3, entries.map((e) => e.name).join(", "));
    for (const entry of entries) {
      assert.equal(Deno.statSync(`/dev/shm/${entry.name}`).mode! & 0o777, 0o600, entry.name);
    }
    await server.stop();
  });
  Deno.removeSync(dir, { recursive: true });
  assertNothingLeftBehind();
});

Deno.test({
  name: "security: another user's FIFO, queue or segment is refused",
  ignore: Deno.uid() !== 0, // making objects owned by another user needs root
  async fn(t) {
    const dir = testDir("foreign");
    Deno.chmodSync(dir, 0o755);
    await t.step("FIFO", async () => {
      const path = join(dir, "foreign.fifo");
      libc.mkfifo(path, 0o666);
      Deno.chownSync(path, NOBODY, NOBODY);
      const run = await runLesson("fifo", [
        "client",
        "--path",
        path,
        "--output",
        join(dir, "out"),
        "--timeout",
        "1",
      ]);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /refusing to use the FIFO .* it belongs to user 65534, not to you/);
      Deno.removeSync(path);
    });
    await t.step("message queue", async () => {
      const name = `/ipc-lesson-mq-${Deno.pid}-foreign`;
      const fd = libc.mq_open(name, libc.O.CREAT | libc.O.EXCL | libc.O.RDWR, 0o666, {
        maxmsg: 1,
        msgsize: 16,
      });
      Deno.chownSync(`/proc/self/fd/${fd}`, NOBODY, NOBODY);
      try {
        const run = await runLesson("mq", [
          "client",
          "--name",
          name,
          "--output",
          join(dir, "out"),
          "--timeout",
          "1",
        ]);
        assert.equal(run.code, 1);
        assert.match(
          run.stderr,
          /refusing to use the queue .* it belongs to user 65534, not to you/,
        );
        // A server, by hand or in the demo, says whose it is: not a killed run's to clean.
        for (const role of [["server"], []]) {
          const server = await runLesson("mq", [...role, "--name", name]);
          assert.equal(server.code, 1, server.stderr);
          assertOneError(
            server,
            /already exists, and it is another user's \(uid 65534\), not yours to use or remove; it was left untouched/,
          );
        }
        assert.equal(Deno.statSync(`/proc/self/fd/${fd}`).uid, NOBODY, "left as it was");
      } finally {
        libc.mq_close(fd);
        libc.mq_unlink(name);
      }
    });
    await t.step("shared-memory segment", async () => {
      const name = `/ipc-lesson-shm-${Deno.pid}-foreign`;
      libc.close(libc.shm_open(name, libc.O.CREAT | libc.O.EXCL | libc.O.RDWR, 0o666));
      Deno.chownSync(`/dev/shm${name}`, NOBODY, NOBODY);
      try {
        const run = await runLesson("shm", [
          "client",
          "--name",
          name,
          "--output",
          join(dir, "out"),
          "--timeout",
          "1",
        ]);
        assert.equal(run.code, 1);
        assert.match(
          run.stderr,
          /refusing to use the shared-memory object .* it belongs to user 65534, not to you/,
        );
        for (const role of [["server"], []]) {
          const server = await runLesson("shm", [...role, "--name", name]);
          assert.equal(server.code, 1, server.stderr);
          assertOneError(
            server,
            /already exists, and it is another user's \(uid 65534\), not yours to use or remove; left untouched/,
          );
        }
        assert.equal(Deno.statSync(`/dev/shm${name}`).uid, NOBODY, "left as it was");
      } finally {
        libc.shm_unlink(name);
      }
    });
    assert.deepEqual([...Deno.readDirSync(dir)], [], "no output file");
    Deno.removeSync(dir, { recursive: true });
    assertNothingLeftBehind();
  },
});
