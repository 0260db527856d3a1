import assert from "node:assert/strict";
import { nameKey } from "../protocol/names.ts";
import { Accounts } from "../store/accounts.ts";
import { openDatabase } from "../store/database.ts";
import { SKELETON_RULES } from "../protocol/names.ts";

const account = (name: string, createdAt = 1) => ({
  name,
  key: nameKey(name),
  hash: "scrypt$1$1$1$x$y",
  createdAt,
  lastLoginAt: null,
});

Deno.test("accounts refuse a name that looks like a registered one", async () => {
  const kv = await openDatabase(":memory:");
  const accounts = new Accounts(kv);
  assert.deepEqual(await accounts.create(account("bob")), { created: true });
  assert.deepEqual(await accounts.create(account("paypal")), {
    created: true,
  });
  // Cyrillic look-alikes of registered Latin names.
  assert.deepEqual(await accounts.create(account("ВОВ")), {
    created: false,
    lookalike: "bob",
  });
  assert.deepEqual(await accounts.create(account("раураӏ")), {
    created: false,
    lookalike: "paypal",
  });
  // Taken outright, and a Cyrillic name that imitates nothing.
  assert.deepEqual(await accounts.create(account("BOB")), { created: false });
  assert.deepEqual(await accounts.create(account("жук")), { created: true });
  assert.equal(await accounts.find("вов"), null);
  assert.equal(await accounts.lookalikeOf("вов"), "bob");
  assert.equal(await accounts.lookalikeOf("bob"), null, "its own skeleton");
  assert.equal(await accounts.lookalikeOf("dave"), null);
  kv.close();
});

Deno.test("a database indexed by older look-alike rules is indexed anew when opened", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/p.db`;
  try {
    // As the first rules left it: no version, `ѵ` and `ԁ` taken as
    // themselves, so both names got in.
    let kv = await openDatabase(path);
    await kv.delete(["skeleton_rules"]);
    for await (const { key } of kv.list({ prefix: ["skeleton"] })) {
      await kv.delete(key);
    }
    const older = account("ԁаѵе", 1);
    const newer = account("dave", 2);
    for (const each of [newer, older]) {
      await kv.set(["account", each.key], each);
      await kv.set(["skeleton", each.key], each.key);
    }
    kv.close();

    kv = await openDatabase(path);
    const accounts = new Accounts(kv);
    assert.deepEqual(
      (await Array.fromAsync(kv.list({ prefix: ["skeleton"] })))
        .map(({ key, value }) => [key[1], value]),
      [["dave", older.key]],
      "one skeleton, owned by the older account",
    );
    assert.equal((await kv.get(["skeleton_rules"])).value, SKELETON_RULES);
    assert.equal(await accounts.lookalikeOf("dаvе"), "ԁаѵе");
    assert.equal(await accounts.lookalikeOf(newer.key), null, "registered");
    assert.equal((await accounts.find(newer.key))?.name, "dave");
    assert.deepEqual(await accounts.create(account("Еѵе", 3)), {
      created: true,
    });
    assert.deepEqual(await accounts.create(account("eve", 4)), {
      created: false,
      lookalike: "Еѵе",
    });
    kv.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
