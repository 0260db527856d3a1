import assert from "node:assert/strict";
import type { ServerFrame } from "../protocol/frames.ts";
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
