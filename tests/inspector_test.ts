import assert from "node:assert/strict";
import { createActor } from "xstate";
import { createConnectionMachine } from "../actors/connection.ts";
import { readClientFrame } from "../protocol/frames.ts";
import { Inspector, type Transition } from "../server/inspector.ts";
import { fakeWorld, settle } from "./support/fake_ports.ts";

function inspected(world = fakeWorld()) {
  const clock = world.clock;
  const connection = createConnectionMachine(world.ports);
  const inspector = new Inspector({
    connection,
    timings: { pingInterval: 30, pingTimeout: 10, login: 30 },
    now: () => clock.now(),
  });
  const seen: Transition[] = [];
  inspector.watch((t) => seen.push(t));
  const actor = createActor(connection, {
    id: "conn-1",
    input: { connId: "conn-1", remote: "memory:1" },
    clock,
    inspect: inspector.inspect,
  }).start();
  const send = (...lines: string[]) =>
    actor.send({ type: "FRAMES", frames: lines.map(readClientFrame) });
  return { inspector, actor, clock, send, seen };
}

const steps = (transitions: Transition[]) =>
  transitions.map((t) => `${t.from ?? "(new)"} → ${t.to} (${t.cause})`);

Deno.test("inspector records each change of state with its cause", async () => {
  const { inspector, clock, send, seen } = inspected();
  send('{"type":"hello","v":1,"name":"alice"}');
  await settle();
  send('{"type":"password","password":"s3cret-pw"}');
  await settle();
  clock.increment(5_000);
  send('{"type":"who"}', '{"type":"ping"}');
  assert.equal(inspector.get("conn-1")!.state, "online");
  clock.increment(30_000);
  assert.deepEqual(inspector.counts(), { "idle-probing": 1 });
  assert.equal(inspector.get("conn-1")!.since, 35_000);
  clock.increment(10_000);
  assert.deepEqual(steps(seen), [
    "(new) → unregistered (connected)",
    "unregistered → authenticating.lookingUp (frames: hello)",
    "authenticating.lookingUp → authenticating.awaitingPassword (name is free)",
    "authenticating.awaitingPassword → authenticating.registering (frames: password)",
    "authenticating.registering → online (registered)",
    "online → idle-probing (no frame for 30 s)",
    "idle-probing → closed (no answer to ping for 10 s)",
  ]);
  assert.deepEqual(steps(inspector.get("conn-1")!.transitions), steps(seen));
  assert.deepEqual(inspector.live(), []);
  assert.equal(inspector.closed()[0].id, "conn-1");
  assert.equal(inspector.closed()[0].endedAt, 45_000);
});

Deno.test("inspector keeps no trace of a password frame", async () => {
  const { inspector, actor, send } = inspected();
  send('{"type":"hello","v":1,"name":"alice"}');
  await settle();
  send('{"type":"password","password":"s3cret-pw"}');
  await settle();
  const kept = JSON.stringify(
    inspector.get("conn-1")!.transitions,
  );
  assert.ok(!kept.includes("s3cret"), kept);
  actor.stop();
});

Deno.test("inspector keeps only the last 20 transitions of an actor", async () => {
  const { inspector, actor, clock, send } = inspected();
  send('{"type":"hello","v":1,"name":"alice"}');
  await settle();
  send('{"type":"password","password":"pw"}');
  await settle();
  for (let i = 0; i < 10; i++) {
    clock.increment(30_000);
    send('{"type":"pong"}');
  }
  const record = inspector.get("conn-1")!;
  assert.equal(record.transitions.length, 20);
  assert.deepEqual(steps(record.transitions.slice(0, 2)), [
    "online → idle-probing (no frame for 30 s)",
    "idle-probing → online (frames: pong)",
  ]);
  actor.stop();
  assert.deepEqual(inspector.live(), []);
});

Deno.test("inspector explains a kick with the operator's text", () => {
  const { actor, seen } = inspected();
  actor.send({ type: "KICK", reason: "kicked", text: "go home" });
  assert.deepEqual(steps(seen), [
    "(new) → unregistered (connected)",
    "unregistered → closed (kicked: go home)",
  ]);
});

Deno.test("inspector names the answers of a login: account, wrong and right password", async () => {
  const world = fakeWorld();
  world.accounts.set("bob", { name: "Bob", password: "right" });
  const { clock, send, seen } = inspected(world);
  send('{"type":"hello","v":1,"name":"bob"}');
  await settle();
  send('{"type":"password","password":"wrong"}');
  await settle();
  clock.increment(10_000);
  await settle();
  send('{"type":"password","password":"right"}');
  await settle();
  const causes = steps(seen).map((s) => s.slice(s.indexOf("(", 2)));
  assert.ok(causes.includes("(account exists)"), causes.join("\n"));
  assert.ok(causes.includes("(wrong password)"), causes.join("\n"));
  assert.ok(causes.includes("(password accepted)"), causes.join("\n"));
});

Deno.test("inspector keeps a cause whole once its table of words is full", () => {
  const world = fakeWorld();
  const connection = createConnectionMachine(world.ports);
  const inspector = new Inspector({
    connection,
    timings: { pingInterval: 30, pingTimeout: 10, login: 30 },
    now: () => world.clock.now(),
  });
  // Each kick's text is a cause of its own: more than the table holds.
  for (let i = 1; i <= 4200; i++) {
    const actor = createActor(connection, {
      id: `conn-${i}`,
      input: { connId: `conn-${i}`, remote: "memory:1" },
      clock: world.clock,
      inspect: inspector.inspect,
    }).start();
    actor.send({ type: "KICK", reason: "kicked", text: `go home ${i}` });
    actor.stop();
  }
  assert.deepEqual(steps(inspector.get("conn-4200")!.transitions), [
    "(new) → unregistered (connected)",
    "unregistered → closed (kicked: go home 4200)",
  ]);
});
