/**
 * Faults: a side killed, hung or interrupted in the middle of a transfer, and the runner
 * interrupted. In every case the run must fail clearly and quickly, with the right exit status,
 * and leave no output, no partial file and no kernel object behind.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { LESSONS, METHODS } from "../lessons/registry.ts";
import {
  assertNoStackTrace,
  assertNothingLeftBehind,
  filesIn,
  lessonCommand,
  readUntil,
  runLesson,
  testDir,
  textReader,
} from "./_helpers.ts";

interface Fault {
  name: string;
  killAfter: string;
  status: number;
  /** What stderr must say. */
  message: RegExp;
}

const FAULTS: Fault[] = [
  {
    // A byte stream's reader cannot tell (the runner does); mq and shm clients notice.
    name: "the server is killed with SIGKILL mid-transfer",
    killAfter: "server:2M",
    status: 1,
    message: /the server (was killed by SIGKILL|exited) after .*transfer incomplete/,
  },
  {
    name: "the client is killed with SIGKILL mid-transfer",
    killAfter: "client:2M",
    status: 1,
    message: /client (was killed by SIGKILL|exited) after .*transfer incomplete/,
  },
  {
    name: "the server is interrupted with SIGINT",
    killAfter: "server:2M:INT",
    status: 130,
    message: /server .*error: interrupted by SIGINT after .*; removed what this server created/,
  },
  {
    name: "the client is interrupted with SIGTERM",
    killAfter: "client:2M:TERM",
    status: 143,
    message: /client .*error: interrupted by SIGTERM after .*; removed what this client created/,
  },
];

// Every lesson must survive the same faults.
for (const method of METHODS) {
  const threads = LESSONS.find((lesson) => lesson.method === method)?.sides === "threads";
  Deno.test(`${method}: faults in the middle of a transfer`, async (t) => {
    for (const fault of FAULTS) {
      await t.step(fault.name, async () => {
        const dir = testDir(`${method}-fault`);
        const output = join(dir, "output.bin");
        const started = performance.now();
        const run = await runLesson(method, [
          "--size",
          "16M",
          "--output",
          output,
          "--kill-after",
          fault.killAfter,
        ]);
        const seconds = (performance.now() - started) / 1000;
        assert.equal(run.code, fault.status, run.stderr);
        // Threads of one process: SIGKILL takes the process, both sides at once.
        const killsAll = threads && fault.status === 1;
        assert.match(
          run.stderr,
          killsAll
            ? /the process \(both threads\) was killed by SIGKILL after .*transfer incomplete/
            : fault.message,
        );
        assertNoStackTrace(run);
        // Noticed by the survivor, not by the 10 s timeout.
        assert.ok(seconds < 8, `took ${seconds.toFixed(1)} s`);
        assert.deepEqual(filesIn(dir), [], "no output, partial or unverified file");
        Deno.removeSync(dir);
        assertNothingLeftBehind();
      });
    }

    await t.step("the client hangs (SIGSTOP): the demo still ends, after the timeout", async () => {
      const dir = testDir(`${method}-stopped`);
      const output = join(dir, "output.bin");
      const started = performance.now();
      const run = await runLesson(method, [
        ...["--size", "16M", "--output", output, "--timeout", "1"],
        ...["--kill-after", "client:2M:STOP"],
      ]);
      const seconds = (performance.now() - started) / 1000;
      assert.equal(run.code, 1, run.stderr);
      // A process lesson's server notices that the channel stays full (or the runner that the
      // client makes no progress); the threads lesson's one process is stopped whole, so only
      // the runner can notice, and it stops the process.
      if (threads) {
        assert.match(run.stderr, /every side is stopped, with no progress for 1 s: stopping them/);
      } else {
        assert.match(run.stderr, /^(server|runner) +\d+ │ (error: |the client made no progress)/m);
      }
      assertNoStackTrace(run);
      assert.ok(seconds < 15, `took ${seconds.toFixed(1)} s`);
      assert.deepEqual(filesIn(dir), [], "no output, partial or unverified file");
      Deno.removeSync(dir);
      assertNothingLeftBehind();
    });

    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      await t.step(`the runner gets ${signal} while the client hangs`, async () => {
        const dir = testDir(`${method}-runner-signal`);
        const output = join(dir, "output.bin");
        const child = lessonCommand(method, [
          "--size",
          "16M",
          "--output",
          output,
          "--kill-after",
          "client:2M:STOP",
        ]).spawn();
        const stderr = textReader(child.stderr);
        const said = await readUntil(stderr, "sending myself SIGSTOP");
        // Wait until the client has really stopped (state T), then interrupt the runner.
        const client = said.match(/^client +(\d+) │ --kill-after/m)![1];
        while (processState(client!) !== "T") await new Promise((r) => setTimeout(r, 10));
        child.kill(signal);
        let rest = "";
        for (let r = await stderr.read(); !r.done; r = await stderr.read()) rest += r.value;
        const status = await child.status;
        await child.stdout.cancel();
        assert.equal(status.code, signal === "SIGINT" ? 130 : 143, said + rest);
        assert.match(rest, new RegExp(`error: interrupted by ${signal}: stopped both sides`));
        // Every side's process is gone.
        for (const [, pid] of (said + rest).matchAll(/^(?:server|client) +(\d+) │/gm)) {
          const state = processState(pid!);
          assert.ok(state === null || state === "Z", `process ${pid} is still running`);
        }
        assert.deepEqual(filesIn(dir), []);
        Deno.removeSync(dir);
        assertNothingLeftBehind();
      });
    }
  });
}

/** The state letter of a process in /proc (R, S, T, Z, …), or null when it is gone. */
function processState(pid: string): string | null {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]![0]!;
  } catch {
    return null;
  }
}
