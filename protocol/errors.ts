/**
 * The one error type of the parley protocol. Every refusal the server sends
 * to a client is a {@linkcode ProtocolError} turned into an `error` frame, so
 * clients can branch on its stable {@linkcode ErrorCode}.
 *
 * @module
 */

/**
 * Stable error codes sent in `error` frames. Clients may rely on these; the
 * human-readable text beside them may change.
 */
export const ERROR_CODES = [
  "bad_frame",
  "frame_too_large",
  "bad_utf8",
  "unknown_type",
  "not_allowed",
  "unsupported_version",
  "bad_name",
  "name_reserved",
  "name_confusable",
  "name_taken",
  "bad_password",
  "wrong_password",
  "too_many_attempts",
  "no_such_user",
  "text_too_large",
  "mailbox_full",
  "store_failed",
  "rate_limited",
  "registration_limited",
  "internal",
] as const;

/** One of {@linkcode ERROR_CODES}. */
export type ErrorCode = typeof ERROR_CODES[number];

/**
 * A refusal that becomes an `error` frame.
 *
 * @example Turning a refusal into a frame
 * ```ts
 * import { ProtocolError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const err = new ProtocolError("no_such_user", "No such user: zed");
 * assert.deepEqual(err.toFrame("m1"), {
 *   type: "error",
 *   code: "no_such_user",
 *   text: "No such user: zed",
 *   id: "m1",
 * });
 * ```
 */
export class ProtocolError extends Error {
  /** The stable code clients branch on. */
  readonly code: ErrorCode;

  /**
   * @param code The stable code.
   * @param message What went wrong, what was expected, what to do next.
   * @param options Standard error options (`cause`).
   */
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProtocolError";
    this.code = code;
  }

  /**
   * The `error` frame for this refusal.
   *
   * @param id The id of the client frame it answers, when there is one.
   */
  toFrame(id?: string): ErrorFrame {
    const frame: ErrorFrame = {
      type: "error",
      code: this.code,
      text: this.message,
    };
    if (id !== undefined) frame.id = id;
    return frame;
  }
}

/** The `error` frame a server sends. */
export interface ErrorFrame {
  type: "error";
  code: ErrorCode;
  text: string;
  /** The `id` of the `send` frame this answers, if any. */
  id?: string;
}
