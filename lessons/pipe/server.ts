/**
 * The pipe lesson's server: the writer, and the client's parent.
 *
 * In the demo it does what a shell does for `server | client`: it makes a pipe, starts the
 * client with the pipe's read end as its stdin, and keeps the write end. By hand, the shell
 * has already done that, and the write end is the server's stdout.
 *
 * @module
 */

import { LibcError } from "../../transports/libc.ts";
import { createPipe, isPipe, PipeEnd, pipeMaxSize, spawnWithStdin } from "../../transports/pipe.ts";
import { formatBytes } from "../../transports/units.ts";
import { seconds, sleep } from "../../transports/wait.ts";
import { UsageError } from "../_cli.ts";
import { LessonError, type Side } from "../_lesson.ts";
import { BY_HAND, type PipeOptions } from "./common.ts";

/** Sends the input file into a pipe: one it makes for its child, or its stdout. */
export async function server(side: Side<PipeOptions>): Promise<void> {
  const { log } = side;

  // 1. Open the input first: if it is missing, there is no point in starting anything.
  using input = side.openInput();
  log.say(
    `I am the server, the writer: I send ${JSON.stringify(input.path)} (${
      formatBytes(input.size)
    })`,
  );

  // What this server holds, released on every way out: the pipe's ends, and the child.
  using held = new DisposableStack();
  let writeEnd: PipeEnd;
  let child: Deno.ChildProcess | null = null;
  if (side.output !== "") {
    // 2a. pipe(2): one kernel object, two file descriptors. Both are close-on-exec, so no
    //     other child inherits them by accident.
    const pipe = held.use(createPipe(side.waits));
    log.say(
      `pipe() gave me fd ${pipe.readEnd.fd} (read end) and fd ${pipe.writeEnd.fd} (write end) of ${pipe.writeEnd.kernelObject}`,
    );

    // 3a. fork + exec: start the client with the read end as its stdin (fd 0).
    child = spawnWithStdin(
      side.peerCommand({ stdin: "inherit", stdout: "inherit", stderr: "inherit" }),
      pipe.readEnd,
    );
    const started = child;
    // If this server fails or is interrupted, stop the client too: it would otherwise take
    // the early end-of-file for the end of the file.
    held.defer(() => {
      try {
        started.kill("SIGTERM");
        started.kill("SIGCONT"); // a stopped child acts on SIGTERM only once continued
      } catch { /* it has already exited */ }
    });
    log.say(`started the client as my child, process ${child.pid}, with the read end as its stdin`);

    // 4a. Close our copy of the read end. End-of-file and EPIPE both depend on knowing who
    //     holds which end: a forgotten copy would keep the pipe "open" for ever.
    pipe.readEnd.close();
    log.say(`closed my copy of the read end: only the client can read now`);
    writeEnd = pipe.writeEnd;
  } else {
    // 2b. By hand, the shell made the pipe for "server | client": it is our stdout.
    if (!isPipe(1)) throw new UsageError(`stdout is not a pipe: run ${BY_HAND}`);
    writeEnd = held.use(new PipeEnd(1, side.waits));
    log.say(
      `my stdout (fd 1) is the write end of ${writeEnd.kernelObject}, made by the shell for "|"`,
    );
  }

  // 5. A pipe holds 64 KiB by default; each time it is full the writer sleeps until the
  //    reader makes room. A bigger pipe means fewer of those hand-offs.
  const before = writeEnd.capacity;
  const after = raisePipeSize(writeEnd);
  if (after === null) {
    log.say(
      `pipe buffer: ${formatBytes(before)}, kept: fcntl(F_SETPIPE_SZ) failed with EPERM, ` +
        `because this user's pipes already hold more than /proc/sys/fs/pipe-user-pages-soft ` +
        `allows and only CAP_SYS_RESOURCE may go past it (pipe(7)); the copy works, in more hand-offs`,
    );
  } else if (after === before) {
    log.say(
      `pipe buffer: ${formatBytes(before)} already, as large as fcntl(F_SETPIPE_SZ) would make it`,
    );
  } else {
    log.say(
      `pipe buffer: ${formatBytes(before)}, raised to ${
        formatBytes(after)
      } with fcntl(F_SETPIPE_SZ)`,
    );
  }

  // 6. The copy loop: read a chunk from the file, write it into the pipe.
  const buf = new Uint8Array(side.chunk);
  side.startClock();
  for (;;) {
    const n = input.read(buf);
    if (n === 0) break;
    try {
      await writeEnd.write(buf.subarray(0, n));
    } catch (error) {
      // EPIPE: every read end is closed, so nobody will ever read these bytes.
      if (error instanceof LibcError && error.code === "EPIPE") {
        throw new LessonError(
          `the client ${await howChildEnded(child)} after the server had sent ${
            formatBytes(side.bytes)
          }: transfer incomplete (write failed with EPIPE: the pipe has no reader)`,
          { status: await interruptedStatus(child) },
        );
      }
      throw error;
    }
    side.count(n);
  }

  // 7. Close the write end. The reader's read() returns 0 (end-of-file) once the pipe is
  //    empty and no write end is open anywhere.
  writeEnd.close();
  if (child) {
    log.say(
      `sent ${formatBytes(side.bytes)}; closed the write end, so the reader will see end-of-file`,
    );
  } else {
    // By hand, whoever made the pipe for "|" may hold a copy of it: `deno task` keeps its
    // child's stdout open while it waits, so end-of-file comes only when it exits too.
    log.say(
      `sent ${formatBytes(side.bytes)}; closed my write end: the reader sees end-of-file once ` +
        `no copy is left, and if "deno task" started me it keeps one (my stdout) until it ` +
        `exits, just after me`,
    );
  }

  // 8. Like a shell, wait for the child and pass on its failure. It only has to empty the
  //    pipe and name its output, so it gets --timeout to do so (it may be hung).
  if (child) {
    const timeUp = sleep(side.timeoutMs, side.signal).then(() => null);
    const status = await Promise.race([child.status, timeUp]);
    if (status === null) {
      throw new LessonError(
        `the client did not finish within ${
          seconds(side.timeoutMs)
        } of the end of the data: stopping it`,
      );
    }
    if (!status.success) {
      throw new LessonError(`the client ${await howChildEnded(child)}`, {
        status: await interruptedStatus(child),
      });
    }
    log.say(`the client (process ${child.pid}) exited with status 0`);
  }
}

/** How the child ended, for a message: "exited", "was killed by SIGKILL", … */
async function howChildEnded(child: Deno.ChildProcess | null): Promise<string> {
  const status = child ? await child.status : null;
  if (status?.signal) return `was killed by ${status.signal}`;
  if (status?.code === 130 || status?.code === 143) return "was interrupted";
  return "exited";
}

/** 130 or 143 when the child was interrupted (so the demo reports that), else 1. */
async function interruptedStatus(child: Deno.ChildProcess | null): Promise<number> {
  const code = child ? (await child.status).code : 1;
  return code === 130 || code === 143 ? code : 1;
}

/**
 * Raises the pipe's buffer to the system's maximum, or returns null when the kernel refuses
 * (EPERM): past `pipe-user-pages-soft`, an unprivileged user's new pipes are held to two pages
 * each on current kernels (one on older ones) and may not grow (pipe(7)). The pipe keeps its
 * size and the copy still works.
 */
function raisePipeSize(end: PipeEnd): number | null {
  try {
    return end.resize(pipeMaxSize());
  } catch (error) {
    if (error instanceof LibcError && error.code === "EPERM") return null;
    throw error;
  }
}
