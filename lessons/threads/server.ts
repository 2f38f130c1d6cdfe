/**
 * The threads lesson's server: the producer thread.
 *
 * It runs in a Worker, a thread of the lesson's process, and reads the input file into the
 * channel the process gave it: a slot of the shared ring (`--model shared`), or a buffer it
 * posts to the client thread (`--model message`). It says which thread it is: the process id
 * is the same in every thread; the kernel's thread id (gettid) is its own.
 *
 * @module
 */

import { gettid } from "../../transports/libc.ts";
import { SharedRing } from "../../transports/shared_ring.ts";
import { threadsOf } from "../../transports/threads.ts";
import { formatBytes } from "../../transports/units.ts";
import { PortSink } from "../../transports/worker_channel.ts";
import type { Side } from "../_lesson.ts";
import {
  describeWaits,
  onPeerGone,
  threadContext,
  type ThreadLink,
  type ThreadsOptions,
  throwIfAsked,
  timeoutMessage,
} from "./common.ts";

/** Sends the input file to the client thread. */
export async function server(side: Side<ThreadsOptions>): Promise<void> {
  const { log, options } = side;
  const { link, peerGone } = threadContext("server");

  // 1. Open the input first: if it is missing, this thread fails before anything is sent.
  using input = side.openInput();

  // 2. Who am I? One process (getpid is the same in all its threads), several threads: the
  //    kernel gives each its own thread id, and lists them in /proc/PID/task/.
  log.say(
    `I am the server thread, the producer: thread id ${gettid()} (gettid) in process ${Deno.pid} ` +
      `(getpid); I send ${JSON.stringify(input.path)} (${formatBytes(input.size)})`,
  );
  log.say(describeTasks(link));

  // 3. The copy loop, in the model asked for. (`--throw-after server:0` throws here, before the
  //    first chunk.)
  side.startClock();
  throwIfAsked(side);
  if (link.model === "shared") {
    // Shared memory: the file is read straight into a slot of the ring, which the client
    // thread sees at once; the counters say when a slot is free and when it is filled.
    const ring = new SharedRing(link.ring);
    log.say(
      `shared memory: a ring of ${ring.slots} slots of ${formatBytes(ring.slotSize)} in a ` +
        "SharedArrayBuffer both threads see, counted by two 32-bit counters (free, filled) " +
        "that Atomics.wait and Atomics.notify sleep and wake on: no name, no mmap, no semaphore",
    );
    const producer = ring.producer({
      timeout: side.timeoutMs,
      signal: side.signal,
      onSleep: log.tracing ? (text) => log.trace(text) : undefined,
      timeoutMessage: timeoutMessage("server"),
    });
    for (;;) {
      const slot = await producer.acquire();
      const n = input.read(slot.subarray(0, side.chunk));
      if (n === 0) {
        producer.publishEnd();
        break;
      }
      producer.publish(n);
      side.count(n);
      throwIfAsked(side);
    }
    log.say(
      `sent ${formatBytes(side.bytes)}, then the end marker (a slot of length -1); ${
        describeWaits(producer, "full")
      }`,
    );
    return;
  }

  // Message passing: each chunk is read into a buffer that is then posted to the client
  // thread, transferred (its memory changes owner, no copy) or, with --copy, cloned.
  const how = options.copy
    ? "cloned (--copy: the bytes are copied into the client's heap)"
    : "transferred (the ArrayBuffer changes owner: nothing is copied, and it comes back with the acknowledgement)";
  log.say(
    `message passing: each chunk is posted on a MessagePort, ${how}; at most ${options.slots} ` +
      "chunks unacknowledged (the back-pressure window)",
  );
  const sink = new PortSink(link.port, {
    chunk: side.chunk,
    window: options.slots,
    copy: options.copy,
    timeout: side.timeoutMs,
    signal: side.signal,
    timeoutMessage: timeoutMessage("server"),
    onSleep: log.tracing ? (text) => log.trace(text) : undefined,
  });
  onPeerGone(peerGone, (reason) => sink.fail(reason));
  try {
    for (;;) {
      const buffer = await sink.acquire();
      const n = input.read(buffer.subarray(0, side.chunk));
      if (n === 0) break;
      sink.publish(buffer, n);
      side.count(n);
      throwIfAsked(side);
    }
    await sink.end();
  } finally {
    sink.close();
  }
  log.say(`sent ${formatBytes(side.bytes)}, then the end message; every chunk was acknowledged`);
}

/** One sentence on the threads of this process, from /proc/PID/task/. */
function describeTasks(link: ThreadLink): string {
  const { main, server, client } = link.threads;
  const tasks = threadsOf(Deno.pid);
  const others = tasks.filter((task) => ![main, server, client].includes(task.tid));
  const names = [...new Set(others.map((task) => task.name))].join(", ");
  // The kernel's name of a thread (comm, what top -H shows): Deno names its Workers' threads
  // worker-1, worker-2, …, not by the Worker's name.
  const named = (tid: number) => {
    const name = tasks.find((task) => task.tid === tid)?.name;
    return name === undefined ? "" : `, named ${JSON.stringify(name)}`;
  };
  const same = main === Deno.pid ? ": its id is the process id" : "";
  return `/proc/${Deno.pid}/task/ lists ${tasks.length} threads of this one process: ${main} ` +
    `(the main thread, which started us${same}), ${server} (the server thread, me${
      named(server)
    }), ${client} (the client thread${named(client)}), and ${others.length} of Deno's own ` +
    `(${names})`;
}
