/**
 * The hub routes messages between logged-in users.
 *
 * It knows who is online (one session per user), stores every private
 * message in the recipient's mailbox before anyone sees it, pushes it to the
 * recipient if online, and removes it once the recipient's client
 * acknowledges it. A user logging in first gets the stored backlog, then
 * live messages: live ones that arrive during the replay wait behind it.
 *
 * What one session sends goes out in the order sent: to its recipients and
 * in the answers to the sender. A broadcast is ready at once and a private
 * message once stored, so each waits for the session's earlier ones; and a
 * recipient gets its private messages in the order they were stored, as
 * their `seq` numbers grow. Every other frame that gets an answer (`who`,
 * `ping`, a refused frame) takes its turn among the sends too, so a `who`
 * never overtakes the answer to a `send` still being stored.
 *
 * The hub does not know sockets or actors: it writes frames and kicks
 * connections through {@linkcode HubPorts}.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { ProtocolError } from "../protocol/errors.ts";
import type {
  ByeReason,
  Incoming,
  MsgFrame,
  ReadyFrame,
  SendFrame,
  ServerFrame,
} from "../protocol/frames.ts";
import {
  FRAME_BURST,
  FRAME_RATE,
  PROTOCOL_VERSION,
  refusalOf,
  WHO_BURST,
  WHO_RATE,
} from "../protocol/frames.ts";
import { nameKey } from "../protocol/names.ts";
import type { Mailboxes, StoredMessage } from "../store/mailboxes.ts";
import { TokenBucket } from "../protocol/token_bucket.ts";
import { FloodGuard } from "./flood_guard.ts";

const log = getLogger(["parley", "route"]);

/** Unregistered names remembered before the memory starts over. */
const MAX_UNKNOWN_NAMES = 10_000;

const noSuchUser = (name: string) =>
  new ProtocolError("no_such_user", `no such user: ${name}`);

/** At most one warning about messages that could not be stored per this. */
const STORE_WARNING_MS = 10_000;

/**
 * A warning about a repeated event, logged at most once per `everyMs`: the
 * first event at once, the ones after it summed up in one line when the
 * period is over, by the next event or, if none comes, by a timer. So a
 * burst is neither one line per event nor left uncounted at its end.
 */
class WarningThrottle<E> {
  #counted = 0;
  #last: E | null = null;
  #loggedAt = -Infinity;
  #cancel: (() => void) | null = null;

  /**
   * @param report Logs the line: the latest event, and how many counted
   * events it sums up.
   */
  constructor(
    readonly everyMs: number,
    readonly ports: Pick<HubPorts, "now" | "setTimer">,
    readonly report: (last: E, counted: number) => void,
  ) {}

  /** Notes an event; `counted` false leaves it out of the count. */
  note(event: E, counted = true): void {
    if (counted) this.#counted++;
    this.#last = event;
    const wait = this.#loggedAt + this.everyMs - this.ports.now();
    if (wait <= 0) return this.flush();
    this.#cancel ??= this.ports.setTimer(wait, () => {
      this.#cancel = null;
      this.flush();
    });
  }

  /** Logs what was noted since the last line, if anything, now. */
  flush(): void {
    this.#cancel?.();
    this.#cancel = null;
    const last = this.#last;
    if (last === null) return;
    const counted = this.#counted;
    this.#last = null;
    this.#counted = 0;
    this.#loggedAt = this.ports.now();
    this.report(last, counted);
  }
}

/** What the store warnings sum up: a refused message, or a stored one. */
type StoreEvent = { stored: false; cause: unknown } | { stored: true };

/** Outgoing bytes above which a replay waits for the client to read. */
const REPLAY_HIGH_WATER = 256 * 1024;

/** What the hub needs from the server around it. */
export interface HubPorts {
  /** Sends a frame on a connection; false if it could not be queued. */
  write(connId: string, frame: ServerFrame): boolean;
  /**
   * Sends one frame on many connections, as {@linkcode HubPorts.write}
   * does one by one; lets the server serialise it once for all.
   */
  writeAll(connIds: string[], frame: ServerFrame): void;
  /** Bytes queued on a connection and not yet sent. */
  queuedBytes(connId: string): number;
  /** Ends a connection with a reason shown to its client. */
  kick(connId: string, reason: ByeReason, text?: string): void;
  /** The display name of a registered user, or null. */
  accountName(key: string): Promise<string | null>;
  /** Server time in milliseconds. */
  now(): number;
  /** Calls `fire` after `ms` (or a little later); returns a canceller. */
  setTimer(ms: number, fire: () => void): () => void;
  /**
   * Settings announced in `ready`; the hub enforces the rate it announces
   * (`rateLimit` 0: none).
   */
  ready: Omit<ReadyFrame, "type" | "v" | "name" | "stored" | "expired">;
}

/**
 * A logged-in user's connection. Most sessions of a busy server sit idle,
 * so the collections a session needs only once it sends or receives are
 * made then (null until), which keeps an idle session small.
 */
export interface Session {
  connId: string;
  name: string;
  key: string;
  /** True until the stored backlog has been sent. */
  replaying: boolean;
  /** Live messages that arrived during the replay. */
  held: StoredMessage[];
  /** Highest private `seq` written to this connection. */
  lastSent: number;
  /**
   * Sent, not yet acknowledged, in `seq` order: who to tell when they are.
   * A queue, as acknowledgements take them from the front.
   */
  unacked: Unacked[] | null;
  closed: boolean;
  /** Sends waiting for a name lookup, and the chain that orders them. */
  lookups: number;
  chain: Promise<void> | null;
  /** Messages being stored, not yet answered. */
  storing: number;
  /** Waiting for `storing` to drop to 0; made when one waits. */
  stored: Array<() => void> | null;
  /**
   * Frames that get an answer (`send`, `who`, `ping`, refusals), numbered
   * so far, and how many of their answers have gone out.
   */
  sends: number;
  released: number;
  /** What later frames led to, by number, waiting for the earlier ones. */
  waiting: Map<number, () => void> | null;
  /** Limits the rate of `send` frames; null when unlimited. */
  bucket: TokenBucket | null;
  /**
   * Limits every other frame; null until one comes, or for pongs until two
   * come within {@linkcode PONG_GUARD_MS}.
   */
  guard: FloodGuard | null;
  /** When the last pong came, while there is no guard. */
  lastPongAt: number;
  /**
   * Being closed for flooding: its frames are no longer looked at, but
   * the answers to messages it sent before still go out.
   */
  flooded: boolean;
}

/**
 * An idle connection sends nothing but a pong per ping interval, and a
 * guard (three buckets, about a third of a KiB) is made for it only when
 * two pongs come this close together; the first of them goes uncounted.
 */
const PONG_GUARD_MS = 1_000;

/** A message pushed to its recipient and not acknowledged yet. */
interface Unacked {
  seq: number;
  /** Its sender's key and `send` id, for the `delivered` receipt. */
  fromKey: string;
  id: string;
}

/** A private message on its way to its recipient. */
interface Inbound {
  /** False until its sender has released it or it failed. */
  done: boolean;
  /** The message to push; null if it was not stored. */
  message: StoredMessage | null;
}

/** Counters since start, for `parley debug`. */
export interface HubStats {
  routed: number;
  broadcasts: number;
}

/** Routes messages; one per server. */
export class Hub {
  readonly #ports: HubPorts;
  readonly #mailboxes: Mailboxes;
  readonly #byKey = new Map<string, Session>();
  readonly #byConn = new Map<string, Session>();
  /** Display names of registered users seen so far, by key. */
  readonly #names = new Map<string, string>();
  /** Keys looked up and found unregistered, until they are registered. */
  readonly #unknown = new Set<string>();
  /**
   * Private messages being stored or waiting for their sender's turn, per
   * recipient, in the order they were stored: a message that is ready waits
   * for those before it, so the recipient sees `seq` grow.
   */
  readonly #inbound = new Map<string, Inbound[]>();
  readonly stats: HubStats = { routed: 0, broadcasts: 0 };
  /**
   * Messages refused as not stored, and whether storing failed last: a
   * full disk refuses most messages (a small one may still fit), and is
   * logged once per burst, not per message.
   */
  readonly #storeWarnings: WarningThrottle<StoreEvent>;
  #storeFailing = false;
  /** Acknowledgements whose removal failed. */
  readonly #removeWarnings: WarningThrottle<{ name: string; error: unknown }>;
  /** The clock of every session's rate limit: one function for all. */
  readonly #now = () => this.#ports.now();

  constructor(ports: HubPorts, mailboxes: Mailboxes) {
    this.#ports = ports;
    this.#mailboxes = mailboxes;
    this.#storeWarnings = new WarningThrottle(
      STORE_WARNING_MS,
      ports,
      (last, refused) => {
        if (!last.stored) {
          log.warn(
            "Cannot store private messages: {error}; {refused} refused since the last such warning (one per 10 s at most)",
            { error: last.cause, refused },
          );
          return;
        }
        this.#storeFailing = false;
        if (refused === 0) log.warn("Private messages are stored again");
        else {
          log.warn(
            "Private messages are stored again; {refused} more refused since the last warning",
            { refused },
          );
        }
      },
    );
    this.#removeWarnings = new WarningThrottle(
      STORE_WARNING_MS,
      ports,
      ({ name, error }, failed) =>
        log.warn(
          "Cannot remove acknowledged messages of {name}: {error} (retried later); acknowledgements failed since the last such warning, one per 10 s at most: {failed}",
          { name, error, failed },
        ),
    );
  }

  /**
   * Logs the warnings still being summed up, now instead of at the end of
   * their period, and stops their timers. Called at shutdown, after the
   * last commit.
   */
  close(): void {
    this.#storeWarnings.flush();
    this.#removeWarnings.flush();
  }

  /** The session of a user, if online. */
  sessionOf(name: string): Session | undefined {
    return this.#byKey.get(nameKey(name));
  }

  /**
   * Logs `name` in on `connId`: takes over an older session of the same
   * user, sends `ready`, then the stored backlog.
   */
  async enter(connId: string, name: string, key: string): Promise<void> {
    const previous = this.#byKey.get(key);
    if (previous) {
      this.leave(previous.connId);
      this.#ports.kick(previous.connId, "taken_over");
    }
    const session: Session = {
      connId,
      name,
      key,
      replaying: true,
      held: [],
      lastSent: 0,
      unacked: null,
      closed: false,
      lookups: 0,
      chain: null,
      storing: 0,
      stored: null,
      sends: 0,
      released: 0,
      waiting: null,
      bucket: this.#ports.ready.rateLimit > 0
        ? new TokenBucket(
          this.#ports.ready.rateLimit,
          this.#ports.ready.rateBurst,
          this.#now,
        )
        : null,
      guard: null,
      lastPongAt: -Infinity,
      flooded: false,
    };
    this.#names.set(key, name);
    this.#byKey.set(key, session);
    this.#byConn.set(connId, session);
    // `ready` is the session's first answer: what the client sends once it
    // is online waits behind it while the mailbox opens.
    const ready = session.sends++;
    let opened;
    try {
      opened = await this.#mailboxes.open(key);
    } catch (error) {
      log.error("Cannot read the mailbox of {name}: {error}", { name, error });
      this.#ports.kick(connId, "protocol_error", "Mailbox unavailable");
      // Its turn passes all the same: what the session sent meanwhile
      // includes messages other users' recipients are waiting for.
      this.#release(session, ready, () => {});
      return;
    }
    if (session.closed) return this.#release(session, ready, () => {});
    this.#release(session, ready, () =>
      this.#ports.write(connId, {
        type: "ready",
        v: PROTOCOL_VERSION,
        name,
        ...this.#ports.ready,
        stored: opened.messages.length,
        expired: opened.expired,
      }));
    await this.#replay(session, opened.messages);
  }

  /**
   * Sends the backlog no faster than the client reads it: the outgoing
   * queue of a link is bounded, and a backlog of large messages written at
   * once would overflow it and drop the very client it is meant for.
   */
  async #replay(session: Session, backlog: StoredMessage[]): Promise<void> {
    for (const message of backlog) {
      while (this.#ports.queuedBytes(session.connId) > REPLAY_HIGH_WATER) {
        if (session.closed) return;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      if (session.closed) return;
      this.#push(session, message);
    }
    session.replaying = false;
    for (const message of session.held) this.#push(session, message);
    session.held = [];
  }

  #push(session: Session, message: StoredMessage): void {
    if (message.seq <= session.lastSent) return;
    session.lastSent = message.seq;
    (session.unacked ??= []).push({
      seq: message.seq,
      fromKey: message.fromKey,
      id: message.id,
    });
    const frame: MsgFrame = {
      type: "msg",
      from: message.from,
      to: message.to,
      ts: message.ts,
      text: message.text,
      seq: message.seq,
    };
    this.#ports.write(session.connId, frame);
  }

  /**
   * Resolves once every message the session sent so far has been answered
   * (accepted or refused), or after `timeoutMs`. A client that says `bye`
   * right after sending still hears whether its messages were taken.
   */
  async settle(connId: string, timeoutMs: number): Promise<void> {
    const session = this.#byConn.get(connId);
    if (!session) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([session.chain]).then(() =>
        session.storing === 0
          ? undefined
          : new Promise<void>((resolve) =>
            (session.stored ??= []).push(resolve)
          )
      ),
      new Promise((resolve) => timer = setTimeout(resolve, timeoutMs)),
    ]);
    clearTimeout(timer);
  }

  /** The connection is gone: route nothing more to it. */
  leave(connId: string): void {
    const session = this.#byConn.get(connId);
    if (!session) return;
    session.closed = true;
    this.#byConn.delete(connId);
    if (this.#byKey.get(session.key) === session) {
      this.#byKey.delete(session.key);
    }
  }

  /**
   * Frames from a logged-in connection, in order. Frames other than `send`
   * are held to the limits of {@linkcode FloodGuard}; an `ack` that
   * acknowledges something new is always taken.
   */
  handle(connId: string, frames: Incoming[]): void {
    const session = this.#byConn.get(connId);
    if (!session) return;
    for (const frame of frames) {
      // Being closed for flooding: the rest is not even looked at.
      if (session.flooded) return;
      switch (frame.type) {
        case "send":
          this.#send(session, frame);
          break;
        case "ack":
          if (
            this.#acknowledges(session, frame.seq) || this.#allowed(session)
          ) {
            this.#ack(session, frame.seq);
          }
          break;
        case "who":
          if (!this.#allowed(session, "who")) break;
          // Who is online when the answer goes out, not when it was asked.
          this.#answer(session, () => ({
            type: "who",
            users: [...this.#byKey.values()].map((s) => s.name).sort(),
          }));
          break;
        case "ping":
          if (this.#allowed(session)) this.#answer(session, { type: "pong" });
          break;
        case "pong":
          // Nothing to do but count it.
          if (session.guard !== null || this.#pongsClose(session)) {
            void this.#allowed(session);
          }
          break;
        default:
          if (this.#allowed(session)) {
            this.#answer(session, refusalOf(frame, "after login"));
          }
      }
    }
  }

  /** Whether an `ack` of `seq` acknowledges a message not yet acknowledged. */
  #acknowledges(session: Session, seq: number): boolean {
    const oldest = session.unacked?.[0];
    return oldest !== undefined && oldest.seq <= seq;
  }

  /**
   * Counts a frame other than `send` against the connection's limits, and
   * refuses it when it is one too many.
   *
   * @returns Whether the frame is to be handled.
   */
  #allowed(session: Session, kind?: "who"): boolean {
    const guard = session.guard ??= new FloodGuard(this.#now);
    let wait = guard.frame();
    let text: string;
    if (wait > 0) {
      text =
        `Too many frames: at most ${FRAME_BURST} at once, then ${FRAME_RATE} per second besides messages; this one was ignored, try again in ${wait} ms`;
    } else if (kind === "who" && (wait = guard.who()) > 0) {
      text =
        `Too many who requests: at most ${WHO_BURST} at once, then ${WHO_RATE} per second; try again in ${wait} ms`;
    } else {
      return true;
    }
    if (this.#closeIfFlooding(session)) return false;
    this.#answer(session, new ProtocolError("rate_limited", text).toFrame());
    return false;
  }

  /** Whether this pong came soon after the one before. */
  #pongsClose(session: Session): boolean {
    const now = this.#now();
    const last = session.lastPongAt;
    session.lastPongAt = now;
    return now - last < PONG_GUARD_MS;
  }

  /**
   * Counts a refusal for going too fast; a connection that has gone on
   * past its refusals is closed (`flooding`) instead of refused again.
   *
   * @returns True when the connection is being closed.
   */
  #closeIfFlooding(session: Session): boolean {
    const guard = session.guard ??= new FloodGuard(this.#now);
    if (!guard.refused()) return false;
    // Nothing more it sends is looked at; what it sent before is still
    // answered before its `bye` (the server settles its sends first).
    session.flooded = true;
    this.#ports.kick(session.connId, "flooding");
    return true;
  }

  /**
   * Answers a frame that needs nothing but an answer, in its turn: after
   * the answers to the session's earlier sends, which may still be stored.
   */
  #answer(session: Session, frame: ServerFrame | (() => ServerFrame)): void {
    this.#release(session, session.sends++, () => {
      if (session.closed) return;
      this.#ports.write(
        session.connId,
        typeof frame === "function" ? frame() : frame,
      );
    });
  }

  #send(session: Session, frame: SendFrame): void {
    const n = session.sends++;
    const wait = session.bucket?.take() ?? 0;
    if (wait > 0) {
      if (this.#closeIfFlooding(session)) return;
      return this.#refuse(
        session,
        n,
        frame,
        new ProtocolError(
          "rate_limited",
          `Too many messages: at most ${this.#ports.ready.rateLimit} per second; this one was not sent, try again in ${wait} ms`,
        ),
      );
    }
    const toKey = nameKey(frame.to);
    if (toKey === "all") return this.#broadcast(session, n, frame);
    if (session.lookups === 0) {
      const known = this.#names.get(toKey);
      if (known !== undefined) {
        this.#store(session, n, frame, toKey, known);
        return;
      }
      if (this.#unknown.has(toKey)) {
        return this.#refuse(session, n, frame, noSuchUser(frame.to));
      }
    }
    // The name must be looked up. Later private sends of this sender are
    // stored only after it, so they take their `seq` numbers in order.
    session.lookups++;
    session.chain = (session.chain ?? Promise.resolve()).then(async () => {
      const name = await this.#accountName(toKey);
      if (name === null) throw noSuchUser(frame.to);
      await this.#store(session, n, frame, toKey, name);
    }).catch((error) => this.#refuse(session, n, frame, error))
      .finally(() => session.lookups--);
  }

  /**
   * Sends out what the session's frame number `n` led to, once everything
   * the session sent before it has been answered, then whatever was waiting
   * for it in turn.
   */
  #release(session: Session, n: number, out: () => void): void {
    if (n !== session.released) {
      (session.waiting ??= new Map()).set(n, out);
      return;
    }
    for (let next: (() => void) | undefined = out; next;) {
      session.released++;
      next();
      next = session.waiting?.get(session.released);
      session.waiting?.delete(session.released);
    }
  }

  async #accountName(key: string): Promise<string | null> {
    const name = await this.#ports.accountName(key);
    if (name !== null) {
      this.#names.set(key, name);
    } else {
      if (this.#unknown.size >= MAX_UNKNOWN_NAMES) this.#unknown.clear();
      this.#unknown.add(key);
    }
    return name;
  }

  /**
   * A user was just registered. The hub remembers names it found missing,
   * so messages to a mistyped name are refused without asking the database
   * again; this is what makes a newly registered name reachable at once.
   */
  registered(key: string, name: string): void {
    this.#unknown.delete(key);
    this.#names.set(key, name);
  }

  #store(
    session: Session,
    n: number,
    frame: SendFrame,
    toKey: string,
    to: string,
  ): Promise<void> {
    const ts = this.#ports.now();
    const inbound: Inbound = { done: false, message: null };
    const queue = this.#inbound.get(toKey);
    if (queue) queue.push(inbound);
    else this.#inbound.set(toKey, [inbound]);
    const stored: StoredMessage = {
      seq: 0,
      from: session.name,
      fromKey: session.key,
      to,
      ts,
      text: frame.text,
      id: frame.id,
    };
    const storing = this.#mailboxes.store(toKey, stored).then(() => {
      try {
        this.#storeWorks();
        this.#release(session, n, () => {
          if (!session.closed) {
            this.#ports.write(session.connId, {
              type: "accepted",
              id: frame.id,
              to,
              ts,
              status: this.#byKey.has(toKey) ? "sent" : "stored",
            });
          }
          this.stats.routed++;
          this.#deliver(toKey, inbound, stored);
        });
      } finally {
        this.#answered(session);
      }
    }, (error) => {
      try {
        if (error instanceof ProtocolError && error.code === "store_failed") {
          this.#storeFailed(error.cause);
        }
        this.#deliver(toKey, inbound, null);
        this.#refuse(session, n, frame, error);
      } finally {
        this.#answered(session);
      }
    });
    session.storing++;
    return storing;
  }

  /**
   * A message of the session is stored or refused, and its answer sent or
   * waiting for its turn: {@linkcode settle} no longer waits for it.
   */
  #answered(session: Session): void {
    if (--session.storing > 0 || session.stored === null) return;
    const waiting = session.stored;
    session.stored = null;
    for (const resolve of waiting) resolve();
  }

  /**
   * Marks a private message released (or, with null, not stored) and pushes
   * what is ready at the front of its recipient's queue.
   */
  #deliver(
    toKey: string,
    inbound: Inbound,
    message: StoredMessage | null,
  ): void {
    inbound.done = true;
    inbound.message = message;
    const queue = this.#inbound.get(toKey)!;
    while (queue.length > 0 && queue[0].done) {
      const next = queue.shift()!.message;
      const recipient = this.#byKey.get(toKey);
      if (!next || !recipient) continue;
      if (recipient.replaying) recipient.held.push(next);
      else this.#push(recipient, next);
    }
    if (queue.length === 0) this.#inbound.delete(toKey);
  }

  /**
   * Warns that a message could not be stored, naming the cause, at most
   * once per {@linkcode STORE_WARNING_MS}; the ones in between are counted
   * in the next warning.
   */
  #storeFailed(cause: unknown): void {
    this.#storeFailing = true;
    this.#storeWarnings.note({ stored: false, cause });
  }

  /**
   * A message was stored: after failures, says storing works again, with
   * the refusals not counted in a warning yet; within the same limit of one
   * line per {@linkcode STORE_WARNING_MS}, so a nearly full disk that
   * stores one message in several does not flood the log either.
   */
  #storeWorks(): void {
    if (this.#storeFailing) this.#storeWarnings.note({ stored: true }, false);
  }

  #refuse(
    session: Session,
    n: number,
    frame: SendFrame,
    error: unknown,
  ): void {
    if (!(error instanceof ProtocolError)) {
      log.error("Routing a message failed: {error}", { error });
      error = new ProtocolError("internal", "The message could not be sent");
    }
    const refusal = (error as ProtocolError).toFrame(frame.id);
    this.#release(session, n, () => {
      if (!session.closed) this.#ports.write(session.connId, refusal);
    });
  }

  #broadcast(session: Session, n: number, frame: SendFrame): void {
    const ts = this.#ports.now();
    this.#release(session, n, () => {
      const msg: MsgFrame = {
        type: "msg",
        from: session.name,
        to: "all",
        ts,
        text: frame.text,
      };
      const everyone: string[] = [];
      for (const other of this.#byKey.values()) everyone.push(other.connId);
      this.#ports.writeAll(everyone, msg);
      if (!session.closed) {
        this.#ports.write(session.connId, {
          type: "accepted",
          id: frame.id,
          to: "all",
          ts,
          status: "broadcast",
        });
      }
      this.stats.broadcasts++;
    });
  }

  #ack(session: Session, seq: number): void {
    const upTo = Math.min(seq, session.lastSent);
    const unacked = session.unacked;
    while (unacked && unacked.length > 0 && unacked[0].seq <= upTo) {
      const origin = unacked.shift()!;
      const sender = this.#byKey.get(origin.fromKey);
      if (sender) {
        this.#ports.write(sender.connId, {
          type: "delivered",
          id: origin.id,
          to: session.name,
        });
      }
    }
    this.#mailboxes.acknowledge(session.key, upTo).catch((error) =>
      this.#removeFailed(session.name, error)
    );
  }

  /**
   * Warns that acknowledged messages could not be removed (the store
   * retries), at most once per {@linkcode STORE_WARNING_MS}: on a full disk
   * every acknowledgement fails, and the ones in between are counted.
   */
  #removeFailed(name: string, error: unknown): void {
    this.#removeWarnings.note({ name, error });
  }
}
