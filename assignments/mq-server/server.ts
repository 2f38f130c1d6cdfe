/**
 * Assignment mq-server: the sender of a POSIX message-queue copy. Read README.md first.
 *
 *     deno run -A assignments/mq-server/server.ts --name /my-queue --input FILE
 *     deno task grade mq-server --submission assignments/mq-server/server.ts
 *
 * Fill in the TODOs. Everything you need is exported by mod.ts; see README.md, "What you may
 * use". runProgram already does the command line, Ctrl-C and the one-line error for you.
 *
 * @module
 */

import { InputFile, MessageQueue, queueLimits, runProgram } from "../../mod.ts";

// (The starter has no `await` yet: delete the next line once you have written yours.)
// deno-lint-ignore require-await
await runProgram(async ({ args, waits }) => {
  // 1. Open the input first: if it is missing, nobody should be kept waiting for us.
  using input = new InputFile(args.input);

  // 2. Create the queue (O_CREAT | O_EXCL, mode 0600), as large as the system allows. `using`
  //    closes it and removes its name on every way out. `waits` makes every send give up after
  //    --timeout, and on Ctrl-C.
  const { maxmsg, msgsize } = queueLimits();
  using queue = MessageQueue.create(args.name, { maxmsg, msgsize, access: "send", ...waits });

  // TODO 3: the copy loop: read the input into a buffer of msgsize bytes (input.read(buf)
  //         returns how many bytes it read, 0 at the end of the file) and send what you read
  //         as one message (await queue.send(...)), until the end of the file.
  // TODO 4: send the end-of-file marker: an empty message.
  // TODO 5: wait until the client has taken every message (await queue.waitUntilEmpty()).
  void input;
  void queue;
  throw new Error(
    "not written yet: the queue is made, but nothing is sent (TODO 3 to 5 in server.ts)",
  );
}, { options: ["name", "input"] });
