/**
 * The benchmark's view of the lessons: the registry says which lessons exist and which
 * transport each uses; each transport's exported `channel` (see `transports/channel.ts`) says
 * how to open its channel. So the benchmark has no list of methods of its own, and a new
 * lesson is measured as soon as it is in the registry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadChannel, lessonNamed } from "./_channels.ts";
 * const fifo = await loadChannel(lessonNamed("fifo")!);
 * assert.equal(fifo?.kind, "named");
 * ```
 *
 * @module
 */

import { type LessonEntry, LESSONS } from "../lessons/registry.ts";
import type { ChannelAdapter } from "../transports/channel.ts";

/** The project's root, which the registry's paths are relative to. */
export const ROOT: URL = new URL("../", import.meta.url);

/** The lesson called `method` in the registry, or undefined. */
export function lessonNamed(method: string): LessonEntry | undefined {
  return LESSONS.find((lesson) => lesson.method === method);
}

/**
 * The channel adapter a lesson's transport exports as `channel`; null if it exports none (the
 * benchmark then measures only the lesson's demo, in file mode).
 */
export async function loadChannel(lesson: LessonEntry): Promise<ChannelAdapter | null> {
  const module = await import(new URL(lesson.transport, ROOT).href);
  const channel = module["channel"] as ChannelAdapter | undefined;
  return channel?.kind === "named" || channel?.kind === "inherited" ? channel : null;
}
