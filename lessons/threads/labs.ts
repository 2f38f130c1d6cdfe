/**
 * Break-it labs of the threads lesson: `deno task lesson:threads --break no-sync`.
 *
 * Each lab starts real threads (Workers running `lab_thread.ts`) and makes one classic mistake
 * of shared-memory or message-passing programs, then shows the fix beside it.
 *
 * @module
 */

import { SharedRing } from "../../transports/shared_ring.ts";
import { formatBytes } from "../../transports/units.ts";
import type { Lab, LabContext } from "../_labs.ts";
import type { LabReport, LabTask } from "./lab_thread.ts";

/** A lab thread, terminated when the block that made it ends (on Ctrl-C too). */
function labThread(lab: LabContext) {
  const worker = new Worker(new URL("./lab_thread.ts", import.meta.url), { type: "module" });
  const stop = () => worker.terminate();
  lab.signal.addEventListener("abort", stop, { once: true });
  return {
    /** Gives the thread `task` (its buffers shared, or moved when in `transfer`). */
    run(task: LabTask, transfer: Transferable[] = []): Promise<LabReport> {
      return new Promise((resolve, reject) => {
        worker.onmessage = (event: MessageEvent<LabReport>) => resolve(event.data);
        worker.onerror = (event) => {
          event.preventDefault();
          reject(new Error(`a lab thread failed: ${event.message}`));
        };
        lab.signal.addEventListener("abort", () => reject(lab.signal.reason), { once: true });
        worker.postMessage(task, transfer);
      });
    },
    [Symbol.dispose]: stop,
  };
}

/** How many chunks the no-sync lab sends: 64 MiB through a ring of 8 slots of 4 KiB. */
const CHUNKS = 16384;

/** The threads lesson's labs. */
export const labs: Lab[] = [
  {
    name: "no-sync",
    summary: "both threads use the ring without the counters: the copy is torn",
    explanation: {
      cause:
        "nothing told the consumer that a slot was filled, nor the producer that it was free: each thread ran at its own speed, so the consumer read slots before they were written, or after they had been overwritten with later chunks. Shared memory shares the bytes, not the order: that takes synchronisation.",
      fix:
        "count free and filled slots (two counters, or two semaphores between processes): the producer takes a free slot before filling it and then gives a filled one; the consumer takes a filled slot and then gives it back (transports/shared_ring.ts). The checksum is then the same.",
    },
    async run(lab) {
      const ring = SharedRing.create(8, 4096);
      lab.say(
        `1. the mistake: a producer and a consumer thread walk a ring of ${ring.slots} slots of ` +
          `${formatBytes(ring.slotSize)} in turn, ${CHUNKS} chunks (${
            formatBytes(CHUNKS * ring.slotSize)
          }), with no counters: nobody waits for anybody`,
      );
      const sums = await runPair(lab, ring, "unsynced", CHUNKS);
      lab.say(
        `the producer's checksum ${hex(sums.sent)}, the consumer's ${
          hex(sums.received)
        }; ${sums.torn} ` +
          `of ${CHUNKS} chunks were not what was sent when the consumer read them`,
      );
      const seen = sums.torn > 0 && sums.sent !== sums.received;
      if (seen) {
        lab.symptom(
          `the checksums differ (sent ${hex(sums.sent)}, received ${
            hex(sums.received)
          }): ${sums.torn} of ${CHUNKS} chunks torn, missed or read twice`,
        );
      }
      lab.say("2. the fix: the same threads, with the free and filled counters (Atomics.wait)");
      const fixed = await runPair(lab, SharedRing.create(8, 4096), "synced", CHUNKS);
      lab.say(
        `checksums ${hex(fixed.sent)} and ${hex(fixed.received)}, ${fixed.torn} chunks torn: ${
          fixed.torn === 0 && fixed.sent === fixed.received ? "the same" : "STILL DIFFERENT"
        }`,
      );
      return seen && fixed.torn === 0 && fixed.sent === fixed.received;
    },
  },
  {
    name: "lost-wakeup",
    summary: "a notify that comes before the wait is lost: the sleeper waits until its timeout",
    explanation: {
      cause:
        "Atomics.notify (a wake with FUTEX_WAKE's semantics) wakes only the threads asleep at that moment; it leaves nothing behind. The notify came before the other thread went to sleep, so nobody was woken, and the sleeper then waited for news that had already come and gone.",
      fix:
        "put the news in memory, and sleep only while it has not come: a counter the notifier increments before notifying, and Atomics.wait(counter, 0), which sleeps only if the counter is still 0 when Atomics.wait looks (returning not-equal otherwise), atomically with respect to Atomics.notify: V8 checks the value under its own lock, the one notify also takes. That is FUTEX_WAIT's semantics, but not the kernel's futex on the counter. A semaphore is exactly that counter.",
    },
    async run(lab) {
      const timeout = 2000;
      lab.say("1. the mistake: thread A says 'ready' with Atomics.notify alone, before B waits");
      const bare = new SharedArrayBuffer(4);
      {
        using a = labThread(lab);
        using b = labThread(lab);
        const notified = await a.run({ kind: "notify", flag: bare, count: false });
        lab.say(`A: Atomics.notify woke ${(notified as { woken: number }).woken} threads`);
        lab.say(`B: Atomics.wait(flag, 0, 0, ${timeout}): sleeping while the flag is 0`);
        const waited = await b.run({ kind: "wait", flag: bare, ms: timeout }) as {
          how: string;
          ms: number;
        };
        lab.say(`B: Atomics.wait returned "${waited.how}" after ${waited.ms.toFixed(0)} ms`);
        if (waited.how !== "timed-out") return false;
        lab.symptom(
          `B slept until its timeout (${
            (waited.ms / 1000).toFixed(1)
          } s, "timed-out"): the notify had come before the wait, and nothing remembered it`,
        );
      }
      lab.say("2. the fix: A increments a counter, then notifies; B sleeps only while it is 0");
      const counter = new SharedArrayBuffer(4);
      using a = labThread(lab);
      using b = labThread(lab);
      await a.run({ kind: "notify", flag: counter, count: true });
      const waited = await b.run({ kind: "wait", flag: counter, ms: timeout }) as {
        how: string;
        ms: number;
      };
      lab.say(
        `B: Atomics.wait returned "${waited.how}" after ${
          waited.ms.toFixed(3)
        } ms: the counter already said 1`,
      );
      return waited.how === "not-equal";
    },
  },
  {
    name: "copy-vs-transfer",
    summary: "postMessage of 64 MiB, cloned and transferred: the time, and the sender's buffer",
    explanation: {
      cause:
        "postMessage clones what it is given (structured clone): 64 MiB are copied into the receiving thread's heap, and the sender keeps its own. With the buffer in the transfer list, the memory itself changes owner: nothing is copied, and the sender's ArrayBuffer is detached, length 0, so that two threads can never touch the same bytes.",
      fix:
        "transfer large buffers (postMessage(message, [buffer])), and do not use them after: allocate a new one, or have the receiver transfer it back (transports/worker_channel.ts keeps a pool going round). Copy only what is small, or what the sender must keep.",
    },
    async run(lab) {
      const size = 64 * 1024 * 1024;
      using thread = labThread(lab);
      const times = { copy: 0, transfer: 0 };
      const lengths = { copy: 0, transfer: 0 };
      for (const how of ["copy", "transfer"] as const) {
        const buffer = new ArrayBuffer(size);
        new Uint8Array(buffer).fill(7); // touched: really in memory
        const started = performance.now();
        const report = await thread.run(
          { kind: "receive", bytes: buffer },
          how === "transfer" ? [buffer] : [],
        ) as { bytes: number };
        times[how] = performance.now() - started;
        lengths[how] = buffer.byteLength;
        lab.say(
          `${how}: the thread received ${formatBytes(report.bytes)} after ${
            times[how].toFixed(2)
          } ms (there and back); the sender's buffer now has byteLength ${buffer.byteLength}` +
            (buffer.byteLength === 0 ? " (detached)" : ""),
        );
      }
      if (lengths.transfer !== 0 || lengths.copy !== size) return false;
      lab.symptom(
        `after the transfer the sender's ArrayBuffer is detached (byteLength 0); after the copy it ` +
          `still holds ${formatBytes(size)}; copying took ${times.copy.toFixed(1)} ms, ` +
          `transferring ${times.transfer.toFixed(2)} ms`,
      );
      return true;
    },
  },
];

/** Runs a producer and a consumer thread over `ring`; their checksums and the torn chunks. */
async function runPair(
  lab: LabContext,
  ring: SharedRing,
  how: "unsynced" | "synced",
  chunks: number,
): Promise<{ sent: number; received: number; torn: number }> {
  using producer = labThread(lab);
  using consumer = labThread(lab);
  const [produced, consumed] = await Promise.all([
    producer.run({ kind: `${how}-producer`, buffer: ring.buffer, chunks }),
    consumer.run({ kind: `${how}-consumer`, buffer: ring.buffer, chunks }),
  ]) as [{ checksum: number }, { checksum: number; torn: number }];
  return { sent: produced.checksum, received: consumed.checksum, torn: consumed.torn };
}

function hex(n: number): string {
  return n.toString(16).padStart(8, "0");
}
