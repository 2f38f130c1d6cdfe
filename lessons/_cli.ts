/**
 * The command line every lesson shares, parsed with `node:util`'s `parseArgs`.
 *
 *     deno task lesson:<method> [server|client] [options]
 *
 * Without a role, the lesson runs the demo (both sides, verified). With a role, one side runs
 * alone, as in a lab with two terminals.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { formatSeconds, parseSize as parseBytes } from "../transports/units.ts";

/** A mistake on the command line: printed as one line, exit status 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** What runs: the whole demo, or one side by hand. */
export type Mode = "demo" | "server" | "client";

/** One option of a lesson, for `parseArgs` and for `--help`. */
export interface OptionSpec {
  /** A string option takes a value; a boolean one is a switch. */
  type: "string" | "boolean";
  /** The placeholder shown in `--help`: `PATH`, `N`. */
  arg?: string;
  /** One line for `--help`. */
  help: string;
  /** Where the option is accepted (default: everywhere). */
  modes?: Mode[];
}

/** The options every lesson has. */
export const COMMON_OPTIONS = {
  input: {
    type: "string",
    arg: "PATH",
    help: "file the server sends (default: the sample text lessons/sample.txt)",
    modes: ["demo", "server"],
  },
  size: {
    type: "string",
    arg: "N",
    help: "send N random bytes instead of a file; K, M, G suffixes (64M)",
    modes: ["demo"],
  },
  output: {
    type: "string",
    arg: "PATH",
    help: "file the client writes (demo default: a temporary file, removed after the check)",
    modes: ["demo", "client"],
  },
  force: {
    type: "boolean",
    help: "replace the output if it exists (only ever a regular file: never a device or a link)",
    modes: ["demo", "client"],
  },
  chunk: { type: "string", arg: "BYTES", help: "bytes per write into the channel; K, M suffixes" },
  timeout: {
    type: "string",
    arg: "SECONDS",
    help: "how long to wait for the peer (default 10, at most 86400)",
  },
  trace: { type: "boolean", help: "show every system call of both sides, with its result" },
  quiet: {
    type: "boolean",
    help: "print only errors and the summary (and, with --trace, its lines)",
  },
  json: {
    type: "boolean",
    help: "print only one JSON object with the results (on stdout)",
    modes: ["demo"],
  },
  "kill-after": {
    type: "string",
    arg: "ROLE:BYTES[:SIG]",
    help:
      "experiment: after that side has moved BYTES, its process sends itself SIG (KILL, or STOP, INT, TERM) (server:1M)",
  },

  break: {
    type: "string",
    arg: "LAB",
    help: "run a break-it lab: a classic mistake, its symptom, the fix (--break list)",
    modes: ["demo"],
  },
  help: { type: "boolean", help: "show this help" },
  // Internal: a side started by the demo stamps each line with the time (see _log.ts).
  stamped: { type: "boolean", help: "", modes: ["server", "client"] },
  // Internal: the demo runner's open input or output file, as /proc/RUNNER/fd/N. The side
  // reads or writes that file; --input and --output then only name it in messages.
  "input-via": { type: "string", help: "", modes: ["server"] },
  "output-via": { type: "string", help: "", modes: ["client"] },
  // Internal: the pid of the process that started this side. If it dies, even by SIGKILL,
  // the kernel sends this side SIGTERM (prctl(PR_SET_PDEATHSIG)), and it cleans up.
  parent: { type: "string", help: "", modes: ["server", "client"] },
} as const satisfies Record<string, OptionSpec>;

/** Options that the pipe lesson's server also takes, because it starts the client itself. */
const CLIENT_OPTIONS_OF_A_SERVER = ["output", "force", "output-via"];

/** `--kill-after`: a side sends itself a signal after moving some bytes (an experiment). */
export interface KillAfter {
  role: "server" | "client";
  bytes: number;
  /** SIGKILL (a crash), SIGSTOP (a hang), SIGINT or SIGTERM (an interruption). */
  signal: "SIGKILL" | "SIGSTOP" | "SIGINT" | "SIGTERM";
}

/** The parsed common options (see {@linkcode COMMON_OPTIONS} for what each means). */
export interface CommonOptions {
  mode: Mode;
  input?: string;
  /** `--size` in bytes: random input. */
  size?: number;
  output?: string;
  force: boolean;
  /** The demo runner's input and output files, `/proc/PID/fd/N`, that `input` and `output` name. */
  inputVia?: string;
  outputVia?: string;
  /** The process that started this side: when it dies, so does this side (after cleaning up). */
  parent?: number;
  chunk?: number;
  timeoutMs: number;
  trace: boolean;
  quiet: boolean;
  json: boolean;
  /** Stamp each line with the time, and end with the statistics (a side started by the demo). */
  stamped: boolean;
  help: boolean;
  /** `--break`: the lab to run instead of the demo (`list` lists them). */
  breakLab?: string;
  killAfter?: KillAfter;
}

/** Raw values of a lesson's own options. */
export type Values = Record<string, string | boolean | undefined>;

/** The values of the options `S`, typed: a string option's text, a switch's boolean. */
export type ValuesOf<S> = {
  readonly [K in keyof S]?: S[K] extends { type: "boolean" } ? boolean
    : S[K] extends { type: "string" } ? string
    : string | boolean;
};

/** Parses `args` against the common options and the lesson's own. */
export function parseCommandLine(
  args: string[],
  lessonOptions: Record<string, OptionSpec>,
  options: { serverTakesOutput?: boolean } = {},
): { common: CommonOptions; values: Values } {
  const specs: Record<string, OptionSpec> = { ...COMMON_OPTIONS, ...lessonOptions };
  let parsed;
  try {
    parsed = parseArgs({
      args: joinValues(args, specs),
      options: Object.fromEntries(
        Object.entries(specs).map(([name, spec]) => [name, { type: spec.type }]),
      ),
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
  } catch (error) {
    throw new UsageError(explainParseError(error));
  }
  // parseArgs keeps the last of an option given twice: a mistake in the first would go unseen.
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== "option") continue;
    if (seen.has(token.name)) throw new UsageError(`--${token.name} is given more than once`);
    seen.add(token.name);
  }
  const values = parsed.values as Values;
  for (const [name, value] of Object.entries(values)) {
    // Deno decodes the command line as UTF-8 and puts U+FFFD for a byte it cannot decode: the
    // path would name another file than the one typed (and --force could replace that one).
    if (typeof value === "string" && value.includes("\uFFFD")) {
      throw new UsageError(
        `--${name} is not valid UTF-8 (Deno cannot pass on its bytes as they are): rename it`,
      );
    }
  }

  const [first, ...extra] = parsed.positionals;
  if (first !== undefined && first !== "server" && first !== "client") {
    throw new UsageError(`unknown argument ${JSON.stringify(first)}: expected server or client`);
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
  const mode: Mode = first ?? "demo";

  if (!values["help"]) {
    for (const [name, value] of Object.entries(values)) {
      const modes = specs[name]?.modes;
      const allowed = !modes || modes.includes(mode) ||
        (CLIENT_OPTIONS_OF_A_SERVER.includes(name) && mode === "server" &&
          options.serverTakesOutput);
      if (value !== undefined && !allowed) {
        const of = mode === "demo" ? "the demo" : `the ${mode}`;
        throw new UsageError(`--${name} is not an option of ${of}`);
      }
    }
  }

  const text = (name: string) => values[name] as string | undefined;
  if (text("input") !== undefined && text("size") !== undefined) {
    throw new UsageError("--input and --size cannot be used together");
  }
  for (const name of ["input", "output"]) {
    if (text(name) === "") throw new UsageError(`--${name} needs a path`);
  }
  const common: CommonOptions = {
    mode,
    input: text("input"),
    size: text("size") === undefined ? undefined : parseSize(text("size")!, "--size", 0),
    output: text("output"),
    force: values["force"] === true,
    inputVia: text("input-via"),
    outputVia: text("output-via"),
    chunk: text("chunk") === undefined ? undefined : parseSize(text("chunk")!, "--chunk", 1),
    timeoutMs: text("timeout") === undefined ? 10_000 : parseSeconds(text("timeout")!),
    trace: values["trace"] === true,
    quiet: values["quiet"] === true,
    json: values["json"] === true,
    stamped: values["stamped"] === true,
    help: values["help"] === true,
  };
  if (text("kill-after") !== undefined) common.killAfter = parseKillAfter(text("kill-after")!);
  if (text("parent") !== undefined) {
    common.parent = parseCount(text("parent")!, "--parent", { min: 1, max: 2 ** 31 - 1 });
  }
  if (text("break") !== undefined) common.breakLab = text("break");
  return { common, values };
}

function parseKillAfter(text: string): KillAfter {
  const [role, bytes, signal = "KILL", ...extra] = text.split(":");
  const signals = ["KILL", "STOP", "INT", "TERM"];
  if (
    (role !== "server" && role !== "client") || bytes === undefined ||
    !signals.includes(signal.toUpperCase()) || extra.length > 0
  ) {
    throw new UsageError(
      `--kill-after must be ROLE:BYTES[:SIGNAL], like server:1M or client:64K:STOP: got ${
        JSON.stringify(text)
      }`,
    );
  }
  return {
    role,
    bytes: parseSize(bytes, "--kill-after", 0),
    signal: `SIG${signal.toUpperCase()}` as KillAfter["signal"],
  };
}

/**
 * Joins each string option and its value into one argument, `--input=-dash.txt`, so that a
 * value that starts with a dash is taken as the value it is. (`parseArgs` alone refuses
 * `--input -dash.txt` as ambiguous.) The next argument is the value unless it starts with
 * `--`: the option's value is then missing, and `parseArgs` says so.
 *
 * @example
 * ```ts
 * import { COMMON_OPTIONS, joinValues } from "./_cli.ts";
 * joinValues(["--input", "-dash.txt", "--quiet"], COMMON_OPTIONS);
 * // ["--input=-dash.txt", "--quiet"]
 * ```
 */
export function joinValues(args: string[], specs: Record<string, OptionSpec>): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      joined.push(...args.slice(i));
      break;
    }
    const next = args[i + 1];
    const name = arg.startsWith("--") && !arg.includes("=") ? arg.slice(2) : null;
    if (
      name !== null && Object.hasOwn(specs, name) && specs[name]!.type === "string" &&
      next !== undefined && !next.startsWith("--")
    ) {
      joined.push(`${arg}=${next}`);
      i++;
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

/** Turns `parseArgs`' messages into one short line. */
function explainParseError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string }).code;
  const option = message.match(/'(-[^' ]+)/)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `unknown option ${option ?? message}`;
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    if (message.includes("argument missing") || message.includes("ambiguous")) {
      return `option ${option} needs a value`;
    }
    return `option ${option} does not take a value`;
  }
  return message.split("\n")[0]!;
}

/**
 * Parses a byte count option such as `4096`, `64K`, `1M` or `2GiB` (binary units: K = 1024).
 *
 * @example
 * ```ts
 * import { parseSize } from "./_cli.ts";
 * parseSize("64K", "--chunk", 1); // 65536
 * ```
 */
export function parseSize(text: string, option: string, min: number): number {
  try {
    return parseBytes(text, option, min);
  } catch (error) {
    throw error instanceof RangeError ? new UsageError(error.message) : error;
  }
}

function parseSeconds(text: string): number {
  const value = /^\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : NaN;
  if (!(value > 0) || value > 86_400) {
    throw new UsageError(
      `--timeout must be a number of seconds above 0 and at most 86400 (a day), like 10 or 0.5: ` +
        `got ${JSON.stringify(text)}`,
    );
  }
  return value * 1000;
}

/** Parses a whole number option of a lesson (`--slots 8`), between `min` and `max`. */
export function parseCount(
  text: string,
  option: string,
  range: { min: number; max: number },
): number {
  const value = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) {
    throw new UsageError(`${option} must be a whole number: got ${JSON.stringify(text)}`);
  }
  if (value < range.min || value > range.max) {
    throw new UsageError(`${option} must be between ${range.min} and ${range.max}: got ${value}`);
  }
  return value;
}

/**
 * The arguments that start a side with the settings of `common`, each value joined to its
 * option (`--timeout=0.5`) and written the way the side parses it. `roles` are the sides whose
 * file and `--kill-after` it gets: its own, and the client's too if it starts the client.
 */
export function sideArgs(
  common: CommonOptions,
  chunk: number,
  roles: ("server" | "client")[],
): string[] {
  const args = [
    `--chunk=${chunk}`,
    `--timeout=${formatSeconds(common.timeoutMs / 1000)}`,
    // The side is our child: if we die, it must not carry on alone.
    `--parent=${Deno.pid}`,
    ...(common.trace ? ["--trace"] : []),
    ...(common.quiet ? ["--quiet"] : []),
    ...(common.stamped ? ["--stamped"] : []),
    ...(common.force && roles.includes("client") ? ["--force"] : []),
  ];
  for (const role of roles) {
    const [file, path, via] = role === "server"
      ? ["input", common.input, common.inputVia]
      : ["output", common.output, common.outputVia];
    if (path !== undefined) args.push(`--${file}=${path}`);
    if (via !== undefined) args.push(`--${file}-via=${via}`);
    const kill = common.killAfter;
    if (kill?.role === role) {
      args.push(`--kill-after=${role}:${kill.bytes}:${kill.signal.slice(3)}`);
    }
  }
  return args;
}

/**
 * The `--help` text. `serverTakesOutput`: the server starts the client (the pipe), or runs it
 * as a thread (`threads`: both sides are threads of one process), so it takes the client's
 * options too.
 */
export function usage(
  lesson: {
    method: string;
    title: string;
    description: string;
    options: Record<string, OptionSpec>;
    examples: string[];
  },
  how: { serverTakesOutput?: boolean; threads?: boolean } = {},
): string {
  const line = (name: string, spec: OptionSpec) => {
    const left = `  --${name}${spec.arg ? ` ${spec.arg}` : ""}`;
    const modes = how.serverTakesOutput && CLIENT_OPTIONS_OF_A_SERVER.includes(name)
      ? [...spec.modes!, "server"]
      : spec.modes;
    const where = modes && modes.length < 3 ? ` [${modes.join(", ")}]` : "";
    return `${left.padEnd(22)}  ${spec.help}${where}`;
  };
  const common = Object.entries(COMMON_OPTIONS).filter(([, spec]) => spec.help !== "");
  const own = Object.entries(lesson.options);
  return [
    `${lesson.title}`,
    "",
    `usage: deno task lesson:${lesson.method} [server|client] [options]`,
    "",
    lesson.description,
    "",
    ...(how.threads
      ? [
        "Without server or client, runs the demo: one process, whose server thread copies the",
        "input through the channel to its client thread; then checks that the copy is byte-exact.",
        "With server or client, runs that one process by hand (both threads, either way).",
      ]
      : [
        "Without server or client, runs the demo: starts the server and the client as two",
        "processes, copies the input through the channel and checks that the copy is byte-exact.",
        "With server or client, runs that side alone, for a lab with two terminals.",
      ]),
    "",
    "Options:",
    ...common.map(([name, spec]) => line(name, spec)),
    ...(own.length ? ["", `${lesson.method} options:`, ...own.map(([n, s]) => line(n, s))] : []),
    "",
    "Examples:",
    ...lesson.examples.map((example) => `  ${example}`),
    "",
    "Exit status: 0 byte-exact copy, 1 failure, 2 usage error, 129/130/143 interrupted.",
    "",
  ].join("\n");
}
