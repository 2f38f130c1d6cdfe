/**
 * TCP: stream sockets between two hosts of a network, named by an IP address and a port. The
 * sockets themselves are `socket.ts`'s (`listen`, `connect`, `Connection`); this file adds what
 * TCP needs beyond them:
 *
 * - a **port file** ({@linkcode PortFile}, {@linkcode readPort}): a server that asks for port 0
 *   gets whichever free port the kernel picks, and must tell its clients which. It writes the
 *   number into a file; a client waits for the file and reads it. (Test harnesses and daemons do
 *   the same with `--port-file` or a pid file.)
 * - the **two network hosts** of the lesson's demo (`netns.ts`), and their leftover finder, which
 *   `deno task clean` finds here, in the TCP lesson's transport;
 * - the TCP connection as a **channel** for the benchmark (`refbench` "tcp"), over loopback, and
 *   between two network hosts joined by a veth pair (the row "tcp veth"), where allowed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect, listen } from "./socket.ts";
 * import { PortFile, readPort } from "./tcp.ts";
 *
 * const path = `${Deno.makeTempDirSync()}/server.port`;
 * using listener = listen({ family: "inet", host: "127.0.0.1", port: 0 }); // any free port
 * using portFile = PortFile.announce(path, listener.address);
 * assert.equal(Deno.readTextFileSync(path), `${portFile.port}\n`);
 * const port = await readPort(path, { timeout: 5000 }); // what a client does
 * using client = await connect({ family: "inet", host: "127.0.0.1", port }, { timeout: 5000 });
 * using server = await listener.accept();
 * assert.deepEqual(server.peerAddress, client.localAddress);
 * portFile.remove(); // the server made the file: it removes it
 * assert.throws(() => Deno.statSync(path), Deno.errors.NotFound);
 * ```
 *
 * @module
 */

import { ChannelError } from "./errors.ts";
import type {
  ChannelPlace,
  NamedChannel,
  NamedEndOptions,
  PlaceMade,
  Sink,
  Source,
} from "./channel.ts";
import { identityOf } from "./holders.ts";
import * as libc from "./libc.ts";
import { lstatOrNull } from "./leftovers.ts";
import { NoNamespaces, TwoHosts } from "./netns.ts";
import { connect, type Connection, listen, type SocketAddress } from "./socket.ts";
import { seconds, sleep } from "./wait.ts";

export { namespaceLeftovers, NoNamespaces, TwoHosts } from "./netns.ts";
export type { NetworkHost } from "./netns.ts";

/** How often a client looks at a port file that has no port in it yet, in ms. */
const PORT_FILE_LOOK_MS = 20;

/**
 * A port file a server wrote: `PORT` and a newline, in one write(2). A reader takes the number
 * only once the newline is there, so it never reads half of one.
 *
 * The path may name a new file (created mode 0600, exclusively: removed by {@linkcode remove}),
 * or an empty file that exists already (the demo's unnamed file, `/proc/RUNNER/fd/N`: written
 * into, never removed). A file that already holds something is refused: another server's port,
 * or a killed one's.
 */
export class PortFile implements Disposable {
  /** The path as given. */
  readonly path: string;
  /** The port written into it. */
  readonly port: number;
  /** The file this server made, by device and inode: removed only if still the one. */
  #made: string | null;

  private constructor(path: string, port: number, made: string | null) {
    this.path = path;
    this.port = port;
    this.#made = made;
  }

  /** Writes the port of `address` (a listener's) into `path`: see {@linkcode PortFile}. */
  static announce(path: string, address: SocketAddress): PortFile {
    if (address.family === "unix") throw new TypeError("a Unix-domain socket has no port");
    const fail = (why: string) => new ChannelError(`cannot write the port file ${path}: ${why}`);
    let fd: number;
    let made: string | null = null;
    try {
      fd = libc.open(path, libc.O.WRONLY | libc.O.CREAT | libc.O.EXCL | libc.O.CLOEXEC, 0o600);
      made = identityOf(Deno.statSync(`/proc/self/fd/${fd}`));
    } catch (error) {
      if (!(error instanceof libc.LibcError) || error.code !== "EEXIST") {
        throw fail(error instanceof libc.LibcError ? error.description : String(error));
      }
      // It exists: only an empty regular file of ours may be written into, opened without
      // following a symbolic link (another user could point one at any file of ours) and
      // without waiting (a FIFO would). The one link followed is the demo's: /proc/RUNNER/fd/N,
      // which the kernel makes, to a file with no name at all (O_TMPFILE).
      const unnamed = /^\/proc\/(self|\d+)\/fd\/\d+$/.test(path);
      const flags = libc.O.WRONLY | libc.O.CLOEXEC | libc.O.NONBLOCK;
      try {
        fd = libc.open(path, flags | (unnamed ? 0 : libc.O.NOFOLLOW));
      } catch (error) {
        if (!(error instanceof libc.LibcError)) throw fail(String(error));
        throw fail(
          error.code === "ELOOP"
            ? "it is a symbolic link: refused (it could point at any file)"
            : error.code === "ENXIO"
            ? "it exists and is not a regular file"
            : error.description,
        );
      }
      // What was opened, not what the path names now (fstat, through /proc/self/fd).
      const info = Deno.statSync(`/proc/self/fd/${fd}`);
      const why = !info.isFile
        ? "it exists and is not a regular file"
        : info.size > 0
        ? `it exists and holds ${
          JSON.stringify(Deno.readTextFileSync(`/proc/self/fd/${fd}`).trim().slice(0, 20))
        } already (another server's port, or a killed one's): remove it, or choose another path`
        : info.uid !== Deno.uid()
        ? "it belongs to another user: refused"
        : unnamed && info.nlink !== 0
        ? "it is not an unnamed file (O_TMPFILE), the only kind taken through /proc"
        : "";
      if (why !== "") {
        libc.close(fd);
        throw fail(why);
      }
    }
    try {
      const text = new TextEncoder().encode(`${address.port}\n`);
      const n = libc.write(fd, text);
      if (n !== text.length) throw fail("a short write");
    } catch (error) {
      if (made !== null) libc.unlink(path);
      throw error instanceof ChannelError ? error : fail((error as Error).message);
    } finally {
      libc.close(fd);
    }
    return new PortFile(path, address.port, made);
  }

  /** Removes the file, if this server made it and it is still the one it made. */
  remove(): void {
    const made = this.#made;
    this.#made = null;
    if (made === null) return;
    const info = lstatOrNull(this.path);
    if (info !== null && identityOf(info) === made) libc.unlink(this.path);
  }

  /** Removes the file it made (for `using`). */
  [Symbol.dispose](): void {
    this.remove();
  }
}

/**
 * What the port file `path` holds so far ("" while there is none). It is opened without waiting
 * and must be a regular file (a FIFO put there would make a plain read wait for ever, deaf to
 * --timeout and Ctrl-C) of this user or root.
 */
function portFileText(path: string): string {
  const fail = (why: string) => new ChannelError(`cannot read the port file ${path}: ${why}`);
  let fd: number;
  try {
    fd = libc.open(path, libc.O.RDONLY | libc.O.CLOEXEC | libc.O.NONBLOCK);
  } catch (error) {
    if (error instanceof libc.LibcError && error.code === "ENOENT") return "";
    throw fail(error instanceof libc.LibcError ? error.description : String(error));
  }
  try {
    const info = Deno.statSync(`/proc/self/fd/${fd}`);
    if (!info.isFile) throw fail("it is not a regular file");
    // In a shared /tmp, another user may have written it first: the port it names would lead to
    // their server, and their bytes into the copy. Only a file of one's own (or root's) counts.
    if (info.uid !== Deno.uid() && info.uid !== 0) {
      throw fail(
        `it belongs to another user (uid ${info.uid}), not to you (uid ${Deno.uid()}): the port ` +
          "in it could be anyone's server; refusing it (remove it, or choose another --port-file)",
      );
    }
    const buf = new Uint8Array(64); // "65535\n" and then some: more is not a port anyway
    const n = libc.read(fd, buf);
    return typeof n === "number" ? new TextDecoder().decode(buf.subarray(0, n)) : "";
  } finally {
    libc.close(fd);
  }
}

/**
 * The port a server wrote into the port file `path`, waiting (up to `timeout` ms) until the file
 * is there and holds a whole line. Throws `Deno.errors.TimedOut` when no server writes it in
 * time, and a `ChannelError` when it holds something that is not a port.
 */
export async function readPort(
  path: string,
  options: { timeout: number; signal?: AbortSignal },
): Promise<number> {
  const deadline = performance.now() + options.timeout;
  for (;;) {
    options.signal?.throwIfAborted();
    const text = portFileText(path);
    const line = text.includes("\n") ? text.slice(0, text.indexOf("\n")) : null;
    if (line !== null) {
      const port = /^\d{1,5}$/.test(line) ? Number(line) : NaN;
      if (!(port >= 1 && port <= 65535)) {
        throw new ChannelError(
          `the port file ${path} holds ${JSON.stringify(line.slice(0, 20))}, not a port`,
        );
      }
      return port;
    }
    if (performance.now() >= deadline) {
      throw new Deno.errors.TimedOut(
        `no server wrote its port into ${path} within ${seconds(options.timeout)}`,
      );
    }
    await sleep(PORT_FILE_LOOK_MS, options.signal);
  }
}

// ---------------------------------------------------------------------------------------------
// TCP over loopback as a channel of pieces (see channel.ts): what the benchmark measures
// ---------------------------------------------------------------------------------------------

/** Loopback: where the benchmark's two processes meet unless told (`host`). */
const LOOPBACK = "127.0.0.1";

function connectionSink(connection: Connection): Sink {
  return {
    send: (data) => connection.write(data),
    end: async () => {
      connection.shutdown("write");
      // Wait until the receiver has read everything and closed: then all was taken.
      const rest = new Uint8Array(1);
      while (await connection.read(rest) > 0) { /* the receiver sends nothing */ }
    },
  };
}

function connectionSource(connection: Connection, piece: number): Source {
  const buf = new Uint8Array(piece);
  return {
    receive: async () => {
      const n = await connection.read(buf);
      if (n === 0) connection.close(); // end-of-file: let the sender's end() return
      return buf.subarray(0, n);
    },
  };
}

/**
 * A TCP connection over loopback as a named channel, opened as the TCP lesson opens it: the
 * receiver listens on 127.0.0.1 (or `host`), port 0, and writes the port the kernel picked into
 * the port file `word.port` in `dir`; the sender reads it there and connects. Its one other
 * place ({@linkcode NamedChannel.places}) is the lesson's demo's: two network hosts, the
 * receiver in one, the sender in the other (as root only). In a ping-pong (`pair`),
 * both ends set TCP_NODELAY, as request/response programs do (and as the C reference does for
 * its latency runs).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { channel } from "./tcp.ts";
 * using stack = new DisposableStack();
 * const dir = Deno.makeTempDirSync();
 * const options = { piece: 64, capacity: 0, timeout: 5000, stack, dir };
 * const [source, sink] = await Promise.all([
 *   channel.openSource("example", options),
 *   channel.openSink("example", options),
 * ]);
 * await sink.send(new Uint8Array([1, 2, 3]));
 * const ending = sink.end();
 * assert.deepEqual([...await source.receive()], [1, 2, 3]);
 * assert.equal((await source.receive()).length, 0);
 * await ending;
 * stack.dispose();
 * Deno.removeSync(dir);
 * ```
 */
export const channel: NamedChannel = {
  kind: "named",
  refbench: "tcp",
  async openSink(word: string, { dir, timeout, stack, pair, host }: NamedEndOptions) {
    const port = await readPort(`${dir}/${word}.port`, { timeout });
    const address: SocketAddress = { family: "inet", host: host ?? LOOPBACK, port };
    const connection = stack.use(await connect(address, { timeout, retry: true }));
    if (pair) connection.noDelay = true;
    return connectionSink(connection);
  },
  async openSource(word: string, { dir, piece, timeout, stack, pair, host }: NamedEndOptions) {
    const here: SocketAddress = { family: "inet", host: host ?? LOOPBACK, port: 0 };
    const listener = stack.use(listen(here, { timeout }));
    stack.use(PortFile.announce(`${dir}/${word}.port`, listener.address));
    const connection = stack.use(await listener.accept());
    listener.close(); // one connection is all this channel takes
    if (pair) connection.noDelay = true;
    return connectionSource(connection, piece);
  },
  async places(): Promise<ChannelPlace[]> {
    // Two network hosts, made (and removed) for each measurement: may this process make them?
    try {
      (await TwoHosts.create()).remove();
    } catch (error) {
      if (error instanceof NoNamespaces) return []; // not root: loopback only
      throw error;
    }
    return [{
      name: "veth",
      async enter(): Promise<PlaceMade> {
        const hosts = await TwoHosts.create();
        return {
          host: hosts.a.address,
          launch: (role, argv) => hosts.exec(role === "recv" ? hosts.a : hosts.b, argv),
          [Symbol.dispose]: () => hosts.remove(),
        };
      },
    }];
  },
};
