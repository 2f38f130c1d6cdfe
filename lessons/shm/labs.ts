/**
 * Break-it labs of the shared-memory lesson: `deno task lesson:shm --break NAME`.
 *
 * - `no-sync`: a producer and a consumer share a ring without the semaphores;
 * - `no-ftruncate`: a new segment is mapped before it has a size;
 * - `stale-segment`: the server is killed with kill -9, then started again.
 *
 * The second process of the first two is `lab_peer.ts`; the third runs the lesson itself.
 *
 * @module
 */

import { join } from "node:path";
import { pathExists, sha256File, writeRandomFile } from "../../transports/files.ts";
import { findLeftovers } from "../../transports/leftovers.ts";
import * as libc from "../../transports/libc.ts";
import {
  ringNames,
  ringParts,
  segmentLeftovers,
  semaphoreLeftovers,
} from "../../transports/ring_buffer.ts";
import { semaphorePath } from "../../transports/semaphore.ts";
import { SharedMemory, shmPath } from "../../transports/shm.ts";
import { formatBytes } from "../../transports/units.ts";
import { seconds, sleep } from "../../transports/wait.ts";
import type { Lab, LabContext } from "../_labs.ts";
import { command, denoArgv, LessonError, SAMPLE_INPUT, uniqueName } from "../_lesson.ts";
import { linesOf, writeStderr } from "../_log.ts";
import { UNSYNCED } from "./lab_peer.ts";

const LESSON = new URL("./main.ts", import.meta.url).href;
const PEER = new URL("./lab_peer.ts", import.meta.url).href;

// ---------------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------------

/** A child process whose stderr is shown as it comes, and kept; killed when disposed. */
interface Child extends Disposable {
  process: Deno.ChildProcess;
  /** The lab's signal: waiting for the child stops on Ctrl-C. */
  signal: AbortSignal;
  /** Every line it has printed on stderr so far. */
  lines: string[];
  /** Its exit, once all its output has been read. */
  status: Promise<Deno.CommandStatus>;
  /** Whether it has exited. */
  hasExited(): boolean;
}

/**
 * Starts `deno run -A entry ...args` in the lab's folder, for `using`: killed when the lab's
 * block ends (and on Ctrl-C) if it still runs. Its stderr lines are passed on unchanged: they
 * carry its own role and pid. A child that is meant to crash runs with `ulimit -c 0`, so that
 * it leaves no core file anywhere; `exec` keeps its pid and lets its signal through.
 */
function start(
  lab: LabContext,
  entry: string,
  args: string[],
  options: { crashes?: boolean } = {},
): Child {
  const deno = denoArgv(entry, args);
  const argv = options.crashes ? ["sh", "-c", 'ulimit -c 0 && exec "$@"', "sh", ...deno] : deno;
  const child = command(argv, { cwd: lab.dir, stdin: "null", stdout: "null", stderr: "piped" })
    .spawn();
  let exited = false;
  const lines: string[] = [];
  const status = (async () => {
    for await (const line of linesOf(child.stderr)) {
      writeStderr(`${line}\n`);
      lines.push(line);
    }
    const status = await child.status;
    exited = true;
    return status;
  })();
  const kill = () => {
    if (exited) return;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  };
  return {
    process: child,
    signal: lab.signal,
    lines,
    status,
    hasExited: () => exited,
    [Symbol.dispose]: kill,
  };
}

/** Waits up to `ms` for a line matching `pattern`; null if the child exits or time runs out. */
async function lineMatching(child: Child, pattern: RegExp, ms: number): Promise<string | null> {
  const deadline = performance.now() + ms;
  for (;;) {
    const line = child.lines.find((candidate) => pattern.test(candidate));
    if (line !== undefined) return line;
    if (child.hasExited() || performance.now() > deadline) return null;
    await sleep(10, child.signal);
  }
}

/** Waits up to `ms` for the child to exit; kills it with SIGKILL if it has not. */
async function exitWithin(child: Child, ms: number): Promise<Deno.CommandStatus> {
  await Promise.race([child.status, sleep(ms, child.signal)]);
  if (!child.hasExited()) {
    child.process.kill("SIGKILL");
    await child.status;
    throw new LessonError(`process ${child.process.pid} did not end within ${seconds(ms)}`);
  }
  return child.status;
}

/** How a child ended, in words: `exit status 1`, `signal SIGBUS`. */
function ending(status: Deno.CommandStatus): string {
  return status.signal === null ? `exit status ${status.code}` : `signal ${status.signal}`;
}

// ---------------------------------------------------------------------------------------------
// no-sync: comparing the copy with the original, chunk by chunk
// ---------------------------------------------------------------------------------------------

/** What became of each chunk of the input in the output. */
interface ChunkReport {
  /** In its place, unchanged. */
  intact: number;
  /** Replaced by a later chunk of the input: overwritten before it was read. */
  later: number;
  /** Replaced by an earlier chunk: read again before the new one arrived. */
  earlier: number;
  /** Neither: parts of different chunks (the slot changed while it was being copied). */
  torn: number;
  /** How many different chunks of the input the output holds. */
  distinct: number;
}

/** Compares `output` with `input` chunk by chunk (every chunk of random bytes is unique). */
function compareChunks(input: Uint8Array, output: Uint8Array, size: number): ChunkReport {
  const key = (chunk: Uint8Array) => chunk.subarray(0, 16).join(",");
  const chunkAt = (bytes: Uint8Array, i: number) => bytes.subarray(i * size, (i + 1) * size);
  const same = (a: Uint8Array, b: Uint8Array) =>
    a.length === b.length && a.every((byte, i) => byte === b[i]);
  const index = new Map<string, number>();
  const count = input.length / size;
  for (let i = 0; i < count; i++) index.set(key(chunkAt(input, i)), i);

  const report: ChunkReport = { intact: 0, later: 0, earlier: 0, torn: 0, distinct: 0 };
  const seen = new Set<number>();
  for (let i = 0; i < count; i++) {
    const got = chunkAt(output, i);
    const j = index.get(key(got));
    if (j === undefined || !same(got, chunkAt(input, j))) {
      report.torn++;
      continue;
    }
    seen.add(j);
    if (j === i) report.intact++;
    else if (j > i) report.later++;
    else report.earlier++;
  }
  report.distinct = seen.size;
  return report;
}

function describeChunks(report: ChunkReport): string {
  return [
    report.later > 0 &&
    `${report.later} hold a later chunk (the producer had already refilled their slot)`,
    report.earlier > 0 && `${report.earlier} hold an earlier chunk (read again)`,
    report.torn > 0 &&
    `${report.torn} are torn (parts of two chunks: the slot changed while it was copied)`,
  ].filter(Boolean).join(", ");
}

const short = (hash: string) => `${hash.slice(0, 12)}…`;

/**
 * What `deno task clean` would remove of the ring `name`: the objects the ring's transports find
 * under that name that no process holds open or mapped.
 */
function leftoversOf(lab: LabContext, name: string) {
  const { found } = findLeftovers([segmentLeftovers, semaphoreLeftovers], {
    prefix: name.slice(1),
    dir: lab.dir,
  });
  return found.filter((leftover) => leftover.holders.length === 0);
}

/** Permission bits as `ls -l` shows them: `-rw-------`. */
function permissions(mode: number | null): string {
  const bits = mode ?? 0;
  return "-" + "rwxrwxrwx".replace(/./g, (letter, i) => (bits & (0o400 >> i) ? letter : "-"));
}

// ---------------------------------------------------------------------------------------------
// The labs
// ---------------------------------------------------------------------------------------------

/** The ring of the no-sync lab: small, so that the producer laps the consumer at once. */
const NO_SYNC = { slots: 4, slotSize: 4096, chunks: 1024 } as const;

/** The shared-memory lesson's labs. */
export const labs: Lab[] = [
  {
    name: "no-sync",
    summary: "without the semaphores the output is corrupted, and only the checksum notices",
    explanation: {
      cause:
        "shared memory is just memory: nothing makes the producer wait until the consumer has read a slot. A counter of written chunks told the consumer when a chunk was there (the job of the semaphore `filled`), but nothing told the producer when a slot was free again (the job of `free`), so it refilled each slot many times before the slower consumer copied it. The file has the right size, and every write() succeeded: only the checksum shows the damage.",
      fix:
        "two counting semaphores, as ring_buffer.ts does: the producer takes `free` before it fills a slot and posts `filled` after; the consumer takes `filled` before it reads a slot and posts `free` after. `free` (it starts at N) stops the producer while every slot is full; `filled` (it starts at 0) stops the consumer while none is. And check the copy end to end (the lesson's demo compares SHA-256).",
    },
    async run(lab) {
      const { slots, slotSize, chunks } = NO_SYNC;
      const inputPath = join(lab.dir, "input.bin");
      writeRandomFile(inputPath, chunks * slotSize);
      const input = Deno.readFileSync(inputPath);

      lab.say(
        `1. a ring of ${slots} slots of ${formatBytes(slotSize)} in shared memory, WITHOUT the ` +
          `semaphores: only a counter of written chunks, and a consumer in another process`,
      );
      const name = `/${uniqueName("shm")}`;
      lab.trace(true);
      using segment = SharedMemory.create(name, UNSYNCED.dataOffset + slots * slotSize);
      lab.trace(false);
      const words = new Int32Array(segment.bytes.buffer, 0, 8);
      words[UNSYNCED.slots] = slots;
      words[UNSYNCED.slotSize] = slotSize;
      words[UNSYNCED.chunks] = chunks;
      const slot = Array.from(
        { length: slots },
        (_, i) =>
          new Uint8Array(segment.bytes.buffer, UNSYNCED.dataOffset + i * slotSize, slotSize),
      );
      const outputPath = join(lab.dir, "output.bin");
      using consumer = start(lab, PEER, ["unsynced-consumer", name, outputPath]);
      const deadline = performance.now() + 10_000;
      while (Atomics.load(words, UNSYNCED.consumerPid) === 0) {
        if (consumer.hasExited()) throw new LessonError("the consumer exited before it was ready");
        if (performance.now() > deadline) {
          throw new LessonError("the consumer did not get ready within 10 s");
        }
        await sleep(5, lab.signal);
      }
      // Both processes have mapped it: the name has done its job (as in the lesson).
      segment.unlink();

      lab.say(
        `2. this process, the producer, copies ${formatBytes(input.length)} (${chunks} chunks) ` +
          "into the slots as fast as it can, and never waits for a slot to be free",
      );
      for (let w = 0; w < chunks; w++) {
        // The mistake: no sem_wait(free) here. Nothing stops this store from landing in a
        // slot whose chunk the consumer has not copied yet.
        slot[w % slots]!.set(input.subarray(w * slotSize, (w + 1) * slotSize));
        // Atomics.store: the chunk's bytes are visible before the new count is.
        Atomics.store(words, UNSYNCED.written, w + 1);
      }
      const status = await exitWithin(consumer, 10_000);
      if (!status.success) {
        throw new LessonError(`the consumer failed (${ending(status)})`);
      }

      lab.say("3. compare the copy with the original: SHA-256, then chunk by chunk");
      const inputSha = await sha256File(inputPath);
      const outputSha = await sha256File(outputPath);
      const output = Deno.readFileSync(outputPath);
      if (outputSha === inputSha || output.length !== input.length) return false;
      const report = compareChunks(input, output, slotSize);
      const size = formatBytes(output.length);
      lab.symptom(
        `the copy is corrupted: the output's SHA-256 ${short(outputSha)} differs from the ` +
          `input's ${short(inputSha)}, yet it has the right size (${size}); only ` +
          `${report.intact} of ${chunks} chunks arrived intact, and it holds just ` +
          `${report.distinct} different chunks of the input: ${describeChunks(report)}`,
      );

      lab.say(
        `4. the fix: the same file through the lesson itself, the same ring (${slots} slots of ` +
          `${formatBytes(slotSize)}), with the two semaphores`,
      );
      const fixedPath = join(lab.dir, "fixed.bin");
      const demo = await command(
        denoArgv(LESSON, [
          "--json",
          "--input",
          inputPath,
          "--output",
          fixedPath,
          "--slots",
          String(slots),
          "--slot-size",
          String(slotSize),
          "--timeout",
          "5",
        ]),
        { cwd: lab.dir, stdin: "null", stdout: "piped", stderr: "piped" },
      ).output();
      const fixedSha = demo.success ? await sha256File(fixedPath) : null;
      if (fixedSha !== inputSha) {
        throw new LessonError(
          `the lesson's own copy failed too (${ending(demo)}): ${
            new TextDecoder().decode(demo.stdout).trim()
          } ${new TextDecoder().decode(demo.stderr).trim()}`,
        );
      }
      const fixed = compareChunks(input, Deno.readFileSync(fixedPath), slotSize);
      lab.say(
        `with the semaphores, the copy's SHA-256 is ${short(fixedSha)}, the input's: ` +
          `${fixed.intact} of ${chunks} chunks intact`,
      );
      return true;
    },
  },

  {
    name: "no-ftruncate",
    summary: "mapping a new segment before ftruncate() gives it a size: the first store is SIGBUS",
    explanation: {
      cause:
        "shm_open(O_CREAT) makes an object of 0 bytes. mmap() does not check the length against the object's size, so it succeeds; the kernel finds the page only at the first access, and a page wholly beyond the end of the object does not exist: the process gets SIGBUS, which kills it. It died without removing the object's name.",
      fix:
        "the creator calls ftruncate(fd, size) after shm_open() and before mmap(), as SharedMemory.create does. A process that opens an existing object maps only as much as fstat() says it has (SharedMemory.open), and the lesson's client looks again while that is 0 bytes: its creator is not done yet.",
    },
    async run(lab) {
      const name = `/${uniqueName("shm")}`;
      const path = shmPath(name);
      // The child cannot clean up after SIGBUS: the lab removes the object, whatever happens.
      const remove = () => {
        try {
          libc.shm_unlink(name);
        } catch (error) {
          if (!(error instanceof libc.LibcError && error.code === "ENOENT")) throw error;
        }
      };
      using _removed = { [Symbol.dispose]: remove };

      lab.say(
        "1. the mistake, in a child process (a crash there cannot hurt this one): shm_open() a " +
          "new object, skip ftruncate(), mmap() a page of it, and store a byte",
      );
      using mistake = start(lab, PEER, ["no-ftruncate", name], { crashes: true });
      const status = await exitWithin(mistake, 10_000);
      if (status.signal !== "SIGBUS") return false;
      lab.symptom(
        `the child, process ${mistake.process.pid}, was killed by SIGBUS at its first store ` +
          `into the mapping (a shell shows "Bus error" and exit status ${status.code}: 128 + ` +
          `${status.code - 128}, the number of SIGBUS)`,
      );

      const { size } = Deno.statSync(path);
      lab.say(
        `2. its object is still there, ${size} bytes long (ls -l ${path}): the child died ` +
          "before it could remove it, so the lab does",
      );
      lab.trace(true);
      remove();
      lab.trace(false);

      lab.say("3. the fix, in a child process again: ftruncate(fd, 4096) before mmap()");
      using fixed = start(lab, PEER, ["ftruncate-first", name]);
      const fixedStatus = await exitWithin(fixed, 10_000);
      lab.say(
        fixedStatus.success
          ? `with ftruncate() first, the child stored its byte and exited normally`
          : `even with ftruncate() first, the child ended with ${ending(fixedStatus)}`,
      );
      lab.trace(true);
      remove();
      lab.trace(false);
      return true;
    },
  },

  {
    name: "stale-segment",
    summary: "after kill -9, the server's names stay in /dev/shm, and a restart refuses them",
    explanation: {
      cause:
        "a shared-memory segment and a named semaphore live in the kernel (as files in /dev/shm, which is RAM) until someone removes their names: they outlive the process that made them. The server removes its names on every way out it sees (an error, a timeout, Ctrl-C, SIGTERM), but SIGKILL cannot be caught, and it came while the server waited for its client, before it had removed them. The next server creates its names with O_EXCL, so it refuses to reuse them, rather than inherit an old semaphore count.",
      fix:
        "remove what a killed run left: the restarted server's message gives the command, deno task clean NAME NAME-free NAME-filled, which removes (shm_unlink, sem_unlink) only names that no process has open or mapped, as /proc/PID/maps shows; or choose another --name. The lesson keeps that window small: the server unlinks the three names as soon as its client has attached, so from then on even kill -9 of either side leaves nothing behind.",
    },
    async run(lab) {
      // No pid in the name: once its server is gone, deno task clean counts it as left behind.
      const name = `/ipc-lesson-shm-lab-stale-${crypto.randomUUID().slice(0, 8)}`;
      const names = ringNames(name);
      const paths = [
        shmPath(names.segment),
        semaphorePath(names.free),
        semaphorePath(names.filled),
      ];
      using _removed = {
        [Symbol.dispose]: () => {
          for (const part of ringParts(names)) if (part.exists()) part.remove();
        },
      };
      const server = ["server", "--name", name, "--timeout", "5"];

      lab.say(`1. start the lesson's server with --name ${name}, and wait until it waits`);
      using first = start(lab, LESSON, server);
      if (await lineMatching(first, /waiting for a client to attach/, 10_000) === null) {
        throw new LessonError("the server did not get ready within 10 s");
      }

      lab.say(`2. kill -9 ${first.process.pid}: SIGKILL cannot be caught, so it cannot clean up`);
      first.process.kill("SIGKILL");
      const killed = await exitWithin(first, 5000);
      const left = paths.flatMap((path) => {
        try {
          return [{ path, info: Deno.statSync(path) }];
        } catch {
          return [];
        }
      });
      if (left.length === 0) return false;
      lab.say(`the server ended with ${ending(killed)}; ls -l /dev/shm still shows its names:`);
      for (const { path, info } of left) {
        lab.say(`  ${permissions(info.mode)} ${String(info.size).padStart(8)} ${path}`);
      }

      lab.say("3. start the server again, with the same name");
      using second = start(lab, LESSON, server);
      const secondStatus = await exitWithin(second, 10_000);
      const refusal = second.lines.find((line) => /error: .*already exist/.test(line));
      if (secondStatus.code !== 1 || refusal === undefined) return false;
      lab.symptom(
        `the restarted server refused to start (${ending(secondStatus)}): its names ${
          refusal.slice(refusal.indexOf("already exist"))
        }`,
      );

      lab.say(
        "4. remove the leftovers as deno task clean does (here only the lab's three names): " +
          "findLeftovers() lists this project's objects that no process holds open or mapped",
      );
      const ours = leftoversOf(lab, name);
      for (const leftover of ours) {
        lab.say(`  found ${leftover.kind.padEnd(13)} ${leftover.path}`);
      }
      lab.trace(true);
      for (const leftover of ours) leftover.remove();
      lab.trace(false);

      lab.say("5. the third start, with a client this time: the copy works");
      const copy = join(lab.dir, "copy.txt");
      using third = start(lab, LESSON, [...server, "--quiet"]);
      using client = start(lab, LESSON, [
        "client",
        "--name",
        name,
        "--output",
        copy,
        "--timeout",
        "5",
        "--quiet",
      ]);
      const serverStatus = await exitWithin(third, 10_000);
      const clientStatus = await exitWithin(client, 10_000);
      if (!serverStatus.success || !clientStatus.success) {
        throw new LessonError(
          `the third start failed: server ${ending(serverStatus)}, client ${ending(clientStatus)}`,
        );
      }
      const exact = await sha256File(copy) === await sha256File(SAMPLE_INPUT);
      const remaining = paths.filter(pathExists);
      lab.say(
        `server and client exited with status 0; the copy of ${
          formatBytes(Deno.statSync(copy).size)
        } is ${exact ? "byte-exact" : "NOT byte-exact"}; ls /dev/shm shows ${
          remaining.length === 0 ? "none of the lab's names" : remaining.join(", ")
        }`,
      );
      return true;
    },
  },
];
