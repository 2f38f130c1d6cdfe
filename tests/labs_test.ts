/**
 * Break-it labs: each one makes its mistake for real, and the symptom must really happen.
 */

import assert from "node:assert/strict";
import {
  assertNoStackTrace,
  assertNothingLeftBehind,
  filesIn,
  runLesson,
  TMP,
} from "./_helpers.ts";

/** Every lab of every lesson, and the symptom it must show. */
const LABS: Record<string, Record<string, RegExp>> = {
  pipe: {
    "keep-write-end":
      /SYMPTOM: 2 s later cat is still waiting for end-of-file: its fd 0, fd \d+.* lead to pipe:\[\d+\]/,
  },
  fifo: {
    "no-reader": /SYMPTOM: open\(O_WRONLY \| O_NONBLOCK\) failed with ENXIO/,
  },
  mq: {
    "small-buffer":
      /SYMPTOM: mq_receive\(\) into a 64-byte buffer failed with EMSGSIZE .*only 13 bytes; the queue still holds 1 message/,
    "no-end-marker":
      /SYMPTOM: the client received 3 messages, then waited 2 s for more and gave up: "no message came through the queue \/ipc-lesson-mq-[\w-]+ for 2 s, after 34 bytes: the server is stuck, or never sent the empty end-of-file message", with exit status 1 and no output file/,
  },
  shm: {
    "no-sync":
      /SYMPTOM: the copy is corrupted: the output's SHA-256 [0-9a-f]{12}… differs from the input's [0-9a-f]{12}…, yet it has the right size \(4\.00 MiB\); only \d+ of 1024 chunks arrived intact/,
    "no-ftruncate":
      /SYMPTOM: the child, process \d+, was killed by SIGBUS at its first store into the mapping .*exit status 135/,
    "stale-segment":
      /SYMPTOM: the restarted server refused to start \(exit status 1\): its names already exist: .*a killed run left them behind \(deno task clean removes what killed runs left\)/,
  },
};

for (const [method, labs] of Object.entries(LABS)) {
  Deno.test(`${method}: --break list names every lab`, async () => {
    const run = await runLesson(method, ["--break", "list"]);
    assert.equal(run.code, 0);
    for (const name of Object.keys(labs)) assert.match(run.stdout, new RegExp(`^  ${name} `, "m"));
  });

  for (const [name, symptom] of Object.entries(labs)) {
    Deno.test(`${method}: --break ${name} shows its symptom, then the cause and the fix`, async () => {
      const before = filesIn(TMP);
      const started = performance.now();
      const run = await runLesson(method, ["--break", name]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, symptom);
      assert.match(run.stderr, /CAUSE: .+/);
      assert.match(run.stderr, /FIX: .+/);
      assertNoStackTrace(run);
      assert.ok(performance.now() - started < 15_000, "a lab ends within seconds");
      assert.deepEqual(filesIn(TMP), before, "the lab left files behind");
      assertNothingLeftBehind();
    });
  }

  Deno.test(`${method}: --break with an unknown lab`, async () => {
    const run = await runLesson(method, ["--break", "no-such-lab"]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /has no lab "no-such-lab"; --break list shows its labs/);
  });
}
