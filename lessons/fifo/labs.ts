/**
 * Break-it labs of the FIFO lesson: `deno task lesson:fifo --break no-reader`.
 *
 * @module
 */

import { join } from "node:path";
import * as libc from "../../transports/libc.ts";
import type { Lab } from "../_labs.ts";

/** The FIFO lesson's labs. */
export const labs: Lab[] = [
  {
    name: "no-reader",
    summary: "opening a FIFO for writing with O_NONBLOCK while nobody reads it fails with ENXIO",
    explanation: {
      cause:
        'a FIFO connects a writer to a reader. Opened for writing without blocking, open() cannot wait for a reader to turn up, so when no process has the FIFO open for reading it fails at once with ENXIO ("no such device or address"). A blocking open() would instead wait, possibly for ever.',
      fix:
        "open the reader first, or retry the non-blocking open until a reader appears, with a deadline (as transports/fifo.ts does), or open blocking in a process that can afford to wait.",
    },
    run(lab) {
      const path = join(lab.dir, "lonely.fifo");
      libc.mkfifo(path, 0o600);
      lab.say(`made the FIFO ${path}; nobody has opened it`);

      lab.say("1. the mistake: open it for writing, without blocking, before any reader exists");
      lab.trace(true);
      let symptom = false;
      try {
        libc.close(libc.open(path, libc.O.WRONLY | libc.O.NONBLOCK | libc.O.CLOEXEC));
      } catch (error) {
        if (!(error instanceof libc.LibcError) || error.code !== "ENXIO") throw error;
        symptom = true;
      }
      lab.trace(false);
      if (!symptom) return Promise.resolve(false);
      lab.symptom(
        "open(O_WRONLY | O_NONBLOCK) failed with ENXIO: no process has the FIFO open for reading",
      );

      lab.say("2. the fix: a reader opens first (non-blocking opens for reading never wait)");
      lab.trace(true);
      const reader = libc.open(path, libc.O.RDONLY | libc.O.NONBLOCK | libc.O.CLOEXEC);
      const writer = libc.open(path, libc.O.WRONLY | libc.O.NONBLOCK | libc.O.CLOEXEC);
      libc.close(writer);
      libc.close(reader);
      libc.unlink(path);
      lab.trace(false);
      lab.say("with a reader present, the same open() for writing succeeded");
      return Promise.resolve(true);
    },
  },
];
