/**
 * Break-it labs of the Unix-domain socket lesson: `deno task lesson:unix --break half-close`.
 * (The TCP lesson has the others: address-in-use, nagle.)
 *
 * @module
 */

import { join } from "node:path";
import * as libc from "../../transports/libc.ts";
import { connect, encodeAddress, listen, SOCK } from "../../transports/socket.ts";
import { sleep } from "../../transports/wait.ts";
import type { Lab } from "../_labs.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The code of a `LibcError` (ECONNREFUSED, …), or rethrows anything else. */
function codeOf(error: unknown): string {
  if (error instanceof libc.LibcError) return error.code;
  throw error;
}

/** The Unix-domain socket lesson's labs. */
export const labs: Lab[] = [
  {
    name: "connection-refused",
    summary:
      "connect() fails at once with ECONNREFUSED (or ENOENT) when no server listens: it does not wait for one",
    explanation: {
      cause:
        "connect() on a Unix-domain socket looks the path up and joins the listening socket bound there, then and only then. With no socket file it fails with ENOENT; with a socket file whose server has gone (a killed server leaves its file behind: closing a socket does not remove its name) it fails with ECONNREFUSED, at once. Nothing queues a client for a server that has not started, so a client started first simply fails. And the stale file also stops the next server: bind() there fails with EADDRINUSE.",
      fix:
        "a client that may start first tries again, with a pause and a deadline, as the lesson's client does (transports/socket.ts, connect with retry). A server removes its socket file when it stops (the lesson's Listener does, on every way out); a file left by a killed server is removed only once no process has it: deno task clean PATH checks that first. Unlinking the path blindly before bind() would also remove a live server's name.",
    },
    async run(lab) {
      const path = join(lab.dir, "server.sock");
      const address = { family: "unix", path } as const;

      lab.say("1. connect to a path where no server has ever been");
      lab.trace(true);
      let missing = "";
      try {
        (await connect(address)).close();
      } catch (error) {
        missing = codeOf(error);
      }
      lab.trace(false);

      lab.say(
        "2. a server binds and listens there, then dies without removing its socket file " +
          "(as kill -9 would leave it); a client connects",
      );
      lab.trace(true);
      const fd = libc.socket(SOCK.AF_UNIX, SOCK.STREAM | SOCK.CLOEXEC);
      libc.bind(fd, encodeAddress(address));
      libc.listen(fd, 1);
      libc.close(fd);
      let refused = "";
      try {
        (await connect(address)).close();
      } catch (error) {
        refused = codeOf(error);
      }
      lab.trace(false);
      if (missing !== "ENOENT" || refused !== "ECONNREFUSED") return false;
      lab.symptom(
        `connect() failed at once with ECONNREFUSED: the socket file ${path} is there, but no ` +
          "process listens on it (and with ENOENT before the file existed)",
      );

      lab.say("3. the file left behind also stops the next server: bind() fails with EADDRINUSE");
      lab.trace(true);
      const next = libc.socket(SOCK.AF_UNIX, SOCK.STREAM | SOCK.CLOEXEC);
      try {
        libc.bind(next, encodeAddress(address));
      } catch (error) {
        if (codeOf(error) !== "EADDRINUSE") throw error;
      } finally {
        libc.close(next);
      }
      lab.trace(false);

      lab.say(
        "4. the fix: the stale file is removed (nobody holds it), and the client tries again " +
          "until the server listens; here the server starts 300 ms after the client",
      );
      libc.unlink(path);
      const late = sleep(300, lab.signal).then(() => listen(address));
      using client = await connect(address, { retry: true, timeout: 5000, signal: lab.signal });
      using listener = await late;
      using accepted = await listener.accept({ timeout: 5000 });
      lab.say(
        `connected on a later try: client socket inode ${client.inode}, server's end ${accepted.inode}`,
      );
      return true;
    },
  },
  {
    name: "no-message-boundaries",
    summary:
      "a reader that takes one read() for one write() gets writes glued together, and one write in pieces",
    explanation: {
      cause:
        "a stream socket (SOCK_STREAM: Unix-domain or TCP) carries a stream of bytes, like a pipe, not a sequence of messages. The kernel appends every write to the receiver's queue, and read() returns whatever is there, up to the size asked for: three small writes made before the reader looks come out of one read(), and one large write comes out of several, as the receiver's buffer fills and empties. Over TCP the pieces also depend on the network.",
      fix:
        "give the stream a framing of your own: a length before each message (the reader reads 4 bytes, then exactly that many, looping until it has them), a delimiter such as a newline, or one message per connection, ended by shutdown(SHUT_WR) as the lesson's server does. Or use a socket type that keeps boundaries: SOCK_SEQPACKET or SOCK_DGRAM.",
    },
    async run(lab) {
      const address = { family: "unix", path: join(lab.dir, "stream.sock") } as const;
      const waits = { timeout: 5000, signal: lab.signal };
      using listener = listen(address, waits);
      using sender = await connect(address, waits);
      using receiver = await listener.accept();

      lab.say(
        '1. the sender writes three messages: "HELLO", "WORLD", "BYE"; then the reader reads',
      );
      lab.trace(true);
      for (const message of ["HELLO", "WORLD", "BYE"]) await sender.write(encoder.encode(message));
      const buf = new Uint8Array(64);
      const n = await receiver.read(buf);
      lab.trace(false);
      const got = decoder.decode(buf.subarray(0, n));
      if (got !== "HELLOWORLDBYE") return false;
      lab.symptom(
        `one read() returned ${n} bytes, "${got}": three writes glued together; a reader ` +
          'expecting "HELLO" first got all of it',
      );

      lab.say("2. the sender writes 1 MiB in one write(); the reader reads with a 1 MiB buffer");
      const big = new Uint8Array(1024 * 1024).fill(42);
      const sending = sender.write(big).then(() => sender.shutdown("write"));
      const whole = new Uint8Array(big.length);
      const pieces: number[] = [];
      for (let r; (r = await receiver.read(whole)) > 0;) pieces.push(r);
      await sending;
      if (pieces.length < 2) return false;
      lab.symptom(
        `one write() of 1 MiB came out of ${pieces.length} read()s, of ${
          pieces.slice(0, 4).join(", ")
        }${pieces.length > 4 ? ", …" : ""} bytes`,
      );

      lab.say(
        "3. the fix: a length before each message, and a reader that reads exactly that many",
      );
      using framed = await connect(address, waits);
      using framedReceiver = await listener.accept();
      for (const message of ["HELLO", "WORLD", "BYE"]) {
        const body = encoder.encode(message);
        const frame = new Uint8Array(4 + body.length);
        new DataView(frame.buffer).setUint32(0, body.length); // big-endian, as on the wire
        frame.set(body, 4);
        await framed.write(frame);
      }
      const messages: string[] = [];
      for (let i = 0; i < 3; i++) {
        const header = await readExactly(framedReceiver, 4);
        const length = new DataView(header.buffer).getUint32(0);
        messages.push(decoder.decode(await readExactly(framedReceiver, length)));
      }
      lab.say(
        `the reader got ${messages.length} messages: ${messages.map((m) => `"${m}"`).join(", ")}`,
      );
      return true;
    },
  },
  {
    name: "half-close",
    summary:
      "a request/response peer that never shuts down its write side waits for ever: the server waits for the end of the request",
    explanation: {
      cause:
        "a server that reads the whole request before answering (it sorts it, or hashes it: it cannot answer before the end) learns where the request ends only from end-of-file, a read() of 0. The client has sent everything and now waits for the answer, but it still holds its write side open, so the server's read() waits too: each waits for the other, for ever (here, until a 1 s timeout). close() would end the request, but also the client's way to read the answer.",
      fix:
        'half-close: after its last byte the client calls shutdown(fd, SHUT_WR). The server reads end-of-file, answers, and the client reads the answer on the read side, which stays open. The lesson\'s server does the same to say "that was all". (Or frame the request, with a length, so the server knows where it ends without end-of-file.)',
    },
    async run(lab) {
      const address = { family: "unix", path: join(lab.dir, "upper.sock") } as const;
      const waits = { timeout: 1000, signal: lab.signal };
      using listener = listen(address, waits);

      /** The server: reads the request to its end, answers it in capitals, closes. */
      const answer = async () => {
        using conn = await listener.accept();
        let request = "";
        const buf = new Uint8Array(256);
        for (let n; (n = await conn.read(buf)) > 0;) request += decoder.decode(buf.subarray(0, n));
        await conn.write(encoder.encode(request.toUpperCase()));
      };
      const buf = new Uint8Array(256);

      lab.say(
        '1. the client sends "hello, server" and waits for the answer, without shutting down ' +
          "its write side",
      );
      const serving = answer();
      // The client would wait longer than the server: the server's timeout ends the lab.
      using client = await connect(address, { ...waits, timeout: 5000 });
      lab.trace(true);
      await client.write(encoder.encode("hello, server"));
      lab.trace(false);
      const [server, reply] = await Promise.allSettled([serving, client.read(buf)]);
      if (server.status !== "rejected") return false;
      if (!(server.reason instanceof Deno.errors.TimedOut)) throw server.reason;
      const got = reply.status === "fulfilled" && reply.value === 0
        ? "end-of-file, with no answer, once the server gave up and closed"
        : "no answer";
      lab.symptom(
        "after 1 s the server was still waiting for the end of the request while the client " +
          `waited for the answer: the server's read() timed out; the client got ${got}`,
      );

      lab.say("2. the fix: the client calls shutdown(SHUT_WR) after its request");
      const servingAgain = answer();
      using second = await connect(address, waits);
      lab.trace(true);
      await second.write(encoder.encode("hello, server"));
      second.shutdown("write");
      let reply2 = "";
      for (let n; (n = await second.read(buf)) > 0;) reply2 += decoder.decode(buf.subarray(0, n));
      lab.trace(false);
      await servingAgain;
      lab.say(`the server read end-of-file and answered "${reply2}"; the read side stayed open`);
      return reply2 === "HELLO, SERVER";
    },
  },
];

/** Reads exactly `count` bytes: as many read()s as it takes. */
async function readExactly(
  conn: { read(buf: Uint8Array): Promise<number> },
  count: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const into = new Uint8Array(count);
  for (let got = 0; got < count;) {
    const n = await conn.read(into.subarray(got));
    if (n === 0) throw new Error(`the stream ended after ${got} of ${count} bytes`);
    got += n;
  }
  return into;
}
