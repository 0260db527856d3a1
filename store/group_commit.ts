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

/**
 * Writes decided only when a commit takes them: what was queued can still
 * grow (more messages joining one stored chunk) until then.
 */
export type DeferredWrites = () => { writes: Write[]; bytes: number };

interface Pending {
  writes: Write[] | DeferredWrites;
  bytes: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** A short string naming a key, to find a later write to the same key. */
function keyId(key: Deno.KvKey): string {
  let id = "";
  for (const part of key) {
    id += typeof part === "string"
      ? `s${part.length}:${part}`
      : typeof part === "number"
      ? `n${part};`
      : `j${
        JSON.stringify(part, (_, v) => typeof v === "bigint" ? `${v}n` : v)
      };`;
  }
  return id;
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

  /**
   * Queues writes to commit together.
   *
   * @param writes At most 900 writes, or a function giving them (and their
   * size) at the moment a commit takes them, called exactly once.
   * @param bytes Their approximate size, to respect KV's 800 KiB limit.
   * @returns Resolves once they are on disk; rejects with the KV error when
   * the commit failed, in which case none of them was written.
   * @throws {RangeError} When `writes` has more than 900 entries.
   */
  write(
    writes: Write[] | DeferredWrites,
    bytes = 256 * writes.length,
  ): Promise<void> {
    if (typeof writes !== "function") checkCount(writes);
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
        // Take the queue whole: writes queued during the commit go to the
        // next one. What does not fit goes back to the front.
        const queue = this.#queue;
        this.#queue = [];
        const batch: Pending[] = [];
        const merged = new Map<string, Write>();
        let bytes = 0;
        let taken = 0;
        for (; taken < queue.length; taken++) {
          const next = queue[taken];
          if (typeof next.writes === "function") {
            try {
              const made = next.writes();
              checkCount(made.writes);
              next.writes = made.writes;
              next.bytes = made.bytes;
            } catch (error) {
              next.writes = [];
              next.reject(error);
              continue;
            }
          }
          if (
            batch.length > 0 &&
            (merged.size + next.writes.length > MAX_MUTATIONS ||
              bytes + next.bytes > MAX_BYTES)
          ) break;
          batch.push(next);
          bytes += next.bytes;
          for (const write of next.writes) {
            const id = keyId(write.key);
            merged.delete(id); // keep commit order for a replaced key
            merged.set(id, write);
          }
        }
        if (taken < queue.length) {
          this.#queue = queue.slice(taken).concat(this.#queue);
        }
        if (batch.length > 0) await this.#commit(batch, merged.values());
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

function checkCount(writes: Write[]): void {
  if (writes.length > MAX_MUTATIONS) {
    throw new RangeError(
      `Expected at most ${MAX_MUTATIONS} writes in one group, found ${writes.length}`,
    );
  }
}
