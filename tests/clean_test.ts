/**
 * `deno task clean`: lists and removes only this project's objects left by killed runs
 * (named ipc-lesson-*, whose creating process is gone), and has a --dry-run.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as libc from "../transports/libc.ts";
import { assertNothingLeftBehind, ROOT, TMP } from "./_helpers.ts";

async function clean(args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, "lessons/clean.ts"), ...args],
    env: { TMPDIR: TMP },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: output.code, stdout: new TextDecoder().decode(output.stdout) };
}

Deno.test("clean: removes what killed runs left, and nothing else", async () => {
  // A pid that has just exited: the "killed run" that made the objects.
  const dead = new Deno.Command("true").spawn();
  await dead.status;
  const stale = `ipc-lesson-demo-${dead.pid}-0dead`;
  const live = `ipc-lesson-demo-${Deno.pid}-a11fe`;

  const fifo = join(TMP, `${stale}.fifo`);
  libc.mkfifo(fifo, 0o600);
  const liveFifo = join(TMP, `${live}.fifo`);
  libc.mkfifo(liveFifo, 0o600);
  const notOurs = join(TMP, "not-ours.fifo");
  libc.mkfifo(notOurs, 0o600);
  libc.mq_close(
    libc.mq_open(`/${stale}`, libc.O.CREAT | libc.O.EXCL | libc.O.RDWR, 0o600, {
      maxmsg: 1,
      msgsize: 16,
    }),
  );
  libc.close(libc.shm_open(`/${stale}`, libc.O.CREAT | libc.O.EXCL | libc.O.RDWR, 0o600));
  libc.sem_close(libc.sem_open(`/${stale}-free`, libc.O.CREAT | libc.O.EXCL, 0o600, 0));

  try {
    const dry = await clean(["--dry-run"]);
    assert.equal(dry.code, 0);
    for (const kind of ["FIFO", "message queue", "shared memory", "semaphore"]) {
      assert.match(dry.stdout, new RegExp(`would remove +${kind} +.*${stale}`));
    }
    assert.match(dry.stdout, new RegExp(`in use +FIFO +.*${live}.*process ${Deno.pid} still runs`));
    assert.doesNotMatch(dry.stdout, /not-ours/);
    assert.equal(Deno.lstatSync(fifo).isFifo, true, "--dry-run removed nothing");

    const real = await clean([]);
    assert.equal(real.code, 0, real.stdout);
    assert.equal((real.stdout.match(/^removed /gm) ?? []).length, 4, real.stdout);
    assert.throws(() => Deno.lstatSync(fifo), Deno.errors.NotFound);
    assert.throws(() => libc.mq_open(`/${stale}`, libc.O.RDONLY), /ENOENT/);
    assert.throws(() => Deno.lstatSync(`/dev/shm/${stale}`), Deno.errors.NotFound);
    assert.throws(() => Deno.lstatSync(`/dev/shm/sem.${stale}-free`), Deno.errors.NotFound);
    // The live run's FIFO and a name that is not ours are untouched.
    assert.equal(Deno.lstatSync(liveFifo).isFifo, true);
    assert.equal(Deno.lstatSync(notOurs).isFifo, true);

    const again = await clean([]);
    assert.match(again.stdout, /nothing to clean/);
  } finally {
    for (const path of [fifo, liveFifo, notOurs]) {
      try {
        Deno.removeSync(path);
      } catch { /* removed by the test */ }
    }
  }
  assertNothingLeftBehind();
});
