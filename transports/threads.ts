/**
 * The threads of a process, as the kernel lists them: `/proc/PID/task/`, one folder per thread,
 * named by its thread id (what `gettid()` returns in that thread), with its name in `comm`.
 *
 * Threads leave no kernel objects behind: everything they share (memory, descriptors) belongs to
 * their process, and goes when the process goes. So the threads lesson has nothing for
 * `deno task clean` to find, and its transports export no leftover finder.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gettid } from "./libc.ts";
 * import { threadsOf } from "./threads.ts";
 * const threads = threadsOf(Deno.pid);
 * assert.ok(threads.some((thread) => thread.tid === gettid())); // this one
 * assert.equal(threads[0]!.tid, Deno.pid); // the first thread's id is the process's
 * ```
 *
 * @module
 */

/** One thread of a process. */
export interface ThreadInfo {
  /** Its kernel thread id. */
  tid: number;
  /** Its name (`/proc/PID/task/TID/comm`): Deno names its own helper threads. */
  name: string;
}

/** The threads of process `pid` now, by thread id (the main thread, whose id is `pid`, first). */
export function threadsOf(pid: number): ThreadInfo[] {
  const threads: ThreadInfo[] = [];
  for (const entry of Deno.readDirSync(`/proc/${pid}/task`)) {
    const tid = Number(entry.name);
    let name = "?";
    try {
      name = Deno.readTextFileSync(`/proc/${pid}/task/${tid}/comm`).trim();
    } catch { /* the thread has just ended */ }
    threads.push({ tid, name });
  }
  // The main thread first; then by id. (Not by id alone: ids are handed out in turn up to
  // /proc/sys/kernel/pid_max and then wrap, so a thread made later may have a smaller id.)
  return threads.sort((a, b) => Number(b.tid === pid) - Number(a.tid === pid) || a.tid - b.tid);
}
