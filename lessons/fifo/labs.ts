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
    summary:
      "a non-blocking open for writing fails with ENXIO while nobody reads: treat it as a test, not an error",
    explanation: {
      cause:
        'a FIFO connects a writer to a reader. Opened for writing without blocking, open() cannot wait for a reader to turn up, so when no process has the FIFO open for reading it fails at once with ENXIO ("no such device or address"). That answer is useful, not a failure: it is the only way to ask "is there a reader yet?" without waiting. The mistake is to treat ENXIO as fatal and give up. The opposite, a blocking open(), would wait, possibly for ever, and in Deno it would freeze the event loop: no timeout, no Ctrl-C.',
      fix:
        "use the non-blocking open as the tool it is, as transports/fifo.ts does on purpose: on ENXIO, sleep a little and try again, with a deadline, so the event loop keeps running between tries; any other error is a real one. Or open the reader first, or open blocking in a process that can afford to wait.",
    },
    run(lab) {
      const path = join(lab.dir, "lonely.fifo");
      libc.mkfifo(path, 0o600);
      lab.say(`made the FIFO ${path}; nobody has opened it`);

      lab.say(
        "1. open it for writing, without blocking, before any reader exists: the question " +
          "transports/fifo.ts asks on purpose (is there a reader yet?)",
      );
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
        "open(O_WRONLY | O_NONBLOCK) failed with ENXIO: no process has the FIFO open for reading (yet)",
      );

      lab.say(
        "2. a reader opens (a non-blocking open for reading never waits), and the writer asks again",
      );
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
