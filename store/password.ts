/**
 * Password hashing with scrypt from `node:crypto`, always off the main
 * thread: hashing never stalls the connections served there. Where the key
 * is computed is a parameter ({@linkcode Derive}): Deno's thread pool by
 * default, the server's low-priority hashing threads in `hash_workers.ts`.
 *
 * A stored hash reads `scrypt$N$r$p$SALT$HASH` (salt and hash in base64), so
 * the cost can be raised later without breaking old accounts.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

/** scrypt cost parameters. */
export interface ScryptCost {
  /** CPU/memory cost, a power of two. */
  N: number;
  r: number;
  p: number;
}

/** The cost for new passwords: 16 MiB of memory, about 50 ms here. */
export const DEFAULT_COST: ScryptCost = { N: 16_384, r: 8, p: 1 };

const KEY_BYTES = 32;
const SALT_BYTES = 16;

/**
 * Computes an scrypt key. The password given is already NFC-normalised.
 * The server's low-priority hashing threads (`hash_workers.ts`) give one.
 */
export type Derive = (
  password: string,
  salt: Uint8Array,
  keyLength: number,
  cost: ScryptCost,
) => Promise<Buffer>;

/** scrypt in Deno's thread pool, at the main thread's priority. */
export const threadPoolScrypt: Derive = (password, salt, keyLength, cost) =>
  new Promise((resolve, reject) =>
    scrypt(
      password,
      salt,
      keyLength,
      { ...cost, maxmem: 256 * cost.N * cost.r },
      (error, key) => error ? reject(error) : resolve(key),
    )
  );

/**
 * Hashes a new password with a fresh random salt.
 *
 * @param derive Where scrypt runs (default: Deno's thread pool).
 * @example
 * ```ts
 * import { hashPassword, verifyPassword } from "./password.ts";
 * import assert from "node:assert/strict";
 *
 * const cost = { N: 1024, r: 8, p: 1 };
 * const stored = await hashPassword("s3cret", cost);
 * assert.equal(await verifyPassword("s3cret", stored), true);
 * assert.equal(await verifyPassword("guess", stored), false);
 * ```
 */
export async function hashPassword(
  password: string,
  cost: ScryptCost = DEFAULT_COST,
  derive: Derive = threadPoolScrypt,
): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password.normalize("NFC"), salt, KEY_BYTES, cost);
  return [
    "scrypt",
    cost.N,
    cost.r,
    cost.p,
    salt.toString("base64"),
    key.toString("base64"),
  ].join("$");
}

/**
 * Checks a password against a stored hash, in constant time.
 *
 * @param derive Where scrypt runs (default: Deno's thread pool).
 * @throws {SyntaxError} When `stored` is not a hash made by
 * {@linkcode hashPassword}.
 */
export async function verifyPassword(
  password: string,
  stored: string,
  derive: Derive = threadPoolScrypt,
): Promise<boolean> {
  const [kind, N, r, p, salt, hash] = stored.split("$");
  if (kind !== "scrypt" || hash === undefined) {
    throw new SyntaxError(
      `Expected a stored hash "scrypt$N$r$p$salt$hash", found "${kind}"`,
    );
  }
  const expected = Buffer.from(hash, "base64");
  const key = await derive(
    password.normalize("NFC"),
    Buffer.from(salt, "base64"),
    KEY_BYTES,
    { N: Number(N), r: Number(r), p: Number(p) },
  );
  return key.length === expected.length && timingSafeEqual(key, expected);
}
