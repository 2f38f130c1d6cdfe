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
  /**
   * "threads" when the two sides are threads of one process (the demo starts that one process):
   * a signal, `--kill-after` too, reaches the process, so both sides at once. Else processes.
   */
  readonly sides?: "threads";
  /**
   * More ways to run its demo that the benchmark measures too, each as a row of its own in file
   * mode, named `<method> <args>` (`threads --model message`). None: the demo as it comes only.
   */
  readonly variants?: readonly (readonly string[])[];
}

/** Every lesson, in the order of the course. */
export const LESSONS: readonly LessonEntry[] = [
  { method: "pipe", main: "lessons/pipe/main.ts", transport: "transports/pipe.ts" },
  { method: "fifo", main: "lessons/fifo/main.ts", transport: "transports/fifo.ts" },
  { method: "mq", main: "lessons/mq/main.ts", transport: "transports/mq.ts" },
  { method: "sysv-mq", main: "lessons/sysv-mq/main.ts", transport: "transports/sysv_mq.ts" },
  { method: "shm", main: "lessons/shm/main.ts", transport: "transports/ring_buffer.ts" },
  { method: "sysv-shm", main: "lessons/sysv-shm/main.ts", transport: "transports/sysv_shm.ts" },
  { method: "unix", main: "lessons/unix/main.ts", transport: "transports/socket.ts" },
  { method: "tcp", main: "lessons/tcp/main.ts", transport: "transports/tcp.ts" },
  {
    method: "threads",
    main: "lessons/threads/main.ts",
    transport: "transports/shared_ring.ts",
    sides: "threads",
    variants: [["--model", "message"]],
  },
];

/** The methods, in course order: `["pipe", "fifo", "mq", "shm"]`. */
export const METHODS: readonly string[] = LESSONS.map((lesson) => lesson.method);
