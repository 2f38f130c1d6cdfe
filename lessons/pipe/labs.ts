/**
 * Break-it labs of the pipe lesson: `deno task lesson:pipe --break keep-write-end`.
 *
 * @module
 */

import * as libc from "../../transports/libc.ts";
import { PipeEnd, spawnWithStdin } from "../../transports/pipe.ts";
import { sleep } from "../../transports/wait.ts";
import type { Lab } from "../_labs.ts";

/**
 * Starts `cat` reading the pipe; returns the child and a promise of its exit, for `using`: it
 * is killed when the lab's block ends (and on Ctrl-C) if it still runs.
 */
function startReader(readFd: number) {
  const readEnd = new PipeEnd(readFd);
  const child = spawnWithStdin(
    new Deno.Command("cat", { stdout: "null", stderr: "null" }),
    readEnd,
  );
  readEnd.close();
  let exited = false;
  const status = child.status.then((status) => {
    exited = true;
    return status;
  });
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  };
  return { child, status, hasExited: () => exited, [Symbol.dispose]: kill };
}

/** The pipe lesson's labs. */
export const labs: Lab[] = [
  {
    name: "keep-write-end",
    summary: "the reader never sees end-of-file, because a write end stays open",
    explanation: {
      cause:
        "read() returns 0 only when no write end of the pipe is open anywhere. The pipe was made without O_CLOEXEC, so the child inherited a copy of the write end together with its stdin, and that copy, held by the reader itself, keeps the pipe open for ever.",
      fix:
        "make pipes close-on-exec (pipe2(fds, O_CLOEXEC), as transports/pipe.ts does), so that a child inherits only the end deliberately placed at its stdin; and close the ends you do not use right after starting a child.",
    },
    async run(lab) {
      lab.say("1. the mistake: pipe2() WITHOUT O_CLOEXEC, so every child inherits both ends");
      lab.trace(true);
      const [readFd, writeFd] = libc.pipe2(0);
      lab.trace(false);
      using writeEnd = new PipeEnd(writeFd);
      const pipe = writeEnd.kernelObject;
      using reader = startReader(readFd);
      lab.say(`started cat (process ${reader.child.pid}) with the read end as its stdin`);

      lab.say("2. write a line, then close our write end: cat should see end-of-file and exit");
      await writeEnd.write(new TextEncoder().encode("hello through the pipe\n"));
      writeEnd.close();
      await Promise.race([reader.status, sleep(2000, lab.signal)]);
      if (reader.hasExited()) return false;

      // Which of cat's descriptors lead to our pipe? (/proc/PID/fd shows them all.)
      const fds = [...Deno.readDirSync(`/proc/${reader.child.pid}/fd`)]
        .filter((entry) => Deno.readLinkSync(`/proc/${reader.child.pid}/fd/${entry.name}`) === pipe)
        .map((entry) => `fd ${entry.name}`);
      lab.symptom(
        `2 s later cat is still waiting for end-of-file: its ${fds.join(", ")} all lead to ${pipe}`,
      );
      reader.child.kill("SIGKILL");
      await reader.status;

      lab.say("3. the same with pipe2(O_CLOEXEC): only fd 0 reaches the child");
      const [fixedRead, fixedWrite] = libc.pipe2(libc.O.CLOEXEC);
      using fixedEnd = new PipeEnd(fixedWrite);
      using fixed = startReader(fixedRead);
      await fixedEnd.write(new TextEncoder().encode("hello through the pipe\n"));
      fixedEnd.close();
      await Promise.race([fixed.status, sleep(2000, lab.signal)]);
      lab.say(
        fixed.hasExited()
          ? "with O_CLOEXEC, cat saw end-of-file at once and exited"
          : "even with O_CLOEXEC cat did not exit: something else holds a write end",
      );
      return true;
    },
  },
];
