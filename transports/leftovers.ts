/**
 * Leftovers: the named kernel objects a process made and did not remove. A process killed with
 * SIGKILL gets no chance to clean up, so its FIFO, message queue, shared-memory segment or
 * semaphores stay in the kernel until someone removes them.
 *
 * Whether one is still in use is the kernel's to say, not its name's: an object is in use while
 * some process holds it (an open descriptor, `O_PATH` included, or a mapping), as `/proc` shows
 * (see `holders.ts`). A name such as `ipc-lesson-fifo-4711-3f9a2c` may say which process made
 * the object, but that process may have handed it on, or died and had its pid given to another.
 *
 * Each transport that creates named objects knows where they live, and exports a
 * {@linkcode LeftoverFinder} for them: `fifoLeftovers` (FIFO files in a folder),
 * `queueLeftovers` (`/dev/mqueue`), `segmentLeftovers` (`/dev/shm`), `semaphoreLeftovers`
 * (`/dev/shm/sem.NAME`). This file holds what they share: the {@linkcode Leftover} each finds,
 * and {@linkcode findLeftovers}, which asks finders and then looks at every process once to say
 * who holds what. `deno task clean` asks the finders of every lesson's transport
 * ({@linkcode loadFinders}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fifoLeftovers } from "./fifo.ts";
 * import { findLeftovers } from "./leftovers.ts";
 * import * as libc from "./libc.ts";
 *
 * const dir = Deno.makeTempDirSync();
 * libc.mkfifo(`${dir}/my-app-4711.fifo`, 0o600); // as a killed run would leave it
 * const { found } = findLeftovers([fifoLeftovers], { prefix: "my-app-", dir });
 * assert.deepEqual(found.map((object) => [object.kind, object.holders]), [["FIFO", []]]);
 * found[0]!.remove(); // nobody holds it: it is safe to remove
 * Deno.removeSync(dir);
 * ```
 *
 * @module
 */

import { type Identity, identityOf, type ProcessTable, readProcessTable } from "./holders.ts";
import { NAME_MAX } from "./_names.ts";

export type { Identity, ProcessTable } from "./holders.ts";

/** A kind of object, as a listing and a sentence call it. */
export interface LeftoverKind {
  /** How a listing's column shows it: `"shared memory"`. */
  readonly label: string;
  /** How a sentence names one: `"shared-memory segment"`. */
  readonly noun: string;
  /** How a sentence names several: `"shared memory"`. */
  readonly plural: string;
  /**
   * True if any path may name one (a FIFO is a file in any folder); false if its place is fixed
   * (`/dev/shm`, `/dev/mqueue`). A path that names something else is then "not a NOUN".
   */
  readonly atAnyPath: boolean;
}

/**
 * What to look for:
 * - `{ prefix, dir }`: this user's objects whose names start with `prefix` (a project's own,
 *   such as `ipc-lesson-`); objects that live in a folder (FIFOs) are looked for in `dir`;
 * - `{ name, cwd }`: the objects that `name` names, whoever owns them: a path (relative to
 *   `cwd`), or a POSIX IPC name (`/my-queue`, or `my-queue`).
 */
export type LeftoverQuery =
  | { readonly prefix: string; readonly dir: string }
  | { readonly name: string; readonly cwd: string };

/** What a search found, and what it could not look at. */
export interface LeftoverReport {
  /** The objects found, in use or not. */
  found: Leftover[];
  /** Remarks that change nothing: a place that could not be searched. */
  notes: string[];
  /** One sentence per object that exists but could not be looked at (another user's queue). */
  problems: string[];
}

/**
 * A transport's finder: the kinds of object it makes, and how to find them. A transport module
 * that creates named objects exports one (or re-exports those of the transports it builds on):
 * {@linkcode loadFinders} collects every exported `LeftoverFinder` of a module.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LeftoverFinder, type LeftoverKind } from "./leftovers.ts";
 *
 * const NOTE: LeftoverKind = { label: "note", noun: "note", plural: "notes", atAnyPath: true };
 * const notes = new LeftoverFinder([NOTE], () => {}); // finds nothing, ever
 * assert.equal(notes.kinds[0]!.plural, "notes");
 * ```
 */
export class LeftoverFinder {
  /**
   * A finder of the objects of `kinds`.
   *
   * @param kinds the kinds of object it finds, for sentences such as "no FIFO or message
   *   queue is named X"
   * @param find adds to `report.found` what `query` finds (see {@linkcode LeftoverQuery}), and
   *   a note or a problem for what it could not look at; `holders` are filled in afterwards
   */
  constructor(
    readonly kinds: readonly LeftoverKind[],
    readonly find: (query: LeftoverQuery, report: LeftoverReport) => void,
  ) {}
}

/** What {@linkcode Leftover} is made from. */
export interface LeftoverInit {
  /** Its kind. */
  kind: LeftoverKind;
  /** Where it shows: a path (`/dev/mqueue/NAME` for a queue, even where that is not mounted). */
  path: string;
  /** Its POSIX name (`/NAME`) for a queue, a segment or a semaphore; null for a file. */
  name?: string | null;
  /** Its owner's user id (null where the system does not say). */
  uid: number | null;
  /** The device and inode it had when it was found. */
  identity: Identity;
  /** Its identity now, or null if nothing has its name any more. */
  identityNow: () => Identity | null;
  /** Removes it with the call that fits its kind (`unlink`, `shm_unlink`, …). */
  remove: () => void;
  /** A folder is held by whatever is inside it too (a descriptor, a working directory). */
  folder?: boolean;
}

/**
 * One object found, with the processes that held it when we looked.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Leftover, leftoverAt } from "./leftovers.ts";
 *
 * const dir = Deno.makeTempDirSync();
 * const kind = { label: "note", noun: "note", plural: "notes", atAnyPath: true };
 * const note: Leftover = leftoverAt(kind, dir, Deno.lstatSync(dir), () => Deno.removeSync(dir));
 * assert.deepEqual(note.recheck(), []); // still there, and nobody holds it
 * note.remove();
 * assert.equal(note.recheck(), null); // gone
 * ```
 */
export class Leftover {
  /** How a listing shows its kind: `"FIFO"`, `"shared memory"`. */
  readonly kind: string;
  /** How a sentence names it: `"FIFO"`, `"shared-memory segment"`. */
  readonly noun: string;
  /** Where it shows: a path (`/dev/mqueue/NAME` for a queue, even where that is not mounted). */
  readonly path: string;
  /** Its POSIX name (`/NAME`) for a queue, a segment or a semaphore; null for a file. */
  readonly name: string | null;
  /** Its owner's user id (null where the system does not say). */
  readonly uid: number | null;
  /**
   * The processes that held it when we looked (a descriptor, `O_PATH` included, a mapping; for
   * a folder, anything inside it or a working directory there). Empty: nobody uses it.
   * {@linkcode findLeftovers} fills it in.
   */
  holders: readonly number[] = [];
  readonly #init: LeftoverInit;

  /** An object found: see {@linkcode leftoverAt} for one that a path identifies. */
  constructor(init: LeftoverInit) {
    this.kind = init.kind.label;
    this.noun = init.kind.noun;
    this.path = init.path;
    this.name = init.name ?? null;
    this.uid = init.uid;
    this.#init = init;
  }

  /** Who holds it according to `table` (see {@linkcode findLeftovers}). */
  heldBy(table: ProcessTable): number[] {
    return this.#init.folder ? table.holdersUnder(this.path) : table.holdersOf(this.#init.identity);
  }

  /**
   * Looks again, just before removing: the processes that hold it now, or null if it has gone
   * or another object has taken its name since we looked (then it must be left alone).
   */
  recheck(): number[] | null {
    if (this.#init.identityNow() !== this.#init.identity) return null;
    return this.heldBy(readProcessTable());
  }

  /** Removes it with the call that fits its kind (`unlink`, `shm_unlink`, …). */
  remove(): void {
    this.#init.remove();
  }
}

/**
 * The object at `path` (a file, a folder, or `/dev/shm/NAME`), identified by its device and
 * inode as `info` (from `Deno.lstatSync(path)`) shows them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { leftoverAt } from "./leftovers.ts";
 *
 * const kind = { label: "folder", noun: "folder", plural: "folders", atAnyPath: true };
 * const tmp = leftoverAt(kind, "/tmp", Deno.lstatSync("/tmp"), () => {}, { folder: true });
 * assert.equal(tmp.name, null);
 * ```
 */
export function leftoverAt(
  kind: LeftoverKind,
  path: string,
  info: Deno.FileInfo,
  remove: () => void,
  options: { name?: string; folder?: boolean } = {},
): Leftover {
  return new Leftover({
    kind,
    path,
    name: options.name ?? null,
    uid: info.uid,
    identity: identityOf(info),
    identityNow: () => {
      const now = lstatOrNull(path);
      return now === null ? null : identityOf(now);
    },
    remove,
    folder: options.folder,
  });
}

/**
 * Asks each finder (once, however often it is given) for what `query` finds, then looks at
 * every process once to fill in each object's holders. An object two finders both find (two
 * lessons on one transport) is listed once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findLeftovers } from "./leftovers.ts";
 * import { segmentLeftovers } from "./shm.ts";
 * import { SharedMemory } from "./shm.ts";
 *
 * const name = `/my-app-${Deno.pid}`;
 * using segment = SharedMemory.create(name, 4096); // mapped by this process: in use
 * const { found } = findLeftovers([segmentLeftovers], { prefix: name.slice(1), dir: "/tmp" });
 * assert.deepEqual(found.map((object) => [object.path, object.holders]), [
 *   [`/dev/shm${name}`, [Deno.pid]],
 * ]);
 * ```
 */
export function findLeftovers(
  finders: Iterable<LeftoverFinder>,
  query: LeftoverQuery,
): LeftoverReport {
  const report: LeftoverReport = { found: [], notes: [], problems: [] };
  for (const finder of new Set(finders)) finder.find(query, report);
  const unique = new Map<string, Leftover>();
  for (const object of report.found) {
    const key = `${object.kind} ${object.path}`;
    if (!unique.has(key)) unique.set(key, object);
  }
  report.found = [...unique.values()];
  lookForHolders(report.found, report.notes);
  return report;
}

/**
 * Fills in each object's holders from one look at every process (reading `/proc` costs time:
 * one look for all), and notes when some processes could not be looked at.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { leftoverAt, lookForHolders } from "./leftovers.ts";
 *
 * const kind = { label: "folder", noun: "folder", plural: "folders", atAnyPath: true };
 * const here = leftoverAt(kind, Deno.cwd(), Deno.lstatSync(Deno.cwd()), () => {}, {
 *   folder: true,
 * });
 * lookForHolders([here], []);
 * assert.ok(here.holders.includes(Deno.pid)); // our working directory is in it
 * ```
 */
export function lookForHolders(found: readonly Leftover[], notes: string[]): void {
  if (found.length === 0) return; // nothing to ask about: spare the look at /proc
  const table = readProcessTable();
  for (const object of found) object.holders = object.heldBy(table);
  if (table.unseen > 0 && Deno.uid() !== 0) {
    notes.push(
      `${table.unseen} processes of other users could not be looked at: an object only they ` +
        "hold would look unused (root sees every process)",
    );
  }
}

/**
 * Every {@linkcode LeftoverFinder} that the modules at `urls` export (a module that creates no
 * named objects, such as the anonymous pipe's, exports none): how `deno task clean` asks every
 * lesson's transport without a list of its own.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadFinders } from "./leftovers.ts";
 *
 * const finders = await loadFinders([new URL("./fifo.ts", import.meta.url)]);
 * assert.deepEqual(finders.flatMap((finder) => finder.kinds.map((kind) => kind.noun)), ["FIFO"]);
 * ```
 */
export async function loadFinders(urls: Iterable<string | URL>): Promise<LeftoverFinder[]> {
  const finders = new Set<LeftoverFinder>();
  for (const url of urls) {
    const module: Record<string, unknown> = await import(String(url));
    for (const value of Object.values(module)) {
      if (value instanceof LeftoverFinder) finders.add(value);
    }
  }
  return [...finders];
}

// ---------------------------------------------------------------------------------------------
// Small helpers the finders share
// ---------------------------------------------------------------------------------------------

/**
 * `Deno.lstatSync(path)`, or null if nothing is there (a symbolic link is not followed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lstatOrNull } from "./leftovers.ts";
 * assert.equal(lstatOrNull("/no/such/file"), null);
 * assert.equal(lstatOrNull("/tmp")?.isDirectory, true);
 * ```
 */
export function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return null;
    }
    throw error;
  }
}

/**
 * The names in folder `dir` that start with `prefix`; none if the folder cannot be read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { namesIn } from "./leftovers.ts";
 * assert.deepEqual(namesIn("/no/such/folder", ""), []);
 * assert.ok(namesIn("/proc", "self").includes("self"));
 * ```
 */
export function namesIn(dir: string, prefix: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((entry) => entry.name)
      .filter((name) => name.startsWith(prefix));
  } catch {
    return [];
  }
}

/**
 * Whether an object owned by `uid` is this user's (where either is unknown, it is taken to be).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mine } from "./leftovers.ts";
 * assert.equal(mine(Deno.uid()), true);
 * ```
 */
export function mine(uid: number | null): boolean {
  const me = Deno.uid();
  return me === null || uid === null || uid === me;
}

/**
 * The one file-name component a POSIX IPC name gives (`/my-queue` or `my-queue`: `my-queue`),
 * or null if `name` is not one (empty, `.`, `..`, a second slash, longer than 255 bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { posixPart } from "./leftovers.ts";
 * assert.equal(posixPart("/my-queue"), "my-queue");
 * assert.equal(posixPart("my-queue"), "my-queue");
 * assert.equal(posixPart("/tmp/my.fifo"), null);
 * ```
 */
export function posixPart(name: string): string | null {
  const part = name.startsWith("/") ? name.slice(1) : name;
  if (part === "" || part === "." || part === ".." || part.includes("/")) return null;
  return new TextEncoder().encode(part).length <= NAME_MAX ? part : null;
}
