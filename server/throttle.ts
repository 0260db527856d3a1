/**
 * Counting tools for the server's limits, on an injected clock so tests can
 * use fake time: a {@linkcode FailureCounter} for events per sliding window
 * (wrong passwords, new accounts). Rates use the token bucket in
 * `protocol/token_bucket.ts`, which the client paces itself with too.
 *
 * @module
 */

import type { Clock } from "../protocol/token_bucket.ts";

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
