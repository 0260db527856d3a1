/**
 * Fake ports for driving a connection machine in tests, with a simulated
 * clock: every frame written is recorded, accounts live in a Map.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type AnyActorRef, createActor, SimulatedClock } from "xstate";
import {
  type CloseReason,
  type ConnectionPorts,
  createConnectionMachine,
  type PasswordVerdict,
} from "../../actors/connection.ts";
import type { ErrorCode } from "../../protocol/errors.ts";
import {
  type Incoming,
  readClientFrame,
  type ServerFrame,
} from "../../protocol/frames.ts";

/** What the fake world saw a connection do. */
export interface FakeWorld {
  ports: ConnectionPorts;
  written: ServerFrame[];
  handled: Incoming[];
  sessions: string[];
  finished: Array<{ reason: CloseReason; text: string }>;
  accounts: Map<string, { name: string; password: string }>;
  /** The clock of the ports and of actors started on this world. */
  clock: SimulatedClock;
  readStopped: boolean;
  /** What the machine's link actor reads from: feed it as a link would. */
  link: Parameters<ConnectionPorts["read"]>[1] | null;
  /** Delay asked for before answering a wrong password, in ms. */
  wrongDelayMs: number;
  /** When set, every password check is refused with this code. */
  refuseWith: ErrorCode | null;
  /** When set, a free name is refused as soon as it is looked up. */
  registrationLimited: boolean;
}

/** Builds ports over plain arrays and maps. */
export function fakeWorld(
  timings = {
    pingIntervalMs: 30_000,
    pingTimeoutMs: 10_000,
    loginTimeoutMs: 30_000,
  },
): FakeWorld {
  const clock = new SimulatedClock();
  const world: FakeWorld = {
    clock,
    written: [],
    handled: [],
    sessions: [],
    finished: [],
    accounts: new Map(),
    readStopped: false,
    link: null,
    wrongDelayMs: 0,
    refuseWith: null,
    registrationLimited: false,
    ports: {
      timings,
      now: () => clock.now(),
      setTimer(ms, fire) {
        const id = clock.setTimeout(fire, ms);
        return () => clock.clearTimeout(id);
      },
      attach() {},
      read(_, events) {
        world.link = events;
        return () => {
          world.readStopped = true;
        };
      },
      write: (_, frame) => world.written.push(frame),
      lookupAccount(_name, key) {
        const account = world.accounts.get(key);
        return Promise.resolve(
          account
            ? { kind: "registered", name: account.name }
            : world.registrationLimited
            ? { kind: "limited", text: "Too many new accounts" }
            : { kind: "free" },
        );
      },
      checkPassword(key, password): Promise<PasswordVerdict> {
        if (world.refuseWith !== null) {
          return Promise.resolve({
            kind: "refused",
            code: world.refuseWith,
            text: "Refused",
          });
        }
        return Promise.resolve(
          world.accounts.get(key)?.password === password
            ? { kind: "accepted" }
            : { kind: "wrong", delayMs: world.wrongDelayMs },
        );
      },
      register(name, key, password): Promise<PasswordVerdict> {
        if (world.refuseWith !== null || world.accounts.has(key)) {
          return Promise.resolve({
            kind: "refused",
            code: world.refuseWith ?? "name_taken",
            text: world.refuseWith ? "Refused" : `The name "${name}" is taken`,
          });
        }
        world.accounts.set(key, { name, password });
        return Promise.resolve({ kind: "accepted" });
      },
      enterSession: (_, name) => world.sessions.push(name),
      handle: (_, frames) => world.handled.push(...frames),
      finish: (_, reason, text) => world.finished.push({ reason, text }),
    },
  };
  return world;
}

/** A started connection actor on a simulated clock. */
export function startConnection(world: FakeWorld) {
  const clock = world.clock;
  const actor = createActor(createConnectionMachine(world.ports), {
    input: { connId: "conn-1", remote: "memory:1" },
    clock,
  });
  actor.start();
  const send = (...lines: string[]) =>
    actor.send({ type: "FRAMES", frames: lines.map(readClientFrame) });
  return { actor, clock, send };
}

/**
 * bob (password `pw`) logged in on a started connection; what the login
 * wrote is forgotten.
 */
export async function startOnline(world: FakeWorld = fakeWorld()) {
  world.accounts.set("bob", { name: "bob", password: "pw" });
  const connection = startConnection(world);
  connection.send(JSON.stringify({ type: "hello", v: 1, name: "bob" }));
  await settle();
  connection.send(JSON.stringify({ type: "password", password: "pw" }));
  await settle();
  assert.equal(stateOf(connection.actor), "online");
  world.written.length = 0;
  return { world, ...connection };
}

/** Lets pending promise actors (account lookups, hashing) settle. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
}

/** The state value of an actor, flattened to `a.b`. */
export function stateOf(actor: AnyActorRef): string {
  const flatten = (value: unknown): string =>
    typeof value === "string" ? value : Object.entries(
      value as Record<string, unknown>,
    ).map(([k, v]) => `${k}.${flatten(v)}`).join(",");
  return flatten(actor.getSnapshot().value);
}

/** A `hello` line for `name`. */
export const hello = (name: string) =>
  JSON.stringify({ type: "hello", v: 1, name });

/** A `password` line. */
export const password = (p: string) =>
  JSON.stringify({ type: "password", password: p });
