/**
 * The token bucket behind parley's message rate limit. The server refuses
 * `send` frames beyond it; the client paces itself with the same rule and
 * the figures the server announces in `ready`, so both sides agree.
 *
 * @module
 */

/** Milliseconds now; `Date.now` in the server, a fake in tests. */
export type Clock = () => number;

/**
 * A token bucket: `burst` tokens at most, refilled at `perSecond`. Each
 * allowed event takes one token.
 *
 * @example
 * ```ts
 * import { TokenBucket } from "./token_bucket.ts";
 * import assert from "node:assert/strict";
 *
 * let now = 0;
 * const bucket = new TokenBucket(2, 2, () => now);
 * assert.equal(bucket.take(), 0);
 * assert.equal(bucket.take(), 0);
 * assert.equal(bucket.take(), 500); // wait 500 ms for the next token
 * now += 500;
 * assert.equal(bucket.take(), 0);
 * ```
 */
export class TokenBucket {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #clock: Clock;
  #tokens: number;
  #at: number;

  /**
   * @param perSecond Tokens added per second; above 0.
   * @param burst Most tokens held, and the number held at the start; 1 or
   * more.
   * @param clock The time source.
   * @throws {RangeError} When `perSecond` is not above 0 or `burst` is
   * below 1.
   */
  constructor(perSecond: number, burst: number, clock: Clock) {
    if (!(perSecond > 0) || !(burst >= 1)) {
      throw new RangeError(
        `Expected a rate above 0 and a burst of 1 or more, found ${perSecond} and ${burst}`,
      );
    }
    this.#perMs = perSecond / 1000;
    this.#burst = burst;
    this.#clock = clock;
    this.#tokens = burst;
    this.#at = clock();
  }

  /**
   * Takes a token if there is one.
   *
   * @returns 0 when the event is allowed, else the milliseconds until a
   * token will be there (nothing is taken then).
   */
  take(): number {
    const now = this.#clock();
    this.#tokens = Math.min(
      this.#burst,
      this.#tokens + Math.max(0, now - this.#at) * this.#perMs,
    );
    this.#at = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - this.#tokens) / this.#perMs);
  }
}
