/**
 * The Unix-domain socket lesson's server.
 *
 * It makes a listening socket with a name in the file system (socket, bind, listen), accepts
 * clients, and gives each one a copy of the input file on a connection of its own. Several
 * clients are served at the same time: each connection waits in poll(2) on its own, so a slow
 * client never holds up a fast one. When a copy is sent, `shutdown(SHUT_WR)` says "that was
 * all": the client reads end-of-file, while the connection stays open the other way until the
 * client closes it.
 *
 * With `--pass-fd` the file's bytes never go through the socket: the server sends the open
 * file's descriptor itself (`sendmsg` with `SCM_RIGHTS`), and the client reads the file.
 *
 * @module
 */

import { Interrupted } from "../../transports/errors.ts";
import type { InputFile } from "../../transports/files.ts";
import { LibcError } from "../../transports/libc.ts";
import { type Connection, listen, type Listener, SEND_BUFFER } from "../../transports/socket.ts";
import { formatBytes } from "../../transports/units.ts";
import { seconds } from "../../transports/wait.ts";
import { LessonError, type Side } from "../_lesson.ts";
import { bindFailure, describeFd, type UnixOptions, whyNotBind } from "./common.ts";

/** Serves the input file to clients of the socket at `side.options.path`. */
export async function server(side: Side<UnixOptions>): Promise<void> {
  const { log, options } = side;
  const { path, clients: wanted } = options;

  // 1. Open the input first: if it is missing, no client should be kept waiting for us.
  using input = side.openInput();
  const whom = wanted === Infinity
    ? "every client that connects, until Ctrl-C"
    : wanted === 1
    ? "one client"
    : `${wanted} clients, each its own copy, at the same time`;
  log.say(
    `I am the server: I send ${JSON.stringify(input.path)} (${formatBytes(input.size)}) to ${whom}${
      options.passFd ? ", as an open file descriptor (--pass-fd)" : ""
    }`,
  );

  // 2. socket(AF_UNIX, SOCK_STREAM), bind() to the path, listen(). bind creates the socket
  //    file, so nothing may be there yet: not even a socket file a killed run left behind.
  const why = whyNotBind(path);
  if (why !== null) throw new LessonError(why);
  using listener = listenAt(path, side);
  log.say(
    `socket(AF_UNIX, SOCK_STREAM) and bind(): created the socket file ${path}, mode 0600 ` +
      "(ls -l shows srw-------); listen(): clients can connect now",
  );
  if (side.byHand && options.pathIsDefault) {
    log.say(
      `in another terminal, run: deno task lesson:unix client --path ${path} --output copy.txt`,
    );
  }

  // 3. Accept clients, and serve each one on its own connection, at the same time. The first
  //    must come within --timeout; with --clients N, so must each of the others.
  const serving = new Set<Promise<void>>();
  const lost: string[] = [];
  let accepted = 0;
  try {
    while (accepted < wanted) {
      // Each client served costs two descriptors (its connection, its open input) and a
      // buffer: with --forever, at most AT_ONCE at a time; the others wait in the backlog.
      if (serving.size >= AT_ONCE) await Promise.race(serving).catch(() => {});
      let connection: Connection;
      try {
        connection = await listener.accept({
          timeout: options.forever ? Infinity : side.timeoutMs,
        });
      } catch (error) {
        if (outOfDescriptors(error) && serving.size > 0) {
          // EMFILE: this process has as many descriptors open as it may. The client stays in
          // the backlog; once a copy under way ends (and frees its two), accept it.
          log.say("accept(): EMFILE (too many open files): waiting for a client to finish");
          await Promise.race(serving).catch(() => {});
          continue;
        }
        if (!(error instanceof Deno.errors.TimedOut) || accepted === 0) throw error;
        throw new LessonError(
          `only ${accepted} of ${wanted} clients connected within ${seconds(side.timeoutMs)}`,
        );
      }
      const n = ++accepted;
      if (n === 1) side.startClock();
      // Each client gets its own open file (its own offset): one read position cannot serve two.
      // (An async function runs at once up to its first wait, so accept() is narrated before
      // the listening socket's close; a throw in it is this client's failure, a rejection.)
      const job = (async () =>
        await serve(side, connection, n, n === 1 ? input : openInputFor(side, connection)))()
        .catch((error) => {
          // This client's failure is not the server's: say so, and go on with the others.
          if (error instanceof Interrupted || side.signal.aborted) {
            throw error;
          }
          lost.push(`client #${n}`);
          const others = wanted > 1 ? "; serving the others" : "";
          log.say(`client #${n}: ${clientFailure(error)}${others}`);
        })
        .finally(() =>
          serving.delete(job)
        );
      job.catch(() => {}); // (its failure is awaited below; only Ctrl-C makes one)
      serving.add(job);
      if (accepted === wanted && wanted > 1) {
        listener.close();
        log.say(
          `all ${wanted} clients have connected: closed the listening socket and removed ${path}; ` +
            "the connections live on",
        );
      } else if (accepted === wanted) {
        listener.close();
        log.say(`closed the listening socket and removed ${path}: the connection lives on`);
      }
    }
  } finally {
    // Whatever ended the loop, the copies under way finish (or fail) before we go.
    await Promise.allSettled(serving);
  }
  side.signal.throwIfAborted(); // Ctrl-C while copies were under way

  // 4. Every client has been served. One that went away did not get its copy: the others
  //    did (the server went on with them), but not all it was asked for was done: status 1.
  if (lost.length > 0) {
    throw new LessonError(
      `served ${accepted} client${accepted === 1 ? "" : "s"}: ${accepted - lost.length} complete; ${
        lost.length <= 3
          ? lost.join(", ")
          : `${lost.slice(0, 3).join(", ")} and ${lost.length - 3} more`
      } did not finish`,
    );
  } else if (accepted > 1) {
    log.say(`served ${accepted} clients, each a complete copy`);
  }
}

/** Gives client number `n` its copy of the input on `connection`, then closes it. */
async function serve(
  side: Side<UnixOptions>,
  connection: Connection,
  n: number,
  input: InputFile,
): Promise<void> {
  const { log } = side;
  using _input = input;
  using conn = connection;
  // SO_PEERCRED: the kernel recorded who connected; no client can pretend to be another.
  const peer = conn.peerCredentials();
  log.say(
    `accept(): client #${n} connected: process ${peer.pid}, user ${peer.uid} (SO_PEERCRED); ` +
      `this connection is socket inode ${conn.inode}`,
  );

  if (side.options.passFd) {
    await passDescriptor(side, conn, n, input);
    return;
  }

  // A socket's send buffer holds 208 KiB by default; every time it is full, the server must
  // wait until the client has read. A bigger buffer means fewer of those hand-offs, up to a
  // point: bytes in flight beyond what the CPU caches hold cost more (see SEND_BUFFER).
  const before = conn.sendBuffer;
  const after = conn.resizeSendBuffer(SEND_BUFFER);
  if (n === 1) {
    log.say(
      `send buffer: ${formatBytes(before)}, raised to ${
        formatBytes(after)
      } with setsockopt(SO_SNDBUF) (the kernel counts its own bookkeeping too: twice what was asked)`,
    );
  }

  // The copy loop: read a chunk from the file, write it into the connection. A write waits
  // while the send buffer is full: the client has not read what is there yet.
  const buf = new Uint8Array(side.chunk);
  let sent = 0;
  for (;;) {
    const got = input.read(buf);
    if (got === 0) break;
    await conn.write(buf.subarray(0, got));
    sent += got;
    side.count(got);
  }

  // Half-close: "that was all". The client reads end-of-file once it has read everything; our
  // read side stays open, and the client's close tells us it is done.
  conn.shutdown("write");
  log.say(
    `sent ${formatBytes(sent)} to client #${n}; shutdown(SHUT_WR): it will read end-of-file, ` +
      "and I wait for it to close",
  );
  await waitForClose(conn);
  log.say(`client #${n} has closed its end: it has everything`);
}

/**
 * `--pass-fd`: sends the input's open descriptor with `sendmsg(2)` and `SCM_RIGHTS`. The kernel
 * installs a new descriptor in the client for the same open file: the same inode, and even
 * the same offset, which moves in both processes as the client reads.
 */
async function passDescriptor(
  side: Side<UnixOptions>,
  conn: Connection,
  n: number,
  input: InputFile,
): Promise<void> {
  const { log } = side;
  const before = describeFd(input.fd);
  log.say(
    `my descriptor ${input.fd} of the input: ${before.identity} (fstat), offset ${before.offset}`,
  );
  await conn.sendFds([input.fd], new TextEncoder().encode("F"));
  log.say(
    `sendmsg() with SCM_RIGHTS: sent descriptor ${input.fd} to client #${n}, with one byte ` +
      `("F"); none of the file's ${formatBytes(input.size)} goes through the socket`,
  );
  conn.shutdown("write");
  await waitForClose(conn);
  const after = describeFd(input.fd);
  log.say(
    `client #${n} has closed its end; my descriptor's offset is now ${after.offset}: the ` +
      "client's reads moved it, because both descriptors are one open file",
  );
}

/**
 * Waits until the client closes its end: then it has read everything. The client has nothing
 * to say in this protocol: one that sends bytes instead is not our client, and reading them
 * could go on for ever (a client that never stops sending), so the connection ends there.
 */
async function waitForClose(conn: Connection): Promise<void> {
  const scrap = new Uint8Array(512);
  const n = await conn.read(scrap);
  if (n > 0) {
    throw new LessonError(
      `it sent ${n === scrap.length ? "at least " : ""}${n} bytes, but in this protocol a ` +
        "client sends nothing: not the lesson's client; closed its connection",
    );
  }
}

/** listen() at `path`; a bind that fails names the path and the reason, in one line. */
function listenAt(path: string, side: Side<UnixOptions>): Listener {
  try {
    return listen({ family: "unix", path }, side.waits);
  } catch (error) {
    if (error instanceof LibcError && error.call === "bind") throw bindFailure(path, error);
    throw error;
  }
}

/**
 * How many clients a server serves at the same time, at most (the most `--clients` allows):
 * with `--forever`, a flood of connections waits in the backlog instead of taking every
 * descriptor this process may open.
 */
const AT_ONCE = 64;

/** Whether `error` is EMFILE or ENFILE: no descriptor left for this process, or the system. */
function outOfDescriptors(error: unknown): boolean {
  if (error instanceof LibcError) return error.code === "EMFILE" || error.code === "ENFILE";
  return /too many open files/i.test(error instanceof Error ? error.message : "");
}

/**
 * A new open file of the input, for one more client; if none can be opened (EMFILE: too many
 * clients at once for this process's descriptors), that client's connection is closed: its
 * failure, not the server's.
 */
function openInputFor(side: Side<UnixOptions>, connection: Connection): InputFile {
  try {
    return side.openInput();
  } catch (error) {
    connection.close();
    throw error;
  }
}

/** What went wrong with one client, in words. */
function clientFailure(error: unknown): string {
  if (error instanceof LibcError && (error.code === "EPIPE" || error.code === "ECONNRESET")) {
    return `it went away before the end: ${error.call} failed with ${error.code} (${error.description})`;
  }
  // A timeout's own message says it already: "the peer took no data for 10 s: …".
  return error instanceof Error ? error.message : String(error);
}
