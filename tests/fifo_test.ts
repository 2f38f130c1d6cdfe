/**
 * The FIFO lesson: byte-exact copies around the pipe's buffer and chunk sizes, its bad input
 * (paths that are not FIFOs, a FIFO left behind, peers that never come), and its break-it lab.
 */

import { commonBadCases, testBadInputs } from "./_bad_input.ts";
import { testLabs } from "./_labs.ts";
import { STREAM_SIZES, testTransfers } from "./_transfers.ts";

const MiB = 1024 * 1024;

testTransfers("fifo", [
  ...STREAM_SIZES.map((size) => ({ size })),
  ...[0, 1, 4097].map((size) => ({ size, chunk: 1 })),
  ...[4096, 65536, MiB].flatMap((chunk) => [{ size: 65537, chunk }, { size: MiB + 13, chunk }]),
]);

const fifoCases = [
  {
    name: "FIFO path is a regular file",
    args: ["--path", "{dir}/not-a-fifo"],
    status: 1 as const,
    message: /not-a-fifo already exists and is not a FIFO \(it is a regular file\)/,
    setup: (dir: string) => Deno.writeTextFileSync(`${dir}/not-a-fifo`, "x"),
  },
  {
    name: "FIFO path is a directory",
    args: ["--path", "{dir}"],
    status: 1 as const,
    message: /already exists and is not a FIFO \(it is a directory\)/,
  },
  {
    name: "FIFO path is a symbolic link to a FIFO",
    args: ["--path", "{dir}/link"],
    status: 1 as const,
    message: /already exists and is not a FIFO \(it is a symbolic link\)/,
    setup: (dir: string) => {
      new Deno.Command("mkfifo", { args: ["-m", "600", `${dir}/real.fifo`] }).outputSync();
      Deno.symlinkSync(`${dir}/real.fifo`, `${dir}/link`);
    },
  },
  {
    name: "FIFO path in a missing directory",
    args: ["--path", "{dir}/nowhere/x.fifo"],
    status: 1 as const,
    message: /cannot create the FIFO .*: its directory does not exist/,
  },
  {
    name: "empty FIFO path",
    args: ["--path="],
    status: 2 as const,
    message: /--path needs a path/,
  },
  {
    name: "a FIFO left behind by a killed run",
    args: ["--path", "{dir}/stale.fifo", "--input", "{input}", "--output", "{output}"],
    status: 1 as const,
    message: /the FIFO .*stale\.fifo already exists: .*deno task clean/,
    setup: (dir: string) => {
      new Deno.Command("mkfifo", { args: ["-m", "600", `${dir}/stale.fifo`] }).outputSync();
    },
  },
  {
    name: "server waits for a reader that never comes",
    args: ["server", "--path", "{dir}/lonely.fifo", "--timeout", "0.5"],
    status: 1 as const,
    message: /no reader opened the FIFO .*lonely\.fifo within 0\.5 s/,
  },
  {
    name: "client waits for a writer that never comes",
    args: ["client", "--path", "{dir}/lonely.fifo", "--timeout", "0.5", "--output", "{output}"],
    status: 1 as const,
    message: /no writer opened the FIFO .*lonely\.fifo within 0\.5 s/,
  },
];

testBadInputs("fifo", [...commonBadCases({ tooLargeChunk: "2M" }), ...fifoCases]);

testLabs("fifo", {
  "no-reader": /SYMPTOM: open\(O_WRONLY \| O_NONBLOCK\) failed with ENXIO/,
});
