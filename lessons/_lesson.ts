/**
 * What a lesson is, and what each side of it gets to work with.
 *
 * A lesson's `main.ts` describes it with {@linkcode defineLesson}: its options, how to read
 * them, how its two sides start, the kernel objects a run may create, and its two functions,
 * `server(side)` and `client(side)`. The runner (`_runner.ts`) does everything else: the command
 * line, the demo with its two processes, narration, signals, cleanup and verification.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import type { InputFile } from "../transports/files.ts";
import { type OptionSpec, parseCount, UsageError, type ValuesOf } from "./_cli.ts";
import type { Lab } from "./_labs.ts";
import type { Log } from "./_log.ts";

/** A failure the user can act on: printed as one line, exit status 1 (or the one given). */
export class LessonError extends Error {
  /** The exit status: 1, or 128 + n when the failure is that a process got signal n. */
  readonly status: number;

  /** A failure with a message meant for the user. */
  constructor(message: string, options: { status?: number } = {}) {
    super(message);
    this.name = "LessonError";
    this.status = options.status ?? 1;
  }
}

/** Which side. */
export type Role = "server" | "client";

/** A named kernel object a run may create (a FIFO, a queue, a segment, a semaphore). */
export interface KernelObject {
  /** How to name it in a sentence: `the FIFO /tmp/ipc-lesson-fifo-…`. */
  readonly description: string;
  /** Whether it exists now. */
  exists(): boolean;
  /** Removes it. */
  remove(): void;
}

/** The output as a side writes it: unnamed until `commit()`. */
export interface Output extends Disposable {
  /** The path as the user gave it. */
  readonly path: string;
  /** Appends all of `data`. */
  write(data: Uint8Array): void;
  /**
   * The copy is complete: names it (or hands it back to the demo); resolves to a sentence that
   * says so. It first gives a Ctrl-C that came with the end of the stream its moment (see
   * `_side.ts`): then it rejects, and the copy, perhaps short, is never named.
   */
  commit(): Promise<string>;
}

/** The context a lesson's `server` or `client` function runs in. */
export interface Side<O> {
  /** Which side this is. */
  readonly role: Role;
  /** The lesson's own options, parsed. */
  readonly options: O;
  /** The file the server sends, as the user named it (server only). */
  readonly input: string;
  /** The file the client writes, as the user named it (and the pipe's server's, for its child). */
  readonly output: string;
  /** Bytes per write into the channel. */
  readonly chunk: number;
  /** How long to wait for the peer, in ms. */
  readonly timeoutMs: number;
  /** Aborted by Ctrl-C, SIGTERM or SIGHUP: every wait given it rejects, and `using` cleans up. */
  readonly signal: AbortSignal;
  /** What every wait of a transport takes: `{ timeout, signal }`. */
  readonly waits: { readonly timeout: number; readonly signal: AbortSignal };
  /** True when a person started this side (not the demo). */
  readonly byHand: boolean;
  /** Where to narrate. */
  readonly log: Log;
  /** Bytes moved so far. */
  readonly bytes: number;
  /** Opens the input file (server): a regular file, or one clear error at once. */
  openInput(): InputFile;
  /** Creates the output (client): an unnamed file, named once the copy is complete. */
  createOutput(): Output;
  /** This side is ready and the transfer starts now (the clock starts at the later side's). */
  startClock(): void;
  /** The client has written its last byte: the transfer's clock stops. */
  stopClock(): void;
  /** One chunk of `bytes` has been moved (sent by the server, written out by the client). */
  count(bytes: number): void;
  /** The command that starts the other side with the same settings (the pipe's server uses it). */
  peerCommand(options?: Omit<Deno.CommandOptions, "args">): Deno.Command;
}

/**
 * How the demo starts a side: given the command line that runs it (`deno run … main.ts client
 * …`), the command line to run instead, or null when the other side starts it. The default,
 * {@linkcode apart}, runs both as they are. A lesson may wrap them (`ip netns exec NS …`, for
 * two hosts), or let its server start the client ({@linkcode serverStartsClient}).
 */
export type Launch = (role: Role, argv: string[]) => string[] | null;

/** What a stage may do while it sets up: narrate, warn, and notice Ctrl-C. */
export interface StageRun {
  /** One line of narration (hidden by `--quiet`). */
  say(text: string): void;
  /** One line that `--quiet` keeps: the demo does something else than its default. */
  warn(text: string): void;
  /** Aborted by Ctrl-C, SIGTERM or SIGHUP. */
  signal: AbortSignal;
}

/**
 * Where a demo's sides run, set up before they start and taken down when the demo ends, on every
 * way it ends (a runner killed with SIGKILL leaves it to `deno task clean`).
 */
export interface Stage extends Disposable {
  /** How the sides start on this stage (`ip netns exec HOST …`), instead of the lesson's. */
  readonly launch?: Launch;
}

/** Both sides are processes the runner starts (the default). */
export const apart: Launch = (_role, argv) => argv;

/** The runner starts the server, and the server starts the client: pipe, fork, exec. */
export const serverStartsClient: Launch = (role, argv) => role === "server" ? argv : null;

/** `kebab-case` as `camelCase`: how an option's name becomes its parsed value's. */
type Camel<S extends string> = S extends `${infer A}-${infer B}` ? `${A}${Capitalize<Camel<B>>}`
  : S;

/**
 * A lesson, as its `main.ts` describes it. `S` is its options' spec and `O` what `parse` makes
 * of them: `O` holds each option's value under its name in camelCase (`--slot-size` is
 * `slotSize`), and the demo passes them all to both sides, so that both use the same.
 */
export interface LessonSpec<S extends Record<string, OptionSpec>, O> {
  /** The name in `deno task lesson:<method>`. */
  method: string;
  /** One line that names the lesson. */
  title: string;
  /** A short paragraph for `--help`. */
  description: string;
  /** Example command lines for `--help`. */
  examples: string[];
  /** `import.meta.url` of the lesson's `main.ts`: the sides are started from it. */
  entry: string;
  /** The lesson's own options; the first names its kernel objects (`--path`, `--name`). */
  options: S;
  /** Turns the option values into the lesson's options; throws UsageError. */
  parse(values: ValuesOf<S>): O;
  /** The chunk size when `--chunk` is not given, the largest the channel allows, and why. */
  chunk(options: O): { default: number; max: number; why: string };
  /** How the demo starts the sides (default: {@linkcode apart}). */
  launch?: Launch;
  /**
   * How many clients the demo starts against one server (default 1): a lesson whose server
   * serves many clients at once declares {@linkcode MANY_CLIENTS} among its options and returns
   * their count here. Each client writes its own copy; the demo verifies and reports each.
   */
  clients?(options: O): number;
  /**
   * Sets up where the demo's sides run, before they start (two network hosts, for TCP); the
   * runner disposes of it on every way out. Its `launch`, if any, replaces the lesson's.
   */
  stage?(options: O, run: StageRun): Promise<Stage>;
  /**
   * The kernel objects a demo run may create, so that the runner can lock their names and
   * remove what a killed side left. It throws, with one line, if a name is taken already.
   */
  objects?(options: O): KernelObject[];
  /** Break-it labs: classic mistakes, made on purpose (`--break NAME`). */
  labs?: Lab[];
  /** The server side. */
  server(side: Side<O>): Promise<void>;
  /** The client side. */
  client(side: Side<O>): Promise<void>;
}

/** A lesson, ready to run. */
export type Lesson<O> = LessonSpec<Record<string, OptionSpec>, O>;

/**
 * A lesson, with its option values typed from its spec.
 *
 * @example
 * ```ts ignore
 * export const lesson = defineLesson({
 *   method: "fifo",
 *   options: { path: { type: "string", arg: "PATH", help: "where the FIFO lives" } },
 *   parse: (values) => ({ path: values.path ?? "/tmp/my.fifo" }),
 *   chunk: () => ({ default: 65536, max: pipeMaxSize(), why: "what a pipe holds" }),
 *   // … title, description, examples, entry, server, client
 * });
 * if (import.meta.main) await runLesson(lesson, Deno.args);
 * ```
 */
export function defineLesson<
  const S extends Record<string, OptionSpec>,
  O extends { [K in keyof S & string as Camel<K>]: string | number | boolean },
>(spec: LessonSpec<S, O>): Lesson<O> {
  return spec as unknown as Lesson<O>;
}

/**
 * The options of a lesson whose server serves many clients at once (the socket lessons):
 * `--clients N` (the demo starts N clients; by hand, the server serves N and exits) and
 * `--forever` (by hand, the server serves clients until Ctrl-C). Spread them into the
 * lesson's `options`, read them with {@linkcode parseClients}, and return the count from the
 * spec's `clients`.
 */
export const MANY_CLIENTS = {
  clients: {
    type: "string",
    arg: "N",
    help: "the demo starts N clients against one server, each getting its own copy; a server " +
      "by hand serves N clients, at the same time, then exits (default 1, at most 64)",
  },
  forever: {
    type: "boolean",
    help: "the server serves any number of clients, up to 64 at the same time, until Ctrl-C",
    modes: ["server"],
  },
} as const satisfies Record<string, OptionSpec>;

/** The most clients `--clients` takes: each is a process of its own in the demo. */
export const MAX_CLIENTS = 64;

/**
 * `--clients N` and `--forever` as the number of clients the server serves: N (default 1), or
 * Infinity for `--forever`. Throws a UsageError for anything else.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseClients } from "./_lesson.ts";
 * assert.equal(parseClients({ clients: "8" }), 8);
 * assert.equal(parseClients({ forever: true }), Infinity);
 * assert.throws(() => parseClients({ clients: "0" }), /between 1 and 64/);
 * ```
 */
export function parseClients(values: { clients?: string; forever?: boolean }): number {
  if (values.forever === true && values.clients !== undefined) {
    throw new UsageError("--clients and --forever cannot be used together");
  }
  if (values.forever === true) return Infinity;
  return values.clients === undefined
    ? 1
    : parseCount(values.clients, "--clients", { min: 1, max: MAX_CLIENTS });
}

/**
 * The lesson's options as command-line arguments, each value joined to its option
 * (`--name=/q`), so that a value starting with a dash reaches the side intact.
 */
export function optionArgs<O>(lesson: Lesson<O>, options: O): string[] {
  return Object.keys(lesson.options).flatMap((name) => {
    const value = (options as Record<string, unknown>)[
      name.replace(/-(.)/g, (_, letter: string) => letter.toUpperCase())
    ];
    if (value === true) return [`--${name}`];
    // An empty text is an option not given; a count of Infinity is what a switch gave
    // (`--forever`): neither is a value to pass on.
    const given = (typeof value === "string" && value !== "") ||
      (typeof value === "number" && isFinite(value));
    return given ? [`--${name}=${value}`] : [];
  });
}

/**
 * The command line that runs `entry` (a lesson's `main.ts`, or a lab's program) with `args`, with
 * `--allow-all` as in the `lesson:*` tasks: FFI can do anything a C program can, so finer
 * permissions would promise a safety they cannot give (and Deno keeps /proc and /dev behind it).
 */
export function denoArgv(entry: string, args: string[]): string[] {
  return [Deno.execPath(), "run", "--quiet", "--allow-all", fileURLToPath(entry), ...args];
}

/** A command from a command line (`argv[0]` is the program). */
export function command(
  argv: string[],
  options: Omit<Deno.CommandOptions, "args"> = {},
): Deno.Command {
  return new Deno.Command(argv[0]!, { ...options, args: argv.slice(1) });
}

/** The sample text the lessons copy by default. */
export const SAMPLE_INPUT: string = fileURLToPath(new URL("./sample.txt", import.meta.url));

/** The temporary directory (TMPDIR, or /tmp): one line if TMPDIR is not valid UTF-8. */
export { tempDir } from "../transports/files.ts";

/** The prefix of every name this project gives a kernel object: `deno task clean` looks for it. */
export const NAME_PREFIX = "ipc-lesson-";

/** A name no other run uses: `ipc-lesson-fifo-4711-3f9a2c`. */
export function uniqueName(method: string): string {
  const random = crypto.getRandomValues(new Uint8Array(4));
  const hex = Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${NAME_PREFIX}${method}-${Deno.pid}-${hex}`;
}

/**
 * The command that removes the objects `names` when nobody uses them: `deno task clean NAME…`,
 * with each name quoted for the shell when it needs to be.
 *
 * @example
 * ```ts
 * import { cleanCommand } from "./_lesson.ts";
 * cleanCommand("/ipc-lesson-shm-lab"); // "deno task clean /ipc-lesson-shm-lab"
 * ```
 */
export function cleanCommand(...names: string[]): string {
  const quoted = names.map((name) =>
    /^[\w@%+=:,./-]+$/.test(name) ? name : `'${name.replaceAll("'", `'\\''`)}'`
  );
  return `deno task clean ${quoted.join(" ")}`;
}
