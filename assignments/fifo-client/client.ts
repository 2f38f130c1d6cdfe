/**
 * Assignment fifo-client: the reader of a FIFO copy. Read README.md first.
 *
 *     deno run -A assignments/fifo-client/client.ts --path /tmp/my.fifo --output copy.bin
 *     deno task grade fifo-client --submission assignments/fifo-client/client.ts
 *
 * Fill in the TODOs. Everything you need is exported by mod.ts; see README.md, "What you may
 * use". runProgram already does the command line, Ctrl-C and the one-line error for you.
 *
 * @module
 */

import { makeFifo, OutputFile, runProgram } from "../../mod.ts";

// (The starter has no `await` yet: delete the next line once you have written yours.)
// deno-lint-ignore require-await
await runProgram(async ({ args, waits }) => {
  // 1. Create the output: an OutputFile is unnamed until commit(), so a failed copy never
  //    appears. `using` throws it away on every way out that is not a commit.
  using output = new OutputFile(args.output);

  // 2. Make the FIFO at args.path (makeFifo: mkfifo(3) with mode 0600, unless the server already
  //    made it). `using` removes the name on every way out if this process made it.
  using fifo = makeFifo(args.path);

  // TODO 3: open the read end of the FIFO. The open waits until a writer has connected: give
  //         it `waits`, so that --timeout and Ctrl-C can end the wait.
  // TODO 4: both ends are open now: remove the FIFO's name (fifo.unlink()).
  // TODO 5: the copy loop: read into a buffer (64 KiB is good) and write what you read to the
  //         output, until read() returns 0 (end-of-file: the writer has closed its end).
  // TODO 6: the copy is complete: output.commit().
  void fifo;
  void output;
  void waits;
  throw new Error("not written yet: the FIFO is made, but never opened (TODO 3 to 6 in client.ts)");
}, { options: ["path", "output"] });
