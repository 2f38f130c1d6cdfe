/**
 * Typical wrong solutions of `mq-server`, as edits of the reference solution (see
 * `../_mutants.ts`). The tests check that each loses the points of its check and no other.
 *
 * @module
 */

import type { Mutant } from "../_mutants.ts";

/** The mutants. */
export const MUTANTS: Mutant[] = [
  {
    name: "sends-the-whole-buffer",
    check: "bytes",
    mistake: "sends the whole buffer, not the n bytes read into it",
    says: /with 1 byte: the output is not byte-for-byte the input \(8192 bytes/,
    edits: [[`    await queue.send(buf.subarray(0, n));`, `    await queue.send(buf);`]],
  },
  {
    name: "sleeps-instead-of-waiting",
    check: "protocol",
    mistake: "sleeps a second after the end marker instead of waiting until the queue is empty",
    says: /before the client came \(1\.5 s late\)/,
    edits: [[
      `  await queue.waitUntilEmpty();`,
      `  await new Promise((resolve) => setTimeout(resolve, 1000)); // "long enough for the client"`,
    ]],
  },
  {
    name: "spins-while-full",
    check: "no-busy-wait",
    mistake:
      "asks over and over whether the queue has room (mq_getattr) instead of letting send wait",
    says: /while waiting for the client to come, your server used \d+% of a CPU/,
    edits: [[
      `    await queue.send(buf.subarray(0, n));`,
      `    const deadline = performance.now() + waits.timeout;
    for (let i = 1; queue.attributes().curmsgs >= maxmsg; i++) {
      if (i % 100_000 !== 0) continue;
      if (!queue.reachable()) throw new Error("the client has gone");
      if (performance.now() > deadline) throw new Error("no room in the queue within --timeout");
      await new Promise((resolve) => setTimeout(resolve, 0)); // let Ctrl-C in now and then
      waits.signal.throwIfAborted();
    }
    await queue.send(buf.subarray(0, n));`,
    ]],
  },
  {
    name: "reads-the-whole-file",
    check: "memory",
    mistake: "reads the whole file into memory first",
    says: /the file is being held in memory/,
    edits: [[
      `  for (;;) {
    const n = input.read(buf);
    if (n === 0) break;
    await queue.send(buf.subarray(0, n));
  }`,
      `  const whole = Deno.readFileSync(input.path);
  for (let at = 0; at < whole.length; at += buf.length) {
    await queue.send(whole.subarray(at, at + buf.length));
  }`,
    ]],
  },
  {
    name: "send-ignores-ctrl-c",
    check: "ctrl-c",
    mistake: "does not give the queue the signal, so Ctrl-C cannot end a wait",
    says: /did not exit within 2 s of Ctrl-C/,
    edits: [[
      `{ maxmsg, msgsize, access: "send", ...waits }`,
      `{ maxmsg, msgsize, access: "send", timeout: waits.timeout }`,
    ]],
  },
  {
    name: "unlinks-only-on-ctrl-c",
    check: "nothing-left",
    mistake: "removes the queue in its Ctrl-C handler, but not when no client ever comes",
    says: /when no client came \(--timeout 2\), it left the message queue/,
    edits: [[
      `  using queue = MessageQueue.create(args.name, { maxmsg, msgsize, access: "send", ...waits });`,
      `  const queue = MessageQueue.create(args.name, { maxmsg, msgsize, access: "send", ...waits });
  waits.signal.addEventListener("abort", () => queue.unlink());`,
    ]],
  },
];
