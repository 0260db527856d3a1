import assert from "node:assert/strict";
import { startOnline, stateOf } from "./support/fake_ports.ts";

const frame = (value: object) => JSON.stringify(value);

Deno.test("connection sending often is never pinged, and is pinged a ping interval after its last frame", async () => {
  const { world, actor, clock, send } = await startOnline();
  // A frame every 7 s for 105 s: the idle timer fires meanwhile and must
  // arm itself again for what is left instead of pinging.
  for (let t = 0; t < 105_000; t += 7_000) {
    clock.increment(7_000);
    send(frame({ type: "ack", seq: 0 }));
  }
  assert.equal(stateOf(actor), "online");
  assert.deepEqual(world.written, []);
  clock.increment(29_999);
  assert.equal(stateOf(actor), "online");
  assert.deepEqual(world.written, []);
  clock.increment(1);
  assert.equal(stateOf(actor), "idle-probing");
  assert.deepEqual(world.written, [{ type: "ping" }]);
  assert.equal(world.handled.length, 15);
  actor.stop();
});

Deno.test("connection answering a ping is pinged again a full interval after the answer", async () => {
  const { world, actor, clock, send } = await startOnline();
  clock.increment(30_000);
  assert.equal(stateOf(actor), "idle-probing");
  clock.increment(9_000);
  send(frame({ type: "pong" }));
  assert.equal(stateOf(actor), "online");
  clock.increment(29_999);
  assert.equal(stateOf(actor), "online");
  clock.increment(1);
  assert.equal(stateOf(actor), "idle-probing");
  assert.deepEqual(world.written, [{ type: "ping" }, { type: "ping" }]);
  actor.stop();
});
