/**
 * A cap on password hashes running at once.
 *
 * scrypt at the real cost takes 60–70 ms of CPU here. Hashes run in Deno's
 * thread pool, so without a cap a burst of logins starts as many threads as
 * there are logins, and they take every core from the main thread that
 * serves the chat. With a cap, logins beyond it wait their turn (they still
 * have the login timeout), and chat keeps its share of the CPU.
 *
 * @module
 */

/**
 * Hashes allowed at once by default: half the cores, at least one, so the
 * other half stays with the connections.
 */
export function defaultHashConcurrency(): number {
  return Math.max(1, Math.floor(navigator.hardwareConcurrency / 2));
}

/**
 * Runs tasks at most `limit` at a time, the rest in arrival order.
 *
 * @example
 * ```ts
 * import { HashQueue } from "./hash_queue.ts";
 * import assert from "node:assert/strict";
 *
 * const queue = new HashQueue(1);
 * const order: string[] = [];
 * const slow = queue.run(async () => {
 *   await new Promise((resolve) => setTimeout(resolve, 5));
 *   order.push("first");
 * });
 * const next = queue.run(() => {
 *   order.push("second");
 *   return Promise.resolve();
 * });
 * assert.equal(queue.waiting, 1);
 * await Promise.all([slow, next]);
 * assert.deepEqual(order, ["first", "second"]);
 * ```
 */
export class HashQueue {
  readonly #limit: number;
  #running = 0;
  readonly #waiting: Array<() => void> = [];

  /**
   * @param limit Tasks running at once, at least 1.
   * @throws {RangeError} When `limit` is not a positive integer.
   */
  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(
        `Expected a hash concurrency of at least 1, found ${limit}`,
      );
    }
    this.#limit = limit;
  }

  /** Tasks running now. */
  get running(): number {
    return this.#running;
  }

  /** Tasks waiting for their turn. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Runs `task` once fewer than `limit` tasks run.
   *
   * @param task Starts the work; called at most once.
   * @param signal When it aborts before the task's turn, the task is never
   * started: a connection that closed while waiting wastes no hash.
   * @returns What the task resolves with.
   * @throws The signal's reason when it aborted before the task started.
   */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    if (this.#running < this.#limit) this.#running++;
    else await this.#turn(signal);
    try {
      return await task();
    } finally {
      // The place goes straight to the next waiter, so a task arriving
      // before that waiter resumes cannot take it too.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }

  /** Waits until a running task hands its place over. */
  #turn(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const go = () => {
        signal?.removeEventListener("abort", abort);
        resolve();
      };
      const abort = () => {
        const at = this.#waiting.indexOf(go);
        if (at !== -1) this.#waiting.splice(at, 1);
        reject(signal!.reason);
      };
      this.#waiting.push(go);
      signal?.addEventListener("abort", abort, { once: true });
    });
  }
}
