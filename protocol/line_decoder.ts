/**
 * Splits a byte stream into frames: lines of UTF-8 ended by `\n`.
 *
 * Bytes may arrive in any pieces (one at a time, many frames at once, a
 * character cut in two); the frames come out the same. A line longer than
 * the limit is reported once and its rest is skipped up to the next newline,
 * so none of it is mistaken for a frame.
 *
 * @module
 */

import { MAX_FRAME_BYTES } from "./frames.ts";

/** What the decoder found in the stream. */
export type Decoded =
  | { kind: "line"; line: string }
  | { kind: "too_large"; bytes: number }
  | { kind: "bad_utf8" };

const NEWLINE = 0x0a;
const CR = 0x0d;
const BOM = 0xfeff;

/**
 * Shared by every decoder: they decode whole lines, never a stream, so
 * they keep no state between calls, and one per connection cost 10,000
 * idle connections about 1.4 MB. Never call them with `{ stream: true }`:
 * a character cut at the end of one connection's bytes would be carried
 * into another's.
 */
const utf8 = new TextDecoder("utf-8", { fatal: true });
/**
 * Several times cheaper per call than the fatal decoder; what it returns
 * is checked for U+FFFD, which is where invalid UTF-8 would show.
 */
const lenient = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Incremental line decoder with a size limit.
 *
 * @example
 * ```ts
 * import { LineDecoder } from "./line_decoder.ts";
 * import assert from "node:assert/strict";
 *
 * const decoder = new LineDecoder(16);
 * const bytes = new TextEncoder().encode('{"a":1}\r\n{"b"');
 * assert.deepEqual(decoder.push(bytes), [{ kind: "line", line: '{"a":1}' }]);
 * assert.deepEqual(decoder.push(new TextEncoder().encode(":2}\n")), [
 *   { kind: "line", line: '{"b":2}' },
 * ]);
 * ```
 */
export class LineDecoder {
  readonly #max: number;
  /** Pieces of a line not yet ended; made only when one is held. */
  #parts: Uint8Array[] | undefined;
  #size = 0;
  /** Bytes of an oversized line seen so far, while skipping its rest. */
  #skipping = 0;
  /** Whether the last byte skipped was a CR (not counted if a LF follows). */
  #skippedCr = false;

  /**
   * @param maxBytes Longest line accepted, without its line ending.
   * Defaults to {@linkcode MAX_FRAME_BYTES}.
   */
  constructor(maxBytes: number = MAX_FRAME_BYTES) {
    this.#max = maxBytes;
  }

  /** Bytes held for a line not yet ended. */
  get pendingBytes(): number {
    return this.#size;
  }

  /**
   * Feeds bytes and returns what they complete, in order.
   *
   * @param chunk Bytes as read. The decoder copies what it keeps.
   */
  push(chunk: Uint8Array): Decoded[] {
    const out: Decoded[] = [];
    let start = 0;
    if (this.#size > 0 || this.#skipping > 0) {
      // The first line began in an earlier chunk.
      const end = chunk.indexOf(NEWLINE);
      if (end === -1) {
        this.#hold(chunk);
        return out;
      }
      this.#finish(chunk.subarray(0, end), out);
      start = end + 1;
    }
    const last = chunk.lastIndexOf(NEWLINE);
    if (last >= start) {
      this.#whole(chunk.subarray(start, last + 1), out);
      start = last + 1;
    }
    if (start < chunk.length) this.#hold(chunk.subarray(start));
    return out;
  }

  /**
   * Lines wholly inside one chunk, each ended by its newline. They are
   * decoded in one call rather than one each: a busy client sends many per
   * read. The result is the same as decoding line by line, which is what
   * decides when the bytes are not all UTF-8.
   */
  #whole(bytes: Uint8Array, out: Decoded[]): void {
    const text = lenient.decode(bytes);
    if (text.includes("\uFFFD")) {
      // Invalid UTF-8 somewhere, or a U+FFFD sent as such.
      let start = 0;
      while (start < bytes.length) {
        const end = bytes.indexOf(NEWLINE, start);
        this.#finish(bytes.subarray(start, end), out);
        start = end + 1;
      }
      return;
    }
    // A newline byte is never part of a longer UTF-8 sequence, so the n-th
    // newline of the bytes is the n-th of the text.
    let from = 0;
    let at = 0;
    while (from < bytes.length) {
      const end = bytes.indexOf(NEWLINE, from);
      let stop = text.indexOf("\n", at);
      const next = stop + 1;
      let length = end - from;
      if (length > 0 && bytes[end - 1] === CR) {
        length--;
        stop--;
      }
      if (length > this.#max) {
        out.push({ kind: "too_large", bytes: length });
      } else if (!isBlank(bytes, from, from + length)) {
        // As the fatal decoder does for each line: a leading BOM goes.
        if (text.charCodeAt(at) === BOM) at++;
        out.push({ kind: "line", line: text.slice(at, stop) });
      }
      from = end + 1;
      at = next;
    }
  }

  #hold(piece: Uint8Array): void {
    if (this.#skipping > 0) {
      this.#skipping += piece.length;
      this.#skippedCr = piece[piece.length - 1] === CR;
      return;
    }
    if (this.#size + piece.length > this.#max + 1) {
      // +1 leaves room for a CR that a CRLF ending will strip.
      this.#skipping = this.#size + piece.length;
      this.#skippedCr = piece[piece.length - 1] === CR;
      this.#parts = undefined;
      this.#size = 0;
      return;
    }
    (this.#parts ??= []).push(piece.slice());
    this.#size += piece.length;
  }

  #finish(tail: Uint8Array, out: Decoded[]): void {
    if (this.#skipping > 0) {
      const cr = tail.length > 0
        ? tail[tail.length - 1] === CR
        : this.#skippedCr;
      out.push({
        kind: "too_large",
        bytes: this.#skipping + tail.length - (cr ? 1 : 0),
      });
      this.#skipping = 0;
      return;
    }
    let bytes = tail;
    if (this.#parts !== undefined) {
      bytes = new Uint8Array(this.#size + tail.length);
      let offset = 0;
      for (const part of this.#parts) {
        bytes.set(part, offset);
        offset += part.length;
      }
      bytes.set(tail, offset);
      this.#parts = undefined;
      this.#size = 0;
    }
    let length = bytes.length;
    if (length > 0 && bytes[length - 1] === CR) length--;
    if (length > this.#max) {
      out.push({ kind: "too_large", bytes: length });
      return;
    }
    if (isBlank(bytes, 0, length)) return; // Keep-alives, not frames.
    try {
      out.push({
        kind: "line",
        line: utf8.decode(bytes.subarray(0, length)),
      });
    } catch {
      out.push({ kind: "bad_utf8" });
    }
  }
}

/** Whether bytes `from` to `to` are only spaces and tabs (or none). */
function isBlank(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    if (bytes[i] !== 0x20 && bytes[i] !== 0x09) return false;
  }
  return true;
}
