/**
 * The anonymous-pipe lesson: byte-exact copies around the pipe's buffer and chunk sizes, its
 * bad input, and its break-it lab.
 */

import { commonBadCases, testBadInputs } from "./_bad_input.ts";
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
