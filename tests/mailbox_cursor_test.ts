import assert from "node:assert/strict";
import { openDatabase, SCHEMA_VERSION } from "../store/database.ts";
import { GroupCommitter } from "../store/group_commit.ts";
import {
  type Cursor,
  Mailboxes,
  SEQ_BLOCK,
  type StoredMessage,
} from "../store/mailboxes.ts";
import { message, stored } from "./support/stored_messages.ts";

const DAY = 86_400_000;

function mailboxesOn(kv: Deno.Kv, committer = new GroupCommitter(kv), {
  maxStored = 10,
} = {}): [Mailboxes, GroupCommitter] {
  const mailboxes = new Mailboxes(kv, committer, {
    maxStored,
    ttlMs: DAY,
    now: () => 5,
    // The retry of failed deletes has its own test: here it would race
    // with the steps of a slow run.
    retryMs: 60_000,
  });
  return [mailboxes, committer];
}

/** Runs `fn` on a database file that it may open and close as it likes. */
async function withFile(fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(`${dir}/p.db`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const cursorOf = async (kv: Deno.Kv) =>
  (await kv.get<Cursor>(["mailbox", "bob"])).value;

Deno.test("messages stored and acknowledged one by one write the cursor once per block", async () => {
  const kv = await openDatabase(":memory:");
  const [mailboxes, committer] = mailboxesOn(kv);
  try {
    const stamps = new Set<string | null>();
    for (let i = 0; i < 5; i++) {
      const stored = await mailboxes.append("bob", message(`m${i}`));
      await mailboxes.acknowledge("bob", stored.seq);
      stamps.add((await kv.get(["mailbox", "bob"])).versionstamp);
    }
    assert.equal(stamps.size, 1, "the cursor was not written again");
    assert.deepEqual(await cursorOf(kv), {
      next: 2 + SEQ_BLOCK,
      first: 1,
      expiredUnread: 0,
    }, "written with the first chunk only");
    assert.equal(mailboxes.waiting("bob"), 0);
    assert.deepEqual(
      await Array.fromAsync(kv.list({ prefix: ["chunk"] })),
      [],
      "acknowledged chunks are deleted",
    );
  } finally {
    await committer.drain();
    kv.close();
  }
});

Deno.test("a partly acknowledged chunk writes first, and reopening hides what was acknowledged", async () => {
  await withFile(async (path) => {
    let kv = await openDatabase(path);
    let [mailboxes, committer] = mailboxesOn(kv);
    await Promise.all(
      ["a", "b", "c"].map((t) => mailboxes.append("bob", message(t))),
    );
    await mailboxes.acknowledge("bob", 1);
    assert.equal((await cursorOf(kv))?.first, 2);
    await committer.drain();
    kv.close();

    kv = await openDatabase(path);
    [mailboxes, committer] = mailboxesOn(kv);
    assert.equal(await mailboxes.count("bob"), 2);
    const opened = await mailboxes.open("bob");
    assert.deepEqual(opened.messages.map((m) => m.text), ["b", "c"]);
    await committer.drain();
    kv.close();
  });
});

Deno.test("after a restart numbers continue above every number given, and gaps are not counted", async () => {
  await withFile(async (path) => {
    let kv = await openDatabase(path);
    let [mailboxes, committer] = mailboxesOn(kv, undefined, { maxStored: 3 });
    for (const t of ["a", "b", "c"]) {
      const stored = await mailboxes.append("bob", message(t));
      if (t !== "c") await mailboxes.acknowledge("bob", stored.seq);
    }
    await committer.drain();
    kv.close();

    kv = await openDatabase(path);
    [mailboxes, committer] = mailboxesOn(kv, undefined, { maxStored: 3 });
    assert.equal(await mailboxes.count("bob"), 1, "only c is stored");
    const d = await mailboxes.append("bob", message("d"));
    const e = await mailboxes.append("bob", message("e"));
    assert.ok(d.seq > 3, "a number given before the restart is never reused");
    assert.equal(e.seq, d.seq + 1);
    assert.equal(mailboxes.waiting("bob"), 3);
    await assert.rejects(mailboxes.append("bob", message("f")), /is full/);
    const opened = await mailboxes.open("bob");
    assert.deepEqual(opened.messages.map((m) => m.text), ["c", "d", "e"]);
    await committer.drain();
    kv.close();
  });
});

/** A committer whose first commit fails after it has taken its writes. */
class FailOnceCommitter extends GroupCommitter {
  #failed = false;

  override write(...args: Parameters<GroupCommitter["write"]>) {
    const [writes] = args;
    if (this.#failed || typeof writes !== "function") {
      return super.write(...args);
    }
    this.#failed = true;
    writes();
    return Promise.reject(new Error("disk full"));
  }
}

Deno.test("after a failed commit the next chunk writes the mark again", async () => {
  await withFile(async (path) => {
    let kv = await openDatabase(path);
    let [mailboxes, committer] = mailboxesOn(kv, new FailOnceCommitter(kv));
    await assert.rejects(mailboxes.append("bob", message("lost")), /disk full/);
    assert.equal(mailboxes.waiting("bob"), 0);
    const kept = await mailboxes.append("bob", message("kept"));
    assert.ok((await cursorOf(kv))!.next > kept.seq);
    assert.equal(mailboxes.storedSinceStart, 1, "the lost one not counted");
    await committer.drain();
    kv.close();

    kv = await openDatabase(path);
    [mailboxes, committer] = mailboxesOn(kv);
    const next = await mailboxes.append("bob", message("next"));
    assert.ok(next.seq > kept.seq);
    const opened = await mailboxes.open("bob");
    assert.deepEqual(opened.messages.map((m) => m.text), ["kept", "next"]);
    await committer.drain();
    kv.close();
  });
});

Deno.test("a schema 1 database opens as the current schema and its mailboxes read as before", async () => {
  await withFile(async (path) => {
    const old = await Deno.openKv(path);
    await old.set(["schema"], 1);
    // Schema 1: exact `next`, `first` inside the first chunk, a message
    // stored alone and a chunk.
    await old.set(["mailbox", "bob"], { next: 5, first: 2, expiredUnread: 0 });
    await old.set(["message", "bob", 1], [stored(1, "a"), stored(2, "b")]);
    await old.set(["message", "bob", 3], stored(3, "c"));
    await old.set(["message", "bob", 4], [stored(4, "d")]);
    old.close();

    const kv = await openDatabase(path);
    const [mailboxes, committer] = mailboxesOn(kv);
    try {
      assert.equal((await kv.get(["schema"])).value, SCHEMA_VERSION);
      assert.equal(await mailboxes.count("bob"), 3);
      const opened = await mailboxes.open("bob");
      assert.deepEqual(opened.messages.map((m) => m.text), ["b", "c", "d"]);
      const e = await mailboxes.append("bob", message("e"));
      assert.equal(e.seq, 5, "numbering continues at the old next");
      await mailboxes.acknowledge("bob", 3);
      assert.deepEqual(
        (await Array.fromAsync(kv.list({ prefix: ["chunk"] })))
          .map((entry) => entry.value),
        [[stored(4, "d")], [{ seq: 5, ...message("e") }]],
      );
      assert.equal(mailboxes.waiting("bob"), 2);
    } finally {
      await committer.drain();
      kv.close();
    }
  });
});

Deno.test("a schema 2 database's messages move to keys by commit, and an upgrade cut short goes on", async () => {
  await withFile(async (path) => {
    const old = await Deno.openKv(path);
    await old.set(["schema"], 2);
    await old.set(["mailbox", "bob"], {
      next: 1001,
      first: 1,
      expiredUnread: 0,
    });
    // More than one atomic's worth of moves, some of them alone (before
    // chunks), for two users; and carol's chunk moved by an earlier,
    // interrupted upgrade.
    for (let seq = 1; seq <= 450; seq++) {
      await old.set(
        ["message", "bob", seq],
        seq % 2 ? stored(seq, `b${seq}`) : [stored(seq, `b${seq}`)],
      );
    }
    await old.set(["message", "dave", 7], [stored(7, "d7"), stored(8, "d8")]);
    await old.set(["mailbox", "dave"], { next: 9, first: 7, expiredUnread: 0 });
    await old.set(["chunk", 5, "carol"], [stored(1, "c1")]);
    await old.set(["mailbox", "carol"], {
      next: 2,
      first: 1,
      expiredUnread: 0,
    });
    old.close();

    const kv = await openDatabase(path);
    const [mailboxes, committer] = mailboxesOn(kv, undefined, {
      maxStored: 1000,
    });
    try {
      assert.equal((await kv.get(["schema"])).value, SCHEMA_VERSION);
      assert.deepEqual(
        await Array.fromAsync(kv.list({ prefix: ["message"] })),
        [],
      );
      const keys = (await Array.fromAsync(kv.list({ prefix: ["chunk"] })))
        .map((entry) => entry.key);
      assert.equal(keys.length, 452);
      assert.deepEqual(keys.slice(0, 2), [
        ["chunk", 5, "carol"],
        ["chunk", 6, "bob"],
      ]);
      assert.deepEqual(keys.at(-1), ["chunk", 456, "dave"]);
      const bob = await mailboxes.open("bob");
      assert.deepEqual(
        bob.messages.map((m) => m.text),
        Array.from({ length: 450 }, (_, i) => `b${i + 1}`),
      );
      assert.deepEqual(
        (await mailboxes.open("dave")).messages.map((m) => m.text),
        ["d7", "d8"],
      );
      assert.equal(await mailboxes.count("carol"), 1);
      await mailboxes.append("carol", message("c2"));
      assert.deepEqual(
        (await kv.get(["chunk", 457, "carol"])).value,
        [{ seq: 2, ...message("c2") }],
        "new chunks are numbered above the moved ones",
      );
      await mailboxes.acknowledge("bob", 450);
      assert.equal(await mailboxes.count("bob"), 0);
      assert.equal(
        (await Array.fromAsync(kv.list({ prefix: ["chunk"] }))).length,
        3,
        "bob's moved chunks are deleted once acknowledged",
      );
    } finally {
      await committer.drain();
      kv.close();
    }
  });
});

Deno.test("a mailbox that cannot be read fails its login and is read again next time", async () => {
  const kv = await openDatabase(":memory:");
  const [mailboxes, committer] = mailboxesOn(kv);
  try {
    const get = kv.get.bind(kv);
    kv.get = () => Promise.reject(new Error("database is locked"));
    await assert.rejects(mailboxes.open("bob"), /database is locked/);
    kv.get = get;
    await mailboxes.append("bob", message("a"));
    const opened = await mailboxes.open("bob");
    assert.deepEqual(opened.messages.map((m) => m.text), ["a"]);
  } finally {
    await committer.drain();
    kv.close();
  }
});

Deno.test("an upgrade moves chunks of text beyond Latin-1 within KV's size limit", async () => {
  await withFile(async (path) => {
    const old = await Deno.openKv(path);
    await old.set(["schema"], 2);
    // 40 chunks of 18 messages of 1,000 "漢": 2 bytes a character in KV,
    // so fewer of them fit one atomic than their JSON length suggests.
    const text = "漢".repeat(1000);
    for (let c = 0; c < 40; c++) {
      await old.set(
        ["message", "bob", 18 * c + 1],
        Array.from({ length: 18 }, (_, i) => ({
          seq: 18 * c + i + 1,
          ...message(text),
          id: `${c}.${i}`,
        })),
      );
    }
    await old.set(["mailbox", "bob"], {
      next: 721,
      first: 1,
      expiredUnread: 0,
    });
    old.close();

    const kv = await openDatabase(path);
    const [mailboxes, committer] = mailboxesOn(kv, undefined, {
      maxStored: 1000,
    });
    try {
      assert.equal(await mailboxes.count("bob"), 720);
      assert.deepEqual(
        await Array.fromAsync(kv.list({ prefix: ["message"] })),
        [],
      );
    } finally {
      await committer.drain();
      kv.close();
    }
  });
});

Deno.test("an upgrade cut short (version raised, some messages not moved yet) is finished by the next open", async () => {
  await withFile(async (path) => {
    const old = await Deno.openKv(path);
    // As an upgrade stopped after its first move leaves it: the version
    // raised, one chunk moved, one not.
    await old.set(["schema"], SCHEMA_VERSION);
    await old.set(["mailbox", "bob"], { next: 3, first: 1, expiredUnread: 0 });
    await old.set(["chunk", 1, "bob"], [{ seq: 1, ...message("a") }]);
    await old.set(["message", "bob", 2], [{ seq: 2, ...message("b") }]);
    old.close();

    const kv = await openDatabase(path);
    const [mailboxes, committer] = mailboxesOn(kv);
    try {
      const opened = await mailboxes.open("bob");
      assert.deepEqual(opened.messages.map((m) => m.text), ["a", "b"]);
      assert.deepEqual(
        (await Array.fromAsync(kv.list({ prefix: [] }))).map((e) => e.key)
          .filter((key) => key[0] === "message" || key[0] === "chunk"),
        [["chunk", 1, "bob"], ["chunk", 2, "bob"]],
      );
    } finally {
      await committer.drain();
      kv.close();
    }
  });
});

/**
 * Makes every commit of `kv` that deletes something fail while the
 * returned flag says so, as SQLite does on a full disk.
 */
function failDeletes(kv: Deno.Kv): { failing: boolean } {
  const state = { failing: true };
  const atomic = kv.atomic.bind(kv);
  kv.atomic = () => {
    const op = atomic();
    let deletes = false;
    const remove = op.delete.bind(op);
    op.delete = (key) => {
      deletes = true;
      return remove(key);
    };
    const commit = op.commit.bind(op);
    op.commit = () =>
      deletes && state.failing
        ? Promise.reject(new Error("database or disk is full"))
        : commit();
    return op;
  };
  return state;
}

const chunksOf = async (kv: Deno.Kv) =>
  (await Array.fromAsync(kv.list<StoredMessage[]>({ prefix: ["chunk"] })))
    .map((entry) => entry.value.map((m) => m.text));

Deno.test("acknowledged messages whose delete failed are deleted by the next acknowledgement, and a restart does not show them", async () => {
  // Guards against acknowledged messages coming back after a restart
  // because their delete failed on a full disk and was forgotten.
  await withFile(async (path) => {
    let kv = await openDatabase(path);
    let [mailboxes, committer] = mailboxesOn(kv);
    const disk = failDeletes(kv);
    for (const t of ["a", "b", "c"]) await mailboxes.append("bob", message(t));
    await assert.rejects(
      mailboxes.acknowledge("bob", 2),
      /database or disk is full/,
    );
    assert.equal(mailboxes.waiting("bob"), 1);
    assert.deepEqual(await chunksOf(kv), [["a"], ["b"], ["c"]]);
    disk.failing = false;
    await mailboxes.acknowledge("bob", 2); // nothing new: nothing tried
    assert.deepEqual(await chunksOf(kv), [["a"], ["b"], ["c"]]);
    await mailboxes.acknowledge("bob", 3);
    assert.deepEqual(await chunksOf(kv), []);
    mailboxes.close();
    await committer.drain();
    kv.close();

    kv = await openDatabase(path);
    [mailboxes, committer] = mailboxesOn(kv);
    assert.deepEqual((await mailboxes.open("bob")).messages, []);
    mailboxes.close();
    await committer.drain();
    kv.close();
  });
});

Deno.test("a failed delete is retried on a timer until it succeeds, the cursor with it", async () => {
  // Guards against a partly acknowledged chunk showing its acknowledged
  // messages again after a restart, once the disk has room.
  await withFile(async (path) => {
    let kv = await openDatabase(path);
    const committer = new GroupCommitter(kv);
    const mailboxes = new Mailboxes(kv, committer, {
      maxStored: 10,
      ttlMs: DAY,
      now: () => 5,
      retryMs: 5,
    });
    await mailboxes.append("bob", message("a"));
    await Promise.all(
      ["b", "c"].map((t) => mailboxes.append("bob", message(t))),
    );
    const disk = failDeletes(kv);
    let commits = 0;
    const atomic = kv.atomic;
    kv.atomic = () => (commits++, atomic());
    await assert.rejects(
      mailboxes.acknowledge("bob", 2),
      /database or disk is full/,
    );
    await until(() => commits >= 3);
    assert.deepEqual(await chunksOf(kv), [["a"], ["b", "c"]]);
    assert.equal((await cursorOf(kv))?.first, 1);
    disk.failing = false;
    await until(async () => (await chunksOf(kv)).length === 1);
    assert.deepEqual(await chunksOf(kv), [["b", "c"]]);
    assert.equal((await cursorOf(kv))?.first, 3);
    mailboxes.close();
    await committer.drain();
    kv.close();

    kv = await openDatabase(path);
    const [reopened, again] = mailboxesOn(kv);
    assert.deepEqual(
      (await reopened.open("bob")).messages.map((m) => m.text),
      ["c"],
    );
    await again.drain();
    kv.close();
  });
});

/** Waits until `done` holds, checking every few milliseconds, at most 5 s. */
async function until(done: () => boolean | Promise<boolean>): Promise<void> {
  for (let waited = 0; !(await done()); waited += 5) {
    if (waited > 5000) throw new Error("Waited 5 s in vain");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
