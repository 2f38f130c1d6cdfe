/**
 * A lesson whose server dies the way Deno dies when it panics (short of open files, in a
 * Worker): it prints Deno's report and exits 1 without a word of its own. The demo must say why.
 *
 * @module
 */

import { defineLesson } from "../lessons/_lesson.ts";
import { runLesson } from "../lessons/_runner.ts";
import { sleep } from "../transports/wait.ts";

/** What Deno 2.9 printed, panicking in a Worker of the threads lesson under `ulimit -n 32`. */
const PANIC = [
  "============================================================",
  "Deno has panicked. This is a bug in Deno. Please report this",
  "thread 'worker-2' (6353) panicked at ext/io/lib.rs:315:47:",
  'called `Result::unwrap()` on an `Err` value: Os { code: 24, kind: Uncategorized, message: "Too many open files" }',
  "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.",
  "",
].join("\n");

export const lesson = defineLesson({
  method: "panicking",
  title: "a server that panics (for the runner's tests)",
  description: "The server prints Deno's panic report and exits 1; the client waits for it.",
  examples: [],
  entry: import.meta.url,
  options: {},
  parse: () => ({}),
  chunk: () => ({ default: 4096, max: 4096, why: "any" }),
  server() {
    Deno.stderr.writeSync(new TextEncoder().encode(PANIC));
    Deno.exit(1);
  },
  async client(side) {
    await sleep(side.timeoutMs, side.signal);
  },
});

if (import.meta.main) await runLesson(lesson, Deno.args);
