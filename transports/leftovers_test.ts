/**
 * Unit tests of the leftover finders (leftovers.ts, and the finder at the end of fifo.ts, mq.ts,
 * shm.ts and semaphore.ts): what a prefix finds, what a name finds, who holds each, and that an
 * object that changed since it was found is left alone.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fifoLeftovers } from "./fifo.ts";
import * as libc from "./libc.ts";
import { findLeftovers, type LeftoverFinder, loadFinders } from "./leftovers.ts";
import { queueLeftovers } from "./mq.ts";
import { semaphoreLeftovers } from "./semaphore.ts";
import { segmentLeftovers } from "./shm.ts";

const ALL: LeftoverFinder[] = [fifoLeftovers, queueLeftovers, segmentLeftovers, semaphoreLeftovers];

/** A folder with a FIFO, and a queue, a segment and a semaphore, all named `PREFIX…`. */
function makeObjects(prefix: string) {
  const dir = Deno.makeTempDirSync({ prefix: "leftovers-" });
  const objects = {
    dir,
    fifo: join(dir, `${prefix}one.fifo`),
    queue: `/${prefix}queue`,
    segment: `/${prefix}segment`,
    semaphore: `/${prefix}semaphore`,
  };
  libc.mkfifo(objects.fifo, 0o600);
  libc.mq_close(libc.mq_open(objects.queue, libc.O.CREAT | libc.O.EXCL | libc.O.RDWR, 0o600, {
    maxmsg: 1,
    msgsize: 16,
  }));
  libc.close(libc.shm_open(objects.segment, libc.O.CREAT | libc.O.EXCL | libc.O.RDWR, 0o600));
  libc.sem_close(libc.sem_open(objects.semaphore, libc.O.CREAT | libc.O.EXCL, 0o600, 0));
  return {
    ...objects,
    [Symbol.dispose]() {
      for (
        const remove of [
          () => libc.mq_unlink(objects.queue),
          () => libc.shm_unlink(objects.segment),
          () => libc.sem_unlink(objects.semaphore),
          () => Deno.removeSync(dir, { recursive: true }),
        ]
      ) {
        try {
          remove();
        } catch { /* removed by the test */ }
      }
    },
  };
}

/** `kind path name holders` of each object found, sorted. */
function described(found: { kind: string; path: string; name: string | null }[]): string[] {
  return found.map((object) => `${object.kind} ${object.path} ${object.name}`).sort();
}

Deno.test("leftovers: a prefix finds this user's objects of every kind, and nothing else", () => {
  const prefix = `leftovers-test-${Deno.pid}-`;
  using objects = makeObjects(prefix);
  // Not found: another prefix, a regular file and a symbolic link with the prefix.
  libc.mkfifo(join(objects.dir, "other.fifo"), 0o600);
  Deno.writeTextFileSync(join(objects.dir, `${prefix}file`), "not a FIFO");
  Deno.symlinkSync(objects.fifo, join(objects.dir, `${prefix}link.fifo`));

  const report = findLeftovers(ALL, { prefix, dir: objects.dir });
  assert.deepEqual(described(report.found), [
    `FIFO ${objects.fifo} null`,
    `message queue /dev/mqueue${objects.queue} ${objects.queue}`,
    `semaphore /dev/shm/sem.${objects.semaphore.slice(1)} ${objects.semaphore}`,
    `shared memory /dev/shm${objects.segment} ${objects.segment}`,
  ]);
  for (const object of report.found) {
    assert.deepEqual(object.holders, [], `${object.path}: nobody holds it`);
    assert.equal(object.uid, Deno.uid());
  }
  assert.deepEqual(report.problems, []);
});

Deno.test("leftovers: a name finds what it names, as a path or a POSIX name", () => {
  const prefix = `leftovers-named-${Deno.pid}-`;
  using objects = makeObjects(prefix);
  const find = (name: string, cwd = objects.dir) =>
    described(findLeftovers(ALL, { name, cwd }).found);
  const fifo = `FIFO ${objects.fifo} null`;
  const queue = `message queue /dev/mqueue${objects.queue} ${objects.queue}`;
  const segment = `shared memory /dev/shm${objects.segment} ${objects.segment}`;
  const semaphore = `semaphore /dev/shm/sem.${objects.semaphore.slice(1)} ${objects.semaphore}`;

  assert.deepEqual(find(objects.fifo), [fifo], "an absolute path");
  assert.deepEqual(find(`${prefix}one.fifo`), [fifo], "a path relative to cwd");
  assert.deepEqual(find(objects.queue), [queue]);
  assert.deepEqual(find(objects.queue.slice(1), "/"), [queue], "a POSIX name without its slash");
  assert.deepEqual(find(`/dev/mqueue${objects.queue}`), [queue], "mounted or not");
  assert.deepEqual(find(objects.segment), [segment]);
  assert.deepEqual(find(`/dev/shm${objects.segment}`), [segment]);
  assert.deepEqual(find(objects.semaphore), [semaphore]);
  assert.deepEqual(find(`/dev/shm/sem.${objects.semaphore.slice(1)}`), [semaphore]);

  // One name of several kinds finds each.
  const shared = `/${prefix}shared`;
  libc.close(libc.shm_open(shared, libc.O.CREAT | libc.O.EXCL | libc.O.RDWR, 0o600));
  libc.sem_close(libc.sem_open(shared, libc.O.CREAT | libc.O.EXCL, 0o600, 0));
  try {
    assert.deepEqual(find(shared), [
      `semaphore /dev/shm/sem.${shared.slice(1)} ${shared}`,
      `shared memory /dev/shm${shared} ${shared}`,
    ]);
  } finally {
    libc.shm_unlink(shared);
    libc.sem_unlink(shared);
  }

  // What no transport made is not found: a regular file, a link to a FIFO, nothing at all.
  Deno.writeTextFileSync(join(objects.dir, "notes.txt"), "my notes");
  Deno.symlinkSync(objects.fifo, join(objects.dir, "link.fifo"));
  for (const name of ["notes.txt", "link.fifo", objects.dir, `/${prefix}missing`, "", "/a/b"]) {
    assert.deepEqual(find(name), [], JSON.stringify(name));
  }
});

Deno.test("leftovers: holders are the processes that hold each object now", () => {
  const prefix = `leftovers-held-${Deno.pid}-`;
  using objects = makeObjects(prefix);
  const fd = libc.open(objects.fifo, libc.O.PATH | libc.O.CLOEXEC);
  try {
    const [fifo] = findLeftovers([fifoLeftovers], { prefix, dir: objects.dir }).found;
    assert.deepEqual(fifo?.holders, [Deno.pid], "an O_PATH descriptor holds it");
    libc.close(fd);
    assert.deepEqual(fifo?.recheck(), [], "looked at again: nobody holds it now");
  } catch (error) {
    libc.close(fd);
    throw error;
  }
});

Deno.test("leftovers: an object replaced since it was found is left alone; remove removes", () => {
  const prefix = `leftovers-replaced-${Deno.pid}-`;
  using objects = makeObjects(prefix);
  const found = findLeftovers(ALL, { prefix, dir: objects.dir }).found;
  assert.equal(found.length, 4);
  // Another FIFO takes the name: not the one that was found. (The found one is moved away, not
  // removed, so that the new one cannot get its inode number.)
  Deno.renameSync(objects.fifo, join(objects.dir, "moved.fifo"));
  libc.mkfifo(objects.fifo, 0o600);
  const fifo = found.find((object) => object.kind === "FIFO")!;
  assert.equal(fifo.recheck(), null);
  // The others are unchanged: each is removed by the call that fits its kind.
  for (const object of found.filter((object) => object !== fifo)) {
    assert.deepEqual(object.recheck(), []);
    object.remove();
    assert.equal(object.recheck(), null, `${object.path} is gone`);
  }
  assert.deepEqual(
    findLeftovers(ALL, { prefix, dir: objects.dir }).found.map((object) => object.kind),
    ["FIFO"],
  );
});

Deno.test("leftovers: a finder given twice is asked once; an object is listed once", () => {
  const prefix = `leftovers-twice-${Deno.pid}-`;
  using objects = makeObjects(prefix);
  const { found } = findLeftovers([fifoLeftovers, fifoLeftovers], {
    prefix,
    dir: objects.dir,
  });
  assert.equal(found.length, 1);
});

Deno.test("leftovers: loadFinders takes every finder a module exports, and only those", async () => {
  const nouns = async (file: string) =>
    (await loadFinders([new URL(file, import.meta.url)]))
      .flatMap((finder) => finder.kinds.map((kind) => kind.noun));
  assert.deepEqual(await nouns("./pipe.ts"), [], "an anonymous pipe has no name to leave");
  assert.deepEqual(await nouns("./ring_buffer.ts"), ["shared-memory segment", "semaphore"]);
  assert.deepEqual(await nouns("./mq.ts"), ["message queue"]);
});

Deno.test({
  name: "leftovers: another user's objects are not this user's leftovers, but a name finds them",
  ignore: Deno.uid() !== 0,
  fn() {
    const prefix = `leftovers-foreign-${Deno.pid}-`;
    using objects = makeObjects(prefix);
    const nobody = 65534;
    Deno.chownSync(objects.fifo, nobody, nobody);
    Deno.chownSync(`/dev/shm${objects.segment}`, nobody, nobody);
    const listed = findLeftovers(ALL, { prefix, dir: objects.dir }).found.map((o) => o.kind);
    assert.deepEqual(listed.sort(), ["message queue", "semaphore"]);
    const named = findLeftovers(ALL, { name: objects.segment, cwd: "/" }).found;
    assert.deepEqual(named.map((object) => object.uid), [nobody]);
  },
});
