/**
 * A shard of the supervisor: spawns connection actors, stops each one when
 * it reaches `closed`, and turns a connection actor's failure into a clean
 * close instead of its own.
 *
 * Spawning into one actor copies its map of children, so one parent for
 * every connection makes each spawn slower than the last. The supervisor
 * spreads connections over a fixed number of shards to keep every map small.
 *
 * @module
 */

import { enqueueActions, setup } from "xstate";
import type { ConnectionInput, ConnectionMachine } from "./connection.ts";

/** What a shard tells the world. */
export interface ShardPorts {
  /** A connection actor failed (threw); its connection must be cleaned up. */
  childFailed(connId: string, error: unknown): void;
}

/** Events a shard accepts. */
export type ShardEvent =
  | { type: "CONNECTED" } & ConnectionInput
  | { type: `xstate.done.actor.${string}` }
  | { type: `xstate.error.actor.${string}`; error: unknown };

/** The id of the child a `xstate.done.actor.*` or `.error.` event is about. */
export const childId = (eventType: string) =>
  eventType.replace(/^xstate\.(done|error)\.actor\./, "");

/**
 * Builds the shard machine.
 *
 * @param connection The connection machine to spawn for each connection.
 * @param ports Where failures are reported.
 */
export function createShardMachine(
  connection: ConnectionMachine,
  ports: ShardPorts,
) {
  return setup({
    types: {
      context: {} as { spawned: number; closed: number; failed: number },
      events: {} as ShardEvent,
    },
    actors: { connection },
  }).createMachine({
    id: "shard",
    context: { spawned: 0, closed: 0, failed: 0 },
    on: {
      CONNECTED: {
        actions: enqueueActions(({ event, enqueue, context }) => {
          const { connId, remote } = event as Extract<
            ShardEvent,
            { type: "CONNECTED" }
          >;
          enqueue.spawnChild("connection", {
            id: connId,
            input: { connId, remote },
          });
          enqueue.assign({ spawned: context.spawned + 1 });
        }),
      },
      "xstate.done.actor.*": {
        actions: enqueueActions(({ event, enqueue, context }) => {
          enqueue.stopChild(childId(event.type));
          enqueue.assign({ closed: context.closed + 1 });
        }),
      },
      "xstate.error.actor.*": {
        actions: enqueueActions(({ event, enqueue, context }) => {
          const id = childId(event.type);
          enqueue.stopChild(id);
          enqueue.assign({ failed: context.failed + 1 });
          enqueue(() =>
            ports.childFailed(id, (event as { error?: unknown }).error)
          );
        }),
      },
    },
  });
}

/** The shard machine type. */
export type ShardMachine = ReturnType<typeof createShardMachine>;
