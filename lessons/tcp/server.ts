/**
 * The TCP lesson's server.
 *
 * It listens on an address and a port, accepts clients, and gives each a copy of the input file
 * on a connection of its own, at the same time: each connection waits in poll(2) on its own, so
 * a slow client never holds up a fast one. When a copy is sent, it shuts down its write side to
 * say "that was all", then reads until the client closes too (the client's one byte of hello,
 * see client.ts, then end-of-file). A client that goes away is that client's failure, not the
 * server's: it says so and serves the others.
 *
 * @module
 */

import { Interrupted } from "../../transports/errors.ts";
import type { InputFile } from "../../transports/files.ts";
import { LibcError } from "../../transports/libc.ts";
import { type Connection, formatAddress, listen } from "../../transports/socket.ts";
import { PortFile } from "../../transports/tcp.ts";
import { formatBytes } from "../../transports/units.ts";
import { seconds } from "../../transports/wait.ts";
import { LessonError, type Side } from "../_lesson.ts";
import { addressOf, portOf, type TcpOptions } from "./common.ts";

/**
 * How many clients the server serves at a time. Each takes two descriptors (its connection, its
 * own open input) and a chunk of memory; with `--forever`, a flood of connections must not run
 * the process out of either. The next client waits in the listen queue (the kernel's backlog).
 */
export const AT_ONCE = 64;

/** How many bytes a client may send in all: this lesson's client sends one, its hello. */
export const CLIENT_BYTES_MAX = 4096;

/** Sends the input file to each client that connects to `--host`:`--port`. */
export async function server(side: Side<TcpOptions>): Promise<void> {
  const { log, options } = side;
  const wanted = options.clients;

  // 1. Open the input first: if it is missing, no client should be kept waiting for us.
  using input = side.openInput();
  const whom = wanted === Infinity
    ? "every client that connects, until Ctrl-C"
    : wanted === 1
    ? "the client that connects"
    : `${wanted} clients, each its own copy, at the same time`;
  log.say(
    `I am the server: I send ${JSON.stringify(input.path)} (${formatBytes(input.size)}) to ${whom}`,
  );

  // 2. socket(2), setsockopt(SO_REUSEADDR), bind(2), listen(2): from now on the kernel itself
  //    completes connections to this address and port (the three-way handshake), and queues
  //    them until we accept them. Port 0 asks the kernel for any free port.
  const wantedAddress = await addressOf(options.host, options.port, side.waits);
  using listener = listenOn(wantedAddress, side);
  const here = formatAddress(listener.address);
  const port = portOf(listener.address);
  log.say(
    options.port === 0
      ? `listening on ${here}: I asked for port 0, and the kernel picked ${port}`
      : `listening on ${here}`,
  );

  // 3. Tell the clients the port: the port file, when asked to; by hand, a line to copy.
  using portFile = options.portFile === "" ? null : PortFile.announce(
    options.portFile,
    listener.address,
  );
  if (portFile !== null && side.byHand) log.say(`wrote the port into ${portFile.path}`);
  if (side.byHand) {
    const host = options.host === "127.0.0.1" ? "" : ` --host ${options.host}`;
    log.say(
      `in another terminal, run: deno task lesson:tcp client${host} --port ${port} ` +
        "--output copy.txt (ss -tlnp shows me listening)",
    );
  }

  // 4. accept4(2) each client, and serve each on its own connection, at the same time. The
  //    first must come within --timeout; with --clients N, so must each of the others.
  log.say(wanted === 1 ? "waiting for a client to connect" : "waiting for clients to connect");
  const serving = new Set<Promise<void>>();
  const lost: string[] = [];
  let accepted = 0;
  try {
    while (accepted < wanted) {
      if (serving.size >= AT_ONCE) {
        if (accepted === AT_ONCE) {
          log.say(
            `serving ${AT_ONCE} clients at once, the most I do: the next ones wait in the ` +
              "listen queue until one is done",
          );
        }
        await Promise.race(serving);
        continue;
      }
      let connection: Connection;
      try {
        connection = await listener.accept({
          timeout: options.forever ? Infinity : side.timeoutMs,
        });
      } catch (error) {
        if (!(error instanceof Deno.errors.TimedOut) || accepted === 0) throw error;
        throw new LessonError(
          `only ${accepted} of ${wanted} clients connected within ${seconds(side.timeoutMs)}`,
        );
      }
      const n = ++accepted;
      if (n === 1) side.startClock();
      // Each client gets its own open file (its own offset): one read position cannot serve two.
      let copying: Promise<void>;
      try {
        copying = serve(side, connection, n === 1 ? input : side.openInput(), n, wanted);
      } catch (error) {
        copying = Promise.reject(error); // no input for it (too many open files): its failure
      }
      const job = copying
        .catch((error) => {
          connection.close(); // (serve's `using` closed it, unless openInput failed)
          // This client's failure is not the server's: say so, and go on with the others.
          if (error instanceof Interrupted || side.signal.aborted) throw error;
          lost.push(`client #${n}`);
          log.say(
            `client #${n}: ${clientFailure(error, side)}${
              wanted > 1 ? "; serving the others" : ""
            }`,
          );
        })
        .finally(() => serving.delete(job));
      job.catch(() => {}); // (its failure is awaited below; only Ctrl-C makes one)
      serving.add(job);
      if (accepted === wanted) {
        listener.close();
        log.say(
          `closed the listening socket: ${here} takes no more connections; the connections live on`,
        );
      }
    }
  } finally {
    // Whatever ended the loop, the copies under way finish (or fail) before we go.
    await Promise.allSettled(serving);
  }
  side.signal.throwIfAborted(); // Ctrl-C while copies were under way

  // 5. Every client has been served. One that went away did not get its copy: the others
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

/** Gives client number `n` of `wanted` its copy of the input on `connection`. */
async function serve(
  side: Side<TcpOptions>,
  connection: Connection,
  input: InputFile,
  n: number,
  wanted: number,
): Promise<void> {
  const { log } = side;
  const which = wanted === 1 ? "" : ` #${n}`;
  using _input = input;
  using conn = connection;
  const peer = formatAddress(conn.peerAddress);
  log.say(
    `accepted a connection from the client${which} at ${peer}: the kernels did the three-way ` +
      "handshake (SYN, SYN-ACK, ACK); accept only took it from the queue",
  );

  // The copy loop: read a chunk from the file, write it into the connection. A write waits
  // while the socket's send buffer is full, until the client's kernel has acknowledged data.
  const buf = new Uint8Array(side.chunk);
  let sent = 0;
  for (;;) {
    const n = input.read(buf);
    if (n === 0) break;
    await conn.write(buf.subarray(0, n));
    sent += n;
    side.count(n);
  }

  // shutdown(SHUT_WR): "that was all". Our kernel sends FIN after the last byte; the client
  // reads end-of-file. We can still read: the client closes its end once it has the copy.
  conn.shutdown("write");
  log.say(
    `sent ${
      formatBytes(sent)
    } to the client${which}; shut down my write side (FIN): it will read ` +
      "end-of-file after the last byte",
  );
  await untilClosed(conn);
  log.say(
    `the client${which} has closed its end too: the connection is over. I sent the first FIN, so ` +
      "my end waits in TIME_WAIT for a minute (ss -tan state time-wait)",
  );
}

/** listen(2) at `address`, or one line that says why not. */
function listenOn(address: Parameters<typeof listen>[0], side: Side<TcpOptions>) {
  const where = formatAddress(address);
  try {
    return listen(address, side.waits);
  } catch (error) {
    if (!(error instanceof LibcError)) throw error;
    const why: Record<string, string> = {
      EADDRINUSE: "another socket is bound to that port already (ss -tlnp shows who); choose " +
        "another --port, or 0 for any free one",
      EADDRNOTAVAIL: "no network interface of this host has that address (ip address shows " +
        "the ones it has)",
      EACCES: "ports below 1024 are reserved for root (CAP_NET_BIND_SERVICE)",
    };
    throw new LessonError(
      `cannot listen on ${where}: ${error.call} failed with ${error.code}` +
        (why[error.code] ? `: ${why[error.code]}` : ` (${error.description})`),
    );
  }
}

/**
 * After our FIN: reads what the client still sends (its byte of hello) until it closes its end,
 * so that our close comes last and finds nothing unread. (A socket closed with unread data
 * resets the connection, RST, and the client could lose the end of its copy.) A peer that sends
 * more than {@linkcode CLIENT_BYTES_MAX} is no client of this lesson: we stop listening to it.
 */
async function untilClosed(conn: Connection): Promise<void> {
  const scratch = new Uint8Array(256);
  let received = 0;
  for (let n; (n = await conn.read(scratch)) > 0;) {
    received += n;
    if (received > CLIENT_BYTES_MAX) {
      throw new LessonError(
        `it sent more than ${CLIENT_BYTES_MAX} bytes (this lesson's client sends one): not a ` +
          "client of this lesson; closing the connection",
      );
    }
  }
}

/** What went wrong with one client, in words. */
function clientFailure(error: unknown, side: Side<TcpOptions>): string {
  if (error instanceof LibcError && (error.code === "EPIPE" || error.code === "ECONNRESET")) {
    return `it went away before the end, after ${formatBytes(side.bytes)} in all had been sent: ` +
      `${error.call} failed with ${error.code} (${
        error.code === "EPIPE" ? "it had closed its end" : "its kernel reset the connection"
      })`;
  }
  if (error instanceof Deno.errors.TimedOut) return error.message;
  return error instanceof Error ? error.message : String(error);
}
