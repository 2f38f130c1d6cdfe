/**
 * Who else has this kernel object open? Linux answers in `/proc`: every process's open
 * descriptors are links under `/proc/PID/fd/`, and `stat` on such a link gives the device and
 * inode of the object itself (a pipe, a message queue, a file).
 *
 * A channel with no end-of-stream signal of its own (a message queue has no EPIPE and no
 * end-of-file) uses this to notice that its peer has died: if nobody else holds the queue any
 * more, nobody will ever send or receive on it again.
 *
 * Only processes whose `/proc/PID/fd` this user may read are seen: one's own, or all for root.
 *
 * @module
 */

/** The device and inode that identify the object behind descriptor `fd` of this process. */
function identity(pid: number | "self", fd: number | string): string | null {
  try {
    const info = Deno.statSync(`/proc/${pid}/fd/${fd}`);
    return `${info.dev}:${info.ino}`;
  } catch {
    return null; // closed meanwhile, or not ours to look at
  }
}

/**
 * The pids of the other processes that have the same object open as our descriptor `fd`.
 *
 * @example
 * ```ts ignore
 * import { otherHolders } from "./_holders.ts";
 * if (otherHolders(queueFd).length === 0) console.log("the peer has gone");
 * ```
 */
export function otherHolders(fd: number): number[] {
  const wanted = identity("self", fd);
  if (wanted === null) return [];
  const holders: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || pid === Deno.pid) continue;
    let fds: Iterable<Deno.DirEntry>;
    try {
      fds = Deno.readDirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    try {
      for (const link of fds) {
        if (identity(pid, link.name) === wanted) {
          holders.push(pid);
          break;
        }
      }
    } catch { /* the process exited while we looked */ }
  }
  return holders;
}

/**
 * Whether process `pid` is still running: `/proc/PID/stat` exists, and its state is not Z (a
 * zombie: dead, not yet reaped by its parent) or X. `kill(pid, 0)` alone would call a zombie
 * alive.
 *
 * @example
 * ```ts
 * import { isRunning } from "./_holders.ts";
 * console.log(isRunning(Deno.pid)); // true
 * ```
 */
export function isRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.charAt(stat.lastIndexOf(")") + 2);
    return state !== "Z" && state !== "X";
  } catch {
    return false; // gone
  }
}
