/**
 * The lessons, one line each: the only list of them in the project. The tests, the benchmark,
 * `bench:faults` and `deno task clean` iterate it, so adding a lesson is its folder, its
 * transport, one line here, its task in deno.json, its export in mod.ts, its test file and its
 * row in README's course map.
 *
 * Pure data, importing nothing: the benchmark reads which lessons exist without loading the
 * lesson runner, and layers still point down.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LESSONS } from "./registry.ts";
 * assert.ok(LESSONS.some((lesson) => lesson.method === "fifo"));
 * ```
 *
 * @module
 */

/** One lesson of the collection. */
export interface LessonEntry {
  /** The name in `deno task lesson:<method>`. */
  readonly method: string;
  /** Its program, relative to the project's root. */
  readonly main: string;
  /** The transport module its channel comes from, relative to the project's root. */
  readonly transport: string;
}

/** Every lesson, in the order of the course. */
export const LESSONS: readonly LessonEntry[] = [
  { method: "pipe", main: "lessons/pipe/main.ts", transport: "transports/pipe.ts" },
  { method: "fifo", main: "lessons/fifo/main.ts", transport: "transports/fifo.ts" },
  { method: "mq", main: "lessons/mq/main.ts", transport: "transports/mq.ts" },
  { method: "shm", main: "lessons/shm/main.ts", transport: "transports/ring_buffer.ts" },
];

/** The methods, in course order: `["pipe", "fifo", "mq", "shm"]`. */
export const METHODS: readonly string[] = LESSONS.map((lesson) => lesson.method);
