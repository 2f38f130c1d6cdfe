/**
 * What `ftok(3)` needs of its path: the same file in every process that makes the key.
 *
 * @module
 */

import { realpathSync } from "node:fs";

/**
 * What is wrong with `path` as the file `ftok(3)` makes a System V key from, as the end of a
 * sentence; null if nothing. ftok takes the file's inode and device numbers, so server and
 * client agree on the key only if the path names one file for both. A path under `/proc` (or
 * through `/dev/fd`, `/dev/stdin`, which lead there) names another file in each process:
 * `/proc/self` is each process's own.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ftokPathProblem } from "./_ftok.ts";
 * assert.equal(ftokPathProblem("/etc/hostname"), null);
 * assert.match(ftokPathProblem("/proc/self/status")!, /another file in each process/);
 * ```
 */
export function ftokPathProblem(path: string): string | null {
  let real = path;
  try {
    real = realpathSync(path);
  } catch { /* no such file: ftok says so itself */ }
  const perProcess = (p: string) => /^\/(proc|dev\/fd|dev\/std(in|out|err))(\/|$)/.test(p);
  if (!perProcess(path) && !perProcess(real)) return null;
  return "names another file in each process (under /proc, /dev/fd or /dev/stdin, /proc/self " +
    "is each process's own): server and client would get different keys; give the path of a " +
    "regular file";
}
