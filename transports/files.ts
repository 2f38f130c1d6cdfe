/**
 * The files at both ends of a channel: the input a sender reads, the output a receiver writes.
 * The lessons' servers and clients use them, and so can any program that copies a file
 * through a channel.
 *
 * The rules:
 * - a bad path gets one line that says what failed and why, before any transfer starts;
 * - the input must be a regular file. It is first opened with `O_PATH`, which never waits and
 *   has no side effects (opening a FIFO for reading waits for a writer; opening a device may
 *   do something to it), checked with `fstat`, and only then opened for reading;
 * - the output may only ever become a new regular file, or replace an existing regular file,
 *   and an existing one only with `--force`. A device, FIFO, socket, directory or symbolic link
 *   at the output path is left alone: not even root may turn `/dev/null` into a file;
 * - the output is written into an unnamed file in the output's directory (`O_TMPFILE`) that
 *   gets its name only when the copy is complete (`linkat`). A failed run, even one killed with
 *   SIGKILL, leaves neither a half-written output nor a temporary name: the kernel frees an
 *   unnamed file when its last descriptor closes;
 * - that name is made in the directory the file was made in, held open since, or not at all: a
 *   symbolic link or directory on the way that someone changes during the copy cannot send the
 *   copy, or the file it replaces, elsewhere;
 * - files are streamed in chunks, never read whole into memory.
 *
 * Every failure is a {@linkcode FileError} whose message is one line that names the file and
 * says why.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FileError, InputFile } from "./files.ts";
 * assert.throws(() => new InputFile("/dev/null"), FileError); // not a regular file
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import { basename, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ChannelError } from "./errors.ts";
import * as libc from "./libc.ts";
import { LibcError, strerror } from "./libc.ts";
import { formatBytes } from "./units.ts";
import { takeTurn, turnIsDue } from "./wait.ts";

/** A file could not be opened, checked, written or named: one line says which, and why. */
export class FileError extends ChannelError {
  /** `message` names the file and says why. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FileError";
  }
}

/**
 * The temporary folder: TMPDIR, or /tmp. A TMPDIR that is not valid UTF-8 is refused in one
 * line (a FileError): Deno cannot pass its bytes on as they are, and would name another folder.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tempDir } from "./files.ts";
 * assert.equal(tempDir(), Deno.env.get("TMPDIR") || "/tmp");
 * ```
 */
export function tempDir(): string {
  try {
    return Deno.env.get("TMPDIR") || "/tmp";
  } catch (error) {
    if (!(error instanceof Deno.errors.InvalidData)) throw error;
    throw new FileError(
      "the temporary folder TMPDIR is not valid UTF-8 (Deno cannot pass on its bytes as they " +
        "are): set TMPDIR to another folder, or unset it",
      { cause: error },
    );
  }
}

/** The project's folder, where `deno task` runs every task. */
const PROJECT_ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));

/**
 * The folder the user typed the command in, from which a relative path on its command line
 * starts. `deno task` runs every task in the project's folder, and says in INIT_CWD where the
 * user was; started any other way (a side started by the demo, `deno run` by hand), the working
 * directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { typedIn } from "./files.ts";
 * assert.equal(typeof typedIn(), "string");
 * ```
 */
export function typedIn(): string {
  const typed = Deno.env.get("INIT_CWD");
  return typed && resolve(Deno.cwd()) === PROJECT_ROOT ? typed : Deno.cwd();
}

/**
 * {@linkcode tempDir}, where runs keep their files, checked before anything is made there: a
 * TMPDIR that does not exist, is no folder, or is not UTF-8 is one line (a FileError).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tempDir, usableTempDir } from "./files.ts";
 * assert.equal(usableTempDir(), tempDir());
 * ```
 */
export function usableTempDir(): string {
  const dir = tempDir();
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(dir);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? "no such folder" : reason(error);
    throw new FileError(`the temporary folder ${quote(dir)} (TMPDIR) cannot be used: ${why}`);
  }
  if (!info.isDirectory) {
    throw new FileError(`the temporary folder ${quote(dir)} (TMPDIR) is not a folder`);
  }
  return dir;
}

/**
 * The output path names something that may never become the output (a device, a FIFO, a
 * directory, a symbolic link): no option changes that.
 */
export class OutputRefused extends FileError {
  /** `message` names the path and what is there. */
  constructor(message: string) {
    super(message);
    this.name = "OutputRefused";
  }
}

/** A regular file is at the output path, and replacing it was not asked for. */
export class OutputExists extends FileError {
  /** `message` names the path. */
  constructor(message: string) {
    super(message);
    this.name = "OutputExists";
  }
}

/**
 * The reason inside a file-system error, in the system's words: "no such file or directory".
 * A LibcError has the system's message; Deno's errors carry the errno name in `code`.
 */
export function reason(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  const text = error instanceof LibcError
    ? error.description
    : typeof code === "string" && code.startsWith("E")
    ? strerror(code)
    : null;
  if (text !== null) return text.charAt(0).toLowerCase() + text.slice(1);
  return error instanceof Error ? error.message : String(error);
}

const quote = (path: string) => JSON.stringify(path);

/**
 * Whether anything is at `path` (a symbolic link counts, even a dangling one).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pathExists } from "./files.ts";
 * assert.equal(pathExists("/tmp"), true);
 * assert.equal(pathExists(`/tmp/no-such-file-${Deno.pid}`), false);
 * ```
 */
export function pathExists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * What kind of file `info` describes, for messages: "a FIFO", "a character device", …
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kindOf } from "./files.ts";
 * assert.equal(kindOf(Deno.statSync("/dev/null")), "a character device");
 * assert.equal(kindOf(Deno.lstatSync("/tmp")), "a directory");
 * ```
 */
export function kindOf(info: Deno.FileInfo): string {
  if (info.isSymlink) return "a symbolic link";
  if (info.isDirectory) return "a directory";
  if (info.isFile) return "a regular file";
  if (info.isFifo) return "a FIFO";
  if (info.isSocket) return "a socket";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  return "not a regular file";
}

/**
 * Opens the regular file at `path` with `flags`, without side effects on anything else: first
 * `open(O_PATH)`, which only names the file (it neither waits for a FIFO's writer nor touches a
 * device), then `fstat` to see what it is, and only for a regular file the real open, through
 * `/proc/self/fd/N`, which reaches exactly the file that was checked. `fail` makes the error
 * from the reason.
 */
function openRegular(
  path: string,
  flags: number,
  fail: (why: string) => FileError,
): { fd: number; info: Deno.FileInfo } {
  let handle: number;
  try {
    handle = libc.open(path, libc.O.PATH | libc.O.CLOEXEC);
  } catch (error) {
    throw fail(reason(error));
  }
  try {
    const info = Deno.statSync(`/proc/self/fd/${handle}`);
    if (info.isDirectory) throw fail("is a directory");
    if (!info.isFile) throw fail(`it is ${kindOf(info)}, not a regular file`);
    try {
      return { fd: libc.open(`/proc/self/fd/${handle}`, flags | libc.O.CLOEXEC), info };
    } catch (error) {
      throw fail(reason(error));
    }
  } finally {
    libc.close(handle);
  }
}

/** Writes all of `data` to `fd` (write(2) until done); `fail` makes the error. */
function writeAll(fd: number, data: Uint8Array, fail: (why: string) => FileError): void {
  try {
    for (let done = 0; done < data.length;) {
      const n = libc.write(fd, done === 0 ? data : data.subarray(done));
      if (n !== libc.WOULD_BLOCK) done += n; // (interrupted by a signal: just write again)
    }
  } catch (error) {
    throw fail(reason(error));
  }
}

/** The input file, open for reading in chunks. */
export class InputFile implements Disposable {
  /** The path as the user gave it: messages name it. */
  readonly path: string;
  /** The size in bytes when it was opened. */
  readonly size: number;
  /** Its permission bits (`mode & 0o777`), to give a copy the same. */
  readonly permissions: number;
  /** The device and inode: which file this is, whatever its name. */
  readonly identity: { dev: number; ino: number };
  #fd: number | null;

  /**
   * Opens `path` for reading; anything but a readable regular file becomes a
   * {@linkcode FileError}, at once (a FIFO with no writer is refused, not waited for).
   * `options.via` is another name of the same file to open instead, such as another process's
   * `/proc/PID/fd/N`; messages still name `path`.
   */
  constructor(path: string, options: { via?: string } = {}) {
    this.path = path;
    const fail = (why: string) => new FileError(`cannot open input ${quote(path)}: ${why}`);
    const { fd, info } = openRegular(options.via ?? path, libc.O.RDONLY, fail);
    this.#fd = fd;
    this.size = info.size;
    this.permissions = (info.mode ?? 0o600) & 0o777;
    this.identity = { dev: info.dev, ino: info.ino ?? 0 };
  }

  /** The descriptor (to hash the input through it, or hand it to another process). */
  get fd(): number {
    if (this.#fd === null) throw new FileError(`input ${quote(this.path)} is closed`);
    return this.#fd;
  }

  /** Reads the next bytes into `buf` (read(2)); returns how many, or 0 at end-of-file. */
  read(buf: Uint8Array): number {
    try {
      for (;;) {
        const n = libc.read(this.fd, buf);
        if (n !== libc.WOULD_BLOCK) return n; // (interrupted by a signal: just read again)
      }
    } catch (error) {
      throw new FileError(`cannot read input ${quote(this.path)}: ${reason(error)}`);
    }
  }

  /** Closes the file; closing twice is harmless. */
  close(): void {
    if (this.#fd === null) return;
    libc.close(this.#fd);
    this.#fd = null;
  }

  /** Closes the file (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Where an output will go, once {@linkcode checkOutput} has found the path usable. */
export interface OutputTarget {
  /** The absolute path of the directory that will hold it. */
  dir: string;
  /** Whether a regular file is there now (to be replaced: `--force` was given). */
  exists: boolean;
}

/**
 * Checks, before anything starts, everything the output path alone makes certain:
 * - the path may only become a new regular file or replace an existing regular file: a device,
 *   FIFO, socket, directory or symbolic link there is refused ({@linkcode OutputRefused}), and
 *   so is a path ending in `/`, which can only name a directory;
 * - an existing file is replaced only with `force` (else {@linkcode OutputExists}), and never
 *   when it is `input` under another
 *   name (a hard link, a bind mount): the copy would destroy what it copies;
 * - its directory exists, and this process may create files in it (`access(W_OK)`, and
 *   `statvfs` for a read-only file system).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkOutput, OutputExists } from "./files.ts";
 * const dir = Deno.makeTempDirSync();
 * try {
 *   assert.deepEqual(checkOutput(`${dir}/copy.txt`), { dir, exists: false });
 *   Deno.writeTextFileSync(`${dir}/copy.txt`, "an older copy");
 *   assert.throws(() => checkOutput(`${dir}/copy.txt`), OutputExists); // only with force
 *   assert.deepEqual(checkOutput(`${dir}/copy.txt`, { force: true }), { dir, exists: true });
 * } finally {
 *   Deno.removeSync(dir, { recursive: true });
 * }
 * ```
 */
export function checkOutput(
  path: string,
  options: { force?: boolean; input?: InputFile } = {},
): OutputTarget {
  const shown = quote(path);
  if (path.endsWith("/")) {
    throw new OutputRefused(
      `output ${shown} ends with "/", so it can only name a directory: the output must be a file`,
    );
  }
  let info: Deno.FileInfo | null = null;
  try {
    info = Deno.lstatSync(path); // lstat: a symbolic link is looked at, not followed
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new FileError(`cannot create output ${shown}: ${reason(error)}`);
    }
  }
  if (info !== null) refuseUnlessFile(shown, info);
  const { input } = options;
  if (
    info !== null && input && info.dev === input.identity.dev && info.ino === input.identity.ino
  ) {
    throw new FileError(
      `output ${shown} is the same file as input ${quote(input.path)}: refusing to overwrite it`,
    );
  }
  if (info !== null && !options.force) {
    throw new OutputExists(`output ${shown} already exists and was left alone`);
  }

  const dir = dirname(resolve(path));
  let dirInfo: Deno.FileInfo;
  try {
    dirInfo = Deno.statSync(dir);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? `directory ${quote(dir)} does not exist`
      : reason(error);
    throw new FileError(`cannot create output ${shown}: ${why}`);
  }
  if (!dirInfo.isDirectory) {
    throw new FileError(`cannot create output ${shown}: ${quote(dir)} is not a directory`);
  }
  // access(2) answers for this process's real user; a read-only mount answers EROFS, or
  // shows in statvfs's flags.
  const denied = libc.access(dir, libc.ACCESS.W_OK | libc.ACCESS.X_OK);
  const readOnly = denied?.code === "EROFS" || libc.statvfs(dir).readOnly;
  if (readOnly) {
    throw new FileError(
      `cannot create output ${shown}: directory ${quote(dir)} is on a read-only file system`,
    );
  }
  if (denied !== null) {
    const why = denied.code === "EACCES"
      ? `no permission to create files in directory ${quote(dir)}`
      : reason(denied);
    throw new FileError(`cannot create output ${shown}: ${why}`);
  }
  // In a sticky directory (mode 1777, like /tmp) only a file's owner, the directory's owner or
  // root may replace it: say so now, not after the whole transfer.
  const uid = Deno.uid();
  if (
    info !== null && (dirInfo.mode! & 0o1000) !== 0 && uid !== 0 && info.uid !== uid &&
    dirInfo.uid !== uid
  ) {
    throw new FileError(
      `cannot replace output ${shown}: it belongs to user ${info.uid}, and directory ${
        quote(dir)
      } is sticky (like /tmp): only the file's owner may replace it`,
    );
  }
  return { dir, exists: info !== null };
}

/** Refuses ({@linkcode OutputRefused}) anything at the output path but a regular file. */
function refuseUnlessFile(shown: string, info: Deno.FileInfo): void {
  if (info.isFile) return;
  throw new OutputRefused(
    `output ${shown} is ${kindOf(info)}: the output may only be a new file or an existing ` +
      "regular file, so it was left alone",
  );
}

/** How much room one file will take, for {@linkcode checkSpace}. */
export interface SpaceNeed {
  /** The directory it will be in. */
  dir: string;
  /** Its size in bytes. */
  bytes: number;
  /** What it is, for the message: `the random input`. */
  what: string;
}

/**
 * Refuses, with one line, to start when the files will not fit: `statvfs(3)` of each file
 * system, counting together the files that share one (compared by device number). It counts
 * what `df` shows as available: the blocks an ordinary user may still fill.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkSpace } from "./files.ts";
 * checkSpace([{ dir: "/tmp", bytes: 1024, what: "the copy" }]); // fits: returns
 * assert.throws(
 *   () => checkSpace([{ dir: "/tmp", bytes: 2 ** 60, what: "the copy" }]), // an exbibyte
 *   /not enough space for the copy/,
 * );
 * ```
 */
export function checkSpace(needs: SpaceNeed[]): void {
  const byDevice = new Map<number, SpaceNeed[]>();
  for (const need of needs) {
    const dev = Deno.statSync(need.dir).dev;
    byDevice.set(dev, [...byDevice.get(dev) ?? [], need]);
  }
  for (const group of byDevice.values()) {
    const bytes = group.reduce((sum, need) => sum + need.bytes, 0);
    const space = libc.statvfs(group[0]!.dir);
    // A file system that reports no size at all (ramfs, which grows as it is written) sets no
    // limit this can check: writing will say so if there is none left.
    if (space.totalBytes === 0) continue;
    const free = space.availableBytes;
    if (bytes > free) {
      throw new FileError(
        `not enough space for ${group.map((need) => need.what).join(" and ")} (${
          formatBytes(bytes)
        }): the file system of ${quote(group[0]!.dir)} has ${formatBytes(free)} free`,
      );
    }
  }
}

/**
 * A file without a name: `open(DIR, O_TMPFILE)` makes a file in the directory's file system
 * that no directory lists. Only its descriptors reach it (and `/proc/PID/fd/N`, for processes
 * of the same user), and the kernel frees it when the last one closes, however the process
 * ends. {@linkcode UnnamedFile.link} gives it a name once its contents are complete.
 *
 * The name is given in the very directory the file was made in, even if the path to it has
 * changed meanwhile: the directory is opened once, at the start (`O_PATH`), and that
 * descriptor is kept with the file. Every later name (the final one, the temporary one for
 * `--force`, the stand-in below) is reached through `/proc/self/fd/DIRFD/NAME`: a "magic link"
 * that the kernel follows to the directory the descriptor holds, without looking up any name
 * on the way, as the `*at()` calls do with a directory descriptor. Looking the path up again at
 * the end would let whoever controls a directory or symbolic link in it (another user's link
 * in /tmp) swap it during the transfer, and have the copy named, or replace a file, in a
 * directory of their choice.
 *
 * On a file system that cannot make unnamed files (some network and FUSE file systems), a
 * file named `.NAME.PID.….partial` stands in: it is removed on every way out but SIGKILL.
 *
 * @example
 * ```ts ignore
 * import { FileError, UnnamedFile } from "./files.ts";
 * using file = new UnnamedFile("/tmp", { name: "copy.txt", fail: (why) => new FileError(why) });
 * // … write into file.fd, or let another process write into file.procPath …
 * file.link("/tmp/copy.txt", false); // only now does /tmp/copy.txt appear, complete
 * ```
 */
export class UnnamedFile implements Disposable {
  #fd: number | null = null;
  /** The directory it was made in, held open (`O_PATH`): its names are made there. */
  #dir: number | null = null;
  /**
   * That directory's path (absolute), as given: {@linkcode UnnamedFile.link} must be given a
   * path in it, and that path must still lead to the directory held.
   */
  #dirPath: string;
  /** The stand-in's name in that directory, on a file system without unnamed files. */
  #partial: string | null = null;
  #fail: (why: string) => FileError;

  /**
   * Makes an unnamed file, mode 0600, in `dir`. `name` is the name it will get (only the
   * stand-in uses it); without one, the file is never to be named. `fail` makes the error.
   */
  constructor(dir: string, options: { name?: string; fail: (why: string) => FileError }) {
    this.#fail = options.fail;
    this.#dirPath = resolve(dir);
    // O_PATH only names the directory (no permission on it is needed to hold it); if `dir` is
    // not a directory, the O_TMPFILE open through it says so (ENOTDIR).
    try {
      this.#dir = libc.open(dir, libc.O.PATH | libc.O.CLOEXEC);
    } catch (error) {
      throw this.#fail(reason(error));
    }
    try {
      this.#fd = this.#create(options.name);
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /** `DIRFD/name`: `name` in the directory held open, whatever its path has become. */
  #at(name: string): string {
    if (this.#dir === null) throw this.#fail("the file is closed");
    return `/proc/self/fd/${this.#dir}/${name}`;
  }

  /** Opens the unnamed file in the directory held open, or, where there are none, a stand-in. */
  #create(name: string | undefined): number {
    try {
      return libc.open(
        `/proc/self/fd/${this.#dir}`,
        libc.O.TMPFILE | libc.O.RDWR | libc.O.CLOEXEC,
        0o600,
      );
    } catch (error) {
      const unsupported = error instanceof libc.LibcError &&
        ["EOPNOTSUPP", "EISDIR", "EINVAL"].includes(error.code);
      if (!unsupported) throw this.#fail(reason(error));
    }
    const partial = `.${name ?? `ipc-lesson-${Deno.pid}`}.${Deno.pid}.${
      crypto.randomUUID().slice(0, 8)
    }.partial`;
    const flags = libc.O.RDWR | libc.O.CREAT | libc.O.EXCL | libc.O.CLOEXEC;
    let fd: number;
    try {
      fd = libc.open(this.#at(partial), flags, 0o600);
    } catch (error) {
      throw this.#fail(reason(error));
    }
    // A file that will never be named needs no name at all: remove it now, keep it open.
    if (name === undefined) {
      try {
        libc.unlink(this.#at(partial));
      } catch (error) {
        libc.close(fd);
        throw this.#fail(reason(error));
      }
    } else {
      this.#partial = partial;
    }
    return fd;
  }

  /** The descriptor, open for reading and writing. */
  get fd(): number {
    if (this.#fd === null) throw this.#fail("the file is closed");
    return this.#fd;
  }

  /** The name under which another process of this user can open it: `/proc/PID/fd/N`. */
  get procPath(): string {
    return `/proc/${Deno.pid}/fd/${this.fd}`;
  }

  /** Sets its permission bits (chmod through `/proc/self/fd/N`: no umask applies). */
  setPermissions(mode: number): void {
    try {
      Deno.chmodSync(`/proc/self/fd/${this.fd}`, mode & 0o777);
    } catch (error) {
      throw this.#fail(reason(error));
    }
  }

  /**
   * Gives the file the name `path` (`linkat(2)` of `/proc/self/fd/N`), in the directory it was
   * made in: `path` names that directory as it was then, and only its last component is used,
   * in the directory held open (a symbolic link or directory on the way that was swapped
   * meanwhile changes nothing). `linkat` never replaces anything, so a file that appeared at
   * `path` meanwhile is left alone; with `force`, a regular file there is replaced atomically:
   * link to a temporary name, then `rename(2)` over. A SIGKILL between those two calls,
   * microseconds apart, is the one way a temporary name (`.NAME.PID.new`) can be left behind.
   */
  link(path: string, force: boolean): void {
    const shown = quote(path);
    if (dirname(resolve(path)) !== this.#dirPath) {
      throw this.#fail(`${shown} is not in directory ${quote(this.#dirPath)}, where it was made`);
    }
    const name = basename(path);
    const exists = () =>
      new OutputExists(
        `output ${shown} appeared while the copy was being made and was left alone`,
      );
    try {
      this.#assertSameDirectory(shown);
      const target = this.#at(name);
      if (this.#partial !== null) {
        this.#linkPartial(target, shown, force, exists);
        return;
      }
      try {
        libc.linkFd(this.fd, target);
        return;
      } catch (error) {
        if (!(error instanceof LibcError && error.code === "EEXIST")) throw error;
        if (!force) throw exists();
      }
      assertReplaceable(target, shown);
      const temporary = this.#at(`.${name}.${Deno.pid}.new`);
      libc.linkFd(this.fd, temporary);
      try {
        Deno.renameSync(temporary, target);
      } catch (error) {
        removeQuietly(temporary);
        throw error;
      }
    } catch (error) {
      if (error instanceof FileError) throw error;
      throw new FileError(`cannot create output ${shown}: ${reason(error)}`);
    }
  }

  /**
   * Refuses to name the file when `path`'s directory, looked up by name now, is not the one the
   * file was made in (a symbolic link on the way now points elsewhere, a directory was moved):
   * "linked into place as PATH" would be false. The name is made through the descriptor all
   * the same, so a swap just after this check cannot redirect it either.
   */
  #assertSameDirectory(shown: string): void {
    const held = Deno.statSync(this.#at("."));
    let now: Deno.FileInfo | null = null;
    try {
      now = Deno.statSync(this.#dirPath);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory)) {
        throw error;
      }
    }
    if (now !== null && now.dev === held.dev && now.ino === held.ino) return;
    throw new FileError(
      `cannot create output ${shown}: directory ${
        quote(this.#dirPath)
      } is not the one the copy was made in any more (a symbolic link or directory on the way ` +
        "changed during the copy), so the copy was not named",
    );
  }

  /** {@linkcode UnnamedFile.link} for the stand-in: rename it, or link it and remove it. */
  #linkPartial(target: string, shown: string, force: boolean, exists: () => FileError): void {
    const partial = this.#at(this.#partial!);
    if (force) {
      assertReplaceable(target, shown);
      Deno.renameSync(partial, target);
    } else {
      try {
        Deno.linkSync(partial, target); // like linkat: never replaces
      } catch (error) {
        if (error instanceof Deno.errors.AlreadyExists) throw exists();
        throw error;
      }
      removeQuietly(partial);
    }
    this.#partial = null;
  }

  /**
   * Closes the file and the directory held with it: an unnamed file is gone; a stand-in not
   * yet named is removed.
   */
  close(): void {
    if (this.#partial !== null) removeQuietly(this.#at(this.#partial));
    this.#partial = null;
    for (const fd of [this.#fd, this.#dir]) {
      if (fd === null) continue;
      try {
        libc.close(fd);
      } catch { /* already closed */ }
    }
    this.#fd = this.#dir = null;
  }

  /** Closes the file (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Before a name is replaced (`--force`): whatever is at `target` now must still be a regular
 * file, as {@linkcode checkOutput} found at the start. lstat, so that a symbolic link put there
 * meanwhile is looked at, not followed. Nothing there is fine: the rename makes the name.
 */
function assertReplaceable(target: string, shown: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(target);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  refuseUnlessFile(shown, info);
}

/**
 * The output file, which nobody can see half-written.
 *
 * On its own, a receiver checks the path ({@linkcode checkOutput}) and writes into an
 * {@linkcode UnnamedFile} in the output's directory, mode 0600; {@linkcode OutputFile.commit}
 * gives it the output's name. Or another process made that unnamed file and hands it over as
 * `via` (`/proc/PID/fd/N`): the receiver only writes and closes it, and the other process
 * names it once it has verified the copy (the lessons' demo does).
 *
 * @example
 * ```ts ignore
 * import { OutputFile } from "./files.ts";
 * using output = new OutputFile("/tmp/copy.txt", { force: true });
 * output.write(new TextEncoder().encode("hello"));
 * output.commit(); // only now does /tmp/copy.txt appear
 * ```
 */
export class OutputFile implements Disposable {
  /** The output path as the user gave it: messages name it. */
  readonly path: string;
  /** True when another process made the file and names it (`via`): commit only closes it. */
  readonly handedOver: boolean;
  #fd: number | null = null;
  /** By hand: the unnamed file this process made. */
  #file: UnnamedFile | null = null;
  #force: boolean;
  #finished = false;

  /**
   * Checks `path` and creates the unnamed file; or, with `options.via`, opens that file (made
   * by another process) instead. `options.force` lets an existing regular file be replaced.
   */
  constructor(path: string, options: { force?: boolean; via?: string } = {}) {
    this.path = path;
    this.handedOver = options.via !== undefined;
    this.#force = options.force ?? false;
    const fail = (why: string) => new FileError(`cannot create output ${quote(path)}: ${why}`);
    if (options.via !== undefined) {
      this.#fd = openRegular(options.via, libc.O.WRONLY, fail).fd;
    } else {
      const { dir } = checkOutput(path, { force: this.#force });
      this.#file = new UnnamedFile(dir, { name: basename(path), fail });
      this.#fd = this.#file.fd;
    }
  }

  /** Appends all of `data` (write(2)). */
  write(data: Uint8Array): void {
    writeAll(
      this.#fd!,
      data,
      (why) => new FileError(`cannot write output ${quote(this.path)}: ${why}`),
    );
  }

  /** The copy is complete: give the file its name, or close a file handed over. */
  commit(): void {
    if (this.#file !== null) {
      this.#file.link(this.path, this.#force);
      this.#file.close();
    } else if (this.#fd !== null) {
      libc.close(this.#fd);
    }
    this.#fd = null;
    this.#finished = true;
  }

  /** Abandons an uncommitted copy: the unnamed file vanishes (a stand-in is removed). */
  discard(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#file !== null) {
      this.#file.close();
    } else if (this.#fd !== null) {
      try {
        libc.close(this.#fd);
      } catch { /* already closed */ }
    }
    this.#fd = null;
  }

  /** Abandons the copy unless it was committed (for `using`). */
  [Symbol.dispose](): void {
    this.discard();
  }
}

/**
 * The SHA-256 of the file open at `fd`, read from its start in 1 MiB pieces (through
 * `/proc/self/fd/N`, a description of its own), as lowercase hex. Each piece is read
 * asynchronously, so signal listeners run meanwhile; once `signal` is aborted, it rejects with
 * its reason.
 *
 * @example
 * ```ts ignore
 * import { InputFile, sha256Fd } from "./files.ts";
 * using input = new InputFile("lessons/sample.txt");
 * console.log(await sha256Fd(input.fd));
 * ```
 */
export async function sha256Fd(fd: number, signal?: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(`/proc/self/fd/${fd}`, { read: true });
  const buf = new Uint8Array(1 << 20);
  for (;;) {
    signal?.throwIfAborted();
    const n = await file.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
  }
  return hash.digest("hex");
}

/** The SHA-256 of a file, read in 1 MiB pieces, as lowercase hex. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  const buf = new Uint8Array(1 << 20);
  for (;;) {
    const n = await file.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
  }
  return hash.digest("hex");
}

/** Fills `buf` with random bytes (getRandomValues gives at most 64 KiB per call). */
function randomize(buf: Uint8Array): void {
  for (let at = 0; at < buf.length; at += 65536) {
    crypto.getRandomValues(buf.subarray(at, at + 65536));
  }
}

/**
 * Writes `size` random bytes to the file open at `fd`, 1 MiB at a time, giving the event loop
 * a turn now and then so that Ctrl-C is seen: once `signal` is aborted, it rejects with its
 * reason.
 *
 * @example
 * ```ts ignore
 * import { fillRandom, FileError, UnnamedFile } from "./files.ts";
 * using file = new UnnamedFile("/tmp", { fail: (why) => new FileError(why) });
 * await fillRandom(file.fd, 1 << 20);
 * ```
 */
export async function fillRandom(fd: number, size: number, signal?: AbortSignal): Promise<void> {
  const buf = new Uint8Array(1 << 20);
  const fail = (why: string) => new FileError(`cannot write the random input: ${why}`);
  for (let left = size; left > 0;) {
    const piece = buf.subarray(0, Math.min(left, buf.length));
    randomize(piece);
    writeAll(fd, piece, fail);
    left -= piece.length;
    if (turnIsDue()) await takeTurn();
    signal?.throwIfAborted();
  }
}

/** Writes `size` random bytes to a new file at `path`, 64 KiB at a time. */
export function writeRandomFile(path: string, size: number): void {
  using file = Deno.openSync(path, { write: true, createNew: true });
  const buf = new Uint8Array(65536);
  for (let left = size; left > 0;) {
    const piece = buf.subarray(0, Math.min(left, buf.length));
    crypto.getRandomValues(piece);
    for (let done = 0; done < piece.length;) done += file.writeSync(piece.subarray(done));
    left -= piece.length;
  }
}

function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch { /* already gone */ }
}
