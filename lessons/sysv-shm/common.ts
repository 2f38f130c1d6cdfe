/**
 * What the System V shared-memory lesson's server and client share, as a C header would: the
 * options, their limits, and how to word a key that is taken or a ring whose creator has gone.
 * The ring itself (layout, protocol) is the transport's: `transports/ring_buffer.ts`, the same
 * bounded buffer as the POSIX shm lesson's, here over `transports/sysv_shm.ts`.
 *
 * @module
 */

import { formatKey, ipcrmCommand, KeyTaken, refuseTakenKey } from "../../transports/sysv_shm.ts";

/** The lesson's own options. */
export interface SysvShmOptions {
  /** The key as given or made up (`0x5ca1ab1e`); "" when it comes from `--path`. */
  key: string;
  /** The file `ftok` makes the key from; "" when the key is given or made up. */
  path: string;
  /** The project id `ftok` takes (1 to 255) with `--path`; "" when the key is not ftok's. */
  proj: string;
  /** The key itself, whichever way it was chosen. */
  keyValue: number;
  /** How the key was chosen, for the narration: `ftok("/tmp/x", 1)`, `--key`, `made up`. */
  keySource: string;
  /** True when neither --key nor --path was given: the key was made up for this run. */
  keyIsDefault: boolean;
  /** How many slots the ring has. */
  slots: number;
  /** The bytes per slot. */
  slotSize: number;
  /** Which of --slots and --slot-size were given: a client checks them against the ring. */
  given: { slots: boolean; slotSize: boolean };
}

// The ring's defaults and limits are the POSIX shm lesson's, so that the two compare like with
// like (its MAX_SLOTS, 1024, is also well below SEMVMX, 32767, what a System V semaphore holds).
export {
  DEFAULT_SLOT_SIZE,
  DEFAULT_SLOTS,
  MAX_RING_BYTES,
  MAX_SLOT_SIZE,
  MAX_SLOTS,
  parseRingSize,
} from "../shm/common.ts";
/** The project id when --proj is not given. */
export const DEFAULT_PROJ = 1;

/**
 * Refuses, with one line and before anything is created, a key that already has a segment or
 * a semaphore set: in use by another run (choose another key), or left behind by a killed one
 * (which command removes them).
 */
export function refuseTakenKeyLine(key: number): void {
  try {
    refuseTakenKey(key);
  } catch (error) {
    if (!(error instanceof KeyTaken)) throw error;
    throw new Deno.errors.AlreadyExists(
      error.owners.length > 0
        ? `${error.message}: choose another --key or --path`
        : error.users.length > 0
        ? `${error.message}: another run is using the key; choose another --key or --path`
        : `${error.message}: remove ${
          error.which.segment && error.which.set ? "them" : "it"
        } with \`${ipcrmCommand(key, error.which)}\` (or \`deno task clean ${formatKey(key)}\`), ` +
          "or choose another --key",
    );
  }
}

/**
 * Rethrows `error`; a stale segment's message gets the command that removes exactly what
 * exists (`ipcrm -S` fails for a key that has no set). Another program's is only offered,
 * with a choice: it may be left on purpose.
 */
export function explainStale(error: unknown): never {
  if (!(error instanceof KeyTaken)) throw error;
  const command = ipcrmCommand(error.key, error.which);
  const them = error.which.segment && error.which.set ? "them" : "it";
  throw new KeyTaken(
    error.key,
    error.which,
    error.users,
    error.killedRun
      ? `${error.message} (remove ${them} with \`${command}\`)`
      : `${error.message}: choose another --key or --path (\`${command}\` removes ${them}, if ` +
        `you know nothing uses ${them})`,
    error.owners,
    error.killedRun,
  );
}
