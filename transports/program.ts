/**
 * A program of your own, shaped like one side of a lesson: what a coursework solution needs
 * around its transfer, so that it can be a plain module with a `main`.
 *
 * {@linkcode runProgram} gives `main` an `AbortSignal` that Ctrl-C, SIGTERM and SIGHUP abort
 * (the C idiom: the handler only sets a flag, the main code cleans up), and turns whatever
 * `main` throws into one line on stderr and the exit status a shell expects: 0 success,
 * 1 failure, 2 a mistake on the command line, 128 + n after signal n. No stack trace.
 *
 * @example
 * ```ts ignore
 * import { InputFile, runProgram } from "../../mod.ts";
 *
 * await runProgram(async ({ args, waits }) => {
 *   using input = new InputFile(args.input); // one clear error if it is not a regular file
 *   // ... every wait gets `waits`, { timeout, signal }: Ctrl-C rejects it with Interrupted
 * }, { options: ["input"] });
 * ```
 *
 * @module
 */

import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Interrupted } from "./errors.ts";
import { OutputExists } from "./files.ts";
import { abortOnStopSignals } from "./wait.ts";

/** A mistake on the command line: one line, exit status 2. */
export class UsageProblem extends Error {
  /** A usage mistake described by `message`. */
  constructor(message: string) {
    super(message);
    this.name = "UsageProblem";
  }
}

/** What {@linkcode runProgram} hands `main`. */
export interface ProgramContext<N extends string = string> {
  /** Aborted by Ctrl-C, SIGTERM or SIGHUP, with an {@linkcode Interrupted} as its reason. */
  readonly signal: AbortSignal;
  /** `--timeout SECONDS` from the command line (default 10 s), in ms: how long to wait for the peer. */
  readonly timeoutMs: number;
  /** What every wait of a transport takes: `{ timeout: timeoutMs, signal }`. */
  readonly waits: { readonly timeout: number; readonly signal: AbortSignal };
  /** The options given on the command line, every one of them required (`--path P`: `args.path`). */
  readonly args: { readonly [K in N]: string };
}

/** Options for {@linkcode runProgram}. */
export interface ProgramOptions<N extends string = string> {
  /** The options the program takes besides `--timeout`, each with a value (`["path", "output"]`). */
  options: readonly N[];
  /** The command line (default: `Deno.args`). */
  argv?: string[];
}

/**
 * Parses the command line, runs `main`, and exits: 0 when it resolves; otherwise one line
 * `error: …` on stderr and 1 (2 for a usage mistake, 128 + n when signal n interrupted it:
 * 130 for Ctrl-C, 143 for SIGTERM). `main` cleans up with `using`: every way out runs it.
 *
 * @example
 * ```ts ignore
 * import { runProgram } from "../../mod.ts";
 * await runProgram(async ({ args, waits }) => {
 *   console.log(args.name, waits.timeout); // --name is required: always a string here
 * }, { options: ["name"] });
 * ```
 */
export async function runProgram<const N extends string>(
  main: (context: ProgramContext<N>) => Promise<void>,
  options: ProgramOptions<N>,
): Promise<never> {
  // --help is no mistake: the usage, on stdout, and success.
  if ((options.argv ?? Deno.args).includes("--help")) {
    console.log(usageOf(options));
    Deno.exit(0);
  }
  const controller = abortOnStopSignals(new AbortController());
  const { signal } = controller;
  let status = 0;
  try {
    const context = parseProgramArgs(options, signal);
    await main(context);
  } catch (error) {
    // Interrupted: whatever the wait in progress threw, the signal is what happened.
    const reason = signal.aborted ? signal.reason : error;
    const { message, status: code } = describe(reason);
    writeLine(`error: ${message}`);
    status = code;
  }
  Deno.exit(status);
}

/**
 * The usage line of the program being run, from its options:
 * `usage: deno run -A assignments/fifo-client/client.ts --path PATH --output OUTPUT [--timeout SECONDS]`.
 */
export function usageOf(options: ProgramOptions): string {
  const script = Deno.mainModule.startsWith("file:")
    ? relative(Deno.cwd(), fileURLToPath(Deno.mainModule))
    : Deno.mainModule;
  const required = options.options.map((name) => `--${name} ${name.toUpperCase()}`).join(" ");
  return `usage: deno run -A ${script} ${required} [--timeout SECONDS]`;
}

/** The context for `main` from the command line; a mistake throws {@linkcode UsageProblem}. */
export function parseProgramArgs<N extends string>(
  options: ProgramOptions<N>,
  signal: AbortSignal,
): ProgramContext<N> {
  const names = [...options.options, "timeout"];
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({
      args: options.argv ?? Deno.args,
      options: Object.fromEntries(names.map((name) => [name, { type: "string" as const }])),
      strict: true,
    }).values as Record<string, string | undefined>;
  } catch (error) {
    throw new UsageProblem(error instanceof Error ? error.message : String(error));
  }
  for (const name of options.options) {
    if (!values[name]) throw new UsageProblem(`--${name} is required`);
  }
  const timeout = values["timeout"];
  const seconds = timeout === undefined ? 10 : Number(timeout);
  if (!(seconds > 0)) {
    throw new UsageProblem(`--timeout must be a number of seconds above 0: got ${timeout}`);
  }
  const timeoutMs = seconds * 1000;
  const args = values as { [K in N]: string };
  return { signal, timeoutMs, waits: { timeout: timeoutMs, signal }, args };
}

/**
 * The one line and the exit status for what a program threw.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Interrupted } from "./errors.ts";
 * import { describe } from "./program.ts";
 * assert.deepEqual(describe(new Interrupted("SIGINT")), {
 *   message: "interrupted by SIGINT",
 *   status: 130,
 * });
 * assert.equal(describe(new Error("no such file")).status, 1);
 * ```
 */
export function describe(error: unknown): { message: string; status: number } {
  if (error instanceof Interrupted) return { message: error.message, status: error.status };
  if (error instanceof UsageProblem) {
    return { message: `${error.message} (usage: --help lists the options)`, status: 2 };
  }
  // A program of this shape has no --force: the way out is the user's to choose.
  if (error instanceof OutputExists) {
    return { message: `${error.message}: remove it, or choose another output`, status: 1 };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { message: message.split("\n")[0]!, status: 1 };
}

function writeLine(line: string): void {
  try {
    Deno.stderr.writeSync(new TextEncoder().encode(`${line}\n`));
  } catch { /* stderr closed: nothing to say it on */ }
}
