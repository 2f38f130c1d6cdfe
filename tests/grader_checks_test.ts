/**
 * The grader's checks against hand-ins that once fooled them, or the grader itself (an outside
 * review): each is a small hostile program, written by the test into a temporary folder,
 * graded on the one check it attacks (as `--only` does), and must lose it with a reason that
 * says what happened, or be graded without harm to the grader, the project or the machine.
 *
 *     deno test -A tests/grader_checks_test.ts
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { serverProblem } from "../assignments/_checks.ts";
import {
  type Assignment,
  ASSIGNMENTS_DIR,
  firstDifference,
  type Grade,
  grade,
  type Grading,
  ROOT,
  type Run,
} from "../assignments/_grader.ts";
import { ASSIGNMENTS } from "../assignments/registry.ts";
import { isRunning } from "../transports/holders.ts";
import { startGrader } from "./_helpers.ts";

const fifo = ASSIGNMENTS.find((assignment) => assignment.name === "fifo-client")!;
const shm = ASSIGNMENTS.find((assignment) => assignment.name === "shm-consumer")!;
const sysvMq = ASSIGNMENTS.find((assignment) => assignment.name === "sysv-mq-client")!;

/** mod.ts by its absolute address: a hand-in in a temporary folder imports it so. */
const MOD = pathToFileURL(join(ROOT, "mod.ts")).href;

/** The reference FIFO client, importing mod.ts from anywhere, with `before` run first. */
function fifoClient(before = ""): string {
  const solution = Deno.readTextFileSync(join(ASSIGNMENTS_DIR, fifo.name, fifo.solution))
    .replace('"../../../mod.ts"', JSON.stringify(MOD));
  // (A function, not a string: a replacement string would read `$$` as `$`.)
  return solution.replace("await runProgram(", () => `${before}\nawait runProgram(`);
}

/** Writes `source` as a hand-in in a temporary folder, grades its `checks`, then removes it. */
async function graded(assignment: Assignment, source: string, checks: string[]): Promise<Grade> {
  const dir = Deno.makeTempDirSync({ prefix: "ipc-lesson-hostile-" });
  try {
    const path = join(dir, "hand-in.ts");
    Deno.writeTextFileSync(path, source);
    return await grade(assignment, path, { only: checks });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** The reason the one check graded was lost for (it must have been). */
function lost(result: Grade): string {
  assert.equal(result.checks.length, 1);
  const [check] = result.checks;
  assert.equal(check!.passed, false, `${check!.id} passed (${check!.details.join(", ")})`);
  return check!.why!;
}

/** Whether process `pid` is still in the process table (running, or a zombie not collected). */
function inProcessTable(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

Deno.test("a client's copy counts only if it came through the channel (the server finished)", async () => {
  // Never opens the FIFO: finds the server's --input in /proc and copies the file itself.
  const cheat = `import { OutputFile, runProgram } from ${JSON.stringify(MOD)};
function serverInput(path: string): string | null {
  for (const entry of Deno.readDirSync("/proc")) {
    try {
      const argv = Deno.readTextFileSync(\`/proc/\${entry.name}/cmdline\`).split("\\0");
      if (argv.includes(\`--path=\${path}\`)) {
        return argv.find((arg) => arg.startsWith("--input="))?.slice(8) ?? null;
      }
    } catch { /* not a process, or gone */ }
  }
  return null;
}
await runProgram(async ({ args }) => {
  using output = new OutputFile(args.output);
  let input = serverInput(args.path);
  for (let i = 0; input === null && i < 100; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    input = serverInput(args.path);
  }
  output.write(Deno.readFileSync(input!));
  output.commit();
}, { options: ["path", "output"] });
`;
  const result = await graded(fifo, cheat, ["order", "memory"]);
  const [order, memory] = result.checks;
  assert.equal(result.total, 0);
  assert.match(
    order!.why!,
    /^the server started first: with the sample text: your client exited 0 with a whole copy, but the server did not finish: it was still running when the grader stopped it .*: a copy counts only when it came through the channel$/,
  );
  assert.match(
    memory!.why!,
    /^this check needs a transfer that works: with 1\.00 MiB .*: the server did not finish: it was still running when the grader stopped it/,
  );
});

Deno.test("the server's part, judged: unfinished or failed first is no transfer; failed after is protocol's", () => {
  const grading = { assignment: fifo } as unknown as Grading;
  const side = (
    exit: Partial<{ code: number; signal: string; at: number; byGrader: boolean }>,
  ) => ({
    status: exit.code === undefined && exit.signal === undefined
      ? null
      : { success: exit.code === 0, code: exit.code ?? 137, signal: exit.signal ?? null },
    exitedAt: exit.at ?? null,
    killedByGrader: exit.byGrader ?? false,
    describeExit: () => exit.byGrader ? "was still running when the grader stopped it" : "exited",
    said: () => "nothing on stderr",
  });
  const run = (
    peer: ReturnType<typeof side>,
  ) => ({ student: side({ code: 0, at: 100 }), peer } as unknown as Run);
  assert.equal(serverProblem(grading, run(side({ code: 0, at: 90 }))), null);
  assert.match(
    serverProblem(grading, run(side({ code: 137, signal: "SIGKILL", at: 200, byGrader: true })))!,
    /^the server did not finish: it was still running when the grader stopped it/,
  );
  assert.match(
    serverProblem(grading, run(side({ code: 1, at: 50 })))!,
    /^the server failed before your client had finished/,
  );
  // The client left too soon (a slot never handed back): the protocol check says so, not this.
  assert.equal(serverProblem(grading, run(side({ code: 1, at: 400 }))), null);
  // A student's server: its clients are judged by transferProblem's own rule.
  const server = { assignment: { ...fifo, role: "server" } } as unknown as Grading;
  assert.equal(serverProblem(server, run(side({ code: 1, at: 50 }))), null);
});

Deno.test("a hand-in that removes the grader's work folder gets its grade; the grader goes on", async () => {
  // An over-eager cleanup: removes the folder two above its --output (the grader's work folder).
  const remover = `const output = Deno.args[Deno.args.indexOf("--output") + 1]!;
Deno.removeSync(output.split("/").slice(0, -2).join("/"), { recursive: true });
console.error("error: cleaned up");
Deno.exit(1);
`;
  const result = await graded(fifo, remover, ["order", "ctrl-c"]);
  const [order, ctrlC] = result.checks;
  assert.match(order!.why!, /your client failed: it exited with status 1 .*error: cleaned up/);
  // The next check still runs, and says what the program did.
  assert.match(ctrlC!.why!, /your client had already exited with status 1 before Ctrl-C/);
});

Deno.test("a child started in a session of its own (setsid) does not outlive the run", async () => {
  // Two ways out of the process group: a detached child, and a detached grandchild whose
  // parent (a plain child, in the group) is ended with the group.
  const dir = Deno.makeTempDirSync({ prefix: "ipc-lesson-escape-" });
  const pids = join(dir, "pids");
  try {
    const escaper = fifoClient(`
new Deno.Command("sh", {
  args: ["-c", ${JSON.stringify(`echo $$ >> ${pids}; exec sleep 3007`)}],
  detached: true,
  stdout: "null",
  stderr: "null",
}).spawn().unref();
new Deno.Command("sh", {
  args: ["-c", ${
      JSON.stringify(`setsid sh -c 'echo $$ >> ${pids}; exec sleep 3007' & sleep 3007`)
    }],
  stdout: "null",
  stderr: "null",
}).spawn().unref();
`);
    const result = await graded(fifo, escaper, ["order"]);
    assert.equal(result.total, 10, result.checks[0]!.why ?? "");
    const started = Deno.readTextFileSync(pids).trim().split("\n").map(Number);
    // Two runs (both start orders), two escapes each.
    assert.equal(started.length, 4, started.join(" "));
    // Ended, and collected: not even a zombie is left.
    assert.deepEqual(started.filter(inProcessTable), []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("Ctrl-C on the grader: a child in a session of its own goes too", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "ipc-lesson-escape-" });
  const pids = join(dir, "pids");
  try {
    // Copies, then never exits: the grader is interrupted while it runs.
    const path = join(dir, "hand-in.ts");
    Deno.writeTextFileSync(
      path,
      fifoClient(`new Deno.Command("sh", {
  args: ["-c", ${JSON.stringify(`echo $$ >> ${pids}; exec sleep 3008`)}],
  detached: true,
  stdout: "null",
  stderr: "null",
}).spawn().unref();`).replace(
        "  output.commit();",
        "  output.commit();\n  await new Promise(() => setInterval(() => {}, 1000));",
      ),
    );
    const grader = startGrader([fifo.name, "--submission", path, "--only", "nothing-left"]);
    let escaped: number[] = [];
    for (let i = 0; i < 150 && escaped.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      try {
        escaped = Deno.readTextFileSync(pids).trim().split("\n").map(Number);
      } catch { /* not yet */ }
    }
    assert.equal(escaped.length, 1, "the hand-in never started its child");
    grader.kill("SIGINT");
    const { code, stderr } = await grader.output();
    assert.equal(code, 130, new TextDecoder().decode(stderr));
    // (Collected too, unless SIGKILL took longer to land than the grader waits on its way out.)
    assert.deepEqual(escaped.filter(isRunning), []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a flood on stderr: the reason quotes its end, where the real error is", async () => {
  const flood = `const line = new TextEncoder().encode("x".repeat(1023) + "\\n");
for (let i = 0; i < 4000; i++) Deno.stderr.writeSync(line);
console.error("error: THE REAL REASON IS ON THIS LAST LINE");
Deno.exit(1);
`;
  const result = await graded(fifo, flood, ["order"]);
  assert.match(lost(result), /stderr: "error: THE REAL REASON IS ON THIS LAST LINE"\)$/);
});

Deno.test("the program runs in its run's folder: a stray file by a relative path is seen there", async () => {
  const name = `debug-${Deno.pid}.log`;
  const stray = fifoClient(`Deno.writeTextFileSync(${JSON.stringify(name)}, "debug\\n");`);
  const result = await graded(fifo, stray, ["nothing-left"]);
  assert.equal(lost(result), `after a transfer, ${name} was left beside the output`);
  // And never in the instructor's tree.
  assert.throws(() => Deno.statSync(join(ROOT, name)), Deno.errors.NotFound);
});

/** The reference solution of `assignment`, importing mod.ts from anywhere. */
function solution(assignment: Assignment): string {
  return Deno.readTextFileSync(join(ASSIGNMENTS_DIR, assignment.name, assignment.solution))
    .replace('"../../../mod.ts"', JSON.stringify(MOD));
}

/** The lines of `/proc/sysvipc/KIND` after its header. */
function sysvipcRows(kind: "msg" | "shm" | "sem"): string[][] {
  return Deno.readTextFileSync(`/proc/sysvipc/${kind}`).trim().split("\n").slice(1)
    .map((line) => line.trim().split(/\s+/));
}

Deno.test("nothing-left: a semaphore made beside the ring (its name from the run's) is left, and removed", async () => {
  // An honest mistake (an outside review): a semaphore of its own, created and forgotten.
  const used = "  using free = Semaphore.open(names.free, waits);";
  const source = solution(shm);
  assert.ok(source.includes(used));
  const forgetful = source.replace(
    used,
    () => `  const mine = Semaphore.create(names.free + "-mine", 0);\n  void mine;\n${used}`,
  );
  const mineHere = () =>
    [...Deno.readDirSync("/dev/shm")].map((entry) => entry.name)
      .filter((name) => name.startsWith(`sem.ipc-lesson-grade-${Deno.pid}-`));
  const result = await graded(shm, forgetful, ["nothing-left"]);
  assert.match(
    lost(result),
    /^after a transfer, the semaphore \/(ipc-lesson-grade-\d+-[0-9a-f]{8}-free-mine) \(\/dev\/shm\/sem\.\1\) was left behind$/,
  );
  // The grader removed it, as it removes the ring's own.
  assert.deepEqual(mineHere(), []);
});

Deno.test("nothing-left: System V objects the program made and used, under keys of their own, are left, and removed", async () => {
  // An outside review: a queue under another key, never removed. The kernel records who last
  // sent (a queue), who created (a segment), who last set a semaphore (a set): the run's.
  const key = "0x6d000000 + Math.floor(Math.random() * 0xffffff)"; // (IPC_EXCL: a fresh one)
  const leaky =
    `import { IPC as LEAK_IPC, SemaphoreSet as LeakSet, SysVSegment as LeakSegment, SysvQueue as LeakQueue } from ${
      JSON.stringify(MOD)
    };
const leakedQueue = LeakQueue.create(LEAK_IPC.PRIVATE);
await leakedQueue.send(new Uint8Array(1));
const leakedSegment = LeakSegment.create(${key}, 4096);
const leakedSet = LeakSet.create(${key}, [1]);
void leakedSegment, leakedSet;
${solution(sysvMq)}`;
  const result = await graded(sysvMq, leaky, ["nothing-left"]);
  const why = lost(result);
  const queue = why.match(/the System V message queue with key IPC_PRIVATE \(msqid (\d+)\)/);
  const segment = why.match(
    /the System V shared-memory segment with key 0x6d\w{6} \(shmid (\d+)\)/,
  );
  const set = why.match(/the System V semaphore set with key 0x6d\w{6} \(semid (\d+)\)/);
  assert.ok(queue && segment && set, why);
  assert.match(why, /^after a transfer, the System V .* was left behind$/);
  // The grader removed them.
  assert.ok(!sysvipcRows("msg").some((row) => row[1] === queue[1]), `msqid ${queue[1]} is left`);
  assert.ok(
    !sysvipcRows("shm").some((row) => row[1] === segment[1]),
    `shmid ${segment[1]} is left`,
  );
  assert.ok(!sysvipcRows("sem").some((row) => row[1] === set[1]), `semid ${set[1]} is left`);
});

Deno.test("nothing-left: a System V queue made by another process meanwhile is not the run's", async () => {
  // CI runs tests in parallel: a queue, segment or set another process creates (and uses)
  // during the run is that process's, never the hand-in's.
  const { IPC, SemaphoreSet, SysVSegment, SysvQueue } = await import(MOD);
  const key = () => 0x6e000000 + Math.floor(Math.random() * 0xffffff);
  const others: Disposable[] = [];
  const timer = setInterval(() => {
    if (others.length >= 12) return;
    const queue = SysvQueue.create(IPC.PRIVATE);
    void queue.send(new Uint8Array(1));
    others.push(queue, SysVSegment.create(key(), 4096), SemaphoreSet.create(key(), [1]));
  }, 300);
  try {
    const result = await graded(sysvMq, solution(sysvMq), ["nothing-left"]);
    assert.equal(result.checks[0]!.passed, true, result.checks[0]!.why ?? "");
  } finally {
    clearInterval(timer);
    for (const other of others) other[Symbol.dispose]();
  }
});

Deno.test("a program that does nothing is not blamed for what the server left", async () => {
  const result = await graded(fifo, "Deno.exit(0);\n", ["nothing-left"]);
  const why = lost(result);
  assert.match(
    why,
    /^this check needs a transfer that works: with the sample text: no output file appeared/,
  );
  assert.doesNotMatch(why, /left behind/);
});

Deno.test("protocol: a client that exited (removing its FIFO) is said to have exited", async () => {
  // The starter makes its FIFO, throws at its TODO, and removes the FIFO on the way out.
  const result = await grade(fifo, join(ASSIGNMENTS_DIR, fifo.name, fifo.starter), {
    only: ["protocol"],
  });
  // Whether the grader looked before or after the starter removed its FIFO is a race: either
  // way the reason says that the client exited, and why, never that it made no FIFO.
  assert.match(
    lost(result),
    /^(your client exited before the server came \(it|the server never wrote anything \(your client) exited with status 1: stderr: .*TODO 3 to 6/,
  );
});

Deno.test("no-busy-wait: the tail of a start-up does not count as polling", async () => {
  // Busy for 0.6 s once its FIFO is there (as a slow start-up on a loaded machine is), then
  // waits as it should: one window of the measurement sees the start-up, the other the wait.
  const slowStart = fifoClient("").replace(
    "  using readEnd",
    "  for (const end = Date.now() + 600; Date.now() < end;) { /* start-up */ }\n  using readEnd",
  );
  const result = await graded(fifo, slowStart, ["no-busy-wait"]);
  const [check] = result.checks;
  assert.equal(check!.passed, true, check!.why ?? "");
  assert.match(
    check!.details.join(", "),
    /^\d+% CPU while alone, \d+% while the peer was stopped$/,
  );
});

Deno.test("no-busy-wait: a program that only sleeps is not waiting on the channel", async (t) => {
  const sleeper = "await new Promise((resolve) => setTimeout(resolve, 60_000));\n";
  await t.step("where the channel can be seen (its FIFO): it was never made", async () => {
    const result = await graded(fifo, sleeper, ["no-busy-wait"]);
    assert.match(
      lost(result),
      /^your client was not waiting on the channel: 5 s after it started it was still running, but nothing was at --path for the server to find/,
    );
  });
  await t.step(
    "where it cannot (a consumer opens the server's segment): it took no data",
    async () => {
      const result = await graded(shm, sleeper, ["no-busy-wait"]);
      assert.match(
        lost(result),
        /^your client was not waiting on the channel: the server never got 4 MiB into the transfer \(more than the channel holds\), so your client took no data/,
      );
    },
  );
  await t.step("nor is one that sleeps, then exits 0 with no copy", async () => {
    const napper = "await new Promise((resolve) => setTimeout(resolve, 4000));\n";
    const result = await graded(shm, napper, ["no-busy-wait"]);
    assert.match(
      lost(result),
      /^your client was not waiting on the channel: it exited 0 before the server got 4 MiB into the transfer, and made no copy/,
    );
  });
});

Deno.test("ctrl-c and no-busy-wait: a program that does no IPC, only catches the signals, earns neither", async () => {
  // Where the grader cannot see the client wait on its channel (it opens the server's segment
  // or queue), this one is idle, and exits 130 / 143 as it should: it once scored 20/100 so.
  const idle =
    `Deno.addSignalListener("SIGINT", () => { console.error("error: interrupted"); Deno.exit(130); });
Deno.addSignalListener("SIGTERM", () => { console.error("error: terminated"); Deno.exit(143); });
setTimeout(() => { console.error("error: timed out"); Deno.exit(1); }, 2500);
`;
  const results = await Promise.all(
    [shm, sysvMq].map((assignment) => graded(assignment, idle, ["ctrl-c", "no-busy-wait"])),
  );
  for (const result of results) {
    assert.equal(result.total, 0, `${result.assignment}: ${result.total}/${result.max}`);
    for (const check of result.checks) {
      assert.match(
        check.why ?? "passed",
        /^this check needs a transfer that works: your client exited with status 1 \(stderr: "error: timed out"\)$/,
        `${result.assignment} ${check.id}`,
      );
    }
  }
});

Deno.test("bytes: a copy of the same length says where it first differs, not the two lengths", () => {
  const dir = Deno.makeTempDirSync({ prefix: "ipc-lesson-diff-" });
  try {
    const input = crypto.getRandomValues(new Uint8Array(65536)); // (the most it gives at once)
    const whole = new Uint8Array(3 * 65536 + 7);
    for (let i = 0; i < whole.length; i += input.length) {
      whole.set(input.subarray(0, whole.length - i), i);
    }
    const a = join(dir, "a.bin");
    const b = join(dir, "b.bin");
    Deno.writeFileSync(a, whole);
    // Past the first piece read (64 KiB), and at the very first byte.
    for (const at of [2 * 65536 + 3, 0, whole.length - 1]) {
      const other = whole.slice();
      other[at] = other[at]! ^ 0xff;
      Deno.writeFileSync(b, other);
      assert.equal(firstDifference(a, b), at);
    }
    // One the start of the other: no byte differs.
    Deno.writeFileSync(b, whole.subarray(0, 65536 + 1));
    assert.equal(firstDifference(a, b), null);
    assert.equal(firstDifference(a, a), null);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
