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
import { formatBytes } from "../../transports/units.ts";
import { LessonError, type Side } from "../_lesson.ts";
import { aboutFoundFifo, type FifoOptions, LOOK_EVERY_MS } from "./common.ts";

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

  // 2. Make the FIFO with mkfifo(3), unless it is already there. This creates only a name;
  //    the pipe itself comes to life when both ends are open. Until then we hold the FIFO by
  //    an O_PATH descriptor, which opens neither end but shows in /proc that it is in use.
  using fifo = makeFifo(path);
  if (fifo.created) {
    log.say(`created the FIFO ${path} with mkfifo(), mode 0600: ls -l shows it as prw-------`);
  } else {
    log.say(aboutFoundFifo(fifo, "client"));
  }
  if (side.byHand && side.options.pathIsDefault) {
    log.say(
      `in another terminal, run: deno task lesson:fifo client --path ${path} --output copy.txt`,
    );
  }

  // 3. Open the write end. A FIFO's open() waits until the other end is opened too.
  log.say(`waiting for a reader on ${path}`);
  using writeEnd = await fifo.open("write", side.waits);
  log.say(`a reader has opened the FIFO: we are connected (pipe inode ${writeEnd.inode})`);

  // 4. Both ends are open, so the name has done its job. Removing it now means nothing is
  //    left behind even if a process is killed later; the pipe lives on until both close.
  if (fifo.created && side.options.keepName) {
    log.say(
      `--keep-name: I keep the name ${path} until I exit, so that more processes can open ` +
        `the FIFO meanwhile; then I remove it`,
    );
  } else if (fifo.created) {
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

  // 6. The copy loop: read a chunk from the file, write it into the FIFO. Now and then, look
  //    in /proc for the readers: every byte goes to only one of them (step 7).
  const readers = new Set<number>();
  const lookForReaders = () => {
    for (const user of writeEnd.otherUsers()) if (user.reads) readers.add(user.pid);
  };
  let lookAt = performance.now() + LOOK_EVERY_MS;
  const buf = new Uint8Array(side.chunk);
  side.startClock();
  for (;;) {
    if (performance.now() >= lookAt) {
      lookForReaders();
      lookAt = performance.now() + LOOK_EVERY_MS;
    }
    const n = input.read(buf);
    if (n === 0) break;
    try {
      await writeEnd.write(buf.subarray(0, n));
    } catch (error) {
      // EPIPE: no reader is left, so nobody will ever read these bytes.
      if (error instanceof LibcError && error.code === "EPIPE") {
        throw new LessonError(
          `the client exited after the server had sent ${
            formatBytes(side.bytes)
          }: transfer incomplete (write failed with EPIPE: the FIFO has no reader)`,
        );
      }
      throw error;
    }
    side.count(n);
  }

  // 7. Before closing, look once more: no reader can have seen end-of-file yet, so every one
  //    still there has its end open. Each byte went to only one reader: with two or more, the
  //    bytes were shared out among them, and no copy can be trusted.
  lookForReaders();
  if (readers.size > 1) {
    throw new LessonError(
      `processes ${[...readers].join(", ")} all had the FIFO ${path} open for reading: each ` +
        "byte went to only one of them, so none of their copies can be trusted",
    );
  }

  // 8. Close the write end. Once the reader has emptied the pipe, its read() returns 0:
  //    end-of-file, because no write end is open any more.
  writeEnd.close();
  log.say(
    `sent ${formatBytes(side.bytes)}; closed the write end, so the reader will see end-of-file`,
  );
}
