/**
 * Shared flag handling for the subcommands: one commander setup so every
 * subcommand reports a bad flag the same way, as one line and exit status 2.
 *
 * @module
 */

import { Command, CommanderError, InvalidArgumentError } from "commander";
import { spellOutControls } from "../protocol/controls.ts";
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
      writeOut: (text) => Deno.stdout.writeSync(new TextEncoder().encode(text)),
      // Errors are reported once, by parseOrExit.
      writeErr: () => {},
    });
}

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
      // The message may quote what was typed: spell out anything that
      // could move or reverse the terminal's text.
      const text = spellOutControls(error.message.replace(/^error: /, ""));
      throw new UsageExit(
        EXIT_USAGE,
        `${command.name()}: ${text} (see --help)`,
      );
    }
    throw error;
  }
}

/** A commander value parser for a whole number within a range. */
export function integer(
  min: number,
  max: number,
): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) {
      throw new InvalidArgumentError(
        `expected a whole number from ${min} to ${max}, found "${value}"`,
      );
    }
    if (n < min || n > max) {
      throw new InvalidArgumentError(
        `expected a whole number from ${min} to ${max}, found ${n}`,
      );
    }
    return n;
  };
}

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
    if (value.trim() === "" || !Number.isFinite(n) || n <= 0 || n > max) {
      throw new InvalidArgumentError(
        `expected ${what} greater than 0 and at most ${max}, found "${value}"`,
      );
    }
    return n;
  };
}

/** A commander value parser for a positive number of seconds, up to a day. */
export const seconds: (value: string) => number = positive(86_400, "seconds");
