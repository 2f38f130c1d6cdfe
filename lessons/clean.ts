/**
 * `deno task clean`: removes the kernel objects that killed lesson runs left behind.
 *
 * A process killed with SIGKILL gets no chance to clean up, so its FIFO, queue, shared-memory
 * segment or semaphores stay in the kernel until someone removes them. This finds only this
 * project's objects (their names start with `ipc-lesson-`), only this user's, and leaves
 * alone any whose creating process still runs.
 *
 *     deno task clean             list and remove
 *     deno task clean --dry-run   only list
 *
 * @module
 */

import { parseArgs } from "node:util";
import { findLeftovers } from "./_leftovers.ts";

const USAGE = "usage: deno task clean [--dry-run]";

function main(args: string[]): number {
  let dryRun: boolean;
  try {
    const { values } = parseArgs({
      args,
      options: { "dry-run": { type: "boolean" }, help: { type: "boolean" } },
      strict: true,
    });
    if (values.help) {
      console.log(
        `${USAGE}\n\nLists and removes the FIFOs, message queues, shared-memory segments and`,
      );
      console.log(
        "semaphores (names starting with ipc-lesson-) that killed lesson runs left behind.",
      );
      return 0;
    }
    dryRun = values["dry-run"] === true;
  } catch (error) {
    console.error(`error: ${(error as Error).message.split(".")[0]} (${USAGE})`);
    return 2;
  }

  const { found, notes } = findLeftovers();
  for (const note of notes) console.log(`note: ${note}`);
  const stale = found.filter((object) => object.runningPid === null);
  for (const object of found.filter((object) => object.runningPid !== null)) {
    console.log(
      `in use  ${object.kind.padEnd(14)} ${object.path}  (process ${object.runningPid} still runs)`,
    );
  }
  if (stale.length === 0) {
    console.log("nothing to clean: no objects left behind by lesson runs");
    return 0;
  }
  let failed = 0;
  for (const object of stale) {
    if (dryRun) {
      console.log(`would remove  ${object.kind.padEnd(14)} ${object.path}`);
      continue;
    }
    try {
      object.remove();
      console.log(`removed  ${object.kind.padEnd(14)} ${object.path}`);
    } catch (error) {
      failed++;
      console.log(
        `could not remove  ${object.kind.padEnd(14)} ${object.path}: ${(error as Error).message}`,
      );
    }
  }
  if (dryRun) {
    console.log(`${stale.length} object(s) would be removed; run without --dry-run to remove them`);
  }
  return failed === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(main(Deno.args));
