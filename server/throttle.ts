/**
 * Counting tools for limits, on an injected clock so tests can use fake
 * time: a {@linkcode TokenBucket} for rates (messages per second) and a
 * {@linkcode FailureCounter} for events per sliding window (wrong passwords,
 * new accounts).
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
 * import { TokenBucket } from "./throttle.ts";
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

/**
 * Counts events per key within a sliding window, keeping only keys with
 * recent events, so memory stays bounded by the traffic of one window.
 *
 * @example
 * ```ts
 * import { FailureCounter } from "./throttle.ts";
 * import assert from "node:assert/strict";
 *
 * let now = 0;
 * const failures = new FailureCounter(60_000, () => now);
 * failures.add("bob");
 * failures.add("bob");
 * assert.equal(failures.count("bob"), 2);
 * now += 60_000;
 * assert.equal(failures.count("bob"), 0);
 * ```
 */
export class FailureCounter {
  readonly #windowMs: number;
  readonly #clock: Clock;
  readonly #events = new Map<string, number[]>();
  #lastSweep = 0;

  /**
   * @param windowMs How long an event counts.
   * @param clock The time source.
   */
  constructor(windowMs: number, clock: Clock) {
    this.#windowMs = windowMs;
    this.#clock = clock;
  }

  /** Keys with events in the window (an upper bound between sweeps). */
  get size(): number {
    return this.#events.size;
  }

  /** Records one event for `key` now; returns the count in the window. */
  add(key: string): number {
    const now = this.#clock();
    this.#sweep(now);
    const times = this.#recent(key, now);
    times.push(now);
    this.#events.set(key, times);
    return times.length;
  }

  /** Events for `key` in the window. */
  count(key: string): number {
    return this.#recent(key, this.#clock()).length;
  }

  /**
   * Milliseconds until the count of `key` drops below `limit`, or 0 when it
   * is below already.
   */
  waitBelow(key: string, limit: number): number {
    const now = this.#clock();
    const times = this.#recent(key, now);
    if (times.length < limit) return 0;
    return times[times.length - limit] + this.#windowMs - now;
  }

  /** Takes back the latest event of `key`: it did not happen after all. */
  undo(key: string): void {
    const events = this.#events.get(key);
    events?.pop();
    if (events?.length === 0) this.#events.delete(key);
  }

  /** Forgets every event of `key`. */
  clear(key: string): void {
    this.#events.delete(key);
  }

  #recent(key: string, now: number): number[] {
    const times = this.#events.get(key);
    if (!times) return [];
    const from = times.findIndex((t) => t > now - this.#windowMs);
    if (from === -1) {
      this.#events.delete(key);
      return [];
    }
    if (from > 0) times.splice(0, from);
    return times;
  }

  /** Drops keys whose events all left the window, once per window. */
  #sweep(now: number): void {
    if (now - this.#lastSweep < this.#windowMs) return;
    this.#lastSweep = now;
    for (const key of [...this.#events.keys()]) this.#recent(key, now);
  }
}
