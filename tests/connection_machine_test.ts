import assert from "node:assert/strict";
import {
  fakeWorld,
  hello,
  password,
  settle,
  startConnection,
  stateOf,
} from "./support/fake_ports.ts";

Deno.test("connection registers a new name and goes online", async () => {
  const world = fakeWorld();
  const { actor, send } = startConnection(world);
  assert.equal(stateOf(actor), "unregistered");
  send(hello("Alice"));
  await settle();
  assert.equal(stateOf(actor), "authenticating.awaitingPassword");
  assert.deepEqual(world.written, [
    { type: "auth", mode: "register", name: "Alice" },
  ]);
  send(password("pw"));
  await settle();
  assert.equal(stateOf(actor), "online");
  assert.deepEqual(world.sessions, ["Alice"]);
  assert.equal(world.accounts.get("alice")?.password, "pw");
  actor.stop();
});

Deno.test("connection closes after three wrong passwords", async () => {
  const world = fakeWorld();
  world.accounts.set("bob", { name: "Bob", password: "right" });
  const { actor, send } = startConnection(world);
  send(hello("BOB"));
  await settle();
  assert.deepEqual(world.written.shift(), {
    type: "auth",
    mode: "login",
    name: "Bob",
  });
  send(password("wrong1"));
  await settle();
  assert.equal(stateOf(actor), "authenticating.awaitingPassword");
  send(password("wrong2"));
  await settle();
  send(password("wrong3"));
  await settle();
  assert.deepEqual(world.written.map((f) => f.type === "error" && f.text), [
    "Wrong password; 2 more tries on this connection",
    "Wrong password; 1 more try on this connection",
  ]);
  assert.equal(actor.getSnapshot().status, "done");
  assert.deepEqual(world.finished, [
    { reason: "too_many_attempts", text: "Too many wrong passwords" },
  ]);
  assert.equal(world.readStopped, true);
});

Deno.test("connection pings after the idle interval and returns online on any frame", async () => {
  const world = fakeWorld();
  world.accounts.set("bob", { name: "bob", password: "pw" });
  const { actor, clock, send } = startConnection(world);
  send(hello("bob"), password("pw"));
  await settle();
  assert.equal(stateOf(actor), "authenticating.awaitingPassword");
  // A password sent before "auth" arrived is refused, not used.
  assert.deepEqual(world.written.map((f) => f.type), ["error", "auth"]);
  send(password("pw"));
  await settle();
  assert.equal(stateOf(actor), "online");
  world.written.length = 0;
  clock.increment(29_999);
  assert.equal(stateOf(actor), "online");
  clock.increment(1);
  assert.equal(stateOf(actor), "idle-probing");
  assert.deepEqual(world.written, [{ type: "ping" }]);
  send(JSON.stringify({ type: "pong" }));
  assert.equal(stateOf(actor), "online");
  clock.increment(20_000);
  send(JSON.stringify({ type: "who" }));
  clock.increment(20_000);
  assert.equal(stateOf(actor), "online", "a frame restarts the idle timer");
  clock.increment(10_000);
  assert.equal(stateOf(actor), "idle-probing");
  clock.increment(10_000);
  assert.equal(actor.getSnapshot().status, "done");
  assert.deepEqual(world.finished, [
    { reason: "ping_timeout", text: "No answer to ping" },
  ]);
});

Deno.test("connection that does not log in is closed by the login timeout", () => {
  const world = fakeWorld();
  const { actor, clock, send } = startConnection(world);
  send(hello("carol"));
  clock.increment(30_000);
  assert.equal(actor.getSnapshot().status, "done");
  assert.deepEqual(world.finished, [
    { reason: "login_timeout", text: "Login took too long" },
  ]);
});

Deno.test("connection refuses an empty or blank password and asks again", async () => {
  const world = fakeWorld();
  const { actor, send } = startConnection(world);
  send(hello("gail"));
  await settle();
  send(password(""), password("   "));
  await settle();
  assert.deepEqual(world.written.slice(1), [
    {
      type: "error",
      code: "bad_password",
      text: "A password must not be empty or only spaces",
    },
    {
      type: "error",
      code: "bad_password",
      text: "A password must not be empty or only spaces",
    },
  ]);
  assert.equal(stateOf(actor), "authenticating.awaitingPassword");
  assert.equal(world.accounts.size, 0);
  actor.stop();
});

Deno.test("connection keeps counting wrong passwords when the client says hello again", async () => {
  const world = fakeWorld();
  world.accounts.set("bob", { name: "bob", password: "right" });
  const { actor, clock, send } = startConnection(world);
  for (let i = 0; i < 3; i++) {
    send(hello("bob"));
    await settle();
    send(password(`wrong${i}`));
    await settle();
    clock.increment(10_000);
    await settle();
  }
  assert.equal(actor.getSnapshot().status, "done");
  assert.deepEqual(world.finished, [
    { reason: "too_many_attempts", text: "Too many wrong passwords" },
  ]);
});
