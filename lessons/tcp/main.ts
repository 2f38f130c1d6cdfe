/**
 * Lesson: TCP sockets, between two hosts of a network.
 *
 *     deno task lesson:tcp                                                  the demo: two hosts
 *     deno task lesson:tcp --loopback                                       the demo on one host
 *     deno task lesson:tcp server --input F                                 terminal 1
 *     deno task lesson:tcp client --port PORT --output G                    terminal 2
 *
 * The server listens on an address and a port; the client connects to them, from this host or
 * another. The connection carries the file's raw bytes, and nothing else, so any TCP program can
 * be the peer: `nc 127.0.0.1 PORT > copy` works as a client.
 *
 * The demo makes the network real: two network namespaces (two hosts, each with its own network
 * stack) joined by a veth pair (a virtual Ethernet cable), the server on one, the client on the
 * other. Without the privilege to make them, it says so and runs over loopback.
 *
 * @module
 */

import { parseCount, UsageError } from "../_cli.ts";
import { defineLesson, type Lesson, MANY_CLIENTS, parseClients } from "../_lesson.ts";
import { runLesson } from "../_runner.ts";
import { client } from "./client.ts";
import { stage, type TcpOptions } from "./common.ts";
import { labs } from "./labs.ts";
import { server } from "./server.ts";

/** The TCP lesson. */
export const lesson: Lesson<TcpOptions> = defineLesson({
  method: "tcp",
  title: "Lesson: TCP sockets - socket(2), bind(2), listen(2), accept4(2), connect(2), shutdown(2)",
  description: [
    "The server listens on an address and a port (port 0: any free one, which it reports); the",
    "client connects, from this host or another, and reads the bytes until the server shuts down",
    "its side. The demo runs them on two network hosts: two network namespaces joined by a",
    "virtual Ethernet cable (root needed; otherwise, or with --loopback, over 127.0.0.1).",
  ].join("\n"),
  examples: [
    "deno task lesson:tcp",
    "deno task lesson:tcp --loopback --size 64M --quiet",
    "deno task lesson:tcp --trace",
    "deno task lesson:tcp --clients 8 --size 16M --quiet",
    "deno task lesson:tcp server --port 5555 --input lessons/sample.txt   # terminal 1",
    "deno task lesson:tcp client --port 5555 --output /tmp/copy.txt --force   # terminal 2",
    "deno task lesson:tcp server --port-file /tmp/tcp-help.port & until [ -s /tmp/tcp-help.port ]; do sleep 0.1; done; nc -d 127.0.0.1 $(cat /tmp/tcp-help.port) > /tmp/copy.txt   # any client will do",
  ],
  entry: import.meta.url,
  options: {
    host: {
      type: "string",
      arg: "HOST",
      help: "server: the address to listen on; client: the server's address or name; " +
        "IPv4 or IPv6 (::1) (default 127.0.0.1)",
      modes: ["server", "client"],
    },
    port: {
      type: "string",
      arg: "N",
      help: "server: the port to listen on (default 0: any free one, which it reports); " +
        "client: the server's port",
      modes: ["server", "client"],
    },
    "port-file": {
      type: "string",
      arg: "PATH",
      help: "server: write the port it listens on into PATH; client: read the port from PATH " +
        "(waiting for it)",
      modes: ["server", "client"],
    },
    loopback: {
      type: "boolean",
      help: "run the demo's two sides on this host over loopback, not on two network hosts",
      modes: ["demo"],
    },
    ...MANY_CLIENTS,
  },
  parse(values): TcpOptions {
    if (values.host === "") throw new UsageError("--host needs an address or a host name");
    if (values["port-file"] === "") throw new UsageError("--port-file needs a path");
    return {
      host: values.host ?? "127.0.0.1",
      port: values.port === undefined
        ? 0
        : parseCount(values.port, "--port", { min: 0, max: 65535 }),
      portFile: values["port-file"] ?? "",
      loopback: values.loopback === true,
      clients: parseClients(values),
      forever: values.forever === true,
    };
  },
  chunk: () => ({
    default: 64 * 1024,
    max: 64 * 1024 * 1024,
    why: "a write of a stream socket takes any size, but the server's buffer is one chunk",
  }),
  clients: (options) => options.clients,
  stage,
  labs,
  server,
  client,
});

if (import.meta.main) await runLesson(lesson, Deno.args);
