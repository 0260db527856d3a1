/**
 * Limits on the frames of a logged-in connection other than `send` (which
 * has its own rate, announced in `ready`), and the rule that ends a
 * connection that keeps flooding after being refused.
 *
 * Every frame costs the server work whatever it says: a client writing
 * pings, acks that acknowledge nothing, or frames it knows are refused, as
 * fast as its socket takes them, kept a core busy and held every other
 * user's answers back by seconds (docs/performance.md, "Round 5"). A `who`
 * costs more still: its answer lists everyone online. So:
 *
 * - frames other than `send`, and `ack`s of nothing new (an `ack` that
 *   acknowledges a message is bounded by the messages received, and always
 *   taken), may come {@linkcode FRAME_BURST} at once, then
 *   {@linkcode FRAME_RATE} a second;
 * - `who` counts among them and, on its own, {@linkcode WHO_BURST} at once,
 *   then {@linkcode WHO_RATE} a second;
 * - a frame beyond is refused with `rate_limited`; a connection refused
 *   more than {@linkcode REFUSAL_BURST} times at once, or more often than
 *   {@linkcode REFUSAL_RATE} a second after that (refused messages
 *   included), is closed with `bye` (`flooding`).
 *
 * The figures (protocol/frames.ts) are fixed, not flags, and far above
 * what a client sends: parley's client pings once per silent interval,
 * acknowledges once per read of new messages and paces its `who` requests
 * below their limit. So no operator needs to tune them, unlike the message
 * rate. A guard is made only for a connection whose frames come close
 * together (see the hub), not for every idle one.
 *
 * @module
 */

import {
  FRAME_BURST,
  FRAME_RATE,
  REFUSAL_BURST,
  REFUSAL_RATE,
  WHO_BURST,
  WHO_RATE,
} from "../protocol/frames.ts";
import { type Clock, TokenBucket } from "../protocol/token_bucket.ts";

/**
 * The flood limits of one connection.
 *
 * @example
 * ```ts
 * import { FloodGuard } from "./flood_guard.ts";
 * import { WHO_BURST } from "../protocol/frames.ts";
 * import assert from "node:assert/strict";
 *
 * let now = 0;
 * const guard = new FloodGuard(() => now);
 * for (let i = 0; i < WHO_BURST; i++) {
 *   assert.equal(guard.frame(), 0);
 *   assert.equal(guard.who(), 0);
 * }
 * assert.equal(guard.who(), 1_000); // the next `who` in a second
 * assert.equal(guard.refused(), false); // refused, not yet closed
 * now += 1_000;
 * assert.equal(guard.who(), 0);
 * ```
 */
export class FloodGuard {
  readonly #frames: TokenBucket;
  readonly #whos: TokenBucket;
  readonly #refusals: TokenBucket;

  /** @param clock The time source, in milliseconds. */
  constructor(clock: Clock) {
    this.#frames = new TokenBucket(FRAME_RATE, FRAME_BURST, clock);
    this.#whos = new TokenBucket(WHO_RATE, WHO_BURST, clock);
    this.#refusals = new TokenBucket(REFUSAL_RATE, REFUSAL_BURST, clock);
  }

  /**
   * Counts a frame other than `send` or a new `ack` (a `who` included).
   *
   * @returns 0 when it is allowed, else the milliseconds until one will be.
   */
  frame(): number {
    return this.#frames.take();
  }

  /**
   * Counts a `who` against its own limit, once {@linkcode frame} allowed
   * it as a frame.
   *
   * @returns 0 when it is allowed, else the milliseconds until one will be.
   */
  who(): number {
    return this.#whos.take();
  }

  /**
   * Counts a refusal for going too fast (any of these limits, or the
   * message rate).
   *
   * @returns True when the connection has gone on past its refusals and
   * is to be closed.
   */
  refused(): boolean {
    return this.#refusals.take() > 0;
  }
}
