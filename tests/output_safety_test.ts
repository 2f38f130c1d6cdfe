/**
 * The output never destroys anything (issue 10, section 2): a device, FIFO, socket, directory
 * or symbolic link at the output path is refused and stays what it was; an existing file is
 * replaced only with --force; the copy gets the input's permission bits in the demo and 0600
 * by hand; whatever the output path alone makes certain fails before the transfer starts; and
 * no internal name is ever left behind or shown.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { METHODS } from "../lessons/registry.ts";
import {
  assertNothingLeftBehind,
  assertOneError,
  assertSameFile,
  collect,
  entry,
  filesIn,
  lessonCommand,
  makeInput,
  readUntil,
  type Run,
  runLesson,
  runWrapped,
  testDir,
  textReader,
  TMP,
} from "./_helpers.ts";

/** The identity of what is at `path`, without following a link: kind, device, inode. */
function identity(path: string): string {
  const info = Deno.lstatSync(path);
  const kind = info.isSymlink
    ? `symlink -> ${Deno.readLinkSync(path)}`
    : info.isCharDevice
    ? `char ${info.rdev}`
    : info.isFifo
    ? "fifo"
    : info.isSocket
    ? "socket"
    : info.isDirectory
    ? "dir"
    : "file";
  return `${kind} ${info.dev}:${info.ino} mode ${info.mode}`;
}

/** Nothing was started: the one error line is all that was said (no side, no narration). */
function assertNothingStarted(run: Run): void {
  assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
}

/** Runs a side by hand, in a shell, with `umask` set, so that it cannot decide the mode. */
function runWithUmask(method: string, umask: string, args: string[]): Promise<Run> {
  return runWrapped(["sh", "-c", `umask ${umask}; exec "$0" "$@"`], method, args);
}

Deno.test({
  name: "output: /dev/null stays a character device, in the demo and by hand",
  ignore: Deno.uid() !== 0, // only root could have replaced it
  async fn() {
    const before = identity("/dev/null");
    for (const method of METHODS) {
      for (const args of [["--output", "/dev/null"], ["--output", "/dev/null", "--force"]]) {
        const run = await runLesson(method, args);
        assert.equal(run.code, 2, run.stderr);
        assertOneError(run, /output "\/dev\/null" is a character device: the output may only be/);
        assertNothingStarted(run);
      }
      const byHand = await runLesson(method, ["client", "--output", "/dev/null", "--force"]);
      assert.equal(byHand.code, 2, byHand.stderr);
      assertOneError(byHand, /output "\/dev\/null" is a character device/);
      assert.equal(identity("/dev/null"), before);
    }
    assert.equal(Deno.lstatSync("/dev/null").isCharDevice, true);
  },
});

Deno.test("output: a device, FIFO, socket, directory or symbolic link is refused and left as it was", async (t) => {
  const dir = testDir("output-kinds");
  const input = makeInput(join(dir, "input.bin"), 10_000);
  const target = makeInput(join(dir, "target.bin"), 777, 3);
  const targetBefore = identity(target);
  const listeners: Deno.Listener[] = [];
  const kinds: Record<string, () => string> = {
    "a symbolic link": () => {
      Deno.symlinkSync(target, join(dir, "link"));
      return join(dir, "link");
    },
    "a dangling symbolic link": () => {
      Deno.symlinkSync(join(dir, "nowhere"), join(dir, "dangling"));
      return join(dir, "dangling");
    },
    "a FIFO": () => {
      new Deno.Command("mkfifo", { args: ["-m", "600", join(dir, "out.fifo")] }).outputSync();
      return join(dir, "out.fifo");
    },
    "a socket": () => {
      // Kept open (closing the listener would remove the socket file) until the suite ends.
      listeners.push(Deno.listen({ transport: "unix", path: join(dir, "out.sock") }));
      return join(dir, "out.sock");
    },
    "a directory": () => {
      Deno.mkdirSync(join(dir, "subdir"));
      return join(dir, "subdir");
    },
  };
  if (Deno.uid() === 0) {
    kinds["a character device"] = () => {
      // A private copy of /dev/null (major 1, minor 3), so that a failure harms nothing.
      new Deno.Command("mknod", { args: ["-m", "666", join(dir, "null"), "c", "1", "3"] })
        .outputSync();
      return join(dir, "null");
    };
  }
  for (const [kind, make] of Object.entries(kinds)) {
    await t.step(kind, async () => {
      const path = make();
      const before = identity(path);
      const expected = new RegExp(
        `output ".*" is ${kind.replace("a dangling", "a")}: the output may only be a new file`,
      );
      for (const method of ["fifo", "pipe"]) {
        for (
          const args of [
            ["--input", input, "--output", path, "--force"],
            ["--size", "64M", "--output", path],
            ["client", "--output", path, "--force"],
          ]
        ) {
          const run = await runLesson(method, args);
          assert.equal(run.code, 2, `${method} ${args.join(" ")}\n${run.stderr}`);
          assertOneError(run, expected);
          assertNothingStarted(run);
          assert.equal(identity(path), before, "left exactly as it was");
        }
      }
    });
  }
  for (const listener of listeners) listener.close();
  assert.equal(identity(target), targetBefore, "the link's target is untouched");
  assertSameFile(target, makeInput(join(dir, "expected.bin"), 777, 3));
  Deno.removeSync(dir, { recursive: true });
  assertNothingLeftBehind();
});

Deno.test("output: an existing file is left alone without --force, replaced with it", async (t) => {
  for (const method of METHODS) {
    await t.step(`${method} demo`, async () => {
      const dir = testDir(`${method}-force`);
      const input = makeInput(join(dir, "input.bin"), 200_000, 5);
      const output = join(dir, "output.bin");
      const old = makeInput(join(dir, "old.bin"), 3000, 9);
      Deno.copyFileSync(old, output);
      Deno.chmodSync(output, 0o644);
      Deno.chmodSync(input, 0o640);

      const refused = await runLesson(method, ["--input", input, "--output", output]);
      assert.equal(refused.code, 1, refused.stderr);
      assertOneError(
        refused,
        /output ".*output\.bin" already exists and was left alone: add --force to replace it/,
      );
      assertNothingStarted(refused);
      assertSameFile(output, old);

      const replaced = await runLesson(method, ["--input", input, "--output", output, "--force"]);
      assert.equal(replaced.code, 0, replaced.stderr);
      assertSameFile(output, input);
      assert.equal(Deno.statSync(output).mode! & 0o777, 0o640, "the input's permission bits");
      assert.deepEqual(filesIn(dir), ["input.bin", "old.bin", "output.bin"]);
      Deno.removeSync(dir, { recursive: true });
    });
  }

  await t.step("fifo by hand", async () => {
    const dir = testDir("fifo-force-by-hand");
    const input = makeInput(join(dir, "input.bin"), 300_000, 6);
    const output = join(dir, "output.bin");
    const old = makeInput(join(dir, "old.bin"), 64 * 1024, 8);
    Deno.copyFileSync(old, output);
    const path = join(dir, "lab.fifo");

    // The client refuses at once, before it makes the FIFO or waits for anyone.
    const refused = await runLesson("fifo", ["client", "--path", path, "--output", output]);
    assert.equal(refused.code, 1, refused.stderr);
    assertOneError(
      refused,
      /output ".*output\.bin" already exists and was left alone: add --force/,
    );
    assertSameFile(output, old);

    const server = runLesson("fifo", ["server", "--path", path, "--input", input]);
    const client = await runWithUmask("fifo", "022", [
      "client",
      "--path",
      path,
      "--output",
      output,
      "--force",
    ]);
    assert.equal(client.code, 0, client.stderr);
    assert.equal((await server).code, 0);
    assertSameFile(output, input);
    assert.equal(Deno.statSync(output).mode! & 0o777, 0o600, "by hand: 0600");
    assert.deepEqual(filesIn(dir), ["input.bin", "old.bin", "output.bin"]);
    Deno.removeSync(dir, { recursive: true });
  });

  await t.step("pipe by hand, the server starting the client", async () => {
    const dir = testDir("pipe-force-by-hand");
    const input = makeInput(join(dir, "input.bin"), 300_000, 6);
    const output = join(dir, "output.bin");
    const old = makeInput(join(dir, "old.bin"), 5000, 8);
    Deno.copyFileSync(old, output);
    const refused = await runLesson("pipe", ["server", "--input", input, "--output", output]);
    assert.equal(refused.code, 1, refused.stderr);
    assertOneError(refused, /already exists and was left alone: add --force/);
    assertNothingStarted(refused);
    assertSameFile(output, old);
    const run = await runLesson("pipe", [
      "server",
      "--input",
      input,
      "--output",
      output,
      "--force",
    ]);
    assert.equal(run.code, 0, run.stderr);
    assertSameFile(output, input);
    assert.deepEqual(filesIn(dir), ["input.bin", "old.bin", "output.bin"]);
    Deno.removeSync(dir, { recursive: true });
  });
  assertNothingLeftBehind();
});

Deno.test("output: the demo gives the copy the input's permission bits, whatever the umask", async () => {
  const dir = testDir("modes");
  for (const method of METHODS) {
    for (const mode of [0o600, 0o640, 0o755, 0o444]) {
      const input = makeInput(join(dir, `input-${mode.toString(8)}.bin`), 70_000, mode);
      Deno.chmodSync(input, mode);
      const output = join(dir, `output-${method}-${mode.toString(8)}.bin`);
      const run = await runWithUmask(method, "077", [
        "--quiet",
        "--input",
        input,
        "--output",
        output,
      ]);
      assert.equal(run.code, 0, run.stderr);
      assertSameFile(output, input);
      assert.equal(Deno.statSync(output).mode! & 0o7777, mode, `${method} ${mode.toString(8)}`);
    }
    // Random input is private: 0600.
    const random = join(dir, `random-${method}.bin`);
    const run = await runWithUmask(method, "000", [
      "--quiet",
      "--size",
      "100K",
      "--output",
      random,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(Deno.statSync(random).mode! & 0o777, 0o600);
  }
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("output: the client by hand creates the copy 0600, whatever the umask", async () => {
  const dir = testDir("by-hand-mode");
  const input = makeInput(join(dir, "input.bin"), 100_000);
  Deno.chmodSync(input, 0o644);
  for (const umask of ["000", "022"]) {
    const output = join(dir, `output-${umask}.bin`);
    const script = `umask ${umask}; "$0" run -A "$1" server --quiet --input "$2" | ` +
      `"$0" run -A "$1" client --quiet --output "$3"`;
    const result = await new Deno.Command("sh", {
      args: ["-c", script, Deno.execPath(), entry("pipe"), input, output],
      env: { TMPDIR: TMP, NO_COLOR: "1" },
      stderr: "piped",
    }).output();
    assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
    assertSameFile(output, input);
    assert.equal(Deno.statSync(output).mode! & 0o777, 0o600);
  }
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("output: a path that can never work fails before the transfer, creating nothing", async (t) => {
  const dir = testDir("output-before");
  const cases = [
    {
      name: "a trailing slash, no such directory",
      output: join(dir, "newdir/"),
      status: 2,
      message: /output ".*newdir\/" ends with "\/", so it can only name a directory/,
    },
    {
      name: "a trailing slash on an existing directory",
      output: `${dir}/`,
      status: 2,
      message: /ends with "\/", so it can only name a directory/,
    },
    {
      name: "a missing directory",
      output: join(dir, "missing", "out.bin"),
      status: 1,
      message: /cannot create output ".*out\.bin": directory ".*missing" does not exist/,
    },
    {
      name: "a file where a directory should be",
      output: join(dir, "plain.txt", "out.bin"),
      status: 1,
      message: /cannot create output ".*out\.bin": .*not a directory/,
    },
  ];
  Deno.writeTextFileSync(join(dir, "plain.txt"), "x");
  for (const { name, output, status, message } of cases) {
    await t.step(name, async () => {
      for (const method of METHODS) {
        for (
          const args of [["--size", "64M", "--output", output], ["client", "--output", output]]
        ) {
          const started = performance.now();
          const run = await runLesson(method, args);
          assert.equal(run.code, status, `${method} ${args.join(" ")}\n${run.stderr}`);
          assertOneError(run, message);
          assertNothingStarted(run);
          // Refused at once: no 64 MiB were written, no side waited for its peer.
          assert.ok(performance.now() - started < 8000);
          assert.deepEqual(filesIn(dir), ["plain.txt"]);
        }
      }
    });
  }

  await t.step({
    name: "a directory this user may not write in (root without CAP_DAC_OVERRIDE)",
    ignore: Deno.uid() !== 0,
    fn: async () => {
      const locked = join(dir, "locked");
      Deno.mkdirSync(locked, { mode: 0o555 });
      Deno.chmodSync(locked, 0o555);
      for (const args of [["--size", "64M"], ["client"]]) {
        const output = await new Deno.Command("setpriv", {
          args: [
            "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search",
            Deno.execPath(),
            "run",
            "--quiet",
            "-A",
            entry("fifo"),
            ...args,
            "--output",
            join(locked, "out.bin"),
          ],
          env: { TMPDIR: TMP, NO_COLOR: "1" },
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        const run = collect(output);
        assert.equal(run.code, 1, run.stderr);
        assertOneError(
          run,
          /cannot create output ".*out\.bin": no permission to create files in directory ".*locked"/,
        );
        assertNothingStarted(run);
        assert.deepEqual(filesIn(locked), []);
      }
      Deno.removeSync(locked);
    },
  });

  // Found by review: the copy ran to the end, and only then could it not take the name.
  await t.step({
    name: "another user's file in a sticky directory (like /tmp), with --force",
    ignore: Deno.uid() !== 0,
    fn: async () => {
      Deno.chmodSync(dir, 0o711); // user nobody may pass through to the sticky directory
      const sticky = join(dir, "sticky");
      Deno.mkdirSync(sticky);
      Deno.chmodSync(sticky, 0o1777);
      const theirs = join(sticky, "theirs.bin");
      Deno.writeTextFileSync(theirs, "root's own\n");
      const nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
      for (const args of [["--size", "64M"], ["client"]]) {
        const run = await runWrapped(nobody, "fifo", [...args, "--output", theirs, "--force"]);
        assert.equal(run.code, 1, run.stderr);
        assertOneError(
          run,
          /cannot replace output ".*theirs\.bin": it belongs to user 0, and directory ".*sticky" is sticky \(like \/tmp\): only the file's owner may replace it/,
        );
        assertNothingStarted(run);
        assert.equal(Deno.readTextFileSync(theirs), "root's own\n");
        assert.deepEqual(filesIn(sticky), ["theirs.bin"]);
      }
      Deno.removeSync(sticky, { recursive: true });
    },
  });
  Deno.removeSync(dir, { recursive: true });
  assertNothingLeftBehind();
});

Deno.test("output: no internal name is shown or left, whatever happens to the client", async (t) => {
  for (const method of METHODS) {
    await t.step(method, async () => {
      const dir = testDir(`${method}-no-names`);
      const output = join(dir, "output.bin");
      for (const args of [[], ["--kill-after", "client:1M"], ["--kill-after", "client:1M:TERM"]]) {
        const run = await runLesson(method, ["--size", "4M", "--output", output, ...args]);
        const runner = run.stderr.match(/^runner +(\d+) │/m)![1];
        // Neither a staging name nor the runner's descriptors: only the user's output path.
        assert.doesNotMatch(run.stderr, /\.unverified|\.partial|\.new\b|ipc-lesson-run-/);
        assert.doesNotMatch(run.stderr, new RegExp(`/proc/${runner}/fd`));
        if (args.length === 0) {
          assert.equal(run.code, 0, run.stderr);
          assert.match(run.stderr, /linked it into place as "[^"]*output\.bin"/);
          assert.deepEqual(filesIn(dir), ["output.bin"]);
          Deno.removeSync(output);
        } else {
          assert.notEqual(run.code, 0);
          assert.deepEqual(filesIn(dir), []);
        }
      }
      Deno.removeSync(dir);
    });
  }
  assertNothingLeftBehind();
});

/** Waits until process `pid` is stopped (state T in /proc/PID/stat), or `ms` pass. */
async function untilStopped(pid: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Deno.readTextFileSync(`/proc/${pid}/stat`).match(/\) (\S)/)?.[1] !== "T") {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not stop within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * The attack of review 2, section 1: the output's path goes through a symbolic link that
 * another user owns, in a sticky directory like /tmp; during the transfer they point it at a
 * directory of root's. Set up, and swapped, by user nobody when the tests run as root.
 */
class SwappedLink {
  readonly pub: string;
  /** Where the link points when the run starts: the copy may only ever be named here. */
  readonly theirs: string;
  readonly link: string;
  /** Root's private directory, and a file in it that no run may touch. */
  readonly rootOnly: string;
  readonly victim: string;
  readonly expected: string;

  constructor(readonly dir: string) {
    this.pub = join(dir, "pub");
    this.theirs = join(this.pub, "theirs");
    this.link = join(this.pub, "lnk");
    this.rootOnly = join(dir, "root-only");
    Deno.mkdirSync(this.pub);
    Deno.chmodSync(this.pub, 0o1777);
    Deno.mkdirSync(this.rootOnly);
    Deno.chmodSync(this.rootOnly, 0o700);
    this.victim = makeInput(join(this.rootOnly, "victim.txt"), 1000, 7);
    this.expected = makeInput(join(dir, "expected.txt"), 1000, 7);
    this.#as(["mkdir", this.theirs]);
    this.pointAt(this.theirs);
  }

  /** Points the link at `target` at once, as `ln -sfn` does (a new link renamed over it). */
  pointAt(target: string): void {
    this.#as(["ln", "-sfn", target, this.link]);
  }

  #as(command: string[]): void {
    const nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
    const [program, ...args] = Deno.uid() === 0 ? [...nobody, ...command] : command;
    const result = new Deno.Command(program!, { args, stderr: "piped" }).outputSync();
    assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
  }

  /** The copy was named nowhere: the root-only file is as it was, and nothing new is anywhere. */
  assertUntouched(): void {
    assertSameFile(this.victim, this.expected);
    assert.deepEqual(filesIn(this.rootOnly), ["victim.txt"]);
    assert.deepEqual(filesIn(this.theirs), []);
  }
}

/** The one line a swapped directory gets at commit: the copy is not named anywhere. */
const SWAPPED =
  /cannot create output ".*lnk\/(victim|planted)\.txt": directory ".*lnk" is not the one the copy was made in any more \(a symbolic link or directory on the way changed during the copy\), so the copy was not named/;

// Found by review 2 (section 1): the copy was named at the end by its path, looked up again, so
// whoever owned a symbolic link on the way could point it elsewhere meanwhile and have the copy
// made, or with --force replace a file, in a directory of their choice (root's own).
Deno.test("output: a symbolic link on the way, swapped during the transfer, cannot redirect the copy", async (t) => {
  const dir = testDir("output-swapped-link");
  // User nobody may pass through to the sticky directory.
  Deno.chmodSync(dir, 0o711);
  const swap = new SwappedLink(dir);
  const cases = [["victim.txt", "--force"], ["planted.txt"]];
  for (const method of ["pipe", "fifo"]) {
    for (const [name, ...force] of cases) {
      await t.step(`${method} demo, ${name} ${force.join(" ")}`, async () => {
        swap.pointAt(swap.theirs);
        // The client stops itself (SIGSTOP) after 1 MiB: the copy is surely under way, and
        // stays so until the link has been swapped.
        const child = lessonCommand(method, [
          ...["--size", "4M", "--output", join(swap.link, name!), ...force],
          ...["--kill-after", "client:1M:STOP"],
        ]).spawn();
        const stderr = textReader(child.stderr);
        let said = await readUntil(stderr, /started the client as (my child, )?process \d+/);
        const client = Number(said.match(/started the client as (?:my child, )?process (\d+)/)![1]);
        await untilStopped(client, 30_000);
        swap.pointAt(swap.rootOnly);
        Deno.kill(client, "SIGCONT");
        for (let r = await stderr.read(); !r.done; r = await stderr.read()) said += r.value;
        await child.stdout.cancel();
        const run: Run = { ...await child.status, stdout: "", stderr: said };
        assert.equal(run.code, 1, said);
        assert.match(said, /byte-exact copy: yes/, "the transfer itself went well");
        assertOneError(run, SWAPPED);
        swap.assertUntouched();
      });
    }
  }

  await t.step("fifo by hand, --force", async () => {
    swap.pointAt(swap.theirs);
    const input = makeInput(join(dir, "input.bin"), 4 << 20, 5);
    const path = join(dir, "lab.fifo");
    const server = runLesson("fifo", ["server", "--path", path, "--input", input]);
    const child = lessonCommand("fifo", [
      ...["client", "--path", path, "--output", join(swap.link, "victim.txt"), "--force"],
      ...["--kill-after", "client:1M:STOP"],
    ]).spawn();
    await untilStopped(child.pid, 30_000);
    swap.pointAt(swap.rootOnly);
    Deno.kill(child.pid, "SIGCONT");
    const output = await child.output();
    const run = collect(output);
    assert.equal(run.code, 1, run.stderr);
    assertOneError(run, SWAPPED);
    assert.equal((await server).code, 0);
    swap.assertUntouched();
    Deno.removeSync(input);
  });
  Deno.removeSync(dir, { recursive: true });
  assertNothingLeftBehind();
});
