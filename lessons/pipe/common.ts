/**
 * What the pipe lesson's server and client share, the way a C lesson's header file serves both
 * programs.
 *
 * @module
 */

/** The pipe lesson has no options of its own: a pipe has no name to agree on. */
export type PipeOptions = Record<string, never>;

/** How to connect the two sides by hand: the shell makes the pipe for `|`. */
export const BY_HAND =
  "deno task lesson:pipe server --input F | deno task lesson:pipe client --output G";
