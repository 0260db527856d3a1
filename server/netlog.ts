/**
 * What the netlog writes for each frame a client sent. A password must
 * never reach the file, whatever shape a client gives it, so a readable
 * frame is written as the server understood it (its known fields only),
 * and a line the server could not take as a frame is written only when it
 * cannot hide a password: where it might, the line is cut or described.
 *
 * @module
 */

import { type Incoming, jsonKind } from "../protocol/frames.ts";
import type { Inbound } from "../transport/transport.ts";

/**
 * Any field name that may hold a credential: `password`, `Password`,
 * `passwd`, `pwd`, `pw`, `pin`, `secret`, `token`, `apiKey`… Masking a field
 * that held none (`ping`) costs nothing.
 */
const PASSWORD_HINT = /pass|pw|pin|secret|token|key|auth|cred/i;

/**
 * The netlog text for one received line.
 *
 * @param inbound What the transport read.
 * @param frame What the server made of it.
 *
 * @example
 * ```ts
 * import { netlogText } from "./netlog.ts";
 * import { readClientFrame } from "../protocol/frames.ts";
 * import assert from "node:assert/strict";
 *
 * const line = '{"type":"password","password":["oops"]}';
 * assert.equal(
 *   netlogText({ kind: "line", line }, readClientFrame(line)),
 *   '{"type":"password","password":"***"}',
 * );
 * ```
 */
export function netlogText(inbound: Inbound, frame: Incoming): string {
  switch (inbound.kind) {
    case "too_large":
      return `<${inbound.bytes} bytes over the frame limit, skipped>`;
    case "bad_utf8":
      return "<a line that is not UTF-8, skipped>";
    case "line":
      if (frame.type === "password") {
        return JSON.stringify({ ...frame, password: "***" });
      }
      if (frame.type !== "invalid") return JSON.stringify(frame);
      return redactInvalid(inbound.line, frame.code);
  }
}

/**
 * A line that is no frame. A JSON object is written with anything named
 * like a password masked; any other line is described, not copied: a
 * client that sends its password as a bare line at the wrong moment must
 * not find it in the log.
 */
function redactInvalid(line: string, code: string): string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return `<${code}: a line of ${line.length} characters, not logged>`;
  }
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    try {
      return JSON.stringify(
        value,
        (key, field) => PASSWORD_HINT.test(key) ? "***" : field,
      );
    } catch {
      // Nested deeper than the stack allows (JSON.parse takes it, the
      // masking walk cannot): described, like a line that is no JSON.
      return `<${code}: a JSON object of ${line.length} characters nested too deep, not logged>`;
    }
  }
  return `<${code}: a JSON ${jsonKind(value)}, not logged>`;
}
