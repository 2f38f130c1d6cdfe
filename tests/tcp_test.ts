/**
 * The TCP lesson: byte-exact copies on two network hosts (two namespaces and a veth pair) and
 * over loopback, without privilege (loopback, said in one line), both sides by hand in both start
 * orders, a `Deno.connect` client against the lesson's server, a side killed mid-transfer, a
 * runner killed with SIGKILL (clean removes its namespaces), bad input, and the break-it labs.
 * After each test no namespace, veth link or port file is left.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { commonBadCases, testBadInputs } from "./_bad_input.ts";
import { testLabs } from "./_labs.ts";
import {
  assertNoStackTrace,
  assertNothingLeftBehind,
  assertOneError,
  assertSameFile,
  filesIn,
  finishSide,
  lessonCommand,
  makeInput,
  readUntil,
  ROOT,
  runDemoJson,
  runLesson,
  runWrapped,
  startSide,
  testDir,
  textReader,
} from "./_helpers.ts";
import { STREAM_SIZES, testTransfers } from "./_transfers.ts";

const MiB = 1024 * 1024;

/** The names `ip netns list` shows. */
function namespaces(): string[] {
  const out = new Deno.Command("ip", { args: ["netns", "list"], stdout: "piped" }).outputSync();
  return new TextDecoder().decode(out.stdout).split("\n").map((line) => line.split(" ")[0]!)
    .filter(Boolean);
}

/**
 * This project's namespaces (`ipc-lesson-host-…`); those a runner with pid `maker` made, when
 * given (other demos, tests and benchmarks may run meanwhile).
 */
function ourNamespaces(maker?: number): string[] {
  return namespaces().filter((name) =>
    name.startsWith("ipc-lesson-host-") && (maker === undefined || name.includes(`-${maker}-`))
  );
}

/** The namespaces still there of the runner whose narration is `stderr` ("runner  4711 │ …"). */
function namespacesOfRunner(stderr: string): string[] {
  const pid = Number(stderr.match(/^runner +(\d+) /m)?.[1]);
  assert.ok(pid > 0, stderr);
  return ourNamespaces(pid);
}

/** The host's own links, by name. */
function hostLinks(): string[] {
  const out = new Deno.Command("ip", { args: ["-brief", "link"], stdout: "piped" }).outputSync();
  return new TextDecoder().decode(out.stdout).split("\n").map((line) => line.split(/[ @]/)[0]!)
    .filter(Boolean).sort();
}

/** A port that nothing listens on right now (the kernel's pick, released at once). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

// Two hosts (the default, as root) and loopback; the edge sizes of every stream.
testTransfers("tcp", [
  ...STREAM_SIZES.map((size) => ({ size })),
  ...[0, 1, 4097].map((size) => ({ size, chunk: 1 })),
  ...[4096, 65536, MiB].map((chunk) => ({ size: MiB + 13, chunk })),
  ...[0, 1, 65537, MiB + 13].map((size) => ({ size, args: ["--loopback"] })),
]);

testBadInputs("tcp", [
  ...commonBadCases({ tooLargeChunk: "65M" }),
  {
    name: "port out of range",
    args: ["server", "--port", "70000"],
    status: 2,
    message: /--port must be between 0 and 65535: got 70000/,
  },
  {
    name: "port not a number",
    args: ["client", "--port", "http", "--output", "{output}"],
    status: 2,
    message: /--port must be a whole number: got "http"/,
  },
  {
    name: "empty host",
    args: ["server", "--host="],
    status: 2,
    message: /--host needs an address or a host name/,
  },
  {
    name: "host that does not resolve",
    args: ["client", "--host", "no-such-host.invalid", "--port", "9", "--output", "{output}"],
    status: 1,
    message: /cannot resolve the host "no-such-host\.invalid": /,
  },
  {
    name: "server on an address this host does not have",
    args: ["server", "--host", "192.0.2.1"],
    status: 1,
    message:
      /cannot listen on 192\.0\.2\.1:0: bind failed with EADDRNOTAVAIL: no network interface/,
  },
  {
    name: "client without a port",
    args: ["client", "--output", "{output}"],
    status: 2,
    message: /the client needs the server's port: --port N .*, or --port-file PATH/,
  },
  {
    name: "client, nobody listens",
    args: ["client", "--port", String(freePort()), "--timeout", "0.5", "--output", "{output}"],
    status: 1,
    message: /nobody listened at 127\.0\.0\.1:\d+ within 0\.5 s \(connect: ECONNREFUSED/,
  },
  {
    name: "server, no client comes",
    args: ["server", "--timeout", "0.5"],
    status: 1,
    message: /no client connected to 127\.0\.0\.1:\d+ within 0\.5 s/,
  },
  {
    name: "port file that holds no port",
    args: ["client", "--port-file", "{dir}/port", "--output", "{output}"],
    status: 1,
    message: /the port file .*port holds "http", not a port/,
    setup: (dir: string) => Deno.writeTextFileSync(join(dir, "port"), "http\n"),
  },
  {
    name: "port file no server writes",
    args: ["client", "--port-file", "{dir}/port", "--timeout", "0.5", "--output", "{output}"],
    status: 1,
    message: /no server wrote its port into .*port within 0\.5 s/,
  },
  {
    name: "port file that another server wrote",
    args: ["server", "--port-file", "{dir}/port"],
    status: 1,
    message:
      /cannot write the port file .*port: it exists; remove it, or choose another --port-file \(a server killed with SIGKILL leaves its port file behind\)$/,
    setup: (dir: string) => Deno.writeTextFileSync(join(dir, "port"), "4711\n"),
  },
  {
    name: "--loopback for one side",
    args: ["server", "--loopback"],
    status: 2,
    message: /--loopback is not an option of the server/,
  },
  {
    name: "--port for the demo",
    args: ["--port", "5555"],
    status: 2,
    message: /--port is not an option of the demo/,
  },
]);

testLabs("tcp", {
  "connection-refused": /SYMPTOM: connect\(\) failed with ECONNREFUSED: nothing listens on/,
  "address-in-use": /SYMPTOM: bind\(\) failed with EADDRINUSE: nobody listens on port \d+, but/,
  "nagle": /SYMPTOM: with Nagle's algorithm each round trip took [\d.]+ ms/,
});

Deno.test("tcp: the demo runs on two network hosts, and removes them", async () => {
  const links = hostLinks();
  const run = await runLesson("tcp", ["--size", "1M"]);
  assert.equal(run.code, 0, run.stderr);
  const made = run.stderr.match(
    /network namespaces (ipc-lesson-host-a-\S+) \(the server's, 10\.200\.0\.1\/24 on veth-a\) and (ipc-lesson-host-b-\S+) \(the client's, 10\.200\.0\.2\/24/,
  );
  assert.ok(made, run.stderr);
  assert.match(run.stderr, /ip netns exec ipc-lesson-host-a-\S+ ss -tnp/);
  assert.match(
    run.stderr,
    /listening on 10\.200\.0\.1:\d+: I asked for port 0, and the kernel picked/,
  );
  assert.match(run.stderr, /accepted a connection from the client at 10\.200\.0\.2:\d+/);
  // The client's own host cannot see who listens on the other: it says so, and trusts the file.
  assert.match(
    run.stderr,
    /10\.200\.0\.1 is another host's address: this host cannot see who listens there/,
  );
  assert.match(run.stderr, /byte-exact copy: yes/);
  assert.ok(!namespaces().includes(made[1]!) && !namespaces().includes(made[2]!));
  assert.deepEqual(hostLinks(), links, "a link was left among the host's");
  assertNothingLeftBehind();
});

Deno.test("tcp: without privilege, one line says so and the demo runs over loopback", async () => {
  for (
    const wrapper of [
      ["unshare", "--user", "--map-current-user"],
      ["setpriv", "--inh-caps=-sys_admin", "--bounding-set=-sys_admin"],
    ]
  ) {
    const run = await runWrapped(wrapper, "tcp", ["--size", "100000"]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stderr.split("\n").filter((line) => line.includes("no two network hosts"));
    assert.equal(lines.length, 1, run.stderr);
    assert.match(
      lines[0]!,
      /no two network hosts: cannot create a network namespace, which takes root or CAP_SYS_ADMIN \(.+\); running both sides on this host, over loopback \(127\.0\.0\.1\), instead/,
    );
    assert.match(run.stderr, /listening on 127\.0\.0\.1:\d+/);
    assert.match(run.stderr, /byte-exact copy: yes/);
    assert.deepEqual(namespacesOfRunner(run.stderr), []);
  }
  assertNothingLeftBehind();
});

Deno.test("tcp: --loopback runs both sides on this host", async () => {
  const { run, result } = await runDemoJson("tcp", ["--loopback", "--size", "2M"]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(result.byteExact, true);
  const said = await runLesson("tcp", ["--loopback"]);
  assert.match(said.stderr, /--loopback: both sides run on this host and talk over loopback/);
  assert.doesNotMatch(said.stderr, /network namespaces/);
  assert.match(said.stderr, /accepted a connection from the client at 127\.0\.0\.1:\d+/);
  assert.match(said.stderr, /127\.0\.0\.1:\d+ is a listening socket of mine \(uid \d+/);
  assert.deepEqual(namespacesOfRunner(said.stderr), []);
});

for (const first of ["server", "client"] as const) {
  Deno.test(`tcp by hand: the ${first} starts first`, async () => {
    const dir = testDir(`tcp-by-hand-${first}`);
    const input = makeInput(join(dir, "input.bin"), 3 * MiB + 5);
    const output = join(dir, "output.bin");
    const port = String(freePort());
    const serverArgs = ["--port", port, "--input", input];
    const clientArgs = ["--port", port, "--output", output];
    let server, client;
    if (first === "server") {
      server = await startSide("tcp", "server", serverArgs, /waiting for a client/);
      client = await startSide("tcp", "client", clientArgs, /connecting to/);
    } else {
      // The client tries again while nobody listens: it says so once.
      client = await startSide("tcp", "client", clientArgs, /nothing listens on .* yet/);
      server = await startSide("tcp", "server", serverArgs, /listening on/);
    }
    const [s, c] = await Promise.all([finishSide(server), finishSide(client)]);
    assert.equal(s.status.code, 0, s.stderr);
    assert.equal(c.status.code, 0, c.stderr);
    assert.match(s.stderr, new RegExp(`listening on 127\\.0\\.0\\.1:${port}\\n`));
    assert.match(c.stderr, /end-of-file after 3\.00 MiB: the server has shut down its write side/);
    assertSameFile(output, input);
    Deno.removeSync(dir, { recursive: true });
  });
}

Deno.test("tcp by hand: port 0, the server says its port, and a port file", async () => {
  const dir = testDir("tcp-port-file");
  const input = makeInput(join(dir, "input.bin"), 100_001);
  const portFile = join(dir, "server.port");
  const server = await startSide(
    "tcp",
    "server",
    ["--input", input, "--port-file", portFile],
    /waiting for a client/,
  );
  const port = server.said.match(
    /listening on 127\.0\.0\.1:(\d+): I asked for port 0, and the kernel picked \1/,
  )?.[1];
  assert.ok(port, server.said);
  assert.match(
    server.said,
    new RegExp(`run: deno task lesson:tcp client --port ${port} --output copy\\.txt`),
  );
  assert.equal(Deno.readTextFileSync(portFile), `${port}\n`);
  assert.equal(Deno.statSync(portFile).mode! & 0o777, 0o600);
  const client = await runLesson("tcp", [
    "client",
    "--port-file",
    portFile,
    "--output",
    join(dir, "out.bin"),
  ]);
  assert.equal(client.code, 0, client.stderr);
  assert.match(
    client.stderr,
    new RegExp(`the port file names port ${port}: a server writes it there once it listens`),
  );
  assert.match(
    client.stderr,
    new RegExp(
      `127\\.0\\.0\\.1:${port} is a listening socket of mine \\(uid ${Deno.uid()}, inode \\d+, in ` +
        "/proc/net/tcp; ss -tlne shows it\\): the port file's port is a live server's",
    ),
  );
  const s = await finishSide(server);
  assert.equal(s.status.code, 0, s.stderr);
  assertSameFile(join(dir, "out.bin"), input);
  assert.deepEqual(filesIn(dir), ["input.bin", "out.bin"], "the server removed its port file");
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("tcp by hand: a Deno.connect client gets the same bytes from the lesson's server", async () => {
  const dir = testDir("tcp-deno-connect");
  const input = makeInput(join(dir, "input.bin"), 2 * MiB + 3);
  const server = await startSide("tcp", "server", ["--input", input], /waiting for a client/);
  const port = Number(server.said.match(/kernel picked (\d+)/)?.[1]);
  // The idiomatic Deno client of the README: Deno.connect, read to the end, close.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const chunks: Uint8Array[] = [];
  for await (const chunk of conn.readable) chunks.push(chunk);
  const received = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  chunks.reduce((at, c) => (received.set(c, at), at + c.length), 0);
  const s = await finishSide(server);
  assert.equal(s.status.code, 0, s.stderr);
  assert.deepEqual(received, Deno.readFileSync(input));
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("tcp by hand: the server killed mid-transfer: the client fails, and keeps no copy", async () => {
  const dir = testDir("tcp-server-killed");
  const input = makeInput(join(dir, "input.bin"), 64 * MiB);
  const output = join(dir, "output.bin");
  const port = String(freePort());
  const server = await startSide("tcp", "server", [
    "--port",
    port,
    "--input",
    input,
    "--kill-after",
    "server:4M",
    "--chunk",
    "64K",
  ], /waiting for a client/);
  const client = await runLesson("tcp", ["client", "--port", port, "--output", output]);
  const s = await finishSide(server);
  assert.equal(s.status.signal, "SIGKILL", s.stderr);
  assert.equal(client.code, 1, client.stderr);
  assertOneError(
    client,
    /the server exited after sending .* before the end: it reset the connection \(read failed with ECONNRESET: .*\); transfer incomplete/,
  );
  assertNoStackTrace(client);
  assert.deepEqual(filesIn(dir), ["input.bin"], "no copy, partial or whole");
  Deno.removeSync(dir, { recursive: true });
});

for (const janitorToo of [false, true]) {
  const what = janitorToo
    ? "the runner and its janitor killed with SIGKILL: clean removes the hosts"
    : "the runner killed with SIGKILL: its janitor removes the hosts at once";
  Deno.test(`tcp: ${what}`, async () => {
    const runner = lessonCommand("tcp", ["--size", "16M", "--chunk", "1"]).spawn();
    const stderr = textReader(runner.stderr);
    const said = await readUntil(stderr, /started the client as process \d+/, 30_000);
    const sides = [...said.matchAll(/started the (?:server|client) as process (\d+)/g)]
      .map((m) => Number(m[1]));
    const janitor = Number(said.match(/by its janitor, process (\d+)/)?.[1]);
    assert.ok(janitor > 0, said);
    if (janitorToo) Deno.kill(janitor, "SIGKILL");
    runner.kill("SIGKILL");
    await runner.status;
    await stderr.cancel();
    await runner.stdout.cancel();
    // The sides get SIGTERM from the kernel (their parent died) and exit.
    for (let waited = 0; [...sides, janitor].some(alive); waited += 50) {
      assert.ok(waited < 10_000, `processes ${sides}, ${janitor} still running`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (!janitorToo) {
      assert.deepEqual(ourNamespaces(runner.pid), [], "the janitor removed them");
      assertNothingLeftBehind();
      return;
    }
    const left = ourNamespaces(runner.pid);
    assert.equal(left.length, 2, `the two hosts stay: ${left}`);
    const clean = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(ROOT, "lessons/clean.ts")],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(clean.stdout);
    assert.equal(clean.code, 0, out);
    for (const name of left) assert.match(out, new RegExp(`removed +netns +/run/netns/${name}`));
    assert.deepEqual(ourNamespaces(runner.pid), []);
    assertNothingLeftBehind();
  });
}

Deno.test("tcp: Ctrl-C of the demo removes the hosts", async () => {
  const runner = lessonCommand("tcp", ["--size", "16M", "--chunk", "1"]).spawn();
  const stderr = textReader(runner.stderr);
  await readUntil(stderr, /started the client as process \d+/, 30_000);
  runner.kill("SIGINT");
  const status = await runner.status;
  await stderr.cancel();
  await runner.stdout.cancel();
  assert.equal(status.code, 130);
  assert.deepEqual(ourNamespaces(runner.pid), []);
  assertNothingLeftBehind();
});

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.charAt(stat.lastIndexOf(")") + 2) !== "Z";
  } catch {
    return false;
  }
}

Deno.test("tcp: one server, 8 clients at the same time, each a byte-exact copy", async () => {
  const { run, result } = await runDemoJson("tcp", ["--clients", "8", "--size", "3M"]);
  assert.equal(run.code, 0, run.stderr);
  const clients = (result as unknown as { clients: { byteExact: boolean; bytes: number }[] })
    .clients;
  assert.equal(clients.length, 8);
  for (const client of clients) {
    assert.equal(client.byteExact, true);
    assert.equal(client.bytes, 3 * MiB);
  }
  const said = await runLesson("tcp", ["--clients", "8", "--size", "100000", "--loopback"]);
  assert.equal(said.code, 0, said.stderr);
  assert.match(said.stderr, /served 8 clients, each a complete copy/);
  assert.match(said.stderr, /byte-exact copies: 8 of 8/);
  assertNothingLeftBehind();
});

Deno.test("tcp by hand: a client killed mid-transfer; the server serves the others, exits 0", async () => {
  const dir = testDir("tcp-client-killed");
  const input = makeInput(join(dir, "input.bin"), 24 * MiB);
  const port = String(freePort());
  const server = await startSide(
    "tcp",
    "server",
    ["--port", port, "--input", input, "--clients", "3"],
    /waiting for clients/,
  );
  const client = (n: number, extra: string[] = []) =>
    runLesson("tcp", ["client", "--port", port, "--output", join(dir, `out-${n}.bin`), ...extra]);
  const [one, killed, three] = await Promise.all([
    client(1),
    client(2, ["--kill-after", "client:1M"]),
    client(3),
  ]);
  const s = await finishSide(server);
  assert.equal(s.status.code, 1, s.stderr);
  assert.equal(killed.signal, "SIGKILL", killed.stderr);
  assert.equal(one.code, 0, one.stderr);
  assert.equal(three.code, 0, three.stderr);
  assert.match(
    s.stderr,
    /client #\d: it went away before the end, .*(write|read) failed with (ECONNRESET|EPIPE) .*; serving the others/,
  );
  assert.match(s.stderr, /error: served 3 clients: 2 complete; client #\d did not finish$/m);
  assertSameFile(join(dir, "out-1.bin"), input);
  assertSameFile(join(dir, "out-3.bin"), input);
  assert.deepEqual(filesIn(dir), ["input.bin", "out-1.bin", "out-3.bin"]);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("tcp by hand: --forever serves clients until Ctrl-C", async () => {
  const dir = testDir("tcp-forever");
  const input = makeInput(join(dir, "input.bin"), 70_000);
  const port = String(freePort());
  const server = await startSide(
    "tcp",
    "server",
    ["--port", port, "--input", input, "--forever"],
    /waiting for clients/,
  );
  for (const n of [1, 2, 3]) {
    const run = await runLesson("tcp", [
      "client",
      "--port",
      port,
      "--output",
      join(dir, `${n}.bin`),
    ]);
    assert.equal(run.code, 0, run.stderr);
    assertSameFile(join(dir, `${n}.bin`), input);
  }
  server.child.kill("SIGINT");
  const s = await finishSide(server);
  assert.equal(s.status.code, 130, s.stderr);
  assert.match(s.stderr, /interrupted by SIGINT/);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("tcp by hand: nc is a client of the lesson's server, and a server for its client", async () => {
  const dir = testDir("tcp-nc");
  const input = makeInput(join(dir, "input.bin"), 3 * MiB + 1);
  // nc as the client: -d, it sends nothing; it exits at end-of-file.
  const server = await startSide("tcp", "server", ["--input", input], /waiting for a client/);
  const port = server.said.match(/kernel picked (\d+)/)![1]!;
  const nc = await new Deno.Command("nc", {
    args: ["-d", "127.0.0.1", port],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(nc.code, 0, new TextDecoder().decode(nc.stderr));
  assert.equal((await finishSide(server)).status.code, 0);
  assert.deepEqual(nc.stdout, Deno.readFileSync(input));
  // nc as the server: -N shuts its write side down at the end of its input.
  const ncPort = String(freePort());
  const ncServer = new Deno.Command("sh", {
    args: ["-c", `exec nc -N -l -p ${ncPort} < "$1" > /dev/null`, "sh", input],
  }).spawn();
  const client = await runLesson("tcp", [
    "client",
    "--port",
    ncPort,
    "--output",
    join(dir, "from-nc.bin"),
  ]);
  assert.equal(client.code, 0, client.stderr);
  assert.equal((await ncServer.status).code, 0);
  assertSameFile(join(dir, "from-nc.bin"), input);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("tcp by hand: a port in use is refused with one line, and nothing is left", async () => {
  using busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = String((busy.addr as Deno.NetAddr).port);
  const dir = testDir("tcp-port-in-use");
  const run = await runLesson("tcp", ["server", "--port", port, "--port-file", join(dir, "port")]);
  assert.equal(run.code, 1, run.stderr);
  assertOneError(
    run,
    new RegExp(
      `cannot listen on 127\\.0\\.0\\.1:${port}: bind failed with EADDRINUSE: another socket ` +
        "is bound to that port already \\(ss -tlnp shows who\\); choose another --port, or 0",
    ),
  );
  assertNoStackTrace(run);
  assert.deepEqual(filesIn(dir), [], "no port file");
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("tcp by hand: IPv6, --host ::1 on both sides", async () => {
  const dir = testDir("tcp-ipv6");
  const input = makeInput(join(dir, "input.bin"), 100_000);
  const port = String(freePort());
  const server = await startSide(
    "tcp",
    "server",
    ["--host", "::1", "--port", port, "--input", input],
    /waiting for a client/,
  );
  assert.match(server.said, new RegExp(`listening on \\[::1\\]:${port}`));
  const client = await runLesson("tcp", [
    "client",
    "--host",
    "::1",
    "--port",
    port,
    "--output",
    join(dir, "copy.bin"),
  ]);
  assert.equal(client.code, 0, client.stderr);
  assert.equal((await finishSide(server)).status.code, 0);
  assertSameFile(join(dir, "copy.bin"), input);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("tcp by hand: a name no DNS server answers for: one line at --timeout; Ctrl-C at once", async () => {
  // A host of our own whose DNS server (127.0.0.2, in it) takes every question and answers none:
  // getaddrinfo would wait 2 x 30 s.
  const name = `tcp-test-dns-${Deno.pid}`;
  const etc = `/etc/netns/${name}`;
  const sh = (script: string) =>
    new Deno.Command("sh", { args: ["-c", script], stdout: "null", stderr: "null" }).outputSync();
  assert.equal(sh(`ip netns add ${name} && ip -n ${name} link set lo up`).success, true);
  Deno.mkdirSync(etc, { recursive: true });
  Deno.writeTextFileSync(
    `${etc}/resolv.conf`,
    "nameserver 127.0.0.2\noptions timeout:30 attempts:2\n",
  );
  const dns = new Deno.Command("ip", {
    args: ["netns", "exec", name, "socat", "-u", "UDP-RECV:53,bind=127.0.0.2", "/dev/null"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const dir = testDir("tcp-no-dns");
  try {
    const started = performance.now();
    const run = await runWrapped(["ip", "netns", "exec", name], "tcp", [
      "client",
      "--host",
      "example.org",
      "--port",
      "80",
      "--output",
      join(dir, "copy.bin"),
      "--timeout",
      "2",
    ]);
    assert.equal(run.code, 1, run.stderr);
    assertOneError(run, /cannot resolve the host "example\.org": no answer within 2 s/);
    assertNoStackTrace(run);
    assert.ok(performance.now() - started < 20_000, "it waited for getaddrinfo, not --timeout");
    // Ctrl-C while it waits: it stops at once.
    const child = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        name,
        Deno.execPath(),
        "run",
        "--quiet",
        "-A",
        join(ROOT, "lessons/tcp/main.ts"),
        "server",
        "--host",
        "example.org",
        "--timeout",
        "60",
      ],
      env: { NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = textReader(child.stderr);
    await readUntil(stderr, /I am the server/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const interrupted = performance.now();
    child.kill("SIGINT");
    assert.equal((await child.status).code, 130);
    assert.ok(performance.now() - interrupted < 10_000, "Ctrl-C waited for getaddrinfo");
    assert.deepEqual(filesIn(dir), []);
  } finally {
    dns.kill("SIGKILL");
    await dns.status;
    sh(`ip netns delete ${name}`);
    Deno.removeSync(etc, { recursive: true });
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("tcp by hand: a peer that sends and sends is dropped, not listened to for ever", async () => {
  const port = String(freePort());
  const server = await startSide("tcp", "server", ["--port", port], /waiting for a client/);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
  const junk = new Uint8Array(65536).fill(0x41);
  const flooding = (async () => {
    try {
      for (let i = 0; i < 100_000; i++) await conn.write(junk); // ~6 GiB, unless dropped
    } catch { /* reset by the server: what we want */ }
  })();
  const s = await finishSide(server);
  await flooding;
  conn.close();
  assert.equal(s.status.code, 1, s.stderr);
  assert.match(s.stderr, /client #1: it sent more than 4096 bytes .*not a client of this lesson/);
  assert.match(s.stderr, /error: served 1 client: 0 complete; client #1 did not finish$/m);
  assert.doesNotMatch(s.stderr, /serving the others/);
});

Deno.test("tcp by hand: --forever under a flood of connections stays up (64 at a time)", async () => {
  // 180 clients that connect and hold on, against a server allowed 256 descriptors: served all
  // at once they would take 360.
  const dir = testDir("tcp-flood");
  const port = String(freePort());
  const child = new Deno.Command("prlimit", {
    args: [
      "--nofile=256",
      Deno.execPath(),
      "run",
      "--quiet",
      "-A",
      join(ROOT, "lessons/tcp/main.ts"),
      "server",
      "--port",
      port,
      "--forever",
      "--timeout",
      "30",
    ],
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = textReader(child.stderr);
  let said = await readUntil(stderr, /waiting for clients/);
  const holders: Deno.TcpConn[] = [];
  try {
    const connecting = Array.from(
      { length: 180 },
      () => Deno.connect({ hostname: "127.0.0.1", port: Number(port) }),
    );
    holders.push(...await Promise.all(connecting));
    said += await readUntil(stderr, /serving 64 clients at once, the most I do/);
    for (const conn of holders.splice(0)) conn.close();
    const run = await runLesson("tcp", ["client", "--port", port, "--output", join(dir, "c")]);
    assert.equal(run.code, 0, run.stderr);
    assertSameFile(join(dir, "c"), join(ROOT, "lessons/sample.txt"));
  } finally {
    for (const conn of holders) conn.close();
    child.kill("SIGINT");
  }
  for (let r = await stderr.read(); !r.done; r = await stderr.read()) said += r.value;
  assert.equal((await child.status).code, 130, said);
  assert.doesNotMatch(said, /too many open files/i);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("tcp by hand: a port file that is a symbolic link or a FIFO is refused, at once", async () => {
  const dir = testDir("tcp-port-file-trap");
  Deno.chmodSync(dir, 0o1777); // a /tmp of its own: anyone may put things in it
  const victim = join(dir, "victim.conf");
  Deno.writeTextFileSync(victim, ""); // an empty file of ours, elsewhere
  // Another user (nobody) points a link at it, where the server is told to write its port.
  const link = join(dir, "tcp.port");
  const ln = new Deno.Command("setpriv", {
    args: ["--reuid=65534", "--regid=65534", "--clear-groups", "ln", "-s", victim, link],
  }).outputSync();
  assert.equal(ln.success, true, new TextDecoder().decode(ln.stderr));
  const server = await runLesson("tcp", ["server", "--port-file", link, "--timeout", "2"]);
  assert.equal(server.code, 1, server.stderr);
  assertOneError(
    server,
    new RegExp(`cannot write the port file ${link}: it is a symbolic link: refused`),
  );
  assertNoStackTrace(server);
  assert.equal(Deno.readTextFileSync(victim), "", "the server wrote through the link");
  // A FIFO: opening it to write, or reading it, would wait for ever.
  const fifo = join(dir, "fifo.port");
  new Deno.Command("mkfifo", { args: [fifo] }).outputSync();
  const started = performance.now();
  const s = await runLesson("tcp", ["server", "--port-file", fifo, "--timeout", "2"]);
  assert.equal(s.code, 1, s.stderr);
  assertOneError(s, /cannot write the port file .*: it exists and is not a regular file/);
  const c = await runLesson("tcp", [
    "client",
    "--port-file",
    fifo,
    "--output",
    join(dir, "copy"),
    "--timeout",
    "2",
  ]);
  assert.equal(c.code, 1, c.stderr);
  assertOneError(c, /cannot read the port file .*: it is not a regular file/);
  assert.ok(performance.now() - started < 20_000);
  assert.deepEqual(filesIn(dir), ["fifo.port", "tcp.port", "victim.conf"]);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test({
  name: "tcp client: a port file of another user is refused: its port could be anyone's server",
  ignore: Deno.uid() !== 0,
  async fn() {
    const dir = testDir("tcp-port-file-owner");
    const portFile = join(dir, "server.port");
    Deno.writeTextFileSync(portFile, "47997\n");
    Deno.chownSync(portFile, 65534, 65534); // as if user nobody had written it first
    const output = join(dir, "copy.bin");
    const run = await runLesson("tcp", ["client", "--port-file", portFile, "--output", output]);
    assert.equal(run.code, 1, run.stderr);
    assertOneError(
      run,
      /cannot read the port file .*server\.port: it belongs to another user \(uid 65534\), not to you \(uid 0\): the port in it could be anyone's server; refusing it/,
    );
    assert.deepEqual(filesIn(dir), ["server.port"]);
    Deno.removeSync(dir, { recursive: true });
  },
});

/** Runs `argv` as user nobody (65534), with no supplementary groups. */
function asNobody(argv: string[], options: Omit<Deno.CommandOptions, "args"> = {}): Deno.Command {
  return new Deno.Command("setpriv", {
    args: ["--reuid=65534", "--regid=65534", "--clear-groups", ...argv],
    ...options,
  });
}

Deno.test({
  name: "tcp client: a port file left by a killed server, its port now another user's: refused",
  ignore: Deno.uid() !== 0,
  async fn() {
    const dir = testDir("tcp-stale-port-file");
    const portFile = join(dir, "server.port");
    const output = join(dir, "copy.bin");
    // A server killed with SIGKILL: nothing can remove its port file.
    const server = await startSide(
      "tcp",
      "server",
      ["--port-file", portFile, "--timeout", "30"],
      /waiting for a client/,
    );
    server.child.kill("SIGKILL");
    const s = await finishSide(server);
    assert.equal(s.status.signal, "SIGKILL");
    const port = Number(Deno.readTextFileSync(portFile));
    assert.ok(port > 0);
    // Another user takes the port, free again, and waits for whoever trusts the file.
    const socat = asNobody([
      "socat",
      `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`,
      "SYSTEM:echo DATA FROM USER NOBODY; sleep 0.5",
    ], { stdout: "null", stderr: "null" }).spawn();
    try {
      for (let waited = 0; !listening(port, 65534); waited += 50) {
        assert.ok(waited < 10_000, `socat does not listen on port ${port}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const run = await runLesson("tcp", [
        "client",
        "--port-file",
        portFile,
        "--output",
        output,
        "--timeout",
        "5",
      ]);
      assert.equal(run.code, 1, run.stderr);
      assertOneError(
        run,
        new RegExp(
          `error: nothing of yours listens on port ${port} \\(the port file ${portFile} may have ` +
            "been left behind by a server that is gone, and another user's program may listen " +
            "there\\)$",
        ),
      );
      assertNoStackTrace(run);
      assert.doesNotMatch(run.stderr, /connecting to/);
      assert.deepEqual(filesIn(dir), ["server.port"], "no copy, not even an empty one");
      // And the user's own new server, told the same path, refuses the stale file in one line.
      const again = await runLesson("tcp", ["server", "--port-file", portFile, "--timeout", "1"]);
      assert.equal(again.code, 1, again.stderr);
      assertOneError(
        again,
        /cannot write the port file .*server\.port: it exists; remove it, or choose another --port-file \(a server killed with SIGKILL leaves its port file behind\)$/,
      );
      assert.equal(Deno.readTextFileSync(portFile), `${port}\n`, "the stale file, untouched");
    } finally {
      socat.kill("SIGKILL");
      await socat.status;
    }
    Deno.removeSync(dir, { recursive: true });
  },
});

/** Whether user `uid` has a socket listening on 127.0.0.1:`port` (as ss -tlne shows). */
function listening(port: number, uid: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  return Deno.readTextFileSync("/proc/net/tcp").split("\n").some((line) => {
    const f = line.trim().split(/\s+/);
    return f[1] === `0100007F:${hex}` && f[3] === "0A" && f[7] === String(uid);
  });
}

Deno.test("tcp server: a --port-file that exists, even empty, is refused and left untouched", async () => {
  const dir = testDir("tcp-port-file-exists");
  // What mktemp gives: an empty file of ours; and a hard link to another file of ours.
  const empty = join(dir, "empty.port");
  Deno.writeTextFileSync(empty, "");
  const important = join(dir, "important");
  Deno.writeTextFileSync(important, "");
  const link = join(dir, "link.port");
  Deno.linkSync(important, link);
  const before = filesIn(dir);
  for (const path of [empty, link]) {
    const { ino } = Deno.statSync(path);
    const run = await runLesson("tcp", ["server", "--port-file", path, "--timeout", "5"]);
    assert.equal(run.code, 1, run.stderr);
    assertOneError(
      run,
      new RegExp(
        `error: cannot write the port file ${path}: it exists; remove it, or choose another ` +
          "--port-file \\(a server killed with SIGKILL leaves its port file behind\\)$",
      ),
    );
    assertNoStackTrace(run);
    assert.doesNotMatch(run.stderr, /waiting for a client/, "it refused at once");
    const after = Deno.statSync(path);
    assert.equal(after.size, 0, `${path} was written into`);
    assert.equal(after.ino, ino, `${path} was replaced`);
  }
  assert.equal(Deno.statSync(important).size, 0, "written into through the hard link");
  assert.deepEqual(filesIn(dir), before, "nothing else was created");
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("tcp server: its port file is removed after a copy, an error and Ctrl-C", async () => {
  const dir = testDir("tcp-port-file-removed");
  const portFile = join(dir, "server.port");
  // A copy, by hand: the server writes the file, the client reads it; then it is gone.
  const server = await startSide(
    "tcp",
    "server",
    ["--port-file", portFile],
    /waiting for a client/,
  );
  assert.equal(Deno.statSync(portFile).mode! & 0o777, 0o600);
  const client = await runLesson("tcp", [
    "client",
    "--port-file",
    portFile,
    "--output",
    join(dir, "copy.txt"),
  ]);
  assert.equal(client.code, 0, client.stderr);
  assert.equal((await finishSide(server)).status.code, 0);
  assertSameFile(join(dir, "copy.txt"), join(ROOT, "lessons/sample.txt"));
  assert.deepEqual(filesIn(dir), ["copy.txt"], "the port file is gone after a copy");
  // An error: no client comes within --timeout.
  const timedOut = await runLesson("tcp", ["server", "--port-file", portFile, "--timeout", "1"]);
  assert.equal(timedOut.code, 1, timedOut.stderr);
  assertOneError(timedOut, /no client connected to 127\.0\.0\.1:\d+ within 1 s/);
  assert.match(timedOut.stderr, /waiting for a client/, "it did write its port file");
  assert.deepEqual(filesIn(dir), ["copy.txt"], "the port file is gone after an error");
  // Ctrl-C while it waits for a client.
  const waiting = await startSide(
    "tcp",
    "server",
    ["--port-file", portFile],
    /waiting for a client/,
  );
  assert.ok(filesIn(dir).includes("server.port"));
  waiting.child.kill("SIGINT");
  assert.equal((await finishSide(waiting)).status.code, 130);
  assert.deepEqual(filesIn(dir), ["copy.txt"], "the port file is gone after Ctrl-C");
  Deno.removeSync(dir, { recursive: true });
});
