/**
 * README.md stays true: its quick start has the two commands CI runs, and its complete example
 * of coursework with mod.ts runs as written.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as libc from "../transports/libc.ts";
import { ROOT, testDir } from "./_helpers.ts";

const readme = Deno.readTextFileSync(join(ROOT, "README.md"));

Deno.test("README: the quick start is two npx commands of one pinned Deno", () => {
  const commands = [...readme.matchAll(/^npx -y deno@(\d+\.\d+\.\d+) task (\S+)$/gm)];
  assert.deepEqual(commands.map((m) => m[2]), ["lesson:fifo", "test"]);
  assert.equal(commands[0]![1], commands[1]![1], "the same Deno version in both");
  assert.equal(commands[0]![1], Deno.version.deno, "the version this suite runs on");
});

Deno.test("README: the squares example runs as written", async () => {
  const code = readme.split("<!-- example: squares.ts")[1]!.match(/```ts\n([\s\S]*?)```/)![1]!;
  const dir = testDir("readme");
  const file = join(dir, "squares.ts");
  Deno.writeTextFileSync(file, code.replace('"./mod.ts"', JSON.stringify(join(ROOT, "mod.ts"))));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", file],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = await child.output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  assert.deepEqual(
    new TextDecoder().decode(output.stdout).trim().split("\n"),
    [1, 2, 3, 4, 5].map((n) => `${n} squared is ${n * n}`),
  );
  // The parent created both queues, so `using` removed their names.
  for (const suffix of ["requests", "answers"]) {
    assert.throws(() => libc.mq_open(`/squares-${child.pid}-${suffix}`, libc.O.RDONLY), /ENOENT/);
  }
  Deno.removeSync(dir, { recursive: true });
});
