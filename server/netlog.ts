/**
 * What the netlog writes for each frame a client sent: the line as it came,
 * except that a password never reaches the file, whatever shape the frame
 * had, and lines that could not be read are described instead of copied.
 *
 * @module
 */

import type { Incoming } from "../protocol/frames.ts";
import type { Inbound } from "../transport/transport.ts";

const PASSWORD_KEY = /"password"\s*:/;

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
      if (frame.type !== "invalid" || !PASSWORD_KEY.test(inbound.line)) {
        return inbound.line;
      }
      return redactInvalid(inbound.line);
  }
}

/** A line that did not parse as a frame but names a password. */
function redactInvalid(line: string): string {
  try {
    const value = JSON.parse(line);
    if (typeof value === "object" && value !== null && "password" in value) {
      return JSON.stringify({ ...value, password: "***" });
    }
  } catch {
    // Not JSON: cut the line where the password starts.
  }
  const at = line.search(PASSWORD_KEY);
  return `${line.slice(0, at)}"password":*** <rest of the line not logged>`;
}
