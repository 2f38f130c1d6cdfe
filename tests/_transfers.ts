/**
 * The byte-exact transfer tests every lesson runs: a table of sizes and chunk sizes, each
 * copied by the lesson's demo (two real processes) and checked byte by byte.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  assertNothingLeftBehind,
  assertSameFile,
  filesIn,
  makeInput,
  runDemoJson,
  sha256,
  testDir,
} from "./_helpers.ts";

/** One copy: `size` bytes, with `--chunk` when given, and any extra arguments. */
export interface TransferCase {
  size: number;
  chunk?: number;
  args?: string[];
}

const MiB = 1024 * 1024;

/** The sizes of the foundation issue: boundaries of a page and of the default pipe buffer. */
export const STREAM_SIZES = [0, 1, 4095, 4096, 4097, 65535, 65536, 65537, MiB + 13, 64 * MiB];

/** Registers one test that copies every case through `method` and checks the bytes. */
export function testTransfers(method: string, cases: TransferCase[]): void {
  Deno.test(`${method}: byte-exact copies`, async (t) => {
    const dir = testDir(`${method}-transfers`);
    const inputs = new Map<number, string>();
    for (const { size, chunk, args = [] } of cases) {
      const name = `${size} bytes${chunk ? `, --chunk ${chunk}` : ""}${
        args.length ? ` ${args.join(" ")}` : ""
      }`;
      await t.step(name, async () => {
        if (!inputs.has(size)) {
          inputs.set(size, makeInput(join(dir, `input-${size}.bin`), size, size + 7));
        }
        const input = inputs.get(size)!;
        const output = join(dir, "output.bin");
        const chunkArgs = chunk ? ["--chunk", String(chunk)] : [];
        const { run, result } = await runDemoJson(method, [
          "--input",
          input,
          "--output",
          output,
          ...chunkArgs,
          ...args,
        ]);
        assert.equal(run.code, 0, run.stderr);
        assert.equal(result.byteExact, true);
        assert.equal(result.bytes, size);
        assert.equal(result.inputSha256, sha256(input));
        assertSameFile(output, input);
        Deno.removeSync(output);
      });
    }
    // Neither partial nor unverified files remain: only the inputs.
    assert.deepEqual(filesIn(dir), [...inputs.values()].map((p) => p.slice(dir.length + 1)).sort());
    Deno.removeSync(dir, { recursive: true });
    assertNothingLeftBehind();
  });
}
