/**
 * The threads of the threads lesson's labs: each Worker gets one task from `labs.ts`, does it,
 * and posts what it saw. Plain, synchronous loops: the mistakes are in what they leave out.
 *
 * @module
 */

import { SharedRing } from "../../transports/shared_ring.ts";

/** A task for a lab thread. */
export type LabTask =
  | { kind: "unsynced-producer"; buffer: SharedArrayBuffer; chunks: number }
  | { kind: "unsynced-consumer"; buffer: SharedArrayBuffer; chunks: number }
  | { kind: "synced-producer"; buffer: SharedArrayBuffer; chunks: number }
  | { kind: "synced-consumer"; buffer: SharedArrayBuffer; chunks: number }
  | { kind: "notify"; flag: SharedArrayBuffer; count: boolean }
  | { kind: "wait"; flag: SharedArrayBuffer; ms: number }
  | { kind: "receive"; bytes: ArrayBuffer };

/** What a lab thread reports. */
export type LabReport =
  | { kind: "consumed"; torn: number; checksum: number }
  | { kind: "produced"; checksum: number }
  | { kind: "notified"; woken: number }
  | { kind: "waited"; how: string; ms: number }
  | { kind: "received"; bytes: number };

/** Chunk `i`'s content: its number, then the byte `i mod 251` everywhere else. */
export function fillChunk(slot: Uint8Array, i: number): void {
  slot.fill(i % 251);
  new DataView(slot.buffer, slot.byteOffset, 4).setUint32(0, i);
}

/** Whether `slot` holds chunk `i` exactly. */
export function isChunk(slot: Uint8Array, i: number): boolean {
  if (new DataView(slot.buffer, slot.byteOffset, 4).getUint32(0) !== i) return false;
  const byte = i % 251;
  for (let k = 4; k < slot.length; k++) if (slot[k] !== byte) return false;
  return true;
}

/** A running checksum (FNV-1a over 32-bit words is enough to tell two streams apart). */
export function checksumOf(slot: Uint8Array, sum: number): number {
  for (let k = 0; k < slot.length; k += 64) sum = Math.imul(sum ^ slot[k]!, 16777619) >>> 0;
  return sum;
}

const scope = globalThis as unknown as {
  postMessage(message: LabReport): void;
  onmessage: ((event: MessageEvent<LabTask>) => void) | null;
};

scope.onmessage = async (event) => {
  const task = event.data;
  switch (task.kind) {
    case "unsynced-producer":
    case "unsynced-consumer": {
      // The ring's slots, used in turn, with nobody counting what is free or filled.
      const ring = new SharedRing(task.buffer);
      let sum = 2166136261;
      let torn = 0;
      for (let i = 0; i < task.chunks; i++) {
        const slot = ring.slot(i % ring.slots);
        if (task.kind === "unsynced-producer") {
          fillChunk(slot, i);
          sum = checksumOf(slot, sum);
        } else {
          if (!isChunk(slot, i)) torn++;
          sum = checksumOf(slot, sum);
        }
      }
      scope.postMessage(
        task.kind === "unsynced-producer"
          ? { kind: "produced", checksum: sum }
          : { kind: "consumed", torn, checksum: sum },
      );
      break;
    }
    case "synced-producer": {
      const ring = new SharedRing(task.buffer);
      const producer = ring.producer({ timeout: 10_000 });
      let sum = 2166136261;
      for (let i = 0; i < task.chunks; i++) {
        const slot = await producer.acquire();
        fillChunk(slot, i);
        sum = checksumOf(slot, sum);
        producer.publish(slot.length);
      }
      await producer.end();
      scope.postMessage({ kind: "produced", checksum: sum });
      break;
    }
    case "synced-consumer": {
      const consumer = new SharedRing(task.buffer).consumer({ timeout: 10_000 });
      let sum = 2166136261;
      let torn = 0;
      for (let i = 0;; i++) {
        const slot = await consumer.receive();
        if (slot.length === 0) break;
        if (!isChunk(slot, i)) torn++;
        sum = checksumOf(slot, sum);
      }
      scope.postMessage({ kind: "consumed", torn, checksum: sum });
      break;
    }
    case "notify": {
      // "The data is ready": with a counter, the news is in memory; without, only in the notify.
      const flag = new Int32Array(task.flag);
      if (task.count) Atomics.add(flag, 0, 1);
      scope.postMessage({ kind: "notified", woken: Atomics.notify(flag, 0) });
      break;
    }
    case "wait": {
      const flag = new Int32Array(task.flag);
      const started = performance.now();
      const how = Atomics.wait(flag, 0, 0, task.ms);
      scope.postMessage({ kind: "waited", how, ms: performance.now() - started });
      break;
    }
    case "receive":
      // The 64 MiB have arrived (moved or copied): say so at once.
      scope.postMessage({ kind: "received", bytes: task.bytes.byteLength });
      break;
  }
};
