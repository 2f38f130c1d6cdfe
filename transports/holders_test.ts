/**
 * Unit tests of holders.ts: who holds an object, as /proc shows it. A descriptor counts (O_PATH
 * too), a mapping counts after its descriptor is closed (a segment, a semaphore), a working
 * directory counts for a folder; and closing or unmapping ends it.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as libc from "./libc.ts";
import {
  holdersOfPath,
  holdersOfQueue,
  identityOf,
  isRunning,
  otherHolders,
  queueIdentity,
  readProcessTable,
} from "./holders.ts";
import { createPipe, spawnWithStdin } from "./pipe.ts";

Deno.test("holders: an O_PATH descriptor on a FIFO holds it; closing it lets go", () => {
  const dir = Deno.makeTempDirSync({ prefix: "holders-fifo-" });
  const path = join(dir, "my.fifo");
  libc.mkfifo(path, 0o600);
  try {
    assert.deepEqual(holdersOfPath(path), []);
    const fd = libc.open(path, libc.O.PATH | libc.O.CLOEXEC);
    assert.deepEqual(holdersOfPath(path), [Deno.pid]);
    libc.close(fd);
    assert.deepEqual(holdersOfPath(path), []);
    assert.throws(() => holdersOfPath(join(dir, "missing.fifo")), Deno.errors.NotFound);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("holders: a process blocked opening a FIFO holds it, by any path, until it gives up", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "holders-opening-" });
  const path = join(dir, "my.fifo");
  libc.mkfifo(path, 0o600);
  // Blocked in open(2), waiting for a writer: no descriptor yet. Relative to its working
  // directory (open), and absolute, from a thread of a Deno program (openat).
  const readers = [
    new Deno.Command("cat", { args: ["my.fifo"], cwd: dir, stdout: "null" }).spawn(),
    new Deno.Command(Deno.execPath(), {
      args: ["eval", `Deno.openSync(${JSON.stringify(path)})`],
      stdout: "null",
    }).spawn(),
  ];
  try {
    const blocked = (pid: number) =>
      [...Deno.readDirSync(`/proc/${pid}/task`)].some((task) =>
        Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/wchan`) === "wait_for_partner"
      );
    for (let waited = 0; !readers.every((reader) => blocked(reader.pid)); waited += 20) {
      assert.ok(waited < 10_000, "the readers never blocked in open");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const pids = readers.map((reader) => reader.pid).sort((a, b) => a - b);
    assert.deepEqual(holdersOfPath(path), pids);
    assert.deepEqual(readProcessTable().holdersUnder(dir), pids);
    for (const reader of readers) reader.kill("SIGKILL");
    for (const reader of readers) await reader.status;
    assert.deepEqual(holdersOfPath(path), []);
  } finally {
    for (const reader of readers) {
      try {
        reader.kill("SIGKILL");
      } catch { /* gone already */ }
    }
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("holders: a mapped segment and an open semaphore are held with no descriptor", () => {
  const name = `/my-holders-${Deno.pid}`;
  const fd = libc.shm_open(name, libc.O.CREAT | libc.O.EXCL | libc.O.RDWR, 0o600);
  let sem: Deno.PointerObject | null = null;
  try {
    libc.ftruncate(fd, 4096);
    const address = libc.mmap(4096, libc.PROT.READ | libc.PROT.WRITE, libc.MAP_SHARED, fd);
    libc.close(fd);
    assert.deepEqual(holdersOfPath(`/dev/shm${name}`), [Deno.pid], "held by the mapping");
    libc.munmap(address, 4096);
    assert.deepEqual(holdersOfPath(`/dev/shm${name}`), []);

    // glibc maps the semaphore under a temporary name before it links it as sem.NAME: the
    // inode, not the path, shows that it is the same file.
    sem = libc.sem_open(name, libc.O.CREAT | libc.O.EXCL, 0o600, 0);
    assert.deepEqual(holdersOfPath(`/dev/shm/sem.${name.slice(1)}`), [Deno.pid]);
    libc.sem_close(sem);
    sem = null;
    assert.deepEqual(holdersOfPath(`/dev/shm/sem.${name.slice(1)}`), []);
  } finally {
    if (sem) libc.sem_close(sem);
    libc.shm_unlink(name);
    try {
      libc.sem_unlink(name);
    } catch { /* not made */ }
  }
});

Deno.test("holders: a message queue is found by name, mounted /dev/mqueue or not", () => {
  const name = `/my-holders-${Deno.pid}`;
  assert.equal(holdersOfQueue(name), null);
  const fd = libc.mq_open(name, libc.O.CREAT | libc.O.EXCL | libc.O.RDWR, 0o600, {
    maxmsg: 1,
    msgsize: 16,
  });
  try {
    assert.deepEqual(holdersOfQueue(name), [Deno.pid]);
    assert.equal(queueIdentity(name)?.uid, Deno.uid());
    libc.mq_close(fd);
    // Looking opened it for a moment, and closed it again.
    assert.deepEqual(holdersOfQueue(name), []);
  } finally {
    libc.mq_unlink(name);
  }
});

Deno.test("holders: a process working in a folder, or holding a file in it, holds the folder", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "holders-folder-" });
  const inside = join(dir, "inside");
  Deno.mkdirSync(inside);
  const sleeper = new Deno.Command("sleep", { args: ["60"], cwd: inside }).spawn();
  try {
    const table = readProcessTable();
    assert.deepEqual(table.holdersUnder(dir), [sleeper.pid]);
    assert.deepEqual(table.holdersUnder(`${dir}-other`), [], "a prefix of a name is not a folder");
    // A file kept open inside counts too.
    using file = Deno.openSync(join(dir, "data"), { write: true, createNew: true });
    assert.ok(readProcessTable().holdersUnder(dir).includes(Deno.pid));
    file.close();
  } finally {
    sleeper.kill("SIGKILL");
    await sleeper.status;
  }
  assert.deepEqual(readProcessTable().holdersUnder(dir), []);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("holders: otherHolders sees the other processes on a pipe, not this one", async () => {
  using pipe = createPipe();
  assert.deepEqual(otherHolders(pipe.writeEnd.fd), [], "only this process has the pipe");
  const child = spawnWithStdin(new Deno.Command("sleep", { args: ["60"] }), pipe.readEnd);
  try {
    assert.deepEqual(otherHolders(pipe.writeEnd.fd), [child.pid], "its stdin is the read end");
    assert.equal(isRunning(child.pid), true);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
  assert.deepEqual(otherHolders(pipe.writeEnd.fd), [], "gone with the child");
  assert.equal(isRunning(child.pid), false, "a child that was reaped does not run");
  assert.equal(isRunning(-1), false);
  assert.equal(
    identityOf(Deno.statSync(`/proc/self/fd/${pipe.readEnd.fd}`)),
    identityOf(Deno.statSync(`/proc/self/fd/${pipe.writeEnd.fd}`)),
    "both ends are the same pipe",
  );
});

// Found by review: /proc/PID/maps was split on runs of spaces, so a folder named "a  b" (or one
// with a line break, which the kernel writes as \012) was not seen held by a mapping alone, and
// deno task clean removed a lab folder whose file a process still had mapped.
Deno.test("holders: a mapping holds its folder whatever spaces or line breaks the path holds", () => {
  for (const name of ["a  b", "tab\there", "line\nbreak"]) {
    const dir = Deno.makeTempDirSync({ prefix: "holders-maps-" });
    const folder = join(dir, name);
    Deno.mkdirSync(folder);
    const fd = libc.open(join(folder, "m"), libc.O.CREAT | libc.O.RDWR | libc.O.CLOEXEC, 0o600);
    libc.ftruncate(fd, 4096);
    const address = libc.mmap(4096, libc.PROT.READ | libc.PROT.WRITE, libc.MAP_SHARED, fd);
    libc.close(fd);
    try {
      assert.deepEqual(readProcessTable().holdersUnder(folder), [Deno.pid], JSON.stringify(name));
    } finally {
      libc.munmap(address, 4096);
      Deno.removeSync(dir, { recursive: true });
    }
    assert.deepEqual(readProcessTable().holdersUnder(folder), []);
  }
});
