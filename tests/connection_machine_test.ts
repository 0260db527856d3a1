import assert from "node:assert/strict";
import type { PasswordVerdict } from "../actors/connection.ts";
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

/**
 * dora (password "pw") logs in on a world whose password checks wait until
 * the test answers them; `typed` is sent as her password.
 */
async function checkingDora(typed: string) {
  const world = fakeWorld();
  world.accounts.set("dora", { name: "dora", password: "pw" });
  const answers: Array<(verdict: PasswordVerdict) => void> = [];
  world.ports.checkPassword = () =>
    new Promise((resolve) => answers.push(resolve));
  const started = startConnection(world);
  started.send(hello("dora"));
  await settle();
  started.send(password(typed));
  await settle();
  return { world, answers, ...started };
}

Deno.test("login timeout waits for a password check under way; a right password gets in", async () => {
  const { world, answers, actor, clock } = await checkingDora("pw");
  clock.increment(30_000);
  assert.equal(stateOf(actor), "authenticating.verifying");
  answers[0]({ kind: "accepted" });
  await settle();
  assert.equal(stateOf(actor), "online");
  assert.deepEqual(world.finished, []);
  actor.stop();
});

Deno.test("login timeout during a wrong-password delay closes after the answer", async () => {
  const world = fakeWorld();
  world.accounts.set("dora", { name: "dora", password: "pw" });
  world.wrongDelayMs = 1_000;
  const { actor, clock, send } = startConnection(world);
  send(hello("dora"));
  await settle();
  clock.increment(29_500);
  send(password("nope"));
  await settle();
  assert.equal(stateOf(actor), "authenticating.penalty");
  clock.increment(500);
  assert.equal(stateOf(actor), "authenticating.penalty");
  clock.increment(500);
  assert.equal(actor.getSnapshot().status, "done");
  assert.deepEqual(
    world.written.slice(1).map((f) => f.type === "error" && f.code),
    ["wrong_password"],
  );
  assert.deepEqual(world.finished, [
    {
      reason: "login_timeout",
      text: "Wrong password, and the time to log in is up",
    },
  ]);
});

Deno.test("login timeout waits for a registration's hash too", async () => {
  const world = fakeWorld();
  const answers: Array<(verdict: PasswordVerdict) => void> = [];
  world.ports.register = () => new Promise((resolve) => answers.push(resolve));
  const { actor, clock, send } = startConnection(world);
  send(hello("erin"));
  await settle();
  send(password("pw"));
  await settle();
  clock.increment(45_000);
  assert.equal(stateOf(actor), "authenticating.registering");
  answers[0]({ kind: "accepted" });
  await settle();
  assert.equal(stateOf(actor), "online");
  actor.stop();
});

Deno.test("login timeout that fired during a check closes once a wrong password hands the turn back", async () => {
  const { world, answers, actor, clock } = await checkingDora("nope");
  clock.increment(30_000);
  answers[0]({ kind: "wrong", delayMs: 0 });
  await settle();
  assert.equal(actor.getSnapshot().status, "done");
  assert.deepEqual(world.written.slice(1).map((f) => f.type), ["error"]);
  assert.deepEqual(world.finished, [
    {
      reason: "login_timeout",
      text: "Wrong password, and the time to log in is up",
    },
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

Deno.test("connection refuses a blank password at login too, without counting it wrong", async () => {
  const world = fakeWorld();
  world.accounts.set("bob", { name: "bob", password: "right" });
  const { actor, send } = startConnection(world);
  send(hello("bob"));
  await settle();
  for (let i = 0; i < 3; i++) send(password(" "));
  await settle();
  assert.deepEqual(
    world.written.slice(1),
    Array(3).fill({
      type: "error",
      code: "bad_password",
      text: "A password must not be empty or only spaces",
    }),
  );
  assert.equal(stateOf(actor), "authenticating.awaitingPassword");
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
