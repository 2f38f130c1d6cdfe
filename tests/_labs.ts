/**
 * The break-it lab tests every lesson runs: each lab makes its mistake for real, and the symptom
 * must really happen; then it explains the cause and the fix, within seconds, leaving nothing.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  assertNoStackTrace,
  assertNothingLeftBehind,
  filesIn,
  runLesson,
  TMP,
} from "./_helpers.ts";

/**
 * Registers the tests of `method`'s labs: `--break list` names exactly the labs of `symptoms`
 * (a lab with no test fails here), each lab shows its symptom (what `symptoms` says it must
 * print), then `CAUSE:` and `FIX:` lines, and an unknown lab is refused.
 */
export function testLabs(method: string, symptoms: Record<string, RegExp>): void {
  Deno.test(`${method}: --break list names every lab, and each has a test`, async () => {
    const run = await runLesson(method, ["--break", "list"]);
    assert.equal(run.code, 0, run.stderr);
    const listed = [...run.stdout.matchAll(/^ {2}(\S+) /gm)].map((match) => match[1]);
    assert.deepEqual(listed.sort(), Object.keys(symptoms).sort(), run.stdout);
  });

  for (const [name, symptom] of Object.entries(symptoms)) {
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
    assert.equal(run.code, 2); // a mistake on the command line
    assert.match(run.stderr, /has no lab "no-such-lab"; --break list shows its labs/);
    // Found by review: --json was silently ignored by a lab.
    const json = await runLesson(method, ["--break", "list", "--json"]);
    assert.equal(json.code, 2);
    assert.match(json.stderr, /--json is an option of the demo, not of --break/);
    assert.equal(json.stdout, "");
  });
}
