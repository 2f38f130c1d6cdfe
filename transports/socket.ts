/**
 * Stream sockets: a connection between two processes, on one machine (a Unix-domain socket,
 * `AF_UNIX`, named by a path) or on two machines of a network (TCP over IPv4 or IPv6,
 * `AF_INET`/`AF_INET6`, named by an address and a port). Unlike a pipe, a socket connection is
 * two-way, and one server can serve many clients, each on a connection of its own.
 *
 * The server's calls, in the order a C server makes them:
 *
 *     fd = socket(AF_UNIX, SOCK_STREAM, 0);      // {@linkcode listen} makes these four
 *     bind(fd, &addr, sizeof addr);              //   a name: a socket file, or address:port
 *     listen(fd, backlog);                       //   the kernel now completes connections
 *     conn = accept4(fd, NULL, NULL, flags);     // {@linkcode Listener.accept}: the next one
 *     read(conn, …) / write(conn, …);            // {@linkcode Connection.read}, `write`
 *     close(conn);
 *
 * and the client's:
 *
 *     fd = socket(AF_UNIX, SOCK_STREAM, 0);      // {@linkcode connect} makes these two
 *     connect(fd, &addr, sizeof addr);
 *     write(fd, …) / read(fd, …);
 *     shutdown(fd, SHUT_WR);                     // {@linkcode Connection.shutdown}: "that was all"
 *     close(fd);
 *
 * Every socket here is non-blocking (`SOCK_NONBLOCK`), so no call ever freezes the event loop:
 * a call that would block returns EAGAIN (EINPROGRESS for a TCP connect), and the wait happens
 * in `poll(2)` with a timeout, parked on a worker thread in short slices (see `wait.ts`), so
 * that an `AbortSignal` (Ctrl-C) ends it at once.
 *
 * A stream socket carries bytes, not messages: one `write` of 64 KiB may arrive as several
 * `read`s, and two writes may arrive as one. End-of-file (a `read` of 0) comes when the peer
 * closes its socket or shuts down its write side.
 *
 * @module
 */

import { basename, dirname, join, resolve } from "node:path";
import * as libc from "./libc.ts";
import type { NamedChannel, NamedEndOptions, Sink, Source } from "./channel.ts";
import { type Identity, identityOf } from "./holders.ts";
import {
  Leftover,
  LeftoverFinder,
  type LeftoverKind,
  lstatOrNull,
  mine,
  namesIn,
} from "./leftovers.ts";
import {
  ready,
  seconds,
  sent,
  sleep,
  SPIN_US,
  untilReady,
  type UntilReadyOptions,
  type Waits,
} from "./wait.ts";

export { type PeerCredentials, SOCK } from "./libc.ts";

const { SOCK } = libc;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

// ---------------------------------------------------------------------------------------------
// Addresses: struct sockaddr_un, struct sockaddr_in, struct sockaddr_in6
// ---------------------------------------------------------------------------------------------

/**
 * Where a socket is: a path (Unix domain), or an IP address and a port (TCP).
 *
 * - `{ family: "unix", path: "/tmp/s.sock" }`: a socket file. A path that starts with a NUL
 *   byte names a socket in the *abstract* namespace (Linux only), which is no file at all.
 * - `{ family: "inet", host: "127.0.0.1", port: 8080 }`: IPv4; `host` is an address in dotted
 *   decimal (use {@linkcode resolveHost} for a name). Port 0 asks the kernel to pick a free one.
 * - `{ family: "inet6", host: "::1", port: 8080 }`: IPv6.
 */
export type SocketAddress =
  | { readonly family: "unix"; readonly path: string }
  | { readonly family: "inet"; readonly host: string; readonly port: number }
  | { readonly family: "inet6"; readonly host: string; readonly port: number };

/**
 * The size of `sun_path` in `struct sockaddr_un`: a path must fit with its terminating NUL, so
 * it may be at most 107 bytes long.
 */
export const SUN_PATH_SIZE = 108;

/**
 * The bytes of the `struct sockaddr_*` that `address` is, as bind(2) and connect(2) take them.
 * The layouts, from `<sys/un.h>` and `<netinet/in.h>` (`sa_family_t` is in the machine's byte
 * order; ports and IP addresses are in network byte order, big-endian: `htons`, `htonl`):
 *
 *     struct sockaddr_un {              // 110 bytes
 *       sa_family_t sun_family;         //  0  AF_UNIX (1)
 *       char        sun_path[108];      //  2  the path, NUL-terminated
 *     };
 *     struct sockaddr_in {              // 16 bytes
 *       sa_family_t    sin_family;      //  0  AF_INET (2)
 *       in_port_t      sin_port;        //  2  htons(port)
 *       struct in_addr sin_addr;        //  4  the address, 4 bytes, network order
 *       unsigned char  sin_zero[8];     //  8  zeros
 *     };
 *     struct sockaddr_in6 {             // 28 bytes
 *       sa_family_t     sin6_family;    //  0  AF_INET6 (10)
 *       in_port_t       sin6_port;      //  2  htons(port)
 *       uint32_t        sin6_flowinfo;  //  4  0
 *       struct in6_addr sin6_addr;      //  8  the address, 16 bytes
 *       uint32_t        sin6_scope_id;  // 24  0
 *     };
 *
 * Throws a `RangeError` that says what is wrong: a path too long for `sun_path`, a port out
 * of 0–65535, an address that is not one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeAddress, encodeAddress } from "./socket.ts";
 * const inet = encodeAddress({ family: "inet", host: "127.0.0.1", port: 8080 });
 * assert.deepEqual([...inet.subarray(0, 8)], [2, 0, 0x1f, 0x90, 127, 0, 0, 1]);
 * assert.equal(encodeAddress({ family: "unix", path: "/tmp/s" }).length, 110);
 * assert.deepEqual(decodeAddress(inet), { family: "inet", host: "127.0.0.1", port: 8080 });
 * assert.throws(() => encodeAddress({ family: "unix", path: "/" + "x".repeat(107) }), /108/);
 * ```
 */
export function encodeAddress(address: SocketAddress): Uint8Array<ArrayBuffer> {
  if (address.family === "unix") {
    const path = encoder.encode(address.path);
    checkSunPath(address.path, path.length);
    const addr = new Uint8Array(2 + SUN_PATH_SIZE);
    new DataView(addr.buffer).setUint16(0, SOCK.AF_UNIX, true);
    addr.set(path, 2);
    // An abstract name is exactly as long as given: its length, not a NUL, ends it.
    return address.path.startsWith("\0") ? addr.slice(0, 2 + path.length) : addr;
  }
  checkPort(address.port);
  if (address.family === "inet") {
    const addr = new Uint8Array(16);
    const view = new DataView(addr.buffer);
    view.setUint16(0, SOCK.AF_INET, true);
    view.setUint16(2, address.port, false); // htons
    addr.set(parseIPv4(address.host), 4);
    return addr;
  }
  const addr = new Uint8Array(28);
  const view = new DataView(addr.buffer);
  view.setUint16(0, SOCK.AF_INET6, true);
  view.setUint16(2, address.port, false);
  addr.set(parseIPv6(address.host), 8);
  return addr;
}

/**
 * The address the bytes of a `struct sockaddr_*` hold (from accept4, getsockname,
 * getpeername): see {@linkcode encodeAddress} for the layouts. An unnamed Unix socket (a
 * client's end, which was never bound) has the path `""`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeAddress } from "./socket.ts";
 * const bytes = new Uint8Array([2, 0, 0, 80, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
 * assert.deepEqual(decodeAddress(bytes), { family: "inet", host: "10.0.0.1", port: 80 });
 * assert.deepEqual(decodeAddress(new Uint8Array([1, 0])), { family: "unix", path: "" });
 * ```
 */
export function decodeAddress(addr: Uint8Array): SocketAddress {
  const view = new DataView(addr.buffer, addr.byteOffset, addr.length);
  const family = addr.length >= 2 ? view.getUint16(0, true) : 0;
  if (family === SOCK.AF_UNIX) {
    const path = addr.subarray(2);
    if (path[0] === 0) return { family: "unix", path: decoder.decode(path) };
    const end = path.indexOf(0);
    return { family: "unix", path: decoder.decode(end < 0 ? path : path.subarray(0, end)) };
  }
  if (family === SOCK.AF_INET && addr.length >= 8) {
    return { family: "inet", host: addr.subarray(4, 8).join("."), port: view.getUint16(2, false) };
  }
  if (family === SOCK.AF_INET6 && addr.length >= 24) {
    const groups: string[] = [];
    for (let i = 8; i < 24; i += 2) groups.push(view.getUint16(i, false).toString(16));
    return { family: "inet6", host: compressIPv6(groups), port: view.getUint16(2, false) };
  }
  throw new RangeError(`not a socket address this module knows (sa_family ${family})`);
}

/**
 * An address as people write it: `/tmp/s.sock`, `@name` (abstract), `127.0.0.1:8080`,
 * `[::1]:8080`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatAddress } from "./socket.ts";
 * assert.equal(formatAddress({ family: "inet6", host: "::1", port: 80 }), "[::1]:80");
 * ```
 */
export function formatAddress(address: SocketAddress): string {
  if (address.family === "unix") {
    if (address.path === "") return "(unnamed)";
    return address.path.startsWith("\0") ? `@${address.path.slice(1)}` : address.path;
  }
  return address.family === "inet"
    ? `${address.host}:${address.port}`
    : `[${address.host}]:${address.port}`;
}

function checkSunPath(path: string, bytes: number): void {
  if (path.length === 0) throw new RangeError("a Unix socket's path must not be empty");
  if (!path.startsWith("\0") && path.includes("\0")) {
    throw new RangeError("a Unix socket's path must not contain a NUL byte");
  }
  if (bytes > SUN_PATH_SIZE - 1) {
    throw new RangeError(
      `the socket path ${JSON.stringify(path)} is ${bytes} bytes long, but sun_path in ` +
        `struct sockaddr_un holds ${SUN_PATH_SIZE} bytes with the terminating NUL (at most ` +
        `${SUN_PATH_SIZE - 1}); choose a shorter path`,
    );
  }
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`port ${port} is out of range: a TCP port is 0–65535 (0: any free one)`);
  }
}

function parseIPv4(host: string): number[] {
  const parts = host.split(".");
  const bytes = parts.map((part) => /^\d{1,3}$/.test(part) ? Number(part) : NaN);
  if (bytes.length !== 4 || bytes.some((b) => !(b >= 0 && b <= 255))) {
    throw new RangeError(`${JSON.stringify(host)} is not an IPv4 address (like 127.0.0.1)`);
  }
  return bytes;
}

function parseIPv6(host: string): Uint8Array {
  const bad = () => new RangeError(`${JSON.stringify(host)} is not an IPv6 address (like ::1)`);
  const halves = host.split("::");
  if (halves.length > 2) throw bad();
  const groups = (text: string) => text === "" ? [] : text.split(":");
  const head = groups(halves[0]!), tail = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) throw bad();
  const all = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((group, i) => {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) throw bad();
    const value = parseInt(group, 16);
    bytes[2 * i] = value >> 8;
    bytes[2 * i + 1] = value & 0xff;
  });
  return bytes;
}

/** The shortest text of an IPv6 address: the longest run of zero groups becomes `::`. */
function compressIPv6(groups: string[]): string {
  let best = -1, bestLength = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLength).join(":")}`;
}

/**
 * The addresses of `host` (a name such as `localhost`, or an address in text), with `port`:
 * `getaddrinfo(3)`, on a worker thread. IPv4 first when `family` is not given. Throws a
 * `Deno.errors.NotFound` whose message names the host and says why (`Name or service not
 * known`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveHost } from "./socket.ts";
 * const [first] = await resolveHost("127.0.0.1", 80);
 * assert.deepEqual(first, { family: "inet", host: "127.0.0.1", port: 80 });
 * ```
 */
export async function resolveHost(
  host: string,
  port: number,
  family?: "inet" | "inet6",
): Promise<SocketAddress[]> {
  checkPort(port);
  const af = family === "inet" ? SOCK.AF_INET : family === "inet6" ? SOCK.AF_INET6 : 0;
  let found: Uint8Array[];
  try {
    found = await libc.getaddrinfo(host, af);
  } catch (error) {
    throw new Deno.errors.NotFound(
      `cannot resolve the host ${JSON.stringify(host)}: ${(error as Error).message}`,
    );
  }
  const addresses = found.map((bytes) => ({ ...decodeAddress(bytes), port }) as SocketAddress);
  return addresses.sort((a, b) => (a.family === "inet" ? 0 : 1) - (b.family === "inet" ? 0 : 1));
}

const familyNumber = (address: SocketAddress) =>
  address.family === "unix"
    ? SOCK.AF_UNIX
    : address.family === "inet"
    ? SOCK.AF_INET
    : SOCK.AF_INET6;

// ---------------------------------------------------------------------------------------------
// Waiting on a socket: poll(2), on this thread briefly, then parked on a worker thread
// ---------------------------------------------------------------------------------------------

/** How long a wait may take, and what ends it early. */
export interface SocketWaitOptions {
  /**
   * How long a wait (for a connection, for data, for room) may take, in milliseconds; Infinity
   * (the default) waits for ever.
   */
  timeout?: number;
  /** Once this is aborted, a waiting call rejects with its reason (Ctrl-C: see `wait.ts`). */
  signal?: AbortSignal;
}

/** Waiting until `fd` is ready for `events` (`POLL.IN`, `POLL.OUT`): poll(2). */
function waitsFor(fd: number, events: number): Waits<never> {
  return {
    wait: (ms) => {
      // Look for a few microseconds without sleeping, then sleep in poll for up to `ms`.
      if (libc.pollSpin(fd, events, SPIN_US) === 0) libc.poll(fd, events, ms);
      return libc.WOULD_BLOCK;
    },
    park: async (ms) => {
      await libc.pollPark(fd, events, ms);
      return libc.WOULD_BLOCK;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A connection
// ---------------------------------------------------------------------------------------------

/**
 * One end of a connected stream socket: what {@linkcode connect} returns to a client and
 * {@linkcode Listener.accept} to a server. Both ends are alike: either may read, write, shut
 * down its write side, and close.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect, listen } from "./socket.ts";
 * const path = `/tmp/example-${Deno.pid}.sock`;
 * using listener = listen({ family: "unix", path }, { timeout: 5000 });
 * using client = await connect({ family: "unix", path }, { timeout: 5000 });
 * using server = await listener.accept();
 * await client.write(new TextEncoder().encode("hello"));
 * client.shutdown("write"); // "that was all": the server reads end-of-file after the bytes
 * const buf = new Uint8Array(16);
 * let text = "";
 * for (let n; (n = await server.read(buf)) > 0;) text += new TextDecoder().decode(buf.subarray(0, n));
 * assert.equal(text, "hello");
 * await server.write(new TextEncoder().encode("bye")); // the other direction is still open
 * assert.equal(await client.read(buf), 3);
 * ```
 */
export class Connection implements Disposable {
  #fd: number;
  #closed = false;
  #timeoutMs: number;
  #signal: AbortSignal | undefined;
  #readOptions: UntilReadyOptions;
  #writeOptions: UntilReadyOptions;
  #waitToRead: Waits<never>;
  #waitToWrite: Waits<never>;

  /**
   * Takes over `fd`, a connected stream socket (made non-blocking if it is not); `options`
   * bound every later wait.
   */
  constructor(fd: number, options: SocketWaitOptions = {}) {
    this.#fd = fd;
    this.#timeoutMs = options.timeout ?? Infinity;
    this.#signal = options.signal;
    libc.setNonBlocking(fd);
    this.#waitToRead = waitsFor(fd, libc.POLL.IN);
    this.#waitToWrite = waitsFor(fd, libc.POLL.OUT);
    this.#readOptions = {
      timeoutMs: this.#timeoutMs,
      signal: this.#signal,
      timeoutMessage: () =>
        `no data came from ${this.#peerText()} for ${seconds(this.#timeoutMs)}, and it has ` +
        "not closed its end",
    };
    this.#writeOptions = {
      timeoutMs: this.#timeoutMs,
      signal: this.#signal,
      timeoutMessage: () =>
        `${this.#peerText()} took no data for ${seconds(this.#timeoutMs)}: the connection ` +
        "stayed full",
    };
  }

  /** The socket's file descriptor. */
  get fd(): number {
    return this.#fd;
  }

  /** This end's address (`getsockname(2)`): for TCP, the local address and port. */
  get localAddress(): SocketAddress {
    return decodeAddress(libc.getsockname(this.#fd));
  }

  /** The peer's address (`getpeername(2)`): an unnamed Unix socket has the path `""`. */
  get peerAddress(): SocketAddress {
    return decodeAddress(libc.getpeername(this.#fd));
  }

  #peerText(): string {
    try {
      const peer = this.peerAddress;
      return peer.family === "unix" ? "the peer" : `the peer ${formatAddress(peer)}`;
    } catch {
      return "the peer";
    }
  }

  /**
   * The socket's inode, as `/proc/PID/fd` shows it (`socket:[123456]`) and `ss -xp` lists it:
   * each end of a connection has its own.
   */
  get inode(): number {
    return Deno.statSync(`/proc/self/fd/${this.#fd}`).ino!;
  }

  /**
   * Who is at the other end of a Unix-domain connection, as the kernel recorded it at
   * connect(2) (or, for a client, the server's listen(2)): `SO_PEERCRED`. Over TCP the kernel
   * knows no peer process: pid 0, uid and gid 4294967295 (-1).
   */
  peerCredentials(): libc.PeerCredentials {
    return libc.peerCredentials(this.#fd);
  }

  /**
   * Reads up to `buf.length` bytes. Resolves to how many were read, or 0 at end-of-file: the
   * peer has closed its end or shut down its write side. A peer that vanished with data
   * unread fails the read with ECONNRESET (a `LibcError`).
   */
  read(buf: Uint8Array): Promise<number> {
    let n: number | typeof libc.WOULD_BLOCK;
    try {
      n = libc.read(this.#fd, buf);
    } catch (error) {
      return Promise.reject(error); // a promise, always: ECONNRESET is not thrown at the caller
    }
    if (n !== libc.WOULD_BLOCK) return ready(n, this.#signal);
    return untilReady(() => libc.read(this.#fd, buf), this.#waitToRead, this.#readOptions);
  }

  /**
   * Writes all of `data`, waiting while the socket's buffers are full. Fails with a
   * `LibcError` whose code is EPIPE (or ECONNRESET) once the peer has closed its end.
   */
  write(data: Uint8Array): Promise<void> {
    // Interrupted (Ctrl-C): now, before a byte goes; once written, the bytes are counted.
    if (this.#signal?.aborted) return Promise.reject(this.#signal.reason);
    let n: number | typeof libc.WOULD_BLOCK;
    try {
      n = data.length === 0 ? 0 : libc.write(this.#fd, data);
    } catch (error) {
      return Promise.reject(error); // a promise, always: EPIPE is not thrown at the caller
    }
    if (n === data.length) return sent();
    return this.#writeRest(data, n === libc.WOULD_BLOCK ? 0 : n);
  }

  async #writeRest(data: Uint8Array, written: number): Promise<void> {
    let offset = written;
    while (offset < data.length) {
      const rest = data.subarray(offset);
      offset += await untilReady(
        () => libc.write(this.#fd, rest),
        this.#waitToWrite,
        this.#writeOptions,
      );
    }
  }

  /**
   * Sends `data` (at least one byte) with the open file descriptors `fds` beside it:
   * `sendmsg(2)` with an `SCM_RIGHTS` control message (Unix-domain sockets only). The peer
   * gets new descriptors for the very same open files: see {@linkcode receiveFds}.
   */
  async sendFds(fds: number[], data: Uint8Array = new Uint8Array([0])): Promise<void> {
    if (data.length === 0) throw new RangeError("descriptors travel with at least one byte");
    const n = await untilReady(
      () => libc.sendmsg(this.#fd, data, fds),
      this.#waitToWrite,
      this.#writeOptions,
    );
    // The descriptors went with the first byte; the rest, if any, is plain data.
    if (n < data.length) await this.write(data.subarray(n));
  }

  /**
   * Reads up to `buf.length` bytes, and up to `maxFds` descriptors that came with them
   * (`recvmsg(2)`). The descriptors are this process's to close; `truncated` says that more
   * came than `maxFds` (the kernel closed the rest).
   */
  receiveFds(
    buf: Uint8Array,
    maxFds = 1,
  ): Promise<{ n: number; fds: number[]; truncated: boolean }> {
    return untilReady(
      () => libc.recvmsg(this.#fd, buf, maxFds),
      this.#waitToRead,
      this.#readOptions,
    );
  }

  /**
   * True when the peer has closed the connection completely, not only shut down its write
   * side: `poll(2)` reports POLLHUP. On a Unix-domain socket this tells, after end-of-file, a
   * peer that said "that was all" with `shutdown(SHUT_WR)` and still holds the connection
   * (false) from one that closed it or died (true). (Over TCP, a peer's close and its shutdown
   * both arrive as one FIN: there it cannot tell.) Only while this end has not shut down its
   * own write side: once both sides have, the kernel reports POLLHUP too.
   */
  peerHasClosed(): boolean {
    return (libc.poll(this.#fd, libc.POLL.IN, 0) & libc.POLL.HUP) !== 0;
  }

  /**
   * `shutdown(2)`: `"write"` (SHUT_WR) says "that was all": the peer reads end-of-file once it
   * has read everything, while this end can still read its answer. `"read"` (SHUT_RD), and
   * `"both"` (SHUT_RDWR). A connection the peer has already reset fails with ENOTCONN.
   */
  shutdown(how: "read" | "write" | "both" = "write"): void {
    libc.shutdown(
      this.#fd,
      how === "read" ? SOCK.SHUT_RD : how === "write" ? SOCK.SHUT_WR : SOCK.SHUT_RDWR,
    );
  }

  /** `setsockopt(2)` with an `int` value: `setOption(SOCK.IPPROTO_TCP, SOCK.TCP_NODELAY, 1)`. */
  setOption(level: number, name: number, value: number): void {
    libc.setsockopt(this.#fd, level, name, value);
  }

  /** `getsockopt(2)` of an `int` option: `getOption(SOCK.SOL_SOCKET, SOCK.SO_SNDBUF)`. */
  getOption(level: number, name: number): number {
    return libc.getsockoptInt(this.#fd, level, name);
  }

  /**
   * The send buffer's size (`SO_SNDBUF`): how many bytes may wait in the kernel between this
   * end's writes and the peer's reads before a write must wait. (On a Unix-domain stream socket
   * the sender's buffer is the only one; the kernel shows twice the size asked for, the rest
   * being its bookkeeping.)
   */
  get sendBuffer(): number {
    return this.getOption(SOCK.SOL_SOCKET, SOCK.SO_SNDBUF);
  }

  /**
   * Asks for a send buffer of `bytes` (`setsockopt(SO_SNDBUF)`), at most what
   * `/proc/sys/net/core/wmem_max` allows an unprivileged process; returns the size it got. Like
   * a bigger pipe, a bigger buffer means fewer times the writer must wait for the reader.
   */
  resizeSendBuffer(bytes: number): number {
    this.setOption(SOCK.SOL_SOCKET, SOCK.SO_SNDBUF, Math.min(bytes, socketBufferMax()));
    return this.sendBuffer;
  }

  /**
   * TCP_NODELAY: true sends each small write at once; false (the default) lets Nagle's
   * algorithm hold a small segment back while an earlier one is unacknowledged.
   */
  get noDelay(): boolean {
    return this.getOption(SOCK.IPPROTO_TCP, SOCK.TCP_NODELAY) !== 0;
  }
  set noDelay(on: boolean) {
    this.setOption(SOCK.IPPROTO_TCP, SOCK.TCP_NODELAY, on ? 1 : 0);
  }

  /** Closes the socket (the peer reads end-of-file, or gets ECONNRESET if data was unread). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    libc.close(this.#fd);
  }

  /** Closes the socket (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * The largest socket send buffer an unprivileged process may ask for, in bytes:
 * `/proc/sys/net/core/wmem_max` (212992 on most systems).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { socketBufferMax } from "./socket.ts";
 * assert.ok(socketBufferMax() >= 4096);
 * ```
 */
export function socketBufferMax(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/sys/net/core/wmem_max").trim());
  } catch {
    return 212992;
  }
}

// ---------------------------------------------------------------------------------------------
// The server's side: listen, accept
// ---------------------------------------------------------------------------------------------

/** Options for {@linkcode listen}. */
export interface ListenOptions extends SocketWaitOptions {
  /** How many completed connections the kernel keeps until they are accepted (default 128). */
  backlog?: number;
  /**
   * SO_REUSEADDR (TCP): bind even while old connections on this port linger in TIME_WAIT.
   * Default true, as almost every server sets it; false shows why (EADDRINUSE).
   */
  reuseAddress?: boolean;
  /** The socket file's mode (Unix domain; default 0600: only this user may connect). */
  mode?: number;
}

/**
 * A listening socket: {@linkcode listen} makes one. Closing it (or the end of a `using`
 * block) stops new connections; a Unix-domain listener also removes the socket file it made,
 * if that file is still the one it made. Connections already accepted live on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect, listen } from "./socket.ts";
 * const listener = listen({ family: "unix", path: `/tmp/example-${Deno.pid}-l.sock` });
 * using client = await connect(listener.address, { timeout: 5000 });
 * using server = await listener.accept({ timeout: 5000 });
 * listener.close(); // no more clients; the socket file is gone, the connection lives on
 * await server.write(new Uint8Array([7]));
 * assert.equal(await client.read(new Uint8Array(1)), 1);
 * ```
 */
export class Listener implements Disposable {
  #fd: number;
  #closed = false;
  #options: SocketWaitOptions;
  #socketFile: { path: string; identity: Identity } | null;
  #waitToAccept: Waits<never>;
  /** The address it is bound to (for TCP with port 0: the port the kernel picked). */
  readonly address: SocketAddress;

  /** Use {@linkcode listen}. Takes over the listening socket `fd`. */
  constructor(
    fd: number,
    options: SocketWaitOptions,
    socketFile: { path: string; identity: Identity } | null,
  ) {
    this.#fd = fd;
    this.#options = options;
    this.#socketFile = socketFile;
    this.#waitToAccept = waitsFor(fd, libc.POLL.IN);
    this.address = decodeAddress(libc.getsockname(fd));
  }

  /** The listening socket's file descriptor. */
  get fd(): number {
    return this.#fd;
  }

  /**
   * The next connection: `accept4(2)`, waiting (up to `timeout`, the listener's by default)
   * until a client connects. Throws `Deno.errors.TimedOut` when none does. The connection's own
   * waits (for data, for room) take the listener's `timeout`, whatever this accept waited.
   */
  accept(options: SocketWaitOptions = {}): Promise<Connection> {
    const timeoutMs = options.timeout ?? this.#options.timeout ?? Infinity;
    const signal = options.signal ?? this.#options.signal;
    return untilReady(
      () => libc.accept4(this.#fd, SOCK.NONBLOCK | SOCK.CLOEXEC),
      this.#waitToAccept,
      {
        timeoutMs,
        signal,
        timeoutMessage: () =>
          `no client connected to ${formatAddress(this.address)} within ${seconds(timeoutMs)}`,
      },
    ).then((accepted) =>
      new Connection(accepted.fd, { timeout: this.#options.timeout ?? Infinity, signal })
    );
  }

  /**
   * Removes the socket file now (Unix domain), if it is still the one this listener made; the
   * listener keeps its connections and could even accept more (they would need the name).
   */
  unlink(): void {
    const file = this.#socketFile;
    if (file === null) return;
    this.#socketFile = null;
    const info = lstatOrNull(file.path);
    if (info?.isSocket && identityOf(info) === file.identity) libc.unlink(file.path);
  }

  /** Stops listening, and removes the socket file it made. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.unlink();
    } finally {
      libc.close(this.#fd);
    }
  }

  /** Stops listening, and removes the socket file (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Listens at `address`: socket(2), setsockopt(SO_REUSEADDR) for TCP, bind(2), listen(2).
 *
 * For a Unix-domain address, bind creates the socket file; it must not exist yet (see
 * {@linkcode socketPathState} for what to say when it does). The file is created with `mode`
 * (0600: only this user may connect), by setting the umask around bind, not by a chmod after it.
 *
 * For TCP, `port: 0` lets the kernel pick a free port: `listener.address.port` says which.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listen } from "./socket.ts";
 * using tcp = listen({ family: "inet", host: "127.0.0.1", port: 0 });
 * assert.ok(tcp.address.family === "inet" && tcp.address.port > 0); // the kernel's pick
 * const path = `/tmp/example-${Deno.pid}-listen.sock`;
 * {
 *   using unix = listen({ family: "unix", path });
 *   assert.equal(Deno.lstatSync(path).mode! & 0o777, 0o600);
 * }
 * assert.throws(() => Deno.lstatSync(path), Deno.errors.NotFound); // removed on close
 * ```
 */
export function listen(address: SocketAddress, options: ListenOptions = {}): Listener {
  const addr = encodeAddress(address);
  const fd = libc.socket(familyNumber(address), SOCK.STREAM | SOCK.NONBLOCK | SOCK.CLOEXEC);
  let socketFile: { path: string; identity: Identity } | null = null;
  try {
    if (address.family !== "unix" && options.reuseAddress !== false) {
      libc.setsockopt(fd, SOCK.SOL_SOCKET, SOCK.SO_REUSEADDR, 1);
    }
    if (address.family === "unix" && !address.path.startsWith("\0")) {
      // bind() creates the socket file with the mode 0777 less the umask: so the umask is set
      // for that one call, and the file is born with `mode`. A chmod(2) after it would follow
      // a symbolic link that someone swapped in for the file meanwhile, in a directory they
      // can write to (/tmp without its sticky bit), and change the mode of the file it leads to.
      const umask = Deno.umask(~(options.mode ?? 0o600) & 0o777);
      try {
        libc.bind(fd, addr);
      } finally {
        Deno.umask(umask);
      }
      const info = Deno.lstatSync(address.path);
      socketFile = { path: address.path, identity: identityOf(info) };
    } else {
      libc.bind(fd, addr);
    }
    libc.listen(fd, options.backlog ?? 128);
    return new Listener(fd, options, socketFile);
  } catch (error) {
    if (socketFile !== null) {
      const info = lstatOrNull(socketFile.path);
      if (info !== null && identityOf(info) === socketFile.identity) libc.unlink(socketFile.path);
    }
    libc.close(fd);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// The client's side: connect
// ---------------------------------------------------------------------------------------------

/** Options for {@linkcode connect}. */
export interface ConnectOptions extends SocketWaitOptions {
  /**
   * Keep trying while nobody listens yet (ECONNREFUSED; ENOENT: no socket file), until
   * `timeout`: a client started before its server. Default false: fail at once.
   */
  retry?: boolean;
  /** Called once, the first time a try finds nobody listening: to narrate the wait. */
  onRefused?: (error: libc.LibcError) => void;
}

/** The errors that mean "nobody listens there (yet)". */
const NOBODY_LISTENS = new Set(["ECONNREFUSED", "ENOENT"]);

/**
 * Connects to `address`: socket(2) and connect(2), non-blocking. A TCP connect returns
 * EINPROGRESS while the three-way handshake runs: the socket becomes writable when it is
 * over, and `SO_ERROR` then says how it went. A Unix-domain connect completes at once, or
 * fails with EAGAIN while the listener's backlog is full (then it waits and tries again).
 *
 * Fails with the `LibcError` of connect: ECONNREFUSED (nobody listens), ENOENT (no socket file
 * at the path), ETIMEDOUT, EHOSTUNREACH…; with `retry`, the first two are tried again until
 * `timeout`, and then it fails with `Deno.errors.TimedOut`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect, listen } from "./socket.ts";
 * using listener = listen({ family: "inet", host: "127.0.0.1", port: 0 });
 * using client = await connect(listener.address, { timeout: 5000 });
 * using server = await listener.accept();
 * client.noDelay = true;
 * assert.equal(client.noDelay, true);
 * assert.deepEqual(server.peerAddress, client.localAddress);
 * ```
 */
export async function connect(
  address: SocketAddress,
  options: ConnectOptions = {},
): Promise<Connection> {
  const addr = encodeAddress(address);
  const timeoutMs = options.timeout ?? Infinity;
  const deadline = performance.now() + timeoutMs;
  let refused: libc.LibcError | null = null;
  for (let pause = 5;; pause = Math.min(pause * 2, 100)) {
    options.signal?.throwIfAborted();
    const fd = libc.socket(familyNumber(address), SOCK.STREAM | SOCK.NONBLOCK | SOCK.CLOEXEC);
    try {
      await connectOnce(fd, addr, address, deadline, timeoutMs, options.signal);
      return new Connection(fd, options);
    } catch (error) {
      libc.close(fd); // a socket whose connect failed is not used again
      if (!(error instanceof libc.LibcError) || !NOBODY_LISTENS.has(error.code) || !options.retry) {
        throw error;
      }
      if (refused === null) options.onRefused?.(error);
      refused = error;
    }
    const left = deadline - performance.now();
    if (left <= 0) {
      throw new Deno.errors.TimedOut(
        `nobody listened at ${formatAddress(address)} within ${seconds(timeoutMs)} ` +
          `(connect: ${refused.code}, ${refused.description})`,
      );
    }
    await sleep(Math.min(pause, left), options.signal);
  }
}

async function connectOnce(
  fd: number,
  addr: Uint8Array,
  address: SocketAddress,
  deadline: number,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  for (;;) {
    try {
      libc.connect(fd, addr);
      return;
    } catch (error) {
      if (!(error instanceof libc.LibcError)) throw error;
      if (error.code !== "EINPROGRESS" && error.code !== "EAGAIN") throw error;
      const left = deadline - performance.now();
      if (error.code === "EAGAIN") {
        // Unix domain: the listener's backlog is full. Nothing signals room (an unconnected
        // socket polls writable at once), so pause a little, and try again.
        if (left <= 0) {
          throw new Deno.errors.TimedOut(
            `could not connect to ${formatAddress(address)} within ${seconds(timeoutMs)} ` +
              "(its backlog stayed full: the server accepts no connections)",
          );
        }
        await sleep(Math.min(5, left), signal);
        continue;
      }
      // TCP: wait until the socket is writable: the three-way handshake is over.
      await untilReady(
        () => (libc.poll(fd, libc.POLL.OUT, 0) ? 1 : libc.WOULD_BLOCK),
        waitsFor(fd, libc.POLL.OUT),
        {
          timeoutMs: Math.max(0, left),
          signal,
          timeoutMessage: () =>
            `could not connect to ${formatAddress(address)} within ${
              seconds(timeoutMs)
            } (the handshake did not complete)`,
        },
      );
      const errnum = libc.getsockoptInt(fd, SOCK.SOL_SOCKET, SOCK.SO_ERROR);
      if (errnum !== 0) throw new libc.LibcError("connect", errnum);
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Socket files: what is at a path, and leftovers
// ---------------------------------------------------------------------------------------------

/** What a Unix-domain socket's path leads to: see {@linkcode socketPathState}. */
export type SocketPathState =
  | { readonly state: "free" }
  | { readonly state: "listening"; readonly holders: number[] }
  | { readonly state: "stale"; readonly uid: number }
  | { readonly state: "unknown"; readonly why: string }
  | { readonly state: "not-a-socket"; readonly kind: string }
  | { readonly state: "no-directory" };

/**
 * What is at `path`, for a server about to bind there: nothing (`free`); a socket file that a
 * process has bound and listens on (`listening`, with the pids that hold it: the server, and
 * its accepted connections; none when they are another user's, whose descriptors this user
 * cannot see); a socket file nobody has bound any more (`stale`, with its owner: a killed run
 * left it behind; a connect would get ECONNREFUSED); a socket file whose socket cannot be
 * looked for (`unknown`, with the reason: treat it as in use); something else
 * (`not-a-socket`); or a missing directory. Throws the `RangeError` of
 * {@linkcode encodeAddress} for a path too long.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listen, socketPathState } from "./socket.ts";
 * const path = `/tmp/example-${Deno.pid}-state.sock`;
 * assert.equal(socketPathState(path).state, "free");
 * {
 *   using _listener = listen({ family: "unix", path });
 *   assert.deepEqual(socketPathState(path), { state: "listening", holders: [Deno.pid] });
 * }
 * assert.deepEqual(socketPathState("/etc/hostname"), { state: "not-a-socket", kind: "a regular file" });
 * ```
 */
export function socketPathState(path: string): SocketPathState {
  checkSunPath(path, encoder.encode(path).length);
  const info = lstatOrNull(path);
  if (info === null) {
    let directory = false;
    try {
      directory = Deno.statSync(dirname(resolve(path))).isDirectory;
    } catch { /* missing */ }
    return directory ? { state: "free" } : { state: "no-directory" };
  }
  if (!info.isSocket) return { state: "not-a-socket", kind: kindOf(info) };
  const bound = boundSockets(path);
  if (bound.unsure !== null) return { state: "unknown", why: bound.unsure };
  if (bound.inodes.length > 0) return { state: "listening", holders: socketHolders(bound.inodes) };
  // No socket is bound to this path; yet the file may have been renamed or linked since its
  // server bound it (the table keeps the old path). Only a connect(2) can tell.
  const probe = answers(path);
  if (probe === null) return { state: "stale", uid: info.uid ?? -1 };
  if (probe.answered) return { state: "listening", holders: [] };
  return { state: "unknown", why: probe.why };
}

/**
 * Knocks at the socket file `path` with a non-blocking connect(2), for a file that no entry of
 * `/proc/net/unix` names: null when nobody listens there (ECONNREFUSED: stale), `answered`
 * when a server does (one renamed or linked since it bound its name, which sees a connection
 * come and go), or why it cannot tell (EACCES: not ours to connect to).
 */
function answers(path: string): { answered: true } | { answered: false; why: string } | null {
  const fd = libc.socket(SOCK.AF_UNIX, SOCK.STREAM | SOCK.NONBLOCK | SOCK.CLOEXEC);
  try {
    libc.connect(fd, encodeAddress({ family: "unix", path }));
    return { answered: true };
  } catch (error) {
    if (!(error instanceof libc.LibcError)) throw error;
    if (error.code === "ECONNREFUSED") return null;
    if (error.code === "EAGAIN") return { answered: true }; // its queue of connections is full
    return { answered: false, why: `connect(2) to it failed with ${error.code}` };
  } finally {
    libc.close(fd);
  }
}

/** What kind of file `info` describes, for messages. */
function kindOf(info: Deno.FileInfo): string {
  if (info.isSymlink) return "a symbolic link";
  if (info.isDirectory) return "a directory";
  if (info.isFile) return "a regular file";
  if (info.isFifo) return "a FIFO";
  if (info.isCharDevice || info.isBlockDevice) return "a device";
  return "not a socket";
}

/**
 * One record of `/proc/net/unix` (`Num RefCount Protocol Flags Type St Inode Path`): the
 * fields are printed with fixed separators, and the path is everything after the one space
 * that follows the inode, exactly as bind(2) got it, spaces and tabs included.
 */
const UNIX_RECORD = /^[0-9a-f]+: [0-9A-F]+ [0-9A-F]+ [0-9A-F]+ [0-9A-F]+ [0-9A-F]+ +(\d+) (.*)$/;

/**
 * The sockets bound to the path `path`, from `/proc/net/unix` (one line per Unix-domain socket
 * of this network namespace): their inode numbers. A listener and every connection it
 * accepted show the listener's path. And, when the table cannot say for sure, why (`unsure`):
 * the kernel prints each path as bind(2) got it, so a path with a line break spans two
 * records, and a relative one (`s.sock`, whose inodes are listed too) may be this very file,
 * bound from its directory.
 */
function boundSockets(path: string): { inodes: number[]; unsure: string | null } {
  if (/[\n\r]/.test(path)) {
    return {
      inodes: [],
      unsure: "its path has a line break, and /proc/net/unix lists one socket a line",
    };
  }
  let table: string;
  try {
    table = Deno.readTextFileSync("/proc/net/unix");
  } catch (error) {
    return { inodes: [], unsure: `/proc/net/unix cannot be read (${(error as Error).message})` };
  }
  const wanted = resolve(path);
  // The file itself, to recognise it under another spelling of its path (`/tmp/./s.sock`,
  // `//tmp/s.sock`, a directory reached through a symbolic link, a hard link).
  let file: string | null = null;
  try {
    file = identityOf(Deno.lstatSync(path));
  } catch { /* gone: only the spelling can match */ }
  const inodes: number[] = [];
  let unsure: string | null = null;
  for (const line of table.split("\n").slice(1)) {
    const [, inode, bound] = line.match(UNIX_RECORD) ?? [];
    if (bound === undefined || bound.startsWith("@")) continue; // none, or abstract: no file
    if (bound === path || bound === wanted || (file !== null && sameFile(bound, file))) {
      inodes.push(Number(inode));
    } else if (!bound.startsWith("/") && basename(bound) === basename(wanted)) {
      inodes.push(Number(inode));
      unsure = `a socket is bound to the relative name ${JSON.stringify(bound)}`;
    }
  }
  return { inodes, unsure };
}

/** Whether the absolute path `bound` names the file whose identity is `file` now. */
function sameFile(bound: string, file: string): boolean {
  if (!bound.startsWith("/")) return false;
  try {
    return identityOf(Deno.lstatSync(bound)) === file;
  } catch {
    return false; // gone, or renamed since bind(2): that spelling names no file now
  }
}

/** The device number of sockfs, where every socket's inode lives (`socket:[INODE]`). */
let sockfsDevice: number | null = null;
function socketIdentity(inode: number): Identity {
  if (sockfsDevice === null) {
    const fd = libc.socket(SOCK.AF_UNIX, SOCK.STREAM | SOCK.CLOEXEC);
    try {
      sockfsDevice = Deno.statSync(`/proc/self/fd/${fd}`).dev;
    } finally {
      libc.close(fd);
    }
  }
  return `${sockfsDevice}:${inode}`;
}

/**
 * The processes that hold the sockets `inodes` (a listener, its connections): those whose
 * `/proc/PID/fd` this user may read, so none of another user's.
 */
function socketHolders(inodes: number[]): number[] {
  const wanted = new Set(inodes.map(socketIdentity));
  const holders = new Set<number>();
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      for (const fd of Deno.readDirSync(`/proc/${pid}/fd`)) {
        try {
          if (wanted.has(identityOf(Deno.statSync(`/proc/${pid}/fd/${fd.name}`)))) holders.add(pid);
        } catch { /* closed meanwhile */ }
      }
    } catch { /* exited, or not ours to look at */ }
  }
  return [...holders].sort((a, b) => a - b);
}

/** A socket file, as `deno task clean` lists and names it. */
export const SOCKET_KIND: LeftoverKind = {
  label: "socket",
  noun: "socket file",
  plural: "socket files",
  atAnyPath: true,
};

/**
 * A socket file as a leftover. Its holders are not those of the file (nobody opens a socket
 * file: connect(2) only looks it up) but those of the socket bound to it, found through
 * `/proc/net/unix`; so its identity is that socket's (`sockfs` device and inode) while one is
 * bound, and the file's own once none is. If a server binds there between the look and the
 * removal, the identity changes, and the file is left alone.
 */
function socketLeftover(path: string, info: Deno.FileInfo, inodes: number[]): Leftover {
  // (A socket bound by a relative name that may be this file counts: better left alone.)
  const identityAt = (file: Deno.FileInfo, bound: number[]) =>
    bound.length > 0 ? socketIdentity(bound[0]!) : identityOf(file);
  return new Leftover({
    kind: SOCKET_KIND,
    path,
    uid: info.uid,
    identity: identityAt(info, inodes),
    identityNow: () => {
      const now = lstatOrNull(path);
      return now?.isSocket ? identityAt(now, boundSockets(path).inodes) : null;
    },
    remove: () => libc.unlink(path),
  });
}

/**
 * Finds socket files: for `{ prefix, dir }`, this user's socket files in `dir` whose names
 * start with `prefix`; for `{ name, cwd }`, the socket file at the path `name`, whoever owns
 * it. One whose socket is gone (a killed server's) has no holders, and is safe to remove.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findLeftovers } from "./leftovers.ts";
 * import { listen, socketLeftovers } from "./socket.ts";
 *
 * const dir = Deno.makeTempDirSync();
 * using listener = listen({ family: "unix", path: `${dir}/my.sock` });
 * const { found } = findLeftovers([socketLeftovers], { name: "my.sock", cwd: dir });
 * assert.deepEqual(found.map((object) => object.holders), [[Deno.pid]]); // in use
 * listener.close();
 * Deno.removeSync(dir);
 * ```
 */
export const socketLeftovers: LeftoverFinder = new LeftoverFinder(
  [SOCKET_KIND],
  (query, report) => {
    if ("prefix" in query) {
      for (const file of namesIn(query.dir, query.prefix)) {
        const path = join(query.dir, file);
        const info = lstatOrNull(path);
        if (!info?.isSocket || !mine(info.uid)) continue;
        const bound = boundSockets(path);
        const why = unnamedListener(path, bound);
        if (why === null) report.found.push(socketLeftover(path, info, bound.inodes));
        else report.notes.push(`the socket file ${path}: ${why}`);
      }
      return;
    }
    const path = resolve(query.cwd, query.name);
    const info = query.name === "" ? null : lstatOrNull(path);
    if (!info?.isSocket) return;
    const bound = boundSockets(path);
    const why = unnamedListener(path, bound);
    if (why === null) report.found.push(socketLeftover(path, info, bound.inodes));
    else report.problems.push(`the socket file ${path}: ${why}`);
  },
);

/**
 * Why a socket file that no entry of `/proc/net/unix` names must still be left alone: a server
 * answers a connect(2) there (the file was renamed or linked after bind), or nothing can tell.
 * Null when the table names it (its holders decide) or when nobody answers (stale).
 */
function unnamedListener(
  path: string,
  { inodes, unsure }: { inodes: number[]; unsure: string | null },
): string | null {
  if (inodes.length > 0 || unsure !== null) return null;
  const probe = answers(path);
  if (probe === null) return null;
  return probe.answered
    ? "a server answers on it, though it bound another name (the file was renamed or linked " +
      "since): in use, left alone"
    : `whether a server listens on it cannot be told (${probe.why}): left alone`;
}

// ---------------------------------------------------------------------------------------------
// The Unix-domain socket as a channel of pieces (see channel.ts): what the benchmark measures
// ---------------------------------------------------------------------------------------------

/** A connection's sending side: writes, then shuts down its write side and waits for the close. */
function connectionSink(connection: Connection): Sink {
  connection.resizeSendBuffer(SEND_BUFFER); // as the lesson's server does
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
 * The send buffer the lesson's server asks for: 512 KiB (the kernel makes it 1 MiB, counting
 * its bookkeeping; less where wmem_max is lower). A Unix socket's writer is woken only once the
 * reader has drained the buffer to a quarter, so a bigger buffer means fewer hand-offs between
 * the two processes. With 64 KiB chunks on 2 vCPUs, nine runs interleaved with the C reference
 * (its socket keeps the default 208 KiB) gave 0.88 of C's throughput for 256 KiB, 1.02 for
 * 512 KiB and 1.07 for 1 MiB. Bigger gains little more, and costs kernel memory for every
 * client a server serves at once.
 */
export const SEND_BUFFER = 512 * 1024;

/**
 * The Unix-domain stream socket as a named channel, opened as the unix lesson opens it: the
 * receiver listens on `word` (a socket file in `dir`) and accepts one connection, then removes
 * the file; the sender connects, retrying until the receiver listens.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { channel } from "./socket.ts";
 * using stack = new DisposableStack();
 * const dir = Deno.makeTempDirSync();
 * const options = { piece: 64, capacity: 0, timeout: 5000, stack, dir };
 * const [source, sink] = await Promise.all([
 *   channel.openSource("example", options),
 *   channel.openSink("example", options),
 * ]);
 * await sink.send(new Uint8Array([1, 2, 3]));
 * const ending = sink.end(); // resolves once the receiver has read all and closed
 * assert.deepEqual([...await source.receive()], [1, 2, 3]);
 * assert.equal((await source.receive()).length, 0);
 * await ending;
 * stack.dispose();
 * Deno.removeSync(dir);
 * ```
 */
export const channel: NamedChannel = {
  kind: "named",
  refbench: "unix",
  async openSink(word: string, { dir, timeout, stack }: NamedEndOptions) {
    const address: SocketAddress = { family: "unix", path: join(dir, `${word}.sock`) };
    const connection = stack.use(await connect(address, { timeout, retry: true }));
    return connectionSink(connection);
  },
  async openSource(word: string, { dir, piece, timeout, stack }: NamedEndOptions) {
    const address: SocketAddress = { family: "unix", path: join(dir, `${word}.sock`) };
    const listener = stack.use(listen(address, { timeout, backlog: 1 }));
    const connection = stack.use(await listener.accept());
    listener.close(); // one connection is all this channel takes: the name has done its job
    return connectionSource(connection, piece);
  },
};
