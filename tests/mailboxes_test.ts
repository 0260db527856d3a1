import assert from "node:assert/strict";
import { ProtocolError } from "../protocol/errors.ts";
import { openDatabase } from "../store/database.ts";
import { GroupCommitter } from "../store/group_commit.ts";
import { Mailboxes } from "../store/mailboxes.ts";
import { message } from "./support/stored_messages.ts";

const DAY = 86_400_000;

async function withMailboxes(
  fn: (m: Mailboxes, clock: { now: number }, kv: Deno.Kv) => Promise<void>,
  options: { maxStored?: number; ttlMs?: number } = {},
) {
  const kv = await openDatabase(":memory:");
  const clock = { now: 1_000 * DAY };
  const committer = new GroupCommitter(kv);
  const mailboxes = new Mailboxes(kv, committer, {
    maxStored: options.maxStored ?? 1000,
    ttlMs: options.ttlMs ?? 30 * DAY,
    now: () => clock.now,
  });
  try {
    await fn(mailboxes, clock, kv);
  } finally {
    await committer.drain();
    kv.close();
  }
}

Deno.test("mailbox numbers messages in call order and keeps them until acked", async () => {
  await withMailboxes(async (mailboxes, clock) => {
    const stored = await Promise.all(
      ["a", "b", "c"].map((t) =>
        mailboxes.append("bob", message(t, clock.now))
      ),
    );
    assert.deepEqual(stored.map((m) => [m.seq, m.text]), [
      [1, "a"],
      [2, "b"],
      [3, "c"],
    ]);
    assert.equal(mailboxes.storedSinceStart, 3);
    await mailboxes.acknowledge("bob", 2);
    const opened = await mailboxes.open("bob");
    assert.deepEqual(opened.messages.map((m) => m.text), ["c"]);
    assert.equal(opened.expired, 0);
    assert.equal(mailboxes.waiting("bob"), 1);
  });
});

Deno.test("mailbox refuses a message when full and tells why", async () => {
  await withMailboxes(async (mailboxes, clock) => {
    await mailboxes.append("bob", message("1", clock.now));
    await mailboxes.append("bob", message("2", clock.now));
    await assert.rejects(
      mailboxes.append("bob", message("3", clock.now)),
      (error: unknown) =>
        error instanceof ProtocolError && error.code === "mailbox_full" &&
        error.message ===
          "The mailbox of bob is full (2 messages); the message was not stored, try again later",
    );
    await mailboxes.acknowledge("bob", 1);
    const third = await mailboxes.append("bob", message("3", clock.now));
    assert.equal(third.seq, 3);
  }, { maxStored: 2 });
});

Deno.test("mailbox drops expired messages at login and counts them", async () => {
  await withMailboxes(async (mailboxes, clock) => {
    await mailboxes.append("bob", message("old", clock.now - 31 * DAY));
    await mailboxes.append("bob", message("older", clock.now - 30 * DAY - 1));
    await mailboxes.append("bob", message("new", clock.now - DAY));
    const opened = await mailboxes.open("bob");
    assert.deepEqual(opened.messages.map((m) => m.text), ["new"]);
    assert.equal(opened.expired, 2);
    const again = await mailboxes.open("bob");
    assert.equal(again.expired, 0, "expired messages are reported once");
    assert.deepEqual(again.messages.map((m) => m.seq), [3]);
  });
});

Deno.test("mailbox cursor survives reopening the database", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/p.db`;
    let last = 0;
    for (const round of [1, 2]) {
      const kv = await openDatabase(path);
      const committer = new GroupCommitter(kv);
      const mailboxes = new Mailboxes(kv, committer, {
        maxStored: 10,
        ttlMs: DAY,
        now: () => 5,
      });
      const stored = await mailboxes.append("bob", message(`r${round}`, 5));
      assert.ok(stored.seq > last, "sequence numbers never repeat");
      last = stored.seq;
      const opened = await mailboxes.open("bob");
      assert.equal(opened.messages.length, round);
      assert.equal(await mailboxes.count("bob"), round);
      await committer.drain();
      kv.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("group commit puts writes queued together into one atomic", async () => {
  const kv = await openDatabase(":memory:");
  const committer = new GroupCommitter(kv);
  await Promise.all(
    Array.from(
      { length: 1000 },
      (_, i) => committer.write([{ key: ["k", i], value: i }]),
    ),
  );
  assert.equal(committer.commits, 2, "900 writes fit in one atomic");
  assert.equal((await kv.get(["k", 999])).value, 999);
  kv.close();
});

Deno.test("a full mailbox makes room by dropping expired messages first", async () => {
  await withMailboxes(async (mailboxes, clock) => {
    await mailboxes.append("bob", message("old1", clock.now));
    await mailboxes.append("bob", message("old2", clock.now));
    clock.now += 2 * DAY;
    const fresh = await mailboxes.append("bob", message("fresh", clock.now));
    assert.equal(fresh.seq, 3);
    const opened = await mailboxes.open("bob");
    assert.deepEqual(opened.messages.map((m) => m.text), ["fresh"]);
    assert.equal(opened.expired, 2);
  }, { maxStored: 2, ttlMs: DAY });
});

/** A committer that hands each commit's promise to `seen` as well. */
class WatchedCommitter extends GroupCommitter {
  seen: (commit: Promise<void>) => void = () => {};

  override write(...args: Parameters<GroupCommitter["write"]>) {
    const commit = super.write(...args);
    this.seen(commit);
    return commit;
  }
}

Deno.test("messages to a full mailbox keep their call order while it is swept, whenever the later ones come", async () => {
  // A message that comes while earlier ones wait for the sweep must not
  // take its number before them, however many turns after the sweep's
  // commit it comes.
  for (let turns = 0; turns < 20; turns++) {
    const kv = await openDatabase(":memory:");
    const committer = new WatchedCommitter(kv);
    let now = 1_000 * DAY;
    const mailboxes = new Mailboxes(kv, committer, {
      maxStored: 2,
      ttlMs: DAY,
      now: () => now,
    });
    try {
      await mailboxes.append("bob", message("old1", now));
      await mailboxes.append("bob", message("old2", now));
      now += 2 * DAY;
      let second: Promise<{ seq: number }> | undefined;
      committer.seen = (sweep) => {
        committer.seen = () => {};
        let later = sweep;
        for (let i = 0; i < turns; i++) later = later.then(() => {});
        second = later.then(() =>
          mailboxes.append("bob", message("second", now))
        );
      };
      const first = await mailboxes.append("bob", message("first", now));
      assert.ok(second, "the sweep committed");
      assert.deepEqual(
        [first.seq, (await second).seq],
        [3, 4],
        `second sent ${turns} turns after the sweep's commit`,
      );
    } finally {
      await committer.drain();
      kv.close();
    }
  }
});

Deno.test("messages to one recipient waiting for the same commit share one chunk until all are acked", async () => {
  await withMailboxes(async (mailboxes, clock, kv) => {
    await Promise.all(
      ["a", "b", "c"].map((t) =>
        mailboxes.append("bob", message(t, clock.now))
      ),
    );
    const keys = async () =>
      (await Array.fromAsync(kv.list({ prefix: ["chunk"] }))).map((e) => e.key);
    assert.deepEqual(await keys(), [["chunk", 1, "bob"]]);
    await mailboxes.append("bob", message("d", clock.now));
    assert.deepEqual(await keys(), [["chunk", 1, "bob"], ["chunk", 2, "bob"]]);
    await mailboxes.acknowledge("bob", 2);
    assert.deepEqual(
      await keys(),
      [["chunk", 1, "bob"], ["chunk", 2, "bob"]],
      "a chunk stays while one of its messages is unacknowledged",
    );
    await mailboxes.acknowledge("bob", 3);
    assert.deepEqual(await keys(), [["chunk", 2, "bob"]]);
    const opened = await mailboxes.open("bob");
    assert.deepEqual(opened.messages.map((m) => m.text), ["d"]);
  });
});

Deno.test("the chunks of one commit are neighbours whoever they are for, numbered in commit order", async () => {
  await withMailboxes(async (mailboxes, clock, kv) => {
    // Read first, so that the messages are numbered in call order rather
    // than in the order their mailboxes happen to be read.
    for (const to of ["carol", "bob", "alice"]) await mailboxes.count(to);
    await Promise.all(
      ["carol", "bob", "alice"].map((to) =>
        mailboxes.append(to, message(to, clock.now))
      ),
    );
    await mailboxes.append("bob", message("later", clock.now));
    assert.deepEqual(
      (await Array.fromAsync(kv.list({ prefix: ["chunk"] }))).map((e) => e.key),
      [
        ["chunk", 1, "carol"],
        ["chunk", 2, "bob"],
        ["chunk", 3, "alice"],
        ["chunk", 4, "bob"],
      ],
    );
  });
});

Deno.test("group commit takes deferred writes as they are when their commit starts", async () => {
  const kv = await openDatabase(":memory:");
  const committer = new GroupCommitter(kv);
  const items = [1];
  const first = committer.write(() => ({
    writes: [{ key: ["list"], value: [...items] }],
    bytes: 64,
  }));
  items.push(2);
  await first;
  items.push(3);
  assert.deepEqual((await kv.get(["list"])).value, [1, 2]);
  assert.equal(committer.commits, 1);
  kv.close();
});

/** A committer whose writes wait while `held` is set. */
class HeldCommitter extends GroupCommitter {
  held = false;
  #release = Promise.withResolvers<void>();

  override write(...args: Parameters<GroupCommitter["write"]>) {
    if (!this.held) return super.write(...args);
    return this.#release.promise.then(() => super.write(...args));
  }

  release(): void {
    this.held = false;
    this.#release.resolve();
  }
}

Deno.test("dropping expired messages keeps a message whose commit is under way", async () => {
  const kv = await openDatabase(":memory:");
  const clock = { now: 1_000 * DAY };
  const committer = new HeldCommitter(kv);
  const mailboxes = new Mailboxes(kv, committer, {
    maxStored: 1000,
    ttlMs: DAY,
    now: () => clock.now,
  });
  await mailboxes.append("bob", message("old", clock.now));
  clock.now += 2 * DAY;
  committer.held = true;
  const appending = mailboxes.append("bob", message("new", clock.now));
  const opening = mailboxes.open("bob");
  await new Promise((resolve) => setTimeout(resolve, 20));
  committer.release();
  const opened = await opening;
  await appending;
  assert.equal(opened.expired, 1);
  assert.deepEqual(opened.messages, [], "listed before its commit");
  const later = await mailboxes.open("bob");
  assert.deepEqual(later.messages.map((m) => m.text), ["new"]);
  await committer.drain();
  kv.close();
});
