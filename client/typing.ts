/**
 * Batches the printable keys readline receives in one read into one
 * insertion.
 *
 * Readline handles every key of a read on its own, and inserting one
 * character measures the whole typed line (its width, where the cursor
 * is) again: a paste of N characters cost O(N²), 28 s for 9,000. Keys
 * that only insert text are gathered until the read is over, or another
 * key comes, and inserted at once, so a paste costs one measure per read.
 *
 * @module
 */

/**
 * The internals of a `node:readline` interface that the chat client's
 * terminal reaches into: the line being typed, history, the row it drew
 * last, and the function that handles each key.
 */
export interface ReadlineInternals {
  line: string;
  historySize: number;
  /** The cursor's row below the prompt's first row, as last drawn. */
  prevRows?: number;
  /** Most recent first. */
  history: string[];
  /** The entry shown by the arrow keys; -1 for the line being typed. */
  historyIndex: number;
  getCursorPos(): { rows: number; cols: number };
  _ttyWrite?: (s: string, key?: KeyInfo) => void;
}

/** A key as readline's key decoder describes it. */
export interface KeyInfo {
  ctrl?: boolean;
  meta?: boolean;
  name?: string;
  sequence?: string;
}

// Text readline would insert as it is: no control character (Enter, Tab,
// Backspace, escape sequences are all made of them).
// deno-lint-ignore no-control-regex
const PLAIN = /^[^\x00-\x1f\x7f-\x9f]+$/;

/**
 * Makes `rl` insert runs of printable keys in one go: each run ends when
 * the read that brought it has been handled (a microtask later, since
 * readline handles a read's keys in one go) or when a key that is not
 * plain text arrives, which is then handled after it, in order.
 *
 * @param rl A `node:readline` interface on a terminal.
 *
 * @example
 * ```ts
 * import * as readline from "node:readline";
 * import { PassThrough } from "node:stream";
 * import { batchTypedText } from "./typing.ts";
 * import assert from "node:assert/strict";
 *
 * const input = Object.assign(new PassThrough(), { isTTY: true });
 * const rl = readline.createInterface({ input, terminal: true });
 * batchTypedText(rl);
 * const line = new Promise((resolve) => rl.once("line", resolve));
 * input.write("hello\r");
 * assert.equal(await line, "hello");
 * rl.close();
 * ```
 */
export function batchTypedText(rl: object): void {
  const handler = rl as ReadlineInternals;
  const original = handler._ttyWrite;
  if (typeof original !== "function") return;
  let pending = "";
  const flush = () => {
    if (pending === "") return;
    const text = pending;
    pending = "";
    original.call(rl, text, { sequence: text });
    // Readline redraws a wrapped line from the row it believes the cursor
    // is on, and counts rows only when a key lands at a row's start: a
    // run that wraps past one would leave it a row or more short.
    handler.prevRows = handler.getCursorPos().rows;
  };
  handler._ttyWrite = (s, key) => {
    if (
      typeof s === "string" && !key?.ctrl && !key?.meta && PLAIN.test(s)
    ) {
      if (pending === "") queueMicrotask(flush);
      pending += s;
      return;
    }
    flush();
    original.call(rl, s, key);
  };
}
