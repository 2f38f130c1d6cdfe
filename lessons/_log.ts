/**
 * Narration: what a side says, how it looks on a terminal, and how it travels to the demo.
 *
 * Every line a process prints starts with its role and pid: `server 4711 │ opened …`. Run by
 * hand, a side prints such lines itself ({@linkcode TerminalLog}). In the demo, each side
 * sends its lines to the runner as JSON events on stderr ({@linkcode EventLog}), and the runner
 * renders them, together with a progress bar and the summary.
 *
 * @module
 */

import { styleText } from "node:util";

/** Who is speaking. */
export type Role = "server" | "client" | "runner" | "lab";

/** What a side measured, sent to the runner at the end. */
export interface SideStats {
  /** Bytes this side moved through the channel. */
  bytes: number;
  /** How many pieces: the server's writes into the channel, the client's reads out of it. */
  chunks: number;
  /** CLOCK_MONOTONIC ms when this side was ready and started its part of the transfer. */
  startedAt?: number;
  /** CLOCK_MONOTONIC ms when the client wrote its last byte (client only). */
  stoppedAt?: number;
  /** The client wrote the whole output and completed it (`commit()`; client only). */
  outputComplete?: boolean;
  /** The process's peak resident set size (VmHWM), in bytes. */
  peakRssBytes: number;
  /** CPU time the process used in user mode, in seconds. */
  userSeconds: number;
  /** CPU time the process used in the kernel, in seconds. */
  systemSeconds: number;
}

/** One line of the protocol between a side and the demo runner. */
export type Event =
  | { t: "say" | "trace" | "error"; role: Role; pid: number; text: string }
  | { t: "progress"; role: Role; pid: number; bytes: number }
  | { t: "stats"; role: Role; pid: number; stats: SideStats };

/** Where a side's narration goes. */
export interface Log {
  /** True when `--trace` was given: the caller may skip building trace text otherwise. */
  readonly tracing: boolean;
  /** A step of the story (hidden by `--quiet`). */
  say(text: string): void;
  /** A system-call-level step (shown with `--trace`). */
  trace(text: string): void;
  /** The one line that says what failed and why. */
  error(text: string): void;
  /** How many bytes have been moved so far; `total` when known. */
  progress(bytes: number, total?: number): void;
  /** The final measurements. */
  stats(stats: SideStats): void;
}

const encoder = new TextEncoder();

/** Writes all of `text` to stderr; a vanished reader (the runner died) is not an error. */
export function writeStderr(text: string): void {
  const bytes = encoder.encode(text);
  try {
    for (let done = 0; done < bytes.length;) done += Deno.stderr.writeSync(bytes.subarray(done));
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
}

/** Whether to colour stderr: only on a terminal, and never when NO_COLOR is set. */
export function stderrHasColor(): boolean {
  return Deno.stderr.isTerminal() && !Deno.noColor;
}

type Color = Parameters<typeof styleText>[0];
const ROLE_COLOR: Record<Role, Color> = {
  server: "cyan",
  client: "magenta",
  runner: "green",
  lab: "yellow",
};

/** Renders one line: `server 4711 │ text`, coloured on a terminal. */
export function formatLine(
  role: Role,
  pid: number | string,
  text: string,
  options: { color: boolean; kind?: "say" | "trace" | "error" },
): string {
  const prefix = `${role.padEnd(6)} ${String(pid).padStart(7)} │ `;
  const body = options.kind === "error" ? `error: ${text}` : text;
  if (!options.color) return prefix + body + "\n";
  const styledBody = options.kind === "error"
    ? styleText(["red", "bold"], body)
    : options.kind === "trace"
    ? styleText("dim", body)
    : body;
  return styleText(ROLE_COLOR[role], prefix) + styledBody + "\n";
}

/** Formats a byte count for people: `1.5 MiB`, `300 bytes`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} byte${bytes === 1 ? "" : "s"}`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
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

/** Options shared by both logs. */
export interface LogOptions {
  /** Who is speaking. */
  role: Role;
  /** Show system-call-level steps. */
  trace: boolean;
  /** Hide the story; errors still show. */
  quiet: boolean;
}

/** A side run by hand: it renders its own lines on stderr. */
export class TerminalLog implements Log {
  readonly tracing: boolean;
  #role: Role;
  #quiet: boolean;
  #color = stderrHasColor();
  #bar: ProgressBar | null;

  /** A log that prints straight to stderr. */
  constructor(options: LogOptions) {
    this.#role = options.role;
    this.tracing = options.trace;
    this.#quiet = options.quiet;
    this.#bar = Deno.stderr.isTerminal() && !options.quiet ? new ProgressBar() : null;
  }

  #print(kind: "say" | "trace" | "error", text: string): void {
    const line = formatLine(this.#role, Deno.pid, text, { color: this.#color, kind });
    if (this.#bar) this.#bar.print(line);
    else writeStderr(line);
  }

  say(text: string): void {
    if (!this.#quiet) this.#print("say", text);
  }

  trace(text: string): void {
    if (this.tracing) this.#print("trace", text);
  }

  error(text: string): void {
    this.#bar?.clear();
    this.#print("error", text);
  }

  progress(bytes: number, total?: number): void {
    if (total !== undefined) this.#bar?.update(bytes, total);
  }

  stats(): void {
    this.#bar?.clear();
  }
}

/** A side run by the demo: every line goes to the runner as a JSON event on stderr. */
export class EventLog implements Log {
  readonly tracing: boolean;
  #role: Role;
  #quiet: boolean;
  #progressAt = 0;

  /** A log that speaks the demo's event protocol. */
  constructor(options: LogOptions) {
    this.#role = options.role;
    this.tracing = options.trace;
    this.#quiet = options.quiet;
  }

  #send(event: Event): void {
    writeStderr(JSON.stringify(event) + "\n");
  }

  say(text: string): void {
    if (!this.#quiet) this.#send({ t: "say", role: this.#role, pid: Deno.pid, text });
  }

  trace(text: string): void {
    if (this.tracing) this.#send({ t: "trace", role: this.#role, pid: Deno.pid, text });
  }

  error(text: string): void {
    this.#send({ t: "error", role: this.#role, pid: Deno.pid, text });
  }

  progress(bytes: number): void {
    const now = performance.now();
    if (now - this.#progressAt < 100) return;
    this.#progressAt = now;
    this.#send({ t: "progress", role: this.#role, pid: Deno.pid, bytes });
  }

  stats(stats: SideStats): void {
    this.#send({ t: "stats", role: this.#role, pid: Deno.pid, stats });
  }
}

/** Parses one line from a side's stderr: an event, or null for any other text. */
export function parseEvent(line: string): Event | null {
  if (!line.startsWith("{")) return null;
  try {
    const event = JSON.parse(line);
    return typeof event === "object" && event !== null && typeof event.t === "string"
      ? event
      : null;
  } catch {
    return null;
  }
}
