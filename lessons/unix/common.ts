/**
 * What the Unix-domain socket lesson's server and client share, the way a C lesson's header
 * file serves both programs: the options, what to say about whatever is already at the socket's
 * path, and how a descriptor is shown so that two processes can compare.
 *
 * @module
 */

import { type SocketPathState, socketPathState } from "../../transports/socket.ts";
import { unlink } from "../../transports/libc.ts";
import { cleanCommand, type KernelObject, LessonError } from "../_lesson.ts";

/** The Unix-domain socket lesson's own options. */
export interface UnixOptions {
  /** Where the socket file lives. */
  path: string;
  /** True when --path was not given and the path was made up. */
  pathIsDefault: boolean;
  /**
   * --pass-fd: the server sends the open input file's descriptor (`SCM_RIGHTS`) instead of its
   * bytes, and the client reads the file itself. (The client needs no option: it sees which
   * came.)
   */
  passFd: boolean;
  /** --clients N: how many clients the server serves (Infinity with --forever). */
  clients: number;
  /** --forever: the server serves clients until Ctrl-C. */
  forever: boolean;
}

/**
 * Why the server cannot bind at `path`, in one line, or null when it can: nothing is there
 * and the directory exists. A socket file nobody listens on any more is not removed here (a
 * C server often does `unlink(path)` before `bind`, and then also removes a socket another
 * server is using): `deno task clean` removes it after making sure that no process has it.
 */
export function whyNotBind(path: string, state: SocketPathState = socketPathState(path)) {
  switch (state.state) {
    case "free":
      return null;
    case "no-directory":
      return `cannot create the socket ${path}: its directory does not exist`;
    case "not-a-socket":
      return `${path} already exists and is not a socket (it is ${state.kind}); choose ` +
        "another --path";
    case "listening":
      return `the socket ${path} is in use: process ${
        state.holders.join(", ")
      } is listening on it (another server); choose another --path`;
    case "stale":
      return `the socket file ${path} is already there, but no process listens on it: a ` +
        `killed run left it behind, and bind() would fail with EADDRINUSE; ${
          cleanCommand(path)
        } removes it, or choose another --path`;
  }
}

/**
 * The socket file at `path`, as a kernel object the demo can check for and remove. Anything
 * already at the path is refused at once, with the reason.
 */
export function socketObject(path: string): KernelObject {
  const why = whyNotBind(path);
  if (why !== null) throw new LessonError(why);
  return {
    description: `the socket file ${path}`,
    exists: () => {
      try {
        return Deno.lstatSync(path).isSocket === true;
      } catch {
        return false;
      }
    },
    remove: () => unlink(path),
  };
}

/**
 * A descriptor's file as `fstat(2)` identifies it, `st_dev:st_ino` (through `/proc/self/fd`),
 * and its offset as `/proc/self/fdinfo` shows it (`pos:`): two processes that show the same
 * pair hold the same file; the same offset moving in both shows one *open file* shared.
 */
export function describeFd(fd: number): { identity: string; offset: number } {
  const info = Deno.statSync(`/proc/self/fd/${fd}`);
  const fdinfo = Deno.readTextFileSync(`/proc/self/fdinfo/${fd}`);
  const offset = Number(fdinfo.match(/^pos:\s*(\d+)/m)?.[1] ?? NaN);
  return { identity: `st_dev ${info.dev}, st_ino ${info.ino}`, offset };
}
