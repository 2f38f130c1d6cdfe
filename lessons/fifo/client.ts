/**
 * The FIFO lesson's client: the reader.
 *
 * It makes the FIFO (unless the server did), waits for a writer, and copies what it reads
 * into the output file until end-of-file.
 *
 * @module
 */

import { makeFifo } from "../../transports/fifo.ts";
import type { PipeUser } from "../../transports/pipe.ts";
import { formatBytes } from "../../transports/units.ts";
import { LessonError, type Side } from "../_lesson.ts";
import { aboutFoundFifo, type FifoOptions, LOOK_EVERY_MS } from "./common.ts";

/** Copies what comes through the FIFO at `side.options.path` into the output file. */
export async function client(side: Side<FifoOptions>): Promise<void> {
  const { log } = side;
  const { path } = side.options;

  // 1. Create the output first (an unnamed file, named at the end): a bad output path should
  //    fail before anyone waits for us.
  using output = side.createOutput();
  log.say(`I am the client, the reader: I write ${JSON.stringify(output.path)}`);

  // 2. Make the FIFO with mkfifo(3), unless it is already there. Until a writer comes, we
  //    hold it by an O_PATH descriptor, which opens neither end but shows in /proc. One found
  //    already open for reading has another client on it: we leave before opening our end,
  //    so that its copy stays whole (see step 4).
  using fifo = makeFifo(path);
  if (fifo.created) {
    log.say(`created the FIFO ${path} with mkfifo(), mode 0600: ls -l shows it as prw-------`);
  } else {
    const users = fifo.otherUsers();
    refuseOtherReaders(users, path, null);
    log.say(aboutFoundFifo(fifo, "client", users));
  }
  if (side.byHand && side.options.pathIsDefault) {
    log.say(`in another terminal, run: deno task lesson:fifo server --path ${path} --input FILE`);
  }

  // 3. Open the read end and wait until a writer has connected.
  log.say(`waiting for a writer on ${path}`);
  using readEnd = await fifo.open("read", side.waits);
  log.say(`a writer has connected (pipe inode ${readEnd.inode})`);

  // 4. Every byte in a pipe goes to exactly one reader. A second reader on the FIFO would take
  //    some of the bytes, and nothing in the stream would tell: look in /proc, before the
  //    first read, now and then while copying, and at the end.
  refuseOtherReaders(readEnd.otherUsers(), path, side.bytes);
  if (fifo.created && side.options.keepName) {
    log.say(
      `--keep-name: I keep the name ${path} until I exit, so that more processes can open ` +
        `the FIFO meanwhile; then I remove it`,
    );
  } else if (fifo.created) {
    fifo.unlink();
    log.say(`removed the name ${path}: the open pipe does not need it`);
  }

  // 5. The copy loop: read what is in the pipe, append it to the output. read() waits while
  //    the pipe is empty and returns 0 only when every write end is closed.
  const buf = new Uint8Array(side.chunk);
  let lookAt = performance.now() + LOOK_EVERY_MS;
  side.startClock();
  for (;;) {
    const n = await readEnd.read(buf);
    if (n === 0) break;
    output.write(buf.subarray(0, n));
    side.count(n);
    if (performance.now() >= lookAt) {
      refuseOtherReaders(readEnd.otherUsers(), path, side.bytes);
      lookAt = performance.now() + LOOK_EVERY_MS;
    }
  }
  side.stopClock();
  refuseOtherReaders(readEnd.otherUsers(), path, side.bytes);
  if (side.bytes === 0) {
    log.say("end-of-file at once: the writer closed its end without writing (an empty input)");
  } else {
    log.say(`end-of-file after ${formatBytes(side.bytes)}: the writer has closed its end`);
  }

  // 6. The copy is complete: move it into place.
  log.say(await output.commit());
}

/**
 * Fails if another process has the FIFO open for reading: it may take (or have taken) some of
 * the bytes, and this copy would be incomplete with nothing to show it. `bytes` is null before
 * this side has opened its end (it leaves, and the other's copy stays whole). One reader that
 * comes and goes between two looks cannot be seen; the demo's SHA-256 check still would.
 */
function refuseOtherReaders(users: PipeUser[], path: string, bytes: number | null): void {
  const readers = users.filter((user) => user.reads).map((user) => user.pid);
  if (readers.length === 0) return;
  const who = `process ${readers.join(", ")} also has the FIFO ${path} open for reading: each ` +
    "byte goes to only one reader, so";
  throw new LessonError(
    bytes === null
      ? `${who} neither of us would get the whole file; I leave before opening my end, so its ` +
        "copy stays whole; choose another --path"
      : bytes === 0
      ? `${who} neither would get the whole file; stop it, or use another --path`
      : `${who} some of the data may have gone to it; this copy (${
        formatBytes(bytes)
      }) cannot be trusted`,
  );
}
