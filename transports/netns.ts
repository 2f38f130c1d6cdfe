/**
 * Two computers on one network, inside this one: two Linux **network namespaces** joined by a
 * **veth pair**, a virtual Ethernet cable.
 *
 * A network namespace is a private copy of the network stack: its own interfaces, addresses,
 * routes, ports and sockets. A process started in one (`ip netns exec NAME program`) sees only
 * that copy, just as a program on another computer sees only that computer's network. A veth
 * pair is two interfaces joined back to back: what one sends, the other receives. Put one end
 * in each namespace, give each an address in one private /24, and the two namespaces are two
 * hosts on one Ethernet segment:
 *
 *     ┌ ipc-lesson-host-a-… ──────┐    veth pair     ┌ ipc-lesson-host-b-… ──────┐
 *     │ server  10.200.0.1/24     ├──────────────────┤ client  10.200.0.2/24     │
 *     │ (veth-a, lo)              │                  │ (veth-b, lo)              │
 *     └───────────────────────────┘                  └───────────────────────────┘
 *
 * The commands are the ones a person types (`ip netns add`, `ip link add … type veth peer …`,
 * `ip addr add`, `ip link set … up`): {@linkcode TwoHosts.create} runs them and says which.
 *
 * **Traffic never leaves them.** The cable is born inside the namespaces (`ip link add veth-a
 * netns A type veth peer name veth-b netns B` creates each end directly in its namespace), so no
 * link ever shows in the host's own `ip link`, and each namespace has one route, to the /24 on
 * its cable: no default route, no way out. Deleting a namespace destroys its end of the cable,
 * and a veth pair dies with either end: removing the two namespaces removes everything.
 *
 * **Nothing is left behind.** The namespaces are named `ipc-lesson-host-a-PID-XXXXXX` (and `-b-`)
 * after the process that made them, which holds each open (a descriptor on `/run/netns/NAME`)
 * until it removes them, on every way out ({@linkcode TwoHosts} is `Disposable`). A process killed
 * with SIGKILL cannot, so before making anything it starts a **janitor**: a small shell process,
 * in a session of its own, that waits for end-of-file on a pipe whose only write end the maker
 * holds. The kernel closes that end when the maker dies, however it dies; the janitor then
 * deletes the two namespaces and exits. (On a normal way out the maker deletes them itself,
 * then writes `removed` into the pipe.) Should the janitor be killed too,
 * {@linkcode namespaceLeftovers} lets `deno task clean` find what is left, and remove only
 * namespaces named as the maker names them, holding nothing but what it puts in them, that nobody
 * holds, nobody runs in, and whose maker has gone.
 *
 * Creating namespaces needs privilege (root, or CAP_SYS_ADMIN and CAP_NET_ADMIN): without it,
 * {@linkcode TwoHosts.create} throws {@linkcode NoNamespaces}, with the system's reason in one
 * line, having made nothing, and the caller falls back to loopback.
 *
 * @example
 * ```ts ignore
 * // Needs root.
 * import { TwoHosts } from "./netns.ts";
 * using hosts = await TwoHosts.create();
 * const argv = hosts.exec(hosts.a, ["ip", "-brief", "address"]); // run inside host a
 * ```
 *
 * @module
 */

import { basename } from "node:path";
import { identityOf, isRunning } from "./holders.ts";
import {
  type Identity,
  Leftover,
  LeftoverFinder,
  type LeftoverKind,
  lstatOrNull,
  mine,
  namesIn,
  type ProcessTable,
} from "./leftovers.ts";
import * as libc from "./libc.ts";
import { createPipe, type PipeEnd, spawnWithStdin } from "./pipe.ts";
import { sleep } from "./wait.ts";

/** Where `ip netns add NAME` puts a namespace's name: a file, with the namespace mounted on it. */
export const NETNS_DIR = "/run/netns";

/** The prefix of the namespaces' names: `ipc-lesson-host-a-4711-3f9a2c`. */
export const HOST_PREFIX = "ipc-lesson-host-";

/** The private network on the cable: one /24, used only inside the two namespaces. */
export const NETWORK = { cidr: "10.200.0.0/24", prefixLength: 24 } as const;

/** One of the two hosts: a network namespace with one end of the cable. */
export interface NetworkHost {
  /** The namespace's name, for `ip netns exec NAME …`: `ipc-lesson-host-a-4711-3f9a2c`. */
  readonly namespace: string;
  /** Its address on the cable: `10.200.0.1`. */
  readonly address: string;
  /** Its end of the veth pair: `veth-a`. */
  readonly link: string;
}

/** Two network hosts cannot be made here (no privilege, no `ip`): the reason, in one line. */
export class NoNamespaces extends Error {
  override name = "NoNamespaces";
}

/** How a listing and a sentence call a namespace (see `leftovers.ts`). */
const NETWORK_NAMESPACE: LeftoverKind = {
  label: "netns",
  noun: "network namespace",
  plural: "network namespaces",
  atAnyPath: false,
};

/** One `ip` command: resolves to its output, or throws with its first line of complaint. */
async function ip(args: string[], stdin?: string): Promise<string> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("ip", {
      args,
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new NoNamespaces("the ip command (iproute2) is not installed");
    }
    throw error;
  }
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const { success, stdout, stderr } = await child.output();
  if (!success) throw new Error(`ip ${args.join(" ")}: ${firstLine(stderr)}`);
  return new TextDecoder().decode(stdout);
}

/** How long a new veth link may take to come up. */
const LINK_UP_MS = 5000;

/** Waits until `host`'s end of the cable is up (`ip -n NS link show dev LINK`: state UP). */
async function untilUp(host: NetworkHost, signal?: AbortSignal): Promise<void> {
  const deadline = performance.now() + LINK_UP_MS;
  for (;;) {
    const shown = await ip(["-n", host.namespace, "-oneline", "link", "show", "dev", host.link]);
    if (/ state UP /.test(shown)) return;
    if (performance.now() > deadline) {
      throw new Error(`the link ${host.link} in ${host.namespace} did not come up within 5 s`);
    }
    await sleep(10, signal);
  }
}

/** What the maker writes to its janitor once it has removed the namespaces itself. */
const REMOVED = "removed\n";

/**
 * The janitor of namespaces `names`: `sh` waits (`read`) on its stdin, a pipe whose write end
 * only this process holds (close-on-exec: no child inherits it). A line `removed`: the maker
 * removed them, nothing to do. End-of-file: the maker died, and the janitor deletes them; again
 * after 1 and 3 s, for an `ip netns add` the maker had started but not seen finish (that `ip`
 * lives on, and makes its namespace after the maker's death). Returns the write end (see
 * {@linkcode TwoHosts.remove}) and the janitor's pid.
 */
function startJanitor(names: string[]): { pipe: PipeEnd; pid: number } {
  const { readEnd, writeEnd } = createPipe();
  try {
    const script = 'read -r word; [ "$word" = removed ] && exit 0; for pause in 0 1 2; do ' +
      'sleep $pause; for name in "$@"; do ip netns delete "$name" 2>/dev/null; done; done';
    const child = spawnWithStdin(
      new Deno.Command("setsid", {
        args: ["sh", "-c", script, "janitor", ...names],
        stdin: "inherit",
        stdout: "null",
        stderr: "null",
      }),
      readEnd,
    );
    child.unref(); // it outlives our event loop's interest: it ends when we do
    child.status.catch(() => {}); // (reaped by Deno when it exits)
    return { pipe: writeEnd, pid: child.pid };
  } catch (error) {
    writeEnd.close();
    if (error instanceof Deno.errors.NotFound) {
      throw new NoNamespaces("setsid or sh is not installed");
    }
    throw error;
  } finally {
    readEnd.close();
  }
}

/** Tells the janitor on `pipe` that the namespaces are removed already: it exits at once. */
function dismiss(pipe: PipeEnd): void {
  try {
    libc.write(pipe.fd, new TextEncoder().encode(REMOVED));
  } catch { /* the janitor was killed: nobody to tell */ }
  pipe.close();
}

/** `ip netns delete NAME`, synchronously (a `Disposable` cannot wait). */
function deleteNamespace(name: string): void {
  const { success, stderr } = new Deno.Command("ip", {
    args: ["netns", "delete", name],
    stdout: "null",
    stderr: "piped",
  }).outputSync();
  if (!success) throw new Error(`ip netns delete ${name}: ${firstLine(stderr)}`);
}

/** The first line of a command's complaint. */
function firstLine(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes).trim().split("\n")[0] || "failed";
}

/**
 * Two network hosts joined by a cable: namespace `a` (the server's, `10.200.0.1`) and `b` (the
 * client's, `10.200.0.2`). Removed by `dispose` (a `using` declaration): the namespaces, and with
 * them the cable.
 */
export class TwoHosts implements Disposable {
  /** The first host (the server's). */
  readonly a: NetworkHost;
  /** The second host (the client's). */
  readonly b: NetworkHost;
  /** The `ip` commands that made them, in order, as a person would type them. */
  readonly commands: readonly string[];
  /** The janitor's pid: it deletes the namespaces should this process die without doing so. */
  readonly janitor: number;
  /** Descriptors on `/run/netns/NAME`: "in use, by me" for `deno task clean`. */
  #held: number[];
  /** The write end of the janitor's pipe: closing it (or dying) wakes the janitor. */
  #janitorPipe: PipeEnd;
  #removed = false;

  private constructor(
    a: NetworkHost,
    b: NetworkHost,
    commands: string[],
    held: number[],
    janitor: { pipe: PipeEnd; pid: number },
  ) {
    this.a = a;
    this.b = b;
    this.commands = commands;
    this.#held = held;
    this.#janitorPipe = janitor.pipe;
    this.janitor = janitor.pid;
  }

  /**
   * Makes the two hosts: two namespaces, the cable between them, an address and `up` on each
   * end (and on each host's loopback). Throws {@linkcode NoNamespaces} when this process may not
   * create namespaces (having made nothing); on any other failure, or when `signal` is aborted
   * meanwhile, removes what it made before throwing.
   */
  static async create(options: { signal?: AbortSignal } = {}): Promise<TwoHosts> {
    const random = crypto.getRandomValues(new Uint8Array(3));
    const id = `${Deno.pid}-${Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("")}`;
    const a = { namespace: `${HOST_PREFIX}a-${id}`, address: "10.200.0.1", link: "veth-a" };
    const b = { namespace: `${HOST_PREFIX}b-${id}`, address: "10.200.0.2", link: "veth-b" };
    const made: string[] = [];
    const held: number[] = [];
    const commands: string[] = [];
    // First the janitor: from the first namespace on, our death removes them.
    const janitor = startJanitor([a.namespace, b.namespace]);
    const run = async (args: string[], stdin?: string) => {
      options.signal?.throwIfAborted();
      commands.push(
        stdin === undefined
          ? `ip ${args.join(" ")}`
          : stdin.trim().split("\n").map((line) => `ip ${args.slice(0, 2).join(" ")} ${line}`)
            .join("; "),
      );
      return await ip(args, stdin);
    };
    try {
      for (const host of [a, b]) {
        try {
          await run(["netns", "add", host.namespace]);
        } catch (error) {
          // Out of descriptors (ulimit -n) is this process's limit, not a lack of rights.
          const emfile = /\(os error 24\)/.test(String(error));
          if (made.length > 0 || error instanceof NoNamespaces || emfile) throw error;
          // The very first step failed: nothing was made. Why, in the system's words.
          const why = (error as Error).message.replace(/^ip netns add \S+: /, "");
          throw new NoNamespaces(
            `cannot create a network namespace, which takes root or CAP_SYS_ADMIN (${why})`,
          );
        }
        made.push(host.namespace);
        // Hold it from now on: the kernel's "in use" for deno task clean.
        held.push(libc.open(`${NETNS_DIR}/${host.namespace}`, libc.O.RDONLY | libc.O.CLOEXEC));
      }
      // The cable, each end born in its namespace: it never appears among the host's links.
      await run([
        "link",
        "add",
        a.link,
        "netns",
        a.namespace,
        "type",
        "veth",
        "peer",
        "name",
        b.link,
        "netns",
        b.namespace,
      ]);
      for (const host of [a, b]) {
        await run(
          ["-n", host.namespace, "-batch", "-"],
          `address add ${host.address}/${NETWORK.prefixLength} dev ${host.link}\n` +
            `link set ${host.link} up\nlink set lo up\n`,
        );
      }
      // The kernel brings a veth link up (carrier, "state UP") a moment after both ends are
      // set up; a connection attempted before would see its first packet dropped, and TCP
      // resends it only a second later. So wait for it.
      for (const host of [a, b]) await untilUp(host, options.signal);
      return new TwoHosts(a, b, commands, held, janitor);
    } catch (error) {
      for (const fd of held) libc.close(fd);
      for (const name of made.reverse()) {
        try {
          deleteNamespace(name);
        } catch { /* the first error is the one to report */ }
      }
      dismiss(janitor.pipe); // (no `ip` of ours runs any more: nothing to sweep for)
      throw error;
    }
  }

  /**
   * The command line that runs `argv` on `host`: `ip netns exec NAME argv…`. (`ip` enters the
   * namespace and then becomes the program with exec: the process it starts is the program.)
   *
   * @example
   * ```ts ignore
   * hosts.exec(hosts.a, ["ss", "-tln"]); // ["ip", "netns", "exec", "ipc-lesson-host-a-…", "ss", "-tln"]
   * ```
   */
  exec(host: NetworkHost, argv: string[]): string[] {
    return ["ip", "netns", "exec", host.namespace, ...argv];
  }

  /** Whether {@linkcode remove} has run. */
  get removed(): boolean {
    return this.#removed;
  }

  /**
   * Removes both namespaces (`ip netns delete`), and with them the cable. A process still
   * running in one keeps its namespace alive, nameless, until it exits: nothing stays behind.
   */
  remove(): void {
    if (this.#removed) return;
    this.#removed = true;
    for (const fd of this.#held.splice(0)) libc.close(fd);
    const failures: string[] = [];
    for (const host of [this.a, this.b]) {
      try {
        deleteNamespace(host.namespace);
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
    // Gone: the janitor may go too.
    dismiss(this.#janitorPipe);
    if (failures.length > 0) throw new Error(failures.join("; "));
  }

  [Symbol.dispose](): void {
    this.remove();
  }
}

// ---------------------------------------------------------------------------------------------
// Leftovers: the namespaces of runs killed before they could remove them
// ---------------------------------------------------------------------------------------------

/**
 * The names {@linkcode TwoHosts.create} gives: `ipc-lesson-host-a-4711-3f9a2c`. Any other name,
 * even with the prefix (`ipc-lesson-host-a`, which the README's by-hand commands make), is not
 * this project's to remove.
 */
const MADE_NAME = /^ipc-lesson-host-[ab]-(\d+)-[0-9a-f]{6}$/;

/** The pid in a namespace's name (`ipc-lesson-host-a-4711-3f9a2c`: 4711), or null. */
function makerOf(name: string): number | null {
  const pid = Number(name.match(MADE_NAME)?.[1]);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

/**
 * Whether namespace `name` holds nothing but what {@linkcode TwoHosts.create} puts in one: `lo`
 * and an end of the cable (`veth-a`, `veth-b`). A namespace with any other interface in it was
 * made, or changed, by something else: not ours to remove. (`ip -n NAME -oneline link show`.)
 */
function onlyOursIn(name: string): boolean {
  let output: Deno.CommandOutput;
  try {
    output = new Deno.Command("ip", {
      args: ["-n", name, "-oneline", "link", "show"],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
  } catch {
    return false; // no ip: cannot tell, so not ours
  }
  if (!output.success) return false;
  const links = new TextDecoder().decode(output.stdout).split("\n").filter(Boolean)
    .map((line) => line.match(/^\d+: ([^:@\s]+)/)?.[1] ?? "?");
  return links.every((link) => link === "lo" || link === "veth-a" || link === "veth-b");
}

/** The processes whose network namespace is `identity` (they run in it). */
function processesIn(identity: Identity): number[] {
  const pids: number[] = [];
  for (const entry of namesIn("/proc", "")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      if (identityOf(Deno.statSync(`/proc/${pid}/ns/net`)) === identity) pids.push(pid);
    } catch { /* gone, or not ours to look at */ }
  }
  return pids;
}

/**
 * A namespace found in `/run/netns`. It is in use while a process holds it open (the run that
 * made it does, until it removes it), while any process runs in it, or while the process named
 * in its name runs: between `ip netns add` and opening it, that run holds it by nothing else, and
 * a pid that the kernel has since given to another process only keeps it a little longer.
 */
class NamespaceLeftover extends Leftover {
  readonly #identity: Identity;

  constructor(name: string, info: Deno.FileInfo) {
    const path = `${NETNS_DIR}/${name}`;
    const identity = identityOf(info);
    super({
      kind: NETWORK_NAMESPACE,
      path,
      name,
      uid: info.uid,
      identity,
      identityNow: () => {
        const now = lstatOrNull(path);
        return now === null ? null : identityOf(now);
      },
      remove: () => deleteNamespace(name),
    });
    this.#identity = identity;
  }

  override heldBy(table: ProcessTable): number[] {
    const holders = new Set([...table.holdersOf(this.#identity), ...processesIn(this.#identity)]);
    const maker = makerOf(this.name!);
    if (maker !== null && maker !== Deno.pid && isRunning(maker)) holders.add(maker);
    return [...holders].sort((x, y) => x - y);
  }
}

/**
 * The network namespaces of this project (`/run/netns/ipc-lesson-host-…`), for `deno task
 * clean`: by prefix, or one by its name (`ipc-lesson-host-a-4711-3f9a2c`) or its path. Removing
 * one removes its end of the cable, and so the cable.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findLeftovers } from "./leftovers.ts";
 * import { namespaceLeftovers } from "./netns.ts";
 * const { found } = findLeftovers([namespaceLeftovers], { name: "no-such-netns", cwd: "/" });
 * assert.deepEqual(found, []);
 * ```
 */
export const namespaceLeftovers: LeftoverFinder = new LeftoverFinder(
  [NETWORK_NAMESPACE],
  (query, report) => {
    let names: string[];
    if ("prefix" in query) {
      names = namesIn(NETNS_DIR, query.prefix).filter((name) => MADE_NAME.test(name));
    } else {
      const name = query.name.startsWith(`${NETNS_DIR}/`) ? basename(query.name) : query.name;
      names = MADE_NAME.test(name) ? [name] : [];
    }
    for (const name of names) {
      const info = lstatOrNull(`${NETNS_DIR}/${name}`);
      if (info === null || !mine(info.uid) || !onlyOursIn(name)) continue;
      report.found.push(new NamespaceLeftover(name, info));
    }
  },
);
