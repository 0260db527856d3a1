/**
 * Mailboxes: every private message, stored until its recipient's client
 * acknowledges it.
 *
 * Messages to a user carry sequence numbers that only grow. Messages to one
 * recipient that wait for the same commit are stored together, as one chunk
 * holding consecutive messages: a KV mutation costs far more than the bytes
 * in it, so a busy recipient's messages cost one mutation per commit instead
 * of one each. A chunk is deleted once every message in it is acknowledged
 * or expired.
 *
 * A chunk's key is `["chunk", n, key]`, with `n` above every chunk on disk
 * when it is committed (a number may come again after a restart, once the
 * chunk that had it is deleted). The chunks of one commit are neighbours in the
 * database whoever they are for, so a commit writes a few pages of SQLite's
 * tree instead of one per recipient; an acknowledged chunk is deleted from
 * pages as few. The price is that a user's chunks are not under one prefix:
 * the first mailbox read after a start lists every chunk once and keeps
 * where each user's are.
 *
 * The server process is the only writer, so a mailbox lives in memory once
 * read: its next number, the lowest number still wanted (`first`) and an
 * index of its chunks. Its cursor `["mailbox", key]` is written only when
 * the chunks alone would not tell the truth after a restart:
 *
 * - `next` is a high-water mark, not the next number: numbers are reserved
 *   in blocks of {@linkcode SEQ_BLOCK}, and the mark is written with the
 *   chunk that first goes past the last reserved block. After a restart
 *   numbering continues at the mark, leaving a gap and never reusing a
 *   number a client may have shown.
 * - `first` is written when a chunk is only partly acknowledged (its
 *   acknowledged messages must stay hidden), or when expired messages are
 *   counted; a chunk acknowledged whole is simply deleted. The stored
 *   `first` may therefore lag, but never below a message that still exists
 *   and was acknowledged.
 *
 * Counts come from the chunk index, not from `next - first`, so gaps in the
 * numbers (a restart, a failed commit) are not counted as messages.
 *
 * A delete that fails (a full disk) is not forgotten: its chunks stay in the
 * index below `first`, and the next delete of that mailbox, or a retry on a
 * backoff timer, deletes them and writes the cursor with them, so once the
 * disk has room a restart shows none of the acknowledged messages. A restart
 * before that shows them again: the disk still has them and an older `first`.
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
  /** Above every number given out so far: numbering continues here. */
  next: number;
  /** Messages below this are gone (acknowledged or expired). */
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
  /**
   * Milliseconds before a failed delete is tried again; the wait doubles
   * with every failure, up to 64 times this. Default 1,000.
   */
  retryMs?: number;
}

/** What a user finds when logging in. */
export interface Opened {
  messages: StoredMessage[];
  expired: number;
}

/**
 * Sequence numbers reserved per cursor write: a busy recipient's cursor is
 * written once per this many messages, and a restart skips at most this
 * many numbers.
 */
export const SEQ_BLOCK = 1000;

const DELETES_PER_WRITE = 800;
/** Keys KV reads in one `getMany`. */
const GET_MANY = 10;
/** Estimated bytes above which a chunk takes no more messages (KV: 64 KiB). */
const CHUNK_BYTES = 40 * 1024;

/** Messages stored together, and which numbers they span. */
interface Chunk {
  first: number;
  last: number;
  /** Its number in the key `["chunk", n, key]`; null until a commit takes it. */
  n: number | null;
}

/** The key of a chunk of `key`'s mailbox. */
const chunkKey = (n: number, key: string): Deno.KvKey => ["chunk", n, key];

/** The chunk of a recipient still waiting for its commit. */
interface OpenChunk extends Chunk {
  messages: StoredMessage[];
  bytes: number;
  /** False once the committer has taken it: later messages start another. */
  open: boolean;
  committed: Promise<void>;
}

/** A mailbox in memory. */
interface Box {
  /** The number the next message gets. */
  next: number;
  /** Messages below this are acknowledged or expired. */
  first: number;
  expiredUnread: number;
  /** Highest mark handed to a cursor write; only grows. */
  mark: number;
  /** The mark believed on disk; 0 after a failed write, to write again. */
  saved: number;
  /** Chunks stored or being stored, oldest first. */
  chunks: Chunk[];
  /** Messages in `chunks` numbered `first` or above. */
  count: number;
  /** The chunk still taking messages before its commit. */
  open: OpenChunk | null;
  /**
   * A delete failed: chunks below `first` may be on disk, and the cursor
   * there may say an older `first`. The next delete writes the cursor.
   */
  stale: boolean;
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
  readonly #boxes = new Map<string, Box | Promise<Box>>();
  readonly #sweeps = new Map<string, Promise<void>>();
  /**
   * Appends that wait for their user's mailbox to be read or swept, by
   * user. While any wait, later appends to the user wait as well, and a
   * sweep stays listed until all those waiting for it have their numbers:
   * one that comes after a sweep has ended but before its waiters have
   * resumed waits on it too, and so resumes after them.
   */
  readonly #waiting = new Map<string, number>();
  /**
   * The chunks on disk of the mailboxes not read yet, by user: listed once,
   * by the first mailbox read. A mailbox read takes its user's out.
   */
  #stock: Promise<Map<string, Chunk[]>> | null = null;
  /** The `n` of the next chunk: above every chunk on disk. */
  #nextChunk = 1;
  #stored = 0;
  /** Mailboxes whose acknowledged chunks could not be deleted yet. */
  readonly #leftovers = new Set<string>();
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #retryWait: number;
  #closed = false;

  constructor(kv: Deno.Kv, committer: GroupCommitter, options: MailboxOptions) {
    this.#kv = kv;
    this.#committer = committer;
    this.#options = options;
    this.#retryWait = options.retryMs ?? 1000;
  }

  /**
   * Stops retrying failed deletes; call before draining the committer.
   * What is still to delete is deleted by the next start's acknowledgements.
   */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }

  /** Messages accepted for storage since start. */
  get storedSinceStart(): number {
    return this.#stored;
  }

  /** Messages waiting for `key`, if its mailbox is loaded. */
  waiting(key: string): number | undefined {
    const box = this.#boxes.get(key);
    return box && !(box instanceof Promise) ? box.count : undefined;
  }

  /** Messages waiting for `key`, reading the mailbox if needed. */
  async count(key: string): Promise<number> {
    return (await this.#box(key)).count;
  }

  /** The mailbox of `key`; every caller waiting for it gets one promise. */
  #box(key: string): Box | Promise<Box> {
    const known = this.#boxes.get(key);
    if (known) return known;
    const box = this.#read(key);
    this.#boxes.set(key, box);
    box.then((box) => this.#boxes.set(key, box), () => {
      // Its callers see the error; the next one reads again.
      this.#boxes.delete(key);
    });
    return box;
  }

  /** Reads the cursor of `key` and takes its chunks from the stock. */
  async #read(key: string): Promise<Box> {
    const found = await this.#kv.get<Cursor>(["mailbox", key]);
    const stock = await (this.#stock ??= this.#list().catch((error) => {
      this.#stock = null;
      throw error;
    }));
    const cursor = found.value ?? { next: 1, first: 1, expiredUnread: 0 };
    const box: Box = {
      next: cursor.next,
      first: cursor.first,
      expiredUnread: cursor.expiredUnread,
      mark: cursor.next,
      saved: cursor.next,
      // A chunk wholly below `first` (its delete was lost in a crash) is
      // indexed too, so the next acknowledgement deletes it.
      chunks: stock.get(key) ?? [],
      count: 0,
      open: null,
      stale: false,
    };
    stock.delete(key);
    for (const chunk of box.chunks) {
      if (chunk.last >= box.first) {
        box.count += chunk.last - Math.max(chunk.first, box.first) + 1;
      }
    }
    return box;
  }

  /** Lists every chunk on disk: where each user's are, oldest first. */
  async #list(): Promise<Map<string, Chunk[]>> {
    const stock = new Map<string, Chunk[]>();
    const entries = this.#kv.list<StoredMessage[]>({ prefix: ["chunk"] }, {
      batchSize: 500,
    });
    for await (const { key, value } of entries) {
      const [, n, owner] = key as [string, number, string];
      const chunk = { first: value[0].seq, last: value.at(-1)!.seq, n };
      const chunks = stock.get(owner);
      if (chunks) chunks.push(chunk);
      else stock.set(owner, [chunk]);
      this.#nextChunk = n + 1;
    }
    return stock;
  }

  /**
   * The stored messages of `key` from `first` on, oldest first. Chunks
   * still on their way to disk are left out, as are those deleted while
   * this reads.
   */
  async *#messages(
    key: string,
    box: Box,
    first: number,
  ): AsyncIterable<StoredMessage> {
    const wanted = box.chunks.filter((c) => c.n !== null && c.last >= first);
    for (let i = 0; i < wanted.length; i += GET_MANY) {
      const entries = await this.#kv.getMany<StoredMessage[][]>(
        wanted.slice(i, i + GET_MANY).map((c) => chunkKey(c.n!, key)),
      );
      for (const { value } of entries) {
        for (const message of value ?? []) {
          if (message.seq >= first) yield message;
        }
      }
    }
  }

  /**
   * Stores a message for `key` and resolves with it, numbered, once it is
   * on disk: {@linkcode store} on a copy, for callers that want the
   * numbered message back.
   *
   * @throws {ProtocolError} as {@linkcode store} does.
   */
  async append(
    key: string,
    message: Omit<StoredMessage, "seq">,
  ): Promise<StoredMessage> {
    const stored = { seq: 0, ...message };
    await this.store(key, stored);
    return stored;
  }

  /**
   * Numbers a message for `key` (sets its `seq`) and resolves once it is on
   * disk. Messages to one recipient get their numbers in call order, so
   * one sender's messages keep their order.
   *
   * Every private message comes here: most go to a mailbox that is loaded,
   * has room and is not being swept, and for those this allocates nothing
   * of its own. They take their number at once and share the promise of
   * the chunk they join.
   *
   * @throws {ProtocolError} `mailbox_full` when the recipient already has
   * `maxStored` messages (nothing is stored); `store_failed` when writing
   * failed (nothing is stored).
   */
  store(key: string, message: StoredMessage): Promise<void> {
    const known = this.#box(key);
    if (
      !(known instanceof Promise) && !this.#waiting.has(key) &&
      known.count < this.#options.maxStored
    ) {
      return this.#addToChunk(key, known, message);
    }
    return this.#storeLater(key, known, message);
  }

  /**
   * {@linkcode store} once the mailbox is read, or swept when full. The
   * messages waiting for the same promise resume in call order.
   */
  async #storeLater(
    key: string,
    known: Box | Promise<Box>,
    message: StoredMessage,
  ): Promise<void> {
    this.#waiting.set(key, (this.#waiting.get(key) ?? 0) + 1);
    let box;
    try {
      box = known instanceof Promise ? await known : known;
      let sweeping = this.#sweeps.get(key);
      if (!sweeping && box.count >= this.#options.maxStored) {
        sweeping = this.#sweep(key, box).catch(() => {});
        this.#sweeps.set(key, sweeping);
      }
      if (sweeping) await sweeping;
    } finally {
      const left = this.#waiting.get(key)! - 1;
      if (left > 0) {
        this.#waiting.set(key, left);
      } else {
        this.#waiting.delete(key);
        this.#sweeps.delete(key);
      }
    }
    if (box.count >= this.#options.maxStored) {
      throw new ProtocolError(
        "mailbox_full",
        `The mailbox of ${message.to} is full (${this.#options.maxStored} messages); the message was not stored, try again later`,
      );
    }
    return this.#addToChunk(key, box, message);
  }

  /**
   * Puts a message into the recipient's chunk waiting for a commit, or
   * starts one; resolves when that chunk is on disk.
   */
  #addToChunk(key: string, box: Box, stored: StoredMessage): Promise<void> {
    stored.seq = box.next++;
    box.count++;
    const size = sizeOf(stored);
    const chunk = box.open;
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
      n: null,
      messages: [stored],
      bytes: size,
      open: true,
      committed: Promise.resolve(),
    };
    box.open = fresh;
    box.chunks.push(fresh);
    fresh.committed = this.#committer.write(() => {
      this.#close(box, fresh);
      fresh.n = this.#nextChunk++;
      const writes: Write[] = [
        { key: chunkKey(fresh.n, key), value: fresh.messages },
      ];
      if (fresh.last >= box.saved) {
        box.mark = Math.max(box.mark, fresh.last + 1 + SEQ_BLOCK);
        writes.push(this.#cursorWrite(key, box));
      }
      return { writes, bytes: fresh.bytes + 128 };
    }).then(() => {
      this.#stored += fresh.messages.length;
    }, (error) => {
      // Not stored: later messages start another chunk, the count drops
      // what it held, and the next chunk writes the mark again.
      this.#close(box, fresh);
      box.saved = 0;
      const at = box.chunks.indexOf(fresh);
      if (at !== -1) {
        box.chunks.splice(at, 1);
        box.count -= Math.max(
          0,
          fresh.last - Math.max(fresh.first, box.first) + 1,
        );
      }
      throw new ProtocolError(
        "store_failed",
        `The server could not store the message (${
          (error as Error).message
        }); it was not sent, try again`,
        { cause: error },
      );
    });
    return fresh.committed;
  }

  #close(box: Box, chunk: OpenChunk): void {
    chunk.open = false;
    if (box.open === chunk) box.open = null;
  }

  /** The cursor as it stands when its commit takes it. */
  #cursorWrite(key: string, box: Box): Write {
    box.saved = box.mark;
    return {
      key: ["mailbox", key],
      value: {
        next: box.mark,
        first: box.first,
        expiredUnread: box.expiredUnread,
      } satisfies Cursor,
    };
  }

  /**
   * Reads the mailbox of a user who is logging in, oldest first, and drops
   * the expired messages, counting them.
   */
  async open(key: string): Promise<Opened> {
    const box = await this.#box(key);
    const listed = await Array.fromAsync(this.#messages(key, box, box.first));
    const cutoff = this.#options.now() - this.#options.ttlMs;
    const messages: StoredMessage[] = [];
    const expired: number[] = [];
    for (const message of listed) {
      if (message.ts < cutoff) expired.push(message.seq);
      else messages.push(message);
    }
    const count = expired.length + box.expiredUnread;
    if (count > 0) {
      box.expiredUnread = 0;
      // Only past the expired ones: a message whose commit is still under
      // way was not listed, and must stay above `first`.
      const lastExpired = expired.length > 0 ? expired[expired.length - 1] : 0;
      this.#advance(
        box,
        messages.length > 0 ? messages[0].seq : lastExpired + 1,
      );
      await this.#delete(key, box, true);
    }
    return { messages, expired: count };
  }

  /**
   * Removes every message of `key` up to and including `seq`: the client
   * has shown them.
   */
  async acknowledge(key: string, seq: number): Promise<void> {
    const known = this.#box(key);
    const box = known instanceof Promise ? await known : known;
    const upTo = Math.min(seq, box.next - 1);
    if (upTo < box.first) return;
    this.#advance(box, upTo + 1);
    await this.#delete(key, box, false);
  }

  /** Drops expired messages at the front of a full mailbox, counting them. */
  async #sweep(key: string, box: Box): Promise<void> {
    const cutoff = this.#options.now() - this.#options.ttlMs;
    let last = 0;
    for await (const message of this.#messages(key, box, box.first)) {
      if (message.ts >= cutoff) break;
      last = message.seq;
    }
    if (last < box.first) return; // none, or acknowledged meanwhile
    box.expiredUnread += this.#advance(box, last + 1);
    await this.#delete(key, box, true);
  }

  /**
   * Moves `first` up to `to`, taking the messages below it out of the
   * count.
   *
   * @returns How many stored messages that took out.
   */
  #advance(box: Box, to: number): number {
    if (to <= box.first) return 0;
    let dropped = 0;
    for (const chunk of box.chunks) {
      if (chunk.first >= to) break;
      const from = Math.max(chunk.first, box.first);
      const upTo = Math.min(chunk.last, to - 1);
      if (upTo >= from) dropped += upTo - from + 1;
    }
    box.first = to;
    box.count -= dropped;
    return dropped;
  }

  /**
   * Deletes the chunks of `key` whose every message is below `first`. The
   * cursor is written too when `always`, or when the oldest chunk left is
   * partly below `first`: only the cursor then says which of its messages
   * are gone.
   */
  async #delete(key: string, box: Box, always: boolean): Promise<void> {
    const chunks = box.chunks;
    let done = 0;
    while (done < chunks.length && chunks[done].last < box.first) done++;
    const gone = chunks.splice(0, done);
    const partial = chunks.length > 0 && chunks[0].first < box.first;
    // Several writes commit one after another: each carries the cursor, so
    // a crash between them leaves no deleted message visible.
    const cursor = always || partial || box.stale ||
      gone.length > DELETES_PER_WRITE;
    if (gone.length === 0 && !cursor) return;
    const writes: Promise<void>[] = [];
    for (let i = 0; i < gone.length || i === 0; i += DELETES_PER_WRITE) {
      const group: Write[] = [];
      for (const { n } of gone.slice(i, i + DELETES_PER_WRITE)) {
        // Every chunk below `first` was committed: messages are
        // acknowledged or expired only once they were read back or sent.
        if (n !== null) group.push({ key: chunkKey(n, key) });
      }
      const write = this.#committer.write(() => {
        if (cursor) group.push(this.#cursorWrite(key, box));
        return { writes: group, bytes: 64 * (group.length + 1) };
      });
      // The mark may not be on disk: the next chunk writes it again.
      write.catch(() => box.saved = 0);
      writes.push(write);
    }
    try {
      await Promise.all(writes);
      if (cursor) box.stale = false;
    } catch (error) {
      this.#keep(key, box, gone);
      throw error;
    }
  }

  /**
   * Puts chunks whose delete failed back into the index, in order, for the
   * next delete of `key` or the retry timer to delete. Deleting again the
   * ones a group that did commit deleted is harmless.
   */
  #keep(key: string, box: Box, chunks: Chunk[]): void {
    box.chunks.unshift(...chunks);
    box.chunks.sort((a, b) => a.first - b.first);
    box.stale = true;
    this.#leftovers.add(key);
    if (this.#retryTimer !== undefined || this.#closed) return;
    const timer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#retryLeftovers();
    }, this.#retryWait);
    Deno.unrefTimer(timer);
    this.#retryTimer = timer;
  }

  /** Deletes what failed deletes left; failing again waits twice as long. */
  async #retryLeftovers(): Promise<void> {
    const base = this.#options.retryMs ?? 1000;
    // Doubled first: a failure below schedules the next try with it.
    this.#retryWait = Math.min(2 * this.#retryWait, 64 * base);
    let failed = false;
    for (const key of [...this.#leftovers]) {
      if (this.#closed) return;
      this.#leftovers.delete(key);
      const box = this.#boxes.get(key);
      if (!box || box instanceof Promise || !box.stale) continue;
      await this.#delete(key, box, true).catch(() => failed = true);
    }
    if (!failed) this.#retryWait = base;
  }
}
