/**
 * The System V queue transport on its own: exclusive creation, types and msgrcv's selection,
 * the byte budget and the waits it causes (timeout, Ctrl-C), a queue removed under a waiting
 * receiver, and the leftover finder (stale queues only, never live ones).
 */

import assert from "node:assert/strict";
import { findLeftovers } from "./leftovers.ts";
import * as libc from "./libc.ts";
import {
  formatKey,
  isStale,
  MTYPE,
  parseKey,
  SysvQueue,
  sysvQueueLeftovers,
  sysvQueueOf,
} from "./sysv_mq.ts";

let count = 0;
/** A key of this process alone: 0x5dXXXXXX. */
function freshKey(): number {
  return 0x5d000000 | ((Deno.pid & 0xffff) << 8) | (++count & 0xff);
}

Deno.test("sysv_mq: a key is created exclusively, 0600, and removed with the queue", () => {
  const key = freshKey();
  {
    using queue = SysvQueue.create(key);
    assert.equal(queue.stat().mode, 0o600);
    assert.throws(() => SysvQueue.create(key), (error) => {
      assert.ok(error instanceof libc.LibcError);
      assert.equal(error.code, "EEXIST");
      return true;
    });
    assert.equal(sysvQueueOf(key)?.msqid, queue.msqid);
  }
  assert.equal(sysvQueueOf(key), null, "disposed: IPC_RMID");
});

Deno.test("sysv_mq: msgrcv chooses by type: 0, n, and -n (the lowest type up to n)", async () => {
  using queue = SysvQueue.create(freshKey(), { timeout: 2000 });
  const text = (s: string) => new TextEncoder().encode(s);
  await queue.send(text("three"), 3);
  await queue.send(text("one"), 1);
  await queue.send(text("two"), 2);
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  assert.equal(decode(await queue.receive(2)), "two"); // exactly type 2
  assert.equal(decode(await queue.receive(-5)), "one"); // the lowest type up to 5
  assert.equal(queue.lastType, 1);
  assert.equal(decode(await queue.receive(0)), "three"); // the first left
  assert.equal(queue.stat().qnum, 0);
});

Deno.test("sysv_mq: a message that does not fit in msg_qbytes waits, and times out", async () => {
  using queue = SysvQueue.create(freshKey(), { timeout: 300 });
  queue.setQbytes(10);
  assert.equal(queue.stat().qbytes, 10);
  await queue.send(new Uint8Array(6));
  const started = performance.now();
  await assert.rejects(queue.send(new Uint8Array(6)), Deno.errors.TimedOut); // 6 + 6 > 10
  assert.ok(performance.now() - started >= 250);
  assert.equal(queue.stat().qnum, 1);
});

Deno.test("sysv_mq: an aborted signal ends a wait with its reason", async () => {
  const controller = new AbortController();
  using queue = SysvQueue.create(freshKey(), { signal: controller.signal });
  setTimeout(() => controller.abort(new Error("Ctrl-C")), 50);
  await assert.rejects(queue.receive(0), /Ctrl-C/);
});

Deno.test("sysv_mq: a queue removed under a waiting receiver ends the wait", async () => {
  const key = freshKey();
  using creator = SysvQueue.create(key);
  const receiver = await SysvQueue.open(key, { timeout: 5000 });
  const waiting = receiver.receive(0);
  setTimeout(() => creator.remove(), 50);
  await assert.rejects(waiting, (error) => {
    assert.ok(error instanceof Deno.errors.BrokenPipe);
    assert.match(
      error.message,
      /was removed \(IPC_RMID\) by another process: msgrcv failed with (EIDRM|EINVAL)/,
    );
    return true;
  });
});

Deno.test("sysv_mq: open waits for the key, then gives up", async () => {
  const key = freshKey();
  await assert.rejects(
    SysvQueue.open(key, { wait: 100 }),
    new RegExp(`no queue with key ${formatKey(key)} appeared within 0.1 s`),
  );
});

Deno.test("sysv_mq: the finder lists the lessons' stale queues only; notes a student's", async () => {
  const live = libc.madeUpKey();
  const stale = libc.madeUpKey(); // the lessons' (top byte 0x1e)
  const students = freshKey(); // any other key
  using queue = SysvQueue.create(live);
  await queue.send(new Uint8Array(1), MTYPE.DATA); // used by this process, which runs
  const libcUrl = new URL("./libc.ts", import.meta.url).href;
  for (const key of [stale, students]) {
    const script = `import * as libc from ${JSON.stringify(libcUrl)};
      const id = libc.msgget(${key}, libc.IPC.CREAT | libc.IPC.EXCL | 0o600);
      const m = new libc.MessageBuffer(1); m.mtype = 1; libc.msgsnd(id, m, 1, libc.IPC.NOWAIT);`;
    const child = new Deno.Command(Deno.execPath(), { args: ["eval", script] }).outputSync();
    assert.equal(child.code, 0);
  }
  try {
    const staleInfo = sysvQueueOf(stale)!;
    const studentsInfo = sysvQueueOf(students)!;
    assert.equal(isStale(staleInfo), true);
    assert.equal(isStale(studentsInfo), true);
    assert.equal(isStale(sysvQueueOf(live)!), false);
    const { found, notes } = findLeftovers([sysvQueueLeftovers], {
      prefix: "ipc-lesson-",
      dir: "/nonexistent",
    });
    const names = found.map((object) => object.name);
    assert.ok(names.includes(`msqid ${staleInfo.msqid}`), names.join(", "));
    assert.ok(!names.includes(`msqid ${queue.msqid}`), "a live queue is never a leftover");
    assert.ok(!names.includes(`msqid ${studentsInfo.msqid}`), "a student's key is never one");
    const note = notes.find((note) => note.includes(`msqid ${studentsInfo.msqid} `));
    assert.match(
      note ?? notes.join("\n"),
      new RegExp(
        `\`deno task clean ${formatKey(students)}\` or \`ipcrm -q ${studentsInfo.msqid}\``,
      ),
    );
    // IPC_PRIVATE (key 0): no key names it, so the note gives only ipcrm.
    const privateScript = `import * as libc from ${JSON.stringify(libcUrl)};
      const id = libc.msgget(0, libc.IPC.CREAT | 0o600);
      const m = new libc.MessageBuffer(1); m.mtype = 1; libc.msgsnd(id, m, 1, libc.IPC.NOWAIT);
      console.log(id);`;
    const child = new Deno.Command(Deno.execPath(), { args: ["eval", privateScript] }).outputSync();
    const privateId = Number(new TextDecoder().decode(child.stdout));
    try {
      const again = findLeftovers([sysvQueueLeftovers], { prefix: "ipc-lesson-", dir: "/none" });
      assert.ok(!again.found.some((object) => object.name === `msqid ${privateId}`));
      const privateNote = again.notes.find((note) => note.includes(`msqid ${privateId} `));
      assert.match(privateNote ?? "", new RegExp(`: \`ipcrm -q ${privateId}\` removes it$`));
    } finally {
      libc.msgctl(privateId, libc.IPC.RMID);
    }
    const mine = found.find((object) => object.name === `msqid ${staleInfo.msqid}`)!;
    assert.deepEqual(mine.recheck(), []);
    mine.remove();
    assert.equal(sysvQueueOf(stale), null);
  } finally {
    for (const key of [stale, students]) {
      const left = sysvQueueOf(key);
      if (left) libc.msgctl(left.msqid, libc.IPC.RMID);
    }
  }
});

Deno.test("sysv_mq: keys typed by people", () => {
  assert.equal(parseKey("0x4c0b1234"), 0x4c0b1234);
  assert.equal(parseKey("1275793972"), 0x4c0b1234);
  assert.equal(parseKey("0xFFFFFFFF"), -1);
  assert.match(String(parseKey("-1")), /must be a 32-bit number/);
  assert.match(String(parseKey("4294967296")), /must be a 32-bit number/);
  assert.match(String(parseKey("0x0")), /IPC_PRIVATE/);
  assert.equal(libc._errnoLostCount(), 0);
});
