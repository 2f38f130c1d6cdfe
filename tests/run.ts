/**
 * `deno task test`: the whole suite, then one last step that checks nothing was left behind.
 *
 * 1. `deno test --allow-all --doc` on the project's folders: the test files (`tests/`, and the
 *    unit tests beside the transports and parsers, `*_test.ts`) and every `@example` in the
 *    documentation, which asserts what it shows. Every argument is passed on to `deno test`
 *    (CI adds `--junit-path=FILE`); an argument that is an existing file or folder replaces the
 *    default folders, so `deno task test tests/fifo_test.ts` runs one file. (Give a flag's value
 *    with `=`, as in `--filter=fifo`, so that it is not taken for a path.)
 * 2. Nothing left: after the last test, the suite's temporary folder (the TMPDIR every lesson
 *    ran with, where their FIFOs and lab folders go) must be empty, and no message queue,
 *    shared-memory segment or semaphore of this project (named `ipc-lesson-…`, this user's) may
 *    exist that did not exist before the suite began. `deno task clean` finds them the same
 *    way. This runs after `deno test` has exited, so no test's process is still on its way out.
 *
 * The exit status is `deno test`'s if it failed, else 1 if something was left, else 0.
 *
 *     deno task test                        everything
 *     deno task test tests/clean_test.ts    one file (and the last step)
 *
 * @module
 */

import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { findLeftovers } from "../lessons/clean.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** What `deno test` looks at when no path is given: tests, and the doc examples everywhere. */
const DEFAULT_PATHS = ["mod.ts", "transports/", "lessons/", "bench/", "tests/"];

/** The project's objects as `deno task clean` lists them, one line each: `FIFO /tmp/…`. */
function projectObjects(tmp: string): Set<string> {
  return new Set(findLeftovers({ tmp }).found.map((object) => `${object.kind} ${object.path}`));
}

/** The TMPDIR of every lesson the tests start (see `TMP` in `_helpers.ts`). */
const suiteTmp = Deno.makeTempDirSync({ prefix: "ipc-tests-" });
// Others may pass through it (not list it): tests that act as another user (nobody) work in
// folders of their own inside, as they would in /tmp.
Deno.chmodSync(suiteTmp, 0o711);
// Objects that exist already (a developer's own runs) are not the suite's.
const before = projectObjects(suiteTmp);

// `deno task` runs this in the project's folder; a path means what it meant where it was typed.
const typedIn = Deno.env.get("INIT_CWD") ?? Deno.cwd();
const isPath = (arg: string) => !arg.startsWith("-") && existsSync(resolve(typedIn, arg));
const paths = Deno.args.filter(isPath).map((arg) => resolve(typedIn, arg));
const flags = Deno.args.filter((arg) => !isPath(arg));

// Ctrl-C reaches `deno test` as well (the same process group): wait for it to stop.
let interrupted = false;
const onInterrupt = () => interrupted = true;
Deno.addSignalListener("SIGINT", onInterrupt);

const tests = await new Deno.Command(Deno.execPath(), {
  args: ["test", "--allow-all", "--doc", ...flags, ...(paths.length > 0 ? paths : DEFAULT_PATHS)],
  cwd: ROOT,
  // INIT_CWD: the project, wherever `deno task test` was typed: a lesson started with the
  // project as its working directory then takes relative paths from there, as the tests mean.
  env: { IPC_TESTS_TMP: suiteTmp, INIT_CWD: resolve(ROOT) },
}).spawn().status;
Deno.removeSignalListener("SIGINT", onInterrupt);

if (interrupted) {
  try {
    Deno.removeSync(suiteTmp); // only if the tests left it empty
  } catch { /* not empty: kept for a look */ }
  console.error("interrupted: the last step was skipped; deno task clean removes leftovers");
  Deno.exit(130);
}

// The last step.
const left = [...projectObjects(suiteTmp)].filter((object) => !before.has(object));
const files = [...Deno.readDirSync(suiteTmp)].map((entry) => entry.name).sort();
if (left.length === 0 && files.length === 0) {
  Deno.removeSync(suiteTmp);
  console.log("nothing left behind: no object of the project, and the suite's TMPDIR is empty");
} else {
  console.error("error: the suite left things behind:");
  for (const object of left) console.error(`  ${object}`);
  for (const file of files) console.error(`  file ${suiteTmp}/${file}`);
}
const leftSomething = left.length > 0 || files.length > 0;
Deno.exit(!tests.success ? tests.code : leftSomething ? 1 : 0);
