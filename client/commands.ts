/**
 * The commands a `parley chat` user types, and how lines ending in `\`
 * join into one multi-line input (`\\` at the end keeps one `\` and ends
 * the message, and so does an empty line; a line of only `\` is an empty
 * line within it).
 *
 * ```text
 * HI host:port     connect to a server and log in
 * @name text       private message
 * @all text        message to everyone online
 * WHO              who is online
 * BYE              leave the server, stay in the program
 * QUIT             leave and exit
 * HELP             this list
 * ```
 *
 * Keywords may be typed in any case.
 *
 * @module
 */

import { parseAddress } from "../transport/socket.ts";

/** One parsed line of input. */
export type Command =
  | { kind: "hi"; address: string }
  /** `to` is `all` for a broadcast. */
  | { kind: "send"; to: string; text: string }
  | { kind: "who" }
  | { kind: "bye" }
  | { kind: "quit" }
  | { kind: "help" }
  /** Nothing but white space: do nothing. */
  | { kind: "empty" }
  /** Not a command; `message` says why and what would be. */
  | { kind: "invalid"; message: string };

/** The answer to `HELP`, one command per line. */
export const HELP_TEXT = [
  "commands (keywords in any case):",
  "HI host:port    connect to a server and log in",
  "@name text      send a private message",
  "@all text       send a message to everyone online",
  "WHO             show who is online",
  "BYE             leave the server",
  "QUIT            leave and exit",
  "HELP            show this list",
  "end a line with \\ to continue the message on the next line,",
  "or with \\\\ to end the message with one \\; an empty line ends it",
  "too, and a line of only \\ puts an empty line in it",
].join("\n");

const SUMMARY =
  "type @name text, @all text, HI host:port, WHO, BYE, QUIT or HELP";

function invalid(message: string): Command {
  return { kind: "invalid", message };
}

function shorten(text: string): string {
  const first = text.split("\n")[0];
  return first.length > 40 ? first.slice(0, 40) + "…" : first;
}

function parseSend(input: string): Command {
  // The name ends at the first white space; the text is everything after
  // it, its own line breaks and inner spacing kept.
  const match = /^@([^\s]*)(?:[ \t]*\n|[ \t]+|$)([\s\S]*)$/.exec(input);
  const to = match?.[1] ?? "";
  const text = match?.[2] ?? "";
  if (to === "") {
    return invalid(
      `expected a name after "@", as in "@bob hello"; found "${
        shorten(input)
      }"`,
    );
  }
  if (text.trim() === "") {
    return invalid(`expected a message after "@${to}", found nothing`);
  }
  return { kind: "send", to: to.toLowerCase() === "all" ? "all" : to, text };
}

/**
 * Checks an address to connect to: `host:port` with a port from 1 to
 * 65535 (0 only makes sense for listening), or `unix:PATH`.
 *
 * @returns Undefined when it will do, else what was expected and found,
 * as in `host:port with a port from 1 to 65535, found "h:0"`.
 *
 * @example
 * ```ts
 * import { checkServerAddress } from "./commands.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(checkServerAddress("127.0.0.1:1998"), undefined);
 * assert.equal(
 *   checkServerAddress("127.0.0.1:0"),
 *   'host:port with a port from 1 to 65535, found "127.0.0.1:0"',
 * );
 * ```
 */
export function checkServerAddress(address: string): string | undefined {
  let port: number | undefined;
  try {
    const parsed = parseAddress(address);
    if (parsed.transport === "unix") return undefined;
    port = parsed.port;
  } catch {
    // Reported below.
  }
  if (port !== undefined && port >= 1) return undefined;
  return `host:port with a port from 1 to 65535, found "${address}"`;
}

/**
 * Parses one complete input (continued lines already joined).
 *
 * @param input What the user typed, line breaks included.
 * @returns The command; never throws, bad input is an `invalid` command.
 *
 * @example
 * ```ts
 * import { parseCommand } from "./commands.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseCommand("@bob hi there"), {
 *   kind: "send",
 *   to: "bob",
 *   text: "hi there",
 * });
 * assert.deepEqual(parseCommand("hi 127.0.0.1:1998"), {
 *   kind: "hi",
 *   address: "127.0.0.1:1998",
 * });
 * assert.equal(parseCommand("hello").kind, "invalid");
 * ```
 */
export function parseCommand(input: string): Command {
  const trimmed = input.trim();
  if (trimmed === "") return { kind: "empty" };
  if (trimmed.startsWith("@")) return parseSend(input.trimStart());
  const [word, ...rest] = trimmed.split(/\s+/);
  const keyword = word.toUpperCase();
  switch (keyword) {
    case "HI": {
      if (rest.length !== 1) {
        return invalid(
          `expected HI host:port, found ${
            rest.length === 0 ? "no address" : `"${shorten(trimmed)}"`
          }`,
        );
      }
      const problem = checkServerAddress(rest[0]);
      if (problem) return invalid(`expected HI ${problem}`);
      return { kind: "hi", address: rest[0] };
    }
    case "WHO":
    case "BYE":
    case "QUIT":
    case "HELP":
      if (rest.length > 0) {
        return invalid(`${keyword} takes nothing after it; ${SUMMARY}`);
      }
      return { kind: keyword.toLowerCase() as "who" | "bye" | "quit" | "help" };
    default:
      return invalid(`unknown command "${shorten(trimmed)}"; ${SUMMARY}`);
  }
}

/**
 * Joins lines that end in `\` with the line after them. A line ending in
 * an odd number of backslashes continues: the last one is removed and a
 * line break joins the lines. An even number ends the input, the final
 * pair becoming one backslash, so `\\` ends a message with a literal `\`.
 * An empty line after a continued one ends the input and adds nothing to
 * it; a line of only `\` adds an empty line and continues. A line of only
 * `\` (spaces aside) before any other begins nothing: it is an input of
 * its own, which is no command, so its user hears why.
 *
 * @example
 * ```ts
 * import { LineJoiner } from "./commands.ts";
 * import assert from "node:assert/strict";
 *
 * const joiner = new LineJoiner();
 * assert.equal(joiner.push("@bob first\\"), undefined);
 * assert.equal(joiner.continuing, true);
 * assert.equal(joiner.push("second"), "@bob first\nsecond");
 * assert.equal(joiner.push("@bob C:\\\\"), "@bob C:\\");
 * ```
 */
export class LineJoiner {
  #parts: string[] = [];

  /** True while lines are being collected for an unfinished input. */
  get continuing(): boolean {
    return this.#parts.length > 0;
  }

  /**
   * Adds one line.
   *
   * @returns The whole input once a line does not end in an odd number
   * of `\`, otherwise undefined.
   */
  push(line: string): string | undefined {
    if (line === "" && this.continuing) {
      const whole = this.#parts.join("\n");
      this.#parts = [];
      return whole;
    }
    // Continued, it would come to nothing but white space, ignored.
    if (!this.continuing && line.trim() === "\\") return line;
    const backslashes = line.length - line.replace(/\\+$/, "").length;
    if (backslashes % 2 === 1) {
      this.#parts.push(line.slice(0, -1));
      return undefined;
    }
    const last = backslashes > 0 ? line.slice(0, -1) : line;
    const whole = [...this.#parts, last].join("\n");
    this.#parts = [];
    return whole;
  }

  /**
   * Drops an unfinished input.
   *
   * @returns True when there was one to drop.
   */
  cancel(): boolean {
    const had = this.continuing;
    this.#parts = [];
    return had;
  }
}
