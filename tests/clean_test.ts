/**
 * `deno task clean`: the kernel decides what is in use. Without names it lists and removes this
 * project's objects (named ipc-lesson-*) that no process holds, only this user's, and has a
 * --dry-run; with names (`clean /tmp/my.fifo /my-queue`) it removes exactly those, whatever
 * they are called, and refuses with one line each what is in use, another user's, or not a
 * FIFO. The pid in a name is only shown, never trusted.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as libc from "../transports/libc.ts";
import { pidInName } from "../lessons/clean.ts";
import { assertNothingLeftBehind, finishSide, ROOT, startSide, testDir, TMP } from "./_helpers.ts";

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs lessons/clean.ts with TMPDIR `tmp` (FIFOs and demo folders are looked for there). */
async function clean(args: string[], tmp = TMP): Promise<Outcome> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, "lessons/clean.ts"), ...args],
    env: { TMPDIR: tmp },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

/** Regular-expression text matching `text` literally. */
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The error lines of a run; asserts there is nothing else on stderr (no stack trace). */
function errorLines(run: Outcome): string[] {
  const lines = run.stderr.split("\n").filter(Boolean);
  for (const line of lines) assert.match(line, /^error: /, run.stderr);
  return lines;
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

function queueExists(name: string): boolean {
  try {
    libc.mq_close(libc.mq_open(name, libc.O.RDONLY));
    return true;
  } catch (error) {
    if (error instanceof libc.LibcError && error.code === "ENOENT") return false;
    throw error;
  }
}

/** Removes whatever of these is still there (the end of every test, pass or fail). */
function removeAll(objects: { fifos?: string[]; queues?: string[]; shm?: string[] }): void {
  const quietly = (remove: () => void) => {
    try {
      remove();
    } catch { /* already gone */ }
  };
  for (const path of objects.fifos ?? []) quietly(() => Deno.removeSync(path));
  for (const name of objects.queues ?? []) quietly(() => libc.mq_unlink(name));
  // Segments and semaphores alike are files in /dev/shm.
  for (const file of objects.shm ?? []) quietly(() => Deno.removeSync(join("/dev/shm", file)));
}

/**
 * A process that makes objects and holds them until it is killed, as a waiting server does:
 * `fifo=PATH` (mkfifo, then an O_PATH descriptor), `mq=/NAME` (an open descriptor),
 * `shm=/NAME` (mapped; the descriptor closed), `sem=/NAME` (sem_open maps it),
 * `cwd=DIR` (its working directory), `file=PATH` (a file it keeps open), `sock=PATH` (a Unix
 * socket listening there).
 */
const HOLDER = `
  import * as libc from "./transports/libc.ts";
  import { listen } from "./transports/socket.ts";
  const { O, PROT, MAP_SHARED } = libc;
  const kept = [];
  for (const arg of Deno.args) {
    const kind = arg.slice(0, arg.indexOf("="));
    const name = arg.slice(arg.indexOf("=") + 1);
    if (kind === "fifo") {
      libc.mkfifo(name, 0o600);
      libc.open(name, O.PATH | O.CLOEXEC);
    } else if (kind === "mq") {
      libc.mq_open(name, O.CREAT | O.EXCL | O.RDWR, 0o600, { maxmsg: 1, msgsize: 16 });
    } else if (kind === "shm") {
      const fd = libc.shm_open(name, O.CREAT | O.EXCL | O.RDWR, 0o600);
      libc.ftruncate(fd, 4096);
      kept.push(libc.mmap(4096, PROT.READ | PROT.WRITE, MAP_SHARED, fd));
      libc.close(fd);
    } else if (kind === "sem") {
      kept.push(libc.sem_open(name, O.CREAT | O.EXCL, 0o600, 0));
    } else if (kind === "cwd") {
      Deno.chdir(name);
    } else if (kind === "file") {
      kept.push(Deno.openSync(name, { write: true, createNew: true, mode: 0o600 }));
    } else if (kind === "sock") {
      kept.push(listen({ family: "unix", path: name }));
    }
  }
  console.log("ready");
  setInterval(() => kept.length, 60_000);`;

/** Starts a {@linkcode HOLDER} and waits until it holds everything. */
async function startHolder(args: string[]): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", HOLDER, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let said = "";
  while (!said.includes("ready")) {
    const { done, value } = await reader.read();
    if (done) {
      await killHolder(child);
      throw new Error(`the holder exited before it was ready: ${said}`);
    }
    said += value;
  }
  await reader.cancel();
  return child;
}

async function killHolder(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch { /* already gone */ }
  await child.status;
}

Deno.test("clean: the pid in a name is read whatever the method's name (unix-socket, sysv-mq)", () => {
  assert.equal(pidInName("ipc-lesson-fifo-4711-3f9a2c"), 4711);
  assert.equal(pidInName("ipc-lesson-unix-socket-4711-3f9a2c.fifo"), 4711);
  assert.equal(pidInName("ipc-lesson-sysv-mq-4711-3f9a2c"), 4711);
  assert.equal(pidInName("ipc-lesson-shm-4711-3f9a2c-free"), 4711);
  assert.equal(pidInName("ipc-lesson-mq-4711-test-alone-1a2b3c4d"), 4711);
  assert.equal(pidInName("ipc-lesson-ipv6-socket-4711-3f9a2c"), 4711);
  assert.equal(pidInName("ipc-lesson-shm-lab"), null);
  assert.equal(pidInName("ipc-lesson-shm-lab-free"), null);
  assert.equal(pidInName("my-queue-4711"), null);
});

Deno.test("clean: removes what killed runs left, and nothing in use or not ours", async () => {
  const tmp = testDir("clean-leftovers");
  // A pid that has just exited: the "killed run" that made the objects.
  const dead = new Deno.Command("true").spawn();
  await dead.status;
  const stale = `ipc-lesson-demo-${dead.pid}-0dead`;
  const fifo = join(tmp, `${stale}.fifo`);
  const notOurs = join(tmp, "not-ours.fifo");
  // Named after this (running) process, with a dash in the method, but nobody holds it: it is
  // left behind all the same; the name's pid is only shown.
  const named = join(tmp, `ipc-lesson-unix-socket-${Deno.pid}-a11fe.fifo`);
  // Held open (O_PATH) by a running process: in use.
  const live = join(tmp, `ipc-lesson-demo-${Deno.pid}-11fe.fifo`);
  const legacyFolder = join(tmp, "ipc-lesson-run-legacy");
  // A killed grader's work folder, inputs and all.
  const graderFolder = join(tmp, "ipc-lesson-grade-0dead0dead0dead0");
  libc.mkfifo(fifo, 0o600);
  libc.mkfifo(notOurs, 0o600);
  libc.mkfifo(named, 0o600);
  Deno.mkdirSync(join(legacyFolder, "inside"), { recursive: true });
  Deno.mkdirSync(join(graderFolder, "run-3"), { recursive: true });
  Deno.writeFileSync(join(graderFolder, "input-1048576.bin"), new Uint8Array(1024));
  libc.mq_close(
    libc.mq_open(`/${stale}`, libc.O.CREAT | libc.O.EXCL | libc.O.RDWR, 0o600, {
      maxmsg: 1,
      msgsize: 16,
    }),
  );
  libc.close(libc.shm_open(`/${stale}`, libc.O.CREAT | libc.O.EXCL | libc.O.RDWR, 0o600));
  libc.sem_close(libc.sem_open(`/${stale}-free`, libc.O.CREAT | libc.O.EXCL, 0o600, 0));
  const holder = await startHolder([`fifo=${live}`]);
  // A stale name, but a reader is blocked opening it (no descriptor yet): in use all the same.
  const awaited = join(tmp, `ipc-lesson-fifo-${dead.pid}-0a1.fifo`);
  libc.mkfifo(awaited, 0o600);
  const reader = new Deno.Command("cat", { args: [awaited], stdout: "null" }).spawn();
  const wchan = () => Deno.readTextFileSync(`/proc/${reader.pid}/wchan`);
  for (let waited = 0; wchan() !== "wait_for_partner"; waited += 20) {
    assert.ok(waited < 10_000, "cat never blocked opening the FIFO");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }

  try {
    const dry = await clean(["--dry-run"], tmp);
    assert.equal(dry.code, 0, dry.stdout + dry.stderr);
    for (const kind of ["FIFO", "message queue", "shared memory", "semaphore"]) {
      assert.match(dry.stdout, new RegExp(`^would remove +${kind} +.*${stale}`, "m"));
    }
    assert.match(
      dry.stdout,
      new RegExp(`^would remove +demo folder +${literal(legacyFolder)}$`, "m"),
    );
    assert.match(
      dry.stdout,
      new RegExp(
        `^would remove +FIFO +${
          literal(named)
        } +\\(nobody holds it, though process ${Deno.pid}, whose pid is in its name, runs\\)`,
        "m",
      ),
    );
    assert.match(
      dry.stdout,
      new RegExp(`^in use +FIFO +${literal(live)} +\\(held by process ${holder.pid}\\)$`, "m"),
    );
    assert.doesNotMatch(dry.stdout, /not-ours/);
    assert.equal(Deno.lstatSync(fifo).isFifo, true, "--dry-run removed nothing");
    assert.equal(Deno.lstatSync(legacyFolder).isDirectory, true, "--dry-run removed nothing");

    const real = await clean([], tmp);
    assert.equal(real.code, 0, real.stdout + real.stderr);
    for (const kind of ["FIFO", "message queue", "shared memory", "semaphore"]) {
      assert.match(real.stdout, new RegExp(`^removed +${kind} +.*${stale}`, "m"));
    }
    assert.match(real.stdout, new RegExp(`^removed +FIFO +${literal(named)}`, "m"));
    assert.match(real.stdout, new RegExp(`^removed +demo folder +${literal(legacyFolder)}`, "m"));
    assert.match(real.stdout, new RegExp(`^removed +grader folder +${literal(graderFolder)}`, "m"));
    assert.equal(exists(graderFolder), false);
    assert.match(real.stdout, new RegExp(`^in use +FIFO +${literal(live)}`, "m"));
    assert.match(
      real.stdout,
      new RegExp(`^in use +FIFO +${literal(awaited)} +\\(held by process ${reader.pid}\\)$`, "m"),
    );
    assert.equal(Deno.lstatSync(awaited).isFifo, true, "a FIFO being opened is left alone");
    assert.equal(exists(fifo), false);
    assert.equal(exists(named), false);
    assert.equal(exists(legacyFolder), false);
    assert.equal(queueExists(`/${stale}`), false);
    assert.equal(exists(`/dev/shm/${stale}`), false);
    assert.equal(exists(`/dev/shm/sem.${stale}-free`), false);
    // The held FIFO and a name that is not ours are untouched.
    assert.equal(Deno.lstatSync(live).isFifo, true);
    assert.equal(Deno.lstatSync(notOurs).isFifo, true);

    // Once the reader has given up, nobody is on it: stale.
    reader.kill("SIGKILL");
    await reader.status;
    const again = await clean([], tmp);
    assert.match(again.stdout, new RegExp(`^removed +FIFO +${literal(awaited)}`, "m"));
    assert.doesNotMatch(again.stdout.replace(/^removed +FIFO .*0a1\.fifo.*\n/m, ""), /^removed /m);
  } finally {
    try {
      reader.kill("SIGKILL");
    } catch { /* gone already */ }
    await reader.status;
    await killHolder(holder);
    removeAll({
      fifos: [fifo, notOurs, named, live, awaited],
      queues: [`/${stale}`],
      shm: [stale, `sem.${stale}-free`],
    });
    Deno.removeSync(tmp, { recursive: true });
  }
  assertNothingLeftBehind();
});

Deno.test("clean: what a live process holds open, O_PATH or mapped is in use until it dies", async () => {
  const tmp = testDir("clean-held");
  const pid = Deno.pid;
  // Names with the project's prefix (dashes in the method part), and names a student chose.
  const ours = {
    fifo: join(tmp, `ipc-lesson-unix-socket-${pid}-held.fifo`),
    queue: `/ipc-lesson-sysv-mq-${pid}-held`,
    segment: `/ipc-lesson-shm-${pid}-held`,
    semaphore: `/ipc-lesson-shm-${pid}-held-free`,
  };
  const students = {
    fifo: join(tmp, `my-${pid}.fifo`),
    queue: `/my-queue-${pid}`,
    segment: `/my-shm-${pid}`,
    semaphore: `/my-sem-${pid}`,
  };
  const runFolder = join(tmp, "ipc-lesson-run-held");
  const labFolder = join(tmp, "ipc-lesson-lab-held");
  Deno.mkdirSync(runFolder);
  Deno.mkdirSync(labFolder);
  const holderArgs = (names: typeof ours) => [
    `fifo=${names.fifo}`,
    `mq=${names.queue}`,
    `shm=${names.segment}`,
    `sem=${names.semaphore}`,
  ];
  const holder = await startHolder([
    ...holderArgs(ours),
    ...holderArgs(students),
    `cwd=${runFolder}`,
    `file=${join(labFolder, "input.bin")}`,
  ]);
  const all = [ours, students];
  const namesOf = (names: typeof ours) => [
    names.fifo,
    names.queue,
    names.segment,
    names.semaphore,
  ];
  const listed = [
    ["FIFO", ours.fifo],
    ["message queue", `/dev/mqueue${ours.queue}`],
    ["shared memory", `/dev/shm${ours.segment}`],
    ["semaphore", `/dev/shm/sem.${ours.semaphore.slice(1)}`],
    ["demo folder", runFolder],
    ["demo folder", labFolder],
  ];
  const stillThere = () => {
    for (const names of all) {
      assert.equal(Deno.lstatSync(names.fifo).isFifo, true);
      assert.equal(queueExists(names.queue), true);
      assert.equal(exists(`/dev/shm${names.segment}`), true);
      assert.equal(exists(`/dev/shm/sem.${names.semaphore.slice(1)}`), true);
    }
    assert.equal(exists(runFolder) && exists(labFolder), true);
  };

  try {
    // 1. While the holder runs: in use, whether listed or named.
    for (const args of [["--dry-run"], []]) {
      const run = await clean(args, tmp);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      for (const [kind, path] of listed) {
        assert.match(
          run.stdout,
          new RegExp(
            `^in use +${kind} +${literal(path!)} +\\(held by process ${holder.pid}\\)$`,
            "m",
          ),
        );
        assert.doesNotMatch(
          run.stdout,
          new RegExp(`^(would remove|removed) .*${literal(path!)}`, "m"),
        );
      }
      assert.doesNotMatch(run.stdout, /my-/, "a student's names are not this project's");
      stillThere();
    }
    for (const args of [["--dry-run"], []]) {
      const run = await clean([...args, ...namesOf(ours), ...namesOf(students)], tmp);
      assert.equal(run.code, 1, run.stdout + run.stderr);
      const errors = errorLines(run);
      assert.equal(errors.length, 8, run.stderr);
      for (const names of all) {
        for (
          const [noun, name] of [
            ["FIFO", names.fifo],
            ["message queue", names.queue],
            ["shared-memory segment", names.segment],
            ["semaphore", names.semaphore],
          ]
        ) {
          assert.ok(
            errors.includes(
              `error: the ${noun} ${name} is in use, held by process ${holder.pid}: left alone`,
            ),
            `${noun} ${name}:\n${run.stderr}`,
          );
        }
      }
      assert.doesNotMatch(run.stdout, /would remove|removed/);
      stillThere();
    }

    // 2. The holder is killed: nobody holds them any more, and the pid in our names (this
    //    process's, still running) does not keep them.
    await killHolder(holder);
    const dry = await clean(["--dry-run"], tmp);
    assert.equal(dry.code, 0);
    for (const [kind, path] of listed) {
      assert.match(dry.stdout, new RegExp(`^would remove +${kind} +${literal(path!)}`, "m"));
    }
    const dryNamed = await clean(["--dry-run", ...namesOf(students)], tmp);
    assert.equal(dryNamed.code, 0, dryNamed.stderr);
    assert.equal((dryNamed.stdout.match(/^would remove /gm) ?? []).length, 4, dryNamed.stdout);
    stillThere();

    const named = await clean(namesOf(students), tmp);
    assert.equal(named.code, 0, named.stderr);
    assert.equal(named.stderr, "");
    assert.match(named.stdout, new RegExp(`^removed +FIFO +${literal(students.fifo)}$`, "m"));
    assert.match(
      named.stdout,
      new RegExp(`^removed +message queue +/dev/mqueue${students.queue}$`, "m"),
    );
    assert.match(
      named.stdout,
      new RegExp(`^removed +shared memory +/dev/shm${students.segment}$`, "m"),
    );
    assert.match(
      named.stdout,
      new RegExp(`^removed +semaphore +/dev/shm/sem\\.${students.semaphore.slice(1)}$`, "m"),
    );
    const listing = await clean([], tmp);
    assert.equal(listing.code, 0);
    for (const [kind, path] of listed) {
      assert.match(listing.stdout, new RegExp(`^removed +${kind} +${literal(path!)}`, "m"));
    }
    for (const names of all) {
      assert.equal(exists(names.fifo), false);
      assert.equal(queueExists(names.queue), false);
      assert.equal(exists(`/dev/shm${names.segment}`), false);
      assert.equal(exists(`/dev/shm/sem.${names.semaphore.slice(1)}`), false);
    }
    assert.equal(exists(runFolder) || exists(labFolder), false);
  } finally {
    await killHolder(holder);
    for (const names of all) {
      removeAll({
        fifos: [names.fifo],
        queues: [names.queue],
        shm: [names.segment.slice(1), `sem.${names.semaphore.slice(1)}`],
      });
    }
    Deno.removeSync(tmp, { recursive: true });
  }
  assertNothingLeftBehind();
});

/** Every kind of object clean removes, in the registry's order of transports, as it names them. */
const KINDS = "FIFOs, message queues, System V message queues, ftok key files, shared memory, " +
  "semaphores, System V shared memory, System V semaphore sets, socket files, network " +
  "namespaces, demo folders and graders' work folders";
const KIND_NAMES = "FIFO, message queue, System V message queue, ftok key file, " +
  "shared-memory segment, semaphore, System V shared-memory segment, System V semaphore set, " +
  "socket file, network namespace, demo folder or grader's work folder";

Deno.test("clean NAME: refuses, one line each, what is not a FIFO or not there", async () => {
  const dir = testDir("clean-refuses");
  const regular = join(dir, "notes.txt");
  Deno.writeTextFileSync(regular, "my notes\n");
  const fifo = join(dir, "real.fifo");
  libc.mkfifo(fifo, 0o600);
  const link = join(dir, "link.fifo");
  Deno.symlinkSync(fifo, link);
  const missing = `/ipc-lesson-nothing-${Deno.pid}`;
  try {
    for (const args of [["--dry-run"], []]) {
      const run = await clean([...args, regular, link, dir, missing]);
      assert.equal(run.code, 1);
      assert.deepEqual(errorLines(run), [
        `error: ${regular} is a regular file, not a FIFO or socket file: left alone (deno task clean removes only ${KINDS})`,
        `error: ${link} is a symbolic link, not a FIFO or socket file: left alone (deno task clean removes only ${KINDS})`,
        `error: ${dir} is a directory, not a FIFO or socket file: left alone (deno task clean removes only ${KINDS})`,
        `error: no ${KIND_NAMES} is named "${missing}"`,
      ]);
      assert.equal(run.stdout, "");
      assert.equal(Deno.readTextFileSync(regular), "my notes\n");
      assert.equal(Deno.lstatSync(link).isSymlink, true);
      assert.equal(Deno.lstatSync(fifo).isFifo, true);
    }
    const usage = await clean(["--bogus"]);
    assert.equal(usage.code, 2);
    assert.deepEqual(errorLines(usage), [
      "error: unknown option '--bogus' (usage: deno task clean [--dry-run] [NAME...])",
    ]);
    const empty = await clean([""]);
    assert.equal(empty.code, 2);
    assert.deepEqual(errorLines(empty), [
      "error: an empty NAME names nothing (usage: deno task clean [--dry-run] [NAME...])",
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

// Found by review: --dry-run listed a killed run's key file as "would remove", while naming
// it said "is a regular file, not a FIFO or socket file" and failed.
Deno.test("clean NAME: a run's key file is removed by the listing's rule, and no other file", async () => {
  const tmp = testDir("clean-key-file");
  const keyFile = join(tmp, `ipc-lesson-sysv-mq-${Deno.pid}-0k3y.key`);
  const heldFile = join(tmp, `ipc-lesson-sysv-mq-${Deno.pid}-he1d.key`);
  const elsewhere = join(tmp, "sub", `ipc-lesson-sysv-mq-${Deno.pid}-e1se.key`);
  // Found by review too: a file of the user's own, with data, that only has such a name.
  const precious = join(tmp, `ipc-lesson-sysv-mq-${Deno.pid}-m1ne.key`);
  Deno.writeTextFileSync(precious, "precious\n", { mode: 0o644 });
  Deno.writeFileSync(keyFile, new Uint8Array(0), { mode: 0o600 });
  Deno.mkdirSync(join(tmp, "sub"));
  Deno.writeFileSync(elsewhere, new Uint8Array(0), { mode: 0o600 });
  // The queue of its key, as a killed server leaves it: the file is all that says it is ours.
  const msqid = libc.msgget(libc.ftok(keyFile, 76), libc.IPC.CREAT | libc.IPC.EXCL | 0o600);
  const key = `0x${(libc.ftok(keyFile, 76) >>> 0).toString(16).padStart(8, "0")}`;
  const holder = await startHolder([`file=${heldFile}`]); // a server keeps its key file open
  try {
    const whileQueue = await clean([keyFile], tmp);
    assert.equal(whileQueue.code, 1);
    assert.deepEqual(errorLines(whileQueue), [
      `error: the ftok key file ${keyFile} is the key of the System V message queue msqid ` +
      `${msqid} (key ${key}), which still exists: left alone, since only the file says the ` +
      `queue is a lesson's (\`deno task clean\` removes both once nobody uses them; ` +
      `\`deno task clean ${key}\` removes the queue)`,
    ]);
    assert.equal(exists(keyFile), true);
    // Named together with its queue's key, in either order: the queue goes, then its key file.
    // (A queue a process that has exited sent to: stale, as a killed server leaves it.)
    const sender = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--ext=ts",
        `import * as libc from "./transports/libc.ts";
        const m = new libc.MessageBuffer(3); m.mtype = 1;
        libc.msgsnd(${msqid}, m, 3, libc.IPC.NOWAIT);`,
      ],
      cwd: ROOT,
    }).outputSync();
    assert.ok(sender.success);
    const both = await clean([keyFile, key], tmp);
    assert.equal(both.code, 0, both.stderr);
    assert.match(
      both.stdout,
      new RegExp(`^removed .*msqid ${msqid}[\\s\\S]*^removed .*${literal(keyFile)}`, "m"),
    );
    assert.equal(exists(keyFile), false);
    Deno.writeFileSync(keyFile, new Uint8Array(0), { mode: 0o600 }); // as it was, for what follows

    const others = await clean([heldFile, elsewhere, precious], tmp);
    assert.equal(others.code, 1);
    assert.deepEqual(errorLines(others), [
      `error: the ftok key file ${heldFile} is in use, held by process ${holder.pid}: left alone`,
      `error: ${elsewhere} is named like a run's ftok key file, but runs make theirs in the ` +
      `temporary folder ${tmp}: left alone`,
      `error: ${precious} is named like a run's ftok key file, but holds data or is open to ` +
      "others (a run's is empty, and only its owner's): left alone",
    ]);

    // The listing and the name agree: what --dry-run would remove, the name removes.
    const listed = await clean(["--dry-run"], tmp);
    // (Its name carries this test's pid, which runs: a note says so.)
    const line = (verb: string) =>
      new RegExp(`^${verb} +key file +${literal(keyFile)}  \\(nobody holds it, though .*\\)$`, "m");
    assert.match(listed.stdout, line("would remove"));
    assert.doesNotMatch(listed.stdout, new RegExp(literal(precious)));
    const dry = await clean(["--dry-run", keyFile], tmp);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, line("would remove"));
    assert.equal(exists(keyFile), true);
    const named = await clean([keyFile], tmp);
    assert.equal(named.code, 0, named.stderr);
    assert.match(named.stdout, line("removed"));
    assert.equal(exists(keyFile), false);
    assert.equal(exists(heldFile), true);
    assert.equal(exists(elsewhere), true);
    const plain = await clean([], tmp);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(Deno.readTextFileSync(precious), "precious\n");
  } finally {
    await killHolder(holder);
    try {
      libc.msgctl(msqid, libc.IPC.RMID);
    } catch { /* removed above */ }
    Deno.removeSync(tmp, { recursive: true });
  }
  assertNothingLeftBehind();
});

// Found by review: /proc/net/unix has one socket a line, so a path with a line break was never
// matched, and a listening socket there was removed as stale.
Deno.test("clean: a socket file whose path has a line break is never called stale", async () => {
  const tmp = testDir("clean-socket-newline");
  const named = join(tmp, "nl\nx.sock");
  const listed = join(tmp, `ipc-lesson-unix-${Deno.pid}-a\nb.sock`);
  const holder = await startHolder([`sock=${named}`, `sock=${listed}`]);
  try {
    const why = "its path has a line break, so /proc/net/unix (one socket a line) cannot tell " +
      "whether a server listens on it: left alone (if you know nothing does, remove it yourself)";
    for (const args of [["--dry-run"], []]) {
      const run = await clean([...args, named], tmp);
      assert.equal(run.code, 1);
      assert.deepEqual(errorLines(run), [
        `error: the socket file ${JSON.stringify(named)}: ${why}`,
      ]);
      assert.equal(run.stdout, "");
      const all = await clean(args, tmp);
      assert.equal(all.code, 0, all.stderr);
      assert.ok(
        all.stdout.includes(`note: the socket file ${JSON.stringify(listed)}: ${why}\n`),
        all.stdout,
      );
      assert.doesNotMatch(all.stdout, /^(would remove|removed) +socket/m);
    }
    assert.equal(Deno.lstatSync(named).isSocket, true);
    assert.equal(Deno.lstatSync(listed).isSocket, true);
  } finally {
    await killHolder(holder);
    Deno.removeSync(tmp, { recursive: true });
  }
  assertNothingLeftBehind();
});

Deno.test({
  name: "clean: another user's objects are never touched, even by root",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    const tmp = testDir("clean-foreign");
    const nobody = 65534;
    const name = `ipc-lesson-demo-${Deno.pid}-f0e1`;
    const fifo = join(tmp, `${name}.fifo`);
    libc.mkfifo(fifo, 0o600);
    Deno.chownSync(fifo, nobody, nobody);
    libc.close(libc.shm_open(`/${name}`, libc.O.CREAT | libc.O.EXCL | libc.O.RDWR, 0o600));
    Deno.chownSync(`/dev/shm/${name}`, nobody, nobody);
    try {
      const listing = await clean([], tmp);
      assert.equal(listing.code, 0);
      assert.doesNotMatch(listing.stdout, new RegExp(name));
      const named = await clean([fifo, `/${name}`], tmp);
      assert.equal(named.code, 1);
      assert.deepEqual(errorLines(named), [
        `error: the FIFO ${fifo} belongs to another user (uid ${nobody}): left alone`,
        `error: the shared-memory segment /${name} belongs to another user (uid ${nobody}): left alone`,
      ]);
      assert.equal(Deno.lstatSync(fifo).isFifo, true);
      assert.equal(exists(`/dev/shm/${name}`), true);
    } finally {
      removeAll({ fifos: [fifo], shm: [name] });
      Deno.removeSync(tmp, { recursive: true });
    }
    assertNothingLeftBehind();
  },
});

Deno.test("deno task clean NAME: a name of several kinds removes each; paths start where you are", async () => {
  const dir = testDir("clean-task");
  const name = `/my-ring-${Deno.pid}`;
  libc.mq_close(
    libc.mq_open(name, libc.O.CREAT | libc.O.EXCL | libc.O.RDWR, 0o600, { maxmsg: 1, msgsize: 8 }),
  );
  libc.close(libc.shm_open(name, libc.O.CREAT | libc.O.EXCL | libc.O.RDWR, 0o600));
  libc.sem_close(libc.sem_open(name, libc.O.CREAT | libc.O.EXCL, 0o600, 0));
  libc.mkfifo(join(dir, "my.fifo"), 0o600);
  try {
    // Exactly what a lesson's message says to type, started in the student's folder: deno task
    // runs clean in the project's folder, and the relative path still means the student's.
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "--config", join(ROOT, "deno.json"), "clean", "my.fifo", name],
      cwd: dir,
      // As typed in a shell: no INIT_CWD yet (deno task keeps one it inherits, and this suite
      // itself may run under deno task).
      clearEnv: true,
      env: { NO_COLOR: "1", PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stdout + stderr);
    assert.deepEqual(stdout.trim().split("\n").sort(), [
      `removed       FIFO           ${join(dir, "my.fifo")}`,
      `removed       message queue  /dev/mqueue${name}`,
      `removed       semaphore      /dev/shm/sem.${name.slice(1)}`,
      `removed       shared memory  /dev/shm${name}`,
    ]);
    assert.equal(exists(join(dir, "my.fifo")), false);
    assert.equal(queueExists(name), false);
    assert.equal(exists(`/dev/shm${name}`), false);
    assert.equal(exists(`/dev/shm/sem.${name.slice(1)}`), false);
  } finally {
    removeAll({ queues: [name], shm: [name.slice(1), `sem.${name.slice(1)}`] });
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("clean: servers started by hand, waiting for their clients, are in use", async () => {
  const dir = testDir("clean-by-hand");
  const input = join(ROOT, "lessons/sample.txt");
  const fifo = join(dir, "ipc-lesson-fifo-lab.fifo");
  const queue = `/ipc-lesson-mq-lab-${Deno.pid}`;
  const segment = `/ipc-lesson-shm-lab-${Deno.pid}`;
  const ring = [segment, `${segment}-free`, `${segment}-filled`];
  const common = ["--input", input, "--timeout", "60"];
  const servers = [
    await startSide("fifo", "server", ["--path", fifo, ...common], "waiting for a reader"),
    await startSide("mq", "server", ["--name", queue, ...common], "waiting until the client"),
    await startSide("shm", "server", ["--name", segment, ...common], "waiting for a client"),
  ];
  const [fifoServer, mqServer, shmServer] = servers.map((side) => side.child.pid);
  try {
    const dry = await clean(["--dry-run"], dir);
    for (
      const [kind, path, pid] of [
        ["FIFO", fifo, fifoServer],
        ["message queue", `/dev/mqueue${queue}`, mqServer],
        ["shared memory", `/dev/shm${segment}`, shmServer],
        ["semaphore", `/dev/shm/sem.${segment.slice(1)}-free`, shmServer],
        ["semaphore", `/dev/shm/sem.${segment.slice(1)}-filled`, shmServer],
      ]
    ) {
      assert.match(
        dry.stdout,
        new RegExp(
          `^in use +${kind} +${literal(String(path))} +\\(held by process ${pid}\\)$`,
          "m",
        ),
      );
    }
    const named = await clean([fifo, queue, ...ring], dir);
    assert.equal(named.code, 1);
    assert.equal(errorLines(named).length, 5, named.stderr);
    assert.match(
      named.stderr,
      new RegExp(`the FIFO ${literal(fifo)} is in use, held by process ${fifoServer}`),
    );
    assert.match(
      named.stderr,
      new RegExp(`the message queue ${queue} is in use, held by process ${mqServer}`),
    );
    assert.match(
      named.stderr,
      new RegExp(`the shared-memory segment ${segment} is in use, held by process ${shmServer}`),
    );

    // Killed with SIGKILL, they leave their names, and nobody holds them: clean NAME removes them.
    for (const side of servers) {
      side.child.kill("SIGKILL");
      await finishSide(side);
    }
    const removed = await clean([fifo, queue, ...ring], dir);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal((removed.stdout.match(/^removed /gm) ?? []).length, 5, removed.stdout);
    assert.equal(exists(fifo), false);
    assert.equal(queueExists(queue), false);
    for (const name of ring.slice(1)) assert.equal(exists(`/dev/shm/sem.${name.slice(1)}`), false);
    assert.equal(exists(`/dev/shm${segment}`), false);
  } finally {
    for (const side of servers) {
      try {
        side.child.kill("SIGKILL");
      } catch { /* gone */ }
      await side.child.status;
    }
    removeAll({
      fifos: [fifo],
      queues: [queue],
      shm: [segment.slice(1), ...ring.slice(1).map((name) => `sem.${name.slice(1)}`)],
    });
    Deno.removeSync(dir, { recursive: true });
  }
  assertNothingLeftBehind();
});

// Found by review: a grader killed with SIGKILL leaves its work folder (tens of MiB); the listing
// removed it, but naming it said "is a directory … left alone".
Deno.test("clean NAME: a killed grader's work folder in TMPDIR is removed by name, unless in use", async () => {
  const tmp = testDir("clean-grader-folder");
  const folder = join(tmp, `ipc-lesson-grade-${Deno.pid}feed`);
  Deno.mkdirSync(join(folder, "run"), { recursive: true });
  Deno.writeFileSync(join(folder, "run", "input.bin"), new Uint8Array(65536));
  const notInTmp = join(tmp, "elsewhere", `ipc-lesson-grade-${Deno.pid}beef`);
  Deno.mkdirSync(notInTmp, { recursive: true });
  try {
    const dry = await clean(["--dry-run", folder], tmp);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`^would remove +grader folder +${literal(folder)}$`, "m"));
    // A process working in it holds it.
    const holder = new Deno.Command("sleep", { args: ["30"], cwd: folder }).spawn();
    try {
      const held = await clean([folder], tmp);
      assert.equal(held.code, 1);
      assert.match(
        errorLines(held)[0]!,
        /work folder .* is in use, held by process \d+: left alone$/,
      );
      assert.ok(exists(folder));
    } finally {
      holder.kill();
      await holder.status;
    }
    const run = await clean([folder], tmp);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`^removed +grader folder +${literal(folder)}$`, "m"));
    assert.equal(exists(folder), false);
    // Only where runs make theirs: the same name elsewhere is a directory like any other.
    const other = await clean([notInTmp], tmp);
    assert.equal(other.code, 1);
    assert.match(errorLines(other)[0]!, /is a directory, not a FIFO or socket file: left alone/);
    assert.ok(exists(notInTmp));
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
});
