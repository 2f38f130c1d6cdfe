/**
 * Typical wrong solutions of `sysv-mq-client`, as edits of the reference solution (see
 * `../_mutants.ts`). The tests check that each loses the points of its check and no other.
 *
 * @module
 */

import type { Mutant } from "../_mutants.ts";

/** The mutants. */
export const MUTANTS: Mutant[] = [
  {
    name: "no-file-when-empty",
    check: "bytes",
    mistake: "names the output only if some data came, so an empty input gives no file",
    says: /failed with 0 bytes; with 0 bytes: no output file appeared/,
    edits: [
      [`    output.write(text);`, `    output.write(text);\n    total += text.length;`],
      [`  for (;;) {\n    let text`, `  let total = 0;\n  for (;;) {\n    let text`],
      [`  output.commit();`, `  if (total > 0) output.commit();`],
    ],
  },
  {
    name: "copies-any-type",
    check: "protocol",
    mistake: "copies every message that is not the end, whatever its type",
    says: /a message of type 3 came, between data and the end, and your client exited 0/,
    edits: [[
      `    if (queue.lastType !== MTYPE.DATA) {
      throw new Error(
        \`a message of type \${queue.lastType} came through the queue: the protocol has only \` +
          \`\${MTYPE.DATA} (data) and \${MTYPE.END} (the end)\`,
      );
    }
`,
      ``,
    ]],
  },
  {
    name: "leaves-the-dead-servers-queue",
    check: "peer-dies",
    mistake: "fails when the server dies, but leaves its queue behind (only IPC_RMID removes it)",
    says: /when the server died, it left the System V queue/,
    edits: [[
      `      if (error instanceof Deno.errors.BrokenPipe) queue.remove();\n`,
      ``,
    ]],
  },
  {
    name: "open-ignores-ctrl-c",
    check: "ctrl-c",
    mistake: "does not give its wait for the queue the signal, so Ctrl-C cannot end it",
    says: /did not exit within 2 s of Ctrl-C/,
    edits: [[
      `{ wait: waits.timeout, ...waits }`,
      `{ wait: waits.timeout, timeout: waits.timeout }`,
    ]],
  },
  {
    name: "polls-msgget",
    check: "no-busy-wait",
    mistake: "calls msgget over and over until the queue appears, instead of waiting between tries",
    says: /while waiting for the server to come, your client used \d+% of a CPU/,
    edits: [[
      `  using queue = await SysvQueue.open(key, { wait: waits.timeout, ...waits });`,
      `  const deadline = performance.now() + waits.timeout;
  let found: SysvQueue | undefined;
  for (let i = 1; found === undefined; i++) {
    try {
      found = await SysvQueue.open(key, waits);
    } catch (error) {
      if (performance.now() > deadline) throw error;
      if (i % 1000 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
      waits.signal.throwIfAborted();
    }
  }
  using queue = found;`,
    ]],
  },
  {
    name: "holds-the-file",
    check: "memory",
    mistake: "collects the whole file in memory and writes it at the end",
    says: /the file is being held in memory/,
    edits: [
      [`    output.write(text);`, `    chunks.push(text.slice());`],
      [
        `  for (;;) {\n    let text`,
        `  const chunks: Uint8Array[] = [];\n  for (;;) {\n    let text`,
      ],
      [
        `  output.commit();`,
        `  for (const chunk of chunks) output.write(chunk);\n  output.commit();`,
      ],
    ],
  },
];
