/**
 * The FIFO lesson's client: the reader.
 *
 * It makes the FIFO (unless the server did), waits for a writer, and copies what it reads
 * into the output file until end-of-file.
 *
 * @module
 */

import { makeFifo } from "../../transports/fifo.ts";
import type { Side } from "../_lesson.ts";
import { formatBytes } from "../_log.ts";
import type { FifoOptions } from "./main.ts";

/** Copies what comes through the FIFO at `side.options.path` into the output file. */
export async function client(side: Side<FifoOptions>): Promise<void> {
  const { log } = side;
  const { path } = side.options;

  // 1. Create the output first (as OUTPUT.PID.partial, renamed at the end): a bad output
  //    path should fail before anyone waits for us.
  using output = side.createOutput();
  log.say(`I am the client, the reader: I write ${JSON.stringify(output.path)}`);

  // 2. Make the FIFO with mkfifo(3), unless the server made it first.
  using fifo = side.own(makeFifo(path));
  if (fifo.created) {
    log.say(`created the FIFO ${path} with mkfifo(), mode 0600: ls -l shows it as prw-------`);
  } else {
    log.say(`the FIFO ${path} is already there: the server made it, and will remove it`);
  }
  if (side.byHand && side.options.pathIsDefault) {
    log.say(`in another terminal, run: deno task lesson:fifo server --path ${path} --input FILE`);
  }

  // 3. Open the read end and wait until a writer has connected.
  log.say(`waiting for a writer on ${path}`);
  using readEnd = await fifo.open("read", { timeout: side.timeoutMs });
  log.say(`a writer has connected (pipe inode ${readEnd.inode})`);
  if (fifo.created) {
    fifo.unlink();
    log.say(`removed the name ${path}: the open pipe does not need it`);
  }

  // 4. The copy loop: read what is in the pipe, append it to the output. read() waits while
  //    the pipe is empty and returns 0 only when every write end is closed.
  const buf = new Uint8Array(side.chunk);
  side.startClock();
  for (;;) {
    const n = await readEnd.read(buf);
    if (n === 0) break;
    output.write(buf.subarray(0, n));
    side.count(n);
  }
  side.stopClock();
  log.say(`end-of-file after ${formatBytes(side.bytes)}: the writer has closed its end`);

  // 5. The copy is complete: move it into place.
  output.commit();
  log.say(`wrote ${JSON.stringify(output.path)}`);
}
