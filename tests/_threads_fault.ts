/**
 * The threads lesson's process, with threads that fail on purpose at a stage no option reaches:
 * `THREADS_FAULT=STAGE:ROLE deno run -A tests/_threads_fault.ts server --output …`.
 *
 * - `load:ROLE`: that thread's program throws as it loads, before it has a channel;
 * - `run:ROLE`: it says its thread id, then throws when it is given its side and channel;
 * - `silent:ROLE`: it loads, and never says its thread id (the start times out).
 *
 * The other thread runs the lesson's own program (`lessons/threads/thread.ts`).
 *
 * @module
 */

import { lesson } from "../lessons/threads/main.ts";
import { runProcess } from "../lessons/threads/process.ts";

await runProcess(lesson, Deno.args, new URL("./_threads_fault_worker.ts", import.meta.url));
