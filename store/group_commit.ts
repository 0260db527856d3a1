/**
 * Group commit for Deno KV. Every KV commit is fsynced (about 0.3 ms here),
 * so writes queued while one commit is in flight are gathered into the next
 * atomic operation, within KV's per-atomic limits.
 *
 * @module
 */

/** One write: set `value`, or delete when `value` is undefined. */
export interface Write {
  key: Deno.KvKey;
  value?: unknown;
}

/** KV allows 1,000 mutations and 800 KiB per atomic; stay below both. */
const MAX_MUTATIONS = 900;
const MAX_BYTES = 700 * 1024;

interface Pending {
  writes: Write[];
  bytes: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Queues groups of writes and commits them in as few atomics as fit.
 *
 * Each call to {@linkcode GroupCommitter.write} is all-or-nothing and
 * commits in call order. A later write to the same key in the same batch
 * replaces the earlier one, which is what an in-memory cursor that is
 * written after every change wants.
 */
export class GroupCommitter {
  readonly #kv: Deno.Kv;
  #queue: Pending[] = [];
  #running = false;
  #commits = 0;

  /** @param kv The database; its owner closes it after {@linkcode drain}. */
  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** Atomic commits made so far. */
  get commits(): number {
    return this.#commits;
  }

  /** Writes waiting for a commit. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Queues writes to commit together.
   *
   * @param writes At most 900 writes.
   * @param bytes Their approximate size, to respect KV's 800 KiB limit.
   * @returns Resolves once they are on disk; rejects with the KV error when
   * the commit failed, in which case none of them was written.
   * @throws {RangeError} When `writes` has more than 900 entries.
   */
  write(writes: Write[], bytes = 256 * writes.length): Promise<void> {
    if (writes.length > MAX_MUTATIONS) {
      throw new RangeError(
        `Expected at most ${MAX_MUTATIONS} writes in one group, found ${writes.length}`,
      );
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ writes, bytes, resolve, reject });
      if (!this.#running) this.#run();
    });
  }

  /** Resolves when everything queued so far is committed or has failed. */
  async drain(): Promise<void> {
    while (this.#running || this.#queue.length > 0) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  async #run(): Promise<void> {
    this.#running = true;
    // Let the writes of the current turn join the first batch.
    await Promise.resolve();
    try {
      while (this.#queue.length > 0) {
        const batch: Pending[] = [];
        const merged = new Map<string, Write>();
        let bytes = 0;
        while (this.#queue.length > 0) {
          const next = this.#queue[0];
          if (
            batch.length > 0 &&
            (merged.size + next.writes.length > MAX_MUTATIONS ||
              bytes + next.bytes > MAX_BYTES)
          ) break;
          this.#queue.shift();
          batch.push(next);
          bytes += next.bytes;
          for (const write of next.writes) {
            const id = JSON.stringify(write.key);
            merged.delete(id); // keep commit order for a replaced key
            merged.set(id, write);
          }
        }
        await this.#commit(batch, merged.values());
      }
    } finally {
      this.#running = false;
    }
  }

  async #commit(batch: Pending[], writes: Iterable<Write>): Promise<void> {
    const atomic = this.#kv.atomic();
    for (const { key, value } of writes) {
      if (value === undefined) atomic.delete(key);
      else atomic.set(key, value);
    }
    try {
      await atomic.commit();
      this.#commits++;
      for (const pending of batch) pending.resolve();
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    }
  }
}
