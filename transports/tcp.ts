/**
 * TCP: stream sockets between two hosts of a network, named by an IP address and a port. The
 * sockets themselves are `socket.ts`'s (`listen`, `connect`, `Connection`); this file adds what
 * TCP needs beyond them:
 *
 * - a **port file** ({@linkcode PortFile}, {@linkcode readPort}): a server that asks for port 0
 *   gets whichever free port the kernel picks, and must tell its clients which. It writes the
 *   number into a file; a client waits for the file and reads it. (Test harnesses and daemons do
 *   the same with `--port-file` or a pid file.) The file is created exclusively, and a file that
 *   exists is refused; but a server killed with SIGKILL leaves its file behind, and the port in it
 *   may be anyone's since. So on this host a client first asks the kernel who listens on that
 *   port ({@linkcode listenersFor}, from /proc/net/tcp; {@linkcode isThisHost});
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
import {
  connect,
  type Connection,
  decodeAddress,
  encodeAddress,
  listen,
  type SocketAddress,
} from "./socket.ts";
import { seconds, sleep } from "./wait.ts";

export { namespaceLeftovers, NoNamespaces, TwoHosts } from "./netns.ts";
export type { NetworkHost } from "./netns.ts";

/** How often a client looks at a port file that has no port in it yet, in ms. */
const PORT_FILE_LOOK_MS = 20;

/**
 * A port file a server wrote: `PORT` and a newline, in one write(2). A reader takes the number
 * only once the newline is there, so it never reads half of one.
 *
 * The path must name no file yet: the file is created exclusively (`O_CREAT|O_EXCL`, which
 * follows no symbolic link), mode 0600, and removed by {@linkcode remove}. A file that exists
 * is refused, even an empty one: it is someone's (a server killed with SIGKILL leaves its port
 * file behind, with a dead port in it), and through a hard link, writing into it would change
 * another of the user's files. The one exception is the demo's port file, a file with no name
 * at all (`O_TMPFILE`), reached through `/proc/RUNNER/fd/N`: empty, the user's, and unnamed; it
 * is written into, and disappears with the runner.
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
    const unnamed = /^\/proc\/(self|\d+)\/fd\/\d+$/.test(path);
    let fd: number;
    let made: string | null = null;
    if (unnamed) {
      fd = openUnnamed(path, fail);
    } else {
      const flags = libc.O.WRONLY | libc.O.CREAT | libc.O.EXCL | libc.O.NOFOLLOW | libc.O.CLOEXEC;
      try {
        fd = libc.open(path, flags, 0o600);
      } catch (error) {
        if (!(error instanceof libc.LibcError)) throw fail(String(error));
        if (error.code !== "EEXIST") throw fail(error.description);
        // It exists (O_EXCL): whatever it is, it is not ours to write into. Say what it is.
        const info = lstatOrNull(path);
        const what = info?.isSymlink
          ? "it is a symbolic link: refused (it could point at any file)"
          : info !== null && !info.isFile
          ? "it exists and is not a regular file: refused"
          : "it exists";
        throw fail(
          `${what}; remove it, or choose another --port-file (a server killed with SIGKILL ` +
            "leaves its port file behind)",
        );
      }
      made = identityOf(Deno.statSync(`/proc/self/fd/${fd}`));
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
 * Opens the demo's port file, `/proc/RUNNER/fd/N`, to write: the kernel's link to a file with
 * no name (O_TMPFILE), the one link followed. It must be a regular file of this user, empty, and
 * have no name (no link count): then writing into it touches no other file. Opened without
 * waiting (a FIFO would wait).
 */
function openUnnamed(path: string, fail: (why: string) => ChannelError): number {
  let fd: number;
  try {
    fd = libc.open(path, libc.O.WRONLY | libc.O.CLOEXEC | libc.O.NONBLOCK);
  } catch (error) {
    if (!(error instanceof libc.LibcError)) throw fail(String(error));
    throw fail(error.code === "ENXIO" ? "it is not a regular file" : error.description);
  }
  // What was opened, not what the path names now (fstat, through /proc/self/fd).
  const info = Deno.statSync(`/proc/self/fd/${fd}`);
  const why = !info.isFile
    ? "it is not a regular file"
    : info.uid !== Deno.uid()
    ? "it belongs to another user: refused"
    : info.nlink !== 0
    ? "it is not an unnamed file (O_TMPFILE), the only kind taken through /proc"
    : info.size > 0
    ? "it is not empty: refused"
    : "";
  if (why !== "") {
    libc.close(fd);
    throw fail(why);
  }
  return fd;
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
// Who listens on a port of this host: what a client checks before it trusts a port file
// ---------------------------------------------------------------------------------------------

/** An IP address (IPv4, or IPv6 such as `::1`) and a port (not a Unix-domain socket's path). */
export type InetAddress = Extract<SocketAddress, { family: "inet" | "inet6" }>;

/** A listening TCP socket of this network namespace, and the user who made it. */
export interface ListeningSocket {
  /** The address and port it is bound to: 0.0.0.0 or :: for every address of the host. */
  readonly address: InetAddress;
  /** The user who made the socket (its effective uid). */
  readonly uid: number;
  /** The socket's inode, as `ss -tlne` and `/proc/PID/fd` (`socket:[INODE]`) show it. */
  readonly inode: number;
}

/** The bytes of a machine word in memory: /proc/net/tcp prints addresses word by word. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The state TCP_LISTEN, as /proc/net/tcp writes it (`st`). */
const TCP_LISTEN = "0A";

/**
 * The bytes of an address as /proc/net/tcp{,6} write it: 8 (IPv4) or 32 (IPv6) hex digits, each
 * 32-bit word as the machine holds it (in its byte order, not the network's).
 */
function procAddressBytes(hex: string): Uint8Array | null {
  if (!/^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32})$/.test(hex)) return null;
  const bytes = new Uint8Array(hex.length / 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < hex.length; i += 8) {
    view.setUint32(i / 2, parseInt(hex.slice(i, i + 8), 16), LITTLE_ENDIAN);
  }
  return bytes;
}

/** The IP address of `address`, as bytes in network order: 4 (IPv4) or 16 (IPv6). */
function addressBytes(address: InetAddress): Uint8Array {
  const addr = encodeAddress({ ...address, port: 0 });
  return address.family === "inet" ? addr.subarray(4, 8) : addr.subarray(8, 24);
}

/** The address that the bytes `bytes` (4: IPv4, 16: IPv6) and `port` are. */
function inetAddress(bytes: Uint8Array, port: number): InetAddress {
  const family = bytes.length === 4 ? "inet" : "inet6";
  const addr = encodeAddress({ family, host: family === "inet" ? "0.0.0.0" : "::", port });
  addr.set(bytes, family === "inet" ? 4 : 8);
  return decodeAddress(addr) as InetAddress;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** The IPv4 address an IPv6 address ::ffff:a.b.c.d maps, or null. */
function mappedIPv4(bytes: Uint8Array): Uint8Array | null {
  const prefix = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
  return bytes.length === 16 && prefix.every((byte, i) => bytes[i] === byte)
    ? bytes.subarray(12)
    : null;
}

/**
 * Whether `address` is one of this host's, in this process's network namespace (loopback too):
 * a connection to it reaches a socket of this namespace, one `/proc/net/tcp` lists. The kernel
 * decides: bind(2) to it succeeds, or fails with EADDRNOTAVAIL (no interface has it). 0.0.0.0
 * and :: count as this host's: a connection to them goes to loopback.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isThisHost } from "./tcp.ts";
 * assert.equal(isThisHost({ family: "inet", host: "127.0.0.1", port: 80 }), true);
 * assert.equal(isThisHost({ family: "inet", host: "192.0.2.1", port: 80 }), false); // TEST-NET-1
 * ```
 */
export function isThisHost(address: InetAddress): boolean {
  let fd: number;
  try {
    fd = libc.socket(
      address.family === "inet" ? libc.SOCK.AF_INET : libc.SOCK.AF_INET6,
      libc.SOCK.STREAM | libc.SOCK.CLOEXEC,
    );
  } catch {
    return true; // (no IPv6 here: whoever asks finds nobody listening, the cautious answer)
  }
  try {
    libc.bind(fd, encodeAddress({ ...address, port: 0 })); // bound, never listening: no server
    return true;
  } catch (error) {
    if (error instanceof libc.LibcError && error.code === "EADDRNOTAVAIL") return false;
    return true; // another failure says nothing: the cautious answer, then
  } finally {
    libc.close(fd);
  }
}

/**
 * The listening TCP sockets of this network namespace that a connection to `address` could
 * reach: bound to its port, and to its IP address or to every address (0.0.0.0; ::, which takes
 * IPv4 too unless IPV6_V6ONLY), with the user who made each. They come from /proc/net/tcp and
 * /proc/net/tcp6 (where `ss -tlne` reads them too), which list the sockets of the reader's own
 * network namespace only: for an address of another host (see {@linkcode isThisHost}) this says
 * nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listen } from "./socket.ts";
 * import { listenersFor } from "./tcp.ts";
 * using listener = listen({ family: "inet", host: "127.0.0.1", port: 0 });
 * const [found] = listenersFor(listener.address as { family: "inet"; host: string; port: number });
 * assert.equal(found?.uid, Deno.uid());
 * assert.deepEqual(found?.address, listener.address);
 * ```
 */
export function listenersFor(address: InetAddress): ListeningSocket[] {
  const wanted = addressBytes(address);
  const wanted4 = address.family === "inet" ? wanted : mappedIPv4(wanted);
  const found: ListeningSocket[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = Deno.readTextFileSync(file);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue; // no IPv6 in this kernel
      throw error;
    }
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [local = "", state, uid, inode] = [fields[1], fields[3], fields[7], fields[9]];
      if (state !== TCP_LISTEN || uid === undefined || inode === undefined) continue;
      const [hex = "", portHex = ""] = local.split(":");
      const bytes = procAddressBytes(hex);
      const port = parseInt(portHex, 16);
      if (bytes === null || port !== address.port) continue;
      const any = bytes.every((byte) => byte === 0);
      const reaches = bytes.length === 4
        ? wanted4 !== null && (any || sameBytes(bytes, wanted4))
        : any || sameBytes(bytes, wanted) ||
          (wanted4 !== null && sameBytes(mappedIPv4(bytes) ?? new Uint8Array(), wanted4));
      if (!reaches) continue;
      found.push({ address: inetAddress(bytes, port), uid: Number(uid), inode: Number(inode) });
    }
  }
  return found;
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
