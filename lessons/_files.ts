/**
 * The files at both ends of a lesson: the server's input and the client's output.
 *
 * The rules every lesson follows:
 * - a bad path gets one line that says what failed and why;
 * - the output is written to a partial file beside it and renamed into place only when the
 *   copy is complete, so a failed run never leaves a half-written output;
 * - files are streamed in chunks, never read whole into memory.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { basename, dirname, resolve } from "node:path";
import { strerror } from "../transports/libc.ts";

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
 * Deno's errors carry the errno name in `code`.
 */
export function reason(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string" && code.startsWith("E")) {
    const text = strerror(code);
    return text.charAt(0).toLowerCase() + text.slice(1);
  }
  return error instanceof Error ? error.message : String(error);
}

const quote = (path: string) => JSON.stringify(path);

/** Checks that `path` names a readable regular file; returns its size. */
export function checkInput(path: string): number {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (error) {
    throw new LessonError(`cannot open input ${quote(path)}: ${reason(error)}`);
  }
  if (info.isDirectory) throw new LessonError(`cannot open input ${quote(path)}: is a directory`);
  if (!info.isFile) {
    throw new LessonError(`cannot use input ${quote(path)}: not a regular file`);
  }
  try {
    Deno.openSync(path, { read: true }).close();
  } catch (error) {
    throw new LessonError(`cannot open input ${quote(path)}: ${reason(error)}`);
  }
  return info.size;
}

/** The input file, open for reading in chunks. */
export class InputFile implements Disposable {
  /** The path, as given. */
  readonly path: string;
  /** The size in bytes when it was opened. */
  readonly size: number;
  #file: Deno.FsFile;

  /** Opens `path` for reading; a bad path becomes a {@linkcode LessonError}. */
  constructor(path: string) {
    this.path = path;
    try {
      this.#file = Deno.openSync(path, { read: true });
    } catch (error) {
      throw new LessonError(`cannot open input ${quote(path)}: ${reason(error)}`);
    }
    const info = this.#file.statSync();
    if (info.isDirectory) {
      this.#file.close();
      throw new LessonError(`cannot open input ${quote(path)}: is a directory`);
    }
    this.size = info.size;
  }

  /** Reads the next bytes into `buf`; returns how many, or 0 at end-of-file. */
  read(buf: Uint8Array): number {
    try {
      return this.#file.readSync(buf) ?? 0;
    } catch (error) {
      throw new LessonError(`cannot read input ${quote(this.path)}: ${reason(error)}`);
    }
  }

  /** Closes the file. */
  close(): void {
    try {
      this.#file.close();
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
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
 * The output file. Bytes go to `OUTPUT.PID.partial` beside it; {@linkcode OutputFile.commit}
 * renames that into place. Disposing an uncommitted output removes the partial file.
 */
export class OutputFile implements Disposable {
  /** The final path. */
  readonly path: string;
  /** Where the bytes go until the copy is complete. */
  readonly partialPath: string;
  #file: Deno.FsFile | null;
  #finished = false;

  /** Checks `path` and creates the partial file (exclusively: never someone else's file). */
  constructor(path: string) {
    checkOutput(path);
    this.path = path;
    this.partialPath = resolve(dirname(path), `${basename(path)}.${Deno.pid}.partial`);
    try {
      this.#file = Deno.openSync(this.partialPath, { write: true, createNew: true });
    } catch (error) {
      throw new LessonError(`cannot create output ${quote(this.partialPath)}: ${reason(error)}`);
    }
  }

  /** Appends all of `data`. */
  write(data: Uint8Array): void {
    const file = this.#file!;
    try {
      for (let done = 0; done < data.length;) {
        done += file.writeSync(done === 0 ? data : data.subarray(done));
      }
    } catch (error) {
      throw new LessonError(`cannot write output ${quote(this.partialPath)}: ${reason(error)}`);
    }
  }

  /** The copy is complete: close the partial file and rename it to the output path. */
  commit(): void {
    this.#file?.close();
    this.#file = null;
    try {
      Deno.renameSync(this.partialPath, this.path);
    } catch (error) {
      throw new LessonError(
        `cannot rename ${quote(this.partialPath)} to ${quote(this.path)}: ${reason(error)}`,
      );
    }
    this.#finished = true;
  }

  /** Abandons an uncommitted copy: closes and removes the partial file. Harmless when done. */
  discard(): void {
    if (this.#finished) return;
    this.#finished = true;
    try {
      this.#file?.close();
    } catch { /* already closed */ }
    this.#file = null;
    try {
      Deno.removeSync(this.partialPath);
    } catch { /* already gone */ }
  }

  /** Removes the partial file unless the copy was committed (for `using`). */
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
