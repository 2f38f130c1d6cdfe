/**
 * The FIFO lesson: byte-exact copies around the pipe's buffer and chunk sizes, its bad input
 * (paths that are not FIFOs, a FIFO left behind, paths mkfifo refuses, peers that never come), a
 * second server or client on a FIFO in use (refused, the first one's copy intact), a server that
 * ends early (it says what the client will see), and its break-it lab.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { commonBadCases, testBadInputs } from "./_bad_input.ts";
import {
  assertOneError,
  finishSide,
  makeInput,
  readUntil,
  runLesson,
  sha256,
  startSide,
  testDir,
} from "./_helpers.ts";
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
    message: /cannot create the FIFO .*: its directory .*nowhere does not exist/,
  },
  // Found by review: these said "unexpected error: … mkfifo failed: ENAMETOOLONG", or that /proc
  // does not exist. Each is one plain line, in the demo (checked before the sides start) and by
  // hand (mkfifo's errno, explained).
  ...[[], ["server", "--timeout", "1"]].flatMap((mode) => [
    {
      name: `FIFO name longer than NAME_MAX${mode.length ? ", by hand" : ""}`,
      args: [...mode, "--path", `{dir}/${"x".repeat(300)}`],
      status: 1 as const,
      message:
        /│ error: cannot create the FIFO .*(ENAMETOOLONG.*)?a part of the path is 300 bytes long, and a file name may hold at most 255 \(NAME_MAX\); choose another --path$/,
    },
    {
      name: `FIFO path under a regular file${mode.length ? ", by hand" : ""}`,
      args: [...mode, "--path", "{dir}/file/x.fifo"],
      status: 1 as const,
      message:
        /│ error: cannot create the FIFO .*file\/x\.fifo: (mkfifo failed with ENOTDIR .*: )?.*file is a regular file, not a directory; choose another --path$/,
      setup: (dir: string) => Deno.writeTextFileSync(`${dir}/file`, "x"),
    },
    {
      name: `FIFO path in /proc${mode.length ? ", by hand" : ""}`,
      args: [...mode, "--path", "/proc/x.fifo"],
      status: 1 as const,
      message:
        /│ error: cannot create the FIFO \/proc\/x\.fifo: (mkfifo failed with ENOENT .*: )?its directory \/proc is on proc, a file system that cannot hold a FIFO; choose another --path$/,
    },
  ]),
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

/** `mkfifo -m 600 path`, as a user would by hand: nobody removes it but the test. */
function mkfifo(path: string): void {
  assert.equal(new Deno.Command("mkfifo", { args: ["-m", "600", path] }).outputSync().code, 0);
}

// Found by review: a second server on the same --path called the first one "the client, waiting
// for me", waited as a second writer, and now and then the client kept both inputs mixed, with
// exit status 0. Now it refuses, writing nothing, and the first server's copy is whole.
Deno.test("fifo: a second server on a FIFO whose first server waits refuses, writing nothing", async () => {
  const dir = testDir("fifo-second-server");
  try {
    const path = join(dir, "shared.fifo");
    const first = makeInput(join(dir, "first.bin"), 16 * 1024 * 1024, 1);
    const second = makeInput(join(dir, "second.bin"), 4 * 1024 * 1024, 2);
    const args = (input: string) => ["--path", path, "--input", input, "--timeout", "20"];
    const one = await startSide("fifo", "server", args(first), /waiting for a reader on/);
    const two = await startSide("fifo", "server", args(second), /waiting for a reader on/);
    assert.match(two.said, /process \d+ has it open but no end yet \(another server, waiting/);
    assert.doesNotMatch(two.said, /the client, waiting for me/);
    const output = join(dir, "copy.bin");
    const client = await runLesson("fifo", ["client", "--path", path, "--output", output]);
    const [a, b] = [await finishSide(one), await finishSide(two)];
    assert.equal(client.code, 0, client.stderr);
    assert.equal(a.status.code, 0, a.stderr);
    assert.equal(b.status.code, 1, b.stderr);
    assertOneError(
      { code: 1, signal: null, stdout: "", stderr: b.stderr },
      /another writer, was waiting on the FIFO .*shared\.fifo before me, .*made for one writer, so I leave without writing.*--keep-name/,
    );
    assert.equal(sha256(output), sha256(first), "the copy is the first server's input");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("fifo: a server that finds another one writing into the FIFO refuses at once", async () => {
  const dir = testDir("fifo-writer-there");
  try {
    const path = join(dir, "by-hand.fifo");
    mkfifo(path);
    const first = makeInput(join(dir, "first.bin"), 8 * 1024 * 1024, 1);
    const one = await startSide(
      "fifo",
      "server",
      ["--path", path, "--input", first, "--timeout", "20"],
      /waiting for a reader on/,
    );
    // A reader that opens the FIFO, then takes nothing for 3 s: the first server is connected,
    // its end open for writing, while the second one looks.
    const output = join(dir, "copy.bin");
    const reader = new Deno.Command("bash", {
      args: ["-c", 'exec 3<"$1"; sleep 3; exec cat <&3 > "$2"', "bash", path, output],
    }).spawn();
    one.said += await readUntil(one.stderr, /we are connected/);
    const two = await runLesson("fifo", ["server", "--path", path, "--input", first]);
    assert.equal(two.code, 1, two.stderr);
    assertOneError(
      two,
      /│ error: process \d+ already has the FIFO .*by-hand\.fifo open for writing: another writer.*--keep-name/,
    );
    assert.equal((await reader.status).code, 0);
    const { status, stderr } = await finishSide(one);
    assert.equal(status.code, 0, stderr);
    assert.equal(sha256(output), sha256(first));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("fifo: a second client refuses before opening its end; the first one's copy is whole", async () => {
  const dir = testDir("fifo-second-client");
  try {
    const path = join(dir, "shared.fifo");
    const input = makeInput(join(dir, "input.bin"), 4 * 1024 * 1024, 3);
    const output = join(dir, "copy.bin");
    const one = await startSide(
      "fifo",
      "client",
      ["--path", path, "--output", output, "--timeout", "20"],
      /waiting for a writer on/,
    );
    const two = await runLesson("fifo", ["client", "--path", path, "--output", `${output}.2`]);
    assert.equal(two.code, 1, two.stderr);
    assertOneError(
      two,
      /│ error: process \d+ also has the FIFO .*shared\.fifo open for reading: each byte goes to only one reader.*I leave before opening my end/,
    );
    const server = await runLesson("fifo", ["server", "--path", path, "--input", input]);
    assert.equal(server.code, 0, server.stderr);
    assert.equal((await finishSide(one)).status.code, 0);
    assert.equal(sha256(output), sha256(input));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

// A server that ends early (here its own --timeout, the reader stopped) closes its end like one
// that finished: the reader sees end-of-file. Only the server can say so.
Deno.test("fifo: a server that times out says the client may keep a short copy", async () => {
  const dir = testDir("fifo-early-end");
  try {
    const path = join(dir, "slow.fifo");
    mkfifo(path);
    const input = makeInput(join(dir, "input.bin"), 8 * 1024 * 1024, 4);
    const reader = new Deno.Command("bash", {
      args: ["-c", 'exec 3<"$1"; sleep 3', "bash", path],
    }).spawn();
    const server = await runLesson("fifo", [
      "server",
      "--path",
      path,
      "--input",
      input,
      "--timeout",
      "1",
    ]);
    await reader.status;
    assert.equal(server.code, 1, server.stderr);
    assertOneError(
      server,
      /the pipe stayed full for 1 s.*; the client will see end-of-file and may keep a short copy \(.* of 8\.00 MiB\) as if it were whole$/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
