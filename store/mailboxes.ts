/**
 * Mailboxes: every private message, stored until its recipient's client
 * acknowledges it.
 *
 * Each user has a cursor `{ next, first }`: messages carry sequence numbers
 * `first ≤ seq < next`, and everything below `first` is gone. The server
 * process is the only writer, so the cursors live in memory once read and
 * every change is written behind them through the {@linkcode GroupCommitter}
 * (message and cursor in one atomic operation). A failed commit leaves a gap
 * in the numbers, never a reused one.
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

/** The stored private messages of every user. */
export class Mailboxes {
  readonly #kv: Deno.Kv;
  readonly #committer: GroupCommitter;
  readonly #options: MailboxOptions;
  readonly #cursors = new Map<string, Cursor | Promise<Cursor>>();
  readonly #sweeps = new Map<string, Promise<void>>();
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
      await this.#committer.write([
        { key: ["message", key, stored.seq], value: stored },
        { key: ["mailbox", key], value: { ...cursor } },
      ], 200 + stored.text.length * 3);
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
      if (messages.length === 0) cursor.first = cursor.next;
      else cursor.first = Math.max(cursor.first, messages[0].seq);
      await this.#delete(key, expired, cursor);
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
    const seqs: number[] = [];
    for (let s = cursor.first; s <= upTo; s++) seqs.push(s);
    cursor.first = upTo + 1;
    await this.#delete(key, seqs, cursor);
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
    await this.#delete(key, gone, cursor);
  }

  /** The stored messages of `key` from `first` on, oldest first. */
  async *#list(key: string, first: number): AsyncIterable<StoredMessage> {
    const entries = this.#kv.list<StoredMessage>({
      start: ["message", key, first],
      end: ["message", key, Number.MAX_SAFE_INTEGER],
    }, { batchSize: 500 });
    for await (const entry of entries) yield entry.value;
  }

  async #delete(key: string, seqs: number[], cursor: Cursor): Promise<void> {
    const writes: Promise<void>[] = [];
    for (let i = 0; i < seqs.length || i === 0; i += DELETES_PER_WRITE) {
      const chunk: Write[] = seqs.slice(i, i + DELETES_PER_WRITE).map((
        seq,
      ) => ({ key: ["message", key, seq] }));
      chunk.push({ key: ["mailbox", key], value: { ...cursor } });
      writes.push(this.#committer.write(chunk, 64 * chunk.length));
    }
    await Promise.all(writes);
  }
}
