/**
 * The checks every assignment is graded by, each staged as runs of the student's program
 * against the lesson's own other side (see `_grader.ts`). Each check judges one thing, so that
 * one mistake costs the points of the check named for it and no other:
 *
 * | check          | what it runs                                      | passes when                                   |
 * | -------------- | ------------------------------------------------- | --------------------------------------------- |
 * | `bytes`        | one copy per edge size, up to 64 MiB              | exit 0, the copy byte-exact, every size       |
 * | `order`        | peer first; student first, the peer 1.5 s late    | both byte-exact                               |
 * | `peer-dies`    | the peer kills itself past what the channel holds | non-zero, one line, within 2 s, nothing left  |
 * | `ctrl-c`       | SIGINT, then SIGTERM, while waiting for the peer  | 130 / 143, one line, within 2 s, nothing left |
 * | `nothing-left` | a copy that works; no peer at all (`--timeout 2`) | no object, no stray file; non-zero, one line  |
 * | `no-busy-wait` | on the channel: no peer; the peer stopped         | CPU under 20% (the quieter of two 0.6 s)      |
 * | `memory`       | 1 MiB and 64 MiB                                  | peak memory (`VmHWM`) grows < 24 MiB          |
 * | `protocol`     | the assignment's own point                        | see the assignment                            |
 *
 * A copy counts only if it came through the channel: for a student's client, the server must
 * have seen the transfer through ({@linkcode serverProblem}). And a side is idle *waiting on
 * the channel* only if it is there: its FIFO, queue or port file made, and the data taken.
 * `ctrl-c`, `nothing-left` and `no-busy-wait` also need a copy of the sample that works: a
 * program that does no IPC, only sleeps and catches the signals, earns none of them.
 *
 * @module
 */

import type { Check, Grading, Proc, Role, Run, RunPlan } from "./_grader.ts";
import { pause, sizeWords, until } from "./_grader.ts";

/** 1 MiB. */
export const MiB = 1024 * 1024;
/** How long a side may take to notice a dead peer or a signal, in ms. */
export const NOTICE_MS = 2000;
/** The most CPU a waiting side may use, as a share of the time (the rest is sleeping). */
export const CPU_SHARE_MAX = 0.2;
/** How much more memory a 64 MiB copy may take than a 1 MiB one. */
export const MEMORY_GROWTH_MAX = 24 * MiB;
/** The clock ticks per second of /proc/PID/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** The assignment-specific settings of the shared checks. */
export interface CheckSettings {
  /** Sizes for `bytes`. */
  sizes: number[];
  /** The input while the student waits for a peer that never comes (a server must block). */
  waitInput: number | "sample";
  /** The input for `order`. */
  orderInput: number | "sample";
  /**
   * Whether the student's side can tell that the peer died (a queue or a ring can; a FIFO's
   * reader sees end-of-file, as at the end).
   */
  deathVisible: boolean;
  /**
   * After how many bytes the peer kills itself in `peer-dies`: more than the channel holds, so
   * that it gets there only if the student's side takes the data (`2M`, or `4M` past a 2 MiB
   * ring; `1`: after its first write, for a FIFO whose reader cannot tell anyway).
   */
  killAfter: string;
}

/** The student's side, in words: `your client`. */
export function you(grading: Grading): string {
  return `your ${grading.assignment.role}`;
}

/** The peer, in words: `the server`. */
export function peerName(grading: Grading): string {
  return `the ${peerRole(grading.assignment.role)}`;
}

function peerRole(role: Role): Role {
  return role === "server" ? "client" : "server";
}

/**
 * Why a transfer failed, in words, or null if the copy is whole and both sides content. For a
 * student's client, the copy counts only if the server saw the transfer through (see
 * {@linkcode serverProblem}): a whole copy that did not come through the channel is no copy.
 */
export function transferProblem(grading: Grading, run: Run): string | null {
  const { student, peer } = run;
  const size = sizeWords(run.plan.input);
  if (student.status === null || student.killedByGrader) {
    return `with ${size}: ${you(grading)} did not finish in time and was stopped ` +
      `(${student.said()}): does it stop at the end of the data?`;
  }
  if (student.status?.code !== 0) {
    return `with ${size}: ${you(grading)} failed: it ${student.describeExit()} (${student.said()})`;
  }
  if (grading.assignment.role === "server" && peer && peer.status?.code !== 0) {
    return `with ${size}: ${you(grading)} exited 0, but ${
      peerName(grading)
    } failed: it ${peer.describeExit()} (${peer.said()})`;
  }
  if (!run.outputExists) {
    return `with ${size}: no output file appeared at ${run.outputPath}` +
      (grading.assignment.role === "client" ? " (did you commit() the OutputFile?)" : "");
  }
  if (!run.outputExact) {
    const at = run.notes["firstDifference"];
    if (run.notes["outputSize"] === run.notes["inputSize"] && typeof at === "number") {
      return `with ${size}: the output is not byte-for-byte the input: same length, ` +
        `different content: first difference at byte ${at} (counting from 0)`;
    }
    return `with ${size}: the output is not byte-for-byte the input (${
      run.notes["outputSize"] ?? "?"
    } bytes instead of ${
      run.notes["inputSize"] ?? (run.plan.input === "sample" ? "the sample's" : run.plan.input)
    })`;
  }
  const server = serverProblem(grading, run);
  if (server !== null) {
    return `with ${size}: ${you(grading)} exited 0 with a whole copy, but ${server}: ` +
      "a copy counts only when it came through the channel";
  }
  return null;
}

/**
 * For a student's client: why the server (the lesson's own) did not deliver the transfer, or
 * null if it did. It did not if it never finished (it was still running when the grader
 * stopped it, or was killed), or if it failed before the client had finished: then whatever
 * the client wrote did not come from it. A server that fails on its own *after* the client
 * exited 0 had sent everything: what it missed (a slot never handed back, the end message
 * never taken) is a mistake of the protocol, which the `protocol` check judges, not this one.
 */
export function serverProblem(grading: Grading, run: Run): string | null {
  const { student, peer } = run;
  if (grading.assignment.role !== "client" || peer === null) return null;
  if (peer.status === null || peer.killedByGrader || peer.status.signal) {
    return `${peerName(grading)} did not finish: it ${peer.describeExit()} (${peer.said()})`;
  }
  const failedFirst = peer.status.code !== 0 && peer.exitedAt !== null &&
    student.exitedAt !== null && peer.exitedAt < student.exitedAt;
  return failedFirst
    ? `${peerName(grading)} failed before ${
      you(grading)
    } had finished: it ${peer.describeExit()} (${peer.said()})`
    : null;
}

/**
 * Why `run`, in which the student's side exited 0, moved no data through the channel, or null
 * if it did: some output arrived, and the server saw the transfer through. (Not all of it: a
 * copy that stops short loses `bytes`, not the checks that only need a transfer as well.)
 */
function movedNoData(grading: Grading, run: Run): string | null {
  if (!run.outputExists || !(Number(run.notes["outputSize"]) > 0)) {
    return transferProblem(grading, run) ?? `with ${sizeWords(run.plan.input)}: no data arrived`;
  }
  const server = serverProblem(grading, run);
  return server === null ? null : `with ${sizeWords(run.plan.input)}: ${server}`;
}

/** A plain transfer. */
function transfer(input: number | "sample", first: "student" | "peer", gapMs: number): RunPlan {
  return { input, first, gapMs };
}

/**
 * Why the submission has not shown a transfer that works (the sample text, the student's side
 * first), or null if it has: the checks that judge how a side waits or ends (`ctrl-c`,
 * `no-busy-wait`, `nothing-left`) give their points only to a program that moves data. Where
 * the grader cannot see the side wait on the channel (a consumer opens the server's segment, a
 * client the server's queue), a program that does no IPC at all, only sleeps and catches the
 * signals, is idle and exits 130 as it should. The run is made once per grading and shared.
 */
async function noWorkingTransfer(grading: Grading): Promise<string | null> {
  const done = await grading.run(transfer("sample", "student", 0));
  if (done.student.status?.code !== 0) {
    return `this check needs a transfer that works: ${
      you(grading)
    } ${done.student.describeExit()} (${done.student.said()})`;
  }
  // A program that exits 0 at once moved nothing: what the peer left is not its doing either.
  const none = movedNoData(grading, done);
  return none === null ? null : `this check needs a transfer that works: ${none}`;
}

/** `bytes`: byte-exact at every edge size. */
export function bytesCheck(settings: CheckSettings, points: number, boundaries: string): Check {
  return {
    id: "bytes",
    title: `byte-exact at edge sizes (${boundaries}, 64 MiB)`,
    points,
    async run(grading) {
      // Up to three failures are enough to act on (and a failing run can take seconds).
      const failed: number[] = [];
      let first: string | null = null;
      let hung = false;
      for (const size of settings.sizes) {
        const run = await grading.run(transfer(size, "student", 0));
        const problem = transferProblem(grading, run);
        if (problem === null) continue;
        failed.push(size);
        first ??= problem;
        // A side that hangs costs a run its whole grace: once is enough to say so.
        hung = run.student.killedByGrader;
        if (failed.length === 3 || hung) break;
      }
      if (first === null) return null;
      const which = hung
        ? `${failed.join(", ")} bytes (the larger sizes were not tried)`
        : failed.length === 3
        ? `at least ${failed.join(", ")} bytes`
        : `${failed.join(" and ")} bytes`;
      return `failed with ${which}; ${first}`;
    },
  };
}

/** `order`: both start orders, and the peer starting late. */
export function orderCheck(settings: CheckSettings, points: number): Check {
  return {
    id: "order",
    title: "both start orders; the peer starting 1.5 s late",
    points,
    async run(grading) {
      const peerFirst = transferProblem(
        grading,
        await grading.run(transfer(settings.orderInput, "peer", 500)),
      );
      if (peerFirst !== null) return `${peerName(grading)} started first: ${peerFirst}`;
      const late = transferProblem(
        grading,
        await grading.run(transfer(settings.orderInput, "student", 1500)),
      );
      if (late !== null) return `${peerName(grading)} started 1.5 s after ${you(grading)}: ${late}`;
      return null;
    },
  };
}

/** What a side that must fail left wrong: output, leftovers, more than one line. */
function failureProblems(grading: Grading, run: Run): string[] {
  const problems: string[] = [];
  const lines = run.student.stderr.trim().split("\n").filter((line) => line.trim() !== "");
  if (lines.length !== 1) {
    problems.push(
      `it printed ${lines.length} lines on stderr, not one line saying what failed (${run.student.said()})`,
    );
  } else if (/^\s+at /m.test(run.student.stderr) || /Uncaught/.test(run.student.stderr)) {
    problems.push("it printed a stack trace, not one line saying what failed");
  }
  if (grading.assignment.role === "client" && run.outputExists) {
    problems.push(
      `it left an output file at ${run.outputPath} (use OutputFile: commit() only at the end)`,
    );
  }
  if (run.strayFiles.length > 0) {
    problems.push(`it left ${run.strayFiles.join(", ")} beside the output`);
  }
  if (run.leftovers.length > 0) problems.push(`it left ${run.leftovers.join(", ")} behind`);
  return problems;
}

/** `peer-dies`: the peer killed mid-transfer. */
export function peerDiesCheck(settings: CheckSettings, points: number): Check {
  return {
    id: "peer-dies",
    title: settings.deathVisible
      ? "the peer dies mid-transfer: exit non-zero, one line, within 2 s, no output, nothing left"
      : "the writer dies mid-transfer: end-of-file, so exit 0 within 2 s, no FIFO left",
    points,
    async run(grading) {
      const peer = peerRole(grading.assignment.role);
      const run = await grading.run({
        input: 16 * MiB,
        first: "student",
        gapMs: 0,
        peerArgs: [`--kill-after=${peer}:${settings.killAfter}`],
        limitMs: 15_000,
      });
      const student = run.student;
      const died = run.peer?.exitedAt ?? null;
      if (run.peer?.status?.signal !== "SIGKILL" || run.peer.killedByGrader || died === null) {
        return `the transfer never got going (${peerName(grading)} was to be killed after ${
          settings.killAfter === "1" ? "its first write" : settings.killAfter.replace(/M$/, " MiB")
        }): ${you(grading)} ${student.describeExit()} (${student.said()}); ${peerName(grading)} ${
          run.peer?.describeExit() ?? "did not start"
        }`;
      }
      if (student.exitedAt === null || student.killedByGrader) {
        const stoppedAt = student.exitedAt === null ? null : (student.exitedAt - died) / 1000;
        return `${you(grading)} failed to notice that ${peerName(grading)} had been killed: ` +
          `it was still running ${
            stoppedAt === null ? "" : `${Math.max(0, stoppedAt).toFixed(0)} s `
          }later, when the grader stopped it (at most ${NOTICE_MS / 1000} s): ` +
          "while you wait, check that the peer still lives";
      }
      const late = student.exitedAt - died;
      grading.details.push(`exited ${Math.max(0, late / 1000).toFixed(1)} s after the kill`);
      if (late > NOTICE_MS) {
        return `${you(grading)} took ${(late / 1000).toFixed(1)} s to notice that ${
          peerName(grading)
        } had been killed (at most ${NOTICE_MS / 1000} s)`;
      }
      if (!settings.deathVisible) {
        if (student.status?.code !== 0) {
          return `a reader sees end-of-file when the writer dies, as at the end, and cannot tell: ` +
            `${you(grading)} should exit 0, but ${student.describeExit()} (${student.said()})`;
        }
        return run.leftovers.length > 0 ? `it left ${run.leftovers.join(", ")} behind` : null;
      }
      // It must have been copying when the peer died: still running (the peer's death is what
      // ends it). The peer is killed after more than its channel holds, so it got that far
      // only because the student's side was taking the data.
      if (student.exitedAt <= died) {
        return `${you(grading)} had already ${
          student.describeExit().replace("was ", "been ")
        } before ${peerName(grading)} was killed (${student.said()})`;
      }
      if (student.status?.code === 0) {
        return `${you(grading)} exited 0 although ${
          peerName(grading)
        } was killed mid-transfer: it must fail (non-zero) with one line`;
      }
      const problems = failureProblems(grading, run);
      return problems.length === 0
        ? null
        : `when ${peerName(grading)} died, ${problems.join("; ")}`;
    },
  };
}

/** Waits until the student waits for its peer: its object is there, or 1 s after start. */
async function studentWaits(grading: Grading, run: Run): Promise<void> {
  const probe = () => grading.assignment.studentWaiting(run.name);
  if (probe() === null) {
    await until(() => !run.student.running, 1000);
  } else {
    await until(() => !run.student.running || probe() === true, 5000);
  }
  await pause(300);
}

/** `ctrl-c`: SIGINT and SIGTERM while waiting for the peer. */
export function ctrlCCheck(settings: CheckSettings, points: number): Check {
  return {
    id: "ctrl-c",
    title: "Ctrl-C (SIGINT) and SIGTERM: exit 130 / 143, one line, within 2 s, nothing left",
    points,
    async run(grading) {
      for (const [signal, status] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
        let sentAt = 0;
        let wasRunning = false;
        const run = await grading.run({
          input: settings.waitInput,
          first: "student",
          gapMs: 0,
          noPeer: true,
          limitMs: NOTICE_MS + 1000,
          during: async (run) => {
            await studentWaits(grading, run);
            wasRunning = run.student.running;
            sentAt = performance.now();
            run.student.kill(signal);
            await run.student.exited(NOTICE_MS + 500);
          },
        });
        const { student } = run;
        const name = signal === "SIGINT" ? "Ctrl-C (SIGINT)" : "SIGTERM";
        if (student.exitedAt !== null && !student.killedByGrader && wasRunning) {
          grading.details.push(`${signal}: ${((student.exitedAt - sentAt) / 1000).toFixed(1)} s`);
        }
        if (!wasRunning) {
          return `${you(grading)} had already ${
            student.describeExit().replace("was ", "been ")
          } before ${name} came, ` +
            `while it should have been waiting for ${peerName(grading)} (${student.said()})`;
        }
        if (
          student.exitedAt === null || student.killedByGrader ||
          student.exitedAt - sentAt > NOTICE_MS
        ) {
          return `${you(grading)} did not exit within ${NOTICE_MS / 1000} s of ${name}: ` +
            "give every wait the signal (the `waits` of runProgram)";
        }
        if (student.status?.signal) {
          return `${name} killed ${you(grading)}: it must catch the signal (runProgram does), ` +
            `clean up and exit with status ${status}`;
        }
        if (student.status?.code !== status) {
          return `after ${name}, ${
            you(grading)
          } exited with status ${student.status?.code}, not ${status} (128 + the signal's number)`;
        }
        const problems = failureProblems(grading, run);
        if (problems.length > 0) return `after ${name}, ${problems.join("; ")}`;
      }
      // Only now: a side that ends badly is told so first. (Graded in full, the run is made
      // here and shared with nothing-left.)
      return await noWorkingTransfer(grading);
    },
  };
}

/** `nothing-left`: after a transfer, and after giving up on a peer that never came. */
export function nothingLeftCheck(settings: CheckSettings, points: number): Check {
  return {
    id: "nothing-left",
    title: "nothing left behind: after a transfer, and when no peer ever comes (--timeout 2)",
    points,
    async run(grading) {
      // What is left "after a transfer" is the student's only if there was one: a program that
      // exits 0 at once did not make the FIFO or the segment the peer then left.
      const none = await noWorkingTransfer(grading);
      if (none !== null) return none;
      const done = await grading.run(transfer("sample", "student", 0));
      if (done.leftovers.length > 0) {
        return `after a transfer, ${done.leftovers.join(", ")} was left behind`;
      }
      if (done.strayFiles.length > 0) {
        return `after a transfer, ${done.strayFiles.join(", ")} was left beside the output`;
      }
      const lonely = await grading.run({
        input: settings.waitInput,
        first: "student",
        gapMs: 0,
        noPeer: true,
        timeoutSeconds: 2,
        limitMs: 2000 + 3000,
      });
      const { student } = lonely;
      if (student.killedByGrader || student.status === null) {
        return `with --timeout 2 and no ${peerRole(grading.assignment.role)}, ${
          you(grading)
        } was still waiting 5 s later: it must give up after --timeout`;
      }
      if (student.status?.code === 0) {
        return `with no ${peerRole(grading.assignment.role)} at all, ${
          you(grading)
        } exited 0: it must fail`;
      }
      const problems = failureProblems(grading, lonely);
      return problems.length === 0
        ? null
        : `when no ${peerRole(grading.assignment.role)} came (--timeout 2), ${problems.join("; ")}`;
    },
  };
}

/** The CPU share `proc` used over `ms` from now (or until it exits): null if it had exited. */
async function cpuShare(proc: Proc, ms: number): Promise<number | null> {
  proc.sample();
  if (!proc.running) return null;
  const ticks = proc.cpuTicks;
  const at = performance.now();
  await proc.exited(ms);
  proc.sample();
  const seconds = (performance.now() - at) / 1000;
  return (proc.cpuTicks - ticks) / TICKS_PER_SECOND / Math.max(seconds, 0.1);
}

/** How long each of the two windows of a CPU measurement lasts, in ms. */
const WINDOW_MS = 600;

/**
 * The CPU share `proc` used in the quieter of two windows of `WINDOW_MS`, one after the other:
 * null if it had exited. A program that polls is busy in both; one that waits is idle in at
 * least one, even when the first still holds the tail of its start-up on a loaded machine.
 */
async function quieterShare(proc: Proc): Promise<number | null> {
  const first = await cpuShare(proc, WINDOW_MS);
  if (first === null) return null;
  const second = await cpuShare(proc, WINDOW_MS);
  return second === null ? first : Math.min(first, second);
}

/**
 * After how many bytes the peer stops itself (SIGSTOP) in `no-busy-wait`: more than the channel
 * holds, so that it gets there only if the student's side takes the data, which shows that it
 * is on the channel. That is `killAfter`, except where that is the first write (a FIFO): there,
 * 2 MiB, more than a pipe holds.
 */
function stopAfter(settings: CheckSettings): string {
  return settings.killAfter === "1" ? "2M" : settings.killAfter;
}

/**
 * Why the student's side, in a run whose peer never got `stopPoint` bytes into the transfer
 * (so was never stopped), was not on the channel: it was still there, idle, taking no data
 * (`stillRunning`: a program that only sleeps), or it was a client that exited 0 with no copy
 * at all. Null otherwise: a side that took some data and then failed, or stopped short, could
 * not be measured, and has lost the check that judges that (`bytes`), not this one. (One that
 * took none and failed loses this one still, at its end: it needs a transfer that works.)
 */
function tookNoData(
  grading: Grading,
  run: Run,
  stopPoint: string,
  stillRunning: boolean,
): string | null {
  const { student, peer } = run;
  const far = `${stopPoint.replace(/M$/, " MiB")} into the transfer`;
  const said = `${student.said()}; ${peerName(grading)} ${peer?.describeExit() ?? "did not start"}`;
  if (stillRunning) {
    // The peer gets that far only through the student's side: one that never took data was
    // not on the channel, however idle it was.
    return `${you(grading)} was not waiting on the channel: ${
      peerName(grading)
    } never got ${far} (more than the channel holds), so ${you(grading)} took no data (${said})`;
  }
  if (grading.assignment.role === "client" && student.status?.code === 0 && !run.outputExists) {
    return `${you(grading)} was not waiting on the channel: it exited 0 before ${
      peerName(grading)
    } got ${far}, and made no copy (${said})`;
  }
  return null;
}

/** `no-busy-wait`: CPU while the peer is absent, and while it is stopped. */
export function busyWaitCheck(settings: CheckSettings, points: number): Check {
  return {
    id: "no-busy-wait",
    title: `no busy waiting: under ${
      CPU_SHARE_MAX * 100
    }% CPU while the peer is absent, and while it is stopped (SIGSTOP)`,
    points,
    async run(grading) {
      let absent: number | null = null;
      let offChannel = false;
      const first = await grading.run({
        input: settings.waitInput,
        first: "student",
        gapMs: 0,
        noPeer: true,
        limitMs: 100,
        during: async (run) => {
          await studentWaits(grading, run);
          // Idle is not enough: it must be idle *waiting on the channel*, where that can be
          // seen (its FIFO, queue or port file is there). A program that only sleeps is not.
          offChannel = run.student.running &&
            grading.assignment.studentWaiting(run.name) === false;
          if (!offChannel) absent = await quieterShare(run.student);
        },
      });
      if (offChannel) {
        return `${you(grading)} was not waiting on the channel: 5 s after it started it was ` +
          `still running, but nothing was at --${grading.assignment.channelOption} for ${
            peerName(grading)
          } to find: make your end of the channel, then let its wait block (${first.student.said()})`;
      }
      if (absent !== null) grading.details.push(`${Math.round(absent * 100)}% CPU while alone`);
      if (absent === null) {
        return `${you(grading)} ${first.student.describeExit()} instead of waiting for ${
          peerName(grading)
        } (${first.student.said()})`;
      }
      if (absent > CPU_SHARE_MAX) {
        return `while waiting for ${peerName(grading)} to come, ${you(grading)} used ${
          Math.round(absent * 100)
        }% of a CPU: it is polling without sleeping; let a wait block (or park) instead`;
      }
      let stopped: number | null = null;
      let stoppedAtAll = false;
      let stillRunning = false;
      const peer = peerRole(grading.assignment.role);
      const stopPoint = stopAfter(settings);
      const second = await grading.run({
        input: 16 * MiB,
        first: "student",
        gapMs: 0,
        peerArgs: [`--kill-after=${peer}:${stopPoint}:STOP`],
        limitMs: 4000,
        during: async (run) => {
          stoppedAtAll = await until(
            () => run.peer?.state() === "T" || !run.student.running || !run.peer?.running,
            20_000,
          ) && run.peer?.state() === "T";
          stillRunning = run.student.running;
          if (!stoppedAtAll) return;
          await pause(300);
          stopped = await quieterShare(run.student);
          run.peer?.kill("SIGKILL");
        },
      });
      if (!stoppedAtAll) {
        const problem = tookNoData(grading, second, stopPoint, stillRunning);
        if (problem !== null) return problem;
      }
      if (stopped !== null) {
        grading.details.push(`${Math.round(stopped * 100)}% while the peer was stopped`);
      }
      if (stopped !== null && stopped > CPU_SHARE_MAX) {
        return `while ${peerName(grading)} was stopped mid-transfer (SIGSTOP), ${
          you(grading)
        } used ${
          Math.round(stopped * 100)
        }% of a CPU: it is polling without sleeping; let a wait block (or park) instead`;
      }
      // Idle is no credit to a program that moves no data (one that failed before the peer
      // was stopped could not be measured either).
      return await noWorkingTransfer(grading);
    },
  };
}

/** `memory`: peak memory flat with the file's size. */
export function memoryCheck(points: number): Check {
  return {
    id: "memory",
    title: "memory flat with file size: 64 MiB takes < 24 MiB more than 1 MiB",
    points,
    async run(grading) {
      const small = await grading.run(transfer(MiB, "student", 0));
      const large = await grading.run(transfer(64 * MiB, "student", 0));
      for (const run of [small, large]) {
        if (run.student.status?.code !== 0) {
          return `this check needs a transfer that works: with ${sizeWords(run.plan.input)}, ${
            you(grading)
          } ${run.student.describeExit()} (${run.student.said()})`;
        }
        // A side that exits 0 without moving any data takes little memory: some must arrive,
        // through the channel (a copy of the input file by other means takes little too).
        const none = movedNoData(grading, run);
        if (none !== null) return `this check needs a transfer that works: ${none}`;
      }
      const growth = large.student.peakRss - small.student.peakRss;
      grading.details.push(
        `peak ${Math.round(small.student.peakRss / MiB)} MiB for 1 MiB, ${
          Math.round(large.student.peakRss / MiB)
        } MiB for 64 MiB`,
      );
      if (growth >= MEMORY_GROWTH_MAX) {
        return `peak memory ${Math.round(small.student.peakRss / MiB)} MiB for 1 MiB, ${
          Math.round(large.student.peakRss / MiB)
        } MiB for 64 MiB: the file is being held in memory; stream it in pieces`;
      }
      return null;
    },
  };
}
