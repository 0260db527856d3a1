import assert from "node:assert/strict";
import { readClientFrame } from "../protocol/frames.ts";
import {
  fakeWorld,
  startConnection,
  startOnline,
  stateOf,
} from "./support/fake_ports.ts";

const line = (value: object) => JSON.stringify(value);
const ack = (seq: number) => line({ type: "ack", seq });

async function online() {
  const connection = await startOnline();
  /** Frames as the link reads them, one batch per call. */
  const read = (...lines: string[]) =>
    connection.world.link!.frames(lines.map(readClientFrame));
  return { read, ...connection };
}

Deno.test("frames read while online reach the ports without an event to the machine", async () => {
  const { world, actor, read } = await online();
  const before = actor.getSnapshot();
  read(ack(1), line({ type: "who" }));
  read(ack(2));
  assert.equal(actor.getSnapshot(), before);
  assert.deepEqual(world.handled.map((f) => f.type), ["ack", "who", "ack"]);
  actor.stop();
});

Deno.test("frames read straight on keep an online connection from being pinged", async () => {
  const { world, actor, clock, read } = await online();
  for (let t = 0; t < 105_000; t += 7_000) {
    clock.increment(7_000);
    read(ack(0));
  }
  assert.equal(stateOf(actor), "online");
  assert.deepEqual(world.written, []);
  clock.increment(29_999);
  assert.equal(stateOf(actor), "online");
  clock.increment(1);
  assert.equal(stateOf(actor), "idle-probing");
  assert.deepEqual(world.written, [{ type: "ping" }]);
  assert.equal(world.handled.length, 15);
  actor.stop();
});

Deno.test("a read holding bye goes to the machine: the frames before it are handled, then it closes", async () => {
  const { world, actor, read } = await online();
  read(ack(1), line({ type: "bye" }), ack(2));
  assert.equal(stateOf(actor), "closed");
  assert.deepEqual(world.handled.map((f) => f.type), ["ack"]);
  assert.deepEqual(world.finished, [{
    reason: "client_left",
    text: "Goodbye",
  }]);
});

Deno.test("a read while idle-probing brings the connection back online, and later reads go straight on", async () => {
  const { world, actor, clock, read } = await online();
  clock.increment(30_000);
  assert.equal(stateOf(actor), "idle-probing");
  read(line({ type: "pong" }));
  assert.equal(stateOf(actor), "online");
  const before = actor.getSnapshot();
  read(ack(3));
  assert.equal(actor.getSnapshot(), before);
  assert.deepEqual(world.handled.map((f) => f.type), ["pong", "ack"]);
  clock.increment(29_999);
  assert.equal(stateOf(actor), "online");
  clock.increment(1);
  assert.equal(stateOf(actor), "idle-probing");
  actor.stop();
});

Deno.test("frames read before login still go to the machine", () => {
  const world = fakeWorld();
  const { actor } = startConnection(world);
  world.link!.frames([readClientFrame(line({ type: "who" }))]);
  assert.equal(stateOf(actor), "unregistered");
  assert.deepEqual(world.handled, []);
  assert.equal(world.written.length, 1);
  assert.equal(world.written[0].type, "error");
  actor.stop();
});
