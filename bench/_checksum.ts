/**
 * The benchmark receivers' checksum: CRC-32, fed piece by piece (`node:zlib`'s `crc32`, which
 * takes the CRC so far and goes on from it), with the byte count beside it. It does not depend
 * on how the stream is cut into reads, and it catches lost, repeated, reordered or damaged
 * bytes.
 *
 * It must cost little next to the channel, so that the channel is what is measured: the
 * runtime computes it natively, at 20–35 GB/s on one core here, about 2 µs per 64 KiB. (A
 * checksum written in JavaScript ran at 6–9 GB/s, 7–11 µs per 64 KiB: more than the read that
 * brought the data. The C reference's own checksum runs at about 10 GB/s, some 6 µs per 64 KiB;
 * the report shows both.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StreamChecksum } from "./_checksum.ts";
 * const data = new TextEncoder().encode("123456789");
 * const whole = new StreamChecksum();
 * whole.update(data);
 * assert.equal(whole.digest(), "cbf43926-9"); // the CRC-32 check value
 * const pieces = new StreamChecksum();
 * for (let i = 0; i < data.length; i += 4) pieces.update(data.subarray(i, i + 4));
 * assert.equal(pieces.digest(), whole.digest());
 * const swapped = new StreamChecksum(); // the same bytes, two of them reordered
 * swapped.update(new TextEncoder().encode("123456798"));
 * assert.notEqual(swapped.digest(), whole.digest());
 * ```
 *
 * @module
 */

import { crc32 } from "node:zlib";

/** A checksum fed piece by piece. */
export class StreamChecksum {
  #crc = 0;
  #total = 0;

  /** Adds the next bytes of the stream. */
  update(data: Uint8Array): void {
    this.#crc = crc32(data, this.#crc);
    this.#total += data.length;
  }

  /** The checksum of everything so far: the CRC-32 in hex, and the byte count. */
  digest(): string {
    return `${this.#crc.toString(16).padStart(8, "0")}-${this.#total}`;
  }
}

/** A block of `size` pseudo-random bytes from `seed` (xorshift32): the senders' source. */
export function sourceBlock(size: number, seed = 1): Uint8Array<ArrayBuffer> {
  const block = new Uint8Array(size);
  const words = new Uint32Array(block.buffer, 0, size >> 2);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    words[i] = state;
  }
  return block;
}
