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
 * @param perSecond The server's `rateLimit`; above 0.
 * @param burst The server's `rateBurst`; below 2 (or missing) counts as 2.
 * @param now The clock, in milliseconds.
 * @throws {RangeError} When `perSecond` is not above 0.
 *
 * @example
 * ```ts
 * import { sendPacer } from "./pacer.ts";
 * import assert from "node:assert/strict";
 *
 * let now = 0;
 * const pacer = sendPacer(9, 3, () => now);
 * assert.equal(pacer.take(), 0);
 * assert.equal(pacer.take(), 0);
 * assert.equal(pacer.take(), 124); // 8.1 frames a second once the burst is used
 * now += 124;
 * assert.equal(pacer.take(), 0);
 * ```
 */
export function sendPacer(
  perSecond: number,
  burst: number,
  now: () => number,
): TokenBucket {
  return new TokenBucket(
    perSecond * RATE_SHARE,
    burst >= 2 ? Math.floor(burst) - 1 : 1,
    now,
  );
}
