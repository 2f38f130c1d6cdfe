/**
 * The lesson's process: its main thread starts the server and the client as two threads
 * (Workers), hands them their channel, and waits for both.
 *
 * The demo starts this process as it starts the pipe lesson's server (`serverStartsClient`):
 * one process, given both sides' settings. Instead of a child process, it starts two threads:
 *
 * 1. it makes the channel: a ring in a `SharedArrayBuffer` (`--model shared`), or a
 *    `MessageChannel`, two connected ports (`--model message`);
 * 2. it starts a Worker for each side; each says its kernel thread id (gettid) when it is up;
 * 3. it posts each its side, its settings and its end of the channel (the ring's memory is
 *    shared, not copied; a port is transferred);
 * 4. it waits for both: a thread that fails, or dies of an exception nobody caught (the
 *    Worker's `error` event), is reported to the other at once, which stops waiting for it;
 * 5. Ctrl-C, SIGTERM or SIGHUP reach every thread's listener; the main thread also marks the
 *    ring stopped, so that a thread asleep in `Atomics.wait` wakes up now;
 * 6. it exits with the worse of the two threads' statuses.
 *
 * A signal is sent to a process, not to a thread: `--kill-after` (kill(2)) stops them all.
 *
 * @module
 */

import { STOP_SIGNALS, type StopSignal } from "../../transports/errors.ts";
import { checkOutput, InputFile } from "../../transports/files.ts";
import { softLimit } from "../../transports/holders.ts";
import { getppid, gettid, setParentDeathSignal } from "../../transports/libc.ts";
import { SharedRing } from "../../transports/shared_ring.ts";
import { formatBytes, formatSeconds } from "../../transports/units.ts";
import { type CommonOptions, parseCommandLine, usage, UsageError } from "../_cli.ts";
import { type Lesson, LessonError, type Role, SAMPLE_INPUT } from "../_lesson.ts";
import { formatLine, type Kind, stamped, stderrHasColor, writeStderr } from "../_log.ts";
import { describeError, limitHint } from "../_side.ts";
import type { FromThread, ThreadIds, ThreadLink, ThreadsOptions, ToThread } from "./common.ts";

/** SIGTERM's number, for prctl(PR_SET_PDEATHSIG). */
const SIGTERM = 15;

/** The program each thread runs. */
const THREAD_MODULE = new URL("./thread.ts", import.meta.url);

/**
 * Runs the lesson's process (`server` from the demo; `server` or `client` by hand, which both
 * name the one process): both sides as threads. Exits with the worse of their statuses (0, 1,
 * 2 usage, 128 + n after signal n). By hand, the client's process is the server's too: it
 * sends the sample text unless `server --input` says otherwise. `threadModule` is the program
 * of the threads (`thread.ts`; the tests give one that fails on purpose).
 */
export async function runProcess(
  lesson: Lesson<ThreadsOptions>,
  args: string[],
  threadModule: URL = THREAD_MODULE,
): Promise<never> {
  let common: CommonOptions | undefined;
  let status: number;
  try {
    const parsed = parseCommandLine(args, lesson.options, { serverTakesOutput: true });
    common = parsed.common;
    if (common.help) {
      console.log(usage(lesson, { serverTakesOutput: true, threads: true }));
      Deno.exit(0);
    }
    // The input first, as a server process would open it: a bad one fails before anything.
    common.input ??= SAMPLE_INPUT;
    new InputFile(common.input, { via: common.inputVia }).close();
    if (common.output === undefined) {
      throw new UsageError(
        common.mode === "client"
          ? "the client needs --output PATH: the file to write"
          : "the server needs --output PATH: its client thread writes that file",
      );
    }
    const options = lesson.parse(parsed.values);
    const limits = lesson.chunk(options);
    const chunk = common.chunk ?? limits.default;
    if (chunk > limits.max) {
      throw new UsageError(
        `--chunk ${chunk} is too large for threads: at most ${limits.max} (${
          formatBytes(limits.max)
        }), ${limits.why}`,
      );
    }
    if (common.outputVia === undefined) checkOutput(common.output, { force: common.force });
    if (common.parent !== undefined) {
      // The demo started us: if it dies, the kernel sends SIGTERM, and the threads clean up.
      setParentDeathSignal(SIGTERM);
      if (getppid() !== common.parent) {
        throw new UsageError(`the process that started this one (${common.parent}) has gone`);
      }
    }
    status = await runThreads(common, options, chunk, threadModule);
  } catch (error) {
    const { message, status: code } = describeError(error);
    if (error instanceof UsageError) writeStderr(`error: ${message} (see --help)\n`);
    else say(common, common?.mode === "client" ? "client" : "server", "error", message);
    status = code;
  }
  Deno.exit(status);
}

/** Fewer open files than this, and Deno cannot start the two Workers (seen: 34 and fewer). */
const MIN_OPEN_FILES = 64;

/** A line of the main thread's, spoken for `role`, stamped for the demo or formatted. */
function say(common: CommonOptions | undefined, role: Role, kind: Kind, text: string): void {
  if (common?.stamped) return writeStderr(stamped(role, kind, text));
  writeStderr(formatLine(role, Deno.pid, text, { color: stderrHasColor(), kind }));
}

/** One started thread, and how it ended. */
interface Started {
  role: Role;
  worker: Worker;
  tid?: number;
  status?: number;
}

/** Steps 1 to 6: the channel, the two threads, and their statuses. */
async function runThreads(
  common: CommonOptions,
  options: ThreadsOptions,
  chunk: number,
  threadModule: URL,
): Promise<number> {
  // 1. The channel between the threads.
  const ring = options.model === "shared" ? SharedRing.create(options.slots, chunk) : null;
  const ports = options.model === "message" ? new MessageChannel() : null;

  // 2. The threads. Each Worker loads thread.ts on a new thread, and says its thread id.
  //    A Worker is a JavaScript runtime of its own, which opens files to load its modules:
  //    under a low `ulimit -n` Deno fails to start one (or panics), so say so first.
  const openFiles = softLimit("Max open files");
  if (openFiles !== null && openFiles < MIN_OPEN_FILES) {
    throw new LessonError(
      "two threads need more open files than the limit allows: each Worker is a JavaScript " +
        `runtime of its own, which opens files to load its modules; raise the limit to ` +
        `${MIN_OPEN_FILES} or more (ulimit -n, now ${openFiles})`,
    );
  }
  const threads: Started[] = (["server", "client"] as const).map((role) => ({
    role,
    worker: new Worker(threadModule, { type: "module", name: role }),
  }));
  const everyThread = () => threads.map((thread) => thread.worker);
  let resolveAll!: () => void;
  const allDone = new Promise<void>((resolve) => resolveAll = resolve);
  let resolveReady!: () => void;
  const allReady = new Promise<void>((resolve) => resolveReady = resolve);

  // 4. How each may end: it reports its status, or dies of an uncaught exception.
  const finished = (thread: Started, status: number, why: string | null) => {
    if (thread.status !== undefined) return;
    thread.status = status;
    thread.worker.terminate();
    const peer = threads.find((other) => other !== thread)!;
    if (status !== 0 && peer.status === undefined) {
      const text = why ?? `the ${thread.role} thread has failed (its own line says why)`;
      ring?.stop("failed", text);
      const message: ToThread = { kind: "peer-failed", why: text };
      peer.worker.postMessage(message);
    }
    if (threads.every((each) => each.status !== undefined)) resolveAll();
  };
  for (const thread of threads) {
    thread.worker.onmessage = (event: MessageEvent<FromThread>) => {
      const message = event.data;
      if (message.kind === "ready") {
        thread.tid = message.tid;
        if (threads.every((each) => each.tid !== undefined)) resolveReady();
      } else {
        finished(thread, message.status, null);
      }
    };
    thread.worker.onerror = (event) => {
      // An exception nobody caught in that thread: the thread is gone (Deno has printed the
      // exception). Keep the process alive, and tell the other thread.
      event.preventDefault();
      // Its message, without the stack (Deno's own print has it): what failed, and a limit's hint.
      const text = event.message.split("\n").filter((line) => !/^\s*at /.test(line))
        .map((line) => line.trim()).join(" ");
      const why = `the ${thread.role} thread died of an exception nobody caught (${text})${
        limitHint(text)
      }`;
      say(common, thread.role, "error", why);
      finished(thread, 1, why);
      resolveReady();
    };
  }

  // 5. A stop signal reaches every thread's own listener; a thread asleep on the ring hears
  //    of it only when its wait ends, so the main thread also marks the ring stopped.
  let stoppedBy: StopSignal | null = null;
  const listeners = (Object.keys(STOP_SIGNALS) as StopSignal[]).map((signal) => {
    const listener = () => {
      stoppedBy ??= signal;
      ring?.stop(signal, "");
    };
    Deno.addSignalListener(signal, listener);
    return { signal, listener };
  });

  try {
    const startup = setTimeout(() => {
      for (const thread of threads) {
        if (thread.tid === undefined && thread.status === undefined) {
          const why = `the ${thread.role} thread had not started after ${
            formatSeconds(common.timeoutMs / 1000)
          } s (--timeout)`;
          say(common, thread.role, "error", why);
          finished(thread, 1, why);
        }
      }
      resolveReady();
    }, common.timeoutMs);
    await allReady;
    clearTimeout(startup);
    if (stoppedBy !== null) {
      // Interrupted while the threads were starting: they have not begun, and made nothing.
      say(common, "server", "error", `interrupted by ${stoppedBy} before the threads began`);
      return STOP_SIGNALS[stoppedBy];
    }
    if (threads.some((thread) => thread.status !== undefined)) {
      // A thread never started, or died on its way up (its line is said): the other is given
      // no side to run, so that it does not wait for a peer that will never come.
      return 1;
    }

    // 3. Each thread gets its side and its end of the channel.
    const ids: ThreadIds = {
      main: gettid(),
      server: threads[0]!.tid ?? 0,
      client: threads[1]!.tid ?? 0,
    };
    const sideCommon: CommonOptions = { ...common, parent: undefined };
    for (const [i, thread] of threads.entries()) {
      if (thread.status !== undefined) continue;
      let link: ThreadLink;
      const transfer: Transferable[] = [];
      if (ring !== null) {
        link = { model: "shared", ring: ring.buffer, threads: ids };
      } else {
        const port = i === 0 ? ports!.port1 : ports!.port2;
        link = { model: "message", port, threads: ids };
        transfer.push(port);
      }
      const message: ToThread = {
        kind: "run",
        role: thread.role,
        common: { ...sideCommon, mode: thread.role },
        options,
        chunk,
        link,
      };
      thread.worker.postMessage(message, transfer);
    }
    await allDone;
  } finally {
    for (const { signal, listener } of listeners) Deno.removeSignalListener(signal, listener);
    for (const worker of everyThread()) worker.terminate();
  }

  // 6. The worse status: an interruption first (128 + n), then a failure.
  const statuses = threads.map((thread) => thread.status ?? 1);
  return statuses.find((status) => status > 128) ?? Math.max(...statuses);
}
