/**
 * Reference solution: the message-queue lesson's server (lessons/mq/server.ts), as a plain
 * program.
 *
 *     deno run -A server.ts --name /my-queue --input FILE [--timeout SECONDS]
 *
 * Creates the queue (exclusively, mode 0600), sends the file one message at a time, then the
 * empty message that marks the end, waits until the client has taken every message, and
 * removes the name.
 *
 * @module
 */

import { InputFile, MessageQueue, queueLimits, runProgram } from "../../../mod.ts";

await runProgram(async ({ args, waits }) => {
  // 1. Open the input first: if it is missing, nobody should be kept waiting for us.
  using input = new InputFile(args.input);

  // 2. Create the queue: O_CREAT | O_EXCL | O_WRONLY, mode 0600. It holds as many messages, of
  //    up to as many bytes, as the system allows. `using` closes it and, since we created it,
  //    removes its name on every way out (a client that never came, Ctrl-C, an error).
  const { maxmsg, msgsize } = queueLimits();
  using queue = MessageQueue.create(args.name, { maxmsg, msgsize, access: "send", ...waits });

  // 3. Send the file in messages of at most msgsize bytes (a longer one fails with EMSGSIZE).
  //    When the queue is full, send() waits for the client to make room: back-pressure.
  const buf = new Uint8Array(msgsize);
  for (;;) {
    const n = input.read(buf);
    if (n === 0) break;
    await queue.send(buf.subarray(0, n));
  }

  // 4. The end-of-file marker: a message of zero bytes. Closing a queue tells nobody anything.
  await queue.send(new Uint8Array(0));

  // 5. Wait until the client has taken every message: a client that has not opened the queue
  //    yet would otherwise find no queue at all, and the messages would go with it.
  await queue.waitUntilEmpty();
}, { options: ["name", "input"] });
