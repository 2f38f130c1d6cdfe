/**
 * Every transport seen the same way: a one-way channel that carries pieces of bytes from a
 * {@linkcode Sink} to a {@linkcode Source}. Each transport module exports a `channel` (a
 * {@linkcode ChannelAdapter}) that opens its own kind of channel the way its lesson does: a pipe
 * raised to pipe-max-size, a FIFO by its name, a queue of messages, a ring of slots. The
 * benchmark (`bench/`) measures every lesson through it without knowing which is which, so a new
 * transport needs no change there.
 *
 * There are two kinds, as in the lectures:
 * - a **named** channel ({@linkcode NamedChannel}): two unrelated processes meet by a name (a
 *   FIFO's path, a queue's or a ring's POSIX name);
 * - an **inherited** channel ({@linkcode InheritedChannel}): it has no name, so one process
 *   creates it and starts the other with one end inherited (a pipe on the child's stdin).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ChannelAdapter } from "./channel.ts";
 * import { channel as fifo } from "./fifo.ts";
 * import { channel as pipe } from "./pipe.ts";
 * const adapters: ChannelAdapter[] = [pipe, fifo];
 * assert.deepEqual(adapters.map((adapter) => adapter.kind), ["inherited", "named"]);
 * ```
 *
 * @module
 */

/** The sending end of a one-way channel. */
export interface Sink {
  /** Sends one piece (at most the `piece` size it was opened with). */
  send(data: Uint8Array): Promise<void>;
  /** Says "that was all" (closes its end, or sends an end marker) and waits until it is taken. */
  end(): Promise<void>;
}

/** The receiving end of a one-way channel. */
export interface Source {
  /**
   * The next piece, empty at the end. The bytes may be the channel's own memory (a ring's
   * slot) or a reused buffer: use them before the next `receive`.
   */
  receive(): Promise<Uint8Array>;
}

/** How to open one end of a channel. */
export interface EndOptions {
  /** The largest piece sent or received at once: a write's chunk, a message, a slot. */
  piece: number;
  /**
   * About how many bytes the channel should hold between the two processes: a ring's slots
   * add up to it (at least two). Channels whose size the kernel sets (a pipe raised to
   * pipe-max-size, a queue of `maxmsg` messages) ignore it.
   */
  capacity: number;
  /** How long a wait (for the peer, for data, for room) may take, in ms. */
  timeout: number;
  /** What the end opens goes here, and is closed (and its name removed) with the stack. */
  stack: DisposableStack;
}

/** How to open one end of a named channel. */
export interface NamedEndOptions extends EndOptions {
  /** Where a channel that is a file (a FIFO) is made; others ignore it. */
  dir: string;
  /**
   * This end is one of two channels opened at the same time, one each way (a ping-pong): the
   * peer opens its two ends in the same order, so an open must not wait for the peer's other
   * end, and the names stay until the stack removes them.
   */
  pair?: boolean;
  /**
   * A network channel's address (see {@linkcode ChannelPlace}): the receiver listens on it, the
   * sender connects to it. Default: loopback. Other channels ignore it.
   */
  host?: string;
}

/**
 * Somewhere else the benchmark can measure a named channel, reported as a row of its own beside
 * it (`tcp veth`: TCP between two network hosts joined by a veth pair).
 */
export interface ChannelPlace {
  /** The row's second word: `veth`. */
  readonly name: string;
  /** Makes the place for one measurement (two network hosts); removed when disposed. */
  enter(): Promise<PlaceMade>;
}

/** A {@linkcode ChannelPlace} made: where the two processes run, and meet. */
export interface PlaceMade extends Disposable {
  /** The address the receiver listens on and the sender connects to (`host` of the options). */
  readonly host: string;
  /** The command line that runs `argv` as the sender or the receiver (`ip netns exec NS …`). */
  launch(role: "send" | "recv", argv: string[]): string[];
}

/** A channel two unrelated processes find by a name. */
export interface NamedChannel {
  /** Named: both processes open it by the same word. */
  readonly kind: "named";
  /** The same channel in the C reference (`../shared/refbench`), if it has one. */
  readonly refbench?: string;
  /** The largest piece this channel takes at once (a queue's `msgsize_max`); none: any. */
  maxPiece?(): number;
  /** The other places where this machine lets the benchmark measure it (may be none). */
  places?(): Promise<ChannelPlace[]>;
  /**
   * Creates (or joins) the channel called `word` (a plain word, like `ipc-lesson-bench-7`:
   * the adapter turns it into a path or a POSIX name) and opens it for sending.
   */
  openSink(word: string, options: NamedEndOptions): Promise<Sink>;
  /** Opens the channel called `word` for receiving. */
  openSource(word: string, options: NamedEndOptions): Promise<Source>;
}

/** One end of a new inherited channel for this process, and the other for a child. */
export interface Inheritable<End> {
  /** This process's end. */
  mine: End;
  /**
   * The descriptor of the child's end. The creator hands it to the child (on its stdin, or
   * under the same number) and then closes its own copy with `close`.
   */
  theirs: { readonly fd: number; close(): void };
}

/** A channel with no name: one process creates it and starts the other with an end inherited. */
export interface InheritedChannel {
  /** Inherited: the creator's child gets its end as a file descriptor. */
  readonly kind: "inherited";
  /** The same channel in the C reference (`../shared/refbench`), if it has one. */
  readonly refbench?: string;
  /** The largest piece this channel takes at once; none: any. */
  maxPiece?(): number;
  /** Creates a channel that this process sends into; the child receives. */
  createSink(options: EndOptions): Inheritable<Sink>;
  /** Creates a channel that this process receives from; the child sends. */
  createSource(options: EndOptions): Inheritable<Source>;
  /** The child's side: sends into the inherited descriptor `fd`. */
  adoptSink(fd: number, options: EndOptions): Sink;
  /** The child's side: receives from the inherited descriptor `fd`. */
  adoptSource(fd: number, options: EndOptions): Source;
}

/** Any transport's channel: see {@linkcode NamedChannel} and {@linkcode InheritedChannel}. */
export type ChannelAdapter = NamedChannel | InheritedChannel;
