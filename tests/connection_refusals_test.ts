import assert from "node:assert/strict";
import { MAX_LOGIN_FRAMES, readClientFrame } from "../protocol/frames.ts";
import {
  fakeWorld,
  hello,
  password,
  settle,
  startConnection,
  stateOf,
} from "./support/fake_ports.ts";

Deno.test("connection answers a wrong password only after the delay the ports ask for", async () => {
  const world = fakeWorld();
  world.accounts.set("bob", { name: "bob", password: "right" });
  world.wrongDelayMs = 2_000;
  const { actor, clock, send } = startConnection(world);
  send(hello("bob"));
  await settle();
  world.written.length = 0;
  send(password("guess"));
  await settle();
  assert.equal(stateOf(actor), "authenticating.penalty");
  send(password("guess2"));
  assert.deepEqual(world.written, [{
    type: "error",
    code: "not_allowed",
    text: 'A "password" frame is not allowed while logging in',
  }]);
  world.written.length = 0;
  clock.increment(1_999);
  assert.deepEqual(world.written, []);
  clock.increment(1);
  assert.deepEqual(world.written, [{
    type: "error",
    code: "wrong_password",
    text: "Wrong password; 2 more tries on this connection",
  }]);
  assert.equal(stateOf(actor), "authenticating.awaitingPassword");
  send(password("right"));
  await settle();
  assert.equal(stateOf(actor), "online");
  assert.deepEqual(world.sessions, ["bob"]);
  actor.stop();
});

Deno.test("connection refused for too many attempts gets the reason and is closed", async () => {
  const world = fakeWorld();
  world.accounts.set("bob", { name: "bob", password: "right" });
  world.refuseWith = "too_many_attempts";
  const { actor, send } = startConnection(world);
  send(hello("bob"));
  await settle();
  send(password("right"));
  await settle();
  assert.deepEqual(world.written.slice(1), [{
    type: "error",
    code: "too_many_attempts",
    text: "Refused",
  }]);
  assert.equal(actor.getSnapshot().status, "done");
  assert.deepEqual(world.sessions, []);
  assert.deepEqual(world.finished, [
    { reason: "too_many_attempts", text: "Too many wrong passwords" },
  ]);
});

Deno.test("connection refused a registration may choose another name on the same connection", async () => {
  const world = fakeWorld();
  world.refuseWith = "registration_limited";
  const { actor, send } = startConnection(world);
  send(hello("carol"));
  await settle();
  send(password("pw"));
  await settle();
  assert.equal(stateOf(actor), "unregistered");
  assert.deepEqual(world.written.pop(), {
    type: "error",
    code: "registration_limited",
    text: "Refused",
  });
  world.refuseWith = null;
  world.accounts.set("dave", { name: "dave", password: "pw" });
  send(hello("dave"));
  await settle();
  send(password("pw"));
  await settle();
  assert.deepEqual(world.sessions, ["dave"]);
  actor.stop();
});

Deno.test("connection refuses a new name at once when its address may not register more", async () => {
  // The refusal used to come only after the password, which a terminal
  // client asks for twice.
  const world = fakeWorld();
  world.registrationLimited = true;
  world.accounts.set("dave", { name: "dave", password: "pw" });
  const { actor, send } = startConnection(world);
  send(hello("carol"));
  await settle();
  assert.equal(stateOf(actor), "unregistered");
  assert.deepEqual(world.written, [{
    type: "error",
    code: "registration_limited",
    text: "Too many new accounts",
  }]);
  // A registered name still logs in on the same connection.
  send(hello("dave"));
  await settle();
  send(password("pw"));
  await settle();
  assert.deepEqual(world.sessions, ["dave"]);
  actor.stop();
});

Deno.test("connection refuses bad names with the rule and takes a good one next", async () => {
  const world = fakeWorld();
  const { actor, send } = startConnection(world);
  for (const name of ["", "a b", "a@b", "x".repeat(33), "ALL", "al\u200Bice"]) {
    send(hello(name));
  }
  send(hello("alice"));
  await settle();
  assert.deepEqual(world.written.map((f) => f.type === "error" && f.code), [
    "bad_name",
    "bad_name",
    "bad_name",
    "bad_name",
    "name_reserved",
    "bad_name",
    false,
  ]);
  assert.deepEqual(world.written.at(-1), {
    type: "auth",
    mode: "register",
    name: "alice",
  });
  actor.stop();
});

Deno.test("connection with a name but no password is not routed to", async () => {
  const world = fakeWorld();
  world.accounts.set("bob", { name: "bob", password: "pw" });
  const { actor, send } = startConnection(world);
  send(hello("bob"));
  await settle();
  send(
    JSON.stringify({ type: "send", id: "1", to: "x", text: "hi" }),
    JSON.stringify({ type: "who" }),
  );
  await settle();
  assert.deepEqual(world.sessions, []);
  assert.deepEqual(world.handled, []);
  assert.deepEqual(
    world.written.map((f) => f.type === "error" ? f.code : f.type),
    ["auth", "not_allowed", "not_allowed"],
  );
  assert.equal(stateOf(actor), "authenticating.awaitingPassword");
  actor.stop();
});

Deno.test("connection refuses a message before login and stays usable", () => {
  const world = fakeWorld();
  const { actor, send } = startConnection(world);
  send(JSON.stringify({ type: "send", id: "1", to: "bob", text: "hi" }));
  send("not json", JSON.stringify({ type: "shout" }));
  send(JSON.stringify({ type: "ping" }));
  assert.deepEqual(world.written, [
    {
      type: "error",
      code: "not_allowed",
      text: 'A "send" frame is not allowed while not logged in',
    },
    {
      type: "error",
      code: "bad_frame",
      text: "Frame is not valid JSON; send one JSON object per line",
    },
    {
      type: "error",
      code: "unknown_type",
      text:
        'Unknown frame type "shout"; expected hello, password, send, ack, who, ping, pong or bye',
    },
    { type: "pong" },
  ]);
  assert.equal(stateOf(actor), "unregistered");
  actor.stop();
});

Deno.test("connection closes a client that sends more frames before login than a login takes", () => {
  const world = fakeWorld();
  const { actor } = startConnection(world);
  const ping = readClientFrame('{"type":"ping"}');
  world.link!.frames(Array(60).fill(ping));
  assert.equal(stateOf(actor), "unregistered");
  // 40 more are answered; the one past MAX_LOGIN_FRAMES, and the rest of
  // its read, are not.
  world.link!.frames(Array(50).fill(ping));
  assert.deepEqual(
    world.written,
    Array(MAX_LOGIN_FRAMES).fill({ type: "pong" }),
  );
  assert.equal(actor.getSnapshot().status, "done");
  assert.deepEqual(world.finished, [
    { reason: "flooding", text: "Too many frames before login" },
  ]);
});

Deno.test("connection counts no frame after login against the limit before it", async () => {
  const world = fakeWorld();
  world.accounts.set("bob", { name: "bob", password: "pw" });
  const { actor } = startConnection(world);
  const ping = readClientFrame('{"type":"ping"}');
  world.link!.frames([
    ...Array(MAX_LOGIN_FRAMES - 2).fill(ping),
    readClientFrame(hello("bob")),
  ]);
  await settle();
  world.link!.frames([readClientFrame(password("pw"))]);
  await settle();
  assert.equal(stateOf(actor), "online");
  world.link!.frames(Array(MAX_LOGIN_FRAMES).fill(ping));
  assert.equal(world.handled.length, MAX_LOGIN_FRAMES);
  assert.equal(stateOf(actor), "online");
  actor.stop();
});

Deno.test("connection closes a client whose frame past the limit before login comes in a read of its own", async () => {
  const world = fakeWorld();
  world.accounts.set("bob", { name: "bob", password: "right" });
  const { actor } = startConnection(world);
  const ping = readClientFrame('{"type":"ping"}');
  world.link!.frames([
    ...Array(MAX_LOGIN_FRAMES - 3).fill(ping),
    readClientFrame(hello("bob")),
  ]);
  await settle();
  world.link!.frames([readClientFrame(password("wrong"))]);
  await settle();
  world.link!.frames([readClientFrame(password("wrong"))]);
  await settle();
  assert.equal(stateOf(actor), "authenticating.awaitingPassword");
  // The 101st frame, even the right password, is one too many.
  world.link!.frames([readClientFrame(password("right"))]);
  await settle();
  assert.deepEqual(world.sessions, []);
  assert.equal(actor.getSnapshot().status, "done");
  assert.deepEqual(world.finished, [
    { reason: "flooding", text: "Too many frames before login" },
  ]);
});
