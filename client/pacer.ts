/**
 * Keeps the chat client's `send` frames within the rate the server
 * announced in `ready`, so a script piping many messages is slowed down
 * instead of refused with `rate_limited`.
 *
 * @module
 */

import { TokenBucket } from "../protocol/token_bucket.ts";

/**
 * Share of the announced rate the client uses. The server counts frames
 * when they arrive, and the network can bunch frames sent evenly; sending
 * a little slower lets the server's bucket refill and absorb that.
 */
const RATE_SHARE = 0.9;

/**
 * A token bucket on the client's side of the server's rate limit: at most
 * `burst - 1` frames at once (one token is left to the server for frames
 * that arrive bunched), then 90 % of `perSecond`.
 *
 * @example
 * ```ts
 * import { SendPacer } from "./pacer.ts";
 * import assert from "node:assert/strict";
 *
 * let now = 0;
 * const pacer = new SendPacer(9, 3, () => now);
 * assert.equal(pacer.take(), 0);
 * assert.equal(pacer.take(), 0);
 * assert.equal(pacer.take(), 124); // 8.1 frames a second once the burst is used
 * now += 124;
 * assert.equal(pacer.take(), 0);
 * ```
 */
export class SendPacer {
  readonly #bucket: TokenBucket;

  /**
   * @param perSecond The server's `rateLimit`; above 0.
   * @param burst The server's `rateBurst`; below 1 counts as 1.
   * @param now The clock, in milliseconds.
   * @throws {RangeError} When `perSecond` is not above 0.
   */
  constructor(perSecond: number, burst: number, now: () => number) {
    if (!(perSecond > 0)) {
      throw new RangeError(
        `Expected a rate above 0 frames a second, found ${perSecond}`,
      );
    }
    this.#bucket = new TokenBucket(
      perSecond * RATE_SHARE,
      Math.max(1, Math.floor(burst) - 1),
      now,
    );
  }

  /**
   * Takes a token if there is one.
   *
   * @returns 0 when a frame may be sent now (the token is taken), else the
   * milliseconds to wait before asking again.
   */
  take(): number {
    return this.#bucket.take();
  }
}
