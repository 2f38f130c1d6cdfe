/**
 * Pipes: a one-way byte stream inside the kernel, with a read end and a write end.
 *
 * A {@linkcode PipeEnd} wraps one end's file descriptor. It is made non-blocking so that a
 * full or empty pipe never freezes the event loop: the call returns EAGAIN at once, and the
 * end waits in `poll(2)` (see `wait.ts`): a few microseconds without sleeping, then briefly
 * on this thread, then parked on a worker thread while the event loop runs.
 *
 * The same class serves unnamed pipes ({@linkcode createPipe}, or a shell's `|` on stdin and
 * stdout) and FIFOs (see `fifo.ts`): a FIFO is a pipe that has a name in the file system.
 *
 * @module
 */

import * as libc from "./libc.ts";
import type { EndOptions, InheritedChannel, Sink, Source } from "./channel.ts";
import { ChannelError } from "./errors.ts";
import {
  ready,
  seconds,
  sent,
  SPIN_US,
  untilReady,
  type UntilReadyOptions,
  type Waits,
} from "./wait.ts";

/** Options for a {@linkcode PipeEnd}. */
export interface PipeEndOptions {
  /**
   * How long a read may wait for data, or a write for room, in milliseconds. Infinity (the
   * default) waits for ever.
   */
  timeout?: number;
  /** Once this is aborted, a waiting read or write rejects with its reason (Ctrl-C). */
  signal?: AbortSignal;
}

/**
 * One end of a pipe or FIFO.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createPipe } from "./pipe.ts";
 * const { readEnd, writeEnd } = createPipe();
 * await writeEnd.write(new TextEncoder().encode("hello"));
 * writeEnd.close(); // the last write end closed: the reader will see end-of-file
 * const buf = new Uint8Array(16);
 * const n = await readEnd.read(buf);
 * assert.equal(n, 5);
 * assert.equal(new TextDecoder().decode(buf.subarray(0, n)), "hello");
 * assert.equal(await readEnd.read(buf), 0); // end-of-file
 * readEnd.close();
 * ```
 */
export class PipeEnd implements Disposable {
  #fd: number;
  #timeoutMs: number;
  #closed = false;

  /**
   * Takes over the file descriptor `fd` (which must be one end of a pipe or FIFO) and makes it
   * non-blocking.
   */
  constructor(fd: number, options: PipeEndOptions = {}) {
    this.#fd = fd;
    this.#timeoutMs = options.timeout ?? Infinity;
    this.#readOptions.timeoutMs = this.#writeOptions.timeoutMs = this.#timeoutMs;
    this.#readOptions.signal = this.#writeOptions.signal = options.signal;
    libc.setNonBlocking(fd);
  }

  /** The file descriptor number. */
  get fd(): number {
    return this.#fd;
  }

  /**
   * The kernel object this end refers to, as `/proc/self/fd` shows it: `pipe:[1234567]`. Two
   * processes that print the same inode number hold the same pipe.
   */
  get kernelObject(): string {
    return Deno.readLinkSync(`/proc/self/fd/${this.#fd}`);
  }

  /**
   * The inode number of the pipe or FIFO in the kernel, from `fstat` of `/proc/self/fd/N`.
   * Two processes that print the same number hold the same kernel object.
   */
  get inode(): number {
    return Deno.statSync(`/proc/self/fd/${this.#fd}`).ino!;
  }

  /**
   * The other processes that have this pipe open, and for what (see {@linkcode pipeUsers}):
   * a reader can find out that it is not the only one, a FIFO's reader that a writer has
   * connected without writing anything yet.
   */
  otherUsers(): PipeUser[] {
    return pipeUsers(this.#fd);
  }

  /** How many bytes the pipe can hold before a writer must wait (`fcntl(F_GETPIPE_SZ)`). */
  get capacity(): number {
    return libc.fcntl(this.#fd, libc.F.GETPIPE_SZ);
  }

  /**
   * Asks the kernel to make the pipe hold `bytes` (`fcntl(F_SETPIPE_SZ)`); returns the size it
   * actually got (rounded up to a power-of-two number of pages). Unprivileged processes may go
   * up to `/proc/sys/fs/pipe-max-size`.
   */
  resize(bytes: number): number {
    return libc.fcntl(this.#fd, libc.F.SETPIPE_SZ, bytes);
  }

  /**
   * Reads up to `buf.length` bytes into `buf`. Resolves to the number of bytes read, or 0 at
   * end-of-file, which a pipe reports once every write end is closed and the pipe is empty.
   */
  read(buf: Uint8Array): Promise<number> {
    // The common case first: there is data, and nothing needs to be made to wait for it.
    const n = this.#readOnce(buf);
    if (n !== libc.WOULD_BLOCK) return ready(n, this.#readOptions.signal);
    return untilReady(() => this.#readOnce(buf), this.#waitToRead, this.#readOptions);
  }

  #readOnce(buf: Uint8Array): number | typeof libc.WOULD_BLOCK {
    const n = libc.read(this.#fd, buf);
    // read() also returns 0 on a FIFO that no writer has opened yet. poll() tells the two
    // apart: it reports POLLHUP only once a writer has been connected and has gone.
    if (n === 0 && (libc.poll(this.#fd, libc.POLL.IN, 0) & libc.POLL.HUP) === 0) {
      return libc.WOULD_BLOCK;
    }
    return n;
  }

  /**
   * Writes all of `data`, waiting while the pipe is full. Fails with a {@linkcode libc.LibcError}
   * whose code is EPIPE when no reader is left.
   */
  write(data: Uint8Array): Promise<void> {
    // Interrupted (Ctrl-C): now, before a byte goes; once written, the bytes are counted.
    if (this.#writeOptions.signal?.aborted) return Promise.reject(this.#writeOptions.signal.reason);
    // The common case first: the pipe takes it all at once.
    const n = data.length === 0 ? 0 : libc.write(this.#fd, data);
    if (n === data.length) return sent();
    return this.#writeRest(data, n === libc.WOULD_BLOCK ? 0 : n);
  }

  async #writeRest(data: Uint8Array, written: number): Promise<void> {
    let offset = written;
    while (offset < data.length) {
      const rest = offset === 0 ? data : data.subarray(offset);
      offset += await untilReady(
        () => libc.write(this.#fd, rest),
        this.#waitToWrite,
        this.#writeOptions,
      );
    }
  }

  /** Waiting for the pipe to become readable (POLL.IN) or writable (POLL.OUT): poll(2). */
  #waitsFor(events: number): Waits<number> {
    return {
      wait: (ms) => {
        // Look for a few microseconds without sleeping, then sleep in poll for up to `ms`.
        if (libc.pollSpin(this.#fd, events, SPIN_US) === 0) libc.poll(this.#fd, events, ms);
        return libc.WOULD_BLOCK;
      },
      park: async (ms) => {
        await libc.pollPark(this.#fd, events, ms);
        return libc.WOULD_BLOCK;
      },
    };
  }

  // Made once, not on every read and write.
  #waitToRead = this.#waitsFor(libc.POLL.IN);
  #waitToWrite = this.#waitsFor(libc.POLL.OUT);
  #readOptions: UntilReadyOptions = {
    timeoutMs: Infinity,
    timeoutMessage: () =>
      `no data came through the pipe for ${
        seconds(this.#timeoutMs)
      }, and the writer has not closed its end`,
  };
  #writeOptions: UntilReadyOptions = {
    timeoutMs: Infinity,
    timeoutMessage: () =>
      `the pipe stayed full for ${seconds(this.#timeoutMs)}: the reader took no data`,
  };

  /**
   * Closes this end. For descriptors 0, 1 and 2 the number is kept and pointed at /dev/null,
   * so that no file opened later lands on stdin or stdout by accident. Closing twice is
   * harmless.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#fd > 2) {
      libc.close(this.#fd);
      return;
    }
    const devNull = libc.open("/dev/null", libc.O.RDWR | libc.O.CLOEXEC);
    libc.dup2(devNull, this.#fd);
    libc.close(devNull);
  }

  /** Closes this end (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * `pipe2(2)`: a new pipe. Both descriptors are close-on-exec, so a child process does not
 * inherit them unless they are deliberately put on its stdin or stdout (see
 * {@linkcode spawnWithStdin}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createPipe } from "./pipe.ts";
 * using pipe = createPipe();
 * assert.equal(pipe.readEnd.kernelObject, pipe.writeEnd.kernelObject); // one pipe, two ends
 * ```
 */
export function createPipe(options: PipeEndOptions = {}): {
  readEnd: PipeEnd;
  writeEnd: PipeEnd;
  [Symbol.dispose](): void;
} {
  const [readFd, writeFd] = libc.pipe2(libc.O.CLOEXEC);
  const readEnd = new PipeEnd(readFd, options);
  const writeEnd = new PipeEnd(writeFd, options);
  return {
    readEnd,
    writeEnd,
    [Symbol.dispose]() {
      readEnd.close();
      writeEnd.close();
    },
  };
}

/**
 * Starts `command` with its stdin connected to `readEnd`: the `fork` + `dup2` + `exec` pattern.
 * A child inherits its parent's descriptor 0 when stdin is `"inherit"`, so for the moment of
 * the spawn the read end is put at descriptor 0 with `dup2(2)`, then our own stdin is put back.
 * The read end is left in blocking mode, as the child expects of its stdin; the caller should
 * close its own copy of it right away (the child holds one now).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createPipe, spawnWithStdin } from "./pipe.ts";
 * const { readEnd, writeEnd } = createPipe();
 * const wc = new Deno.Command("wc", { args: ["-c"], stdout: "piped" });
 * const child = spawnWithStdin(wc, readEnd);
 * readEnd.close();
 * await writeEnd.write(new Uint8Array(1000));
 * writeEnd.close();
 * const { code, stdout } = await child.output();
 * assert.equal(code, 0);
 * assert.equal(new TextDecoder().decode(stdout).trim(), "1000"); // wc counted what we wrote
 * ```
 */
export function spawnWithStdin(
  command: Deno.Command,
  readEnd: { readonly fd: number },
): Deno.ChildProcess {
  // O_NONBLOCK belongs to the open pipe, not to one descriptor, so the child would inherit it;
  // a program reading its stdin expects the normal, blocking behaviour. (This works for stdin
  // only: for "inherit" stdout and stderr, Deno hands the child its own saved handles.)
  libc.setNonBlocking(readEnd.fd, false);
  const savedStdin = libc.dup(0);
  libc.dup2(readEnd.fd, 0);
  try {
    return command.spawn();
  } finally {
    libc.dup2(savedStdin, 0);
    libc.close(savedStdin);
  }
}

/**
 * The largest size an unprivileged process may give a pipe, from `/proc/sys/fs/pipe-max-size`
 * (1 MiB by default).
 */
export function pipeMaxSize(): number {
  return Number(Deno.readTextFileSync("/proc/sys/fs/pipe-max-size").trim());
}

/**
 * Whether descriptor `fd` of this process is a pipe or FIFO (and not a terminal or a file):
 * `fstat(2)` reports S_IFIFO for both.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createPipe, isPipe } from "./pipe.ts";
 * using pipe = createPipe();
 * assert.equal(isPipe(pipe.readEnd.fd), true);
 * assert.equal(isPipe(-1), false); // not an open descriptor at all
 * ```
 */
export function isPipe(fd: number): boolean {
  try {
    return Deno.statSync(`/proc/self/fd/${fd}`).isFifo === true;
  } catch {
    return false;
  }
}

/** Another process's hold on a pipe or FIFO: see {@linkcode pipeUsers}. */
export interface PipeUser {
  /** The process. */
  pid: number;
  /** It has a descriptor open for reading (`O_RDONLY` or `O_RDWR`). */
  reads: boolean;
  /** It has a descriptor open for writing (`O_WRONLY` or `O_RDWR`). */
  writes: boolean;
}

/** `O_ACCMODE`: the two bits of the open flags that say read, write or both. */
const ACCESS_MODE = 0o3;

/**
 * The other processes that have the pipe or FIFO behind our descriptor `fd` open, and for
 * what. Linux shows it in `/proc`: every descriptor of process PID is a link in
 * `/proc/PID/fd/`, whose `stat` gives the device and inode of the pipe itself, and
 * `/proc/PID/fdinfo/N` gives the flags it was opened with (in octal). A descriptor opened
 * with `O_PATH` only names a FIFO, without opening either end: it is not counted. Only
 * processes whose `/proc/PID/fd` this user may read are seen: one's own, or all for root.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createPipe, pipeUsers } from "./pipe.ts";
 * using pipe = createPipe();
 * assert.deepEqual(pipeUsers(pipe.readEnd.fd), []); // only this process has it
 * ```
 */
export function pipeUsers(fd: number): PipeUser[] {
  const wanted = identity(`/proc/self/fd/${fd}`);
  if (wanted === null) return [];
  const users: PipeUser[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || pid === Deno.pid) continue;
    const user: PipeUser = { pid, reads: false, writes: false };
    try {
      for (const link of Deno.readDirSync(`/proc/${pid}/fd`)) {
        if (identity(`/proc/${pid}/fd/${link.name}`) !== wanted) continue;
        const flags = openFlags(pid, link.name);
        if (flags === null || (flags & libc.O.PATH) !== 0) continue;
        const mode = flags & ACCESS_MODE;
        if (mode !== libc.O.WRONLY) user.reads = true;
        if (mode !== libc.O.RDONLY) user.writes = true;
      }
    } catch {
      continue; // not ours to look at, or it exited while we looked
    }
    if (user.reads || user.writes) users.push(user);
  }
  return users;
}

/** The device and inode of what `path` (a link in /proc) leads to, or null if it is gone. */
function identity(path: string): string | null {
  try {
    const info = Deno.statSync(path);
    return `${info.dev}:${info.ino}`;
  } catch {
    return null;
  }
}

/** The flags descriptor `fd` of process `pid` was opened with, from `/proc/PID/fdinfo/FD`. */
function openFlags(pid: number, fd: string): number | null {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/fdinfo/${fd}`);
    const octal = text.match(/^flags:\s*([0-7]+)$/m)?.[1];
    return octal === undefined ? null : parseInt(octal, 8);
  } catch {
    return null; // closed meanwhile
  }
}

// ---------------------------------------------------------------------------------------------
// The pipe as a channel of pieces (see channel.ts): what the benchmark measures
// ---------------------------------------------------------------------------------------------

/**
 * A pipe's or FIFO's write end as a {@linkcode Sink}, raised to pipe-max-size as the lessons
 * raise theirs. Its end is the end of the stream: closing the last write end gives the reader
 * end-of-file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createPipe, pipeSink, pipeSource } from "./pipe.ts";
 * using pipe = createPipe({ timeout: 5000 });
 * const sink = pipeSink(pipe.writeEnd);
 * const source = pipeSource(pipe.readEnd, 16);
 * await sink.send(new TextEncoder().encode("hi"));
 * await sink.end();
 * assert.equal(new TextDecoder().decode(await source.receive()), "hi");
 * assert.equal((await source.receive()).length, 0); // end-of-file
 * ```
 */
export function pipeSink(end: PipeEnd): Sink {
  end.resize(pipeMaxSize());
  return { send: (data) => end.write(data), end: () => Promise.resolve(end.close()) };
}

/**
 * A pipe's or FIFO's read end as a {@linkcode Source}: each piece is one `read(2)` of up to
 * `bufferSize` bytes into the same buffer; an empty piece is end-of-file.
 */
export function pipeSource(end: PipeEnd, bufferSize: number): Source {
  const buf = new Uint8Array(bufferSize);
  return { receive: async () => buf.subarray(0, await end.read(buf)) };
}

/**
 * The pipe as an inherited channel, opened as the pipe lesson opens it: the creator makes the
 * pipe with `pipe2(2)` and starts its peer with the other end inherited (on its stdin).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { channel, spawnWithStdin } from "./pipe.ts";
 * using stack = new DisposableStack();
 * const { mine, theirs } = channel.createSink({ piece: 64, capacity: 0, timeout: 5000, stack });
 * const wc = spawnWithStdin(new Deno.Command("wc", { args: ["-c"], stdout: "piped" }), theirs);
 * theirs.close(); // the child has its copy
 * await mine.send(new Uint8Array(1000));
 * await mine.end();
 * const { stdout } = await wc.output();
 * assert.equal(new TextDecoder().decode(stdout).trim(), "1000");
 * ```
 */
export const channel: InheritedChannel = {
  kind: "inherited",
  refbench: "pipe",
  createSink({ timeout, stack }: EndOptions) {
    const pipe = stack.use(createPipe({ timeout }));
    return { mine: pipeSink(pipe.writeEnd), theirs: pipe.readEnd };
  },
  createSource({ piece, timeout, stack }: EndOptions) {
    const pipe = stack.use(createPipe({ timeout }));
    return { mine: pipeSource(pipe.readEnd, piece), theirs: pipe.writeEnd };
  },
  adoptSink(fd: number, { timeout, stack }: EndOptions) {
    return pipeSink(stack.use(new PipeEnd(fd, { timeout })));
  },
  adoptSource(fd: number, { piece, timeout, stack }: EndOptions) {
    if (!isPipe(fd)) throw new ChannelError(`descriptor ${fd} is not a pipe`);
    return pipeSource(stack.use(new PipeEnd(fd, { timeout })), piece);
  },
};
