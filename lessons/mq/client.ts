/**
 * The message-queue lesson's client: the receiver.
 *
 * It opens the queue the server created (waiting for it to appear), removes its name at once,
 * and writes every message it receives into the output file, until the empty message that
 * marks the end.
 *
 * @module
 */

import { otherHolders } from "../../transports/holders.ts";
import { MessageQueue } from "../../transports/mq.ts";
import { formatBytes } from "../../transports/units.ts";
import { seconds } from "../../transports/wait.ts";
import { LessonError, type Side } from "../_lesson.ts";
import { type MqOptions, traceDepth } from "./common.ts";

/** Copies what comes through the queue `side.options.name` into the output file. */
export async function client(side: Side<MqOptions>): Promise<void> {
  const { log } = side;
  const { name } = side.options;

  // 1. Create the output first (unnamed until the copy is complete): a bad output path should
  //    fail before anyone waits for us.
  using output = side.createOutput();
  log.say(`I am the client, the receiver: I write ${JSON.stringify(output.path)}`);

  // 2. Open the queue. Only the server creates it, so it may not be there yet: mq_open()
  //    fails with ENOENT, and we try again until it appears or --timeout runs out.
  if (side.byHand && side.options.nameIsDefault) {
    log.say(`in another terminal, run: deno task lesson:mq server --name ${name} --input FILE`);
  }
  log.say(`waiting up to ${seconds(side.timeoutMs)} for the server to create the queue ${name}`);
  using queue = await openQueue(side);
  log.say(
    `opened the queue ${name} with mq_open(O_RDONLY); mq_getattr() says it holds ` +
      `${queue.maxmsg} messages of up to ${queue.msgsize} bytes`,
  );

  // 3. Remove the name now. The queue lives on while the server and we have it open; without
  //    a name, nothing is left behind even if one of us is killed, and nobody else can join.
  //    It also tells the server that a client has come (see README.md, "the protocol").
  //    (No other process with it open: a server killed after it sent left it; we take what
  //    is in it, and an end marker, if it got that far, ends the copy as usual.)
  const others = otherHolders(queue.fd);
  queue.unlink();
  log.say(
    `removed the name ${name} with mq_unlink(): the queue lives on while ${
      others.length > 0
        ? `we both have it open`
        : "we have it open (no other process has: a server that was killed left it, with what " +
          "it had sent)"
    } (/proc/${Deno.pid}/fd/${queue.fd} now shows "${name} (deleted)")`,
  );

  // 4. The receive buffer must hold mq_msgsize bytes, even when the messages are shorter:
  //    POSIX requires a buffer of at least mq_msgsize, and mq_receive() checks that before it
  //    looks at the queue (EMSGSIZE even when it is empty). So its size comes from mq_getattr().
  const buffer = new Uint8Array(queue.msgsize);
  log.say(
    `my receive buffer holds ${buffer.length} bytes, mq_msgsize from mq_getattr(): ` +
      "a smaller one would fail with EMSGSIZE, even for a short message",
  );

  // 5. The copy loop: one message at a time, each a whole piece of the file, in order. When
  //    the queue is empty, mq_receive() fails with EAGAIN and we wait for the server.
  let messages = 0;
  side.startClock();
  for (;;) {
    const message = await receiveOrExplain(side, queue, buffer);
    if (message.length === 0) break; // the end-of-file marker
    output.write(message);
    messages++;
    side.count(message.length);
  }
  side.stopClock();
  log.say(
    `the empty message: end of file after ${formatBytes(side.bytes)} in ${messages} ` +
      `message${messages === 1 ? "" : "s"}`,
  );

  // 6. The copy is complete: give the output its name.
  log.say(await output.commit());
}

/** Opens the queue, waiting for the server to create it. */
async function openQueue(side: Side<MqOptions>): Promise<MessageQueue> {
  const { name } = side.options;
  try {
    return await MessageQueue.open(name, {
      access: "receive",
      wait: side.timeoutMs,
      ...side.waits,
    });
  } catch (error) {
    if (error instanceof Deno.errors.TimedOut) {
      throw new LessonError(
        `no server created the queue ${name} within ${seconds(side.timeoutMs)}`,
      );
    }
    throw error;
  }
}

/**
 * Receives one message. A queue has no end-of-file: if the server dies, no call says so. The
 * transport notices instead that the queue has no name and nobody else has it open, so no
 * message can ever come.
 */
async function receiveOrExplain(
  side: Side<MqOptions>,
  queue: MessageQueue,
  buffer: Uint8Array,
): Promise<Uint8Array> {
  let message: Uint8Array;
  try {
    message = await queue.receive(buffer);
  } catch (error) {
    if (error instanceof Deno.errors.BrokenPipe) {
      // Or the server did send it, and another process of this user's received it (or other
      // messages): a queue delivers each message to whoever asks first, and cannot tell.
      throw new LessonError(
        `the server exited after ${formatBytes(side.bytes)}, before the end-of-file message: ` +
          "transfer incomplete (the queue has no name and nobody else has it open; unless " +
          "another process of yours received messages from it, which a queue cannot prevent)",
      );
    }
    if (error instanceof Deno.errors.TimedOut && side.bytes > 0) {
      // The server is still there, but silent: stuck, or a sender that forgot the marker.
      throw new LessonError(
        `${error.message}, after ${formatBytes(side.bytes)}: the server is stuck, or never ` +
          "sent the empty end-of-file message",
      );
    }
    throw error;
  }
  traceDepth(side.log, queue);
  return message;
}
