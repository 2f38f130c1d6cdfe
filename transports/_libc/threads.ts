/**
 * Threads: the kernel's id of the calling thread (gettid(2)).
 *
 * To the kernel, a thread is a task like a process is: it has an id from the same counter as
 * process ids. The first thread's id is the process id; every other thread of the process has
 * its own, listed in `/proc/PID/task/`. `Deno.pid` is the process's id (getpid(2)), the same
 * in every thread; `gettid()` tells the threads apart.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gettid } from "../libc.ts";
 * const tid = gettid(); // under `deno run`, on the main thread: Deno.pid
 * assert.ok([...Deno.readDirSync("/proc/self/task")].some((entry) => Number(entry.name) === tid));
 * ```
 *
 * @module
 */

import { c } from "./ffi.ts";
import { tracer } from "./trace.ts";

/**
 * `gettid(2)`: the kernel's id of the calling thread (a JavaScript Worker runs on a thread of
 * its own, so each Worker gets its own). It cannot fail, so errno is not read.
 */
export function gettid(): number {
  const tid = c.gettid();
  tracer?.(`gettid() = ${tid}`);
  return tid;
}

/**
 * `sched_yield(2)`: gives the CPU to another thread that is ready to run on it, if any, and
 * returns at once otherwise. A thread that spins waiting for its peer calls it between tries:
 * on a busy machine the peer may be waiting for this very CPU, and a spin that never yields
 * keeps it waiting until the spin ends. It cannot fail on Linux. Not traced: a spin calls it
 * many times a millisecond, and the ring's own `--trace` lines say when a thread spins.
 */
export function sched_yield(): void {
  c.sched_yield();
}
