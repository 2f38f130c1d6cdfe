/**
 * What the TCP lesson's server and client share, the way a C lesson's header file serves both
 * programs: the options, how a host name becomes an address, and the demo's stage (two network
 * hosts, or loopback).
 *
 * @module
 */

import { FileError, UnnamedFile } from "../../transports/files.ts";
import { resolveHost, type SocketAddress } from "../../transports/socket.ts";
import { type InetAddress, NoNamespaces, TwoHosts } from "../../transports/tcp.ts";
import { seconds } from "../../transports/wait.ts";
import { type Stage, type StageRun, tempDir } from "../_lesson.ts";

/** The TCP lesson's own options. */
export interface TcpOptions {
  /** Server: the address to listen on. Client: the server's address, or a name to resolve. */
  host: string;
  /** Server: the port to listen on (0: any free one). Client: the server's port (0: not given). */
  port: number;
  /** Server: where to write its port. Client: where to read the server's port. "" for none. */
  portFile: string;
  /** The demo: both sides on this host, over loopback, instead of two network hosts. */
  loopback: boolean;
  /** How many clients the server serves (the demo starts), at the same time: Infinity forever. */
  clients: number;
  /** --forever: the server serves clients until Ctrl-C. */
  forever: boolean;
}

/** An IP address and a port: what this lesson listens on and connects to. */
export type { InetAddress };

/** The port of a socket's address (a listener's, a connection's end). */
export function portOf(address: SocketAddress): number {
  return address.family === "unix" ? 0 : address.port;
}

/**
 * The address and port of the server: a name is resolved first, within `timeout` ms, and
 * `signal` (Ctrl-C) stops the wait.
 */
export async function addressOf(
  host: string,
  port: number,
  { timeout, signal }: { timeout: number; signal?: AbortSignal },
): Promise<InetAddress> {
  // getaddrinfo(3) turns a name into addresses ("localhost": 127.0.0.1, IPv4 first); an address
  // (10.200.0.1, ::1) comes back as it is. For a name it may ask a DNS server, and wait for an
  // answer for many seconds. It runs on a worker thread and cannot be cancelled, so we stop
  // waiting for it instead: at --timeout, or Ctrl-C (the thread ends with the process).
  const resolving = resolveHost(host, port);
  let stop = () => {};
  const stopped = new Promise<never>((_, reject) => {
    const timer = Number.isFinite(timeout)
      ? setTimeout(() => {
        reject(
          new Deno.errors.TimedOut(
            `cannot resolve the host ${JSON.stringify(host)}: no answer within ${
              seconds(timeout)
            } (is a DNS server reachable? an address such as 127.0.0.1 needs none)`,
          ),
        );
      }, timeout)
      : undefined;
    const abort = () => reject(signal!.reason);
    if (signal?.aborted) abort();
    signal?.addEventListener("abort", abort, { once: true });
    stop = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", abort);
    };
  });
  stopped.catch(() => {});
  try {
    const [first] = await Promise.race([resolving, stopped]);
    if (first?.family !== "inet" && first?.family !== "inet6") {
      throw new Deno.errors.NotFound(`cannot resolve the host ${JSON.stringify(host)}: no address`);
    }
    return first;
  } finally {
    stop();
    resolving.catch(() => {}); // (a late failure, once we have stopped waiting: nobody to tell)
  }
}

/**
 * The demo's stage: where its two sides run.
 *
 * By default, two network hosts (`transports/netns.ts`): the server in namespace a, listening on
 * 10.200.0.1, the client in namespace b, connecting from 10.200.0.2, over a veth pair. Without
 * the privilege to make them, one line says so, and both run here over loopback (127.0.0.1), as
 * with `--loopback`.
 *
 * Either way the server listens on port 0 and tells the client which port the kernel picked
 * through a port file: an unnamed file the runner holds (O_TMPFILE, `/proc/RUNNER/fd/N`), which
 * disappears with the runner however it ends.
 */
export async function stage(
  options: TcpOptions,
  run: StageRun,
): Promise<Stage> {
  using stack = new DisposableStack();
  const portFile = stack.use(
    new UnnamedFile(tempDir(), {
      fail: (why) => new FileError(`cannot create the demo's port file in ${tempDir()}: ${why}`),
    }),
  );
  let hosts: TwoHosts | null = null;
  if (!options.loopback) {
    try {
      hosts = stack.use(await TwoHosts.create({ signal: run.signal }));
    } catch (error) {
      if (!(error instanceof NoNamespaces)) throw error;
      run.warn(
        `no two network hosts: ${error.message}; running both sides on ` +
          "this host, over loopback (127.0.0.1), instead",
      );
    }
  } else {
    run.say("--loopback: both sides run on this host and talk over loopback (127.0.0.1)");
  }
  if (hosts !== null) {
    const { a, b } = hosts;
    run.say(
      `made two network hosts: the network namespaces ${a.namespace} (the server's, ` +
        `${a.address}/24 on ${a.link}) and ${b.namespace} (the client's, ${b.address}/24 on ` +
        `${b.link}), joined by a veth pair, a virtual Ethernet cable; no route leads out`,
    );
    run.say(
      `to look at them while they exist: ip netns list; ip -n ${a.namespace} address; ` +
        `ip netns exec ${a.namespace} ss -tnp (they are removed when the demo ends; if the ` +
        `runner is killed, by its janitor, process ${hosts.janitor})`,
    );
  }
  const server = hosts?.a.address ?? "127.0.0.1";
  const launch = (role: "server" | "client", argv: string[]): string[] => {
    // The lesson's own options as the runner passes them, replaced by this stage's.
    const args = argv.filter((arg) => !/^--(host|port|port-file|loopback)(=|$)/.test(arg));
    args.push(`--host=${server}`, `--port-file=${portFile.procPath}`);
    if (hosts === null) return args;
    return hosts.exec(role === "server" ? hosts.a : hosts.b, args);
  };
  const taken = stack.move();
  return { launch, [Symbol.dispose]: () => taken.dispose() };
}
