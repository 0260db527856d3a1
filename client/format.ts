/**
 * Turns {@linkcode ChatEvent}s into what `parley chat` prints: text lines
 * for people, or one JSON object per line with `--json`.
 *
 * Text lines start with a time (`YYYY/MM/DD HH:MM:SS`, local zone) for
 * messages and with `*** ` for notices. Further lines of a multi-line text
 * follow, indented by four spaces.
 *
 * @module
 */

import { neutraliseControls } from "../protocol/controls.ts";
import type { ChatEvent, DisconnectedEvent, NoticeEvent } from "./events.ts";

/** How events are printed. */
export interface FormatOptions {
  /** One JSON object per event instead of text. Default false. */
  json?: boolean;
  /** Times in UTC instead of the local zone (for tests). Default false. */
  utc?: boolean;
}

/** Indent of the continuation lines of a multi-line text. */
export const CONTINUATION_INDENT = "    ";

const NOTICE = "*** ";

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

/** Shown for a server time that is no date, in the same width. */
export const UNKNOWN_TIME = "????/??/?? ??:??:??";

/**
 * Formats a server time as `YYYY/MM/DD HH:MM:SS`, or
 * {@linkcode UNKNOWN_TIME} when it is none.
 *
 * @param ts Milliseconds since the Unix epoch.
 * @param utc Use UTC instead of the local zone (the `TZ` variable).
 *
 * @example
 * ```ts
 * import { formatTime } from "./format.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatTime(1622820930000, true), "2021/06/04 15:35:30");
 * assert.equal(formatTime(1e17, true), "????/??/?? ??:??:??");
 * ```
 */
export function formatTime(ts: number, utc = false): string {
  const d = new Date(ts);
  // A broken server's time (not a number, or past year 275,760) is no date.
  if (Number.isNaN(d.getTime())) return UNKNOWN_TIME;
  const [y, mo, day, h, mi, s] = utc
    ? [
      d.getUTCFullYear(),
      d.getUTCMonth() + 1,
      d.getUTCDate(),
      d.getUTCHours(),
      d.getUTCMinutes(),
      d.getUTCSeconds(),
    ]
    : [
      d.getFullYear(),
      d.getMonth() + 1,
      d.getDate(),
      d.getHours(),
      d.getMinutes(),
      d.getSeconds(),
    ];
  return `${pad(y, 4)}/${pad(mo)}/${pad(day)} ${pad(h)}:${pad(mi)}:${pad(s)}`;
}

/**
 * Lines for `text` after `head`: the first line of the text joins the head,
 * the others follow indented by {@linkcode CONTINUATION_INDENT}. Only line
 * feeds break lines: a carriage return before one is shown like any other.
 */
function block(head: string, text: string): string[] {
  const lines = text.split("\n");
  return [
    head + lines[0],
    ...lines.slice(1).map((line) => CONTINUATION_INDENT + line),
  ];
}

/** Server texts start with a capital; notices read better without one. */
function decapitalise(text: string): string {
  if (/^\p{Lu}(?!\p{Lu})/u.test(text)) {
    return text[0].toLowerCase() + text.slice(1);
  }
  return text;
}

/** `n` with the word for it: `1 message`, `2 messages`. */
export function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Longest part of a message quoted in a notice or receipt about it. */
const EXCERPT_CHARS = 24;

/**
 * `not sent to bob ("hello the…"): ` for a refused send, and
 * `not confirmed to bob ("hello the…"): ` for one never answered, so a
 * row of alike notices says which message each was (as receipts do);
 * nothing otherwise.
 */
function messageHead(event: NoticeEvent): string {
  const message = event.refused ?? event.unconfirmed;
  if (!message) return "";
  const what = event.refused ? "not sent" : "not confirmed";
  return `${what} to ${message.to} (${excerpt(message.text)}): `;
}

/** The start of a message's first line, quoted: `"hello the…"`. */
function excerpt(text: string): string {
  const chars = [...text.split("\n")[0]];
  const cut = chars.length > EXCERPT_CHARS || text.includes("\n");
  return JSON.stringify(
    chars.slice(0, EXCERPT_CHARS).join("") + (cut ? "…" : ""),
  );
}

function disconnectLine(event: DisconnectedEvent): string {
  switch (event.reason) {
    case "lost":
    case "no_answer":
      // The client's own words, not the server's: shown as they are.
      return event.text;
    case "slow_consumer":
      // The server keeps unacknowledged private messages: nothing is lost.
      return `disconnected: ${
        decapitalise(event.text)
      }; private messages not shown yet wait for your next login`;
    default:
      return `disconnected: ${decapitalise(event.text)}`;
  }
}

/**
 * The lines to print for one event, without line endings. With `json`
 * every event is exactly one line.
 *
 * @param event What happened.
 * @param options Text or JSON, and the time zone.
 * @returns Zero or more lines.
 *
 * @example
 * ```ts
 * import { formatEvent } from "./format.ts";
 * import assert from "node:assert/strict";
 *
 * const event = {
 *   event: "message",
 *   ts: 1622820930000,
 *   from: "bob",
 *   to: "alice",
 *   text: "hi alice\nhow are you",
 *   seq: 1,
 * } as const;
 * assert.deepEqual(formatEvent(event, { utc: true }), [
 *   "2021/06/04 15:35:30 bob: hi alice",
 *   "    how are you",
 * ]);
 * assert.deepEqual(formatEvent(event, { json: true }), [
 *   JSON.stringify(event),
 * ]);
 * ```
 */
export function formatEvent(
  event: ChatEvent,
  options: FormatOptions = {},
): string[] {
  if (options.json) return [JSON.stringify(event)];
  // Names and server texts are as untrusted as message texts.
  return textLines(event, options).map(neutraliseControls);
}

function textLines(event: ChatEvent, options: FormatOptions): string[] {
  const time = (ts: number) => formatTime(ts, options.utc);
  switch (event.event) {
    case "message":
      return block(`${time(event.ts)} ${event.from}: `, event.text);
    case "echo": {
      const lines = block(
        `${time(event.ts)} ${event.from} -> ${event.to}: `,
        event.text,
      );
      if (event.status === "stored") {
        lines.push(`${NOTICE}${event.to} is offline; message stored`);
      }
      return lines;
    }
    case "broadcast":
      return block(
        `${time(event.ts)} broadcast from ${event.from}: `,
        event.text,
      );
    case "delivered":
      return [
        `${NOTICE}delivered to ${event.to}${
          event.text === undefined ? "" : ` (${excerpt(event.text)})`
        }`,
      ];
    case "connected": {
      const lines = [`${NOTICE}connected to ${event.server} as ${event.name}`];
      if (event.registered) {
        lines.push(`${NOTICE}registered new account ${event.name}`);
      }
      // The stored ones are announced by a `stored_messages` notice once
      // the first of them not shown before arrives.
      if (event.expired > 0) {
        const what = plural(event.expired, "message", "messages");
        lines.push(`${NOTICE}${what} expired unread`);
      }
      return lines;
    }
    case "who":
      return [
        `${NOTICE}online: ${
          event.users.length > 0 ? event.users.join(", ") : "nobody"
        }`,
      ];
    case "disconnected":
      return block(NOTICE, disconnectLine(event));
    case "notice":
      return block(NOTICE + messageHead(event), decapitalise(event.text));
  }
}
