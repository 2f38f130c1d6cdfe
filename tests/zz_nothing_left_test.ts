/**
 * Runs last (files run in name order): after the whole suite, no FIFO, queue, shared-memory
 * segment or semaphore of the project may exist, and the suite's temporary folder is empty.
 */

import assert from "node:assert/strict";
import { findLeftovers } from "../lessons/_leftovers.ts";
import { filesIn, TMP } from "./_helpers.ts";

Deno.test("nothing is left behind after the suite", () => {
  const { found } = findLeftovers({ tmp: TMP });
  assert.deepEqual(found.map((object) => `${object.kind} ${object.path}`), []);
  assert.deepEqual(filesIn(TMP), [], "files left in the suite's temporary folder");
  Deno.removeSync(TMP);
});
