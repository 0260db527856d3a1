/**
 * The timers and the clock the chat client runs on, behind an interface
 * so tests can drive time by hand.
 *
 * @module
 */

/**
 * Identifies a started timer; only the {@linkcode Timers} that made it
 * knows what it is.
 */
export type TimerHandle = unknown;

/** Starts and stops one-shot timers, and tells the time. */
export interface Timers {
  /** Calls `fn` once after `ms` milliseconds; returns a handle. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Stops a timer; a handle already fired or cleared is ignored. */
  clearTimeout(handle: TimerHandle): void;
  /** Milliseconds on a clock that never goes back. */
  now(): number;
}

/** The real timers of the runtime. */
export const systemTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) =>
    clearTimeout(handle as ReturnType<typeof setTimeout>),
  now: () => performance.now(),
};

/**
 * Resolves after `ms` milliseconds, or as soon as `until` settles.
 * The timer is always cleared, so nothing is left pending.
 *
 * @returns True when `until` settled first.
 */
export async function waitAtMost(
  timers: Timers,
  ms: number,
  until: Promise<unknown>,
): Promise<boolean> {
  let handle: TimerHandle;
  const timeout = new Promise<false>((resolve) => {
    handle = timers.setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([until.then(() => true), timeout]);
  } finally {
    timers.clearTimeout(handle);
  }
}
