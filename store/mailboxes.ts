/**
 * Mailboxes: every private message, stored until its recipient's client
 * acknowledges it.
 *
 * Each user has a cursor `{ next, first }`: messages carry sequence numbers
 * `first ≤ seq < next`, and everything below `first` is gone. The server
 * process is the only writer, so the cursors live in memory once read and
 * every change is written behind them through the {@linkcode GroupCommitter}
 * (messages and cursor in one atomic operation). A failed commit leaves a
 * gap in the numbers, never a reused one.
 *
 * Messages to one recipient that wait for the same commit are stored
 * together, as one chunk `["message", key, firstSeq]` holding consecutive
 * messages: a KV mutation costs far more than the bytes in it, so a busy
 * recipient's messages cost one mutation per commit instead of one each. A
 * chunk is deleted once every message in it is acknowledged or expired;
 * until then readers skip its messages below `first`. A value that is one
 * message instead of a list (schema 1 before chunks) reads as a chunk of
 * one.
 *
 * @module
 */

import { ProtocolError } from "../protocol/errors.ts";
import type { GroupCommitter, Write } from "./group_commit.ts";

/** A private message as stored. */
export interface StoredMessage {
  seq: number;
  /** Sender's display name and key. */
  from: string;
  fromKey: string;
  /** Recipient's display name. */
  to: string;
  ts: number;
  text: string;
  /** The sender's `send` id, for the `delivered` receipt. */
  id: string;
}

/** A mailbox's cursor, as stored under `["mailbox", key]`. */
export interface Cursor {
  next: number;
  first: number;
  /** Messages that expired before anyone read them, not yet reported. */
  expiredUnread: number;
}

/** Mailbox limits. */
export interface MailboxOptions {
  /** Stored messages per recipient. */
  maxStored: number;
  /** Lifetime of a stored message in milliseconds. */
  ttlMs: number;
  now: () => number;
}

/** What a user finds when logging in. */
export interface Opened {
  messages: StoredMessage[];
  expired: number;
}

const DELETES_PER_WRITE = 800;
/** Estimated bytes above which a chunk takes no more messages (KV: 64 KiB). */
const CHUNK_BYTES = 40 * 1024;

/** Messages stored together, and which numbers they span. */
interface Chunk {
  first: number;
  last: number;
}

/** The chunk of a recipient still waiting for its commit. */
interface OpenChunk extends Chunk {
  messages: StoredMessage[];
  bytes: number;
  /** False once the committer has taken it: later messages start another. */
  open: boolean;
  committed: Promise<void>;
}

/** Rough upper bound of a message's serialised size. */
function sizeOf(m: Omit<StoredMessage, "seq">): number {
  return 64 + 2 * (m.text.length + m.from.length + m.fromKey.length +
        m.to.length + m.id.length);
}

/** The stored private messages of every user. */
export class Mailboxes {
  readonly #kv: Deno.Kv;
  readonly #committer: GroupCommitter;
  readonly #options: MailboxOptions;
  readonly #cursors = new Map<string, Cursor | Promise<Cursor>>();
  readonly #sweeps = new Map<string, Promise<void>>();
  readonly #open = new Map<string, OpenChunk>();
  /** Chunks stored per recipient, oldest first, once known. */
  readonly #chunks = new Map<string, Chunk[]>();
  /** Recipients whose chunks from earlier runs have been read. */
  readonly #indexed = new Map<string, Promise<void>>();
  #stored = 0;

  constructor(kv: Deno.Kv, committer: GroupCommitter, options: MailboxOptions) {
    this.#kv = kv;
    this.#committer = committer;
    this.#options = options;
  }

  /** Messages accepted for storage since start. */
  get storedSinceStart(): number {
    return this.#stored;
  }

  /** Messages waiting for `key`, if its cursor is loaded. */
  waiting(key: string): number | undefined {
    const cursor = this.#cursors.get(key);
    return cursor && !(cursor instanceof Promise)
      ? cursor.next - cursor.first
      : undefined;
  }

  /** Messages waiting for `key`, reading the cursor if needed. */
  async count(key: string): Promise<number> {
    const cursor = await this.#cursor(key);
    return cursor.next - cursor.first;
  }

  #cursor(key: string): Cursor | Promise<Cursor> {
    const known = this.#cursors.get(key);
    if (known) return known;
    const loading = this.#kv.get<Cursor>(["mailbox", key]).then((found) => {
      const cursor = found.value ?? { next: 1, first: 1, expiredUnread: 0 };
      this.#cursors.set(key, cursor);
      return cursor;
    }, (error) => {
      this.#cursors.delete(key);
      throw error;
    });
    this.#cursors.set(key, loading);
    return loading;
  }

  /**
   * Stores a message for `key` and resolves once it is on disk.
   *
   * Messages to one recipient get their numbers in call order, so one
   * sender's messages keep their order.
   *
   * @throws {ProtocolError} `mailbox_full` when the recipient already has
   * `maxStored` messages (nothing is stored); `store_failed` when writing
   * failed (nothing is stored).
   */
  async append(
    key: string,
    message: Omit<StoredMessage, "seq">,
  ): Promise<StoredMessage> {
    const known = this.#cursor(key);
    const cursor = known instanceof Promise ? await known : known;
    // While a full mailbox is swept, later messages to it wait behind the
    // sweep, all on the same promise, so they keep their order.
    let sweeping = this.#sweeps.get(key);
    if (!sweeping && cursor.next - cursor.first >= this.#options.maxStored) {
      sweeping = this.#sweep(key, cursor).catch(() => {}).finally(() =>
        this.#sweeps.delete(key)
      );
      this.#sweeps.set(key, sweeping);
    }
    if (sweeping) await sweeping;
    if (cursor.next - cursor.first >= this.#options.maxStored) {
      throw new ProtocolError(
        "mailbox_full",
        `The mailbox of ${message.to} is full (${this.#options.maxStored} messages); the message was not stored, try again later`,
      );
    }
    const stored = { seq: cursor.next, ...message };
    cursor.next++;
    try {
      await this.#addToChunk(key, cursor, stored);
    } catch (error) {
      throw new ProtocolError(
        "store_failed",
        `The server could not store the message (${
          (error as Error).message
        }); it was not sent, try again`,
        { cause: error },
      );
    }
    this.#stored++;
    return stored;
  }

  /**
   * Puts a message into the recipient's chunk waiting for a commit, or
   * starts one; resolves when that chunk is on disk.
   */
  #addToChunk(
    key: string,
    cursor: Cursor,
    stored: StoredMessage,
  ): Promise<void> {
    const size = sizeOf(stored);
    const chunk = this.#open.get(key);
    if (
      chunk?.open && chunk.last + 1 === stored.seq &&
      chunk.bytes + size <= CHUNK_BYTES
    ) {
      chunk.messages.push(stored);
      chunk.last = stored.seq;
      chunk.bytes += size;
      return chunk.committed;
    }
    const fresh: OpenChunk = {
      first: stored.seq,
      last: stored.seq,
      messages: [stored],
      bytes: size,
      open: true,
      committed: Promise.resolve(),
    };
    this.#open.set(key, fresh);
    this.#known(key).push(fresh);
    fresh.committed = this.#committer.write(() => {
      fresh.open = false;
      if (this.#open.get(key) === fresh) this.#open.delete(key);
      return {
        writes: [
          { key: ["message", key, fresh.first], value: fresh.messages },
          { key: ["mailbox", key], value: { ...cursor } },
        ],
        bytes: fresh.bytes + 128,
      };
    });
    fresh.committed.catch(() => {
      // Refused before a commit took it: later messages start another.
      fresh.open = false;
      if (this.#open.get(key) === fresh) this.#open.delete(key);
      this.#forget(key, fresh);
    });
    return fresh.committed;
  }

  #known(key: string): Chunk[] {
    let chunks = this.#chunks.get(key);
    if (!chunks) this.#chunks.set(key, chunks = []);
    return chunks;
  }

  #forget(key: string, chunk: Chunk): void {
    const chunks = this.#chunks.get(key);
    const at = chunks?.indexOf(chunk) ?? -1;
    if (at !== -1) chunks!.splice(at, 1);
  }

  /** Makes sure the chunks stored by earlier runs are in the index. */
  #index(key: string): Promise<void> {
    let indexing = this.#indexed.get(key);
    if (!indexing) {
      indexing = this.#readIndex(key);
      this.#indexed.set(key, indexing);
      indexing.catch(() => this.#indexed.delete(key));
    }
    return indexing;
  }

  async #readIndex(key: string): Promise<void> {
    for await (const _ of this.#list(key, Number.MAX_SAFE_INTEGER)) {
      // Listing every chunk is what indexes them.
    }
  }

  /** Adds chunks read from the database to the index of `key`. */
  #merge(key: string, found: Chunk[]): void {
    const chunks = this.#known(key);
    const have = new Set(chunks.map((c) => c.first));
    for (const chunk of found) if (!have.has(chunk.first)) chunks.push(chunk);
    chunks.sort((a, b) => a.first - b.first);
  }

  /**
   * Reads the mailbox of a user who is logging in, oldest first, and drops
   * the expired messages, counting them.
   */
  async open(key: string): Promise<Opened> {
    const cursor = await this.#cursor(key);
    const cutoff = this.#options.now() - this.#options.ttlMs;
    const messages: StoredMessage[] = [];
    const expired: number[] = [];
    for await (const message of this.#list(key, cursor.first)) {
      if (message.ts < cutoff) expired.push(message.seq);
      else messages.push(message);
    }
    const count = expired.length + cursor.expiredUnread;
    if (expired.length > 0 || cursor.expiredUnread > 0) {
      cursor.expiredUnread = 0;
      // Only past the expired ones: a message whose commit is still under
      // way was not listed, and must stay above `first`.
      const lastExpired = expired.length > 0 ? expired[expired.length - 1] : 0;
      cursor.first = Math.max(
        cursor.first,
        messages.length > 0 ? messages[0].seq : lastExpired + 1,
      );
      await this.#delete(key, cursor);
    }
    return { messages, expired: count };
  }

  /**
   * Removes every message of `key` up to and including `seq`: the client
   * has shown them.
   */
  async acknowledge(key: string, seq: number): Promise<void> {
    const known = this.#cursor(key);
    const cursor = known instanceof Promise ? await known : known;
    const upTo = Math.min(seq, cursor.next - 1);
    if (upTo < cursor.first) return;
    cursor.first = upTo + 1;
    await this.#delete(key, cursor);
  }

  /** Drops expired messages at the front of a full mailbox, counting them. */
  async #sweep(key: string, cursor: Cursor): Promise<void> {
    const cutoff = this.#options.now() - this.#options.ttlMs;
    const gone: number[] = [];
    for await (const message of this.#list(key, cursor.first)) {
      if (message.ts >= cutoff) break;
      gone.push(message.seq);
    }
    if (gone.length === 0) return;
    const last = gone[gone.length - 1];
    if (last < cursor.first) return; // acknowledged meanwhile
    cursor.expiredUnread += gone.filter((s) => s >= cursor.first).length;
    cursor.first = last + 1;
    await this.#delete(key, cursor);
  }

  /** The stored messages of `key` from `first` on, oldest first. */
  async *#list(key: string, first: number): AsyncIterable<StoredMessage> {
    // A complete listing indexes the chunks it passes, so the first login
    // after a start reads the mailbox once, not once more to index it.
    const indexing = !this.#indexed.has(key);
    const found: Chunk[] = [];
    const entries = this.#kv.list<StoredMessage[] | StoredMessage>({
      prefix: ["message", key],
    }, { batchSize: 500 });
    for await (const entry of entries) {
      const value = entry.value;
      const messages = Array.isArray(value) ? value : [value];
      if (indexing) {
        found.push({
          first: entry.key[2] as number,
          last: messages[messages.length - 1].seq,
        });
      }
      for (const message of messages) {
        if (message.seq >= first) yield message;
      }
    }
    if (indexing) {
      this.#merge(key, found);
      if (!this.#indexed.has(key)) this.#indexed.set(key, Promise.resolve());
    }
  }

  /**
   * Deletes the chunks of `key` whose every message is below the cursor's
   * `first`, and writes the cursor.
   */
  async #delete(key: string, cursor: Cursor): Promise<void> {
    await this.#index(key);
    const chunks = this.#known(key);
    let done = 0;
    while (done < chunks.length && chunks[done].last < cursor.first) done++;
    const gone = chunks.splice(0, done);
    const writes: Promise<void>[] = [];
    for (let i = 0; i < gone.length || i === 0; i += DELETES_PER_WRITE) {
      const group: Write[] = gone.slice(i, i + DELETES_PER_WRITE).map((
        chunk,
      ) => ({ key: ["message", key, chunk.first] }));
      group.push({ key: ["mailbox", key], value: { ...cursor } });
      writes.push(this.#committer.write(group, 64 * group.length));
    }
    await Promise.all(writes);
  }
}
