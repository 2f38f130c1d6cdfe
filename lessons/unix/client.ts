/**
 * The Unix-domain socket lesson's client.
 *
 * It connects to the server's socket file (trying again while nobody listens yet, up to
 * --timeout), and copies what comes into the output file until end-of-file. What comes may be
 * the file's bytes, or (`--pass-fd` on the server) the open file itself: a descriptor passed
 * with `SCM_RIGHTS`, which the client then reads directly. The client needs no option to know
 * which: its first read is a `recvmsg(2)` with room for one descriptor.
 *
 * @module
 */

import * as libc from "../../transports/libc.ts";
import { connect, type Connection, socketPathState } from "../../transports/socket.ts";
import { formatBytes } from "../../transports/units.ts";
import { seconds, sleep } from "../../transports/wait.ts";
import { isRunning } from "../../transports/holders.ts";
import { LessonError, type Output, type Side } from "../_lesson.ts";
import { describeFd, removeAdvice, type UnixOptions } from "./common.ts";

/** Copies what the server at `side.options.path` sends into the output file. */
export async function client(side: Side<UnixOptions>): Promise<void> {
  const { log } = side;
  const { path } = side.options;

  // 1. Create the output first (an unnamed file, named at the end): a bad output path should
  //    fail before any server waits for us.
  using output = side.createOutput();
  log.say(`I am the client: I write ${JSON.stringify(output.path)}`);

  // 2. socket(AF_UNIX, SOCK_STREAM) and connect() to the path. Nobody listening yet is
  //    ENOENT (no socket file) or ECONNREFUSED (a file, but no listener): try again.
  const kind = kindOfNonSocket(path);
  if (kind !== null) {
    throw new LessonError(`${path} is not a socket (it is ${kind}): no server listens there`);
  }
  using conn = await connectTo(side, path);
  const server = conn.peerCredentials();
  log.say(
    `connect(): connected to ${path}: the server is process ${server.pid} (SO_PEERCRED); my ` +
      `end is socket inode ${conn.inode}`,
  );
  // Anyone who may write to the socket's directory (/tmp) can be listening at the path first:
  // SO_PEERCRED says who is, and nobody can fake it. Take data only from one's own server.
  if (server.uid !== Deno.uid()) {
    throw new LessonError(
      `the server at ${path} runs as user ${server.uid}, not as you (user ${Deno.uid()}): ` +
        "refusing its data; another user's program may be listening at that path (choose a " +
        "path in a directory only you can write to)",
    );
  }

  // 3. The first read is a recvmsg() that can take a descriptor too: the server sends either
  //    the file's bytes, or (--pass-fd) the open file itself.
  const buf = new Uint8Array(side.chunk);
  side.startClock();
  const first = await conn.receiveFds(buf, 1);
  if (first.truncated) {
    for (const fd of first.fds) libc.close(fd);
    throw new LessonError(
      "the server passed more than one descriptor (the kernel closed the rest: MSG_CTRUNC); " +
        "the --pass-fd server passes exactly one: refusing this copy",
    );
  }
  if (first.fds.length > 0) {
    await readPassedFile(side, conn, first.fds[0]!, output, buf);
  } else {
    // 4. The copy loop: read what has come, append it to the output. A stream socket has no
    //    messages: a read returns whatever is there, and 0 only at end-of-file.
    if (first.n > 0) {
      output.write(buf.subarray(0, first.n));
      side.count(first.n);
    }
    for (let n = first.n; n > 0;) {
      n = await conn.read(buf);
      if (n === 0) break;
      output.write(buf.subarray(0, n));
      side.count(n);
    }
  }
  side.stopClock();

  // 5. End-of-file. The server says "that was all" with shutdown(SHUT_WR) and keeps the
  //    connection until we close it. A connection closed outright (POLLHUP) is a server that
  //    died mid-transfer, or a program that closes instead: this copy cannot be trusted.
  if (conn.peerHasClosed()) {
    // Has the server's process gone (killed, most likely), or does it live on?
    const exited = await gone(server.pid, side.signal);
    throw new LessonError(
      `the server ${exited ? "exited" : "closed the connection"} after ${
        formatBytes(side.bytes)
      } without saying that was all (no shutdown(SHUT_WR) first): transfer incomplete, or a ` +
        "server that closes instead of shutting down; a byte stream cannot tell which, so this " +
        "copy was not kept",
    );
  }
  log.say(
    side.bytes === 0
      ? "end-of-file at once: the server shut down its write side without sending (an empty input)"
      : `end-of-file after ${
        formatBytes(side.bytes)
      }: the server shut down its write side (SHUT_WR): that was all`,
  );

  // 6. The copy is complete: move it into place. Closing our end tells the server we are done.
  log.say(await output.commit());
}

/**
 * socket(AF_UNIX, SOCK_STREAM) and connect() to `path`, trying again while nobody listens yet,
 * with what each failure means in words.
 */
async function connectTo(side: Side<UnixOptions>, path: string): Promise<Connection> {
  const { log } = side;
  return await connect({ family: "unix", path }, {
    ...side.waits,
    retry: true,
    onRefused: (error) =>
      log.say(
        `nobody listens at ${path} yet (connect: ${error.code}, ${
          error.code === "ENOENT" ? "no socket file" : "a socket file, but no listener"
        }): trying again for up to ${seconds(side.timeoutMs)}`,
      ),
  }).catch((error) => {
    const state = error instanceof Deno.errors.TimedOut ? socketPathState(path) : null;
    if (state?.state === "stale") {
      throw new LessonError(
        `${error.message}: the socket file is there, but no process has it: a killed run ` +
          `left it behind (${removeAdvice(path, state.uid)})`,
      );
    }
    if (error instanceof libc.LibcError && error.code === "EACCES") {
      // connect() needs write permission on the socket file, and search on its directories.
      throw new LessonError(
        `cannot connect to ${path}: EACCES (permission denied): the socket file is ` +
          `${modeOf(path)}; connecting needs write permission on it (the lesson's server makes ` +
          "it 0600: only its own user may connect)",
      );
    }
    throw error;
  });
}

/** `ls -l`'s view of the socket file at `path`: its mode and owner. */
function modeOf(path: string): string {
  try {
    const info = Deno.lstatSync(path);
    return `mode 0${(info.mode! & 0o777).toString(8)}, owned by user ${info.uid}`;
  } catch {
    return "out of reach (a directory on the way cannot be searched)";
  }
}

/** What is at `path` if it is something other than a socket (or nothing), else null. */
function kindOfNonSocket(path: string): string | null {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch {
    return null; // nothing there yet: the server has not started
  }
  if (info.isSocket) return null;
  if (info.isSymlink) return "a symbolic link";
  if (info.isDirectory) return "a directory";
  if (info.isFile) return "a regular file";
  if (info.isFifo) return "a FIFO";
  return "not a socket";
}

/** Whether process `pid` is gone within a second (a process that closed all is exiting). */
async function gone(pid: number, signal: AbortSignal): Promise<boolean> {
  for (let waited = 0; waited < 1000; waited += 20) {
    if (!isRunning(pid)) return true;
    await sleep(20, signal);
  }
  return false;
}

/**
 * `--pass-fd`: the server sent the input's open descriptor. The kernel installed a new
 * descriptor in this process for the same open file: the same inode (fstat shows what the
 * server showed), and the same offset. Read the file through it, then close it.
 */
async function readPassedFile(
  side: Side<UnixOptions>,
  conn: Connection,
  fd: number,
  output: Output,
  buf: Uint8Array,
): Promise<void> {
  const { log } = side;
  try {
    // Whatever came is now ours to read: make sure it is what a --pass-fd server sends. A pipe
    // or a socket would make read() wait with no deadline (the descriptor is blocking), a
    // directory or a descriptor opened for writing only would fail: say so instead.
    const why = whyNotAFileToRead(fd);
    if (why !== null) {
      throw new LessonError(
        `the server passed descriptor ${fd}, which is ${why}: the --pass-fd server passes its ` +
          "input file, opened for reading; refusing this copy",
      );
    }
    const { identity, offset } = describeFd(fd);
    log.say(
      `recvmsg() with SCM_RIGHTS: received descriptor ${fd}: ${identity} (fstat), offset ` +
        `${offset}: the server's open input file itself, not a copy of its bytes`,
    );
    for (;;) {
      const n = libc.read(fd, buf);
      if (n === libc.WOULD_BLOCK) continue; // (a signal interrupted it: read again)
      if (n === 0) break;
      output.write(buf.subarray(0, n));
      side.count(n);
    }
    log.say(
      `read ${formatBytes(side.bytes)} from the file through descriptor ${fd}, now at offset ${
        describeFd(fd).offset
      }`,
    );
  } finally {
    libc.close(fd);
  }
  // After the descriptor, the server sends nothing more: the stream must end.
  const extra = await conn.read(buf);
  if (extra > 0) {
    throw new LessonError(
      `the server sent ${extra} more bytes after the descriptor: it is not the --pass-fd server`,
    );
  }
}

/**
 * Why descriptor `fd` is not a regular file open for reading from its start (in words), or
 * null if it is.
 */
function whyNotAFileToRead(fd: number): string | null {
  const info = Deno.statSync(`/proc/self/fd/${fd}`);
  if (!info.isFile) {
    if (info.isDirectory) return "a directory";
    if (info.isFifo) return "a pipe or FIFO";
    if (info.isSocket) return "a socket";
    return "not a regular file";
  }
  // The flags it was opened with, in octal (/proc/self/fdinfo): O_ACCMODE is the low two bits.
  const fdinfo = Deno.readTextFileSync(`/proc/self/fdinfo/${fd}`);
  const flags = fdinfo.match(/^flags:\s*([0-7]+)/m);
  const bits = flags === null ? -1 : parseInt(flags[1]!, 8);
  // O_PATH: a name only, which read() refuses (EBADF), whatever the access mode says.
  if (bits !== -1 && (bits & libc.O.PATH) !== 0) return "opened with O_PATH, which cannot read";
  const mode = bits === -1 ? -1 : bits & 0o3;
  if (mode !== libc.O.RDONLY && mode !== libc.O.RDWR) return "a file opened for writing only";
  // The offset is shared with the server: reading from elsewhere than the start would copy a
  // part of the file, and say it was all.
  const pos = Number(fdinfo.match(/^pos:\s*(\d+)/m)?.[1] ?? 0);
  if (pos !== 0) {
    return `a file at offset ${pos}, not at its start (the copy would miss ${pos} bytes)`;
  }
  return null;
}
