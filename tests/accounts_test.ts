import assert from "node:assert/strict";
import { nameKey } from "../protocol/names.ts";
import { Accounts } from "../store/accounts.ts";
import { openDatabase } from "../store/database.ts";

const account = (name: string) => ({
  name,
  key: nameKey(name),
  hash: "scrypt$1$1$1$x$y",
  createdAt: 1,
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
