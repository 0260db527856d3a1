/**
 * Opening parley's Deno KV database, with its schema version checked.
 *
 * Keys used (all under the first part named here):
 *
 * | key | value |
 * | --- | --- |
 * | `["schema"]` | the schema version, a number |
 * | `["instance"]` | a random id of this database, see {@linkcode databaseInstance} |
 * | `["account", nameKey]` | {@linkcode Account} |
 * | `["skeleton", skeleton]` | the nameKey of the account that looks like this |
 * | `["mailbox", nameKey]` | the mailbox cursor, see `mailboxes.ts` |
 * | `["message", nameKey, firstSeq]` | stored private messages `firstSeq`, … (a list) |
 *
 * Schema 1 wrote the cursor's exact next number and `first` with every
 * change; schema 2 writes `next` as a high-water mark and `first` only when
 * the chunks left do not show it. A schema 1 cursor is a valid schema 2
 * cursor, so opening a schema 1 database only raises its version: an older
 * parley, which would count `next - first` as messages, then refuses it.
 *
 * @module
 */

import { dirname } from "node:path";

/** The schema this code reads and writes. */
export const SCHEMA_VERSION = 2;

/** Older schemas this code opens, raising their version without rewriting. */
const UPGRADABLE = new Set([1]);

/** The database cannot be used; the message says why and what to do. */
export class DatabaseError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DatabaseError";
  }
}

/**
 * The random id of this database, made the first time it is asked for.
 * Clients use it to tell a wiped or replaced database from the one whose
 * message numbers they remember.
 */
export async function databaseInstance(kv: Deno.Kv): Promise<string> {
  const found = await kv.get<string>(["instance"]);
  if (found.value !== null) return found.value;
  const id = crypto.randomUUID();
  const made = await kv.atomic().check(found).set(["instance"], id).commit();
  return made.ok ? id : (await kv.get<string>(["instance"])).value!;
}

/**
 * Opens (creating if needed) the database at `path` and checks its schema.
 *
 * @param path A file path, or `:memory:` for a throwaway database.
 * @throws {DatabaseError} When the folder cannot be created, the file is
 * not a KV database, or it was written by a newer parley.
 */
export async function openDatabase(path: string): Promise<Deno.Kv> {
  if (path !== ":memory:") {
    try {
      await Deno.mkdir(dirname(path), { recursive: true });
    } catch (error) {
      throw new DatabaseError(
        `Cannot create the database folder ${dirname(path)}: ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
  }
  let kv: Deno.Kv;
  try {
    kv = await Deno.openKv(path);
  } catch (error) {
    throw new DatabaseError(
      `Cannot open the database ${path}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  try {
    const found = await kv.get<number>(["schema"]);
    if (found.value === null) {
      const created = await kv.atomic().check(found).set(
        ["schema"],
        SCHEMA_VERSION,
      ).commit();
      if (!created.ok) {
        throw new DatabaseError("Database changed while opening");
      }
    } else if (UPGRADABLE.has(found.value)) {
      const upgraded = await kv.atomic().check(found).set(
        ["schema"],
        SCHEMA_VERSION,
      ).commit();
      if (!upgraded.ok) {
        throw new DatabaseError("Database changed while opening");
      }
    } else if (found.value !== SCHEMA_VERSION) {
      throw new DatabaseError(
        `Database ${path} has schema version ${found.value}, this parley reads version ${SCHEMA_VERSION}; ${
          found.value > SCHEMA_VERSION
            ? "use a newer parley"
            : "it cannot be upgraded"
        }`,
      );
    }
  } catch (error) {
    kv.close();
    if (error instanceof DatabaseError) throw error;
    throw new DatabaseError(
      `Cannot use the database ${path}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return kv;
}
