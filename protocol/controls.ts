/**
 * Characters that could move, recolour or reorder the text of a terminal
 * showing them: C0 and C1 controls and the directional formatting marks.
 *
 * @module
 */

/** Directional formatting: embeddings, overrides, isolates and marks. */
const DIRECTION_MARKS = "\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069";

/** Every C0 and C1 control and direction mark. */
const CONTROLS = new RegExp(
  `[\\u0000-\\u001f\\u007f-\\u009f${DIRECTION_MARKS}]`,
  "g",
);

/** The same, but for tab and line feed, which a shown text may keep. */
const SHOWN_CONTROLS = new RegExp(
  `[\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f${DIRECTION_MARKS}]`,
  "g",
);

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

/**
 * `text` with every control and direction mark but tab and line feed shown
 * as U+FFFD: escape sequences would let a sender move the cursor or
 * recolour the reader's terminal, direction marks reorder what it shows.
 *
 * @example
 * ```ts
 * import { neutraliseControls } from "./controls.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(neutraliseControls("a\x1b[2Jb\tc\u202e"), "a\uFFFD[2Jb\tc\uFFFD");
 * ```
 */
export function neutraliseControls(text: string): string {
  return text.replace(SHOWN_CONTROLS, "\uFFFD");
}
