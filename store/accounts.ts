/**
 * Registered accounts in KV. Besides `["account", key]` each account owns
 * `["skeleton", skeleton]`, so no two accounts can look alike.
 * `["skeleton_rules"]` says which version of `nameSkeleton` made those keys.
 *
 * @module
 */

import { nameKey, nameSkeleton, SKELETON_RULES } from "../protocol/names.ts";

/** A registered user. */
export interface Account {
  /** The name as first registered. */
  name: string;
  /** The comparison key of the name (see `protocol/names.ts`). */
  key: string;
  /** The password hash (see `password.ts`). Never logged or sent. */
  hash: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
  lastLoginAt: number | null;
}

/** What {@linkcode Accounts.create} did. */
export type Created =
  | { created: true }
  /** The name was taken, or `lookalike` was registered and looks the same. */
  | { created: false; lookalike?: string };

/** Reads and writes accounts. */
export class Accounts {
  readonly #kv: Deno.Kv;

  /** @param kv An open parley database. */
  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** The account registered under `key`, or null. */
  async find(key: string): Promise<Account | null> {
    return (await this.#kv.get<Account>(["account", key])).value;
  }

  /**
   * Registers an account unless its name, or a name that looks the same
   * (see `nameSkeleton`), is taken.
   */
  async create(account: Account): Promise<Created> {
    const key = ["account", account.key];
    const look = ["skeleton", nameSkeleton(account.name)];
    const result = await this.#kv.atomic()
      .check({ key, versionstamp: null }, { key: look, versionstamp: null })
      .set(key, account)
      .set(look, account.key)
      .commit();
    if (result.ok) return { created: true };
    const found = await this.lookup(account.name, account.key);
    return found !== null && "lookalikeOf" in found
      ? { created: false, lookalike: found.lookalikeOf }
      : { created: false };
  }

  /**
   * What the name `name`, whose key is `key`, is: a registered account's
   * display name, the registered name it looks like, or null when it is
   * free. One read in the usual cases.
   */
  async lookup(
    name: string,
    key: string,
  ): Promise<{ name: string } | { lookalikeOf: string } | null> {
    const [mine, alike] = await this.#kv.getMany<[Account, string]>([
      ["account", key],
      ["skeleton", nameSkeleton(name)],
    ]);
    if (mine.value !== null) return { name: mine.value.name };
    const owner = alike.value;
    if (owner === null || owner === key) return null;
    return { lookalikeOf: (await this.find(owner))?.name ?? owner };
  }

  /** The registered name that an unregistered `name` looks like, or null. */
  async lookalikeOf(name: string): Promise<string | null> {
    const found = await this.lookup(name, nameKey(name));
    return found !== null && "lookalikeOf" in found ? found.lookalikeOf : null;
  }

  /** Records a successful login. */
  async touch(key: string, at: number): Promise<void> {
    const found = await this.#kv.get<Account>(["account", key]);
    if (found.value === null) return;
    await this.#kv.atomic().check(found).set(found.key, {
      ...found.value,
      lastLoginAt: at,
    }).commit();
  }

  /** Every account, in key order. */
  async *list(): AsyncIterable<Account> {
    for await (const entry of this.#kv.list<Account>({ prefix: ["account"] })) {
      yield entry.value;
    }
  }
}

/** Mutations per atomic while indexing, within KV's 1,000. */
const INDEX_WRITES_PER_COMMIT = 500;

/**
 * Makes the look-alike index anew when it was made by other rules than
 * today's {@linkcode SKELETON_RULES} (an older parley), so that a name
 * registered then is found by today's rules. Where two accounts registered
 * then now look alike, the older one owns the skeleton; both stay usable.
 * Cut short, it starts again at the next open: the version is written last.
 */
export async function indexSkeletons(kv: Deno.Kv): Promise<void> {
  const rules = await kv.get<number>(["skeleton_rules"]);
  if (rules.value === SKELETON_RULES) return;
  let atomic = kv.atomic();
  let writes = 0;
  const add = async (change: (atomic: Deno.AtomicOperation) => void) => {
    if (writes === INDEX_WRITES_PER_COMMIT) {
      await atomic.commit();
      atomic = kv.atomic();
      writes = 0;
    }
    change(atomic);
    writes++;
  };
  for await (const { key } of kv.list({ prefix: ["skeleton"] })) {
    await add((atomic) => atomic.delete(key));
  }
  const accounts: Account[] = [];
  for await (const entry of kv.list<Account>({ prefix: ["account"] })) {
    accounts.push(entry.value);
  }
  accounts.sort((a, b) => a.createdAt - b.createdAt);
  const owned = new Set<string>();
  for (const account of accounts) {
    const skeleton = nameSkeleton(account.name);
    if (owned.has(skeleton)) continue;
    owned.add(skeleton);
    await add((atomic) => atomic.set(["skeleton", skeleton], account.key));
  }
  if (writes > 0) await atomic.commit();
  await kv.set(["skeleton_rules"], SKELETON_RULES);
}
