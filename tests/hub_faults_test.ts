import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { GroupCommitter, type Write } from "../store/group_commit.ts";
import {
  type HubFixtureOptions,
  send,
  startHub,
  until,
} from "./support/hub_fixture.ts";

/** A committer whose commits fail while `failing` is set, like a full disk. */
class FlakyCommitter extends GroupCommitter {
  failing = false;
  /** Writes refused so far. */
  refused = 0;

  override write(writes: Write[], bytes?: number): Promise<void> {
    if (this.failing) {
      this.refused++;
      return Promise.reject(new Error("No space left on device"));
    }
    return super.write(writes, bytes);
  }
}

async function startHubWithUsers(rateLimit?: HubFixtureOptions["rateLimit"]) {
  const t = await startHub({
    accounts: ["bob"],
    maxStored: 100,
    committer: (kv) => new FlakyCommitter(kv),
    rateLimit,
  });
  await t.hub.enter("c1", "alice", "alice");
  await t.hub.enter("c2", "bob", "bob");
  t.written.length = 0;
  return { ...t, committer: t.committer as FlakyCommitter };
}

Deno.test("sender is told store_failed when the database cannot write, and the next message goes through", async () => {
  const t = await startHubWithUsers();
  t.committer.failing = true;
  t.hub.handle("c1", [send("m1", "bob", "lost?")]);
  await until(() => t.framesTo("c1").length > 0);
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
  await until(() => t.framesTo("c2").length > 0);
  assert.deepEqual(t.framesTo("c1").map((f) => f.type), ["accepted"]);
  assert.deepEqual(
    t.framesTo("c2").map((f) => f.type === "msg" && [f.text, f.seq]),
    [["stored", 2]],
    "a failed commit leaves a gap in seq, never a reused one",
  );
  await t.close();
});

Deno.test("sender over the message rate is told rate_limited with the wait, others unaffected", async () => {
  const t = await startHubWithUsers({ perSecond: 2, burst: 2 });
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

/** Records what the hub logs at warning and above, as plain lines. */
async function recordWarnings(): Promise<string[]> {
  const lines: string[] = [];
  await configure({
    reset: true,
    sinks: {
      memory: (record: LogRecord) =>
        lines.push(
          record.message.map((part, i) =>
            i % 2 === 0
              ? part
              : part instanceof Error
              ? part.message
              : String(part)
          ).join(""),
        ),
    },
    loggers: [
      { category: ["parley"], sinks: ["memory"], lowestLevel: "warning" },
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
    ],
  });
  return lines;
}

Deno.test("a burst of messages that cannot be stored is logged once, with its cause and count", async () => {
  // Guards against a full disk going unnoticed by the operator (nothing
  // logged, or the end of a burst never counted) or flooding the log (a
  // line per refused message).
  const warnings = await recordWarnings();
  const t = await startHubWithUsers();
  try {
    t.committer.failing = true;
    const burst = async (ids: string[]) => {
      const answered = t.framesTo("c1").length + ids.length;
      t.hub.handle("c1", ids.map((id) => send(id, "bob", id)));
      await until(() => t.framesTo("c1").length === answered);
    };
    await burst(["1", "2", "3", "4", "5"]);
    t.tick(9_999);
    await burst(["6"]);
    assert.equal(warnings.length, 1, "the first at once, then none for 10 s");
    t.tick(1);
    assert.equal(warnings.length, 2, "the rest when the 10 s are over");
    await burst(["7", "8"]);
    t.committer.failing = false;
    await burst(["9"]);
    t.tick(9_999);
    assert.equal(warnings.length, 2, "the recovery waits its turn too");
    t.tick(1);
    await burst(["10", "11"]);
    t.committer.failing = true;
    await burst(["12"]);
    t.tick(10_000);
    assert.deepEqual(warnings, [
      "Cannot store private messages: No space left on device; 1 refused since the last such warning (one per 10 s at most)",
      "Cannot store private messages: No space left on device; 5 refused since the last such warning (one per 10 s at most)",
      "Private messages are stored again; 2 more refused since the last warning",
      "Cannot store private messages: No space left on device; 1 refused since the last such warning (one per 10 s at most)",
    ]);
  } finally {
    await t.close();
    await reset();
  }
});

Deno.test("storing that works again within 10 s of the warning is logged at the end of them", async () => {
  const warnings = await recordWarnings();
  const t = await startHubWithUsers();
  try {
    t.committer.failing = true;
    t.hub.handle("c1", [send("1", "bob", "1")]);
    await until(() => t.framesTo("c1").length === 1);
    t.committer.failing = false;
    t.hub.handle("c1", [send("2", "bob", "2")]);
    await until(() => t.framesTo("c1").length === 2);
    t.tick(10_000);
    assert.deepEqual(warnings, [
      "Cannot store private messages: No space left on device; 1 refused since the last such warning (one per 10 s at most)",
      "Private messages are stored again",
    ]);
  } finally {
    await t.close();
    await reset();
  }
});

Deno.test("acknowledgements whose messages cannot be removed are logged once per 10 s, with the count", async () => {
  // On a full disk every acknowledgement fails to delete; a line for each
  // would flood the log.
  const warnings = await recordWarnings();
  const t = await startHubWithUsers();
  try {
    t.hub.handle("c1", ["1", "2", "3", "4"].map((id) => send(id, "bob", id)));
    await until(() => t.framesTo("c2").length === 4);
    t.committer.failing = true;
    const ack = async (seq: number, refused: number) => {
      t.hub.handle("c2", [{ type: "ack", seq }]);
      await until(() => t.committer.refused === refused);
      // The write fails at once; the hub hears of it a few promises later.
      await new Promise((resolve) => setTimeout(resolve, 0));
    };
    await ack(1, 1);
    await ack(2, 2);
    await ack(3, 3);
    t.tick(10_000);
    await ack(4, 4);
    assert.equal(warnings.length, 2);
  } finally {
    await t.close();
    await reset();
  }
  assert.deepEqual(
    warnings,
    [1, 2, 1].map((failed) =>
      `Cannot remove acknowledged messages of bob: No space left on device (retried later); acknowledgements failed since the last such warning, one per 10 s at most: ${failed}`
    ),
    "the last one counted at shutdown",
  );
});
