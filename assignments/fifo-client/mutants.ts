/**
 * Typical wrong solutions of `fifo-client`, as edits of the reference solution (see
 * `../_mutants.ts`). The tests check that each loses the points of its check and no other.
 *
 * @module
 */

import type { Mutant } from "../_mutants.ts";

/** The mutants. */
export const MUTANTS: Mutant[] = [
  {
    name: "reads-once",
    check: "bytes",
    mistake: "reads once and takes that for the whole file",
    says: /not byte-for-byte the input \(65536 bytes instead of 65537\)/,
    edits: [[
      `  for (;;) {
    const n = await readEnd.read(buf);
    if (n === 0) break;
    output.write(buf.subarray(0, n));
  }`,
      `  const n = await readEnd.read(buf);
  output.write(buf.subarray(0, n));`,
    ]],
  },
  {
    name: "polls-for-writer",
    check: "no-busy-wait",
    mistake: "polls /proc for a writer as fast as it can instead of letting open() wait",
    says: /while waiting for the server to come, your client used \d+% of a CPU/,
    edits: [[
      `  using readEnd = await fifo.open("read", waits);`,
      `  const deadline = performance.now() + waits.timeout;
  for (let i = 1; fifo.otherHolders().length === 0; i++) {
    if (performance.now() > deadline) throw new Error("no writer came within --timeout");
    if (i % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 0)); // let Ctrl-C in
    waits.signal.throwIfAborted();
  }
  using readEnd = await fifo.open("read", waits);`,
    ]],
  },
  {
    name: "unlinks-only-on-success-and-ctrl-c",
    check: "nothing-left",
    mistake: "removes the FIFO after connecting and on Ctrl-C, but not when no writer comes",
    says: /when no server came \(--timeout 2\), it left the FIFO/,
    edits: [[
      `  using fifo = makeFifo(args.path);`,
      `  const fifo = makeFifo(args.path);
  waits.signal.addEventListener("abort", () => fifo.unlink());`,
    ]],
  },
  {
    name: "wait-ignores-ctrl-c",
    check: "ctrl-c",
    mistake: "does not give its wait the signal, so Ctrl-C cannot end it",
    says: /did not exit within 2 s of Ctrl-C/,
    edits: [[
      `  using readEnd = await fifo.open("read", waits);`,
      `  using readEnd = await fifo.open("read", { timeout: waits.timeout });`,
    ]],
  },
  {
    name: "unlinks-at-the-end",
    check: "protocol",
    mistake: "keeps the FIFO's name until the copy is done",
    says: /the FIFO's name was still there while both ends were open/,
    edits: [
      [`  fifo.unlink();\n`, ``],
      [`  output.commit();`, `  fifo.unlink();\n  output.commit();`],
    ],
  },
  {
    name: "holds-the-file",
    check: "memory",
    mistake: "collects the whole file in memory and writes it at the end",
    says: /the file is being held in memory/,
    edits: [
      [`    output.write(buf.subarray(0, n));`, `    chunks.push(buf.slice(0, n));`],
      [`  for (;;) {`, `  const chunks: Uint8Array[] = [];\n  for (;;) {`],
      [
        `  output.commit();`,
        `  for (const chunk of chunks) output.write(chunk);\n  output.commit();`,
      ],
    ],
  },
];
