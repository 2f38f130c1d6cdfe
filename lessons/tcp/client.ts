/**
 * The TCP lesson's client.
 *
 * It connects to the server's address and port (trying again while nobody listens yet, up to
 * `--timeout`), and copies what it reads into the output file until end-of-file: the server has
 * shut down its write side.
 *
 * @module
 */

import { LibcError } from "../../transports/libc.ts";
import { connect, formatAddress } from "../../transports/socket.ts";
import { isThisHost, listenersFor, readPort } from "../../transports/tcp.ts";
import { formatBytes } from "../../transports/units.ts";
import { UsageError } from "../_cli.ts";
import { LessonError, type Side } from "../_lesson.ts";
import { addressOf, type InetAddress, type TcpOptions } from "./common.ts";

/** Copies what the server at `--host`:`--port` sends into the output file. */
export async function client(side: Side<TcpOptions>): Promise<void> {
  const { log, options } = side;

  // 1. Create the output first (an unnamed file, named at the end): a bad output path should
  //    fail before anyone waits for us. But without a port there is nothing to connect to.
  if (options.port === 0 && options.portFile === "") {
    throw new UsageError(
      "the client needs the server's port: --port N (the server says which), or --port-file PATH",
    );
  }
  using output = side.createOutput();
  log.say(`I am the client: I write ${JSON.stringify(output.path)}`);

  // 2. Which port? The one given, or the one the server wrote into the port file.
  let port = options.port;
  if (port === 0) {
    port = await readPort(options.portFile, side.waits);
    log.say(`the port file names port ${port}: a server writes it there once it listens`);
  }

  // 3. socket(2) and connect(2): our kernel sends SYN, the server's answers SYN-ACK, ours
  //    answers ACK, and the connection is there. While nothing listens, the server's kernel
  //    answers RST (ECONNREFUSED): we try again, until --timeout.
  const address = await addressOf(options.host, port, side.waits);
  const server = formatAddress(address);
  const named = options.host === address.host ? "" : ` (${options.host})`;
  // A port from a port file may be a dead server's, taken since by anyone: on this host, the
  // kernel's table of listening sockets says whose it is.
  if (options.port === 0) checkListener(side, address);
  log.say(`connecting to ${server}${named}`);
  using connection = await connect(address, {
    ...side.waits,
    retry: true,
    onRefused: () =>
      log.say(
        `nothing listens on ${server} yet (connect: ECONNREFUSED): trying again until the ` +
          `server does, for up to ${side.timeoutMs / 1000} s`,
      ),
  });
  log.say(
    `connected from ${formatAddress(connection.localAddress)} (a port my kernel picked) to ` +
      `${server}: ss -tnp shows the connection, one line on each host`,
  );

  // 4. One byte of hello, which the server reads only at the end. Should the server die before
  //    that, its kernel finds the byte unread and resets the connection (RST) instead of closing
  //    it (FIN): so we can tell a crashed server from the end of the file.
  await connection.write(new Uint8Array([0x0a]));

  // 5. The copy loop: read what has arrived, append it to the output. read() waits while
  //    nothing has arrived, and returns 0 at end-of-file: the server's FIN.
  const buf = new Uint8Array(side.chunk);
  side.startClock();
  for (;;) {
    let n: number;
    try {
      n = await connection.read(buf);
    } catch (error) {
      if (error instanceof LibcError && error.code === "ECONNRESET") {
        throw new LessonError(
          `the server exited after sending ${formatBytes(side.bytes)}, before the end: it reset ` +
            "the connection (read failed with ECONNRESET: its socket was closed with my hello " +
            "unread); transfer incomplete",
        );
      }
      throw error;
    }
    if (n === 0) break;
    output.write(buf.subarray(0, n));
    side.count(n);
  }
  side.stopClock();
  log.say(
    side.bytes === 0
      ? "end-of-file at once: the server shut down its side without sending (an empty input)"
      : `end-of-file after ${formatBytes(side.bytes)}: the server has shut down its write side`,
  );

  // 6. Close our end (our FIN), and move the copy into place.
  connection.close();
  log.say(await output.commit());
}

/**
 * Before trusting the port a port file gave: is it a socket of this user (or root) that listens
 * there? A port file outlives a server killed with SIGKILL, and its port, free again, may be
 * taken by anyone's program: connecting to it would copy their bytes. TCP does not say who the
 * peer is (no SO_PEERCRED, as for a Unix-domain socket), but on this host the kernel lists every
 * listening socket, with its user, in /proc/net/tcp and /proc/net/tcp6 (as `ss -tlne` shows).
 * For an address of another host (the demo's other network namespace) nothing here can tell.
 */
function checkListener(side: Side<TcpOptions>, address: InetAddress): void {
  const { log, options } = side;
  if (!isThisHost(address)) {
    log.say(
      `${address.host} is another host's address: this host cannot see who listens there (TCP ` +
        "does not say who the peer is); I trust the port file",
    );
    return;
  }
  const me = Deno.uid();
  const listeners = listenersFor(address);
  const ours = listeners.filter((socket) => socket.uid === me || socket.uid === 0);
  const theirs = listeners.filter((socket) => socket.uid !== me && socket.uid !== 0);
  const why = `the port file ${options.portFile} may have been left behind by a server that is ` +
    "gone, and another user's program may listen there";
  if (ours.length === 0) {
    throw new LessonError(`nothing of yours listens on port ${address.port} (${why})`);
  }
  if (theirs.length > 0) {
    throw new LessonError(
      `user ${theirs[0]!.uid}, not you, listens on ${
        formatAddress(theirs[0]!.address)
      } too: refusing port ${address.port} (${why})`,
    );
  }
  const [socket] = ours;
  const whose = socket!.uid === me ? "mine" : "root's";
  const table = socket!.address.family === "inet6" ? "/proc/net/tcp6" : "/proc/net/tcp";
  log.say(
    `${formatAddress(socket!.address)} is a listening socket of ${whose} (uid ${socket!.uid}, ` +
      `inode ${socket!.inode}, in ${table}; ss -tlne shows it): the port file's port is a live ` +
      "server's",
  );
}
