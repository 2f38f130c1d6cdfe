/**
 * Two network hosts (transports/netns.ts): made with `ip`, reachable only from each other,
 * removed on every way out; a maker killed with SIGKILL leaves them to `deno task clean`, which
 * never removes what a live run holds or runs in; without privilege, nothing is made and the
 * reason is one line.
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { findLeftovers } from "./leftovers.ts";
import { namespaceLeftovers, NoNamespaces, TwoHosts } from "./netns.ts";

const NETNS = new URL("./netns.ts", import.meta.url).href;
const CLEAN = fileURLToPath(new URL("../lessons/clean.ts", import.meta.url));

/** The output of a command line, and whether it succeeded. */
function run(argv: string[]): { success: boolean; stdout: string; stderr: string } {
  const out = new Deno.Command(argv[0]!, { args: argv.slice(1), stdout: "piped", stderr: "piped" })
    .outputSync();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { success: out.success, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** The names `ip netns list` shows. */
function namespaces(): string[] {
  return run(["ip", "netns", "list"]).stdout.split("\n").map((line) => line.split(" ")[0]!)
    .filter(Boolean);
}

/** The host's own links (`ip -brief link`), by name. */
function hostLinks(): string[] {
  return run(["ip", "-brief", "link"]).stdout.split("\n").map((line) => line.split(/[ @]/)[0]!)
    .filter(Boolean).sort();
}

/** Our leftovers among `names`, with their holders. */
function found(names: string[]): [string, readonly number[]][] {
  const report = findLeftovers([namespaceLeftovers], { prefix: "ipc-lesson-", dir: "/tmp" });
  return report.found.filter((object) => names.includes(object.name!))
    .map((object): [string, readonly number[]] => [object.name!, object.holders])
    .sort(([x], [y]) => x.localeCompare(y));
}

/** A process that makes two hosts, prints their names, and waits to be killed. */
async function maker(): Promise<{ child: Deno.ChildProcess; names: string[]; janitor: number }> {
  const code = `import { TwoHosts } from "${NETNS}";
    const hosts = await TwoHosts.create();
    console.log(JSON.stringify([hosts.a.namespace, hosts.b.namespace, hosts.janitor]));
    setInterval(() => {}, 1000);`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the maker exited before saying its namespaces");
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    await reader.cancel(); // nothing more to read
  }
  const [a, b, janitor] = JSON.parse(text);
  return { child, names: [a, b], janitor };
}

Deno.test("netns: two hosts on one cable, reachable only from each other, then gone", async () => {
  const linksBefore = hostLinks();
  const hosts = await TwoHosts.create();
  try {
    assert.ok(namespaces().includes(hosts.a.namespace));
    assert.ok(namespaces().includes(hosts.b.namespace));
    assert.match(hosts.a.namespace, /^ipc-lesson-host-a-\d+-[0-9a-f]{6}$/);
    assert.equal(hosts.b.namespace, hosts.a.namespace.replace("-host-a-", "-host-b-"));
    // The cable never shows among the host's own links.
    assert.deepEqual(hostLinks(), linksBefore);
    for (const host of [hosts.a, hosts.b]) {
      const addresses = run(["ip", "-n", host.namespace, "-brief", "address"]).stdout;
      assert.match(addresses, new RegExp(`^${host.link}@\\S+ +UP +${host.address}/24`, "m"));
      // One route: to the /24 on the cable. No default route: nothing can leave.
      const routes = run(["ip", "-n", host.namespace, "route"]).stdout.trim().split("\n");
      assert.deepEqual(routes.map((route) => route.split(" ")[0]), ["10.200.0.0/24"]);
    }
    // ip netns exec runs a program in a host: it sees that host's links only.
    const seen = run(hosts.exec(hosts.b, ["ip", "-brief", "link"])).stdout;
    assert.match(seen, /^veth-b@/m);
    assert.doesNotMatch(seen, /veth-a|eth0/);
    // This process holds both (a descriptor each): in use, by us.
    const names = [hosts.a.namespace, hosts.b.namespace];
    assert.deepEqual(found(names).map(([, holders]) => holders), [[Deno.pid], [Deno.pid]]);
  } finally {
    hosts.remove();
  }
  assert.ok(!namespaces().includes(hosts.a.namespace));
  assert.ok(!namespaces().includes(hosts.b.namespace));
  assert.deepEqual(hostLinks(), linksBefore);
  hosts.remove(); // twice is harmless
});

Deno.test("netns: a maker killed with SIGKILL: its janitor removes them at once", async () => {
  const { child, names } = await maker();
  assert.deepEqual(namespaces().filter((name) => names.includes(name)).sort(), [...names].sort());
  child.kill("SIGKILL");
  await child.status;
  for (let waited = 0; namespaces().some((name) => names.includes(name)); waited += 20) {
    assert.ok(waited < 5000, "the janitor did not remove them");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.deepEqual(found(names), []);
});

Deno.test("netns: maker and janitor killed: clean removes them, and spares live ones", async () => {
  const { child, names, janitor } = await maker();
  const [a, b] = names as [string, string];
  try {
    await killedMaker(child, janitor, a, b);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    for (const name of names) {
      if (namespaces().includes(name)) run(["ip", "netns", "delete", name]);
    }
  }
});

/** The story of a maker killed with SIGKILL (see the test above). */
async function killedMaker(
  child: Deno.ChildProcess,
  janitor: number,
  a: string,
  b: string,
): Promise<void> {
  const names = [a, b];
  // The maker runs: it holds them. clean leaves them alone.
  assert.deepEqual(found(names).map(([, holders]) => holders), [[child.pid], [child.pid]]);
  const spared = run([Deno.execPath(), "run", "-A", CLEAN]);
  assert.equal(spared.success, true, spared.stderr);
  assert.match(spared.stdout, new RegExp(`in use +netns +/run/netns/${a} +\\(held by`));
  assert.ok(namespaces().includes(a) && namespaces().includes(b));

  // The janitor is killed first (as by kill -9 of the whole session): nothing removes them.
  Deno.kill(janitor, "SIGKILL");
  child.kill("SIGKILL");
  await child.status;
  // A process running inside host b keeps it in use, though its maker has gone.
  const inside = new Deno.Command("ip", {
    args: ["netns", "exec", b, "sleep", "30"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    for (let i = 0; i < 100 && found([b])[0]?.[1].length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(found(names), [[a, []], [b, [inside.pid]]]);
    const once = run([Deno.execPath(), "run", "-A", CLEAN]);
    assert.equal(once.success, true, once.stderr);
    assert.match(once.stdout, new RegExp(`removed +netns +/run/netns/${a}`));
    assert.match(
      once.stdout,
      new RegExp(`in use +netns +/run/netns/${b} +\\(held by process ${inside.pid}\\)`),
    );
    assert.ok(!namespaces().includes(a));
    assert.ok(namespaces().includes(b));
  } finally {
    inside.kill("SIGKILL");
    await inside.status;
  }
  // Nobody left: clean NAME removes it by its name.
  const named = run([Deno.execPath(), "run", "-A", CLEAN, b]);
  assert.equal(named.success, true, named.stderr);
  assert.match(named.stdout, new RegExp(`removed +netns +/run/netns/${b}`));
  assert.deepEqual(found(names), []);
  assert.ok(!namespaces().includes(b));
}

Deno.test("netns: without the privilege, nothing is made and the reason is one line", () => {
  const code = `import { TwoHosts, NoNamespaces } from "${NETNS}";
    console.error(Deno.pid); // its namespaces would be named after it
    try { using hosts = await TwoHosts.create(); console.log("made"); }
    catch (error) { console.log(error instanceof NoNamespaces ? "NoNamespaces: " + error.message : String(error)); }`;
  for (
    const wrapper of [
      ["unshare", "--user", "--map-current-user"],
      ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"],
    ]
  ) {
    const out = run([...wrapper, Deno.execPath(), "eval", code]);
    assert.equal(out.success, true, out.stderr);
    assert.match(
      out.stdout,
      /^NoNamespaces: cannot create a network namespace, which takes root or CAP_SYS_ADMIN \(.*(not permitted|Permission denied).*\)\n$/,
    );
    // Nothing made (other tests may make namespaces meanwhile: only this one's names count).
    const pid = out.stderr.trim();
    assert.match(pid, /^\d+$/);
    assert.deepEqual(namespaces().filter((name) => name.includes(`-${pid}-`)), []);
  }
  assert.equal(new NoNamespaces("x").name, "NoNamespaces");
});

Deno.test("netns: clean never removes a namespace that is not one the lesson made", () => {
  // The README's by-hand names (ipc-lesson-host-a), a made-looking name holding someone else's
  // link, and (removed) a made-looking name whose maker has gone and that holds nothing else.
  const tag = Array.from(crypto.getRandomValues(new Uint8Array(3)), (b) => b.toString(16))
    .join("").padEnd(6, "0");
  const byHand = `ipc-lesson-host-a-byhand${tag}`;
  const foreign = `ipc-lesson-host-b-4194999-${tag}`; // beyond pid_max: no such maker
  const stale = `ipc-lesson-host-a-4194999-${tag}`;
  try {
    for (const name of [byHand, foreign, stale]) {
      assert.equal(run(["ip", "netns", "add", name]).success, true);
    }
    const link = run(["ip", "-n", foreign, "link", "add", "other0", "type", "veth", "peer", "x1"]);
    assert.equal(link.success, true, link.stderr);
    assert.deepEqual(found([byHand, foreign, stale]), [[stale, []]]);
    for (const name of [byHand, foreign]) {
      const named = run([Deno.execPath(), "run", "-A", CLEAN, name]);
      assert.doesNotMatch(named.stdout, /removed/);
    }
    // (clean by name: a whole clean would also touch other tests' objects.)
    const clean = run([Deno.execPath(), "run", "-A", CLEAN, stale]);
    assert.equal(clean.success, true, clean.stderr);
    assert.match(clean.stdout, new RegExp(`removed +netns +/run/netns/${stale}`));
    assert.ok(namespaces().includes(byHand) && namespaces().includes(foreign));
    assert.ok(!namespaces().includes(stale));
  } finally {
    for (const name of [byHand, foreign, stale]) {
      if (namespaces().includes(name)) run(["ip", "netns", "delete", name]);
    }
  }
});

Deno.test("netns: a maker killed while `ip netns add` still runs: its janitor removes that one too", async () => {
  // An `ip` slowed down by a second, as by a loaded machine: the maker is killed while it runs,
  // the janitor wakes at once, and only then does that `ip` make the namespace.
  const dir = Deno.makeTempDirSync();
  const realIp = run(["sh", "-c", "command -v ip"]).stdout.trim();
  Deno.writeTextFileSync(
    `${dir}/ip`,
    // It leaves a mark once it has made the namespace: the janitor may remove the namespace
    // within milliseconds, too soon for a look at `ip netns list` to catch it.
    `#!/bin/sh\nif [ "$1 $2" = "netns add" ]; then\n  sleep 1\n  ${realIp} "$@" && touch "${dir}/made"\n` +
      `  exit\nfi\nexec ${realIp} "$@"\n`,
    { mode: 0o755 },
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", `import { TwoHosts } from "${NETNS}"; await TwoHosts.create();`],
    env: { PATH: `${dir}:${Deno.env.get("PATH")}` },
    stdout: "null",
    stderr: "null",
  }).spawn();
  const mine = () => namespaces().filter((name) => name.includes(`-${child.pid}-`));
  try {
    // Wait until the slowed `ip netns add` runs (a child of the maker), then kill the maker.
    for (let waited = 0;; waited += 20) {
      const children = run(["pgrep", "-P", String(child.pid), "-f", `${dir}/ip netns add`]);
      if (children.stdout.trim() !== "") break;
      assert.ok(waited < 10_000, "the maker never ran ip netns add");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill("SIGKILL");
    await child.status;
    // The orphaned ip makes it about a second later; the janitor's later rounds remove it.
    let seen = false;
    for (let waited = 0; waited < 6000; waited += 50) {
      seen ||= mine().length > 0 || existsSync(`${dir}/made`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(seen, "the orphaned ip netns add never made its namespace (the test proves nothing)");
    assert.deepEqual(mine(), []);
  } finally {
    for (const name of mine()) run(["ip", "netns", "delete", name]);
    Deno.removeSync(dir, { recursive: true });
  }
});
