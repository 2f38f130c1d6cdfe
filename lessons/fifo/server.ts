/**
 * The FIFO lesson's server: the writer.
 *
 * It makes the FIFO (unless the client did), waits for a reader, and writes the input file
 * into it chunk by chunk. Closing the write end is how it says "that was all": the reader
 * sees end-of-file.
 *
 * @module
 */

import { type Fifo, makeFifo } from "../../transports/fifo.ts";
import { LibcError } from "../../transports/libc.ts";
import { pipeMaxSize } from "../../transports/pipe.ts";
import { formatBytes } from "../../transports/units.ts";
import { sleep } from "../../transports/wait.ts";
import { LessonError, type Side } from "../_lesson.ts";
import { describeError } from "../_side.ts";
import { aboutFoundFifo, type FifoOptions, LOOK_EVERY_MS, refuseOtherWriters } from "./common.ts";

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
  //    A FIFO already there may have others on it: /proc/PID/fdinfo says which end each has
  //    open. A reader is the client, waiting for us. A writer is another server: our bytes
  //    would mix with its bytes, so we refuse, unless told to share (--keep-name, exercise 3).
  //    One with no end yet is a server waiting for a reader, like us: see step 3.
  using fifo = makeFifo(path);
  let waitingBeside: number[] = [];
  if (fifo.created) {
    log.say(`created the FIFO ${path} with mkfifo(), mode 0600: ls -l shows it as prw-------`);
  } else {
    const users = fifo.otherUsers();
    if (!side.options.keepName) refuseOtherWriters(path, users);
    waitingBeside = users.filter((user) => !user.reads && !user.writes).map((user) => user.pid);
    log.say(aboutFoundFifo(fifo, "server", users));
  }
  if (side.byHand && side.options.pathIsDefault) {
    log.say(
      `in another terminal, run: deno task lesson:fifo client --path ${path} --output copy.txt`,
    );
  }

  // 3. Open the write end. A FIFO's open() waits until the other end is opened too. A server
  //    found waiting beside us connects too when the reader comes: if it removes the name
  //    before our next try, or soon after we connect, the FIFO was made for that one writer.
  log.say(`waiting for a reader on ${path}`);
  using writeEnd = await fifo.open("write", side.waits).catch((error) => {
    if (error instanceof Deno.errors.NotFound && waitingBeside.length > 0) {
      throw notShared(path, waitingBeside);
    }
    throw error;
  });
  log.say(`a reader has opened the FIFO: we are connected (pipe inode ${writeEnd.inode})`);
  if (waitingBeside.length > 0 && !side.options.keepName) {
    await joinOnlyIfShared(fifo, waitingBeside, side);
  }

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
    after === before // (another writer of the same FIFO may have raised it already)
      ? `pipe buffer: ${formatBytes(before)} already, as large as fcntl(F_SETPIPE_SZ) would make it`
      : `pipe buffer: ${formatBytes(before)}, raised to ${
        formatBytes(after)
      } with fcntl(F_SETPIPE_SZ)`,
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
  try {
    for (;;) {
      if (performance.now() >= lookAt) {
        lookForReaders();
        lookAt = performance.now() + LOOK_EVERY_MS;
      }
      const n = input.read(buf);
      if (n === 0) break;
      await writeEnd.write(buf.subarray(0, n));
      side.count(n);
    }
  } catch (error) {
    // EPIPE: no reader is left, so nobody will ever read these bytes.
    if (error instanceof LibcError && error.code === "EPIPE") {
      throw new LessonError(
        `the client exited after the server had sent ${
          formatBytes(side.bytes)
        }: transfer incomplete (write failed with EPIPE: the FIFO has no reader)`,
      );
    }
    // Anything else ends the server early (a timeout, Ctrl-C, a failed read of the input). Our
    // end closes as we exit, and a reader cannot tell that from the end of the file: the
    // byte stream has no other way to say "that was all" (exercise 2 adds one).
    const early = `the client will see end-of-file and may keep a short copy (${
      formatBytes(side.bytes)
    } of ${formatBytes(input.size)}) as if it were whole`;
    if (side.signal.aborted) {
      // The runner words the interruption itself; say what it means for the client first.
      log.say(`stopping early: ${early}`);
      throw error;
    }
    throw new LessonError(`${describeError(error).message}; ${early}`);
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

/** A FIFO made for one writer, which another server found first: we leave, writing nothing. */
function notShared(path: string, others: number[]): LessonError {
  return new LessonError(
    `process ${others.join(", ")}, another writer, was waiting on the FIFO ${path} before me, ` +
      "and the name was removed once a reader came: the FIFO was made for one writer, so I " +
      "leave without writing (our bytes would mix in the reader's copy); start every server " +
      "with --keep-name to share a FIFO on purpose (exercise 3), or choose another --path",
  );
}

/** How long the servers waiting beside us get to connect once a reader has come, in ms. */
const SETTLE_MS = 500;
/** How long the name is watched after that: a maker without --keep-name removes it at once. */
const NAME_WATCH_MS = 200;

/**
 * When we found another server waiting on the FIFO (step 2), the reader that has just come
 * connects it too, and both would write into one stream. That is exercise 3, on purpose, only
 * if the FIFO's maker keeps its name (--keep-name); a maker without it removes the name as soon
 * as it is connected. So: let the waiting ones connect, watch the name for a moment, and if it
 * goes, leave without writing a byte (closing an end we never wrote to changes no copy).
 */
async function joinOnlyIfShared(fifo: Fifo, waiting: number[], side: Side<FifoOptions>) {
  // A waiting writer tries its open again every 20 ms at most: give them time to get an end.
  let now = fifo.otherUsers();
  for (const deadline = performance.now() + SETTLE_MS; performance.now() < deadline;) {
    const pending = (pid: number) =>
      now.some((user) => user.pid === pid && !user.reads && !user.writes);
    if (!waiting.some(pending)) break;
    await sleep(10, side.signal);
    now = fifo.otherUsers();
  }
  // The ones now reading were a client opening its end (the reader we waited for): no other
  // writer. The others connected as writers (or have come and gone already).
  const others = waiting.filter((pid) => !now.some((user) => user.pid === pid && user.reads));
  if (others.length === 0) return;
  for (const end = performance.now() + NAME_WATCH_MS;;) {
    if (!fifo.stillNamed()) throw notShared(fifo.path, others);
    if (performance.now() >= end) break;
    await sleep(20, side.signal);
  }
  side.log.say(
    `process ${others.join(", ")} writes into the FIFO too, and its maker keeps the name ` +
      "(--keep-name): we share it on purpose (exercise 3), and our chunks may interleave",
  );
}
