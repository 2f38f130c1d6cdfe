/**
 * Unit tests of byte counts for people (units.ts): what parseSize accepts and the one line it
 * refuses the rest with, and how formatBytes prints each range.
 */

import assert from "node:assert/strict";
import { formatBytes, formatSeconds, parseSize } from "./units.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

Deno.test("parseSize: plain numbers and binary units, in either case, with or without iB", () => {
  const cases: [string, number][] = [
    ["0", 0],
    ["4096", 4096],
    ["64K", 64 * KiB],
    ["64k", 64 * KiB],
    ["64KiB", 64 * KiB],
    ["64kb", 64 * KiB],
    ["1M", MiB],
    ["1 MiB", MiB],
    [" 2G ", 2 * GiB],
    ["2GiB", 2 * GiB],
    ["8388607G", 8388607 * GiB], // the largest whole GiB count below 2^53
  ];
  for (const [text, bytes] of cases) assert.equal(parseSize(text, "--size", 0), bytes, text);
});

Deno.test("parseSize: anything else is refused with one line naming the option and the text", () => {
  for (
    const text of [
      "",
      "lots",
      "1.5K",
      "-1",
      "1T",
      "K",
      "0x10",
      "1e3",
    ]
  ) {
    assert.throws(
      () => parseSize(text, "--chunk", 1),
      new RangeError(
        `--chunk must be a whole number of bytes, like 4096 or 64K: got ${JSON.stringify(text)}`,
      ),
      text,
    );
  }
  assert.throws(
    () => parseSize("0", "--chunk", 1),
    new RangeError(`--chunk must be at least 1: got "0"`),
  );
  assert.equal(parseSize("1", "--chunk", 1), 1, "the minimum itself is accepted");
});
// Found by review: a size too large was said not to be a whole number.
Deno.test("parseSize: a whole number too large says so", () => {
  for (const text of ["9007199254740993", "8388608G", "9999999G"]) {
    assert.throws(
      () => parseSize(text, "--size", 0),
      new RangeError(
        `--size is too large: at most 9007199254740991 bytes (8 PiB): got ${JSON.stringify(text)}`,
      ),
      text,
    );
  }
});

Deno.test("formatBytes: bytes below 1 KiB, then two decimals below 10 and one above", () => {
  const cases: [number, string][] = [
    [0, "0 bytes"],
    [1, "1 byte"],
    [2, "2 bytes"],
    [1023, "1023 bytes"],
    [KiB, "1.00 KiB"],
    [1536, "1.50 KiB"],
    [10 * KiB, "10.0 KiB"],
    [1023 * KiB, "1023.0 KiB"],
    [MiB, "1.00 MiB"],
    [64 * MiB, "64.0 MiB"],
    [GiB, "1.00 GiB"],
    [1024 * GiB, "1.00 TiB"],
    [2048 * 1024 * GiB, "2048.0 TiB"], // TiB is the largest unit
  ];
  for (const [bytes, text] of cases) assert.equal(formatBytes(bytes), text, String(bytes));
});

Deno.test("formatSeconds: plain decimal digits, never the exponent form", () => {
  assert.equal(formatSeconds(1e-7), "0.0000001");
  assert.equal(formatSeconds(1.5e-7), "0.00000015");
  assert.equal(formatSeconds(1e21), "1000000000000000000000");
  assert.equal(formatSeconds(2.5e21), "2500000000000000000000");
  assert.equal(formatSeconds(0.5), "0.5");
  assert.equal(formatSeconds(86400), "86400");
});
