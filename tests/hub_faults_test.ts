import assert from "node:assert/strict";
import type { ServerFrame } from "../protocol/frames.ts";
import { Hub, type HubPorts } from "../server/hub.ts";
import { GroupCommitter, type Write } from "../store/group_commit.ts";
import { Mailboxes } from "../store/mailboxes.ts";

/** A committer whose commits fail while `failing` is set, like a full disk. */
class FlakyCommitter extends GroupCommitter {
  failing = false;

  override write(writes: Write[], bytes?: number): Promise<void> {
    if (this.failing) {
      return Promise.reject(new Error("No space left on device"));
    }
    return super.write(writes, bytes);
  }
}

async function startHub(rateLimit: HubPorts["rateLimit"] = null) {
  const kv = await Deno.openKv(":memory:");
  const committer = new FlakyCommitter(kv);
  let now = 1_000;
  const mailboxes = new Mailboxes(kv, committer, {
    maxStored: 100,
    ttlMs: 86_400_000,
    now: () => now,
  });
  const written: Array<[string, ServerFrame]> = [];
  const hub = new Hub({
    write: (connId, frame) => {
      written.push([connId, frame]);
      return true;
    },
    writeAll: (connIds, frame) => {
      for (const connId of connIds) written.push([connId, frame]);
    },
    queuedBytes: () => 0,
    kick: () => {},
    accountName: (key) => Promise.resolve(key === "bob" ? "bob" : null),
    now: () => now,
    rateLimit,
    ready: {
      server: "test",
      pingInterval: 30,
      pingTimeout: 10,
      instance: "i1",
      rateLimit: 0,
      rateBurst: 0,
    },
  }, mailboxes);
  await hub.enter("c1", "alice", "alice");
  await hub.enter("c2", "bob", "bob");
  written.length = 0;
  const framesTo = (connId: string) =>
    written.filter(([c]) => c === connId).map(([, f]) => f);
  return {
    hub,
    committer,
    written,
    framesTo,
    tick: (ms: number) => now += ms,
    async close() {
      await committer.drain();
      kv.close();
    },
  };
}

const send = (id: string, to: string, text: string) => ({
  type: "send" as const,
  id,
  to,
  text,
});

const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

Deno.test("sender is told store_failed when the database cannot write, and the next message goes through", async () => {
  const t = await startHub();
  t.committer.failing = true;
  t.hub.handle("c1", [send("m1", "bob", "lost?")]);
  await settle();
  assert.deepEqual(t.framesTo("c1"), [{
    type: "error",
    code: "store_failed",
    text:
      "The server could not store the message (No space left on device); it was not sent, try again",
    id: "m1",
  }]);
  assert.deepEqual(t.framesTo("c2"), [], "nothing half-sent to bob");
  t.committer.failing = false;
  t.written.length = 0;
  t.hub.handle("c1", [send("m2", "bob", "stored")]);
  await settle();
  assert.deepEqual(t.framesTo("c1").map((f) => f.type), ["accepted"]);
  assert.deepEqual(
    t.framesTo("c2").map((f) => f.type === "msg" && [f.text, f.seq]),
    [["stored", 2]],
    "a failed commit leaves a gap in seq, never a reused one",
  );
  await t.close();
});

Deno.test("sender over the message rate is told rate_limited with the wait, others unaffected", async () => {
  const t = await startHub({ perSecond: 2, burst: 2 });
  t.hub.handle("c1", [
    send("1", "all", "a"),
    send("2", "all", "b"),
    send("3", "all", "c"),
  ]);
  t.hub.handle("c2", [send("4", "all", "d")]);
  assert.deepEqual(
    t.framesTo("c1").filter((f) => f.type !== "msg"),
    [
      { type: "accepted", id: "1", to: "all", ts: 1_000, status: "broadcast" },
      { type: "accepted", id: "2", to: "all", ts: 1_000, status: "broadcast" },
      {
        type: "error",
        code: "rate_limited",
        text:
          "Too many messages: at most 2 per second; this one was not sent, try again in 500 ms",
        id: "3",
      },
    ],
  );
  assert.deepEqual(
    t.framesTo("c2").filter((f) => f.type === "msg").map((f) =>
      f.type === "msg" && f.text
    ),
    ["a", "b", "d"],
  );
  t.tick(500);
  t.written.length = 0;
  t.hub.handle("c1", [send("5", "all", "e")]);
  assert.equal(t.framesTo("c1").at(-1)?.type, "accepted");
  await t.close();
});
