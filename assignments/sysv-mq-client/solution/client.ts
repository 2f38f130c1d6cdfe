/**
 * Reference solution: the System V message-queue lesson's client (lessons/sysv-mq/client.ts),
 * as a plain program.
 *
 *     deno run -A client.ts --key 0x4c0b1234 --output FILE [--timeout SECONDS]
 *
 * Finds the queue of the key (waiting for the server to create it), and writes every message of
 * type 1 into the output until the message of type 2, the end.
 *
 * @module
 */

import { MTYPE, OutputFile, parseKey, runProgram, SysvQueue } from "../../../mod.ts";

await runProgram(async ({ args, waits }) => {
  const key = parseKey(args.key);
  if (typeof key === "string") throw new Error(`--key ${args.key}: ${key}`);

  // 1. Create the output first (unnamed until commit()): a bad path fails before we wait.
  using output = new OutputFile(args.output);

  // 2. Find the queue: msgget(key, 0) fails with ENOENT until the server has created it, so
  //    try again until it appears, or --timeout, or Ctrl-C.
  using queue = await SysvQueue.open(key, { wait: waits.timeout, ...waits });

  // 3. msgrcv with msgtyp 0: the first message, whatever its type, so the order is the
  //    server's. Type 1 is data; type 2, empty, is the end; anything else is not the protocol.
  for (;;) {
    let text: Uint8Array;
    try {
      text = await queue.receive(0);
    } catch (error) {
      // The server died before the end: nobody else will ever remove its queue (no exit, no
      // close removes a System V queue), so we do, with IPC_RMID.
      if (error instanceof Deno.errors.BrokenPipe) queue.remove();
      throw error;
    }
    if (queue.lastType === MTYPE.END) break;
    if (queue.lastType !== MTYPE.DATA) {
      throw new Error(
        `a message of type ${queue.lastType} came through the queue: the protocol has only ` +
          `${MTYPE.DATA} (data) and ${MTYPE.END} (the end)`,
      );
    }
    output.write(text);
  }

  // 4. The copy is complete: give the output its name. The server removes the queue.
  output.commit();
}, { options: ["key", "output"] });
