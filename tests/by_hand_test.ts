/**
 * The by-hand mode: each side started on its own, as a student does in two terminals.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  assertNothingLeftBehind,
  assertSameFile,
  entry,
  finishSide,
  lessonCommand,
  makeInput,
  ROOT,
  startSide,
  testDir,
  TMP,
} from "./_helpers.ts";

Deno.test("pipe by hand: server | client, as the shell runs it", async () => {
  const dir = testDir("pipe-by-hand");
  const input = makeInput(join(dir, "ïnput file.bin"), 3 * 1024 * 1024 + 5);
  const output = join(dir, "öutput file.bin");
  const deno = Deno.execPath();
  const script =
    `"$DENO" run -A "$LESSON" server --input "$IN" | "$DENO" run -A "$LESSON" client --output "$OUT"`;
  const result = await new Deno.Command("sh", {
    args: ["-c", script],
    cwd: ROOT,
    env: { DENO: deno, LESSON: entry("pipe"), IN: input, OUT: output, TMPDIR: TMP, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(result.stderr);
  assert.equal(result.code, 0, stderr);
  assertSameFile(output, input);
  // Both sides name the same kernel object: the pipe the shell made.
  const server = stderr.match(/^server .*write end of (pipe:\[\d+\])/m)?.[1];
  const client = stderr.match(/^client .*read end of (pipe:\[\d+\])/m)?.[1];
  assert.ok(server && client, stderr);
  assert.equal(server, client);
  // Only data went to stdout: the narration is all on stderr.
  assert.equal(new TextDecoder().decode(result.stdout), "");
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("pipe by hand: the server's bytes can go to any reader", async () => {
  const dir = testDir("pipe-to-wc");
  const input = makeInput(join(dir, "input.bin"), 100_000);
  const result = await new Deno.Command("sh", {
    args: ["-c", `"$DENO" run -A "$LESSON" server --quiet --input "$IN" | wc -c`],
    env: { DENO: Deno.execPath(), LESSON: entry("pipe"), IN: input, TMPDIR: TMP },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
  assert.equal(new TextDecoder().decode(result.stdout).trim(), "100000");
  Deno.removeSync(dir, { recursive: true });
});

/** Starts one side of the FIFO lesson by hand and waits until it says it is waiting. */
function startFifoSide(role: "server" | "client", args: string[]) {
  return startSide(
    "fifo",
    role,
    args,
    role === "server" ? "waiting for a reader" : "waiting for a writer",
  );
}

for (const first of ["server", "client"] as const) {
  Deno.test(`fifo by hand: the ${first} starts first`, async () => {
    const dir = testDir(`fifo-${first}-first`);
    const input = makeInput(join(dir, "ïnput file.bin"), 2 * 1024 * 1024 + 3);
    const output = join(dir, "öutput file.bin");
    const path = join(dir, "my fifo ü 東京");
    const args = {
      server: ["--path", path, "--input", input, "--chunk", "4096"],
      client: ["--path", path, "--output", output],
    };
    const second = first === "server" ? "client" : "server";
    const a = await startFifoSide(first, args[first]);
    // The first side made the FIFO and waits on it: ls -l would show it as prw-------.
    const info = Deno.lstatSync(path);
    assert.equal(info.isFifo, true);
    assert.equal(info.mode! & 0o777, 0o600);
    const b = lessonCommand("fifo", [second, ...args[second]]).spawn();
    const [ra, rb] = await Promise.all([finishSide(a), b.output()]);
    assert.equal(ra.status.code, 0, ra.stderr);
    assert.equal(rb.code, 0, new TextDecoder().decode(rb.stderr));
    assertSameFile(output, input);
    // Both sides name the same pipe inode, and the creator removed the name.
    const inodes = [ra.stderr, new TextDecoder().decode(rb.stderr)].map((text) =>
      text.match(/pipe inode (\d+)/)?.[1]
    );
    assert.ok(inodes[0] && inodes[0] === inodes[1], `inodes ${inodes}`);
    assert.throws(() => Deno.lstatSync(path), Deno.errors.NotFound);
    Deno.removeSync(dir, { recursive: true });
    assertNothingLeftBehind();
  });
}

Deno.test("fifo by hand: any program can be the peer (cat reads, cat writes)", async () => {
  const dir = testDir("fifo-cat");
  const input = makeInput(join(dir, "input.bin"), 300_000);
  const path = join(dir, "cat.fifo");

  // Our server, cat as the reader.
  const server = await startFifoSide("server", ["--path", path, "--input", input]);
  const catOut = join(dir, "from-cat.bin");
  const cat = await new Deno.Command("sh", { args: ["-c", `cat "$0" > "$1"`, path, catOut] })
    .output();
  assert.equal(cat.code, 0);
  assert.equal((await finishSide(server)).status.code, 0);
  assertSameFile(catOut, input);

  // cat as the writer, our client as the reader.
  const output = join(dir, "from-client.bin");
  const client = await startFifoSide("client", ["--path", path, "--output", output]);
  const writer = await new Deno.Command("sh", { args: ["-c", `cat "$1" > "$0"`, path, input] })
    .output();
  assert.equal(writer.code, 0);
  assert.equal((await finishSide(client)).status.code, 0);
  assertSameFile(output, input);
  assert.throws(() => Deno.lstatSync(path), Deno.errors.NotFound);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("fifo by hand: a reader that leaves early is reported by the writer", async () => {
  const dir = testDir("fifo-early-reader");
  const input = makeInput(join(dir, "input.bin"), 16 * 1024 * 1024);
  const path = join(dir, "early.fifo");
  const server = await startFifoSide("server", ["--path", path, "--input", input]);
  // head reads 100 000 bytes and exits: the writer gets EPIPE on its next write.
  const head = await new Deno.Command("sh", {
    args: ["-c", `head -c 100000 "$0" > /dev/null`, path],
  })
    .output();
  assert.equal(head.code, 0);
  const { status, stderr } = await finishSide(server);
  assert.equal(status.code, 1);
  assert.match(
    stderr,
    /error: the client exited after the server had sent .*: transfer incomplete/,
  );
  assert.throws(() => Deno.lstatSync(path), Deno.errors.NotFound);
  Deno.removeSync(dir, { recursive: true });
});
