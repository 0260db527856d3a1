import assert from "node:assert/strict";
import { type AnyActorRef, createActor } from "xstate";
import { createConnectionMachine } from "../actors/connection.ts";
import { createShardMachine } from "../actors/shard.ts";
import { createSupervisorMachine } from "../actors/supervisor.ts";
import { readClientFrame } from "../protocol/frames.ts";
import { fakeWorld, settle } from "./support/fake_ports.ts";

function startSupervisor(
  write = fakeWorld().ports.write,
  handle = fakeWorld().ports.handle,
) {
  const world = fakeWorld();
  const links = new Map<string, NonNullable<typeof world.link>>();
  const actors = new Map<string, AnyActorRef>();
  const failed: string[] = [];
  const connection = createConnectionMachine({
    ...world.ports,
    write,
    handle,
    attach: (connId, actor) => actors.set(connId, actor),
    read: (connId, events) => {
      links.set(connId, events);
      return () => {};
    },
  });
  const shard = createShardMachine(connection, {
    childFailed: (connId) => failed.push(connId),
  });
  const supervisor = createActor(createSupervisorMachine(shard), {
    input: { shards: 2 },
  }).start();
  const childrenOf = (shardId: string) =>
    Object.keys(
      supervisor.getSnapshot().children[shardId]!.getSnapshot().children,
    ).sort();
  return { supervisor, actors, links, failed, world, childrenOf };
}

const frames = (...lines: string[]) => ({
  type: "FRAMES" as const,
  frames: lines.map(readClientFrame),
});

Deno.test("supervisor spreads connections over shards and removes closed ones", () => {
  const { supervisor, actors, childrenOf } = startSupervisor();
  for (const n of [1, 2, 3]) {
    supervisor.send({ type: "CONNECTED", connId: `conn-${n}`, remote: "x" });
  }
  assert.deepEqual(childrenOf("shard-1"), ["conn-1", "conn-3"]);
  assert.deepEqual(childrenOf("shard-0"), ["conn-2"]);
  actors.get("conn-3")!.send(frames('{"type":"bye"}'));
  assert.deepEqual(childrenOf("shard-1"), ["conn-1"]);
  supervisor.stop();
});

Deno.test("supervisor survives a connection actor that throws", () => {
  const { supervisor, actors, failed, childrenOf } = startSupervisor(
    (_, frame) => {
      if (frame.type === "pong") throw new Error("boom");
    },
  );
  supervisor.send({ type: "CONNECTED", connId: "conn-1", remote: "x" });
  supervisor.send({ type: "CONNECTED", connId: "conn-3", remote: "x" });
  actors.get("conn-1")!.send(frames('{"type":"ping"}'));
  assert.deepEqual(failed, ["conn-1"]);
  assert.deepEqual(childrenOf("shard-1"), ["conn-3"]);
  assert.equal(supervisor.getSnapshot().status, "active");
  supervisor.send({ type: "CONNECTED", connId: "conn-5", remote: "x" });
  assert.deepEqual(childrenOf("shard-1"), ["conn-3", "conn-5"]);
  supervisor.stop();
});

Deno.test("supervisor closes a connection whose frames, handed straight to the hub, make it throw", async () => {
  const { supervisor, actors, links, failed, world, childrenOf } =
    startSupervisor(undefined, () => {
      throw new Error("boom");
    });
  world.accounts.set("bob", { name: "bob", password: "pw" });
  supervisor.send({ type: "CONNECTED", connId: "conn-1", remote: "x" });
  supervisor.send({ type: "CONNECTED", connId: "conn-3", remote: "x" });
  const bob = actors.get("conn-1")!;
  bob.send(frames('{"type":"hello","v":1,"name":"bob"}'));
  await settle();
  bob.send(frames('{"type":"password","password":"pw"}'));
  await settle();
  assert.equal(bob.getSnapshot().value, "online");
  links.get("conn-1")!.frames([readClientFrame('{"type":"who"}')]);
  assert.deepEqual(failed, ["conn-1"]);
  assert.deepEqual(childrenOf("shard-1"), ["conn-3"]);
  assert.equal(supervisor.getSnapshot().status, "active");
  supervisor.stop();
});
