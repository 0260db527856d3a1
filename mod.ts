#!/usr/bin/env -S deno run --allow-all --unstable-kv
/**
 * parley: a multi-client chat system. One program with three subcommands:
 *
 * - `parley serve` runs the message server,
 * - `parley chat` is the terminal client,
 * - `parley debug` shows the live connection actors of a running server.
 *
 * Run `parley <subcommand> --help` for the flags of each.
 *
 * @module
 */

import { UsageExit } from "./cli/args.ts";
import { VERSION } from "./version.ts";

const USAGE = `parley ${VERSION}: a multi-client chat system

Usage: parley <command> [flags]

Commands:
  serve   run the message server
  chat    the chat client
  debug   inspect the actors of a running server

Run "parley <command> --help" for the flags of a command.
`;

type Main = (args: string[]) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Main>> = {
  serve: async () => (await import("./cli/serve.ts")).main,
  chat: async () => (await import("./cli/chat.ts")).main,
  debug: async () => (await import("./cli/debug.ts")).main,
};

/**
 * Runs the parley command line and returns the exit status.
 *
 * @param args The arguments after the program name.
 */
export async function run(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "-h" || name === "--help") {
    console.log(USAGE.trimEnd());
    return name === undefined ? 2 : 0;
  }
  if (name === "-V" || name === "--version") {
    console.log(VERSION);
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(
      `parley: unknown command "${name}"; expected serve, chat or debug (see --help)`,
    );
    return 2;
  }
  try {
    return await (await load())(rest);
  } catch (error) {
    if (error instanceof UsageExit) {
      if (error.message) console.error(error.message);
      return error.status;
    }
    throw error;
  }
}

if (import.meta.main) {
  Deno.exit(await run(Deno.args));
}
