/**
 * Break-it labs of the message-queue lesson:
 *
 *     deno task lesson:mq --break small-buffer
 *     deno task lesson:mq --break no-end-marker
 *
 * @module
 */

import { join } from "node:path";
import { pathExists } from "../../transports/files.ts";
import * as libc from "../../transports/libc.ts";
import { MessageQueue, queueExists, queueLimits, removeQueue } from "../../transports/mq.ts";
import { sleep } from "../../transports/wait.ts";
import type { Lab, LabContext } from "../_labs.ts";
import { command, denoArgv, uniqueName } from "../_lesson.ts";
import { linesOf, writeStderr } from "../_log.ts";

/** How long the client waits for a message in the no-end-marker lab, in seconds. */
const CLIENT_TIMEOUT_S = 2;

/**
 * A queue opened with raw calls, for `using`: however the lab ends, its name is removed and its
 * descriptor closed. `close()` does both now (traced, as part of the story).
 */
function rawQueue(name: string, fd: number): { close(): void } & Disposable {
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    try {
      removeQueue(name); // mq_unlink(); false if the name is gone already
    } finally {
      libc.mq_close(fd);
    }
  };
  return { close, [Symbol.dispose]: close };
}

/** Says that no queue named `name` is left; throws if one is (a bug in the lab). */
function checkGone(lab: LabContext, name: string): void {
  if (queueExists(name)) throw new Error(`the lab left the queue ${name} behind`);
  lab.say(`checked: no queue named ${name} is left (mq_open() says ENOENT)`);
}

/** How one run of the lesson's client ended. */
interface ClientRun {
  /** Its exit status. */
  code: number;
  /** How long it ran, in milliseconds. */
  ms: number;
  /** Its one error line, without the `error: ` in front, or null. */
  error: string | null;
}

/**
 * Runs the lesson's real client (`main.ts client`) on the queue `name`, writing `output`.
 * Its narration is shown as it comes. It is killed if it is still running after `limitMs`
 * (then the result is null), and when the lab is interrupted.
 */
async function runClient(
  lab: LabContext,
  name: string,
  output: string,
  limitMs: number,
): Promise<ClientRun | null> {
  const args = ["client", "--name", name, "--output", output, "--timeout", `${CLIENT_TIMEOUT_S}`];
  const started = performance.now();
  const child = command(denoArgv(new URL("./main.ts", import.meta.url).href, args), {
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  };
  using _stopsTheClient = { [Symbol.dispose]: kill };
  lab.say(`started the client, process ${child.pid}: deno task lesson:mq ${args.join(" ")}`);

  // Show the client's own lines as they come, and keep its error line.
  let error: string | null = null;
  const relay = (async () => {
    for await (const line of linesOf(child.stderr)) {
      writeStderr(`${line}\n`);
      error ??= line.match(/│ error: (.+)$/)?.[1] ?? null;
    }
  })();

  const tooLong = sleep(limitMs, lab.signal).then(() => null);
  const status = await Promise.race([child.status, tooLong]);
  if (status === null) kill();
  await child.status;
  await relay;
  return status === null ? null : { code: status.code, ms: performance.now() - started, error };
}

/** The message-queue lesson's labs. */
export const labs: Lab[] = [
  {
    name: "small-buffer",
    summary:
      "mq_receive() with a buffer smaller than mq_msgsize fails with EMSGSIZE, even for a short message",
    explanation: {
      cause:
        'POSIX requires the buffer given to mq_receive() to be at least the queue\'s mq_msgsize, the longest message the queue accepts (mq_receive(3)). Linux checks that first, before it looks at the queue at all: the buffer is compared with mq_msgsize, not with the message that is waiting, and a smaller one is refused with EMSGSIZE ("Message too long"), even on an empty queue. Nothing is lost: the message stays in the queue.',
      fix:
        "size the receive buffer from the queue itself: mq_getattr(mqd, &attr), then a buffer of attr.mq_msgsize bytes, made once and reused for every receive (as lessons/mq/client.ts does). If you want small buffers, create the queue with a small mq_msgsize.",
    },
    run(lab) {
      const name = `/${uniqueName("mq")}`;
      // The lesson's default: messages of up to msgsize_max bytes (8192 here).
      const { msgsize } = queueLimits();
      const message = new TextEncoder().encode("hello, queue\n");
      const small = new Uint8Array(64);

      lab.say(
        `1. create a queue for messages of up to ${msgsize} bytes, and send one short message ` +
          `of ${message.length} bytes`,
      );
      // Room for one message is all this lab needs. O_NONBLOCK: no call of this lab can wait,
      // so it ends at once whatever happens.
      lab.trace(true);
      const fd = libc.mq_open(
        name,
        libc.O.CREAT | libc.O.EXCL | libc.O.RDWR | libc.O.NONBLOCK | libc.O.CLOEXEC,
        0o600,
        { maxmsg: 1, msgsize },
      );
      using queue = rawQueue(name, fd);
      libc.mq_send(fd, message);
      lab.trace(false);

      lab.say(
        `2. the mistake: receive it into a ${small.length}-byte buffer: plenty for a ` +
          `${message.length}-byte message, you would think`,
      );
      lab.trace(true);
      let refused = false;
      try {
        libc.mq_receive(fd, small);
      } catch (error) {
        if (!(error instanceof libc.LibcError) || error.code !== "EMSGSIZE") throw error;
        refused = true;
      }
      // Did the refused receive lose the message? mq_curmsgs counts what is still waiting.
      const { curmsgs } = libc.mq_getattr(fd);
      lab.trace(false);
      if (!refused) return Promise.resolve(false);
      lab.symptom(
        `mq_receive() into a ${small.length}-byte buffer failed with EMSGSIZE (Message too long), ` +
          `though the message waiting is only ${message.length} bytes; the queue still holds ` +
          `${curmsgs} message`,
      );

      lab.say(
        "3. the fix: ask the queue how long a message may be (mq_getattr), and receive into a " +
          "buffer of exactly that size; then remove the name and close",
      );
      lab.trace(true);
      const buffer = new Uint8Array(libc.mq_getattr(fd).msgsize);
      const length = libc.mq_receive(fd, buffer);
      queue.close();
      lab.trace(false);
      if (length === libc.WOULD_BLOCK) throw new Error("the message vanished from the queue");
      lab.say(
        `with a buffer of ${buffer.length} bytes, mq_receive() returned the message: ${length} bytes, ` +
          JSON.stringify(new TextDecoder().decode(buffer.subarray(0, length))),
      );
      checkGone(lab, name);
      return Promise.resolve(true);
    },
  },

  {
    name: "no-end-marker",
    summary: "a sender forgets the empty end-of-file message: the receiver waits until its timeout",
    explanation: {
      cause:
        "a message queue has no end-of-file: closing it tells nobody anything, and mq_receive() on an empty queue simply waits. Seen from the receiver, a sender that has finished looks exactly like a slow one, so the lesson's protocol ends the file with a message of zero bytes. Without it, the client cannot know that the last message was the last: it waits for more until its timeout (for ever, without one), and since the copy never completed, it keeps no output file. (Had the sender exited, the client would notice within a second: a queue with no name that nobody else has open can never get another message. This sender is alive, and keeps the queue open.)",
      fix:
        "after the last piece of the file, send an empty message: mq_send(mqd, buf, 0, 0), as lessons/mq/server.ts does in its step 4; and never send an empty data message, so that the marker cannot be mistaken for data. Give every receive a deadline too, so that a sender that forgets costs seconds, not for ever.",
    },
    async run(lab) {
      const pieces = ["first line\n", "second line\n", "third line\n"].map((text) =>
        new TextEncoder().encode(text)
      );
      const limitMs = (CLIENT_TIMEOUT_S + 8) * 1000; // the client gives up long before

      lab.say(
        `1. the mistake: like the lesson's server, create a queue and send the file in ` +
          `${pieces.length} messages, but WITHOUT the empty message that marks the end`,
      );
      const name = `/${uniqueName("mq")}`;
      const output = join(lab.dir, "copy.txt");
      {
        // The lesson's default sizes. `using`: the name goes, and the descriptor is
        // closed, however the lab ends. The sends never wait: the queue has room for them all.
        lab.trace(true);
        using queue = MessageQueue.create(name, {
          ...queueLimits(),
          access: "send",
          timeout: 5000,
          signal: lab.signal,
        });
        for (const piece of pieces) await queue.send(piece);
        lab.trace(false);
        lab.say(
          `the ${pieces.length} messages wait in the queue (mq_curmsgs ` +
            `${queue.attributes().curmsgs}); this sender stays alive and keeps the queue open`,
        );

        lab.say(
          `2. start the lesson's real client on the queue, with --timeout ${CLIENT_TIMEOUT_S}: ` +
            `it should copy the ${pieces.length} lines into copy.txt and exit`,
        );
        const run = await runClient(lab, name, output, limitMs);
        if (run === null) return false;
        // What is left in the queue tells how many messages the client took.
        const taken = pieces.length - queue.attributes().curmsgs;
        lab.say(
          `the client exited with status ${run.code} after ${(run.ms / 1000).toFixed(1)} s; ` +
            `${output} ${pathExists(output) ? "exists" : "does not exist"}`,
        );
        if (run.code !== 1 || run.error === null || pathExists(output)) return false;
        lab.symptom(
          `the client received ${taken} messages, then waited ${CLIENT_TIMEOUT_S} s for more ` +
            `and gave up: ${JSON.stringify(run.error)}, with exit status 1 and no output file`,
        );
      }
      checkGone(lab, name);

      lab.say("3. the fix: the same messages, then an empty one; the same client");
      const fixedName = `/${uniqueName("mq")}`;
      const fixedOutput = join(lab.dir, "copy-fixed.txt");
      {
        lab.trace(true);
        using queue = MessageQueue.create(fixedName, {
          ...queueLimits(),
          access: "send",
          timeout: 5000,
          signal: lab.signal,
        });
        for (const piece of pieces) await queue.send(piece);
        await queue.send(new Uint8Array(0)); // the end-of-file marker
        lab.trace(false);
        const run = await runClient(lab, fixedName, fixedOutput, limitMs);
        const expected = pieces.reduce((sum, piece) => sum + piece.length, 0);
        const written = pathExists(fixedOutput) ? Deno.statSync(fixedOutput).size : 0;
        lab.say(
          run?.code === 0 && written === expected
            ? `with the end marker the client stopped at once: exit status 0 after ` +
              `${(run.ms / 1000).toFixed(1)} s, and ${fixedOutput} holds all ${written} bytes`
            : "even with the end marker the client did not complete the copy",
        );
      }
      checkGone(lab, fixedName);
      return true;
    },
  },
];
