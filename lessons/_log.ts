/**
 * Narration: the lines a process prints, and how they look.
 *
 * Every line starts with who speaks and their pid: `server 4711 │ opened …`. A side run by
 * hand prints such lines itself, with a progress bar on a terminal. A side started by the demo
 * writes each line with a CLOCK_MONOTONIC timestamp in front ({@linkcode stamped}), the same
 * clock in every process: the demo holds the lines of both sides briefly and prints them in
 * the order they happened. Its last line is its statistics.
 *
 * @module
 */

import { styleText } from "node:util";
import { monotonicMs } from "../transports/libc.ts";
import { formatBytes } from "../transports/units.ts";

/** Who is speaking. */
export type Speaker = "server" | "client" | "runner" | "lab";

/** What kind of line: a step of the story, a system call (`--trace`), the one error. */
export type Kind = "say" | "trace" | "error";

/** Where a side narrates. */
export interface Log {
  /** True when `--trace` was given: the caller may skip building trace text otherwise. */
  readonly tracing: boolean;
  /** A step of the story (hidden by `--quiet`). */
  say(text: string): void;
  /** A system-call-level step (shown with `--trace`). */
  trace(text: string): void;
  /** The one line that says what failed and why. */
  error(text: string): void;
}

/**
 * What a side measured: its last line, for the demo's summary and `--json`. Times are
 * CLOCK_MONOTONIC ms: when this side was ready to transfer, and when the client wrote its last
 * byte. `chunks` counts the server's writes into the channel, or the client's reads out of it.
 */
export interface SideStats {
  bytes: number;
  chunks: number;
  startedAt?: number;
  stoppedAt?: number;
  /** The client wrote the whole output and completed it. */
  outputComplete?: boolean;
  /** VmHWM, in bytes. */
  peakRssBytes: number;
  userSeconds: number;
  systemSeconds: number;
}

const encoder = new TextEncoder();

/** Set once stderr has refused a write: the narration has nowhere to go any more. */
let stderrGone = false;

/**
 * Writes all of `text` to stderr. Once stderr refuses a write, the narration stops, and the run
 * goes on to its end: its reader has gone (EPIPE: the runner died), the terminal was closed
 * (EIO, with the SIGHUP that ends the run the usual way), or the file behind `2>` is full
 * (ENOSPC). Dying of it instead would leave what the sides made behind.
 */
export function writeStderr(text: string): void {
  if (stderrGone) return;
  const bytes = encoder.encode(text);
  try {
    for (let done = 0; done < bytes.length;) done += Deno.stderr.writeSync(bytes.subarray(done));
  } catch {
    stderrGone = true;
  }
}

/** Whether to colour stderr: only on a terminal, and never when NO_COLOR is set. */
export function stderrHasColor(): boolean {
  return Deno.stderr.isTerminal() && !Deno.noColor;
}

const COLOR = { server: "cyan", client: "magenta", runner: "green", lab: "yellow" } as const;

/** Renders one line: `server 4711 │ text`, coloured on a terminal. */
export function formatLine(
  who: Speaker,
  pid: number | string,
  text: string,
  options: { color: boolean; kind?: Kind },
): string {
  const prefix = `${who.padEnd(6)} ${String(pid).padStart(7)} │ `;
  const body = options.kind === "error" ? `error: ${oneLine(text)}` : oneLine(text);
  if (!options.color) return prefix + body + "\n";
  const styled = options.kind === "error"
    ? styleText(["red", "bold"], body)
    : options.kind === "trace"
    ? styleText("dim", body)
    : body;
  return styleText(COLOR[who], prefix) + styled + "\n";
}

/** A line as a side started by the demo writes it: `<ms> <role> <pid> <kind> <text>`. */
export interface Stamped {
  at: number;
  who: "server" | "client";
  pid: number;
  kind: Kind | "stats";
  text: string;
}

/**
 * One stamped line: the time now, who, what kind, and the text on one line.
 *
 * @example
 * ```ts
 * import { parseStamped, stamped } from "./_log.ts";
 * parseStamped(stamped("server", "say", "hello"))?.text; // "hello"
 * ```
 */
export function stamped(who: "server" | "client", kind: Stamped["kind"], text: string): string {
  return `${monotonicMs().toFixed(3)} ${who} ${Deno.pid} ${kind} ${oneLine(text)}\n`;
}

/** A line break in a narrated name (`--path $'a\nb'`) as `\n`: one line, and not `a b`. */
function oneLine(text: string): string {
  return text.replaceAll("\n", "\\n").replaceAll("\r", "\\r");
}

/** Parses a stamped line; null for any other text. */
export function parseStamped(line: string): Stamped | null {
  const match = line.match(/^(\d+\.\d+) (server|client) (\d+) (say|trace|error|stats) (.*)$/);
  if (!match) return null;
  const [, at, who, pid, kind, text] = match;
  return {
    at: Number(at),
    who: who as Stamped["who"],
    pid: Number(pid),
    kind: kind as Stamped["kind"],
    text: text!,
  };
}

/** The lines of a stream of text, without their line breaks. */
export async function* linesOf(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + text).split("\n");
    rest = lines.pop()!;
    yield* lines;
  }
  if (rest !== "") yield rest;
}

/**
 * A one-line progress bar on stderr, for terminals only. Lines printed while it is shown must
 * go through {@linkcode ProgressBar.print}, which clears the bar first and redraws it after.
 */
export class ProgressBar {
  #line = "";
  /** When the first bytes were reported, and how many: the rate counts from there. */
  #first: { at: number; bytes: number } | null = null;
  #drawnAt = 0;

  /** Shows `bytes` of `total`, once the transfer has run long enough to deserve a bar. */
  update(bytes: number, total: number): void {
    const now = performance.now();
    this.#first ??= { at: now, bytes };
    if (now - this.#first.at < 500 || now - this.#drawnAt < 100) return;
    this.#drawnAt = now;
    const width = 30;
    const fraction = total > 0 ? Math.min(1, bytes / total) : 1;
    const filled = Math.round(fraction * width);
    const rate = (bytes - this.#first.bytes) / 1048576 / ((now - this.#first.at) / 1000);
    this.#line = `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${
      (fraction * 100).toFixed(0).padStart(3)
    }%  ${formatBytes(bytes)} of ${formatBytes(total)}  ${rate.toFixed(0)} MiB/s`;
    writeStderr(`\r\x1b[2K${this.#line}`);
  }

  /** Prints a line above the bar. */
  print(text: string): void {
    if (this.#line) writeStderr("\r\x1b[2K");
    writeStderr(text);
    if (this.#line) writeStderr(this.#line);
  }

  /** Removes the bar. */
  clear(): void {
    if (this.#line) writeStderr("\r\x1b[2K");
    this.#line = "";
  }
}
