/**
 * Reference solution: the System V message-queue lesson's client (lessons/sysv-mq/client.ts),
 * as a plain program.
 *
 *     deno run -A client.ts --key 0x4c0b1234 --output FILE [--timeout SECONDS]
 *
 * Finds the queue of the key (waiting for the server to create it), and writes every message of
 * type 1 into the output until the message of type 2, the end, whose 8 bytes say how many bytes
 * the server sent: the copy is kept only if that many came.
 *
 * @module
 */

import { MTYPE, OutputFile, parseKey, runProgram, SysvQueue, UsageProblem } from "../../../mod.ts";

await runProgram(async ({ args, waits }) => {
  const key = parseKey(args.key);
  // A mistake on the command line: UsageProblem, which runProgram turns into exit status 2.
  if (typeof key === "string") throw new UsageProblem(`--key ${args.key}: ${key}`);

  // 1. Create the output first (unnamed until commit()): a bad path fails before we wait.
  using output = new OutputFile(args.output);

  // 2. Find the queue: msgget(key, 0) fails with ENOENT until the server has created it, so
  //    try again until it appears, or --timeout, or Ctrl-C.
  using queue = await SysvQueue.open(key, { wait: waits.timeout, ...waits });

  // 3. msgrcv with msgtyp 0: the first message, whatever its type, so the order is the
  //    server's. Type 1 is data; type 2 is the end, with the count of bytes sent; anything else
  //    is not the protocol.
  let received = 0;
  let end: Uint8Array;
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
    if (queue.lastType === MTYPE.END) {
      end = text;
      break;
    }
    if (queue.lastType !== MTYPE.DATA) {
      throw new Error(
        `a message of type ${queue.lastType} came through the queue: the protocol has only ` +
          `${MTYPE.DATA} (data) and ${MTYPE.END} (the end)`,
      );
    }
    output.write(text);
    received += text.length;
  }

  // 4. Any process of this user may msgsnd to the queue, or msgrcv from it: the types prove
  //    nothing. So the end carries the count of bytes sent (8 bytes, little-endian), and the
  //    copy is kept only if it matches what came.
  const sent = end.length === 8
    ? Number(new DataView(end.buffer, end.byteOffset, 8).getBigUint64(0, true))
    : null;
  if (sent !== received) {
    throw new Error(
      `the end message says ${sent ?? "nothing about how many"} bytes were sent, but ` +
        `${received} came: another process sent to the queue or took from it (a System V ` +
        "queue has no owner-only channel between two processes of the same user)",
    );
  }

  // 5. The copy is complete: give the output its name. The server removes the queue.
  output.commit();
}, { options: ["key", "output"] });
