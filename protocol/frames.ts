/**
 * The frames of parley protocol version 1: their shapes, their limits, and
 * the parsers that turn one received line into a checked frame.
 *
 * Every frame is one JSON object on one line. `docs/protocol.md` explains
 * the conversation; this file is the authority on the shapes.
 *
 * @module
 */

import type { ErrorCode, ErrorFrame } from "./errors.ts";
import { ProtocolError } from "./errors.ts";

/** The protocol version this code speaks. */
export const PROTOCOL_VERSION = 1;

/** Largest frame in bytes, not counting the newline that ends it. */
export const MAX_FRAME_BYTES = 65_536;

/** Largest message text in UTF-8 bytes. Exactly this many is accepted. */
export const MAX_TEXT_BYTES = 8_192;

/** Longest client-chosen `id` of a `send` frame, in characters. */
export const MAX_ID_LENGTH = 64;

/** Longest password in characters. */
export const MAX_PASSWORD_LENGTH = 1_024;

/**
 * Frames other than `send`, and `ack`s of nothing new, a logged-in
 * connection may send per second, after a burst of
 * {@linkcode FRAME_BURST}; see server/flood_guard.ts.
 */
export const FRAME_RATE = 50;
/** Those frames allowed at once. */
export const FRAME_BURST = 100;
/** `who` requests per second, after a burst of {@linkcode WHO_BURST}. */
export const WHO_RATE = 1;
/** `who` requests allowed at once. */
export const WHO_BURST = 10;
/**
 * Refusals for going too fast a connection may go on getting per second,
 * after a burst of {@linkcode REFUSAL_BURST}, before it is closed.
 */
export const REFUSAL_RATE = 5;
/** Refusals allowed at once before the connection is closed. */
export const REFUSAL_BURST = 50;
/**
 * Frames a connection may send before it first logs in. A login takes a
 * handful (`hello`, a password or a few, a ping now and then); the next
 * closes the connection.
 */
export const MAX_LOGIN_FRAMES = 100;

/** Why the server ends a connection, as sent in a `bye` frame. */
export type ByeReason =
  | "client_left"
  | "shutdown"
  | "taken_over"
  | "ping_timeout"
  | "login_timeout"
  | "too_many_attempts"
  | "kicked"
  | "slow_consumer"
  | "flooding"
  | "protocol_error";

// ---- client to server -----------------------------------------------------

/** First frame of a client: who it wants to be. */
export interface HelloFrame {
  type: "hello";
  v: number;
  name: string;
  /** Free-form client software name, for logs. */
  client?: string;
}

/** The password the server asked for with an `auth` frame. */
export interface PasswordFrame {
  type: "password";
  password: string;
}

/** A message to one user, or to `all`. */
export interface SendFrame {
  type: "send";
  /** Chosen by the client; echoed in `accepted`, `delivered` and `error`. */
  id: string;
  to: string;
  text: string;
}

/** The client has shown every private message up to and including `seq`. */
export interface AckFrame {
  type: "ack";
  seq: number;
}

/** Frames without fields. */
export interface BareFrame<T extends string> {
  type: T;
}

/** Any frame a client may send. */
export type ClientFrame =
  | HelloFrame
  | PasswordFrame
  | SendFrame
  | AckFrame
  | BareFrame<"who">
  | BareFrame<"ping">
  | BareFrame<"pong">
  | BareFrame<"bye">;

// ---- server to client -----------------------------------------------------

/** The server asks for a password: a new one (`register`) or the known one. */
export interface AuthFrame {
  type: "auth";
  mode: "register" | "login";
  /** The name as it will be shown. */
  name: string;
}

/** Login succeeded. */
export interface ReadyFrame {
  type: "ready";
  v: number;
  /** The name as first registered. */
  name: string;
  server: string;
  /** Seconds of client silence before the server pings. */
  pingInterval: number;
  /** Seconds the server waits for any frame after its ping. */
  pingTimeout: number;
  /** Stored messages about to be replayed. */
  stored: number;
  /** Stored messages that expired unread while the user was away. */
  expired: number;
  /**
   * Identifies the server's database. `seq` numbers are unique within one
   * instance; a client that remembers the highest `seq` it has shown must
   * forget it when the instance changes.
   */
  instance: string;
  /** `send` frames allowed per second, 0 when unlimited. */
  rateLimit: number;
  /** `send` frames allowed at once before `rateLimit` applies. */
  rateBurst: number;
}

/** The server has taken a `send` safely. */
export interface AcceptedFrame {
  type: "accepted";
  id: string;
  to: string;
  /** Server time in milliseconds since the epoch. */
  ts: number;
  /** `sent`: pushed to an online recipient; `stored`: kept for later. */
  status: "sent" | "stored" | "broadcast";
}

/** The recipient's client has shown the message `id` sent earlier. */
export interface DeliveredFrame {
  type: "delivered";
  id: string;
  to: string;
}

/** A message. `seq` is present on private messages, which must be acked. */
export interface MsgFrame {
  type: "msg";
  from: string;
  /** The recipient's name, or `all` for a broadcast. */
  to: string;
  ts: number;
  text: string;
  seq?: number;
}

/** Who is online. */
export interface WhoFrame {
  type: "who";
  users: string[];
}

/** The server is ending the connection. */
export interface ByeFrame {
  type: "bye";
  reason: ByeReason;
  text: string;
}

/** Any frame a server may send. */
export type ServerFrame =
  | AuthFrame
  | ReadyFrame
  | AcceptedFrame
  | DeliveredFrame
  | MsgFrame
  | WhoFrame
  | ByeFrame
  | ErrorFrame
  | BareFrame<"ping">
  | BareFrame<"pong">;

// ---- parsing --------------------------------------------------------------

const encoder = new TextEncoder();

/** UTF-8 length of a string in bytes. */
export function utf8Length(text: string): number {
  return encoder.encode(text).length;
}

type Json = Record<string, unknown>;

/** Cuts a client's value quoted in an error text to a readable length. */
function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function shapeError(message: string): ProtocolError {
  return new ProtocolError("bad_frame", message);
}

/**
 * What kind of JSON value `value` is, for error messages: `null`, `array`,
 * or its `typeof`.
 */
export function jsonKind(value: unknown): string {
  return value === null
    ? "null"
    : Array.isArray(value)
    ? "array"
    : typeof value;
}

function parseObject(line: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw shapeError("Frame is not valid JSON; send one JSON object per line");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw shapeError(
      `Frame must be a JSON object, found ${jsonKind(value)}`,
    );
  }
  return value as Json;
}

function stringField(
  obj: Json,
  field: string,
  max: number,
  min = 0,
): string {
  const value = obj[field];
  if (typeof value !== "string") {
    throw shapeError(
      `Field "${field}" of ${aFrame(obj.type)} must be a string, found ${
        value === undefined ? "nothing" : jsonKind(value)
      }`,
    );
  }
  if (value.length > max) {
    throw shapeError(
      `Field "${field}" of ${
        aFrame(obj.type)
      } must be at most ${max} characters, found ${value.length}`,
    );
  }
  // JSON can escape half of a surrogate pair, which no UTF-8 can carry: a
  // client whose decoder is strict would choke on it when it came back.
  if (!value.isWellFormed()) {
    throw shapeError(
      `Field "${field}" of ${
        aFrame(obj.type)
      } must be well-formed Unicode, found a lone surrogate`,
    );
  }
  if (value.length < min) {
    throw shapeError(
      `Field "${field}" of ${aFrame(obj.type)} must not be empty`,
    );
  }
  return value;
}

function seqField(obj: Json): number {
  const value = obj.seq;
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw shapeError(
      `Field "seq" of an "ack" frame must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, found ${
        clip(JSON.stringify(value) ?? "nothing")
      }`,
    );
  }
  return value as number;
}

/**
 * Parses one line received by a server into a checked client frame.
 *
 * Unknown extra fields are ignored, so later clients may add some.
 *
 * @param line One frame without its newline.
 * @returns The frame, holding only the fields parley knows.
 * @throws {ProtocolError} `bad_frame` for invalid JSON or a wrong shape,
 * `unknown_type` for a type parley does not know, `text_too_large` for a
 * text over {@linkcode MAX_TEXT_BYTES}.
 *
 * @example
 * ```ts
 * import { parseClientFrame } from "./frames.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(
 *   parseClientFrame('{"type":"send","id":"1","to":"bob","text":"hi"}'),
 *   { type: "send", id: "1", to: "bob", text: "hi" },
 * );
 * assert.throws(() => parseClientFrame("[1]"), /must be a JSON object/);
 * ```
 */
export function parseClientFrame(line: string): ClientFrame {
  const obj = parseObject(line);
  switch (obj.type) {
    case "hello": {
      const v = obj.v;
      if (!Number.isSafeInteger(v)) {
        throw shapeError(
          `Field "v" of a "hello" frame must be the protocol version ${PROTOCOL_VERSION}`,
        );
      }
      const frame: HelloFrame = {
        type: "hello",
        v: v as number,
        // Any length: checkName refuses a long name with the rule.
        name: stringField(obj, "name", MAX_FRAME_BYTES),
      };
      if (typeof obj.client === "string") {
        frame.client = obj.client.slice(0, 64);
      }
      return frame;
    }
    case "password":
      return {
        type: "password",
        password: stringField(obj, "password", MAX_PASSWORD_LENGTH),
      };
    case "send": {
      const id = stringField(obj, "id", MAX_ID_LENGTH, 1);
      const to = stringField(obj, "to", 256, 1);
      const text = stringField(obj, "text", MAX_FRAME_BYTES, 1);
      // A UTF-16 unit is at most 3 UTF-8 bytes: short texts need no count.
      const size = text.length * 3 <= MAX_TEXT_BYTES ? 0 : utf8Length(text);
      if (size > MAX_TEXT_BYTES) {
        throw new ProtocolError(
          "text_too_large",
          `Message text must be at most ${MAX_TEXT_BYTES} bytes, found ${size}`,
        );
      }
      return { type: "send", id, to, text };
    }
    case "ack":
      return { type: "ack", seq: seqField(obj) };
    case "who":
    case "ping":
    case "pong":
    case "bye":
      return { type: obj.type };
    case undefined:
      throw shapeError('Frame has no "type" field');
    default:
      throw new ProtocolError(
        "unknown_type",
        `Unknown frame type ${clip(JSON.stringify(obj.type))}${
          ADMIN_TYPES.has(obj.type as string)
            ? " (this is parley's chat port, not its admin port)"
            : ""
        }; expected ${EXPECTED_TYPES}`,
      );
  }
}

/** The types of frame a client sends on the chat port. */
export const CLIENT_TYPES: ReadonlySet<string> = new Set([
  "hello",
  "password",
  "send",
  "ack",
  "who",
  "ping",
  "pong",
  "bye",
]);

/** `hello, password, …, pong or bye`, for refusals of other types. */
const EXPECTED_TYPES = [...CLIENT_TYPES].slice(0, -1).join(", ") +
  ` or ${[...CLIENT_TYPES].at(-1)}`;

/**
 * The requests of the admin protocol (server/admin_protocol.ts): a chat
 * port that gets one was most likely given to `parley debug --admin`, and
 * says so rather than leave its user to puzzle over a list of chat frames.
 */
const ADMIN_TYPES: ReadonlySet<string> = new Set([
  "auth",
  "status",
  "show",
  "users",
  "kick",
  "watch",
]);

const SERVER_TYPES = new Set([
  "auth",
  "ready",
  "accepted",
  "delivered",
  "msg",
  "who",
  "bye",
  "error",
  "ping",
  "pong",
]);

/**
 * Parses one line received by a client into a server frame.
 *
 * A client trusts its server more than a server trusts its clients: this
 * checks that the line is an object of a known type and leaves the fields
 * to the caller.
 *
 * @throws {ProtocolError} `bad_frame` or `unknown_type`.
 */
export function parseServerFrame(line: string): ServerFrame {
  const obj = parseObject(line);
  if (typeof obj.type !== "string" || !SERVER_TYPES.has(obj.type)) {
    throw new ProtocolError(
      "unknown_type",
      `Unknown server frame type ${JSON.stringify(obj.type)}`,
    );
  }
  return obj as unknown as ServerFrame;
}

/** A received line that could not be taken as a frame, and why. */
export interface InvalidFrame {
  type: "invalid";
  code: ErrorCode;
  text: string;
  /** The `id` of a refused `send`, when it had a usable one. */
  id?: string;
}

/** What a server makes of one received line. */
export type Incoming = ClientFrame | InvalidFrame;

/** The `id` of a refused `send` line, so its refusal can carry it. */
function sendIdOf(line: string): string | undefined {
  try {
    const obj = JSON.parse(line);
    return obj?.type === "send" && typeof obj.id === "string" &&
        obj.id.length <= MAX_ID_LENGTH
      ? obj.id
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Like {@linkcode parseClientFrame}, but returns the refusal as an
 * {@linkcode InvalidFrame} instead of throwing.
 */
export function readClientFrame(line: string): Incoming {
  try {
    return parseClientFrame(line);
  } catch (error) {
    if (error instanceof ProtocolError) {
      const invalid: InvalidFrame = {
        type: "invalid",
        code: error.code,
        text: error.message,
      };
      const id = sendIdOf(line);
      if (id !== undefined) invalid.id = id;
      return invalid;
    }
    throw error;
  }
}

/**
 * The `error` frame for a received frame the current state cannot take:
 * the reason a line could not be read, or `not_allowed` saying `when`.
 *
 * @param when When it is not allowed: `while logging in`, `after login`.
 *
 * @example
 * ```ts
 * import { refusalOf } from "./frames.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(refusalOf({ type: "who" }, "while logging in"), {
 *   type: "error",
 *   code: "not_allowed",
 *   text: 'A "who" frame is not allowed while logging in',
 * });
 * ```
 */
export function refusalOf(frame: Incoming, when: string): ErrorFrame {
  if (frame.type === "invalid") {
    return new ProtocolError(frame.code, frame.text).toFrame(frame.id);
  }
  const what = aFrame(frame.type);
  return new ProtocolError(
    "not_allowed",
    `${what[0].toUpperCase()}${what.slice(1)} is not allowed ${when}`,
  ).toFrame();
}

/** `a "send" frame`, `an "ack" frame`. */
function aFrame(type: unknown): string {
  const name = String(type);
  return `${/^[aeiou]/i.test(name) ? "an" : "a"} "${name}" frame`;
}
