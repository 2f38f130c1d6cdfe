/**
 * The FIFO lesson's server: the writer.
 *
 * It makes the FIFO (unless the client did), waits for a reader, and writes the input file
 * into it chunk by chunk. Closing the write end is how it says "that was all": the reader
 * sees end-of-file.
 *
 * @module
 */

import { makeFifo } from "../../transports/fifo.ts";
import { LibcError } from "../../transports/libc.ts";
import { pipeMaxSize } from "../../transports/pipe.ts";
import { LessonError } from "../_files.ts";
import type { Side } from "../_lesson.ts";
import { formatBytes } from "../_log.ts";
import type { FifoOptions } from "./main.ts";

/** Sends the input file through the FIFO at `side.options.path`. */
export async function server(side: Side<FifoOptions>): Promise<void> {
  const { log } = side;
  const { path } = side.options;

  // 1. Open the input first: if it is missing, nobody should be kept waiting for us.
  using input = side.openInput();
  log.say(
    `I am the server, the writer: I send ${JSON.stringify(input.path)} (${
      formatBytes(input.size)
    })`,
  );

  // 2. Make the FIFO with mkfifo(3), unless the client made it first. This creates only a
  //    name; the pipe itself comes to life when both ends are open.
  using fifo = side.own(makeFifo(path));
  if (fifo.created) {
    log.say(`created the FIFO ${path} with mkfifo(), mode 0600: ls -l shows it as prw-------`);
  } else {
    log.say(`the FIFO ${path} is already there: the client made it, and will remove it`);
  }
  if (side.byHand && side.options.pathIsDefault) {
    log.say(
      `in another terminal, run: deno task lesson:fifo client --path ${path} --output copy.txt`,
    );
  }

  // 3. Open the write end. A FIFO's open() waits until the other end is opened too.
  log.say(`waiting for a reader on ${path}`);
  using writeEnd = await fifo.open("write", { timeout: side.timeoutMs });
  log.say(`a reader has opened the FIFO: we are connected (pipe inode ${writeEnd.inode})`);

  // 4. Both ends are open, so the name has done its job. Removing it now means nothing is
  //    left behind even if a process is killed later; the pipe lives on until both close.
  if (fifo.created) {
    fifo.unlink();
    log.say(`removed the name ${path}: the open pipe does not need it`);
  }

  // 5. A pipe holds 64 KiB by default; every time it is full, the writer must sleep until the
  //    reader makes room. A bigger pipe means fewer of those hand-offs.
  const before = writeEnd.capacity;
  const after = writeEnd.resize(pipeMaxSize());
  log.say(
    `pipe buffer: ${formatBytes(before)}, raised to ${formatBytes(after)} with fcntl(F_SETPIPE_SZ)`,
  );

  // 6. The copy loop: read a chunk from the file, write it into the FIFO.
  const buf = new Uint8Array(side.chunk);
  side.startClock();
  for (;;) {
    const n = input.read(buf);
    if (n === 0) break;
    try {
      await writeEnd.write(buf.subarray(0, n));
    } catch (error) {
      // EPIPE: no reader is left, so nobody will ever read these bytes.
      if (error instanceof LibcError && error.code === "EPIPE") {
        throw new LessonError(
          `client exited after ${
            formatBytes(side.bytes)
          }: transfer incomplete (write failed with EPIPE: the FIFO has no reader)`,
        );
      }
      throw error;
    }
    side.count(n);
  }

  // 7. Close the write end. Once the reader has emptied the pipe, its read() returns 0:
  //    end-of-file, because no write end is open any more.
  writeEnd.close();
  log.say(
    `sent ${formatBytes(side.bytes)}; closed the write end, so the reader will see end-of-file`,
  );
}
