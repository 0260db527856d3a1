/**
 * `parley serve`: runs the message server until SIGINT or SIGTERM.
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { Option } from "commander";
import { DatabaseError, pathExists } from "../store/database.ts";
import { defaultConfig, type ServeConfig } from "../server/config.ts";
import {
  markNetlogStarted,
  setupLogging,
  stopLogging,
} from "../server/logging.ts";
import { type Admin, AdminListenError, startAdmin } from "../server/admin.ts";
import { adminSocketPath, refuseIfAnswered } from "../server/admin_socket.ts";
import { type Server, startServer } from "../server/server.ts";
import {
  decapitalise,
  EXIT_USAGE,
  filePath,
  flagError,
  hostPort,
  integer,
  newCommand,
  parseArgs,
  plainSystemError,
  positive,
  quote,
  readSecretFile,
  seconds,
} from "./args.ts";

/** Parses the flags of `parley serve` into a config. */
function parseServeArgs(args: string[]): ServeConfig {
  const defaults = defaultConfig();
  const guard = defaults.loginGuard;
  const command = newCommand("serve", "Run the parley message server")
    .option("--host <host>", "address to listen on", unbracket, defaults.host)
    .option(
      "--port <port>",
      "TCP port; 0 picks a free one",
      integer(0, 65535),
      defaults.port,
    )
    .option(
      "--db <path>",
      "database file; $PARLEY_DB sets its default",
      filePath,
      defaults.db,
    )
    .option(
      "--netlog <path>",
      "log every frame in and out to this file",
      filePath,
    )
    .option(
      "--ping-interval <seconds>",
      "client silence before the server pings",
      seconds,
      defaults.pingIntervalS,
    )
    .option(
      "--ping-timeout <seconds>",
      "wait for an answer to a ping",
      seconds,
      defaults.pingTimeoutS,
    )
    .option(
      "--login-timeout <seconds>",
      "time allowed to log in",
      seconds,
      defaults.loginTimeoutS,
    )
    .option(
      "--max-offline <n>",
      "stored messages per offline recipient",
      integer(1, 1_000_000),
      defaults.maxOffline,
    )
    .option(
      "--offline-ttl <days>",
      "days a stored message is kept (fractions allowed)",
      positive(36_500),
      defaults.offlineTtlDays,
    )
    .option(
      "--rate-limit <msgs>",
      "messages per second a connection may send; 0 for no limit",
      integer(0, 1_000_000),
      defaults.rateLimit,
    )
    .option(
      "--rate-burst <msgs>",
      "messages a connection may send at once before --rate-limit applies",
      integer(1, 1_000_000),
      defaults.rateBurst,
    )
    .option(
      "--login-failures <n>",
      "wrong passwords per name and address before a cool-down",
      integer(1, 1_000_000),
      guard.maxFailures,
    )
    .option(
      "--login-cooldown <seconds>",
      "how long wrong passwords count and lock out",
      seconds,
      guard.cooldownMs / 1000,
    )
    .option(
      "--register-limit <n>",
      "new accounts per address per --register-window",
      integer(1, 1_000_000),
      guard.maxRegistrations,
    )
    .option(
      "--register-window <seconds>",
      "the window of --register-limit",
      seconds,
      guard.registrationWindowMs / 1000,
    )
    .addOption(
      new Option(
        "--login-delay <seconds>",
        "delay of the first wrong-password answer; doubles to 8 times it",
      )
        .argParser(seconds)
        .default(guard.delayMs / 1000)
        .hideHelp(),
    )
    .addOption(
      new Option("--log-level <level>", "least important log level shown")
        .choices(["debug", "info", "warning", "error"])
        .default(defaults.logLevel),
    )
    .addOption(
      new Option("--log-format <format>", "log line format")
        .choices(["text", "json"])
        .default(defaults.logFormat),
    )
    .option(
      "--admin <host:port>",
      "also offer parley debug over TCP here (needs --admin-token-file)",
      hostPort,
    )
    .option(
      "--admin-token-file <file>",
      "file holding the token TCP admin clients must send",
      filePath,
    )
    .option(
      "--hash-concurrency <n>",
      "password hashes computed at once; more logins wait (default: half the cores, at least 1)",
      integer(1, 1024),
    )
    .option(
      "--hash-nice <n>",
      "nice value of the hashing threads, 0-19: higher keeps a busy chat fast and makes logins wait",
      integer(0, 19),
      defaults.hashNice,
    )
    .addOption(
      new Option("--hash-cost <N>", "scrypt cost for new passwords")
        .argParser(integer(1024, 1 << 20))
        .default(defaults.hashCost)
        .hideHelp(),
    );
  parseArgs(command, args);
  const o = command.opts();
  if (o.admin !== undefined && o.adminTokenFile === undefined) {
    throw flagError(
      "parley serve",
      "--admin <host:port>",
      "needs --admin-token-file; a TCP admin endpoint without a token is refused",
    );
  }
  if (o.adminTokenFile !== undefined && o.admin === undefined) {
    // The socket next to the database needs no token: one given alone is
    // most likely a forgotten --admin.
    throw flagError(
      "parley serve",
      "--admin-token-file <file>",
      "only goes with --admin",
    );
  }
  return {
    ...defaults,
    host: o.host,
    port: o.port,
    db: o.db,
    netlog: o.netlog ?? null,
    pingIntervalS: o.pingInterval,
    pingTimeoutS: o.pingTimeout,
    loginTimeoutS: o.loginTimeout,
    maxOffline: o.maxOffline,
    offlineTtlDays: o.offlineTtl,
    logLevel: o.logLevel,
    logFormat: o.logFormat,
    hashCost: o.hashCost,
    hashConcurrency: o.hashConcurrency ?? defaults.hashConcurrency,
    hashNice: o.hashNice,
    admin: o.admin ?? null,
    adminTokenFile: o.adminTokenFile ?? null,
    rateLimit: o.rateLimit,
    rateBurst: o.rateBurst,
    loginGuard: {
      ...guard,
      maxFailures: o.loginFailures,
      maxAddressFailures: 4 * o.loginFailures,
      cooldownMs: o.loginCooldown * 1000,
      delayMs: o.loginDelay * 1000,
      maxDelayMs: 8 * o.loginDelay * 1000,
      maxRegistrations: o.registerLimit,
      registrationWindowMs: o.registerWindow * 1000,
    },
  };
}

/**
 * A commander value parser for `--host`: an IPv6 address may come in
 * brackets, as parley prints it (`[::1]`), or bare.
 */
function unbracket(value: string): string {
  return /^\[[^\]]*:[^\]]*\]$/.test(value) ? value.slice(1, -1) : value;
}

/** `host:port` as parley writes it, an IPv6 host in brackets. */
function hostAndPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/**
 * Reads the admin token.
 *
 * @throws {UsageExit} When the file cannot be read or holds a short token.
 */
function readToken(file: string): string {
  const option = "--admin-token-file <file>";
  const token = readSecretFile("parley serve", option, file).trim();
  if (token.length < 16) {
    throw flagError(
      "parley serve",
      option,
      `expected a token of at least 16 characters in ${
        quote(file)
      }, found ${token.length}`,
    );
  }
  return token;
}

/**
 * Checks that `--host` is an address or a name that resolves, as a bad
 * flag: found only when listening, a typo would look like a fault of the
 * machine, and the database would have been opened for nothing.
 *
 * @throws {UsageExit} Status 2, naming the flag, when it does not resolve.
 */
async function checkHost(host: string): Promise<void> {
  let problem = host === "" ? "" : null;
  try {
    if (problem === null) await lookup(host);
  } catch (error) {
    problem = (error as { code?: string }).code === "ENOTFOUND"
      ? ", which has no address"
      : `, which failed: ${(error as Error).message}`;
  }
  if (problem !== null) {
    throw flagError(
      "parley serve",
      "--host <host>",
      `expected an IP address or a name that resolves, found ${
        quote(host)
      }${problem}`,
    );
  }
}

/** Runs `parley serve`; resolves with the exit status. */
export async function main(args: string[]): Promise<number> {
  const config = parseServeArgs(args);
  await checkHost(config.host);
  // A netlog this start makes is removed again if the start fails, like the
  // database file.
  let netlogMade = false;
  const stopFailed = async () => {
    await stopLogging();
    if (netlogMade) await Deno.remove(config.netlog!).catch(() => {});
  };
  if (config.netlog !== null) {
    netlogMade = !(await pathExists(config.netlog).catch(() => true));
    try {
      (await Deno.open(config.netlog, { append: true, create: true })).close();
    } catch (error) {
      console.error(
        `parley serve: cannot write the netlog ${config.netlog}: ${
          plainSystemError((error as Error).message)
        } (--netlog)`,
      );
      return 1;
    }
  }
  await setupLogging({
    level: config.logLevel,
    format: config.logFormat,
    netlog: config.netlog,
  });
  let token: string | null = null;
  if (config.adminTokenFile !== null) {
    try {
      token = readToken(config.adminTokenFile);
    } catch (error) {
      await stopFailed();
      console.error((error as Error).message);
      return EXIT_USAGE;
    }
  }
  const socketPath = adminSocketPath(config.db);
  let server: Server;
  try {
    // A server of an older parley does not lock the database file, but it
    // answers on the admin socket: ask before the database is touched.
    if (socketPath !== null) await refuseIfAnswered(socketPath);
  } catch (error) {
    await stopFailed();
    console.error(
      `parley serve: database ${config.db} is in use: ${
        (error as Error).message
      }`,
    );
    return 1;
  }
  // parley debug listens before the database is opened, so that a server
  // that cannot offer it fails without touching the file; it answers once
  // the server runs.
  const starting = Promise.withResolvers<Server>();
  let admin: Admin | undefined;
  try {
    server = await startServer(config, {
      beforeOpen: async () =>
        admin = await startAdmin(starting.promise, {
          socketPath,
          tcp: config.admin,
          token,
        }),
    });
  } catch (error) {
    // Links to parley debug that came in meanwhile are closed.
    if (admin !== undefined) starting.reject(error);
    await stopFailed();
    console.error(startFailure(config, error));
    return 1;
  }
  starting.resolve(server);
  markNetlogStarted();
  for (const where of admin!.addresses) {
    console.log(`parley serve: parley debug on ${where}`);
  }
  // Last, so that whoever waits for this line can connect at once.
  console.log(`parley serve: listening on ${server.address}`);
  const stopped = Promise.withResolvers<void>();
  const onSignal = () => stopped.resolve();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  await stopped.promise;
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onSignal);
  console.log("parley serve: shutting down");
  await admin!.close();
  await server.shutdown();
  await stopLogging();
  return 0;
}

/** The line that says why `startServer` failed. */
function startFailure(config: ServeConfig, error: unknown): string {
  if (error instanceof AdminListenError) {
    return `parley serve: ${plainSystemError(error.message)}`;
  }
  if (error instanceof DatabaseError) {
    return `parley serve: ${decapitalise(plainSystemError(error.message))}`;
  }
  const where = hostAndPort(config.host, config.port);
  if (error instanceof Deno.errors.AddrInUse) {
    return `parley serve: ${where} is already in use; stop the other server or choose another --port`;
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return `parley serve: cannot listen on ${config.host}: no such local address (--host)`;
  }
  return `parley serve: cannot listen on ${where}: ${
    plainSystemError((error as Error).message)
  }`;
}
