/**
 * Large files stream in bounded memory: copying 64 MiB must not need more memory than copying
 * 1 MiB (within 32 MiB of slack for the runtime), in either process, in every lesson.
 */

import assert from "node:assert/strict";
import { METHODS } from "../lessons/registry.ts";
import { runDemoJson } from "./_helpers.ts";

const MiB = 1024 * 1024;

for (const method of METHODS) {
  Deno.test(`${method}: peak memory does not grow with the file size`, async () => {
    const small = await runDemoJson(method, ["--size", "1M"]);
    const large = await runDemoJson(method, ["--size", "64M"]);
    for (const { result } of [small, large]) assert.equal(result.byteExact, true);
    for (const role of ["server", "client"] as const) {
      const a = small.result[role]!.peakRssBytes!;
      const b = large.result[role]!.peakRssBytes!;
      assert.ok(a > 0 && b > 0);
      assert.ok(
        b - a <= 32 * MiB,
        `${role}: ${(a / MiB).toFixed(1)} MiB for 1 MiB, ${(b / MiB).toFixed(1)} MiB for 64 MiB`,
      );
    }
  });
}
