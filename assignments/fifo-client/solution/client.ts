/**
 * Reference solution: the FIFO lesson's client (lessons/fifo/client.ts), as a plain program.
 *
 *     deno run -A client.ts --path /tmp/my.fifo --output copy.bin [--timeout SECONDS]
 *
 * Makes the FIFO (unless the server did), waits for a writer, removes the name once both ends
 * are open, and copies what it reads into the output until end-of-file.
 *
 * @module
 */

import { makeFifo, OutputFile, runProgram } from "../../../mod.ts";

await runProgram(async ({ args, waits }) => {
  // 1. Create the output first (an unnamed file, named only by commit()): a bad output path
  //    fails before anyone waits for us, and a failed copy never appears.
  using output = new OutputFile(args.output);

  // 2. Make the FIFO with mkfifo(3), mode 0600, unless the server already has. `using`
  //    removes the name on every way out if we made it.
  using fifo = makeFifo(args.path);

  // 3. Open the read end: it waits until a writer has connected (or the timeout, or Ctrl-C).
  using readEnd = await fifo.open("read", waits);

  // 4. Both ends are open: the name has done its job. Removed now, nothing is left behind
  //    even if one of us is killed later.
  fifo.unlink();

  // 5. Read until read() returns 0, end-of-file: every write end is closed. A short read is
  //    not the end, only what the pipe held at that moment.
  const buf = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await readEnd.read(buf);
    if (n === 0) break;
    output.write(buf.subarray(0, n));
  }

  // 6. The copy is complete: only now does the output get its name.
  output.commit();
}, { options: ["path", "output"] });
