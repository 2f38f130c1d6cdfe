/**
 * Break-it labs of the TCP lesson: `deno task lesson:tcp --break nagle`.
 *
 * - `connection-refused`: connect to a port nobody listens on: ECONNREFUSED, at once.
 * - `address-in-use`: restart a server without SO_REUSEADDR while its old connection waits in
 *   TIME_WAIT: bind fails with EADDRINUSE.
 * - `nagle`: small request/response round trips, a request written in two pieces: Nagle's
 *   algorithm and the peer's delayed ACK make each take 40 ms; TCP_NODELAY takes that away.
 *
 * Each runs over loopback, in this host only.
 *
 * @module
 */

import * as libc from "../../transports/libc.ts";
import {
  connect,
  type Connection,
  decodeAddress,
  encodeAddress,
  formatAddress,
  listen,
  SOCK,
  type SocketAddress,
} from "../../transports/socket.ts";
import type { Lab, LabContext } from "../_labs.ts";
import { command, denoArgv } from "../_lesson.ts";
import { portOf } from "./common.ts";

/** How long any wait of a lab may take, in ms: a lab ends within seconds. */
const PATIENCE_MS = 5000;

const LOOPBACK = "127.0.0.1";

/** The TCP lesson's labs. */
export const labs: Lab[] = [
  {
    name: "connection-refused",
    summary: "connect to a port that nobody listens on: the kernel answers RST, ECONNREFUSED",
    explanation: {
      cause:
        "a TCP connection needs a listening socket at the other end: one that was bound to the address and port AND put into listen(). The client's kernel sends SYN; the server's kernel finds no listening socket for that port (a socket only bound, or none at all) and answers with RST, and connect() fails with ECONNREFUSED. It is the commonest error of network programs: the server is not started yet, has crashed, listens on another port, or on another address (127.0.0.1 only, while the client comes from another host).",
      fix:
        "start the server first, or make the client try again for a while, as this lesson's client does (connect with retry, until --timeout); check the address and port with ss -tlnp on the server's host. A server must call listen() after bind(): until then its port refuses connections.",
    },
    async run(lab) {
      lab.say(
        "1. a socket bound to 127.0.0.1, port 0 (the kernel picks a free port), but never " +
          "put into listen(): the port is taken, and nobody accepts connections on it",
      );
      const bound = libc.socket(SOCK.AF_INET, SOCK.STREAM | SOCK.CLOEXEC);
      try {
        libc.bind(bound, encodeAddress({ family: "inet", host: LOOPBACK, port: 0 }));
        const address = decodeAddress(libc.getsockname(bound));
        lab.say(`2. connect to ${formatAddress(address)}`);
        lab.trace(true);
        let refused = false;
        try {
          (await connect(address, waits(lab))).close();
        } catch (error) {
          if (!(error instanceof libc.LibcError) || error.code !== "ECONNREFUSED") throw error;
          refused = true;
        }
        lab.trace(false);
        if (!refused) return false;
        lab.symptom(
          `connect() failed with ECONNREFUSED: nothing listens on ${formatAddress(address)} ` +
            "(bound, but never listen()ed), so the kernel answered the SYN with RST",
        );
        lab.say("3. the fix: listen() on that socket, and connect again");
        lab.trace(true);
        libc.listen(bound, 1);
        (await connect(address, waits(lab))).close();
        lab.trace(false);
        lab.say(`with a listening socket at ${formatAddress(address)}, connect() succeeded`);
        return true;
      } finally {
        lab.trace(false);
        libc.close(bound);
      }
    },
  },
  {
    name: "address-in-use",
    summary:
      "restart a server without SO_REUSEADDR while its last connection is in TIME_WAIT: EADDRINUSE",
    explanation: {
      cause:
        "the side that closes a TCP connection first (sends the first FIN) keeps its end in TIME_WAIT for 60 s on Linux (a fixed constant, TCP_TIMEWAIT_LEN; RFC 793's 2 x MSL would be 4 minutes), so that a late packet of the old connection cannot be taken for part of a new one between the same addresses and ports. That end still holds the server's port. A new socket that binds the port without SO_REUSEADDR is refused: bind() fails with EADDRINUSE, though no process listens there any more. A server that is stopped and started again at once hits this every time.",
      fix:
        "set SO_REUSEADDR (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one)) before bind(), in the server, as almost every server does and as transports/socket.ts's listen() does by default: with it on both the old and the new socket, bind() ignores connections in TIME_WAIT (a socket that still listens keeps the port). It does not let two servers listen on one port: that is SO_REUSEPORT, another thing.",
    },
    async run(lab) {
      lab.say(
        "1. a server without SO_REUSEADDR serves one client, and closes the connection first: " +
          "its end goes into TIME_WAIT",
      );
      const port = await closeFirst(lab, { reuseAddress: false });
      const address: SocketAddress = { family: "inet", host: LOOPBACK, port };
      lab.say(
        `ss -tan state time-wait shows it: ${
          timeWaitLines(port).join("; ")
        }; the server has exited (its listening socket is closed)`,
      );
      lab.say(`2. the server restarts, and binds ${formatAddress(address)} again, as it did`);
      lab.trace(true);
      const again = libc.socket(SOCK.AF_INET, SOCK.STREAM | SOCK.CLOEXEC);
      let inUse = false;
      try {
        libc.bind(again, encodeAddress(address));
      } catch (error) {
        if (!(error instanceof libc.LibcError) || error.code !== "EADDRINUSE") throw error;
        inUse = true;
      } finally {
        libc.close(again);
        lab.trace(false);
      }
      if (!inUse) return false;
      lab.symptom(
        `bind() failed with EADDRINUSE: nobody listens on port ${port}, but the old ` +
          "connection's end in TIME_WAIT still holds it",
      );

      lab.say(
        "3. the fix: the same server with SO_REUSEADDR set before bind(), stopped and " +
          "restarted the same way",
      );
      const fixed = await closeFirst(lab, { reuseAddress: true });
      lab.say(`its old connection is in TIME_WAIT too: ${timeWaitLines(fixed).join("; ")}`);
      lab.trace(true);
      const restarted = libc.socket(SOCK.AF_INET, SOCK.STREAM | SOCK.CLOEXEC);
      try {
        libc.setsockopt(restarted, SOCK.SOL_SOCKET, SOCK.SO_REUSEADDR, 1);
        libc.bind(restarted, encodeAddress({ family: "inet", host: LOOPBACK, port: fixed }));
        libc.listen(restarted, 1);
      } finally {
        libc.close(restarted);
        lab.trace(false);
      }
      lab.say(`with SO_REUSEADDR, bind() and listen() on port ${fixed} succeeded at once`);
      return true;
    },
  },
  {
    name: "nagle",
    summary:
      "small requests written in two pieces wait 40 ms or more each for the peer's delayed ACK; TCP_NODELAY",
    explanation: {
      cause:
        "Nagle's algorithm (on by default) holds back a small segment while an earlier one is not yet acknowledged, to spare the network many tiny packets. The peer, meanwhile, delays its ACK (at least 40 ms on Linux, up to 200 ms), hoping to send it along with an answer. A client that writes its request in two pieces (a header, then a body) sends the header at once; the body waits for the ACK; the server waits for the whole request before it answers, so it has nothing to send the ACK with, until its delayed-ACK timer runs out. Every round trip pays that timer.",
      fix:
        "write each request in one write() (build it in one buffer, or use writev), so there is no second small segment to hold back; and in request/response programs set TCP_NODELAY (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one)), as SSH, HTTP clients and RPC libraries do. Keep Nagle for bulk transfers of large writes, where it costs nothing.",
    },
    async run(lab) {
      const trips = 20, header = 4, body = 28;
      lab.say(
        `a server (another process) answers each request of ${header + body} bytes with ` +
          `${header + body} bytes; the client writes each request in two pieces, a ` +
          `${header}-byte header and a ${body}-byte body, ${trips} times`,
      );
      const peer = command(
        denoArgv(new URL("./lab_peer.ts", import.meta.url).href, [String(header + body)]),
        { stdin: "null", stdout: "piped", stderr: "inherit" },
      ).spawn();
      try {
        const port = await firstLine(peer.stdout);
        const address: SocketAddress = { family: "inet", host: LOOPBACK, port: Number(port) };
        lab.say(`1. the default: Nagle's algorithm on (TCP_NODELAY off)`);
        const nagle = await roundTrips(lab, address, { noDelay: false, trips, header, body });
        lab.say(`2. the same with TCP_NODELAY set on the client's socket`);
        const noDelay = await roundTrips(lab, address, { noDelay: true, trips, header, body });
        const [slow, fast] = [median(nagle), median(noDelay)];
        lab.say(
          `round trips, median: ${slow.toFixed(2)} ms with Nagle, ${fast.toFixed(2)} ms with ` +
            `TCP_NODELAY (all ${trips}: ${sum(nagle).toFixed(0)} ms against ${
              sum(noDelay).toFixed(0)
            } ms)`,
        );
        if (!(slow >= 20 && slow >= 5 * fast)) return false;
        lab.symptom(
          `with Nagle's algorithm each round trip took ${slow.toFixed(1)} ms (the peer's ` +
            `delayed ACK), ${(slow / Math.max(fast, 0.001)).toFixed(0)} times as long as with ` +
            `TCP_NODELAY (${fast.toFixed(2)} ms)`,
        );
        return true;
      } finally {
        lab.trace(false);
        try {
          peer.kill("SIGTERM");
        } catch { /* it has exited */ }
        await peer.status;
      }
    },
  },
];

/** Every wait of a lab: a few seconds at most, and Ctrl-C. */
function waits(lab: LabContext) {
  return { timeout: PATIENCE_MS, signal: lab.signal };
}

/**
 * A server listens on a new port, accepts one client, and closes first; the client reads
 * end-of-file and closes too. Resolves to the port, once the server's end is in TIME_WAIT.
 */
async function closeFirst(lab: LabContext, options: { reuseAddress: boolean }): Promise<number> {
  let client: Connection | null = null;
  let port: number;
  {
    using listener = listen({ family: "inet", host: LOOPBACK, port: 0 }, {
      ...waits(lab),
      reuseAddress: options.reuseAddress,
    });
    port = portOf(listener.address);
    client = await connect(listener.address, waits(lab));
    using served = await listener.accept();
    served.close(); // the server's FIN goes first: its end will wait in TIME_WAIT
  }
  try {
    const buf = new Uint8Array(1);
    while (await client.read(buf) > 0) { /* nothing is sent */ }
  } finally {
    client.close();
  }
  // The server's end moves to TIME_WAIT once the client's FIN has come back.
  for (let waited = 0; timeWaitLines(port).length === 0; waited += 10) {
    if (waited >= PATIENCE_MS) throw new Error(`no connection on port ${port} went into TIME_WAIT`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return port;
}

/**
 * The connections whose local port is `port` and whose state is TIME_WAIT, as `ss -tan state
 * time-wait` shows them: read from /proc/net/tcp (state 06), where ss reads them too.
 */
function timeWaitLines(port: number): string[] {
  const lines = Deno.readTextFileSync("/proc/net/tcp").split("\n").slice(1);
  const hex = (text: string) => {
    const [ip = "", p = ""] = text.split(":");
    // The address is in the machine's byte order (little-endian here), the port in hex.
    const bytes = ip.match(/../g)?.map((b) => parseInt(b, 16)).reverse() ?? [];
    return { text: `${bytes.join(".")}:${parseInt(p, 16)}`, port: parseInt(p, 16) };
  };
  const found: string[] = [];
  for (const line of lines) {
    const [, local, remote, state] = line.trim().split(/\s+/);
    if (local === undefined || remote === undefined || state !== "06") continue;
    const here = hex(local);
    if (here.port === port) found.push(`TIME-WAIT ${here.text} ${hex(remote).text}`);
  }
  return found;
}

/** The round trips of one connection to the lab's peer, each in ms. */
async function roundTrips(
  lab: LabContext,
  address: SocketAddress,
  options: { noDelay: boolean; trips: number; header: number; body: number },
): Promise<number[]> {
  const { header, body } = options;
  using connection = await connect(address, waits(lab));
  lab.trace(true);
  connection.noDelay = options.noDelay;
  const times: number[] = [];
  const answer = new Uint8Array(header + body);
  for (let trip = 0; trip < options.trips; trip++) {
    if (trip === 1) lab.trace(false); // one round trip is enough to read
    const started = performance.now();
    await connection.write(new Uint8Array(header).fill(0x48)); // the header
    await connection.write(new Uint8Array(body).fill(0x42)); // the body: a second small write
    for (let got = 0; got < answer.length;) {
      const n = await connection.read(answer.subarray(got));
      if (n === 0) throw new Error("the lab's server closed the connection");
      got += n;
    }
    times.push(performance.now() - started);
  }
  lab.trace(false);
  return times;
}

/** The first line a stream gives (the peer's port); the rest is not read. */
async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the lab's server exited before saying its port");
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    await reader.cancel();
  }
  return text.slice(0, text.indexOf("\n"));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
