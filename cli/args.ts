/**
 * Shared flag handling for the subcommands: one commander setup so every
 * subcommand reports a bad flag the same way, as one line and exit status 2.
 *
 * @module
 */

import { Command, CommanderError, InvalidArgumentError } from "commander";
import { writeStdout } from "../client/stdout.ts";
import { spellOutControls } from "../protocol/controls.ts";
import { parseAddress } from "../transport/socket.ts";
import { VERSION } from "../version.ts";

/** Exit status for a bad flag or value. */
export const EXIT_USAGE = 2;

/** Thrown when the command line is wrong or asked for help. */
export class UsageExit extends Error {
  /** Exit status: 0 after help or version, 2 after a bad flag. */
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = "UsageExit";
    this.status = status;
  }
}

/**
 * A commander program for `parley NAME`, set up to throw
 * {@linkcode UsageExit} instead of exiting the process.
 */
export function newCommand(name: string, summary: string): Command {
  return new Command(`parley ${name}`)
    .description(summary)
    .version(VERSION, "-V, --version")
    .helpOption("-h, --help", "show this help")
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({
      // --help and --version: a reader gone before the text was written
      // (`| true`) leaves nothing to do, and the status stays that of
      // the request.
      writeOut: (text) => void writeStdout(text),
      // Errors are reported once, by parseOrExit.
      writeErr: () => {},
    });
}

/**
 * The one line for a bad flag, as every subcommand prints it:
 * `parley serve: option '--port <port>': expected a whole number from 0 to
 * 65535, found "-1" (see --help)`. The reason starts lower-case and has no
 * final period, whoever wrote it; anything in it that could move or
 * reverse the terminal's text is spelled out.
 *
 * @param command The subcommand's name, as `parley serve`.
 * @param option The option as its help names it, as `--port <port>`.
 * @param reason What was expected and what was found.
 *
 * @example
 * ```ts
 * import { flagError } from "./args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   flagError("parley chat", "--name <name>", "Required").message,
 *   "parley chat: option '--name <name>': required (see --help)",
 * );
 * ```
 */
export function flagError(
  command: string,
  option: string,
  reason: string,
): UsageExit {
  const text = decapitalise(reason).replace(/\.$/, "");
  return new UsageExit(
    EXIT_USAGE,
    spellOutControls(`${command}: option '${option}': ${text} (see --help)`),
  );
}

/**
 * A sentence as the tail of a CLI line (`parley serve: cannot open…`):
 * its first letter lower-cased, unless it starts an acronym.
 */
export function decapitalise(text: string): string {
  return text.replace(/^\p{Lu}(?!\p{Lu})/u, (c) => c.toLowerCase());
}

/** A value as flag errors quote it: in double quotes, escapes visible. */
export function quote(value: string): string {
  return JSON.stringify(value);
}

/** Commander's words for a value its parser refused, and for a choice. */
const INVALID = /^error: option '([^']+)' argument '(.*)' is invalid\. (.*)$/s;
const CHOICES = /^Allowed choices are (.*)\.$/s;
const MISSING = /^error: option '([^']+)' argument missing$/;

/**
 * Parses `args` with `command`.
 *
 * @throws {UsageExit} After `--help`/`--version` (status 0) or a bad flag
 * (status 2, message naming the flag).
 */
export function parseArgs(command: Command, args: string[]): void {
  try {
    command.parse(args, { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === "commander.helpDisplayed" ||
        error.code === "commander.version" ||
        error.code === "commander.help"
      ) {
        throw new UsageExit(0, "");
      }
      const invalid = INVALID.exec(error.message);
      if (invalid !== null) {
        const [, option, value, reason] = invalid;
        const choices = CHOICES.exec(reason);
        throw flagError(
          command.name(),
          option,
          choices === null
            ? reason
            : `expected one of ${
              choices[1].replace(/, (?!.*, )/, " or ")
            }, found ${quote(value)}`,
        );
      }
      const missing = MISSING.exec(error.message);
      if (missing !== null) {
        throw flagError(command.name(), missing[1], "expected a value");
      }
      if (error.code === "commander.excessArguments") {
        // No subcommand takes arguments, only options; commander has
        // set aside what it could not place.
        throw new UsageExit(
          EXIT_USAGE,
          spellOutControls(
            `${command.name()}: unexpected argument ${
              quote(command.args[0] ?? "")
            }; options start with -- (see --help)`,
          ),
        );
      }
      // The message may quote what was typed: spell out anything that
      // could move or reverse the terminal's text.
      // Commander puts its "Did you mean" hint on a line of its own.
      const text = spellOutControls(
        error.message.replace(/^error: /, "").replaceAll("\n", " "),
      );
      throw new UsageExit(
        EXIT_USAGE,
        `${command.name()}: ${text} (see --help)`,
      );
    }
    throw error;
  }
}

/** A commander value parser for a file path: anything but blank. */
export function filePath(value: string): string {
  if (value.trim() === "") {
    throw new InvalidArgumentError(
      `expected a file path, found ${quote(value)}`,
    );
  }
  return value;
}

/** A commander value parser for a whole number within a range. */
export function integer(
  min: number,
  max: number,
): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (
      !/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max
    ) {
      throw new InvalidArgumentError(
        `expected a whole number from ${min} to ${max}, found ${quote(value)}`,
      );
    }
    return n;
  };
}

/** A number as people write it: digits, perhaps a fraction. */
const DECIMAL = /^\d+(\.\d+)?$|^\.\d+$/;

/**
 * A commander value parser for a number greater than 0, at most `max`.
 *
 * @param what How the expected value is named in the error.
 */
export function positive(
  max: number,
  what = "a number",
): (value: string) => number {
  return (value) => {
    const n = Number(value);
    // Decimal notation only: Number() would also take " 5", 0x10 and 1e3.
    if (!DECIMAL.test(value) || n <= 0 || n > max) {
      throw new InvalidArgumentError(
        `expected ${what} greater than 0 and at most ${max}, found ${
          quote(value)
        }`,
      );
    }
    return n;
  };
}

/** A commander value parser for a positive number of seconds, up to a day. */
export const seconds: (value: string) => number = positive(86_400, "seconds");

/** A commander value parser for a TCP `host:port` (no `unix:` path). */
export function hostPort(value: string): string {
  try {
    if (parseAddress(value).transport === "tcp") return value;
  } catch {
    // Refused below, in the same words.
  }
  throw new InvalidArgumentError(
    `expected HOST:PORT with a port from 0 to 65535, found ${quote(value)}`,
  );
}

/**
 * A system error's message without what Deno adds for programmers
 * (` (os error 2)`, `: open '/the/path'`): the line quoting it names the
 * file already.
 *
 * @example
 * ```ts
 * import { plainSystemError } from "./args.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   plainSystemError("No such file or directory (os error 2): mkdir '/x'"),
 *   "No such file or directory",
 * );
 * ```
 */
export function plainSystemError(message: string): string {
  return message.replace(/ \(os error \d+\)(: [a-z_]+ '[^']*')?/g, "");
}

/**
 * The largest file a flag naming a password or token (`--password-file`,
 * `--token-file`, `--admin-token-file`) may point at: far above any secret,
 * small enough that naming the wrong file (a log, `/dev/zero`) fails at once
 * instead of being read whole, or forever.
 */
export const MAX_SECRET_FILE_BYTES = 64 * 1024;

/**
 * Reads the file a password or token flag names, as text: all of a
 * regular file, the first line of anything else (a pipe, a terminal).
 *
 * @throws {UsageExit} Naming `option` of `command`, when the file cannot be
 * read or is larger than {@linkcode MAX_SECRET_FILE_BYTES}.
 */
export function readSecretFile(
  command: string,
  option: string,
  path: string,
): string {
  const bytes = new Uint8Array(MAX_SECRET_FILE_BYTES + 1);
  let length = 0;
  try {
    using file = Deno.openSync(path);
    // From a pipe (`/dev/stdin`, `<(…)`) only the first line is taken, a
    // byte at a time: what follows it may be the commands of a script.
    const step = file.statSync().isFile ? bytes.length : 1;
    while (length < bytes.length) {
      const n = file.readSync(bytes.subarray(length, length + step));
      if (n === null) break;
      length += n;
      if (step === 1 && bytes[length - 1] === 0x0a) break;
    }
  } catch (error) {
    throw flagError(
      command,
      option,
      `cannot read ${quote(path)}: ${
        plainSystemError((error as Error).message)
      }`,
    );
  }
  if (length > MAX_SECRET_FILE_BYTES) {
    throw flagError(
      command,
      option,
      `${quote(path)} is larger than ${
        MAX_SECRET_FILE_BYTES / 1024
      } KiB, too large to hold a password or token`,
    );
  }
  return new TextDecoder().decode(bytes.subarray(0, length));
}
