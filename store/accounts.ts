/**
 * Registered accounts in KV.
 *
 * @module
 */

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
   * Registers an account unless its key is taken.
   *
   * @returns false when someone registered the name first.
   */
  async create(account: Account): Promise<boolean> {
    const key = ["account", account.key];
    const result = await this.#kv.atomic()
      .check({ key, versionstamp: null })
      .set(key, account)
      .commit();
    return result.ok;
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
