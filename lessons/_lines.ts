/**
 * Splits a stream of text into lines (without the line breaks), like `TextLineStream` from the
 * standard library, which this project does without.
 *
 * @module
 */

/**
 * A `TransformStream` from text chunks to lines.
 *
 * @example
 * ```ts
 * import { TextLineStream } from "./_lines.ts";
 * const lines = ReadableStream.from(["a\nb", "c\n"]).pipeThrough(new TextLineStream());
 * for await (const line of lines) console.log(line); // "a", then "bc"
 * ```
 */
export class TextLineStream extends TransformStream<string, string> {
  /** A new line splitter. */
  constructor() {
    let rest = "";
    super({
      transform(chunk, controller) {
        const parts = (rest + chunk).split("\n");
        rest = parts.pop()!;
        for (const part of parts) {
          controller.enqueue(part.endsWith("\r") ? part.slice(0, -1) : part);
        }
      },
      flush(controller) {
        if (rest !== "") controller.enqueue(rest);
      },
    });
  }
}
