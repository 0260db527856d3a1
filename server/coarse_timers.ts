/**
 * Timers that share the runtime's timers: every deadline is rounded up to
 * the next tick of a fixed resolution, and all timers due at one tick fire
 * from one runtime timer.
 *
 * Each connection keeps an idle timer. With one `setTimeout` each, 10,000
 * connections pinged every 30 s wake the process 333 times a second, once
 * per ping and once more per answer, and each wake-up costs the runtime far
 * more than the ping itself. Sharing a timer per tick sends the pings due
 * together in one turn, and their answers come back together.
 *
 * @module
 */

/** The clock coarse timers run on. */
export interface TimerClock {
  /** Milliseconds on a steady clock. */
  now(): number;
  /** Calls `fire` after `ms` on that clock; returns an id for clearing. */
  setTimeout(fire: () => void, ms: number): unknown;
  /** Cancels a timer set by {@linkcode TimerClock.setTimeout}. */
  clearTimeout(id: unknown): void;
}

/** The real clock: `performance.now()` and the runtime's timers. */
export const REAL_CLOCK: TimerClock = {
  now: () => performance.now(),
  setTimeout: (fire, ms) => setTimeout(fire, ms),
  clearTimeout: (id) => clearTimeout(id as number),
};

/** The timers due at one tick, and the runtime timer that fires them. */
interface Slot {
  timer: unknown;
  due: Set<{ fire: () => void }>;
}

/**
 * Timers that fire never early and at most one resolution late, sharing one
 * runtime timer per tick.
 *
 * @example
 * ```ts
 * import { CoarseTimers } from "./coarse_timers.ts";
 * import assert from "node:assert/strict";
 *
 * let now = 0;
 * const waiting: Array<{ at: number; fire: () => void }> = [];
 * const timers = new CoarseTimers(100, {
 *   now: () => now,
 *   setTimeout: (fire, ms) => waiting.push({ at: now + ms, fire }),
 *   clearTimeout: () => {},
 * });
 * const fired: string[] = [];
 * timers.set(30, () => fired.push("a"));
 * timers.set(70, () => fired.push("b"));
 * assert.equal(waiting.length, 1); // both are due at the tick of 100 ms
 * now = 100;
 * waiting[0].fire();
 * assert.deepEqual(fired, ["a", "b"]);
 * ```
 */
export class CoarseTimers {
  readonly #resolution: number;
  readonly #clock: TimerClock;
  readonly #slots = new Map<number, Slot>();
  #pending = 0;

  /**
   * @param resolutionMs Length of a tick: the most a timer fires late.
   * @param clock The clock to run on; defaults to the real one.
   * @throws {RangeError} When the resolution is not a positive number.
   */
  constructor(resolutionMs: number, clock: TimerClock = REAL_CLOCK) {
    if (!(resolutionMs > 0)) {
      throw new RangeError(
        `Expected a positive resolution in ms, found ${resolutionMs}`,
      );
    }
    this.#resolution = resolutionMs;
    this.#clock = clock;
  }

  /** Timers set and neither fired nor cancelled. */
  get pending(): number {
    return this.#pending;
  }

  /** Runtime timers in use: one per tick that has timers due. */
  get ticks(): number {
    return this.#slots.size;
  }

  /**
   * Calls `fire` once `ms` have passed, at the first tick after that.
   *
   * @returns A function that cancels the timer; harmless once it fired.
   */
  set(ms: number, fire: () => void): () => void {
    const now = this.#clock.now();
    const tick = Math.ceil((now + Math.max(0, ms)) / this.#resolution);
    let slot = this.#slots.get(tick);
    if (slot === undefined) {
      slot = {
        timer: this.#clock.setTimeout(
          () => this.#fire(tick),
          tick * this.#resolution - now,
        ),
        due: new Set(),
      };
      this.#slots.set(tick, slot);
    }
    const entry = { fire };
    slot.due.add(entry);
    this.#pending++;
    const due = slot;
    return () => {
      if (!due.due.delete(entry)) return;
      this.#pending--;
      if (due.due.size === 0 && this.#slots.get(tick) === due) {
        this.#slots.delete(tick);
        this.#clock.clearTimeout(due.timer);
      }
    };
  }

  #fire(tick: number): void {
    const slot = this.#slots.get(tick);
    if (slot === undefined) return;
    this.#slots.delete(tick);
    const due = [...slot.due];
    slot.due.clear();
    this.#pending -= due.length;
    for (const { fire } of due) {
      try {
        fire();
      } catch (error) {
        // As a throwing setTimeout callback would, without losing the rest.
        reportError(error);
      }
    }
  }
}
