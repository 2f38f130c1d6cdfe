/**
 * What a lesson is, and what a side of it gets to work with.
 *
 * A lesson (`lessons/<method>/main.ts`) describes its options and provides two functions,
 * `server(side)` and `client(side)`. The shared runner does everything else: the command
 * line, the demo with its two processes, narration, signals, cleanup and verification.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { type CommonOptions, formatSeconds, type OptionSpec, type Values } from "./_cli.ts";
import type { InputFile, OutputFile } from "./_files.ts";
import type { Lab } from "./_labs.ts";
import type { Log } from "./_log.ts";

/** A named kernel object a lesson creates (a FIFO, a queue, a segment, a semaphore). */
export interface KernelObject {
  /** How to name it in a sentence: `the FIFO /tmp/ipc-lesson-fifo-…`. */
  readonly description: string;
  /** Whether it exists now. */
  exists(): boolean;
  /** Removes it. */
  remove(): void;
}

/** The context a lesson's `server` or `client` function runs in. */
export interface Side<O> {
  /** Which side this is. */
  readonly role: "server" | "client";
  /** The lesson's own options, parsed. */
  readonly options: O;
  /** The file the server sends, as the user named it (server only). */
  readonly input: string;
  /**
   * The file the client writes, as the user named it (client only; and the pipe lesson's
   * server, which starts the client).
   */
  readonly output: string;
  /** Bytes per write into the channel. */
  readonly chunk: number;
  /** How long to wait for the peer, in ms. */
  readonly timeoutMs: number;
  /** True when a person started this side (not the demo). */
  readonly byHand: boolean;
  /** Where to narrate. */
  readonly log: Log;
  /** Bytes moved so far. */
  readonly bytes: number;
  /**
   * Registers something to remove if the process is interrupted (Ctrl-C, SIGTERM), on top of
   * the `using` declarations that remove it on a normal or failed exit. Returns it.
   */
  own<T extends Disposable>(resource: T): T;
  /** Opens the input file (server): a regular file, or one clear error at once. */
  openInput(): InputFile;
  /**
   * Creates the output (client): an unnamed file that `commit()` names once the copy is
   * complete (by hand), or the demo runner's file, which the runner names once it has verified
   * the copy.
   */
  createOutput(): OutputFile;
  /**
   * This side is ready and the transfer starts now: the server calls it before its first
   * write, the client before its first read. The clock starts at the later of the two.
   */
  startClock(): void;
  /** The client has written its last byte: the transfer's clock stops. */
  stopClock(): void;
  /** One chunk of `bytes` has been moved (sent by the server, written out by the client). */
  count(bytes: number): void;
  /** The command that starts the other side with the same settings (the pipe lesson uses it). */
  peerCommand(options?: Omit<Deno.CommandOptions, "args">): Deno.Command;
}

/** One lesson: its options, its two sides, and what the demo needs to know. */
export interface Lesson<O> {
  /** The name in `deno task lesson:<method>`. */
  method: string;
  /** One line that names the lesson. */
  title: string;
  /** A short paragraph for `--help`. */
  description: string;
  /** The lesson's own options. */
  options: Record<string, OptionSpec>;
  /** Example command lines for `--help`. */
  examples: string[];
  /** `import.meta.url` of the lesson's `main.ts`: the demo starts the sides from it. */
  entry: string;
  /** The pipe lesson's server starts the client itself (pipe + fork); others are started apart. */
  serverStartsClient?: boolean;
  /** Turns the raw values of the lesson's options into typed ones; throws UsageError. */
  parseOptions(values: Values, common: CommonOptions): O;
  /** The chunk size when `--chunk` is not given. */
  defaultChunk(options: O): number;
  /** The largest chunk the channel allows, and why. */
  maxChunk(options: O): { bytes: number; why: string };
  /**
   * For the demo: the arguments both sides get (with any shared name made unique), and the
   * kernel objects the run may create, so that the runner can remove what a killed side left.
   */
  prepareDemo(options: O): { args: string[]; objects: KernelObject[] };
  /** Break-it labs: classic mistakes, made on purpose (`--break NAME`). */
  labs?: Lab[];
  /** The server side. */
  server(side: Side<O>): Promise<void>;
  /** The client side. */
  client(side: Side<O>): Promise<void>;
}

/**
 * The permissions every lesson process runs with (the same as the `lesson:*` tasks in
 * deno.json). The lessons call into libc through FFI, and FFI can do anything a C program
 * can, so finer permissions would promise a safety they cannot give. Deno also keeps `/proc`
 * and `/dev` (where the kernel shows pipes, queues and limits) behind `--allow-all` alone.
 */
export const PERMISSIONS = ["--allow-all"];

/** The sample text the lessons copy by default. */
export const SAMPLE_INPUT: string = fileURLToPath(new URL("./sample.txt", import.meta.url));

/** A command that starts one side of `lesson` as a new Deno process. */
export function sideCommand(
  entry: string,
  args: string[],
  options: Omit<Deno.CommandOptions, "args"> = {},
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    ...options,
    args: ["run", "--quiet", ...PERMISSIONS, fileURLToPath(entry), ...args],
  });
}

/**
 * The common settings as command-line arguments, to start a side with the same ones. Each
 * value is joined to its option (`--timeout=0.5`) and written the way the side parses it.
 */
export function commonArgs(common: CommonOptions, chunk: number): string[] {
  return [
    `--chunk=${chunk}`,
    `--timeout=${formatSeconds(common.timeoutMs / 1000)}`,
    ...(common.trace ? ["--trace"] : []),
    ...(common.quiet ? ["--quiet"] : []),
  ];
}

/** `--kill-after` for the side `role` (or the side that starts it), if it applies. */
export function killArgs(common: CommonOptions, role: "server" | "client"): string[] {
  const kill = common.killAfter;
  if (!kill || kill.role !== role) return [];
  return [`--kill-after=${kill.role}:${kill.bytes}:${kill.signal.slice(3)}`];
}

/**
 * `args` with each option of `specs` that takes a value joined to it: `["--name", "/q"]`
 * becomes `["--name=/q"]`, so that a value starting with a dash reaches the side intact.
 */
export function joinedArgs(args: string[], specs: Record<string, OptionSpec>): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i]!.startsWith("--") ? args[i]!.slice(2) : "";
    if (Object.hasOwn(specs, name) && specs[name]!.type === "string" && i + 1 < args.length) {
      joined.push(`${args[i]}=${args[++i]}`);
    } else {
      joined.push(args[i]!);
    }
  }
  return joined;
}

/** The temporary directory (TMPDIR, or /tmp). */
export function tempDir(): string {
  return Deno.env.get("TMPDIR") || "/tmp";
}

/** The prefix of every name this project gives a kernel object: `deno task clean` looks for it. */
export const NAME_PREFIX = "ipc-lesson-";

/** A name no other run uses: `ipc-lesson-fifo-4711-3f9a2c`. */
export function uniqueName(method: string): string {
  const random = crypto.getRandomValues(new Uint8Array(4));
  const hex = Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${NAME_PREFIX}${method}-${Deno.pid}-${hex}`;
}
