/**
 * The second process of the TCP lesson's `nagle` lab: a request/response server. `labs.ts`
 * starts it; it is not meant to be run by hand.
 *
 *     deno run -A lessons/tcp/lab_peer.ts SIZE
 *
 * It listens on 127.0.0.1, port 0, prints the port the kernel picked on stdout, and serves one
 * connection after another: until end-of-file, it reads a whole request of SIZE bytes and
 * answers with SIZE bytes, what a small RPC server does. It never sets TCP_NODELAY itself: the lab
 * changes only the client.
 *
 * (In another process, not in the lab's own, because a wait of the lab's client would hold the
 * one thread that this server would need to answer, and distort the very delays it measures.)
 *
 * @module
 */

import { type Connection, listen } from "../../transports/socket.ts";

/** How long the peer waits for anything before it gives up, in ms. */
const PATIENCE_MS = 10_000;

/** Serves request/response round trips of `size` bytes on one connection. */
async function serve(size: number): Promise<void> {
  using listener = listen({ family: "inet", host: "127.0.0.1", port: 0 }, {
    timeout: PATIENCE_MS,
    backlog: 1,
  });
  const port = listener.address.family === "inet" ? listener.address.port : 0;
  console.log(port);
  // One connection after another, until the lab stops us (or nobody comes for a while).
  for (;;) {
    using connection = await listener.accept();
    await answer(connection, size);
  }
}

/** Answers each whole request of `size` bytes on `connection`, until end-of-file. */
async function answer(connection: Connection, size: number): Promise<void> {
  const request = new Uint8Array(size);
  const reply = new Uint8Array(size).fill(0x2a);
  for (;;) {
    // A request may come in pieces (a stream has no message boundaries): read all of it.
    let got = 0;
    while (got < size) {
      const n = await connection.read(request.subarray(got));
      if (n === 0) return; // end-of-file: the client is done
      got += n;
    }
    await connection.write(reply);
  }
}

if (import.meta.main) {
  const size = Number(Deno.args[0] ?? "32");
  try {
    await serve(size);
  } catch (error) {
    console.error(`lab peer: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
