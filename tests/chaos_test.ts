/**
 * A seeded chaos test: random lessons (from the registry), sizes, chunk sizes and kill points. Every run must
 * either end byte-exact or fail with a clear message, and leave nothing behind.
 *
 * The seed is printed; replay a failure with
 *
 *     CHAOS_SEED=<seed> deno task test --filter chaos
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { METHODS } from "../lessons/registry.ts";
import {
  assertNoStackTrace,
  assertNothingLeftBehind,
  filesIn,
  makeInput,
  runLesson,
  testDir,
} from "./_helpers.ts";

/**
 * The largest chunk drawn: one every lesson takes (a message queue's largest message by default;
 * the other lessons take larger chunks, which their own transfer tests cover).
 */
const LARGEST_CHUNK = 8192;

const ITERATIONS = Number(Deno.env.get("CHAOS_ITERATIONS") ?? 16);

/** mulberry32: a small seeded generator, so that a run can be replayed. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("chaos: random sizes, chunks, methods and kill points", async (t) => {
  const seed = Number(Deno.env.get("CHAOS_SEED") ?? Math.floor(Math.random() * 2 ** 31));
  console.log(`chaos seed ${seed} (replay: CHAOS_SEED=${seed} deno task test --filter chaos)`);
  const random = generator(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

  for (let i = 1; i <= ITERATIONS; i++) {
    const method = pick(METHODS);
    // Sizes spread over orders of magnitude: 0 bytes to 4 MiB.
    const size = random() < 0.1 ? 0 : Math.floor(2 ** (random() * 22));
    // Chunks from 1 byte to the largest, but not more than 8192 of them.
    const drawn = Math.floor(2 ** (random() * 14));
    const chunk = Math.min(LARGEST_CHUNK, Math.max(drawn, Math.ceil(size / 8192), 1));
    const kill = random() < 0.3 ? null : {
      role: pick(["server", "client"] as const),
      at: Math.floor(random() * (size + 1)),
      signal: pick(["KILL", "KILL", "INT", "TERM", "STOP"] as const),
    };
    const args = ["--chunk", String(chunk), "--timeout", "2"];
    if (kill) args.push("--kill-after", `${kill.role}:${kill.at}:${kill.signal}`);
    const label = `#${i} ${method} ${size} bytes ${args.join(" ")}`;

    await t.step(label, async () => {
      const dir = testDir("chaos");
      const input = makeInput(join(dir, "input.bin"), size, seed + i);
      const output = join(dir, "output.bin");
      const run = await runLesson(method, ["--input", input, "--output", output, ...args]);
      assertNoStackTrace(run);
      if (run.code === 0) {
        // Success means a verified, byte-exact copy.
        assert.match(run.stderr, /byte-exact copy: yes/);
        assert.deepEqual(filesIn(dir), ["input.bin", "output.bin"]);
      } else {
        // Failure means a clear message, a meaningful status, and no output.
        assert.ok([1, 130, 143].includes(run.code), `status ${run.code}\n${run.stderr}`);
        assert.match(run.stderr, /error: .+/);
        assert.deepEqual(filesIn(dir), ["input.bin"], "a failed run left an output");
        assert.ok(kill !== null, `failed without a fault:\n${run.stderr}`);
      }
      Deno.removeSync(dir, { recursive: true });
      assertNothingLeftBehind();
    });
  }
});
