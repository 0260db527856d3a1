import assert from "node:assert/strict";
import type { ServerFrame } from "../protocol/frames.ts";
import {
  type DeferredWrites,
  GroupCommitter,
  type Write,
} from "../store/group_commit.ts";
import { send, startHub, until } from "./support/hub_fixture.ts";

const texts = (frames: ServerFrame[] = []) =>
  frames.flatMap((f) => f.type === "msg" ? [f.text] : []);

Deno.test("hub stores a message for an offline user and replays it at login", async () => {
  const f = await startHub();
  await f.hub.enter("c1", "alice", "alice");
  f.hub.handle("c1", [send("1", "Bob", "hello")]);
  await until(() => f.framesTo("c1").some((x) => x.type === "accepted"));
  assert.deepEqual(f.framesTo("c1").at(-1), {
    type: "accepted",
    id: "1",
    to: "bob",
    ts: 1_000,
    status: "stored",
  });
  await f.hub.enter("c2", "bob", "bob");
  assert.deepEqual(f.framesTo("c2"), [
    {
      type: "ready",
      v: 1,
      name: "bob",
      server: "test",
      pingInterval: 30,
      pingTimeout: 10,
      stored: 1,
      expired: 0,
      instance: "i1",
      rateLimit: 0,
      rateBurst: 0,
    },
    { type: "msg", from: "alice", to: "bob", ts: 1_000, text: "hello", seq: 1 },
  ]);
  f.hub.handle("c2", [{ type: "ack", seq: 1 }]);
  assert.deepEqual(f.framesTo("c1").at(-1), {
    type: "delivered",
    id: "1",
    to: "bob",
  });
  await f.close();
});

Deno.test("hub sends live messages that arrive during a replay after the backlog", async () => {
  const f = await startHub();
  await f.hub.enter("c1", "alice", "alice");
  const backlog = Array.from({ length: 600 }, (_, i) => `old ${i}`);
  f.hub.handle("c1", backlog.map((text, i) => send(`${i}`, "bob", text)));
  await until(() =>
    f.framesTo("c1").filter((x) => x.type === "accepted").length === 600
  );
  const entering = f.hub.enter("c2", "bob", "bob");
  f.hub.handle("c1", [send("new", "bob", "new")]);
  await entering;
  await until(() => texts(f.framesTo("c2")).length === 601);
  assert.deepEqual(texts(f.framesTo("c2")), [...backlog, "new"]);
  await f.close();
});

Deno.test("hub keeps one sender's order when the first message needs a lookup", async () => {
  const f = await startHub();
  await f.hub.enter("c1", "alice", "alice");
  await f.hub.enter("c2", "carol", "carol");
  // carol is unknown to the hub's name cache until looked up; bob is
  // offline. Every message to carol after the first must follow it.
  f.hub.handle("c1", [
    send("1", "bob", "b1"),
    send("2", "carol", "c1"),
    send("3", "carol", "c2"),
    send("4", "bob", "b2"),
  ]);
  await until(() =>
    f.framesTo("c1").filter((x) => x.type === "accepted").length === 4
  );
  assert.deepEqual(texts(f.framesTo("c2")), ["c1", "c2"]);
  await f.hub.enter("c3", "bob", "bob");
  assert.deepEqual(texts(f.framesTo("c3")), ["b1", "b2"]);
  await f.close();
});

Deno.test("hub tells the sender about a user that was never registered", async () => {
  const f = await startHub();
  await f.hub.enter("c1", "alice", "alice");
  f.hub.handle("c1", [send("9", "zed", "hi")]);
  await until(() => f.framesTo("c1").length === 2);
  assert.deepEqual(f.framesTo("c1")[1], {
    type: "error",
    code: "no_such_user",
    text: "no such user: zed",
    id: "9",
  });
  await f.close();
});

Deno.test("hub resends unacknowledged messages to a session that takes over", async () => {
  const f = await startHub();
  await f.hub.enter("c1", "alice", "alice");
  await f.hub.enter("c2", "bob", "bob");
  f.hub.handle("c1", [send("1", "bob", "one"), send("2", "bob", "two")]);
  await until(() => texts(f.framesTo("c2")).length === 2);
  f.hub.handle("c2", [{ type: "ack", seq: 1 }]);
  await f.hub.enter("c3", "bob", "bob");
  assert.deepEqual(f.kicked, [["c2", "taken_over"]]);
  assert.deepEqual(texts(f.framesTo("c3")), ["two"]);
  f.hub.handle("c1", [send("3", "bob", "three")]);
  await until(() => texts(f.framesTo("c3")).length === 2);
  assert.deepEqual(texts(f.framesTo("c2")), ["one", "two"]);
  await f.close();
});

Deno.test("hub broadcasts to every online user, sender included", async () => {
  const f = await startHub();
  for (const name of ["alice", "bob", "carol"]) {
    await f.hub.enter(`c-${name}`, name, name);
  }
  f.hub.handle("c-bob", [send("b", "all", "hi all")]);
  for (const name of ["alice", "bob", "carol"]) {
    assert.deepEqual(f.framesTo(`c-${name}`).find((x) => x.type === "msg"), {
      type: "msg",
      from: "bob",
      to: "all",
      ts: 1_000,
      text: "hi all",
    });
  }
  await f.close();
});

Deno.test("hub reaches a name registered after a message to it was refused", async () => {
  const accounts = ["alice"];
  const f = await startHub({ accounts });
  await f.hub.enter("c1", "alice", "alice");
  f.hub.handle("c1", [send("1", "dan", "too early")]);
  await until(() => f.framesTo("c1").length === 2);
  f.hub.handle("c1", [send("2", "dan", "still early")]);
  assert.deepEqual(
    f.framesTo("c1").slice(1).map((x) => x.type === "error" && x.code),
    ["no_such_user", "no_such_user"],
  );
  accounts.push("dan");
  f.hub.registered("dan", "dan");
  f.hub.handle("c1", [send("3", "dan", "welcome")]);
  await until(() => f.framesTo("c1").length === 4);
  assert.equal(f.framesTo("c1")[3].type, "accepted");
  await f.close();
});

/** A committer that takes 20 ms before each commit, like a slow disk. */
class SlowCommitter extends GroupCommitter {
  override async write(writes: Write[] | DeferredWrites, bytes?: number) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    return super.write(writes, bytes);
  }
}

Deno.test("settle waits until every message the session sent is answered, however long storing takes", async () => {
  // A client that says bye right after sending still hears whether its
  // messages were taken.
  const f = await startHub({ committer: (kv) => new SlowCommitter(kv) });
  await f.hub.enter("c1", "alice", "alice");
  // Known names, so the sends are stored at once, not after a lookup.
  await f.hub.enter("c2", "bob", "bob");
  await f.hub.enter("c3", "carol", "carol");
  f.written.length = 0;
  f.hub.handle("c1", [send("1", "bob", "a"), send("2", "carol", "b")]);
  f.hub.handle("c1", [send("3", "bob", "c")]);
  await f.hub.settle("c1", 5_000);
  assert.deepEqual(f.framesTo("c1").map((x) => [x.type, "id" in x && x.id]), [
    ["accepted", "1"],
    ["accepted", "2"],
    ["accepted", "3"],
  ]);
  const started = performance.now();
  await f.hub.settle("c1", 5_000);
  assert.ok(performance.now() - started < 1_000, "nothing left to wait for");
  await f.close();
});

Deno.test("hub keeps one sender's order when private messages and broadcasts mix", async () => {
  // A broadcast goes out at once, a private message only once stored: the
  // broadcasts must still wait for the private messages sent before them.
  const f = await startHub({ committer: (kv) => new SlowCommitter(kv) });
  await f.hub.enter("c1", "alice", "alice");
  await f.hub.enter("c2", "bob", "bob");
  f.written.length = 0;
  f.hub.handle("c1", [
    send("1", "bob", "order-1"),
    send("2", "all", "order-2"),
    send("3", "bob", "order-3"),
    send("4", "all", "order-4"),
  ]);
  await until(() => texts(f.framesTo("c2")).length === 4);
  assert.deepEqual(texts(f.framesTo("c2")), [
    "order-1",
    "order-2",
    "order-3",
    "order-4",
  ]);
  await until(() =>
    f.framesTo("c1").filter((x) => x.type === "accepted").length === 4
  );
  assert.deepEqual(
    f.framesTo("c1").flatMap((x) =>
      x.type === "accepted" ? [[x.id, x.status]] : []
    ),
    [["1", "sent"], ["2", "broadcast"], ["3", "sent"], ["4", "broadcast"]],
  );
  await f.close();
});

Deno.test("hub answers refusals and offline messages in the order sent", async () => {
  const f = await startHub({ committer: (kv) => new SlowCommitter(kv) });
  await f.hub.enter("c1", "alice", "alice");
  f.hub.handle("c1", [send("0", "zed", "unknown")]);
  await until(() => f.framesTo("c1").length === 2);
  f.written.length = 0;
  f.hub.handle("c1", [
    send("1", "bob", "offline"),
    send("2", "zed", "refused at once"),
    send("3", "all", "to all"),
  ]);
  await f.hub.settle("c1", 1_000);
  assert.deepEqual(
    f.framesTo("c1").flatMap((x) =>
      x.type === "accepted"
        ? [[x.id, x.status]]
        : x.type === "error"
        ? [[x.id, x.code]]
        : []
    ),
    [["1", "stored"], ["2", "no_such_user"], ["3", "broadcast"]],
  );
  await f.close();
});

Deno.test("hub answers who, ping and refused frames in their turn among sends", async () => {
  // The send to offline bob waits for a slow commit; the who, the ping and
  // the refusals sent after it must not be answered before it.
  const f = await startHub({ committer: (kv) => new SlowCommitter(kv) });
  await f.hub.enter("c1", "alice", "alice");
  f.written.length = 0;
  f.hub.handle("c1", [
    send("1", "bob", "offline"),
    { type: "who" },
    { type: "ping" },
    { type: "ack", seq: 0 },
    send("2", "zed", "never registered"),
    { type: "pong" },
    {
      type: "invalid",
      code: "unknown_type",
      text: 'Unknown frame type "frob"',
    },
  ]);
  await f.hub.settle("c1", 1_000);
  assert.deepEqual(f.framesTo("c1"), [
    { type: "accepted", id: "1", to: "bob", ts: 1_000, status: "stored" },
    { type: "who", users: ["alice"] },
    { type: "pong" },
    { type: "error", id: "2", code: "no_such_user", text: "no such user: zed" },
    { type: "error", code: "unknown_type", text: 'Unknown frame type "frob"' },
  ]);
  await f.close();
});

Deno.test("hub answers a who sent while the mailbox opens after ready", async () => {
  const f = await startHub();
  const entering = f.hub.enter("c1", "alice", "alice");
  f.hub.handle("c1", [{ type: "who" }]);
  await entering;
  assert.deepEqual(
    f.framesTo("c1").map((x) => x.type),
    ["ready", "who"],
  );
  await f.close();
});

Deno.test("hub pushes a recipient's messages in seq order while a sender's earlier message is still being stored", async () => {
  // bob's chunk is queued before dave's, so it commits first; alice's
  // message to bob then waits for her earlier one to dave, and carol's
  // later one to bob must wait behind it rather than overtake its seq.
  const f = await startHub();
  f.hub.registered("dave", "dave");
  for (const name of ["alice", "bob", "carol"]) {
    await f.hub.enter(`c-${name}`, name, name);
  }
  f.hub.handle("c-carol", [send("c1", "bob", "carol 1")]);
  f.hub.handle("c-alice", [
    send("a1", "dave", "alice to dave"),
    send("a2", "bob", "alice to bob"),
  ]);
  f.hub.handle("c-carol", [send("c2", "bob", "carol 2")]);
  await f.hub.settle("c-alice", 1_000);
  await f.hub.settle("c-carol", 1_000);
  assert.deepEqual(
    f.framesTo("c-bob").flatMap((x) =>
      x.type === "msg" ? [[x.text, x.seq]] : []
    ),
    [["carol 1", 1], ["alice to bob", 2], ["carol 2", 3]],
  );
  await f.close();
});

Deno.test("hub still sends what a sender sent before leaving, in order, and nothing waits behind it", async () => {
  const f = await startHub({ committer: (kv) => new SlowCommitter(kv) });
  for (const name of ["alice", "bob", "carol"]) {
    await f.hub.enter(`c-${name}`, name, name);
  }
  f.written.length = 0;
  f.hub.handle("c-alice", [
    send("1", "bob", "private"),
    send("2", "all", "broadcast"),
  ]);
  f.hub.leave("c-alice");
  f.hub.handle("c-carol", [send("3", "bob", "after")]);
  await until(() => texts(f.framesTo("c-bob")).length === 3);
  assert.deepEqual(texts(f.framesTo("c-bob")), [
    "private",
    "broadcast",
    "after",
  ]);
  assert.deepEqual(f.framesTo("c-alice"), []);
  await f.close();
});

Deno.test("a sender who leaves before its mailbox opens holds up no one's messages", async () => {
  const f = await startHub();
  await f.hub.enter("c-bob", "bob", "bob");
  await f.hub.enter("c-carol", "carol", "carol");
  // alice sends while her mailbox opens, then is gone before it has.
  const entering = f.hub.enter("c-alice", "alice", "alice");
  f.hub.handle("c-alice", [send("1", "bob", "from alice")]);
  f.hub.leave("c-alice");
  await entering;
  f.hub.handle("c-carol", [send("2", "bob", "from carol")]);
  await until(() => texts(f.framesTo("c-bob")).length === 2);
  assert.deepEqual(texts(f.framesTo("c-bob")), ["from alice", "from carol"]);
  await f.close();
});
