/**
 * Trace lines read as strace would print them: calls that take no access mode show none, the
 * flags fcntl(F_GETFL) returns are named, poll shows what happened to each descriptor, and
 * sem_getvalue and mq_receive show the value they wrote. Each test captures the exact lines.
 */

import assert from "node:assert/strict";
import * as libc from "./libc.ts";
import { openFlags } from "./_libc/trace.ts";

/** The trace lines of the calls `fn` makes. */
function traced<T>(fn: () => T): { result: T; lines: string[] } {
  const lines: string[] = [];
  libc.traceCalls((line) => lines.push(line));
  try {
    return { result: fn(), lines };
  } finally {
    libc.traceCalls(null);
  }
}

const hex = (pointer: Deno.PointerObject) => `0x${Deno.UnsafePointer.value(pointer).toString(16)}`;

Deno.test("pipe2 is traced without an access mode", () => {
  const { result: [r, w], lines } = traced(() => libc.pipe2(libc.O.NONBLOCK | libc.O.CLOEXEC));
  libc.close(r);
  libc.close(w);
  const plain = traced(() => libc.pipe2(0));
  libc.close(plain.result[0]);
  libc.close(plain.result[1]);
  assert.deepEqual(lines, [`pipe2([${r}, ${w}], O_NONBLOCK|O_CLOEXEC) = 0`]);
  assert.deepEqual(plain.lines, [`pipe2([${plain.result[0]}, ${plain.result[1]}], 0) = 0`]);
});

Deno.test("sem_open is traced without an access mode; sem_getvalue shows the value read", () => {
  const name = `/ipc-lesson-trace-${Deno.pid}-sem`;
  const { result: sem, lines } = traced(() => {
    const sem = libc.sem_open(name, libc.O.CREAT | libc.O.EXCL, 0o600, 1);
    libc.sem_unlink(name);
    assert.equal(libc.sem_getvalue(sem), 1);
    return sem;
  });
  libc.sem_close(sem);
  assert.deepEqual(lines, [
    `sem_open("${name}", O_CREAT|O_EXCL, 0600, 1) = ${hex(sem)}`,
    `sem_unlink("${name}") = 0`,
    `sem_getvalue(${hex(sem)}, [1]) = 0`,
  ]);
});

Deno.test("fcntl(F_GETFL) is traced with the flags it returned, decoded", () => {
  const flags = libc.O.RDONLY | libc.O.NONBLOCK | libc.O.NOFOLLOW | libc.O.CLOEXEC;
  const fd = libc.open("/dev/null", flags);
  try {
    const { result, lines } = traced(() => libc.fcntl(fd, libc.F.GETFL));
    // O_CLOEXEC belongs to the descriptor, not the open file, so F_GETFL does not report it;
    // O_LARGEFILE the kernel adds for a 64-bit process.
    const LARGEFILE = Deno.build.arch === "aarch64" ? 0o400000 : 0o100000;
    assert.equal(result, libc.O.NONBLOCK | libc.O.NOFOLLOW | LARGEFILE); // 165888 on x86_64
    const names = Deno.build.arch === "aarch64"
      ? "O_RDONLY|O_NONBLOCK|O_NOFOLLOW|O_LARGEFILE"
      : "O_RDONLY|O_NONBLOCK|O_LARGEFILE|O_NOFOLLOW";
    assert.deepEqual(lines, [`fcntl(${fd}, F_GETFL) = 0x${result.toString(16)} (flags ${names})`]);
  } finally {
    libc.close(fd);
  }
});

Deno.test("an unnamed flag bit is shown in hexadecimal, and O_TMPFILE hides no O_DIRECTORY", () => {
  const fd = libc.open("/dev/null", libc.O.WRONLY | libc.O.CLOEXEC);
  try {
    const { lines } = traced(() => libc.fcntl(fd, libc.F.SETFL, 0o2000 | 0x40000000));
    assert.deepEqual(lines, [`fcntl(${fd}, F_SETFL, O_RDONLY|O_APPEND|0x40000000) = 0`]);
  } finally {
    libc.close(fd);
  }
  // O_TMPFILE is O_DIRECTORY's bit and one more: named once, as a whole.
  assert.equal(
    openFlags(libc.O.RDWR | libc.O.TMPFILE | libc.O.CLOEXEC),
    "O_RDWR|O_CLOEXEC|O_TMPFILE",
  );
  const DIRECTORY = Deno.build.arch === "aarch64" ? 0o40000 : 0o200000;
  assert.equal(openFlags(libc.O.RDONLY | DIRECTORY), "O_RDONLY|O_DIRECTORY");
});

Deno.test("poll is traced with the revents of each ready descriptor", () => {
  const [r, w] = libc.pipe2(libc.O.NONBLOCK | libc.O.CLOEXEC);
  try {
    const empty = traced(() => libc.poll(r, libc.POLL.IN, 0));
    assert.equal(empty.result, 0);
    assert.deepEqual(empty.lines, [`poll([{fd=${r}, events=POLLIN}], 1, 0) = 0 (Timeout)`]);
    libc.write(w, new Uint8Array([1]));
    libc.close(w);
    const hup = traced(() => libc.poll(r, libc.POLL.IN, 0));
    assert.equal(hup.result, libc.POLL.IN | libc.POLL.HUP);
    assert.deepEqual(hup.lines, [
      `poll([{fd=${r}, events=POLLIN}], 1, 0) = 1 ([{fd=${r}, revents=POLLIN|POLLHUP}])`,
    ]);
    const spin = traced(() => libc.pollSpin(r, libc.POLL.IN, 10));
    assert.deepEqual(spin.lines, [
      `poll([{fd=${r}, events=POLLIN}], 1, 0) ×1, sched_yield() between, for up to 10 µs = ` +
      `1 ([{fd=${r}, revents=POLLIN|POLLHUP}])`,
    ]);
  } finally {
    libc.close(r);
  }
});

Deno.test("mq_setattr shows mq_flags without an access mode; mq_receive shows the priority", () => {
  const name = `/ipc-lesson-trace-${Deno.pid}-mq`;
  const flags = libc.O.RDWR | libc.O.CREAT | libc.O.EXCL | libc.O.NONBLOCK | libc.O.CLOEXEC;
  const mq = libc.mq_open(name, flags, 0o600, { maxmsg: 2, msgsize: 16 });
  try {
    libc.mq_unlink(name);
    const buf = new Uint8Array(16);
    const prio = new Uint32Array(1);
    const { lines } = traced(() => {
      libc.mq_setattr(mq, 0);
      libc.mq_setattr(mq, libc.O.NONBLOCK);
      libc.mq_send(mq, new Uint8Array(3), 5);
      libc.mq_receive(mq, buf, prio);
      libc.mq_receive(mq, buf, prio);
    });
    assert.deepEqual(lines, [
      `mq_setattr(${mq}, {mq_flags=0}, NULL) = 0`,
      `mq_setattr(${mq}, {mq_flags=O_NONBLOCK}, NULL) = 0`,
      `mq_send(${mq}, <3 bytes>, 3, 5) = 0`,
      `mq_receive(${mq}, <buffer>, 16, [5]) = 3`,
      `mq_receive(${mq}, <buffer>, 16, <unsigned int *>) = -1 EAGAIN (Resource temporarily unavailable)`,
    ]);
  } finally {
    libc.mq_close(mq);
  }
});
