/**
 * Unit tests of `socket.ts`: addresses byte by byte, waits that time out or are aborted,
 * half-close and hang-up, passing descriptors, TCP over loopback, and socket files that are
 * in use or left behind.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as libc from "./libc.ts";
import { findLeftovers } from "./leftovers.ts";
import {
  connect,
  decodeAddress,
  encodeAddress,
  formatAddress,
  listen,
  resolveHost,
  SOCK,
  socketLeftovers,
  socketPathState,
} from "./socket.ts";

const encoder = new TextEncoder();

Deno.test("socket: struct sockaddr_un, sockaddr_in and sockaddr_in6, byte by byte", () => {
  const unix = encodeAddress({ family: "unix", path: "/tmp/a.sock" });
  assert.equal(unix.length, 110);
  assert.deepEqual([...unix.subarray(0, 4)], [1, 0, 0x2f, 0x74]); // AF_UNIX, "/t"
  assert.equal(unix[2 + "/tmp/a.sock".length], 0); // the terminating NUL
  assert.deepEqual(decodeAddress(unix), { family: "unix", path: "/tmp/a.sock" });

  const inet = encodeAddress({ family: "inet", host: "10.1.2.3", port: 443 });
  assert.deepEqual([...inet], [2, 0, 1, 0xbb, 10, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0]);

  const inet6 = encodeAddress({ family: "inet6", host: "fe80::1:2", port: 80 });
  assert.equal(inet6.length, 28);
  assert.deepEqual([...inet6.subarray(0, 4)], [10, 0, 0, 80]);
  assert.deepEqual([...inet6.subarray(8, 10)], [0xfe, 0x80]);
  assert.deepEqual([...inet6.subarray(20, 24)], [0, 1, 0, 2]);
  assert.deepEqual(decodeAddress(inet6), { family: "inet6", host: "fe80::1:2", port: 80 });
  assert.equal(
    formatAddress(decodeAddress(encodeAddress({ family: "inet6", host: "::", port: 1 }))),
    "[::]:1",
  );

  // An abstract name is as long as it is: no NUL, no padding.
  const abstract = encodeAddress({ family: "unix", path: "\0name" });
  assert.equal(abstract.length, 2 + 5);
  assert.equal(formatAddress(decodeAddress(abstract)), "@name");
});

Deno.test("socket: sun_path holds 107 bytes and a NUL; ports 0–65535; addresses checked", () => {
  const at107 = "/" + "x".repeat(106);
  assert.equal(encodeAddress({ family: "unix", path: at107 }).length, 110);
  assert.throws(
    () => encodeAddress({ family: "unix", path: at107 + "x" }),
    /is 108 bytes long, but sun_path in struct sockaddr_un holds 108 bytes with the terminating NUL/,
  );
  // Bytes, not characters: "é" is two.
  assert.throws(() => encodeAddress({ family: "unix", path: "/" + "é".repeat(54) }), /109 bytes/);
  assert.throws(() => encodeAddress({ family: "unix", path: "" }), /must not be empty/);
  assert.throws(
    () => encodeAddress({ family: "inet", host: "127.0.0.1", port: 65536 }),
    /port 65536 is out of range: a TCP port is 0–65535/,
  );
  assert.throws(
    () => encodeAddress({ family: "inet", host: "127.0.0.1", port: -1 }),
    /out of range/,
  );
  assert.throws(() => encodeAddress({ family: "inet", host: "256.0.0.1", port: 1 }), /not an IPv4/);
  assert.throws(() => encodeAddress({ family: "inet", host: "localhost", port: 1 }), /not an IPv4/);
  assert.throws(() => encodeAddress({ family: "inet6", host: "1::2::3", port: 1 }), /not an IPv6/);
  assert.throws(() => socketPathState("/" + "x".repeat(200)), /sun_path/);
});

Deno.test("socket: resolveHost finds loopback, and names one that does not resolve", async () => {
  assert.deepEqual(await resolveHost("localhost", 7, "inet"), [
    { family: "inet", host: "127.0.0.1", port: 7 },
  ]);
  await assert.rejects(
    resolveHost("no-such-host.invalid", 7),
    (error: Error) =>
      error instanceof Deno.errors.NotFound &&
      /cannot resolve the host "no-such-host\.invalid": /.test(error.message),
  );
});

Deno.test("socket: connect without a listener fails at once; with retry, it times out", async () => {
  const dir = Deno.makeTempDirSync();
  const address = { family: "unix", path: join(dir, "nobody.sock") } as const;
  await assert.rejects(connect(address), /connect failed: ENOENT/);
  let refusals = 0;
  const started = performance.now();
  await assert.rejects(
    connect(address, { retry: true, timeout: 300, onRefused: () => refusals++ }),
    (error: Error) =>
      error instanceof Deno.errors.TimedOut &&
      /nobody listened at .*nobody\.sock within 0\.3 s \(connect: ENOENT, No such file/.test(
        error.message,
      ),
  );
  assert.ok(performance.now() - started >= 250);
  assert.equal(refusals, 1, "told once");
  // TCP: a port nobody listens on is refused (the SO_ERROR of the handshake).
  const port = (() => {
    using probe = listen({ family: "inet", host: "127.0.0.1", port: 0 });
    return (probe.address as { port: number }).port;
  })();
  await assert.rejects(
    connect({ family: "inet", host: "127.0.0.1", port }),
    (error: Error) => error instanceof libc.LibcError && error.code === "ECONNREFUSED",
  );
  Deno.removeSync(dir);
});

Deno.test("socket: accept times out, and an AbortSignal ends any wait at once", async () => {
  const dir = Deno.makeTempDirSync();
  const path = join(dir, "s.sock");
  {
    using listener = listen({ family: "unix", path }, { timeout: 200 });
    await assert.rejects(listener.accept(), /no client connected to .*s\.sock within 0\.2 s/);
    const controller = new AbortController();
    const waiting = listener.accept({ timeout: 60_000, signal: controller.signal });
    setTimeout(() => controller.abort(new Error("stop now")), 50);
    const started = performance.now();
    await assert.rejects(waiting, /stop now/);
    assert.ok(performance.now() - started < 1000, "ended within a park slice or two");
  }
  assert.equal(socketPathState(path).state, "free", "the listener removed its socket file");
  Deno.removeSync(dir);
});

Deno.test("socket: half-close keeps the other way open; close is POLLHUP, shutdown is not", async () => {
  const dir = Deno.makeTempDirSync();
  using listener = listen({ family: "unix", path: join(dir, "s.sock") }, { timeout: 5000 });
  using client = await connect(listener.address, { timeout: 5000 });
  using server = await listener.accept();
  const buf = new Uint8Array(16);

  server.shutdown("write");
  assert.equal(await client.read(buf), 0, "end-of-file");
  assert.equal(client.peerHasClosed(), false, "only the write side was shut down");
  await client.write(encoder.encode("still here"));
  assert.equal(await server.read(buf), 10, "the other direction is open");
  await assert.rejects(server.write(encoder.encode("x")), /EPIPE/); // its own write side is shut

  server.close();
  assert.equal(client.peerHasClosed(), true, "a close (or a death) hangs up");
  await assert.rejects(client.write(encoder.encode("x")), /EPIPE|ECONNRESET/);
  listener.close();
  Deno.removeSync(dir);
});

Deno.test("socket: a stalled reader makes the writer time out; the peer's credentials", async () => {
  const dir = Deno.makeTempDirSync();
  using listener = listen({ family: "unix", path: join(dir, "s.sock") }, { timeout: 300 });
  using client = await connect(listener.address, { timeout: 300 });
  using server = await listener.accept();
  assert.deepEqual(server.peerCredentials(), {
    pid: Deno.pid,
    uid: Deno.uid(),
    gid: Deno.gid(),
  });
  assert.deepEqual(client.peerAddress, listener.address);
  assert.deepEqual(server.peerAddress, { family: "unix", path: "" }, "a client is unnamed");
  // Nobody reads: the buffers fill, and the write waits for room until its timeout.
  await assert.rejects(
    server.write(new Uint8Array(16 * 1024 * 1024)),
    /took no data for 0\.3 s: the connection stayed full/,
  );
  listener.close();
  Deno.removeSync(dir);
});

Deno.test("socket: SCM_RIGHTS passes open files; extra descriptors are dropped and said", async () => {
  const dir = Deno.makeTempDirSync();
  using listener = listen({ family: "unix", path: join(dir, "s.sock") }, { timeout: 5000 });
  using client = await connect(listener.address, { timeout: 5000 });
  using server = await listener.accept();
  const file = join(dir, "data");
  Deno.writeTextFileSync(file, "abcdef");
  const fds = [0, 1].map(() => libc.open(file, libc.O.RDONLY | libc.O.CLOEXEC));
  fds.push(libc.open(file, libc.O.RDONLY | libc.O.CLOEXEC));
  await server.sendFds(fds, encoder.encode("FF")); // three descriptors
  const buf = new Uint8Array(8);
  const got = await client.receiveFds(buf, 1); // room for one only
  assert.equal(got.truncated, true);
  assert.equal(got.fds.length, 1);
  assert.ok(!fds.includes(got.fds[0]!), "a new descriptor number");
  const inode = (fd: number) => Deno.statSync(`/proc/self/fd/${fd}`).ino;
  assert.equal(inode(got.fds[0]!), inode(fds[0]!));
  // The same open file: reading through one moves the other's offset.
  const three = new Uint8Array(3);
  assert.equal(libc.read(got.fds[0]!, three), 3);
  assert.equal(libc.read(fds[0]!, three), 3);
  assert.equal(new TextDecoder().decode(three), "def");
  // The received descriptor is close-on-exec (MSG_CMSG_CLOEXEC).
  assert.equal(libc.fcntl(got.fds[0]!, 1 /* F_GETFD */) & 1, 1);
  for (const fd of [...fds, got.fds[0]!]) libc.close(fd);
  listener.close();
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("socket: TCP over loopback: port 0, SO_REUSEADDR, TCP_NODELAY, bytes both ways", async () => {
  using listener = listen({ family: "inet", host: "127.0.0.1", port: 0 }, { timeout: 5000 });
  assert.equal(libc.getsockoptInt(listener.fd, SOCK.SOL_SOCKET, SOCK.SO_REUSEADDR), 1);
  const address = listener.address;
  assert.ok(address.family === "inet" && address.port > 0);
  using client = await connect(address, { timeout: 5000 });
  using server = await listener.accept();
  assert.equal(client.noDelay, false);
  client.noDelay = true;
  assert.equal(client.noDelay, true);
  const data = crypto.getRandomValues(new Uint8Array(65536));
  const sending = client.write(data).then(() => client.shutdown("write"));
  const got: number[] = [];
  const buf = new Uint8Array(4096);
  for (let n; (n = await server.read(buf)) > 0;) got.push(...buf.subarray(0, n));
  await sending;
  assert.deepEqual(new Uint8Array(got), data);
  await server.write(encoder.encode("ok"));
  assert.equal(await client.read(buf), 2);
  // Over TCP the kernel knows no peer process.
  assert.deepEqual(server.peerCredentials(), { pid: 0, uid: 4294967295, gid: 4294967295 });
});

Deno.test("socket: socket files in use, and left behind, as deno task clean sees them", () => {
  const dir = Deno.makeTempDirSync();
  const live = join(dir, "ipc-lesson-live.sock"), stale = join(dir, "ipc-lesson-stale.sock");
  using _listener = listen({ family: "unix", path: live });
  const fd = libc.socket(SOCK.AF_UNIX, SOCK.STREAM | SOCK.CLOEXEC);
  libc.bind(fd, encodeAddress({ family: "unix", path: stale }));
  libc.close(fd); // the socket is gone; its file stays
  Deno.writeTextFileSync(join(dir, "ipc-lesson-plain"), "not a socket");

  assert.deepEqual(socketPathState(live), { state: "listening", holders: [Deno.pid] });
  assert.deepEqual(socketPathState(stale), { state: "stale", uid: Deno.uid() });
  assert.deepEqual(socketPathState(join(dir, "ipc-lesson-plain")), {
    state: "not-a-socket",
    kind: "a regular file",
  });
  assert.deepEqual(socketPathState(join(dir, "none", "x.sock")), { state: "no-directory" });

  const { found } = findLeftovers([socketLeftovers], { prefix: "ipc-lesson-", dir });
  const byPath = Object.fromEntries(found.map((object) => [object.path, object]));
  assert.deepEqual(Object.keys(byPath).sort(), [live, stale].sort(), "sockets only");
  assert.deepEqual(byPath[live]!.holders, [Deno.pid]);
  assert.deepEqual(byPath[stale]!.holders, []);
  assert.deepEqual(byPath[stale]!.recheck(), []);
  byPath[stale]!.remove();
  assert.equal(byPath[stale]!.recheck(), null, "gone");
  _listener.close();
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("socket: a listener is found whatever its path holds: spaces, tabs, a relative name", () => {
  const dir = Deno.makeTempDirSync();
  // /proc/net/unix prints the path as bind got it: two spaces and a tab must stay as they are.
  const spaced = join(dir, "a  b\tc.sock");
  using _spaced = listen({ family: "unix", path: spaced });
  assert.deepEqual(socketPathState(spaced), { state: "listening", holders: [Deno.pid] });
  // A server that bound "rel.sock" from its directory: the table shows only "rel.sock", so this
  // file may be its; it must not look left behind.
  const cwd = Deno.cwd();
  Deno.chdir(dir);
  let relative;
  try {
    relative = listen({ family: "unix", path: "ipc-lesson-rel.sock" });
  } finally {
    Deno.chdir(cwd);
  }
  using _relative = relative;
  assert.deepEqual(socketPathState(join(dir, "ipc-lesson-rel.sock")), {
    state: "unknown",
    why: 'a socket is bound to the relative name "ipc-lesson-rel.sock"',
  });
  // deno task clean sees it held by this process, and leaves it alone.
  const { found } = findLeftovers([socketLeftovers], { name: "ipc-lesson-rel.sock", cwd: dir });
  assert.deepEqual(found.map((object) => object.holders), [[Deno.pid]]);
  _spaced.close();
  _relative.close();
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("socket: a socket file whose path has a line break is never called stale", () => {
  const dir = Deno.makeTempDirSync();
  const path = join(dir, "nl\nx.sock");
  const unknown = {
    state: "unknown",
    why: "its path has a line break, and /proc/net/unix lists one socket a line",
  };
  {
    // Listening: /proc/net/unix shows it on two lines, so it cannot be found there.
    using _listener = listen({ family: "unix", path });
    assert.deepEqual(socketPathState(path), unknown);
  }
  // Left behind: still unknown; nothing here can tell it from one in use.
  const fd = libc.socket(SOCK.AF_UNIX, SOCK.STREAM | SOCK.CLOEXEC);
  libc.bind(fd, encodeAddress({ family: "unix", path }));
  libc.close(fd);
  assert.deepEqual(socketPathState(path), unknown);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("socket: a listener leaves alone a socket file that is no longer its own", () => {
  const dir = Deno.makeTempDirSync();
  const path = join(dir, "s.sock");
  const listener = listen({ family: "unix", path });
  // Someone removes the name and binds another socket there.
  libc.unlink(path);
  using other = listen({ family: "unix", path });
  listener.close();
  assert.equal(socketPathState(path).state, "listening", "the other one's file is still there");
  other.close();
  assert.equal(socketPathState(path).state, "free");
  Deno.removeSync(dir);
});

Deno.test("socket: a Unix listener's full backlog: connect waits, then times out, and says why", async () => {
  const dir = Deno.makeTempDirSync();
  using listener = listen({ family: "unix", path: join(dir, "s.sock") }, { backlog: 1 });
  const clients = [];
  let refused: Error | null = null;
  for (let i = 0; i < 8 && refused === null; i++) {
    try {
      clients.push(await connect(listener.address, { timeout: 200 })); // nobody accepts
    } catch (error) {
      refused = error as Error;
    }
  }
  assert.ok(refused instanceof Deno.errors.TimedOut, String(refused));
  assert.match(
    refused.message,
    /within 0\.2 s \(its backlog stayed full: the server accepts no connections\)/,
  );
  assert.ok(clients.length >= 1, "the backlog took some");
  for (const client of clients) client.close();
  listener.close();
  Deno.removeSync(dir);
});

Deno.test("listen: the socket file is born with its mode (umask around bind), no chmod after", () => {
  const dir = Deno.makeTempDirSync();
  const before = Deno.umask(0); // the most permissive umask: bind alone would make it 0777
  // No chmod after bind: it follows a symbolic link swapped in for the socket file meanwhile.
  const chmodSync = Deno.chmodSync;
  Deno.chmodSync = () => {
    throw new Error("listen() must not chmod the path: it would follow a swapped-in link");
  };
  try {
    for (const mode of [undefined, 0o660]) {
      const path = `${dir}/m${mode ?? ""}.sock`;
      using _listener = listen({ family: "unix", path }, mode === undefined ? {} : { mode });
      assert.equal(Deno.lstatSync(path).mode! & 0o777, mode ?? 0o600);
      assert.equal(Deno.umask(0), 0, "the umask is put back after bind");
    }
  } finally {
    Deno.chmodSync = chmodSync;
    Deno.umask(before);
    Deno.removeSync(dir, { recursive: true });
  }
});

// Found by review: a server bound at "/tmp/T/./s.sock" (or through a linked directory) was
// "stale" at "/tmp/T/s.sock", and deno task clean removed its live socket file.
Deno.test("socket: a listener is found under any spelling of its path", () => {
  const dir = Deno.makeTempDirSync();
  const link = `${dir}-link`;
  Deno.symlinkSync(dir, link);
  const spellings = [
    `${dir}/./dot.sock`,
    `/${dir}/double.sock`,
    `${dir}/sub/../up.sock`,
    `${link}/linked.sock`,
  ];
  Deno.mkdirSync(join(dir, "sub"));
  for (const bound of spellings) {
    using _listener = listen({ family: "unix", path: bound });
    const plain = join(dir, bound.slice(bound.lastIndexOf("/") + 1));
    assert.deepEqual(socketPathState(plain), { state: "listening", holders: [Deno.pid] }, bound);
    const { found } = findLeftovers([socketLeftovers], { name: plain, cwd: dir });
    assert.deepEqual(found.map((object) => object.holders), [[Deno.pid]], bound);
  }
  Deno.removeSync(link);
  Deno.removeSync(dir, { recursive: true });
});

// Found by review: a socket file renamed (or hard-linked) while its server listens is named by
// no entry of /proc/net/unix, and deno task clean removed it as stale.
Deno.test("socket: a listener's file renamed or linked since bind is in use, not stale", () => {
  const dir = Deno.makeTempDirSync();
  const bound = join(dir, "bound.sock");
  using _listener = listen({ family: "unix", path: bound });
  const moved = join(dir, "ipc-lesson-moved.sock");
  Deno.renameSync(bound, moved);
  const linked = join(dir, "ipc-lesson-linked.sock");
  Deno.linkSync(moved, linked);
  for (const path of [moved, linked]) {
    assert.deepEqual(socketPathState(path), { state: "listening", holders: [] }, path);
    const named = findLeftovers([socketLeftovers], { name: path, cwd: dir });
    assert.deepEqual(named.found, [], path);
    assert.match(named.problems.join("\n"), /a server answers on it, though it bound another name/);
  }
  const listed = findLeftovers([socketLeftovers], { prefix: "ipc-lesson-", dir });
  assert.deepEqual(listed.found, []);
  assert.equal(listed.notes.length, 2);
  _listener.close();
  // Its server gone, the same files are stale: connect(2) is refused.
  assert.deepEqual(socketPathState(moved), { state: "stale", uid: Deno.uid() });
  Deno.removeSync(dir, { recursive: true });
});
