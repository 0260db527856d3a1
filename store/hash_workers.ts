/**
 * scrypt on worker threads that run at a lower CPU priority than the main
 * thread.
 *
 * `node:crypto`'s asynchronous scrypt runs in Deno's shared thread pool, at
 * the same priority as the thread serving every connection: a storm of
 * logins then takes half of a busy core from the chat. These workers renice
 * themselves (on Linux a thread's nice value is its own), so when the core
 * is busy the kernel gives the chat most of it and hashing what is left; on
 * an idle machine hashing runs at full speed.
 *
 * The worker's code is inlined and started from a blob URL, so the bundled
 * and compiled program need no second file.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { ScryptCost } from "./password.ts";

/** Nice value of hashing threads unless told otherwise. */
export const DEFAULT_HASH_NICE = 10;

const WORKER_SOURCE = `
import { scryptSync } from "node:crypto";
import { setPriority } from "node:os";
self.onmessage = ({ data }) => {
  if (data.nice !== undefined) {
    try {
      setPriority(0, data.nice);
    } catch {
      // Not allowed here: hash at the normal priority.
    }
    return;
  }
  try {
    const key = scryptSync(data.password, new Uint8Array(data.salt), data.keyLength, {
      N: data.N, r: data.r, p: data.p, maxmem: 256 * data.N * data.r,
    });
    self.postMessage({ id: data.id, key: new Uint8Array(key) });
  } catch (error) {
    self.postMessage({ id: data.id, error: String(error?.message ?? error) });
  }
};
`;

interface Job {
  id: number;
  password: string;
  salt: Uint8Array;
  keyLength: number;
  cost: ScryptCost;
  resolve: (key: Buffer) => void;
  reject: (error: Error) => void;
}

interface Thread {
  worker: Worker;
  job: Job | null;
}

/**
 * A fixed number of hashing threads at a given nice value; jobs beyond
 * them wait in arrival order. Threads start on first use.
 *
 * @example
 * ```ts
 * import { HashWorkers } from "./hash_workers.ts";
 * import assert from "node:assert/strict";
 *
 * const workers = new HashWorkers(1, 10);
 * const key = await workers.scrypt("pw", new Uint8Array(16), 32, {
 *   N: 1024,
 *   r: 8,
 *   p: 1,
 * });
 * assert.equal(key.length, 32);
 * workers.close();
 * ```
 */
export class HashWorkers {
  readonly #size: number;
  readonly #nice: number;
  readonly #threads: Thread[] = [];
  readonly #waiting: Job[] = [];
  #url: string | null = null;
  #nextId = 1;
  #closed = false;

  /**
   * @param size Threads at most, at least 1.
   * @param nice Their nice value, 0 (as the main thread) to 19 (lowest).
   * @throws {RangeError} When either is out of range.
   */
  constructor(size: number, nice: number = DEFAULT_HASH_NICE) {
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(`Expected at least 1 hash thread, found ${size}`);
    }
    if (!Number.isInteger(nice) || nice < 0 || nice > 19) {
      throw new RangeError(
        `Expected a nice value from 0 to 19, found ${nice}`,
      );
    }
    this.#size = size;
    this.#nice = nice;
  }

  /**
   * Derives a key with scrypt on a hashing thread.
   *
   * @throws {Error} When the parameters are refused, the thread failed, or
   * the workers were closed before the job ran.
   */
  scrypt(
    password: string,
    salt: Uint8Array,
    keyLength: number,
    cost: ScryptCost,
  ): Promise<Buffer> {
    if (this.#closed) {
      return Promise.reject(new Error("The hashing threads are closed"));
    }
    return new Promise((resolve, reject) => {
      const job: Job = {
        id: this.#nextId++,
        password,
        salt,
        keyLength,
        cost,
        resolve,
        reject,
      };
      const idle = this.#threads.find((t) => t.job === null) ??
        (this.#threads.length < this.#size ? this.#start() : undefined);
      if (idle) this.#give(idle, job);
      else this.#waiting.push(job);
    });
  }

  /** Stops every thread; jobs not finished are refused. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const gone = new Error("The hashing threads are closed");
    for (const thread of this.#threads.splice(0)) {
      thread.worker.terminate();
      thread.job?.reject(gone);
    }
    for (const job of this.#waiting.splice(0)) job.reject(gone);
    if (this.#url) URL.revokeObjectURL(this.#url);
  }

  #start(): Thread {
    this.#url ??= URL.createObjectURL(
      new Blob([WORKER_SOURCE], { type: "text/javascript" }),
    );
    const worker = new Worker(this.#url, { type: "module" });
    const thread: Thread = { worker, job: null };
    worker.postMessage({ nice: this.#nice });
    worker.onmessage = ({ data }: MessageEvent) => {
      const job = thread.job;
      if (!job || data.id !== job.id) return;
      if (data.error !== undefined) job.reject(new Error(data.error));
      else job.resolve(Buffer.from(data.key));
      this.#next(thread);
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      // The thread is gone: refuse its job and let a new one take its place.
      worker.terminate();
      const at = this.#threads.indexOf(thread);
      if (at !== -1) this.#threads.splice(at, 1);
      thread.job?.reject(new Error(`Hashing thread failed: ${event.message}`));
      const waiting = this.#waiting.shift();
      if (waiting && !this.#closed) this.#give(this.#start(), waiting);
    };
    this.#threads.push(thread);
    return thread;
  }

  #give(thread: Thread, job: Job): void {
    thread.job = job;
    thread.worker.postMessage({
      id: job.id,
      password: job.password,
      salt: job.salt,
      keyLength: job.keyLength,
      N: job.cost.N,
      r: job.cost.r,
      p: job.cost.p,
    });
  }

  #next(thread: Thread): void {
    thread.job = null;
    const waiting = this.#waiting.shift();
    if (waiting) this.#give(thread, waiting);
  }
}
