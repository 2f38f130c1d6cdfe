/**
 * Assignment tcp-server: a TCP server that serves many clients at the same time. Read
 * README.md first.
 *
 *     deno run -A assignments/tcp-server/server.ts --port-file /tmp/server.port --input FILE --clients 3
 *     deno task grade tcp-server --submission assignments/tcp-server/server.ts
 *
 * Fill in the TODOs. Everything you need is exported by mod.ts; see README.md, "What you may
 * use". runProgram already does the command line, Ctrl-C and the one-line error for you.
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
} from "../../mod.ts";

// (The starter has no `await` yet: delete the next line once you have written yours.)
// deno-lint-ignore require-await
await runProgram(async ({ args, waits, signal }) => {
  const clients = Number(args.clients);
  if (!Number.isInteger(clients) || clients < 1) {
    // A mistake on the command line: UsageProblem, which runProgram turns into exit status 2.
    throw new UsageProblem(`--clients must be a whole number of at least 1: got ${args.clients}`);
  }

  // 1. Open the input first: if it is missing, no client should be kept waiting for us.
  using input = new InputFile(args.input);

  // 2. socket, bind, listen on 127.0.0.1, port 0 (the kernel picks a free one); then write
  //    the port into the port file, where the clients look for it. `using` closes the socket
  //    and removes the port file on every way out.
  using listener = listen({ family: "inet", host: "127.0.0.1", port: 0 }, waits);
  using _portFile = PortFile.announce(args["port-file"], listener.address);

  // TODO 3: accept `clients` clients (await listener.accept()), and serve each one with
  //         serve() below WITHOUT waiting for it before you accept the next: the clients are
  //         served at the same time. Each client needs its own InputFile (its own read
  //         position): new InputFile(args.input) per client. A client that fails is its own
  //         failure: print one line
  //         (console.error) and go on with the others, unless `signal.aborted` (Ctrl-C).
  // TODO 4: once every client is accepted, close the listener; then wait until every copy
  //         is done (Promise.all).
  void [input, listener, clients, signal];
  throw new Error("not written yet: listening, but no client accepted (TODO 3 and 4 in server.ts)");
}, { options: ["port-file", "input", "clients"] });

/** Sends the whole file on `connection`, says "that was all", and waits for the client's close. */
// deno-lint-ignore require-await
async function serve(connection: Connection, input: InputFile): Promise<void> {
  using conn = connection;
  using file = input;
  // TODO 5: the copy loop: read a chunk of the file (64 KiB) and write it to the connection
  //         (await conn.write(...)), until file.read() returns 0.
  // TODO 6: conn.shutdown("write"): our FIN after the last byte; the client reads end-of-file.
  // TODO 7: read from the connection until it returns 0: the client sends one byte of hello
  //         and then closes. (Closing while its byte is unread would reset the connection.)
  void [conn, file];
}
void serve;
