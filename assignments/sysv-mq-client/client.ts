/**
 * Assignment sysv-mq-client: the receiver of a System V message-queue copy. Read README.md
 * first.
 *
 *     deno run -A assignments/sysv-mq-client/client.ts --key 0x4c0b1234 --output FILE
 *     deno task grade sysv-mq-client --submission assignments/sysv-mq-client/client.ts
 *
 * Fill in the TODOs. Everything you need is exported by mod.ts; see README.md, "What you may
 * use". runProgram already does the command line, Ctrl-C and the one-line error for you.
 *
 * @module
 */

import { MTYPE, OutputFile, parseKey, runProgram, SysvQueue, UsageProblem } from "../../mod.ts";

await runProgram(async ({ args, waits }) => {
  const key = parseKey(args.key);
  // A mistake on the command line: UsageProblem, which runProgram turns into exit status 2.
  if (typeof key === "string") throw new UsageProblem(`--key ${args.key}: ${key}`);

  // 1. Create the output first (unnamed until commit()): a bad path fails before we wait.
  using output = new OutputFile(args.output);

  // 2. Find the queue of the key, waiting for the server to create it (msgget(key, 0) fails
  //    with ENOENT until then): `wait` is how long to keep trying.
  using queue = await SysvQueue.open(key, { wait: waits.timeout, ...waits });

  // TODO 3: the copy loop: receive the first message whatever its type (queue.receive(0));
  //         its type is then in queue.lastType. MTYPE.DATA (1): write its bytes to the output.
  //         MTYPE.END (2): the end, stop; its 8 bytes are the count of bytes the server sent
  //         (little-endian: new DataView(...).getBigUint64(0, true)): if it is not what came,
  //         throw (another process of your user used the queue). Any other type: throw.
  //         If receive() throws Deno.errors.BrokenPipe, the server died before the end: remove
  //         the queue it left (queue.remove(): nobody else will), then let the error go on.
  // TODO 4: the copy is complete: output.commit().
  void [output, queue, MTYPE];
  throw new Error(
    "not written yet: the queue is found, but nothing received (TODO 3 and 4 in client.ts)",
  );
}, { options: ["key", "output"] });
