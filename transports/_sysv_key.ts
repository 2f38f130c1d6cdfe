/**
 * System V keys, shared by the queue and the shared-memory transports: how `ipcs` prints one, and
 * what `ftok(3)` needs of its path (the same file in every process that makes the key).
 *
 * @module
 */

import { realpathSync } from "node:fs";

/**
 * A key as `ipcs` prints it: `0x4c0b1234` (eight hex digits).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatKey } from "./_sysv_key.ts";
 * assert.equal(formatKey(0x1234), "0x00001234");
 * assert.equal(formatKey(-1), "0xffffffff"); // key_t is signed; ipcs shows its bits
 * ```
 */
export function formatKey(key: number): string {
  return `0x${(key >>> 0).toString(16).padStart(8, "0")}`;
}

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
 * import { ftokPathProblem } from "./_sysv_key.ts";
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
