/**
 * Paths on the benchmark's command line, taken from where the user typed the command.
 *
 * @module
 */

import { resolve } from "node:path";

/**
 * `path` as the user meant it: from the folder the command was typed in. `deno task` runs every
 * task in the project's folder and says in INIT_CWD where the user was (as for the lessons,
 * `deno task grade` and `deno task clean`); started any other way, from the working directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { whereTyped } from "./_where.ts";
 * assert.equal(whereTyped("/dev/shm"), "/dev/shm");
 * ```
 */
export function whereTyped(path: string): string {
  return resolve(Deno.env.get("INIT_CWD") || Deno.cwd(), path);
}
