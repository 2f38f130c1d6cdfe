/**
 * POSIX IPC names, as `shm_open(3)`, `sem_open(3)` and `mq_open(3)` take them: a slash followed
 * by one file-name component, such as `/ipc-lesson-shm-4711-3f9a2c`.
 *
 * On Linux the name becomes a file name: `/dev/shm/NAME` for shared memory, `/dev/shm/sem.NAME`
 * for a named semaphore, `/dev/mqueue/NAME` for a message queue. So the part after the slash
 * may not contain another slash and is at most `NAME_MAX` (255) bytes long, minus any prefix
 * the C library adds.
 *
 * @module
 */

/** The longest file name Linux accepts, in bytes (`NAME_MAX` in `<limits.h>`). */
export const NAME_MAX = 255;

const encoder = new TextEncoder();

/**
 * What is wrong with `name` as a POSIX IPC name whose part after the slash may hold at most
 * `maxBytes` bytes, as the end of a sentence ("must start with a slash, …"); null if nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { posixNameProblem } from "./_names.ts";
 * assert.equal(posixNameProblem("/ring", 255), null);
 * assert.equal(posixNameProblem("ring", 255), "must start with a slash, like /ring");
 * ```
 */
export function posixNameProblem(name: string, maxBytes: number): string | null {
  if (!name.startsWith("/")) return `must start with a slash, like /${name || "my-ring"}`;
  const rest = name.slice(1);
  if (rest === "") return "needs a name after the slash";
  if (rest.includes("/")) {
    return "must not contain a second slash: a POSIX IPC name is a single component";
  }
  if (rest === "." || rest === "..") return `cannot be ${JSON.stringify(name)}`;
  if (rest.includes("\0")) return "must not contain a NUL byte";
  const bytes = encoder.encode(rest).length;
  if (bytes > maxBytes) {
    return `is too long: ${bytes} bytes after the slash, at most ${maxBytes}`;
  }
  return null;
}
