/**
 * Byte counts for people: reading `64K` on a command line, printing `1.50 MiB`. Binary units
 * throughout (K = 1024), as the kernel counts pipe buffers, message sizes and pages. And seconds
 * as a command line takes them back: `0.0000001`, never `1e-7`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatBytes, parseSize } from "./units.ts";
 * assert.equal(formatBytes(parseSize("1536K", "--size", 0)), "1.50 MiB");
 * ```
 *
 * @module
 */

const UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/**
 * Parses a byte count such as `4096`, `64K`, `1M` or `2GiB` (binary units: K = 1024; the
 * `iB` or `B` after the unit is optional, letters in either case). `what` names the value in
 * the message (an option, like `--chunk`); `min` is the smallest count accepted.
 *
 * @throws {RangeError} with one line naming `what` and the text, if the text is not a whole
 *   number of bytes or is below `min`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSize } from "./units.ts";
 * assert.equal(parseSize("64K", "--chunk", 1), 65536);
 * assert.equal(parseSize("2GiB", "--size", 0), 2 * 1024 ** 3);
 * assert.throws(
 *   () => parseSize("lots", "--chunk", 1),
 *   new RangeError(`--chunk must be a whole number of bytes, like 4096 or 64K: got "lots"`),
 * );
 * assert.throws(
 *   () => parseSize("0", "--chunk", 1),
 *   new RangeError(`--chunk must be at least 1: got "0"`),
 * );
 * ```
 */
export function parseSize(text: string, what: string, min: number): number {
  const match = text.trim().match(/^(\d+)\s*([kmg]?)(i?b)?$/i);
  const value = match ? Number(match[1]) * UNITS[match[2]!.toLowerCase()]! : NaN;
  if (match && !Number.isSafeInteger(value)) {
    throw new RangeError(
      `${what} is too large: at most ${Number.MAX_SAFE_INTEGER} bytes (8 PiB): got ${
        JSON.stringify(text)
      }`,
    );
  }
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(
      `${what} must be a whole number of bytes, like 4096 or 64K: got ${JSON.stringify(text)}`,
    );
  }
  if (value < min) {
    throw new RangeError(`${what} must be at least ${min}: got ${JSON.stringify(text)}`);
  }
  return value;
}

/**
 * Formats a byte count for people: `300 bytes`, `1 byte`, `1.50 MiB`, `64.0 KiB` (two
 * decimals below 10, one above).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatBytes } from "./units.ts";
 * assert.equal(formatBytes(1), "1 byte");
 * assert.equal(formatBytes(300), "300 bytes");
 * assert.equal(formatBytes(64 * 1024), "64.0 KiB");
 * assert.equal(formatBytes(1.5 * 1024 ** 2), "1.50 MiB");
 * ```
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} byte${bytes === 1 ? "" : "s"}`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/**
 * A number of seconds as a command line (`--timeout`) takes it: plain decimal digits, never the
 * exponent form JavaScript prints for very small or large numbers (`String(1e-7)` is `"1e-7"`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatSeconds } from "./units.ts";
 * assert.equal(formatSeconds(1e-7), "0.0000001");
 * assert.equal(formatSeconds(1e21), "1000000000000000000000");
 * assert.equal(formatSeconds(0.5), "0.5");
 * ```
 */
export function formatSeconds(seconds: number): string {
  const text = String(seconds);
  const match = text.match(/^(\d+)(?:\.(\d+))?e([+-]\d+)$/);
  if (!match) return text;
  const [, whole, fraction = "", exponent] = match;
  const digits = whole! + fraction;
  const point = whole!.length + Number(exponent);
  if (point <= 0) return `0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return digits + "0".repeat(point - digits.length);
  return `${digits.slice(0, point)}.${digits.slice(point)}`;
}
