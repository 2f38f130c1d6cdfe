/**
 * The pipe lesson's client: the reader. It reads its stdin, which is the read end of a pipe,
 * until end-of-file and writes what it read to the output file.
 *
 * @module
 */

import { isPipe, PipeEnd } from "../../transports/pipe.ts";
import { formatBytes } from "../../transports/units.ts";
import { UsageError } from "../_cli.ts";
import type { Side } from "../_lesson.ts";
import { BY_HAND, type PipeOptions } from "./common.ts";

/** Copies its stdin, a pipe, into the output file. */
export async function client(side: Side<PipeOptions>): Promise<void> {
  const { log } = side;

  // 1. Our stdin must be a pipe: the server (or the shell) connected it for us.
  if (!isPipe(0)) throw new UsageError(`stdin is not a pipe: run ${BY_HAND}`);

  // 2. Create the output (an unnamed file, named only when the copy is complete).
  using output = side.createOutput();
  using readEnd = new PipeEnd(0, side.waits);
  log.say(
    `I am the client, the reader: my stdin (fd 0) is the read end of ${readEnd.kernelObject}`,
  );

  // 3. The copy loop. read() waits while the pipe is empty, and returns 0 (end-of-file) only
  //    when the pipe is empty and every write end, in every process, is closed.
  const buf = new Uint8Array(side.chunk);
  side.startClock();
  for (;;) {
    const n = await readEnd.read(buf);
    if (n === 0) break;
    output.write(buf.subarray(0, n));
    side.count(n);
  }
  side.stopClock();
  log.say(`end-of-file after ${formatBytes(side.bytes)}: every write end of the pipe is closed`);

  // 4. The copy is complete: move it into place.
  log.say(await output.commit());
}
