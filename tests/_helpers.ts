/**
 * Shared helpers for the test suite: running lessons as real processes, making inputs,
 * and checking that nothing is left behind.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { findLeftovers } from "../lessons/clean.ts";

/** The project's root directory. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/**
 * The temporary directory the lessons use during the suite (their TMPDIR): the one
 * `deno task test` made (tests/run.ts checks at the end that it is empty), or, under a plain
 * `deno test`, one named after the `deno test` process (every test module runs in it).
 */
export const TMP: string = Deno.env.get("IPC_TESTS_TMP") ||
  join(Deno.env.get("TMPDIR") || "/tmp", `ipc-tests-${Deno.pid}`);
Deno.mkdirSync(TMP, { recursive: true });
if (!Deno.env.get("IPC_TESTS_TMP")) {
  // Under a plain `deno test`, remove the folder at the end if the tests left it empty.
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(TMP);
    } catch { /* not empty, or gone */ }
  });
}

/** What a demo run with `--json` prints: one JSON object (a public interface: scripts read it). */
export interface DemoResult {
  method: string;
  bytes: number;
  chunks: number;
  chunkBytes: number;
  seconds: number | null;
  mibPerSecond: number | null;
  inputSha256: string | null;
  outputSha256: string | null;
  byteExact: boolean;
  server: SideResult | null;
  client: SideResult | null;
  error?: string;
}

/** One side's process in a {@linkcode DemoResult}. */
export interface SideResult {
  pid: number;
  /** Exit code, or null when a signal ended the process. */
  exitCode: number | null;
  /** The signal that ended the process, if one did. */
  signal: string | null;
  peakRssBytes: number | null;
  userSeconds: number | null;
  systemSeconds: number | null;
}

/** The outcome of running a command. */
export interface Run {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

/** The path of a lesson's entry point. */
export function entry(method: string): string {
  return join(ROOT, "lessons", method, "main.ts");
}

/**
 * `deno run -A assignments/grade.ts ...args` in the project, started: the grader as the tests
 * watch it run (its stderr piped; its stdout piped only when asked).
 */
export function startGrader(args: string[], stdout: "piped" | "null" = "null"): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "assignments/grade.ts", ...args],
    cwd: ROOT,
    stdout,
    stderr: "piped",
  }).spawn();
}

/** `deno run -A lessons/<method>/main.ts ...args`, as a command. */
export function lessonCommand(
  method: string,
  args: string[],
  options: Omit<Deno.CommandOptions, "args"> = {},
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...options,
    env: { TMPDIR: TMP, NO_COLOR: "1", ...options.env },
    args: ["run", "--quiet", "-A", entry(method), ...args],
  });
}

/** Runs a lesson to the end and collects what it printed. */
export async function runLesson(
  method: string,
  args: string[],
  options: Omit<Deno.CommandOptions, "args"> = {},
): Promise<Run> {
  return collect(await lessonCommand(method, args, options).output());
}

/**
 * Runs a lesson under a wrapper program, `wrapper... deno run -A lessons/METHOD/main.ts
 * args...` (prlimit, unshare, setpriv, sh -c "umask …"), and collects what it printed.
 */
export async function runWrapped(wrapper: string[], method: string, args: string[]): Promise<Run> {
  const [program, ...wrapperArgs] = wrapper;
  const output = await new Deno.Command(program!, {
    args: [...wrapperArgs, Deno.execPath(), "run", "--quiet", "-A", entry(method), ...args],
    cwd: ROOT,
    env: { TMPDIR: TMP, NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return collect(output);
}

/** What a finished command printed, and how it ended, as a {@linkcode Run}. */
export function collect(output: Deno.CommandOutput): Run {
  return {
    code: output.code,
    signal: output.signal,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

/** Runs a lesson's demo with `--json` and parses the one JSON object it prints. */
export async function runDemoJson(
  method: string,
  args: string[],
  options: Omit<Deno.CommandOptions, "args"> = {},
): Promise<{ run: Run; result: DemoResult }> {
  const run = await runLesson(method, ["--json", ...args], options);
  const lines = run.stdout.trim().split("\n");
  assert.equal(
    lines.length,
    1,
    `expected one JSON line on stdout, got:\n${run.stdout}\n${run.stderr}`,
  );
  return { run, result: JSON.parse(lines[0]!) };
}

/**
 * Writes `size` bytes to `path`: first every byte value 0..255 (so that all 256 appear),
 * then a seeded pseudo-random stream, generated and written 1 MiB at a time.
 */
export function makeInput(path: string, size: number, seed = 1): string {
  using file = Deno.openSync(path, { write: true, create: true, truncate: true });
  const buf = new Uint8Array(1 << 20);
  let state = seed >>> 0 || 1;
  let position = 0;
  while (position < size) {
    const n = Math.min(buf.length, size - position);
    for (let i = 0; i < n; i++) {
      const at = position + i;
      if (at < 256) {
        buf[i] = at;
      } else {
        // xorshift32
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        buf[i] = state & 0xff;
      }
    }
    for (let done = 0; done < n;) done += file.writeSync(buf.subarray(done, n));
    position += n;
  }
  return path;
}

/** The SHA-256 of a file, as hex. */
export function sha256(path: string): string {
  const hash = createHash("sha256");
  using file = Deno.openSync(path, { read: true });
  const buf = new Uint8Array(1 << 20);
  for (let n = file.readSync(buf); n !== null; n = file.readSync(buf)) {
    hash.update(buf.subarray(0, n));
  }
  return hash.digest("hex");
}

/** Asserts that two files have the same bytes. */
export function assertSameFile(actual: string, expected: string): void {
  assert.equal(Deno.statSync(actual).size, Deno.statSync(expected).size, "sizes differ");
  assert.equal(sha256(actual), sha256(expected), "contents differ");
}

/** A fresh directory for one test, inside {@linkcode TMP}. */
export function testDir(name: string): string {
  const dir = join(TMP, `${name.replace(/[^a-z0-9]+/gi, "-")}-${crypto.randomUUID().slice(0, 8)}`);
  Deno.mkdirSync(dir, { recursive: true });
  return dir;
}

/** Asserts that stderr holds exactly one error line, matching `pattern`, and no stack trace. */
export function assertOneError(run: Run, pattern: RegExp): void {
  const errors = run.stderr.split("\n").filter((line) => /\berror: /.test(line));
  assert.equal(errors.length, 1, `expected one error line, got:\n${run.stderr}`);
  assert.match(errors[0]!, pattern);
  assertNoStackTrace(run);
}

/** Asserts that nothing in the output looks like a JavaScript stack trace. */
export function assertNoStackTrace(run: Run): void {
  assert.doesNotMatch(
    run.stderr + run.stdout,
    /^\s+at .+:\d+:\d+\)?$/m,
    "a stack trace was printed",
  );
  assert.doesNotMatch(run.stderr, /Uncaught|panicked/, "an uncaught error was printed");
}

/** Names of the files in `dir` (to check that no output or partial file was left). */
export function filesIn(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((entry) => entry.name).sort();
}

/** Asserts that no kernel object of the project exists (FIFOs in TMP, /dev/shm, queues). */
export function assertNothingLeftBehind(): void {
  const { found } = findLeftovers({ tmp: TMP });
  assert.deepEqual(
    found.map((object) => `${object.kind} ${object.path}`),
    [],
    "objects left behind",
  );
}

/** Waits until `text` appears in what `stream` yields; resolves to everything read so far. */
export async function readUntil(
  reader: ReadableStreamDefaultReader<string>,
  text: string | RegExp,
  timeoutMs = 10_000,
): Promise<string> {
  let seen = "";
  const deadline = Date.now() + timeoutMs;
  while (typeof text === "string" ? !seen.includes(text) : !text.test(seen)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out waiting for ${text}; got:\n${seen}`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const next = await Promise.race([
      reader.read(),
      new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), left)),
    ]);
    clearTimeout(timer);
    if (next === null) continue;
    if (next.done) throw new Error(`stream ended before ${text}; got:\n${seen}`);
    seen += next.value;
  }
  return seen;
}

/** Decodes a process's stderr as text, for {@linkcode readUntil}. */
export function textReader(
  stream: ReadableStream<Uint8Array>,
): ReadableStreamDefaultReader<string> {
  return stream.pipeThrough(new TextDecoderStream()).getReader();
}

/** The sizes every lesson must copy byte-exactly around a boundary `n`. */
export function around(n: number): number[] {
  return [n - 1, n, n + 1];
}

/** A side started by hand, still running: its process and what it has said so far. */
export interface RunningSide {
  child: Deno.ChildProcess;
  stderr: ReadableStreamDefaultReader<string>;
  said: string;
}

/** Starts one side of `method` by hand and waits until it says `ready` on stderr. */
export async function startSide(
  method: string,
  role: "server" | "client",
  args: string[],
  ready: string | RegExp,
): Promise<RunningSide> {
  const child = lessonCommand(method, [role, ...args]).spawn();
  const stderr = textReader(child.stderr);
  const said = await readUntil(stderr, ready);
  return { child, stderr, said };
}

/** Waits for a side started with {@linkcode startSide} to exit: its status and all it said. */
export async function finishSide(
  side: RunningSide,
): Promise<{ status: Deno.CommandStatus; stderr: string }> {
  let rest = "";
  for (let r = await side.stderr.read(); !r.done; r = await side.stderr.read()) rest += r.value;
  await side.child.stdout.cancel();
  return { status: await side.child.status, stderr: side.said + rest };
}
