/**
 * A thread of the threads lesson: the program each Worker runs.
 *
 * It loads on a thread of its own (and with it, its own copy of every module: the FFI library
 * too, and its own errno cell), tells the main thread its kernel thread id, then runs the side
 * it is given, exactly as a process runs it (`runSide`: narration, statistics, Ctrl-C, cleanup),
 * and reports the exit status that a process would have had.
 *
 * @module
 */

import { gettid } from "../../transports/libc.ts";
import { runSide } from "../_side.ts";
import { type FromThread, peerFailure, setThreadContext, type ToThread } from "./common.ts";
import { lesson } from "./main.ts";

/** A Worker's global scope, as much of it as this file uses. */
const scope = globalThis as unknown as {
  postMessage(message: FromThread): void;
  onmessage: ((event: MessageEvent<ToThread>) => void) | null;
};

/** Aborted when the main thread says that the other thread has failed. */
const peer = new AbortController();

scope.onmessage = async (event) => {
  const message = event.data;
  if (message.kind === "peer-failed") {
    peer.abort(peerFailure(message.why));
    return;
  }
  setThreadContext({ link: message.link, peerGone: peer.signal });
  const status = await runSide(lesson, message.common, message.options, message.chunk);
  scope.postMessage({ kind: "done", status });
};

scope.postMessage({ kind: "ready", tid: gettid() });
