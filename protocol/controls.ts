/**
 * Characters that could move, recolour or reorder the text of a terminal
 * showing them: C0 and C1 controls and the directional formatting marks.
 *
 * @module
 */

const CONTROLS =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` with every control and direction mark spelled out as `\uXXXX`, so
 * an error message may quote what a user typed.
 *
 * @example
 * ```ts
 * import { spellOutControls } from "./controls.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(spellOutControls("bo\u202Eb"), "bo\\u202eb");
 * ```
 */
export function spellOutControls(text: string): string {
  return text.replace(
    CONTROLS,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
