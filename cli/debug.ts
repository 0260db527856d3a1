/**
 * `parley debug`: shows and steers the live actors of a running server
 * through its admin endpoint.
 *
 * ```
 * parley debug [--json] [--watch]
 * parley debug show <conn-id|name|supervisor|shard-N> [--json]
 * parley debug users [--json]
 * parley debug kick <name|conn-id> [reason...] [--json]
 * ```
 *
 * By default it opens the admin socket next to the database (`--db`, or the
 * same default as `parley serve`); `--admin HOST:PORT --token-file FILE`
 * reaches a server that offers the admin endpoint over TCP.
 *
 * @module
 */

import { neutraliseControls } from "../protocol/controls.ts";
import { defaultDbPath } from "../server/config.ts";
import { adminSocketPath } from "../server/admin_socket.ts";
import type { AdminReply, AdminRequest } from "../server/admin_protocol.ts";
import { AdminClient, AdminUnreachable } from "./admin_client.ts";
import {
  EXIT_USAGE,
  filePath,
  flagError,
  hostPort,
  newCommand,
  parseArgs,
  readSecretFile,
  UsageExit,
} from "./args.ts";
import {
  formatActor,
  formatKicked,
  formatStatus,
  formatTransition,
  formatUsers,
} from "./debug_format.ts";

/** What `parley debug` was asked to do. */
interface DebugOptions {
  /** `unix:PATH` or `host:port`. */
  address: string;
  /** File with the token, for TCP. */
  tokenFile: string | null;
  json: boolean;
  /** What to ask; `watch` streams transitions until Ctrl-C. */
  request: AdminRequest;
}

const usage = (text: string) =>
  new UsageExit(EXIT_USAGE, `parley debug: ${text} (see --help)`);

/** Parses the flags of `parley debug`. */
function parseDebugArgs(args: string[]): DebugOptions {
  const command = newCommand("debug", "Inspect a running parley server")
    .argument(
      "[action]",
      "show <conn-id|name|supervisor|shard-N>, users, or kick <name|conn-id> [reason]",
    )
    .argument("[args...]")
    .option(
      "--db <path>",
      "database of the server; its admin socket is next to it",
      filePath,
    )
    .option(
      "--admin <host:port>",
      "reach the server's TCP admin endpoint",
      hostPort,
    )
    .option(
      "--token-file <file>",
      "file holding the admin token (TCP)",
      filePath,
    )
    .option("--json", "print JSON (one object per line with --watch)")
    .option("--watch", "print every state transition until Ctrl-C")
    .addHelpText(
      "after",
      `
Without an action it prints every actor: id, remote address, user, state,
time in that state, time since the client's last frame, outgoing bytes
queued and stored messages waiting.`,
    );
  parseArgs(command, args);
  const [action, rest = []] = command.processedArgs as [
    string | undefined,
    string[] | undefined,
  ];
  const o = command.opts();
  let request: AdminRequest;
  switch (action) {
    case undefined:
      request = { type: o.watch ? "watch" : "status" };
      break;
    case "show":
      if (rest.length !== 1 || rest[0].trim() === "") {
        throw usage("show takes one conn-id or name");
      }
      request = { type: "show", target: rest[0] };
      break;
    case "users":
      if (rest.length !== 0) throw usage("users takes no arguments");
      request = { type: "users" };
      break;
    case "kick":
      if (rest.length === 0 || rest[0].trim() === "") {
        throw usage("kick takes a name or conn-id");
      }
      request = {
        type: "kick",
        target: rest[0],
        ...(rest.length > 1 ? { text: rest.slice(1).join(" ") } : {}),
      };
      break;
    default:
      throw usage(
        `unknown action "${action}"; expected show, users or kick`,
      );
  }
  if (o.watch && action !== undefined) {
    throw flagError("parley debug", "--watch", `cannot be used with ${action}`);
  }
  if (o.admin !== undefined && o.db !== undefined) {
    throw usage("give --db or --admin, not both");
  }
  if (o.admin !== undefined && o.tokenFile === undefined) {
    throw flagError(
      "parley debug",
      "--admin <host:port>",
      "needs --token-file",
    );
  }
  if (o.tokenFile !== undefined && o.admin === undefined) {
    throw flagError(
      "parley debug",
      "--token-file <file>",
      "only goes with --admin",
    );
  }
  let address: string;
  if (o.admin !== undefined) {
    address = o.admin;
  } else {
    const db = o.db ?? defaultDbPath();
    const path = adminSocketPath(db);
    if (path === null) {
      throw usage(
        "a server with an in-memory database has no admin socket; use --admin",
      );
    }
    address = `unix:${path}`;
  }
  return {
    address,
    tokenFile: o.tokenFile ?? null,
    json: o.json === true,
    request,
  };
}

/** Runs `parley debug`; resolves with the exit status. */
export async function main(args: string[]): Promise<number> {
  const options = parseDebugArgs(args);
  let token: string | null = null;
  if (options.tokenFile !== null) {
    token = readSecretFile(
      "parley debug",
      "--token-file <file>",
      options.tokenFile,
    ).trim();
  }
  let client: AdminClient | undefined;
  try {
    client = await AdminClient.connect(options.address, token);
    if (options.request.type === "watch") return await watch(client, options);
    const reply = await client.request(options.request);
    return print(reply, options.json);
  } catch (error) {
    if (!(error instanceof AdminUnreachable)) throw error;
    console.error(`parley debug: ${error.message}`);
    return 1;
  } finally {
    client?.close();
  }
}

/**
 * The reply with controls and direction marks in its strings shown as
 * U+FFFD, as the chat client shows them: a name, a kick reason or a frame
 * quoted in a transition could otherwise move the operator's cursor or
 * reorder the line. Done before formatting, so tables stay aligned.
 */
function harmless<T>(reply: T): T {
  return JSON.parse(
    JSON.stringify(reply),
    (_key, value) =>
      typeof value === "string" ? neutraliseControls(value) : value,
  );
}

function print(raw: AdminReply, json: boolean): number {
  if (raw.type === "error") {
    console.error(`parley debug: ${neutraliseControls(raw.text)}`);
    return 1;
  }
  if (json) {
    console.log(JSON.stringify(raw));
    return 0;
  }
  const reply = harmless(raw);
  switch (reply.type) {
    case "status":
      console.log(formatStatus(reply));
      break;
    case "actor":
      console.log(formatActor(reply));
      break;
    case "users":
      console.log(formatUsers(reply.users));
      break;
    case "kicked":
      console.log(formatKicked(reply));
      break;
    default:
      console.log(JSON.stringify(reply));
  }
  return 0;
}

/** Prints transitions until Ctrl-C (exit 0) or the server goes (exit 1). */
async function watch(
  client: AdminClient,
  options: DebugOptions,
): Promise<number> {
  const first = await client.request(options.request);
  if (first.type !== "watching") return print(first, options.json);
  console.error(
    `parley debug: watching ${options.address}; Ctrl-C to stop`,
  );
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    client.close();
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    while (true) {
      const reply = await client.next();
      if (reply.type !== "transition") continue;
      console.log(
        options.json
          ? JSON.stringify(reply)
          : formatTransition(harmless(reply)),
      );
    }
  } catch (error) {
    if (interrupted) return 0;
    throw error;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}
