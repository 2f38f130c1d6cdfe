/**
 * The files at both ends of a lesson: the server's input and the client's output.
 *
 * The rules every lesson follows:
 * - a bad path gets one line that says what failed and why;
 * - the output is written to an unnamed file that gets its name only when the copy is complete,
 *   so a failed run, even one killed with SIGKILL, never leaves a half-written output;
 * - files are streamed in chunks, never read whole into memory.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { basename, dirname, resolve } from "node:path";
import * as libc from "../transports/libc.ts";
import { LibcError, strerror } from "../transports/libc.ts";

/** A failure the user can act on: printed as one line, exit status 1. */
export class LessonError extends Error {
  /** The exit status: 1, or 130/143 when the failure is that a process was interrupted. */
  readonly status: number;

  /** A failure with a message meant for the user. */
  constructor(message: string, options: { status?: number } = {}) {
    super(message);
    this.name = "LessonError";
    this.status = options.status ?? 1;
  }
}

/** A mistake on the command line: printed as one line, exit status 2. */
export class UsageError extends Error {
  /** A usage mistake with a message meant for the user. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
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
 * import { pathExists } from "./_files.ts";
 * pathExists("/tmp"); // true
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

/** Checks that `path` names a readable regular file; returns its size. */
export function checkInput(path: string): number {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (error) {
    throw new LessonError(`cannot open input ${quote(path)}: ${reason(error)}`);
  }
  const size = inputSize(path, info);
  try {
    Deno.openSync(path, { read: true }).close();
  } catch (error) {
    throw new LessonError(`cannot open input ${quote(path)}: ${reason(error)}`);
  }
  return size;
}

/** The size of the input described by `info`, if it is a regular file. */
function inputSize(path: string, info: Deno.FileInfo): number {
  if (info.isDirectory) throw new LessonError(`cannot open input ${quote(path)}: is a directory`);
  if (!info.isFile) throw new LessonError(`cannot use input ${quote(path)}: not a regular file`);
  return info.size;
}

/** The input file, open for reading in chunks. */
export class InputFile implements Disposable {
  /** The path, as given. */
  readonly path: string;
  /** The size in bytes when it was opened. */
  readonly size: number;
  #fd: number | null;

  /** Opens `path` for reading (open(2)); a bad path becomes a {@linkcode LessonError}. */
  constructor(path: string) {
    this.path = path;
    try {
      this.#fd = libc.open(path, libc.O.RDONLY | libc.O.CLOEXEC);
    } catch (error) {
      throw new LessonError(`cannot open input ${quote(path)}: ${reason(error)}`);
    }
    try {
      // What was opened: /proc/self/fd/N leads to the file itself (fstat).
      this.size = inputSize(path, Deno.statSync(`/proc/self/fd/${this.#fd}`));
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /** Reads the next bytes into `buf` (read(2)); returns how many, or 0 at end-of-file. */
  read(buf: Uint8Array): number {
    try {
      for (;;) {
        const n = libc.read(this.#fd!, buf);
        if (n !== libc.WOULD_BLOCK) return n; // (interrupted by a signal: just read again)
      }
    } catch (error) {
      throw new LessonError(`cannot read input ${quote(this.path)}: ${reason(error)}`);
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

/**
 * Checks that the client can create `path`: its directory exists and it is not a directory
 * itself. With `input`, also that it is not the input file under another name (a hard link or
 * a symbolic link): the copy would destroy what it copies.
 */
export function checkOutput(path: string, input?: string): void {
  const dir = dirname(resolve(path));
  let dirInfo: Deno.FileInfo;
  try {
    dirInfo = Deno.statSync(dir);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? `directory ${quote(dir)} does not exist`
      : reason(error);
    throw new LessonError(`cannot create output ${quote(path)}: ${why}`);
  }
  if (!dirInfo.isDirectory) {
    throw new LessonError(`cannot create output ${quote(path)}: ${quote(dir)} is not a directory`);
  }
  let info: Deno.FileInfo | null = null;
  try {
    info = Deno.statSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new LessonError(`cannot use output ${quote(path)}: ${reason(error)}`);
    }
  }
  if (info?.isDirectory) {
    throw new LessonError(`cannot write output ${quote(path)}: is a directory`);
  }
  if (info && input !== undefined) {
    const inputInfo = Deno.statSync(input);
    if (info.dev === inputInfo.dev && info.ino === inputInfo.ino) {
      throw new LessonError(
        `output ${quote(path)} is the same file as input ${quote(input)}: refusing to overwrite it`,
      );
    }
  }
}

/**
 * The output file, which nobody can see half-written.
 *
 * The bytes go into an unnamed file in the output's directory (`open(dir, O_TMPFILE)`). Only
 * when the copy is complete does {@linkcode OutputFile.commit} give it a name (`linkat`) and
 * move that name over the output path (`rename`, which replaces it atomically). If the process
 * dies before that, even by SIGKILL, the kernel simply frees the unnamed file. On a file system
 * without unnamed files, a named `OUTPUT.PID.partial` file stands in, removed on failure.
 */
export class OutputFile implements Disposable {
  /** The final path. */
  readonly path: string;
  #fd: number | null;
  /** The named stand-in, when the file system cannot make unnamed files. */
  #partialPath: string | null = null;
  #finished = false;

  /** Checks `path` and creates the unnamed (or partial) file. */
  constructor(path: string) {
    checkOutput(path);
    this.path = path;
    const dir = dirname(resolve(path));
    const fail = (error: unknown): never => {
      throw new LessonError(`cannot create output ${quote(path)}: ${reason(error)}`);
    };
    try {
      this.#fd = libc.open(dir, libc.O.TMPFILE | libc.O.WRONLY | libc.O.CLOEXEC, 0o644);
    } catch (error) {
      const unsupported = error instanceof libc.LibcError &&
        ["EOPNOTSUPP", "EISDIR", "EINVAL"].includes(error.code);
      if (!unsupported) fail(error);
      this.#partialPath = resolve(dir, `${basename(path)}.${Deno.pid}.partial`);
      const flags = libc.O.WRONLY | libc.O.CREAT | libc.O.EXCL | libc.O.CLOEXEC;
      try {
        this.#fd = libc.open(this.#partialPath, flags, 0o644);
      } catch (error) {
        this.#fd = null;
        fail(error);
      }
    }
  }

  /** Appends all of `data` (write(2)). */
  write(data: Uint8Array): void {
    try {
      for (let done = 0; done < data.length;) {
        const n = libc.write(this.#fd!, done === 0 ? data : data.subarray(done));
        if (n !== libc.WOULD_BLOCK) done += n; // (interrupted by a signal: just write again)
      }
    } catch (error) {
      throw new LessonError(`cannot write output ${quote(this.path)}: ${reason(error)}`);
    }
  }

  /** The copy is complete: give the file its name, atomically replacing any old output. */
  commit(): void {
    const fd = this.#fd!;
    try {
      if (this.#partialPath === null) {
        // linkat() cannot replace an existing file, so link to a fresh name, then rename.
        const named = resolve(
          dirname(resolve(this.path)),
          `.${basename(this.path)}.${Deno.pid}.new`,
        );
        libc.linkFd(fd, named);
        Deno.renameSync(named, this.path);
      } else {
        Deno.renameSync(this.#partialPath, this.path);
      }
    } catch (error) {
      throw new LessonError(`cannot create output ${quote(this.path)}: ${reason(error)}`);
    }
    libc.close(fd);
    this.#fd = null;
    this.#finished = true;
  }

  /** Abandons an uncommitted copy: the unnamed file vanishes; a partial one is removed. */
  discard(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#fd !== null) {
      try {
        libc.close(this.#fd);
      } catch { /* already closed */ }
      this.#fd = null;
    }
    if (this.#partialPath !== null) {
      try {
        Deno.removeSync(this.#partialPath);
      } catch { /* already gone */ }
    }
  }

  /** Abandons the copy unless it was committed (for `using`). */
  [Symbol.dispose](): void {
    this.discard();
  }
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
