/**
 * Mutants: typical wrong solutions, each the reference solution with one mistake made on
 * purpose. The tests grade each one and check that it loses the points of the check named for
 * its mistake, and no other. Kept as small edits of the solution, so that they follow it.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Assignment } from "./_grader.ts";
import { ASSIGNMENTS_DIR } from "./_grader.ts";

/** One typical mistake. */
export interface Mutant {
  /** A short name: `reads-once`. */
  name: string;
  /** The check that must catch it (and be the only one to). */
  check: string;
  /** The mistake, in a sentence. */
  mistake: string;
  /** What the grader's reason must say: the mistake named, not just any failure. */
  says: RegExp;
  /** Edits of the solution: each `[text, replacement]`; the text must occur exactly once. */
  edits: [string, string][];
}

/** The solution with `mutant`'s edits, with its imports made absolute; throws if one misses. */
export function mutate(assignment: Assignment, mutant: Mutant): string {
  const path = join(ASSIGNMENTS_DIR, assignment.name, assignment.solution);
  let text = Deno.readTextFileSync(path);
  for (const [from, to] of mutant.edits) {
    const at = text.indexOf(from);
    if (at < 0 || text.indexOf(from, at + 1) >= 0) {
      throw new Error(
        `mutant ${mutant.name} of ${assignment.name}: its edit must match the solution exactly once: ${
          JSON.stringify(from.slice(0, 60))
        }`,
      );
    }
    text = text.slice(0, at) + to + text.slice(at + from.length);
  }
  const base = pathToFileURL(dirname(path) + "/");
  return text.replace(
    /from "(\.[^"]+)"/g,
    (_, spec: string) => `from "${new URL(spec, base).href}"`,
  );
}

/** Writes the mutant into `dir` and returns its path. */
export function writeMutant(assignment: Assignment, mutant: Mutant, dir: string): string {
  const path = join(dir, `${assignment.name}-${mutant.name}.ts`);
  Deno.writeTextFileSync(path, mutate(assignment, mutant));
  return path;
}
