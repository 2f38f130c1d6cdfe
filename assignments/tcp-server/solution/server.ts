/**
 * Reference solution: the TCP lesson's server (lessons/tcp/server.ts), as a plain program.
 *
 *     deno run -A server.ts --port-file /tmp/server.port --input FILE --clients N [--timeout S]
 *
 * Listens on 127.0.0.1, on a port the kernel picks, and writes that port into the port file;
 * accepts N clients and gives each a copy of the file on a connection of its own, all at the
 * same time; removes the port file and exits once every client has been served.
 *
 * @module
 */

import {
  type Connection,
  InputFile,
  listen,
  PortFile,
  runProgram,
  UsageProblem,
} from "../../../mod.ts";

await runProgram(async ({ args, waits, signal }) => {
  const clients = Number(args.clients);
  if (!Number.isInteger(clients) || clients < 1) {
    // A mistake on the command line: UsageProblem, which runProgram turns into exit status 2.
    throw new UsageProblem(`--clients must be a whole number of at least 1: got ${args.clients}`);
  }

  // 1. Open the input first: if it is missing, no client should be kept waiting for us.
  using input = new InputFile(args.input);

  // 2. socket, bind, listen: port 0 asks the kernel for any free port. Then tell the clients
  //    which one, in the port file (removed on every way out by `using`).
  using listener = listen({ family: "inet", host: "127.0.0.1", port: 0 }, waits);
  using _portFile = PortFile.announce(args["port-file"], listener.address);

  // 3. Accept each client and serve it at once, on its own: a slow client never holds up the
  //    others. Each gets its own open file: one read position cannot serve two.
  const serving: Promise<void>[] = [];
  for (let n = 1; n <= clients; n++) {
    const connection = await listener.accept();
    const file = n === 1 ? input : new InputFile(args.input);
    serving.push(
      serve(connection, file).catch((error) => {
        // One client that goes away is its own failure, not the server's: say so, serve on.
        if (signal.aborted) throw error;
        console.error(`client ${n} went away: ${error instanceof Error ? error.message : error}`);
      }),
    );
  }
  listener.close(); // no more clients; the connections live on

  // 4. Wait until every copy is sent (or has failed).
  await Promise.all(serving);
}, { options: ["port-file", "input", "clients"] });

/** Sends the whole file on `connection`, says "that was all", and waits for the client's close. */
async function serve(connection: Connection, input: InputFile): Promise<void> {
  using conn = connection;
  using file = input;
  const buf = new Uint8Array(64 * 1024);
  for (;;) {
    const n = file.read(buf);
    if (n === 0) break;
    await conn.write(buf.subarray(0, n));
  }
  // shutdown(SHUT_WR): our FIN, after the last byte: the client reads end-of-file.
  conn.shutdown("write");
  // Read until the client closes too (its one byte of hello, then end-of-file): closing with
  // unread data would reset the connection, and the client could lose the end of its copy.
  const scratch = new Uint8Array(256);
  while (await conn.read(scratch) > 0) { /* nothing to keep */ }
}
