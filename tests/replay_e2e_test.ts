import assert from "node:assert/strict";
import { withServer } from "./support/server_fixture.ts";

Deno.test("a backlog larger than the outgoing queue reaches a returning user", async () => {
  // 140 messages of 8,000 bytes: over a megabyte, more than a link may
  // queue. Written at once, the replay would drop its own recipient.
  await withServer([], async ({ connect }) => {
    const bob = await connect();
    assert.equal((await bob.login("bob", "b")).type, "ready");
    bob.close();
    const alice = await connect();
    assert.equal((await alice.login("alice", "a")).type, "ready");
    const text = "x".repeat(8_000);
    for (let i = 0; i < 140; i++) {
      await alice.send({ type: "send", id: `${i}`, to: "bob", text });
    }
    await alice.waitFor((f) => f.type === "accepted" && f.id === "139");

    const back = await connect();
    const ready = await back.login("bob", "b");
    assert.equal(ready.type, "ready");
    assert.equal(ready.stored, 140);
    await back.waitFor((f) => f.type === "msg" && f.seq === 140, 20_000);
    const seqs = back.frames.filter((f) => f.type === "msg").map((f) => f.seq);
    assert.deepEqual(seqs, Array.from({ length: 140 }, (_, i) => i + 1));
    assert.equal(back.ended, false, "bob was dropped during the replay");
  });
});

Deno.test("a client that says bye right after sending still hears its message was accepted", async () => {
  await withServer([], async ({ connect }) => {
    const ape = await connect();
    assert.equal((await ape.login("ape", "a")).type, "ready");
    const xb = await connect();
    assert.equal((await xb.login("xb", "x")).type, "ready");
    // Both frames in one write: the bye is read with the send.
    await xb.send(
      { type: "send", id: "last", to: "ape", text: "hello" },
      { type: "bye" },
    );
    await xb.waitClosed();
    assert.deepEqual(
      xb.frames.slice(-2).map((f) => [f.type, f.id ?? f.reason]),
      [["accepted", "last"], ["bye", "client_left"]],
    );
    await ape.waitFor((f) => f.type === "msg" && f.text === "hello");
  });
});
