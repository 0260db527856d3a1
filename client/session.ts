/**
 * One connection of the chat client to a server, from `hello` to `bye`:
 * logging in, sending and echoing messages, showing and acknowledging
 * received ones without duplicates, and noticing a server that stopped
 * answering.
 *
 * Sends are paced: at most {@linkcode MAX_UNANSWERED_SENDS} messages or
 * {@linkcode MAX_UNANSWERED_BYTES} wait for the server's answer at any
 * time, and no faster than the rate the server announced in `ready`.
 * Messages beyond that wait in the session until they may go.
 *
 * A session knows nothing about terminals. It reports what happens as
 * {@linkcode ChatEvent}s and asks for passwords through a callback; its
 * timers are injected so tests can run it on fake time.
 *
 * @module
 */

import { type ErrorFrame, ProtocolError } from "../protocol/errors.ts";
import {
  type AcceptedFrame,
  type ClientFrame,
  MAX_TEXT_BYTES,
  type MsgFrame,
  parseServerFrame,
  PROTOCOL_VERSION,
  type ReadyFrame,
  type ServerFrame,
  utf8Length,
  WHO_BURST,
  WHO_RATE,
} from "../protocol/frames.ts";
import { nameKey } from "../protocol/names.ts";
import type { CloseCause, Inbound, Link } from "../transport/transport.ts";
import { VERSION } from "../version.ts";
import { type EventSink, notice } from "./events.ts";
import type { TokenBucket } from "../protocol/token_bucket.ts";
import { sendPacer } from "./pacer.ts";
import {
  systemTimers,
  type TimerHandle,
  type Timers,
  waitAtMost,
} from "./timers.ts";

/** What the server asked a password for. */
export interface PasswordRequest {
  /** `register`: a new account; ask twice. `login`: the known password. */
  mode: "register" | "login";
  /** The name as the server shows it. */
  name: string;
  /** The server's reason when the previous password was refused. */
  error?: string;
  /**
   * Aborted when the client itself gives up the login (it is leaving)
   * while the password is being asked for: stop asking then. When the
   * server ends the login, or the connection is lost, the question is left
   * open instead, so that what the user goes on typing stays hidden; its
   * answer ends the login (see {@linkcode LoginResult}).
   */
  signal: AbortSignal;
}

/**
 * Supplies a password. Resolves null to give up logging in; a rejection
 * gives up too, with the error's message as the reason.
 */
export type PasswordSource = (
  request: PasswordRequest,
) => Promise<string | null>;

/** How a login ended. */
export type LoginResult =
  | { ok: true; name: string }
  | {
    ok: false;
    reason: string;
    /**
     * Set when the server gave up waiting while the password was being
     * typed: the answer given after that, for a new connection to log in
     * with, as the user meant to.
     */
    late?: { mode: "register" | "login"; password: string };
  };

/** Where a session is in its life. */
type SessionState = "login" | "ready" | "closed";

/** Settings of a {@linkcode Session}. */
export interface SessionOptions {
  /** The connection, not yet read. */
  link: Link;
  /**
   * The server address as the user typed it; shown, and a key of the
   * messages shown when the server sends no `instance`.
   */
  address: string;
  /** The name to log in with. */
  name: string;
  /** Receives everything the user should see. */
  onEvent: EventSink;
  /** Asked whenever the server wants a password. */
  password: PasswordSource;
  /**
   * Highest `seq` shown so far per server database (`ready.instance`) and
   * account; per address and account for a server that sends no
   * `instance`. Share one map between the sessions of a process so a
   * reconnect, under any address of the same server, shows nothing
   * twice. Default: a map of this session's own.
   */
  seen?: Map<string, number>;
  /**
   * Gives the `id` of each message sent. Share one between the sessions of
   * a process (see `ChatClient`), so that a `delivered` for a message sent
   * in an earlier session never carries the id of one of this session.
   * Default: `1`, `2`… for this session alone.
   */
  nextId?: () => string;
  /** Default: the runtime's timers. */
  timers?: Timers;
  /**
   * Longest wait for the server's answer during login, in milliseconds.
   * Time spent asking for a password does not count. Default 30,000.
   */
  loginTimeoutMs?: number;
}

/**
 * Longest wait, when leaving, for the server's answers to the messages
 * already sent before saying `bye`, in milliseconds.
 */
const LEAVE_ANSWERS_WAIT_MS = 5_000;

/** Longest wait for the `bye` of a failed login to be written, in ms. */
const BYE_GRACE_MS = 500;

/**
 * Default for {@linkcode Session.backlog}: how long the stored backlog may
 * stay silent before the wait for the rest of it ends, in milliseconds.
 */
const BACKLOG_IDLE_MS = 5_000;

/**
 * Longest time something the client says waits for the answers to the
 * requests made before it, in milliseconds: a server alive but slow to
 * answer one message must not hold back everything said after it.
 */
export const MAX_HOLD_MS = 1_000;

/** Most `send` frames written and not yet answered by the server. */
export const MAX_UNANSWERED_SENDS = 64;

/**
 * Most bytes of `send` frames written and not yet answered by the server.
 * A single larger frame may still go when nothing else is unanswered.
 */
export const MAX_UNANSWERED_BYTES = 256 * 1024;

interface PendingSend {
  id: string;
  to: string;
  text: string;
  /** The frame as written. */
  line: string;
  /** Its size in bytes. */
  bytes: number;
  /** Its number among the session's requests. */
  request: number;
}

const LOST = "connection to the server was lost";

/**
 * Whether a message to `to` goes to everyone: decided as the server
 * decides it, so a send and its answers agree on what it is.
 */
function isBroadcast(to: string): boolean {
  return nameKey(to) === "all";
}

/**
 * Tells the user, not a programmer, about a line from the server that
 * could not be read: the parser's message is advice for whoever writes a
 * client (it is what a server answers to one).
 */
function unreadable(line: string, error: unknown): string {
  if (error instanceof ProtocolError && error.code === "unknown_type") {
    const type = (JSON.parse(line) as { type?: unknown }).type;
    if (typeof type === "string") {
      return `the server sent a kind of message this client does not know (${
        JSON.stringify(type)
      }), perhaps from a newer parley; it was skipped`;
    }
  }
  return "the server sent something this client cannot read; it was skipped";
}

/**
 * A chat session over one {@linkcode Link}.
 *
 * @example
 * ```ts ignore
 * const link = await new SocketTransport().connect("127.0.0.1:1998");
 * const session = new Session({
 *   link,
 *   address: "127.0.0.1:1998",
 *   name: "alice",
 *   onEvent: (event) => console.log(event),
 *   password: () => Promise.resolve("s3cret"),
 * });
 * if ((await session.login()).ok) session.send("bob", "hi bob");
 * await session.settled();
 * await session.leave();
 * ```
 */
export class Session {
  /** The server address as typed. */
  readonly address: string;
  /** Resolves once the link is closed and the session is over. */
  readonly closed: Promise<void>;

  readonly #link: Link;
  readonly #emit: EventSink;
  readonly #password: PasswordSource;
  readonly #seen: Map<string, number>;
  readonly #timers: Timers;
  readonly #loginTimeoutMs: number;
  // Sent, awaiting `accepted` or `error`.
  readonly #pending = new Map<string, PendingSend>();
  #pendingBytes = 0;
  // Not sent yet: waiting for room or for the rate limit.
  readonly #outbox: PendingSend[] = [];
  #pacer?: TokenBucket;
  #paceTimer: TimerHandle;
  #flushWaiters: Array<() => void> = [];
  // Key of this account on this server database in `#seen`.
  #seenKey = "";
  // Private messages of the replay announced by `ready.stored` still to
  // come, and how many of them are new (0 until the first new one).
  #replayLeft = 0;
  #replayShown = 0;
  #backlogWaiters: Array<() => void> = [];
  #backlogIdleMs = BACKLOG_IDLE_MS;
  #backlogTimer: TimerHandle;
  // Highest seq received (shown or a duplicate) and highest acked.
  #receivedSeq = -1;
  #ackedSeq = -1;
  #name: string;
  #state: SessionState = "login";
  // Login sub-state: waiting for the server, or for the password source.
  #asking?: AbortController;
  // Set when the login ended while the password was being asked for: the
  // question stays open (a password typed on would otherwise land at the
  // command prompt, shown), and its answer ends the login. With `retry`
  // (the server's login timeout) the answer is for a new connection to log
  // in with; otherwise it is dropped.
  #outlived?: { reason: string; retry: boolean };
  #mode: "register" | "login" = "login";
  #loginResult?: (result: LoginResult) => void;
  #closedResolve!: () => void;
  // Requests (sends and `who`s), numbered as made, and those not answered
  // yet: not accepted or refused, a broadcast until its echo came too.
  #requests = 0;
  readonly #unanswered = new Set<number>();
  // `who`s in the order asked: answers carry no id, and come in order.
  readonly #whoRequests: number[] = [];
  // Paced below the server's fixed limit on `who`; the last
  // `#whosWaiting` of `#whoRequests` are not written yet.
  readonly #whoPacer: TokenBucket;
  #whosWaiting = 0;
  #whoTimer: TimerHandle;
  // Broadcasts whose echo (a `msg` to all) has not come, in the order
  // sent, and those of them already accepted.
  readonly #echoesDue: number[] = [];
  readonly #acceptedBeforeEcho = new Set<number>();
  // Said by the client itself, each once the answers to the requests made
  // before it have been shown, or {@linkcode MAX_HOLD_MS} after `heldAt`:
  // `at` is the request count then.
  #deferred: Array<{ at: number; heldAt: number; say: () => void }> = [];
  // Fires when the oldest of `#deferred` has waited long enough.
  #holdTimer: TimerHandle;
  #settledWaiters: Array<() => void> = [];
  #answerWaiters: Array<() => void> = [];
  readonly #nextId: () => string;
  #timer: TimerHandle;
  #pingSent = false;
  #pingIntervalMs = 0;
  #pingTimeoutMs = 0;
  // Set once the user will have been told why the link ended.
  #endExplained = false;
  // Set once leaving starts: nothing more leaves the outbox.
  #stopping = false;
  // Set once `bye` is said: nothing more is sent, no stored message shown.
  #byeSaid = false;
  #leaving?: Promise<void>;

  /** @param options See {@linkcode SessionOptions}. */
  constructor(options: SessionOptions) {
    this.#link = options.link;
    this.address = options.address;
    this.#name = options.name;
    this.#emit = options.onEvent;
    this.#password = options.password;
    this.#seen = options.seen ?? new Map();
    let count = 0;
    this.#nextId = options.nextId ?? (() => String(++count));
    this.#timers = options.timers ?? systemTimers;
    this.#whoPacer = sendPacer(WHO_RATE, WHO_BURST, () => this.#timers.now());
    this.#loginTimeoutMs = options.loginTimeoutMs ?? 30_000;
    this.closed = new Promise((resolve) => this.#closedResolve = resolve);
  }

  /** The name as the server shows it once logged in; as given before. */
  get name(): string {
    return this.#name;
  }

  /** Where the session is in its life. */
  get state(): SessionState {
    return this.#state;
  }

  /**
   * Starts reading, says `hello` and goes through the login. Call once.
   *
   * @returns `ok` once `ready` arrived, with the name as the server shows
   * it; otherwise the reason, and the link is closed.
   */
  login(): Promise<LoginResult> {
    const result = new Promise<LoginResult>((resolve) =>
      this.#loginResult = resolve
    );
    this.#link.read({
      onFrames: (frames) => this.#onFrames(frames),
      onClose: (cause) => this.#onClose(cause),
    });
    this.#write({
      type: "hello",
      v: PROTOCOL_VERSION,
      name: this.#name,
      client: `parley/${VERSION}`,
    });
    this.#armLoginTimer();
    return result;
  }

  /**
   * Sends a message to a user or to `all`, at once or, when too much is
   * unanswered or the rate limit says so, later: {@linkcode flushed}
   * tells when. Its echo is reported when the server accepts it.
   *
   * @returns The id given to the message, or undefined when it was not
   * sent (not logged in, or the text is too long: a notice says so).
   */
  send(to: string, text: string): string | undefined {
    if (this.#state !== "ready") return undefined;
    const size = utf8Length(text);
    if (size > MAX_TEXT_BYTES) {
      const refusal = notice(
        "text_too_large",
        `message is ${size} bytes; at most ${MAX_TEXT_BYTES} can be sent`,
      );
      this.afterAnswers(() => this.#emit(refusal));
      return undefined;
    }
    const request = ++this.#requests;
    this.#unanswered.add(request);
    if (isBroadcast(to)) this.#echoesDue.push(request);
    const id = this.#nextId();
    const line = JSON.stringify({ type: "send", id, to, text });
    this.#outbox.push({
      id,
      to,
      text,
      line,
      bytes: utf8Length(line) + 1,
      request,
    });
    this.#pump();
    return id;
  }

  /**
   * Resolves once every message given to {@linkcode send}, and every
   * {@linkcode who}, has been written to the connection (or dropped by
   * leaving), or the session is closed. Wait for it
   * before sending more to keep what waits in memory bounded.
   */
  flushed(): Promise<void> {
    if (this.#outbox.length === 0 && this.#whosWaiting === 0) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#flushWaiters.push(resolve));
  }

  /**
   * Asks who is online; the answer comes as a `who` event. Requests are
   * paced below the server's limit ({@linkcode WHO_BURST} at once, then
   * {@linkcode WHO_RATE} a second): one over it waits, and
   * {@linkcode flushed} resolves once it is written.
   *
   * @returns False when not logged in.
   */
  who(): boolean {
    if (this.#state !== "ready" || this.#stopping) return false;
    const request = ++this.#requests;
    this.#unanswered.add(request);
    this.#whoRequests.push(request);
    this.#whosWaiting++;
    this.#pumpWhos();
    return true;
  }

  /**
   * Runs `say` once the server's answers to every message and `who` given
   * so far have been reported (or the session closed), after whatever
   * waits for earlier ones: what the client says about a line then comes
   * after what the lines before it led to. An answer slow to come holds
   * it at most {@linkcode MAX_HOLD_MS}; then it is said anyway.
   *
   * @param say Reports something; runs at once when nothing is awaited.
   */
  afterAnswers(say: () => void): void {
    if (
      this.#state === "closed" ||
      (this.#deferred.length === 0 && this.#answeredUpTo(this.#requests))
    ) {
      say();
      return;
    }
    this.#deferred.push({
      at: this.#requests,
      heldAt: this.#timers.now(),
      say,
    });
    this.#armHoldTimer();
  }

  /**
   * Resolves once every message given to {@linkcode send} has been sent
   * and the server has answered it and every `who`, or the session is
   * closed.
   */
  settled(): Promise<void> {
    if (this.#isSettled()) return Promise.resolve();
    return new Promise((resolve) => this.#settledWaiters.push(resolve));
  }

  /**
   * Resolves once every private message the `ready` frame announced as
   * stored has arrived (shown or already seen), the session is closed, or
   * nothing arrived for `idleMs`: a script that ends its input at once
   * still gets its whole backlog.
   *
   * @param idleMs Longest silence before giving up on the rest.
   */
  backlog(idleMs = BACKLOG_IDLE_MS): Promise<void> {
    if (this.#replayLeft === 0 || this.#state === "closed") {
      return Promise.resolve();
    }
    this.#backlogIdleMs = idleMs;
    const done = new Promise<void>((resolve) =>
      this.#backlogWaiters.push(resolve)
    );
    this.#armBacklogTimer();
    return done;
  }

  /**
   * Leaves politely: stops sending what still waits in the outbox, waits
   * up to {@linkcode LEAVE_ANSWERS_WAIT_MS} for the server's answers to
   * the messages already sent, acknowledges every stored message shown,
   * says `bye`, waits for the server's `bye` or the link to close, then
   * closes it. Calling it again joins the leaving under way.
   *
   * @param graceMs Longest wait for the server's `bye`. Default 2,000.
   */
  leave(graceMs = 2_000): Promise<void> {
    this.#leaving ??= this.#leave(graceMs);
    return this.#leaving;
  }

  async #leave(graceMs: number): Promise<void> {
    if (this.#state === "closed") return;
    this.#stopping = true;
    this.#dropWaitingWhos();
    // Quitting right after a send must not make it look lost. With nothing
    // to wait for, the bye goes at once: a login under way may be ended
    // by the caller right after this call.
    if (this.#pending.size > 0) {
      await waitAtMost(
        this.#timers,
        LEAVE_ANSWERS_WAIT_MS,
        this.#sendsAnswered(),
      );
      if (this.#isClosed()) return;
    }
    // The server's bye, or its silence, is reason enough to close.
    this.#endExplained = true;
    this.#byeSaid = true;
    this.#stopTimer();
    // The server forgets nothing acked after the bye: ack everything
    // received first (the batches were acked already; this is the rule).
    if (this.#receivedSeq > this.#ackedSeq) this.#ack(this.#receivedSeq);
    this.#write({ type: "bye" });
    await waitAtMost(this.#timers, graceMs, this.closed);
    this.close();
  }

  /** Closes the link at once, without a word to the server. */
  close(): void {
    this.#endExplained = true;
    this.#link.close();
  }

  // ---- receiving -------------------------------------------------------

  #onFrames(inbound: Inbound[]): void {
    if (this.#state === "closed") return;
    let ackSeq: number | undefined;
    for (const item of inbound) {
      if (this.#isClosed()) break;
      const frame = this.#parse(item);
      if (!frame) continue;
      if (frame.type === "ping") {
        this.#write({ type: "pong" });
      } else if (frame.type === "pong") {
        // Only its arrival matters.
      } else if (this.#state === "login") {
        this.#onLoginFrame(frame);
      } else if (frame.type === "msg") {
        const seq = this.#onMsg(frame);
        if (seq !== undefined) ackSeq = Math.max(ackSeq ?? seq, seq);
      } else {
        this.#onReadyFrame(frame);
      }
      this.#sayDeferred();
    }
    // One ack covers the whole batch, duplicates included: the server
    // resends until it hears one.
    if (ackSeq !== undefined) this.#ack(ackSeq);
    if (this.#state === "ready" && !this.#byeSaid) this.#armPingTimer();
    this.#checkBacklog();
  }

  /**
   * Says what waited for answers that have now come, and what has waited
   * {@linkcode MAX_HOLD_MS}; with `all`, everything held (no answer will
   * come any more).
   */
  #sayDeferred(all = false): void {
    const overdue = this.#timers.now() - MAX_HOLD_MS;
    while (this.#deferred.length > 0) {
      const next = this.#deferred[0];
      if (!all && next.heldAt > overdue && !this.#answeredUpTo(next.at)) {
        break;
      }
      this.#deferred.shift();
      next.say();
    }
    this.#armHoldTimer();
  }

  /** Times the oldest thing held; stops timing once nothing is. */
  #armHoldTimer(): void {
    if (this.#holdTimer !== undefined) {
      this.#timers.clearTimeout(this.#holdTimer);
      this.#holdTimer = undefined;
    }
    if (this.#deferred.length === 0) return;
    const wait = this.#deferred[0].heldAt + MAX_HOLD_MS - this.#timers.now();
    this.#holdTimer = this.#timers.setTimeout(() => {
      this.#holdTimer = undefined;
      this.#sayDeferred();
    }, Math.max(0, wait));
  }

  #ack(seq: number): void {
    this.#ackedSeq = Math.max(this.#ackedSeq, seq);
    this.#write({ type: "ack", seq });
  }

  #parse(item: Inbound): ServerFrame | undefined {
    if (item.kind === "line") {
      try {
        return parseServerFrame(item.line);
      } catch (error) {
        this.#emit(notice("bad_server_frame", unreadable(item.line, error)));
        return undefined;
      }
    }
    this.#emit(notice(
      "bad_server_frame",
      item.kind === "too_large"
        ? `the server sent a frame of ${item.bytes} bytes, over the limit`
        : "the server sent a frame that is not UTF-8",
    ));
    return undefined;
  }

  #onLoginFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case "auth":
        this.#mode = frame.mode;
        this.#name = frame.name;
        this.#askPassword();
        return;
      case "ready":
        this.#onReady(frame);
        return;
      case "error":
        // The server waits for another password after each of these
        // (`bad_frame`: a password longer than it takes).
        if (
          frame.code === "wrong_password" || frame.code === "bad_password" ||
          frame.code === "bad_frame"
        ) {
          this.#askPassword(frame.text);
        } else {
          this.#failLogin(frame.text);
        }
        return;
      case "bye":
        if (this.#asking) {
          this.#outlived = {
            reason: frame.text,
            retry: frame.reason === "login_timeout",
          };
          this.#link.close();
          return;
        }
        this.#failLogin(frame.text);
        return;
      default:
        // Nothing else is sent before ready; ignore what a newer server
        // might add.
    }
  }

  async #askPassword(error?: string): Promise<void> {
    const asking = new AbortController();
    this.#asking = asking;
    this.#stopTimer();
    let password: string | null;
    try {
      password = await this.#password({
        mode: this.#mode,
        name: this.#name,
        error,
        signal: asking.signal,
      });
    } catch (failure) {
      password = null;
      error = (failure as Error).message;
    } finally {
      this.#asking = undefined;
    }
    const outlived = this.#outlived;
    if (outlived && !asking.signal.aborted) {
      const { reason, retry } = outlived;
      const resolve = this.#loginResult;
      this.#loginResult = undefined;
      resolve?.(
        password === null || !retry
          ? { ok: false, reason }
          : { ok: false, reason, late: { mode: this.#mode, password } },
      );
      return;
    }
    if (this.#state !== "login" || asking.signal.aborted) return;
    if (password === null) {
      this.#failLogin(error ?? "login cancelled");
      return;
    }
    this.#write({ type: "password", password });
    this.#armLoginTimer();
  }

  #onReady(frame: ReadyFrame): void {
    this.#state = "ready";
    this.#name = frame.name;
    this.#pingIntervalMs = Math.max(1, frame.pingInterval) * 1000;
    this.#pingTimeoutMs = Math.max(1, frame.pingTimeout) * 1000;
    // `seq` is unique within a database instance, whatever address
    // reached it: a second address of the same server must not show its
    // messages again. A server without `instance` predates it; then the
    // address is all that tells its databases apart.
    this.#seenKey = typeof frame.instance === "string"
      ? `instance:${frame.instance}|${nameKey(frame.name)}`
      : `address:${this.address}|${nameKey(frame.name)}`;
    // A server without `rateLimit` announces no limit.
    if (typeof frame.rateLimit === "number" && frame.rateLimit > 0) {
      this.#pacer = sendPacer(
        frame.rateLimit,
        frame.rateBurst,
        () => this.#timers.now(),
      );
    }
    this.#replayLeft = frame.stored ?? 0;
    this.#emit({
      event: "connected",
      server: this.address,
      name: frame.name,
      registered: this.#mode === "register",
      stored: frame.stored ?? 0,
      expired: frame.expired ?? 0,
    });
    this.#loginResult?.({ ok: true, name: frame.name });
    this.#loginResult = undefined;
  }

  /** Shows a message unless seen before; returns the seq to ack. */
  #onMsg(frame: MsgFrame): number | undefined {
    if (isBroadcast(frame.to)) {
      if (nameKey(frame.from) === nameKey(this.#name)) this.#onOwnEcho();
      this.#emit({
        event: "broadcast",
        ts: frame.ts,
        from: frame.from,
        text: frame.text,
      });
      return undefined;
    }
    if (typeof frame.seq !== "number") {
      // Not from a version 1 server: show it, there is nothing to ack.
      this.#emit({
        event: "message",
        ts: frame.ts,
        from: frame.from,
        to: frame.to,
        text: frame.text,
      });
      return undefined;
    }
    // After the bye an ack would not count: leave it for the next login.
    if (this.#byeSaid) return undefined;
    this.#receivedSeq = Math.max(this.#receivedSeq, frame.seq);
    const key = this.#seenKey;
    const replayed = this.#replayLeft > 0;
    if (replayed) this.#replayLeft--;
    if (frame.seq > (this.#seen.get(key) ?? -1)) {
      if (replayed && this.#replayShown === 0) {
        // Replayed in seq order: the ones already shown came first, and
        // every one from here on is new.
        this.#replayShown = this.#replayLeft + 1;
        this.#emit(notice(
          "stored_messages",
          `${this.#replayShown} ${
            this.#replayShown === 1 ? "message" : "messages"
          } arrived while you were away`,
        ));
      }
      this.#emit({
        event: "message",
        ts: frame.ts,
        from: frame.from,
        to: frame.to,
        text: frame.text,
        seq: frame.seq,
      });
      this.#seen.set(key, frame.seq);
    }
    return frame.seq;
  }

  /** A broadcast of ours came back; it is answered once accepted too. */
  #onOwnEcho(): void {
    const request = this.#echoesDue.shift();
    if (request === undefined) return;
    if (this.#acceptedBeforeEcho.delete(request)) {
      this.#unanswered.delete(request);
    }
  }

  /** Whether every request up to number `request` has been answered. */
  #answeredUpTo(request: number): boolean {
    for (const waiting of this.#unanswered) {
      if (waiting <= request) return false;
    }
    return true;
  }

  #onReadyFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case "accepted":
        this.#onAccepted(frame);
        break;
      case "delivered":
        this.#emit({ event: "delivered", id: frame.id, to: frame.to });
        break;
      case "who":
        this.#unanswered.delete(this.#whoRequests.shift() ?? 0);
        this.#emit({ event: "who", users: frame.users });
        break;
      case "error":
        this.#onError(frame);
        break;
      case "bye":
        this.#endExplained = true;
        // Nothing more will be answered: what waited goes before the end.
        this.#sayDeferred(true);
        this.#emit({
          event: "disconnected",
          reason: frame.reason,
          text: frame.text,
        });
        this.#link.close();
        break;
      default:
        // auth and ready are login frames; a server sending them now is
        // confused, and nothing useful can be done with them.
    }
    this.#checkSettled();
  }

  #onAccepted(frame: AcceptedFrame): void {
    const sent = this.#answered(frame.id);
    if (!sent) return;
    // A broadcast comes back as a msg to all; that is its echo.
    if (frame.status === "broadcast" || isBroadcast(sent.to)) {
      if (this.#echoesDue.includes(sent.request)) {
        this.#acceptedBeforeEcho.add(sent.request);
      } else {
        this.#unanswered.delete(sent.request);
      }
      return;
    }
    this.#unanswered.delete(sent.request);
    this.#emit({
      event: "echo",
      id: frame.id,
      ts: frame.ts,
      from: this.#name,
      to: frame.to ?? sent.to,
      text: sent.text,
      status: frame.status === "stored" ? "stored" : "sent",
    });
  }

  #onError(frame: ErrorFrame): void {
    const sent = frame.id === undefined ? undefined : this.#answered(frame.id);
    if (sent) {
      // A refused broadcast has no echo to wait for.
      this.#unanswered.delete(sent.request);
      const due = this.#echoesDue.indexOf(sent.request);
      if (due >= 0) this.#echoesDue.splice(due, 1);
    }
    if (
      frame.id === undefined && frame.code === "rate_limited" &&
      this.#whoRequests.length > 0
    ) {
      // Answers come in order, and a refusal without an id that this
      // client can get is one of a `who` asked too often: it is that
      // `who`'s answer.
      this.#unanswered.delete(this.#whoRequests.shift()!);
    }
    if (frame.id === undefined || !sent) {
      this.#emit(notice(frame.code, frame.text));
      return;
    }
    // Several refusals in a row (a rate limit) read alike: say which
    // message each one is about.
    this.#emit({
      ...notice(frame.code, frame.text),
      refused: { id: frame.id, to: sent.to, text: sent.text },
    });
  }

  #onClose(_cause: CloseCause): void {
    if (this.#state === "closed") return;
    const wasReady = this.#state === "ready";
    this.#state = "closed";
    this.#stopTimer();
    if (this.#paceTimer !== undefined) {
      this.#timers.clearTimeout(this.#paceTimer);
      this.#paceTimer = undefined;
    }
    this.#dropWaitingWhos();
    // Nothing more will be answered: what waited goes before the end.
    this.#sayDeferred(true);
    if (this.#asking && !this.#stopping) {
      // The open question ends the login (see #askPassword).
      this.#outlived ??= { reason: LOST, retry: false };
    } else if (!this.#outlived && this.#loginResult) {
      this.#failLogin(LOST);
    } else if (wasReady && !this.#endExplained) {
      this.#emit({ event: "disconnected", reason: "lost", text: LOST });
    }
    for (const sent of this.#pending.values()) {
      this.#emit({
        ...notice(
          "unconfirmed",
          "the connection ended before the server answered; it may not have arrived",
        ),
        unconfirmed: { id: sent.id, to: sent.to, text: sent.text },
      });
    }
    this.#pending.clear();
    this.#pendingBytes = 0;
    for (const unsent of this.#outbox.splice(0)) {
      this.#emit({
        ...notice("not_sent", "the connection ended before it could be sent"),
        refused: { id: unsent.id, to: unsent.to, text: unsent.text },
      });
    }
    this.#checkFlushed();
    this.#whoRequests.length = 0;
    this.#unanswered.clear();
    this.#checkSettled();
    this.#checkBacklog();
    this.#closedResolve();
  }

  // ---- login end -------------------------------------------------------

  #failLogin(reason: string): void {
    this.#asking?.abort();
    const resolve = this.#loginResult;
    this.#loginResult = undefined;
    this.#endExplained = true;
    if (this.#state !== "closed") {
      // Said whoever gave up: after our own (no password left to try, no
      // answer) the server hears why the connection ends instead of
      // finding it gone; after the server's refusal it is harmless.
      this.#write({ type: "bye" });
      void this.#link.end(BYE_GRACE_MS);
    }
    resolve?.({ ok: false, reason });
  }

  // ---- timers ----------------------------------------------------------

  #stopTimer(): void {
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #armLoginTimer(): void {
    this.#stopTimer();
    if (this.#state !== "login" || this.#asking) return;
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = undefined;
      this.#failLogin(
        `the server did not answer within ${this.#loginTimeoutMs / 1000} s`,
      );
    }, this.#loginTimeoutMs);
  }

  #armBacklogTimer(): void {
    if (this.#backlogTimer !== undefined) {
      this.#timers.clearTimeout(this.#backlogTimer);
    }
    this.#backlogTimer = this.#timers.setTimeout(() => {
      this.#backlogTimer = undefined;
      this.#backlogDone();
    }, this.#backlogIdleMs);
  }

  /** Frames arrived or the link closed: the backlog wait may be over. */
  #checkBacklog(): void {
    if (this.#backlogWaiters.length === 0) return;
    if (this.#replayLeft === 0 || this.#state === "closed") {
      this.#backlogDone();
    } else {
      this.#armBacklogTimer();
    }
  }

  #backlogDone(): void {
    if (this.#backlogTimer !== undefined) {
      this.#timers.clearTimeout(this.#backlogTimer);
      this.#backlogTimer = undefined;
    }
    for (const resolve of this.#backlogWaiters.splice(0)) resolve();
  }

  /** Something arrived: the server is alive; wait a full interval again. */
  #armPingTimer(): void {
    this.#stopTimer();
    this.#pingSent = false;
    this.#timer = this.#timers.setTimeout(
      () => this.#onSilence(),
      this.#pingIntervalMs,
    );
  }

  #onSilence(): void {
    this.#timer = undefined;
    if (this.#state !== "ready") return;
    if (!this.#pingSent) {
      this.#pingSent = true;
      this.#write({ type: "ping" });
      this.#timer = this.#timers.setTimeout(
        () => this.#onSilence(),
        this.#pingTimeoutMs,
      );
      return;
    }
    this.#endExplained = true;
    this.#emit({
      event: "disconnected",
      reason: "no_answer",
      text: "the server stopped answering",
    });
    this.#link.close();
  }

  // ---- sending ---------------------------------------------------------

  /** Writes what waits in the outbox as far as room and rate allow. */
  #pump(): void {
    while (
      this.#state === "ready" && !this.#stopping &&
      this.#outbox.length > 0 && this.#paceTimer === undefined
    ) {
      const next = this.#outbox[0];
      const busy = this.#pending.size;
      if (
        busy >= MAX_UNANSWERED_SENDS ||
        (busy > 0 && this.#pendingBytes + next.bytes > MAX_UNANSWERED_BYTES)
      ) {
        break; // An answer will make room.
      }
      const wait = this.#pacer?.take() ?? 0;
      if (wait > 0) {
        this.#paceTimer = this.#timers.setTimeout(() => {
          this.#paceTimer = undefined;
          this.#pump();
        }, wait);
        break;
      }
      this.#outbox.shift();
      this.#pending.set(next.id, next);
      this.#pendingBytes += next.bytes;
      this.#link.send(next.line);
    }
    this.#checkFlushed();
  }

  /** Takes an answered send off the unanswered ones; makes room. */
  #answered(id: string): PendingSend | undefined {
    const sent = this.#pending.get(id);
    if (!sent) return undefined;
    this.#pending.delete(id);
    this.#pendingBytes -= sent.bytes;
    this.#pump();
    return sent;
  }

  /** Writes the `who`s that wait, as far as their pace allows. */
  #pumpWhos(): void {
    while (
      this.#state === "ready" && this.#whosWaiting > 0 &&
      this.#whoTimer === undefined
    ) {
      const wait = this.#whoPacer.take();
      if (wait > 0) {
        this.#whoTimer = this.#timers.setTimeout(() => {
          this.#whoTimer = undefined;
          this.#pumpWhos();
        }, wait);
        break;
      }
      this.#whosWaiting--;
      this.#write({ type: "who" });
    }
    this.#checkFlushed();
  }

  /** Forgets the `who`s not written yet: leaving, or the link closed. */
  #dropWaitingWhos(): void {
    if (this.#whoTimer !== undefined) {
      this.#timers.clearTimeout(this.#whoTimer);
      this.#whoTimer = undefined;
    }
    const waiting = this.#whosWaiting;
    this.#whosWaiting = 0;
    if (waiting === 0) return;
    for (const request of this.#whoRequests.splice(-waiting)) {
      this.#unanswered.delete(request);
    }
    this.#checkFlushed();
  }

  #checkFlushed(): void {
    if (
      (this.#outbox.length > 0 || this.#whosWaiting > 0) &&
      this.#state !== "closed"
    ) return;
    for (const resolve of this.#flushWaiters.splice(0)) resolve();
  }

  // ---- helpers ---------------------------------------------------------

  #write(frame: ClientFrame): void {
    this.#link.send(JSON.stringify(frame));
  }

  #isClosed(): boolean {
    return this.#state === "closed";
  }

  /** Resolves once no sent message waits for its answer. */
  #sendsAnswered(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#answerWaiters.push(resolve));
  }

  #isSettled(): boolean {
    return this.#state === "closed" ||
      (this.#pending.size === 0 && this.#outbox.length === 0 &&
        this.#whoRequests.length === 0);
  }

  #checkSettled(): void {
    if (this.#pending.size === 0 || this.#state === "closed") {
      for (const resolve of this.#answerWaiters.splice(0)) resolve();
    }
    if (!this.#isSettled()) return;
    for (const resolve of this.#settledWaiters.splice(0)) resolve();
  }
}
