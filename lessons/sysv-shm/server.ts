/**
 * The System V shared-memory lesson's server: the producer, and the creator of everything.
 *
 * It makes the semaphore set and the segment for one key, marks the ring ready, waits for the
 * client to attach, and marks the segment for removal at once (IPC_RMID: it lives on while
 * attached). The set cannot be marked: IPC_RMID removes a set at once, so the server removes
 * it last, once the client has detached. Then it reads the input file straight into slots.
 *
 * @module
 */

import { LibcError, semctlRemove, semget, shmctlRemove, shmget } from "../../transports/libc.ts";
import { PeerGone, RingBuffer, ringLayout } from "../../transports/ring_buffer.ts";
import {
  formatKey,
  ipcsLines,
  ringCounters,
  SemaphoreSet,
  sysvipcLines,
  SysVSegment,
  waitForDetach,
} from "../../transports/sysv_shm.ts";
import { formatBytes } from "../../transports/units.ts";
import { type KernelObject, LessonError, type Side } from "../_lesson.ts";
import type { Log } from "../_log.ts";
import { refuseTakenKeyLine, type SysvShmOptions } from "./common.ts";

/** Sends the input file through a ring of slots in a System V segment. */
export async function server(side: Side<SysvShmOptions>): Promise<void> {
  const { log } = side;
  const { slots, slotSize, keyValue: key } = side.options;
  const k = formatKey(key);

  // 1. Open the input first: if it is missing, nobody should be kept waiting for us.
  using input = side.openInput();
  log.say(
    `I am the server, the producer: I send ${JSON.stringify(input.path)} (${
      formatBytes(input.size)
    })`,
  );

  // 2. The key. ftok(path, proj) packs the project id and the file's device and inode into 32
  //    bits: every process that names the same file and id gets the same key, and no file name
  //    is stored anywhere. Nothing may exist for it yet: a killed run's objects stay for ever.
  log.say(`the key is ${k} (${side.options.keySource}); no segment or set may have it yet`);
  refuseTakenKeyLine(key);

  // 3. The semaphore set first, so that it exists before anyone can find a ready segment.
  //    semget(IPC_CREAT|IPC_EXCL, 0600) makes two semaphores at 0; semctl(SETVAL) gives "free"
  //    its N (every slot is free) and leaves "filled" at 0.
  using set = createSet(key, [slots, 0]);
  log.say(
    `created the semaphore set ${k} (semid ${set.id}) with semget(key, 2, IPC_CREAT|IPC_EXCL|` +
      `0600), then semctl(SETVAL): semaphore 0 "free" = ${slots}, semaphore 1 "filled" = 0`,
  );
  showObjects(log, "sem", set.id);

  // 4. The segment: shmget(IPC_CREAT|IPC_EXCL, 0600) makes it, all zero bytes, its size rounded
  //    up to whole pages; shmat() maps it where the kernel chooses.
  const layout = ringLayout(slots, slotSize);
  using segment = createSegment(key, layout.size);
  log.say(
    `created the segment ${k} (shmid ${segment.id}) with shmget(key, ${layout.size}, ` +
      `IPC_CREAT|IPC_EXCL|0600): a ${formatBytes(layout.dataOffset)} header + ${slots} slots × ${
        formatBytes(slotSize)
      }; shmat() mapped it at 0x${segment.address.toString(16)}`,
  );
  showObjects(log, "shm", segment.id);

  // 5. The header, the magic number last: a client that sees it knows everything is in place.
  //    The counters are the set's two semaphores; every claim of a slot uses SEM_UNDO.
  const counters = ringCounters(set, side.waits);
  const ring = RingBuffer.create(segment, counters, slots, slotSize, {
    ...side.waits,
    peer: "client",
  });
  log.say(`wrote the header, the magic number "RING" last: the ring is ready`);
  if (side.byHand && side.options.keyIsDefault) {
    log.say(
      `in another terminal, run: deno task lesson:sysv-shm client --key ${k} --output copy.txt`,
    );
  }

  // 6. Wait for the client to attach: it writes its pid into the header.
  log.say(`waiting for a client to attach to the segment ${k}`);
  const clientPid = await ring.waitForPeer();
  log.say(`the client, process ${clientPid}, has attached: shm_nattch is ${segment.stat().nattch}`);

  // 7. Mark the segment for removal now: its key is freed at once (shmget can no longer find
  //    it; ipcs shows the key 0x00000000 and the status "dest"), but the memory lives until the
  //    last process detaches. Whatever happens to either of us from now on, the segment cannot
  //    be left behind. The set cannot be marked like this (IPC_RMID removes it at once).
  segment.remove();
  log.say(
    `marked the segment for removal with shmctl(IPC_RMID): it lives until the last shmdt, ` +
      `and ipcs shows it as "dest" meanwhile`,
  );
  showObjects(log, "shm", segment.id);

  // 8. The copy loop: semop(free, -1, SEM_UNDO), read the next chunk straight into the slot,
  //    record its length, semop(filled +1; free +1 SEM_UNDO; free -1): the last two cancel the
  //    undo note of the claim, in the same atomic call. A slot holding 0 bytes ends the data.
  log.say(
    "copying: read() puts each chunk straight into a slot of the segment; semop() hands it over",
  );
  try {
    const chunks = ring.slots.map((slot) => slot.subarray(0, side.chunk));
    side.startClock();
    for (;;) {
      const slot = await ring.claimFree(); // semop(free -1, SEM_UNDO)
      const n = input.read(chunks[slot]!);
      if (log.tracing) {
        const counts = ring.counts();
        log.trace(
          `slot ${slot}: put ${n} bytes${
            n === 0 ? " (the end-of-file marker)" : ""
          }; free = ${counts.free}, filled = ${counts.filled}`,
        );
      }
      ring.publish(slot, n); // length[slot] = n; semop(filled +1, and cancel the undo)
      if (n === 0) break;
      side.count(n);
    }
    log.say(`sent ${formatBytes(side.bytes)}, then a slot holding 0 bytes: the end of the file`);

    // 9. Wait until the client has emptied every slot, the end marker included.
    await ring.drain().catch((error) => {
      // The client has gone, having taken every slot the server filled (a client killed while
      // it held one would have had it given back, as filled, by SEM_UNDO), yet a free slot is
      // missing: something else took it. The client's copy may well be whole.
      if (error instanceof PeerGone && ring.counts().filled === 0) {
        throw new LessonError(
          `the client (process ${error.pid}) exited having taken every slot, the end marker ` +
            `included, but not every slot came back: something else took semaphore 0 "free" ` +
            "(a stray semop), so the ring cannot be trusted; check the client's copy",
        );
      }
      throw error;
    });
    log.say("the client has emptied every slot: the transfer is complete");

    // 10. The set may go only once the client no longer uses it: it detaches when it has
    //     checked the end, and shm_nattch falls to 1 (us).
    await waitForDetach(segment, clientPid, side.waits);
  } catch (error) {
    if (error instanceof PeerGone) throw clientGone(error, side.bytes);
    // Only this server removes the set while it runs: someone else did (ipcrm, or a
    // `deno task clean` that took it for a leftover).
    if (error instanceof LibcError && (error.code === "EINVAL" || error.code === "EIDRM")) {
      throw new LessonError(
        `${error.message}: the semaphore set ${k} was removed by another process (ipcrm?) ` +
          `after ${formatBytes(side.bytes)} had been sent: transfer incomplete`,
      );
    }
    throw error;
  }
  set.remove();
  log.say(`the client has detached; removed the semaphore set with semctl(IPC_RMID)`);
  segment.detach();
  log.say(
    `detached with shmdt(): the last attachment of a segment marked for removal, so the kernel ` +
      `freed it; /proc/sysvipc lists neither shmid ${segment.id} nor semid ${set.id} now`,
  );
  showObjects(log, "shm", segment.id);
}

/** The client died mid-copy: say what the server knows. */
function clientGone(error: PeerGone, sent: number): LessonError {
  return new LessonError(
    `the client exited after the server had sent ${formatBytes(sent)}: transfer incomplete ` +
      `(process ${error.pid} is gone); removed the semaphore set, and the segment goes with ` +
      "our shmdt",
  );
}

/** A number from `/proc/sys/kernel/NAME` (its fields, for `sem`); [] if it cannot be read. */
function kernelLimit(name: string): number[] {
  try {
    return Deno.readTextFileSync(`/proc/sys/kernel/${name}`).trim().split(/\s+/).map(Number);
  } catch {
    return [];
  }
}

/** The rows of `/proc/sysvipc/shm` or `sem` (every user's objects in this IPC namespace). */
function sysvipcRows(kind: "shm" | "sem"): number[][] {
  try {
    const lines = Deno.readTextFileSync(`/proc/sysvipc/${kind}`).trim().split("\n").slice(1);
    return lines.map((line) => line.trim().split(/ +/).map(Number));
  } catch {
    return [];
  }
}

/**
 * Creates the segment. Beyond a limit of the kernel, shmget says only EINVAL or ENOSPC: the
 * line names the limit and quotes its value (from `/proc/sys/kernel`), with what to do.
 */
function createSegment(key: number, size: number): SysVSegment {
  try {
    return SysVSegment.create(key, size);
  } catch (error) {
    if (!(error instanceof LibcError && (error.code === "EINVAL" || error.code === "ENOSPC"))) {
      throw error;
    }
    const [shmmax] = kernelLimit("shmmax");
    const [shmall] = kernelLimit("shmall");
    const [shmmni] = kernelLimit("shmmni");
    const page = 4096;
    const segments = sysvipcRows("shm");
    const pagesUsed = segments.reduce((sum, row) => sum + Math.ceil((row[3] ?? 0) / page), 0);
    const which = error.code === "EINVAL" && shmmax !== undefined && size > shmmax
      ? `more than shmmax allows for one segment (/proc/sys/kernel/shmmax = ${shmmax} bytes)`
      : error.code === "ENOSPC" && shmmni !== undefined && segments.length >= shmmni
      ? `one segment too many: shmmni allows ${shmmni} in all (/proc/sys/kernel/shmmni), and ${segments.length} exist`
      : error.code === "ENOSPC" && shmall !== undefined &&
          pagesUsed + Math.ceil(size / page) > shmall
      ? `more than shmall leaves: it allows ${shmall} pages of 4 KiB in all segments ` +
        `(/proc/sys/kernel/shmall), ${pagesUsed} are in use`
      : "beyond the kernel's limits (/proc/sys/kernel/shmmax, shmall, shmmni)";
    throw new LessonError(
      `${error.message}: a segment of ${formatBytes(size)} (${size} bytes) is ${which}: ${
        which.includes("shmmni")
          ? "remove unused segments (ipcs -m, deno task clean)"
          : "make the ring smaller (--slots, --slot-size)"
      }, or raise the limit (as root: ${raiseCommand(which)})`,
    );
  }
}

/** The sysctl command that raises the limit `which` names (or the three, when it names none). */
function raiseCommand(which: string): string {
  const named = ["shmmax", "shmall", "shmmni"].filter((name) => which.includes(`${name} `));
  return named.length === 1
    ? `sysctl -w kernel.${named[0]}=N`
    : "sysctl -w kernel.shmmax=N, kernel.shmall=N or kernel.shmmni=N";
}

/**
 * Creates the semaphore set. Beyond a limit of the kernel, semget says only EINVAL or ENOSPC:
 * the line names the limit and quotes `/proc/sys/kernel/sem` (SEMMSL SEMMNS SEMOPM SEMMNI).
 */
function createSet(key: number, values: number[]): SemaphoreSet {
  try {
    return SemaphoreSet.create(key, values);
  } catch (error) {
    if (!(error instanceof LibcError && (error.code === "EINVAL" || error.code === "ENOSPC"))) {
      throw error;
    }
    const [semmsl, semmns, , semmni] = kernelLimit("sem");
    const sets = sysvipcRows("sem");
    const used = sets.reduce((sum, row) => sum + (row[3] ?? 0), 0);
    const n = values.length;
    const which = error.code === "EINVAL" && semmsl !== undefined && n > semmsl
      ? `more than SEMMSL allows in one set (${semmsl}, the 1st field of /proc/sys/kernel/sem)`
      : error.code === "ENOSPC" && semmni !== undefined && sets.length >= semmni
      ? `one set too many: SEMMNI allows ${semmni} in all (the 4th field of ` +
        `/proc/sys/kernel/sem), and ${sets.length} exist`
      : error.code === "ENOSPC" && semmns !== undefined && used + n > semmns
      ? `more than SEMMNS leaves: it allows ${semmns} semaphores in all sets (the 2nd field ` +
        `of /proc/sys/kernel/sem), ${used} are in use`
      : "beyond the kernel's limits (/proc/sys/kernel/sem: SEMMSL SEMMNS SEMOPM SEMMNI)";
    throw new LessonError(
      `${error.message}: a set of ${n} semaphores is ${which}: ${
        which.includes("SEMMSL") ? "" : "remove unused sets (ipcs -s, deno task clean), or "
      }raise the limit (as root, sysctl kernel.sem)`,
    );
  }
}

/**
 * What the kernel shows of the object `id` now: its `ipcs` line and its `/proc/sysvipc` line,
 * as narration (every System V object of every user is listed there, whoever made it).
 */
export function showObjects(log: Log, kind: "shm" | "sem", id: number): void {
  const what = `${kind === "shm" ? "shmid" : "semid"} ${id}`;
  const ipcs = ipcsLines(kind, [id]);
  const command = kind === "shm" ? "ipcs -m" : "ipcs -s";
  if (ipcs !== null) {
    if (ipcs.length > 1) { for (const line of ipcs) log.say(`  ${command} | ${line}`); }
    else log.say(`  ${command} | no line for ${what}`);
  }
  const lines = sysvipcLines(kind, [id]);
  const path = `/proc/sysvipc/${kind}`;
  if (lines.length > 1) { for (const line of lines) log.say(`  ${path} | ${line}`); }
  else log.say(`  ${path} | no line for ${what}`);
}

/**
 * The objects a run of key `key` may create, for the demo: it locks their names, and removes
 * what a killed side left behind.
 */
export function objectsOfKey(key: number): KernelObject[] {
  const k = formatKey(key);
  const find = (get: () => number): number | null => {
    try {
      return get();
    } catch (error) {
      if (error instanceof LibcError && error.code === "ENOENT") return null;
      throw error;
    }
  };
  return [
    {
      description: `the System V segment ${k}`,
      exists: () => find(() => shmget(key, 0, 0)) !== null,
      remove: () => {
        const id = find(() => shmget(key, 0, 0));
        if (id !== null) shmctlRemove(id);
      },
    },
    {
      description: `the System V semaphore set ${k}`,
      exists: () => find(() => semget(key, 0, 0)) !== null,
      remove: () => {
        const id = find(() => semget(key, 0, 0));
        if (id !== null) semctlRemove(id);
      },
    },
  ];
}
