/**
 * Typical wrong solutions of `tcp-server`, as edits of the reference solution (see
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
    says: /not byte-for-byte the input \(65536 bytes instead of 1\)/,
    edits: [[`    await conn.write(buf.subarray(0, n));`, `    await conn.write(buf);`]],
  },
  {
    name: "one-at-a-time",
    check: "protocol",
    mistake: "serves one client to the end before it accepts the next",
    says: /serves one client at a time/,
    edits: [[
      `    serving.push(
      serve(connection, file).catch((error) => {`,
      `    await (
      serve(connection, file).catch((error) => {`,
    ]],
  },
  {
    name: "polls-accept",
    check: "no-busy-wait",
    mistake: "polls accept() with no wait, over and over, instead of letting it wait",
    says: /while waiting for the client to come, your server used \d+% of a CPU/,
    edits: [[
      `    const connection = await listener.accept();`,
      `    let connection: Connection;
    const deadline = performance.now() + waits.timeout;
    for (let i = 1;; i++) {
      try {
        connection = await listener.accept({ timeout: 0 });
        break;
      } catch (error) {
        if (!(error instanceof Deno.errors.TimedOut) || performance.now() > deadline) throw error;
        if (i % 1000 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
        signal.throwIfAborted();
      }
    }`,
    ]],
  },
  {
    name: "reads-the-whole-file",
    check: "memory",
    mistake: "reads the whole file into memory for each client",
    says: /the file is being held in memory/,
    edits: [[
      `  for (;;) {
    const n = file.read(buf);
    if (n === 0) break;
    await conn.write(buf.subarray(0, n));
  }`,
      `  void buf;
  await conn.write(Deno.readFileSync(file.path));`,
    ]],
  },
  {
    name: "accept-ignores-ctrl-c",
    check: "ctrl-c",
    mistake: "does not give the listener the signal, so Ctrl-C cannot end accept()",
    says: /did not exit within 2 s of Ctrl-C/,
    edits: [[
      `port: 0 }, waits);`,
      `port: 0 }, { timeout: waits.timeout });`,
    ]],
  },
  {
    name: "port-file-removed-only-on-success",
    check: "nothing-left",
    mistake: "removes the port file at the end and on Ctrl-C, but not when no client comes",
    says: /when no client came \(--timeout 2\), it left the port file/,
    edits: [
      [
        `  using _portFile = PortFile.announce(args["port-file"], listener.address);`,
        `  const portFile = PortFile.announce(args["port-file"], listener.address);
  signal.addEventListener("abort", () => portFile.remove());`,
      ],
      [`  await Promise.all(serving);`, `  await Promise.all(serving);\n  portFile.remove();`],
    ],
  },
];
