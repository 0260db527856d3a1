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
 * | `["skeleton_rules"]` | the version of the rules that made the skeletons, see `accounts.ts` |
 * | `["mailbox", nameKey]` | the mailbox cursor, see `mailboxes.ts` |
 * | `["chunk", n, nameKey]` | stored private messages of one user, a list with consecutive `seq`; `n` orders the chunks on disk by commit (a number may come again once its chunk is deleted) |
 *
 * Schema 1 wrote the cursor's exact next number and `first` with every
 * change; schema 2 writes `next` as a high-water mark and `first` only when
 * the chunks left do not show it. A schema 1 cursor is a valid schema 2
 * cursor. Both kept a user's chunks under `["message", nameKey, firstSeq]`
 * (before chunks, one message alone); schema 3 keys them by commit, see
 * `mailboxes.ts`. Opening an older database raises its version, so that an
 * older parley refuses it from then on, and then moves its messages to the
 * new keys; opening a schema 3 database finishes a move that was cut short.
 *
 * @module
 */

import { dirname } from "node:path";
import { indexSkeletons } from "./accounts.ts";

/** The schema this code reads and writes. */
export const SCHEMA_VERSION = 3;

/** Older schemas this code opens, moving their messages to today's keys. */
const UPGRADABLE = new Set([1, 2]);

/** Messages moved per atomic, within KV's 1,000 mutations and 800 KiB. */
const MOVES_PER_COMMIT = 400;
const MOVED_BYTES_PER_COMMIT = 500 * 1024;

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
  if (path !== ":memory:") await makeFolder(path);
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
      // The version first: an upgrade cut short must leave a file an older
      // parley refuses, since it would not see the messages already moved.
      const upgraded = await kv.atomic().check(found).set(
        ["schema"],
        SCHEMA_VERSION,
      ).commit();
      if (!upgraded.ok) {
        throw new DatabaseError("Database changed while opening");
      }
      await moveChunks(kv);
    } else if (found.value === SCHEMA_VERSION) {
      // Finishes an upgrade cut short; finds nothing otherwise.
      await moveChunks(kv);
    } else {
      throw new DatabaseError(
        `Database ${path} has schema version ${found.value}, this parley reads version ${SCHEMA_VERSION}; ${
          found.value > SCHEMA_VERSION
            ? "use a newer parley"
            : "it cannot be upgraded"
        }`,
      );
    }
    await indexSkeletons(kv);
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

/**
 * Moves the chunks of schemas 1 and 2 (`["message", nameKey, firstSeq]`,
 * a list or one message alone) to `["chunk", n, nameKey]`, each user's in
 * their order. Each move sets the new key and deletes the old one in the
 * same atomic, so an upgrade cut short goes on where it stopped.
 */
async function moveChunks(kv: Deno.Kv): Promise<void> {
  let n = 1;
  for await (
    const { key } of kv.list({ prefix: ["chunk"] }, { limit: 1, reverse: true })
  ) {
    n = (key[1] as number) + 1;
  }
  let atomic = kv.atomic();
  let moves = 0;
  let bytes = 0;
  const entries = kv.list<unknown>({ prefix: ["message"] }, { batchSize: 500 });
  for await (const { key, value } of entries) {
    const chunk = Array.isArray(value) ? value : [value];
    // KV keeps a string beyond Latin-1 at two bytes a character.
    const size = 2 * JSON.stringify(chunk).length + 64;
    if (moves === MOVES_PER_COMMIT || bytes + size > MOVED_BYTES_PER_COMMIT) {
      await atomic.commit();
      atomic = kv.atomic();
      moves = 0;
      bytes = 0;
    }
    atomic.set(["chunk", n++, key[1] as string], chunk).delete(key);
    moves++;
    bytes += size;
  }
  if (moves > 0) await atomic.commit();
}

/** A database file claimed by {@linkcode claimDatabase}. */
export interface DatabaseClaim {
  /** Releases the lock; after closing the database, whose locks go too. */
  close(): void;
  /**
   * Instead of {@linkcode close}, for a server that did not start: removes
   * what the claim made (the file with SQLite's side files, when it was not
   * there before, then the folders made for it, when nothing else went into
   * them) and releases the lock.
   */
  discard(): Promise<void>;
}

/**
 * Claims the database file for this process, before anything reads or
 * writes it: an exclusive lock on the file itself, so a second server finds
 * it under any name, a symbolic or a hard link included. A server that then
 * fails to start (its port taken, say) has changed nothing in the file, and
 * discards the claim, so that a file or folder it had to make is gone again.
 *
 * @returns The claim; null for `:memory:`.
 * @throws {DatabaseError} When another process holds the lock, or the
 * file cannot be opened.
 */
export async function claimDatabase(
  path: string,
): Promise<DatabaseClaim | null> {
  if (path === ":memory:") return null;
  const folders = await makeFolder(path);
  let file: Deno.FsFile;
  let created = true;
  try {
    try {
      file = await Deno.open(path, {
        read: true,
        write: true,
        createNew: true,
      });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      created = false;
      // Also makes the file a dangling symbolic link points to.
      file = await Deno.open(path, { read: true, write: true, create: true });
    }
  } catch (error) {
    await removeMade(folders);
    throw new DatabaseError(
      `Cannot open the database ${path}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (!(await file.tryLock(true))) {
    file.close();
    throw new DatabaseError(
      `Database ${path} is in use by another parley server; stop it or use another --db`,
    );
  }
  return {
    close: () => file.close(),
    async discard() {
      if (created) {
        // Removed while still locked: once the lock is gone another
        // server may claim the file, and must not lose it.
        for (const end of ["", "-wal", "-shm", "-journal"]) {
          await Deno.remove(path + end).catch(() => {});
        }
      }
      file.close();
      if (created) await removeMade(folders);
    },
  };
}

/** Removes `folders` in their order while they are empty. */
async function removeMade(folders: string[]): Promise<void> {
  for (const folder of folders) {
    try {
      await Deno.remove(folder);
    } catch {
      return;
    }
  }
}

/**
 * Makes the folder of `path` when it is missing.
 *
 * @returns The folders it made, the deepest first.
 */
async function makeFolder(path: string): Promise<string[]> {
  const made: string[] = [];
  // A folder that cannot be looked at (no permission) is taken as there.
  const missing = async (folder: string) =>
    !(await pathExists(folder).catch(() => true));
  for (let folder = dirname(path); await missing(folder);) {
    made.push(folder);
    const parent = dirname(folder);
    if (parent === folder) break;
    folder = parent;
  }
  try {
    await Deno.mkdir(dirname(path), { recursive: true });
  } catch (error) {
    // mkdir says "File exists" or "Not a directory" when a file stands
    // where one of the folders should be.
    const why = error instanceof Deno.errors.AlreadyExists ||
        error instanceof Deno.errors.NotADirectory
      ? "a file stands where a folder of that path should be"
      : (error as Error).message;
    throw new DatabaseError(
      `Cannot create the database folder ${dirname(path)}: ${why}`,
      { cause: error },
    );
  }
  return made;
}

/** Whether anything (a symbolic link too) is at `path`; false only when nothing is. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
