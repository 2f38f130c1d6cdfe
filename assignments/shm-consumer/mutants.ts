/**
 * Typical wrong solutions of `shm-consumer`, as edits of the reference solution (see
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
      [
        `  for (let r = 0;; r = (r + 1) % layout.slots) {`,
        `  let total = 0;\n  for (let r = 0;; r = (r + 1) % layout.slots) {`,
      ],
      [
        `    if (n > 0) output.write(memory.subarray(start, start + n));`,
        `    if (n > 0) output.write(memory.subarray(start, start + n));\n    total += n;`,
      ],
      [`  output.commit();`, `  if (total > 0) output.commit();`],
    ],
  },
  {
    name: "frees-before-writing",
    check: "bytes",
    mistake: "hands the slot back (post(free)) before its bytes are written out: the producer " +
      "refills it meanwhile",
    says: /same length, different content: first difference at byte \d+/,
    edits: [[
      `    if (n > 0) output.write(memory.subarray(start, start + n));
    free.post();`,
      // The pause stands for anything slow between the two (a progress line, a flush): the
      // producer, waiting for a free slot, refills this one meanwhile. Without it the race is
      // lost only now and then, and a grader must not depend on luck.
      `    const view = memory.subarray(start, start + n);
    free.post();
    await new Promise((resolve) => setTimeout(resolve, 2));
    if (n > 0) output.write(view);`,
    ]],
  },
  {
    name: "keeps-end-slot",
    check: "protocol",
    mistake: "does not hand back the end marker's slot (breaks before post(free))",
    says: /the server \(the producer\) failed/,
    edits: [[
      `    free.post();
    if (n === 0) break;`,
      `    if (n === 0) break;
    free.post();`,
    ]],
  },
  {
    name: "spins-on-trywait",
    check: "no-busy-wait",
    mistake: "spins on sem_trywait instead of waiting on the semaphore",
    says: /while the server was stopped mid-transfer \(SIGSTOP\), your client used \d+% of a CPU/,
    edits: [[
      `    await filled.wait(waitForFilled);`,
      `    const deadline = performance.now() + timeoutMs;
    for (let i = 1; !filled.tryWait(); i++) {
      if (i % 100_000 !== 0) continue;
      waitForFilled.whileParked();
      if (performance.now() > deadline) throw new Error("no slot filled within --timeout");
      await new Promise((resolve) => setTimeout(resolve, 0)); // let Ctrl-C in now and then
      waits.signal.throwIfAborted();
    }`,
    ]],
  },
  {
    name: "never-checks-the-server",
    check: "peer-dies",
    mistake: "waits on the semaphore without checking that the server still runs",
    says: /to notice that the server had been killed/,
    edits: [[`    await filled.wait(waitForFilled);`, `    await filled.wait(waits);`]],
  },
  {
    name: "wait-ignores-ctrl-c",
    check: "ctrl-c",
    mistake: "does not give its wait for the segment the signal, so Ctrl-C cannot end it",
    says: /did not exit within 2 s of Ctrl-C/,
    edits: [[
      `await openWhenReady(names.segment, { ...waits, creator: "server" });`,
      `await openWhenReady(names.segment, { timeout: waits.timeout, creator: "server" });`,
    ]],
  },
  {
    name: "holds-the-file",
    check: "memory",
    mistake: "collects the whole file in memory and writes it at the end",
    says: /the file is being held in memory/,
    edits: [
      [
        `    if (n > 0) output.write(memory.subarray(start, start + n));`,
        `    if (n > 0) chunks.push(memory.slice(start, start + n));`,
      ],
      [
        `  for (let r = 0;; r = (r + 1) % layout.slots) {`,
        `  const chunks: Uint8Array[] = [];\n  for (let r = 0;; r = (r + 1) % layout.slots) {`,
      ],
      [
        `  output.commit();`,
        `  for (const chunk of chunks) output.write(chunk);\n  output.commit();`,
      ],
    ],
  },
];
