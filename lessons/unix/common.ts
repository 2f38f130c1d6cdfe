/**
 * What the Unix-domain socket lesson's server and client share, the way a C lesson's header
 * file serves both programs: the options, what to say about whatever is already at the socket's
 * path, and how a descriptor is shown so that two processes can compare.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { type SocketPathState, socketPathState } from "../../transports/socket.ts";
import { type LibcError, unlink } from "../../transports/libc.ts";
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
export function whyNotBind(path: string, given?: SocketPathState) {
  const name = JSON.stringify(path);
  let state: SocketPathState;
  try {
    state = given ?? socketPathState(path);
  } catch (error) {
    // lstat() itself failed: a directory on the way that this user may not search (x).
    if (!(error instanceof Deno.errors.PermissionDenied)) throw error;
    return `cannot create the socket file ${name}: EACCES (permission denied): a directory on ` +
      "the way may not be searched by you; choose another --path";
  }
  switch (state.state) {
    case "free":
      return null;
    case "no-directory":
      return `cannot create the socket file ${name}: ${parentProblem(path)}`;
    case "not-a-socket":
      return `${name} already exists and is not a socket (it is ${state.kind}); choose ` +
        "another --path";
    case "listening":
      return `the socket ${name} is in use: ${
        state.holders.length > 0
          ? `process ${state.holders.join(", ")} is listening on it`
          // Another user's descriptors are hidden from us (/proc/PID/fd is theirs to read), and
          // a file renamed since its server bound it is found only by connecting to it.
          : "a server is listening on it (its pid cannot be seen: another user's process, or " +
            "a socket file renamed since it was bound)"
      }; choose another --path`;
    case "unknown":
      return `the socket file ${name} is already there, and whether a server listens on it ` +
        `cannot be told (${state.why}): it is left alone; choose another --path`;
    case "stale":
      return `the socket file ${name} is already there, but no process listens on it: a ` +
        `killed run left it behind, and bind() would fail with EADDRINUSE; ${
          removeAdvice(path, state.uid)
        }, or choose another --path`;
  }
}

/**
 * How to remove a socket file nobody listens on: `deno task clean` removes this user's; it
 * leaves another user's alone, so for one of those, say who can remove it.
 */
export function removeAdvice(path: string, uid: number): string {
  const command = cleanCommand(path);
  if (uid === Deno.uid()) return `${command} removes it`;
  const rm = command.replace("deno task clean", "rm");
  const owner = uid === 0 ? "root" : "that user";
  return `it belongs to ${uid === 0 ? "root" : "another user"} (uid ${uid}): ${owner}${
    uid === 0 ? "" : " (or root)"
  } can remove it with ${rm} (or ${command}, run as ${owner})`;
}

/**
 * Why bind(2) could not create the socket file at `path`, in one line: the path, the errno,
 * and what it means here.
 */
export function bindFailure(path: string, error: LibcError): LessonError {
  const hint = BIND_HINTS[error.code];
  const description = error.description.charAt(0).toLowerCase() + error.description.slice(1);
  return new LessonError(
    `cannot create the socket file ${JSON.stringify(path)}: ${error.call} failed with ` +
      `${error.code} (${description})${hint ? `: ${hint}` : ""}`,
  );
}

/** What bind's errors mean for a socket file whose directory exists (whyNotBind checked). */
const BIND_HINTS: Record<string, string> = {
  EACCES: "this user may not create files in its directory; choose another --path",
  EPERM: "this user may not create files in its directory; choose another --path",
  ENOENT: "its directory is on a file system that cannot hold socket files (such as /proc); " +
    "choose another --path",
  EROFS: "its directory is on a read-only file system; choose another --path",
  EADDRINUSE: "another program bound it just now; choose another --path",
  ENOTDIR: "a part of the path is not a directory; choose another --path",
  ELOOP: "the path has too many symbolic links; choose another --path",
};

/**
 * The socket file at `path`, as a kernel object the demo can check for and remove. Anything
 * already at the path is refused at once, with the reason. Once the run has started, a socket
 * file there counts as this run's leftover only while nobody listens on it: the demo's server
 * removes its name when its client connects, and a server started by hand may then bind the
 * same path; that file is in use, and someone else's.
 */
export function socketObject(path: string): KernelObject {
  const why = whyNotBind(path);
  if (why !== null) throw new LessonError(why);
  const leftBehind = () => socketPathState(path).state === "stale";
  return {
    description: `the socket file ${path}`,
    exists: leftBehind,
    remove: () => {
      // Look again just before: a server may have bound a new file there since exists().
      if (leftBehind()) unlink(path);
    },
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

/** Why the directory of `path` cannot hold a new file: it is missing, or it is not a directory. */
function parentProblem(path: string): string {
  const parent = dirname(resolve(path));
  try {
    if (!Deno.statSync(parent).isDirectory) return `${JSON.stringify(parent)} is not a directory`;
  } catch (error) {
    if (error instanceof Deno.errors.NotADirectory) {
      return `${JSON.stringify(parent)} is not a directory: a file stands in its path`;
    }
  }
  return "its directory does not exist";
}
