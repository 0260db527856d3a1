/**
 * What the chat client reports to its user: one {@linkcode ChatEvent} per
 * thing that happened. The session and the command runner produce events;
 * `format.ts` turns each into text lines or one JSON line.
 *
 * With `parley chat --json` every event is printed as one JSON object per
 * line, exactly the shapes below (fields in this order; `ts` is milliseconds
 * since the Unix epoch, server clock):
 *
 * ```text
 * {"event":"message","ts":1622820930000,"from":"bob","to":"alice","text":"hi","seq":41}
 * {"event":"echo","id":"1764889300124","ts":1622820929000,"from":"alice","to":"bob","text":"hi","status":"sent"}
 * {"event":"broadcast","ts":1622820950000,"from":"tom","text":"hi all"}
 * {"event":"delivered","id":"1764889300124","to":"bob","text":"hi"}
 * {"event":"connected","server":"127.0.0.1:1998","name":"alice","registered":false,"stored":3,"expired":0}
 * {"event":"who","users":["alice","bob"]}
 * {"event":"disconnected","reason":"shutdown","text":"Server is shutting down"}
 * {"event":"notice","code":"no_such_user","text":"No such user: zed","refused":{"id":"4","to":"zed","text":"hi"}}
 * {"event":"notice","code":"unconfirmed","text":"the connection ended before the server answered; it may not have arrived","unconfirmed":{"id":"5","to":"bob","text":"hi"}}
 * {"event":"notice","code":"help","text":"commands (keywords in any case):…"}
 * ```
 *
 * `echo.status` is `sent` or `stored`. An `id` is a message's own, a
 * number that goes on rising across sessions and runs of the client;
 * `delivered.text` is missing when the message was sent by an earlier run.
 * `disconnected.reason` is a server `bye` reason, `lost` (the connection
 * closed unexpectedly) or `no_answer` (the server stopped answering
 * pings). `notice.code` is a server error code for server errors,
 * otherwise one of {@linkcode NoticeCode}; a
 * refused `send` (`no_such_user`, `rate_limited`, `mailbox_full`…) carries
 * `refused`: the id, recipient and text of the message that was not sent,
 * as does `not_sent`, a message still waiting for its turn (the client
 * paces itself to the server's rate limit) when the connection ended;
 * `unconfirmed`, a message sent but not answered before the connection
 * ended, carries the same in `unconfirmed`.
 * `connected.stored` is what the server is about to replay; the notice
 * `stored_messages` comes just before the first of them actually shown
 * (none when this client had shown them all before a reconnect).
 *
 * @module
 */

import type { ByeReason } from "../protocol/frames.ts";
import type { ErrorCode } from "../protocol/errors.ts";

/** A private message received. */
export interface MessageEvent {
  event: "message";
  ts: number;
  from: string;
  to: string;
  text: string;
  /** Present on every private message from a version 1 server. */
  seq?: number;
}

/** A private message this client sent, now accepted by the server. */
export interface EchoEvent {
  event: "echo";
  /** The client-chosen id of the `send`. */
  id: string;
  ts: number;
  /** This client's name. */
  from: string;
  to: string;
  text: string;
  /** `stored` when the recipient was offline. */
  status: "sent" | "stored";
}

/** A broadcast received, this client's own included. */
export interface BroadcastEvent {
  event: "broadcast";
  ts: number;
  from: string;
  text: string;
}

/** The recipient's client has shown a message sent earlier. */
export interface DeliveredEvent {
  event: "delivered";
  id: string;
  to: string;
  /**
   * The message's text, when this run of the client sent it (and it is
   * among the last {@linkcode MAX_AWAITING_RECEIPT} awaiting a receipt):
   * a receipt for a message of an earlier run has none.
   */
  text?: string;
}

/** Private messages whose text a `delivered` receipt can still name. */
export const MAX_AWAITING_RECEIPT = 1_000;

/** Logged in and ready. */
export interface ConnectedEvent {
  event: "connected";
  /** The server address as the user typed it. */
  server: string;
  /** The name as the server shows it. */
  name: string;
  /** True when this login created the account. */
  registered: boolean;
  /** Stored messages about to arrive. */
  stored: number;
  /** Stored messages that expired unread. */
  expired: number;
}

/** The answer to `WHO`. */
export interface WhoEvent {
  event: "who";
  users: string[];
}

/** Why a connection ended, beyond the server's own `bye` reasons. */
export type DisconnectReason = ByeReason | "lost" | "no_answer";

/** The connection to the server ended. */
export interface DisconnectedEvent {
  event: "disconnected";
  reason: DisconnectReason;
  /** The server's words for a `bye`; a fixed sentence otherwise. */
  text: string;
}

/** Codes of notices the client makes itself. */
export type NoticeCode =
  /** Input that is not a command. */
  | "bad_command"
  /** The answer to `HELP`. */
  | "help"
  /** A command that needs a connection, without one. */
  | "not_connected"
  /** Connecting or logging in failed. */
  | "login_failed"
  /** The two passwords typed when registering differ. */
  | "password_mismatch"
  /** A continued message was cancelled with Ctrl-D. */
  | "cancelled"
  /** Piped input ended in the middle of a continued message: not sent. */
  | "unfinished"
  /** A sent message the server never confirmed before the link ended. */
  | "unconfirmed"
  /** A message still waiting to be sent (rate limit) when the link ended. */
  | "not_sent"
  /**
   * `N messages arrived while you were away`: given just before the first
   * stored message shown after a login; N counts those not shown before.
   */
  | "stored_messages"
  /** `HI` while connected: the current server is left first. */
  | "leaving"
  /**
   * The server stopped waiting while the password was typed: the client
   * connects again and logs in with it.
   */
  | "login_again"
  /** A frame from the server this client cannot read. */
  | "bad_server_frame";

/** A notice or an error, from the server or from the client. */
export interface NoticeEvent {
  event: "notice";
  code: ErrorCode | NoticeCode;
  text: string;
  /** For a refused `send`: the message that was not sent. */
  refused?: RefusedSend;
  /** For `unconfirmed`: the message sent that was never answered. */
  unconfirmed?: RefusedSend;
}

/** A message the server refused (`rate_limited`, `no_such_user`…). */
export interface RefusedSend {
  /** The client-chosen id of the `send`. */
  id: string;
  to: string;
  text: string;
}

/** Anything the chat client reports. */
export type ChatEvent =
  | MessageEvent
  | EchoEvent
  | BroadcastEvent
  | DeliveredEvent
  | ConnectedEvent
  | WhoEvent
  | DisconnectedEvent
  | NoticeEvent;

/** Receives events as they happen, in order. */
export type EventSink = (event: ChatEvent) => void;

/**
 * Builds a notice event.
 *
 * @example
 * ```ts
 * import { notice } from "./events.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(notice("help", "commands"), {
 *   event: "notice",
 *   code: "help",
 *   text: "commands",
 * });
 * ```
 */
export function notice(
  code: ErrorCode | NoticeCode,
  text: string,
): NoticeEvent {
  return { event: "notice", code, text };
}
