/**
 * Lesson: Unix-domain stream sockets.
 *
 *     deno task lesson:unix                                              the demo
 *     deno task lesson:unix --clients 8                                  one server, 8 clients
 *     deno task lesson:unix server --path /tmp/my.sock --input F         terminal 1
 *     deno task lesson:unix client --path /tmp/my.sock --output G        terminal 2
 *
 * The server listens on a socket file and sends the input file to each client that connects,
 * on a connection of its own; `shutdown(SHUT_WR)` says "that was all". The connection carries
 * the file's raw bytes and nothing else, so `socat` or `nc -U` can be the client. With
 * `--pass-fd` the server sends the open file itself (`SCM_RIGHTS`), and the client reads it.
 *
 * @module
 */

import { join } from "node:path";
import { SUN_PATH_SIZE } from "../../transports/socket.ts";
import { UsageError } from "../_cli.ts";
import {
  defineLesson,
  type Lesson,
  MANY_CLIENTS,
  parseClients,
  tempDir,
  uniqueName,
} from "../_lesson.ts";
import { runLesson } from "../_runner.ts";
import { client } from "./client.ts";
import { socketObject, type UnixOptions } from "./common.ts";
import { labs } from "./labs.ts";
import { server } from "./server.ts";

/** The Unix-domain socket lesson. */
export const lesson: Lesson<UnixOptions> = defineLesson({
  method: "unix",
  title: "Lesson: Unix-domain sockets - socket(2), bind(2), listen(2), accept4(2), connect(2)",
  description: [
    "The server listens on a socket file and sends the input to every client that connects,",
    "each on a connection of its own, several at the same time; shutdown(SHUT_WR) says that",
    "was all. The client connects (trying again until the server listens) and copies what",
    "comes. --pass-fd sends the open file itself (SCM_RIGHTS) instead of its bytes.",
  ].join("\n"),
  examples: [
    "deno task lesson:unix",
    "deno task lesson:unix --clients 8 --size 16M --quiet",
    "deno task lesson:unix --pass-fd",
    "deno task lesson:unix --trace",
    "deno task lesson:unix server --path /tmp/my.sock --input lessons/sample.txt   # terminal 1",
    "deno task lesson:unix client --path /tmp/my.sock --output /tmp/copy.txt --force   # terminal 2",
  ],
  entry: import.meta.url,
  options: {
    path: {
      type: "string",
      arg: "PATH",
      help: "where the socket file lives (default: a unique name in the temporary directory); " +
        `at most ${SUN_PATH_SIZE - 1} bytes (sun_path holds ${SUN_PATH_SIZE}, with the NUL)`,
    },
    "pass-fd": {
      type: "boolean",
      help: "the server sends the open input file's descriptor (SCM_RIGHTS), not its bytes; " +
        "the client reads the file itself (it needs no option: it sees which came)",
    },
    ...MANY_CLIENTS,
  },
  parse(values): UnixOptions {
    if (values.path === "") throw new UsageError("--path needs a path");
    if (values.path?.includes("\0")) throw new UsageError("--path must not contain a NUL byte");
    if (/[\n\r]/.test(values.path ?? "")) {
      // /proc/net/unix lists one socket a line: a socket whose path breaks the line could not be
      // found there, and its file would look left behind while a server listens on it.
      throw new UsageError(
        `--path must not contain a line break: ${JSON.stringify(values.path)} (the kernel's ` +
          "list of sockets, /proc/net/unix, has one line per socket)",
      );
    }
    const path = values.path ?? join(tempDir(), `${uniqueName("unix")}.sock`);
    const bytes = new TextEncoder().encode(path).length;
    if (bytes > SUN_PATH_SIZE - 1 && values.path === undefined) {
      throw new UsageError(
        `the temporary directory ${tempDir()} is too long for a socket's path: ${path} would be ` +
          `${bytes} bytes, and sun_path holds at most ${SUN_PATH_SIZE - 1}; give a shorter --path`,
      );
    }
    if (bytes > SUN_PATH_SIZE - 1) {
      throw new UsageError(
        `--path is ${bytes} bytes long, but a Unix socket's path must fit in sun_path (${SUN_PATH_SIZE} ` +
          `bytes with its terminating NUL, so at most ${SUN_PATH_SIZE - 1}); choose a shorter path`,
      );
    }
    return {
      path,
      pathIsDefault: values.path === undefined,
      passFd: values["pass-fd"] === true,
      clients: parseClients(values),
      forever: values.forever === true,
    };
  },
  chunk: () => ({
    default: 64 * 1024,
    max: 64 * 1024 * 1024,
    why: "one buffer on each side; a stream socket takes any write, in pieces",
  }),
  clients: (options) => options.clients,
  objects(options) {
    // Both sides would trip over a bad path, or one already there; say it once, before they start.
    return [socketObject(options.path)];
  },
  labs,
  server,
  client,
});

if (import.meta.main) await runLesson(lesson, Deno.args);
