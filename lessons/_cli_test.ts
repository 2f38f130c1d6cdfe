/**
 * Unit tests of the shared command line (_cli.ts): which arguments it accepts, the one line it
 * refuses the rest with (a UsageError: exit status 2), and that what the demo passes on to a
 * side is parsed back to the same settings.
 */

import assert from "node:assert/strict";
import {
  COMMON_OPTIONS,
  joinValues,
  type OptionSpec,
  parseCommandLine,
  parseCount,
  parseSize,
  sideArgs,
  UsageError,
} from "./_cli.ts";

const parse = (args: string[], own: Record<string, OptionSpec> = {}) =>
  parseCommandLine(args, own).common;

/** Asserts that `args` are refused with a UsageError whose message is `message`. */
function refused(args: string[], message: string | RegExp): void {
  assert.throws(() => parse(args), (error: unknown) => {
    assert.ok(error instanceof UsageError, String(error));
    if (typeof message === "string") assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  }, args.join(" "));
}

Deno.test("command line: the role, and the defaults", () => {
  const demo = parse([]);
  assert.equal(demo.mode, "demo");
  assert.equal(demo.timeoutMs, 10_000);
  assert.equal(demo.force, false);
  assert.equal(demo.chunk, undefined);
  assert.equal(parse(["server"]).mode, "server");
  assert.equal(parse(["client"]).mode, "client");
  refused(["both"], 'unknown argument "both": expected server or client');
  refused(["server", "client"], 'unexpected argument "client"');
  refused(["--bogus"], "unknown option --bogus");
});

Deno.test("command line: sizes and counts, with their units and limits", () => {
  assert.equal(parse(["--size", "64M"]).size, 64 * 1024 * 1024);
  assert.equal(parse(["--chunk", "4K"]).chunk, 4096);
  refused(["--chunk", "0"], '--chunk must be at least 1: got "0"');
  refused(
    ["--size", "lots"],
    '--size must be a whole number of bytes, like 4096 or 64K: got "lots"',
  );
  assert.throws(() => parseSize("1.5M", "--size", 0), UsageError);
  assert.equal(parseCount(" 8 ", "--slots", { min: 1, max: 1024 }), 8);
  assert.throws(
    () => parseCount("0", "--slots", { min: 1, max: 1024 }),
    new UsageError("--slots must be between 1 and 1024: got 0"),
  );
  assert.throws(
    () => parseCount("8.5", "--slots", { min: 1, max: 1024 }),
    new UsageError('--slots must be a whole number: got "8.5"'),
  );
});

Deno.test("command line: --timeout in seconds, above 0 and at most a day", () => {
  assert.equal(parse(["--timeout", "0.5"]).timeoutMs, 500);
  assert.equal(parse(["--timeout", "86400"]).timeoutMs, 86_400_000);
  for (const text of ["0", "-1", "1e3", "86401", "ten", ""]) {
    refused(
      ["--timeout", text],
      `--timeout must be a number of seconds above 0 and at most 86400 (a day), like 10 or ` +
        `0.5: got ${JSON.stringify(text)}`,
    );
  }
});

// Found by review: parseArgs keeps the last of an option given twice, so a bad first value
// (--chunk=garbage --chunk=4K) went unseen.
Deno.test("command line: an option given twice is refused", () => {
  refused(["--chunk=garbage", "--chunk=4K"], "--chunk is given more than once");
  refused(["--quiet", "--quiet"], "--quiet is given more than once");
  assert.equal(parse(["--chunk=4K"]).chunk, 4096);
});

Deno.test("command line: the sides accept every --timeout the runner accepts", () => {
  // The round trip: what the runner sends, a side parses back to the same value.
  for (const text of ["0.0000001", "0.5", "10", "86400", "0.000000000001"]) {
    const runner = parse(["--timeout", text]);
    const sent = sideArgs(runner, 4096, ["server"]);
    assert.ok(sent.every((arg) => !/e[+-]?\d/.test(arg)), sent.join(" "));
    const side = parse(["server", ...sent]);
    assert.equal(side.timeoutMs, runner.timeoutMs, text);
    assert.equal(side.chunk, 4096);
  }
});

Deno.test("command line: --kill-after ROLE:BYTES[:SIGNAL], passed on to that side only", () => {
  const common = parse(["--kill-after", "client:64K:stop"]);
  assert.deepEqual(common.killAfter, { role: "client", bytes: 65536, signal: "SIGSTOP" });
  const kills = (roles: ("server" | "client")[]) =>
    sideArgs(common, 4096, roles).filter((arg) => arg.startsWith("--kill-after"));
  assert.deepEqual(kills(["client"]), ["--kill-after=client:65536:STOP"]);
  assert.deepEqual(kills(["server"]), []);
  assert.equal(parse(["--kill-after", "server:1M"]).killAfter?.signal, "SIGKILL");
  for (const text of ["runner:1M", "server", "server:1M:HUP", "server:1M:KILL:x"]) {
    refused(
      ["--kill-after", text],
      `--kill-after must be ROLE:BYTES[:SIGNAL], like server:1M or client:64K:STOP: got ${
        JSON.stringify(text)
      }`,
    );
  }
});

Deno.test("command line: an option's value may start with a dash; a missing one is named", () => {
  assert.equal(parse(["--input", "-x.txt"]).input, "-x.txt");
  assert.equal(parse(["--input=-x.txt"]).input, "-x.txt");
  assert.equal(parse(["client", "--output", "-", "--force"]).output, "-");
  assert.equal(parse(["client", "--output", "-", "--force"]).force, true);
  refused(["--input", "--quiet"], /option --input needs a value/);
  refused(["--input"], /option --input needs a value/);
  refused(["--input="], "--input needs a path");
  refused(["--input", "a", "--size", "1K"], "--input and --size cannot be used together");
  assert.deepEqual(joinValues(["--input", "-dash.txt", "--quiet"], COMMON_OPTIONS), [
    "--input=-dash.txt",
    "--quiet",
  ]);
  assert.deepEqual(joinValues(["--", "--input", "x"], COMMON_OPTIONS), ["--", "--input", "x"]);
});

Deno.test("command line: an option belongs to the side that uses it", () => {
  refused(["server", "--force"], "--force is not an option of the server");
  refused(["client", "--input", "x"], "--input is not an option of the client");
  refused(["server", "--json"], "--json is not an option of the server");
  refused(["--stamped"], "--stamped is not an option of the demo");
  // The pipe lesson's server starts the client itself, so it takes the client's options.
  const server = parseCommandLine(["server", "--output", "o", "--force"], {}, {
    serverTakesOutput: true,
  });
  assert.equal(server.common.force, true);
  // A lesson's own options are parsed too, and typed by their spec.
  const own = { slots: { type: "string", arg: "N", help: "slots" } } as const;
  assert.equal(parseCommandLine(["--slots", "8"], own).values["slots"], "8");
});

Deno.test("command line: a value that was not valid UTF-8 (Deno put U+FFFD in it) is refused", () => {
  refused(
    ["--output", "/tmp/bad\uFFFDname.bin"],
    "--output is not valid UTF-8 (Deno cannot pass on its bytes as they are): rename it",
  );
  refused(["--input=in\uFFFD.bin"], /^--input is not valid UTF-8/);
});
