/**
 * The anonymous-pipe lesson: byte-exact copies around the pipe's buffer and chunk sizes, its
 * bad input, and its break-it lab.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { commonBadCases, testBadInputs } from "./_bad_input.ts";
import {
  assertNothingLeftBehind,
  assertSameFile,
  entry,
  filesIn,
  makeInput,
  testDir,
  TMP,
} from "./_helpers.ts";
import { testLabs } from "./_labs.ts";
import { STREAM_SIZES, testTransfers } from "./_transfers.ts";

const MiB = 1024 * 1024;

testTransfers("pipe", [
  ...STREAM_SIZES.map((size) => ({ size })),
  ...[0, 1, 4097].map((size) => ({ size, chunk: 1 })),
  ...[4096, 65536, MiB].flatMap((chunk) => [{ size: 65537, chunk }, { size: MiB + 13, chunk }]),
]);

const pipeCases = [
  {
    name: "client whose stdin is not a pipe",
    args: ["client", "--output", "{output}"],
    status: 2 as const,
    message: /stdin is not a pipe: run deno task lesson:pipe server --input F \| deno/,
  },
];

testBadInputs("pipe", [...commonBadCases({ tooLargeChunk: "2M" }), ...pipeCases]);

testLabs("pipe", {
  "keep-write-end":
    /SYMPTOM: 2 s later cat is still waiting for end-of-file: its fd 0, fd \d+.* lead to pipe:\[\d+\]/,
});

Deno.test("pipe by hand: Ctrl-C to `server | client` never leaves a short copy named, exit 0", async () => {
  // A terminal's Ctrl-C reaches both processes of the job at once. The server, interrupted,
  // closes its end; the client may see that end-of-file before its own listener runs, and
  // named a short copy with exit 0 (1 run in 4). Now it gives the signal a moment first.
  const dir = testDir("pipe-ctrl-c-job");
  const input = makeInput(join(dir, "input.bin"), 256 * MiB);
  const output = join(dir, "copy.bin");
  const deno = `env --default-signal ${Deno.execPath()} run -A ${entry("pipe")}`;
  for (let run = 0; run < 4; run++) {
    const job = new Deno.Command("setsid", {
      args: [
        "sh",
        "-c",
        // The shell ignores it, to say how the client exited; the sides get it as usual.
        `trap '' INT; ${deno} server --input ${input} --chunk 256 2>/dev/null | ` +
        `${deno} client --output ${output} 2>${join(dir, "client.err")}; echo client $?`,
      ],
      env: { TMPDIR: TMP, NO_COLOR: "1" },
      stdout: "piped",
    }).spawn();
    await new Promise((resolve) => setTimeout(resolve, 1500)); // start-up, then 256 bytes at a time
    Deno.kill(-job.pid, "SIGINT");
    const said = new TextDecoder().decode((await job.output()).stdout);
    const err = Deno.readTextFileSync(join(dir, "client.err"));
    if (/^client 0$/m.test(said)) {
      assertSameFile(output, input); // finished before the signal: then it is whole
      Deno.removeSync(output);
    } else {
      assert.match(said, /^client 130$/m, err);
      assert.match(err, /error: interrupted by SIGINT after .*; removed what this client created/);
      assert.deepEqual(filesIn(dir).sort(), ["client.err", "input.bin"]);
    }
  }
  Deno.removeSync(dir, { recursive: true });
  assertNothingLeftBehind();
});
