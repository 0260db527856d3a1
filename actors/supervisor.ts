/**
 * The supervisor: the root of parley's actor system. It owns a fixed set of
 * shards and hands each accepted connection to one of them; the shards spawn
 * and watch the connection actors.
 *
 * ```
 * supervisor ─┬─ shard-0 ─┬─ conn-1
 *             │           └─ conn-9 ...
 *             ├─ shard-1 ── conn-2 ...
 *             └─ ...
 * ```
 *
 * A shard that fails (it never should: it handles its children's errors) is
 * replaced, and counted.
 *
 * @module
 */

import { enqueueActions, setup } from "xstate";
import type { ConnectionInput } from "./connection.ts";
import { childId, type ShardMachine } from "./shard.ts";

/** Shards when none is given: enough to keep 10,000 connections cheap. */
export const DEFAULT_SHARDS = 64;

/** Events the supervisor accepts. */
export type SupervisorEvent =
  | { type: "CONNECTED" } & ConnectionInput
  | { type: `xstate.error.actor.${string}`; error: unknown };

/** Supervisor context. */
export interface SupervisorContext {
  shards: number;
  accepted: number;
  shardRestarts: number;
}

/** The shard a connection id goes to: ids end in a counter. */
export function shardOf(connId: string, shards: number): number {
  const n = Number(/(\d+)$/.exec(connId)?.[1] ?? 0);
  return n % shards;
}

/**
 * Builds the supervisor machine.
 *
 * @param shard The shard machine to spawn.
 */
export function createSupervisorMachine(shard: ShardMachine) {
  return setup({
    types: {
      context: {} as SupervisorContext,
      events: {} as SupervisorEvent,
      input: {} as { shards?: number },
    },
    actors: { shard },
  }).createMachine({
    id: "supervisor",
    context: ({ input }) => ({
      shards: input.shards ?? DEFAULT_SHARDS,
      accepted: 0,
      shardRestarts: 0,
    }),
    entry: enqueueActions(({ context, enqueue }) => {
      for (let i = 0; i < context.shards; i++) {
        enqueue.spawnChild("shard", { id: `shard-${i}` });
      }
    }),
    on: {
      CONNECTED: {
        actions: enqueueActions(({ context, event, enqueue }) => {
          const { connId, remote } = event as Extract<
            SupervisorEvent,
            { type: "CONNECTED" }
          >;
          enqueue.sendTo(`shard-${shardOf(connId, context.shards)}`, {
            type: "CONNECTED",
            connId,
            remote,
          });
          enqueue.assign({ accepted: context.accepted + 1 });
        }),
      },
      "xstate.error.actor.*": {
        actions: enqueueActions(({ event, enqueue, context }) => {
          const id = childId(event.type);
          enqueue.stopChild(id);
          enqueue.spawnChild("shard", { id });
          enqueue.assign({ shardRestarts: context.shardRestarts + 1 });
        }),
      },
    },
  });
}

/** The supervisor machine type. */
export type SupervisorMachine = ReturnType<typeof createSupervisorMachine>;
