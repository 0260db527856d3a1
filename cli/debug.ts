/**
 * `parley debug`: shows the live actors of a running server.
 *
 * @module
 */

import { newCommand, parseArgs } from "./args.ts";

/** Runs `parley debug`; resolves with the exit status. */
export function main(args: string[]): Promise<number> {
  const command = newCommand("debug", "Inspect a running parley server");
  parseArgs(command, args);
  console.error("parley debug: not built yet");
  return Promise.resolve(1);
}
