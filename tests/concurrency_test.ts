/**
 * Eight demos of the same lesson at the same time, for every lesson: every one byte-exact, with no name
 * colliding with another's, and nothing left behind.
 */

import assert from "node:assert/strict";
import { METHODS } from "../lessons/registry.ts";
import { assertNothingLeftBehind, runDemoJson } from "./_helpers.ts";

for (const method of METHODS) {
  Deno.test(`${method}: 8 demos at once`, async () => {
    const runs = await Promise.all(
      Array.from({ length: 8 }, () => runDemoJson(method, ["--size", "2M", "--timeout", "30"])),
    );
    for (const { run, result } of runs) {
      assert.equal(run.code, 0, run.stderr);
      assert.equal(result.byteExact, true);
      assert.equal(result.bytes, 2 * 1024 * 1024);
    }
    // Eight different inputs (random), eight different outputs.
    assert.equal(new Set(runs.map(({ result }) => result.inputSha256)).size, 8);
    assertNothingLeftBehind();
  });
}
