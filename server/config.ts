/**
 * The settings of `parley serve`, with their defaults.
 *
 * @module
 */

import { join } from "node:path";
import { DEFAULT_COST } from "../store/password.ts";
import { defaultHashConcurrency } from "../store/hash_queue.ts";
import { DEFAULT_HASH_NICE } from "../store/hash_workers.ts";
import { DEFAULT_LOGIN_GUARD, type LoginGuardOptions } from "./login_guard.ts";

/** Everything `parley serve` can be told. */
export interface ServeConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The KV database file, or `:memory:`. */
  db: string;
  /** Where to log every frame, or null for no netlog. */
  netlog: string | null;
  pingIntervalS: number;
  pingTimeoutS: number;
  loginTimeoutS: number;
  logLevel: "debug" | "info" | "warning" | "error";
  logFormat: "text" | "json";
  /** Stored messages per recipient. */
  maxOffline: number;
  offlineTtlDays: number;
  /** Bytes a client may fall behind in reading before it is dropped. */
  maxQueuedBytes: number;
  /** scrypt cost N for new passwords (tests lower it). */
  hashCost: number;
  /** Password hashes computed at once; more logins wait their turn. */
  hashConcurrency: number;
  /**
   * Nice value of the hashing threads, 0–19: above 0, a busy chat keeps most
   * of the CPU and logins wait.
   */
  hashNice: number;
  /** `host:port` for the admin endpoint over TCP, or null for none. */
  admin: string | null;
  /** File holding the token TCP admin clients must send. */
  adminTokenFile: string | null;
  /** `send` frames per second per connection; 0 turns the limit off. */
  rateLimit: number;
  /** `send` frames a connection may send at once before the rate applies. */
  rateBurst: number;
  /** Limits on wrong passwords and new accounts. */
  loginGuard: LoginGuardOptions;
}

/**
 * The default database path: `$PARLEY_DB`, else `parley/parley.db` under
 * `$XDG_DATA_HOME`, else under `~/.local/share`.
 */
export function defaultDbPath(): string {
  const env = (name: string) => Deno.env.get(name) || undefined;
  const explicit = env("PARLEY_DB");
  if (explicit) return explicit;
  const base = env("XDG_DATA_HOME") ??
    join(env("HOME") ?? ".", ".local", "share");
  return join(base, "parley", "parley.db");
}

/** The defaults, with the database path resolved from the environment. */
export function defaultConfig(): ServeConfig {
  return {
    host: "127.0.0.1",
    port: 1998,
    db: defaultDbPath(),
    netlog: null,
    pingIntervalS: 30,
    pingTimeoutS: 10,
    loginTimeoutS: 30,
    logLevel: "info",
    logFormat: "text",
    maxOffline: 1000,
    offlineTtlDays: 30,
    maxQueuedBytes: 1 << 20,
    hashCost: DEFAULT_COST.N,
    hashConcurrency: defaultHashConcurrency(),
    hashNice: DEFAULT_HASH_NICE,
    admin: null,
    adminTokenFile: null,
    rateLimit: 20,
    rateBurst: 40,
    loginGuard: { ...DEFAULT_LOGIN_GUARD },
  };
}
