import assert from "node:assert/strict";
import fc from "fast-check";
import type { ConnectionEvent } from "../actors/connection.ts";
import { readClientFrame } from "../protocol/frames.ts";
import { fakeWorld, startConnection } from "./support/fake_ports.ts";

/** Lets the fake ports' resolved promises reach the machine. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/** Lines a client might send, good and bad, in any state. */
const line = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      "bob",
      "BOB",
      "ｂｏｂ",
      "carol",
      "a b",
      "all",
      "",
    )
      .map((name) => JSON.stringify({ type: "hello", v: 1, name })),
  },
  fc.constant(JSON.stringify({ type: "hello", v: 2, name: "bob" })),
  {
    weight: 4,
    arbitrary: fc.constantFrom("right", "right", "wrong", "").map((
      password,
    ) => JSON.stringify({ type: "password", password })),
  },
  fc.constant(JSON.stringify({ type: "send", id: "1", to: "bob", text: "x" })),
  fc.nat(5).map((seq) => JSON.stringify({ type: "ack", seq })),
  fc.constantFrom("who", "ping", "pong", "bye", "shout").map((type) =>
    JSON.stringify({ type })
  ),
  fc.constantFrom("", "{", "[]", "null", '{"type":1}'),
  fc.string(),
);

type Step =
  | { kind: "frames"; lines: string[] }
  | { kind: "event"; event: ConnectionEvent }
  | { kind: "tick"; ms: number }
  | { kind: "settle" }
  | { kind: "login"; name: string };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.array(line, { minLength: 1, maxLength: 3 }).map((
      lines,
    ) => ({ kind: "frames" as const, lines })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom("eof", "error", "overflow", "local").map((
      cause,
    ) => ({
      kind: "event" as const,
      event: { type: "LINK_CLOSED" as const, cause },
    })),
  },
  {
    weight: 1,
    arbitrary: fc.constant({
      kind: "event" as const,
      event: { type: "KICK" as const, reason: "kicked" as const, text: "k" },
    }),
  },
  {
    weight: 2,
    arbitrary: fc.integer({ min: 0, max: 45_000 }).map((ms) => ({
      kind: "tick" as const,
      ms,
    })),
  },
  { weight: 4, arbitrary: fc.constant({ kind: "settle" as const }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("bob", "carol").map((name) => ({
      kind: "login" as const,
      name,
    })),
  },
);

Deno.test("connection machine keeps its invariants under random events", async () => {
  let loggedIn = 0;
  let closed = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(step, { maxLength: 30 }),
      fc.constantFrom(0, 1_000),
      async (steps, wrongDelayMs) => {
        const world = fakeWorld();
        world.wrongDelayMs = wrongDelayMs;
        world.accounts.set("bob", { name: "bob", password: "right" });
        const { actor, clock, send } = startConnection(world);
        const errors: unknown[] = [];
        actor.subscribe({ error: (error) => errors.push(error) });
        let sentRight = false;
        let writtenWhenDone = -1;
        try {
          for (const s of steps) {
            if (s.kind === "frames") {
              sentRight ||= s.lines.some((l) => l.includes('"right"'));
              send(...s.lines);
            } else if (s.kind === "event") actor.send(s.event);
            else if (s.kind === "tick") clock.increment(s.ms);
            else if (s.kind === "settle") await settle();
            else {
              send(JSON.stringify({ type: "hello", v: 1, name: s.name }));
              await settle();
              sentRight = true;
              send(JSON.stringify({ type: "password", password: "right" }));
              await settle();
            }
            const status = actor.getSnapshot().status;
            assert.ok(status === "active" || status === "done", status);
            if (status === "done" && writtenWhenDone === -1) {
              writtenWhenDone = world.written.length;
            }
            if (writtenWhenDone !== -1) {
              assert.equal(status, "done", "once done, stays done");
              assert.equal(world.written.length, writtenWhenDone);
            }
          }
          await settle();
          assert.deepEqual(errors, []);
          assert.ok(world.finished.length <= 1, "finish at most once");
          if (actor.getSnapshot().status === "done") {
            assert.equal(world.finished.length, 1);
          }
          assert.ok(world.sessions.length <= 1, "one session at most");
          for (const name of world.sessions) {
            // Routed to only after a right password or a new account.
            if (name === "bob") assert.ok(sentRight, "bob needs his password");
            else assert.ok(world.accounts.has(name.toLowerCase()));
          }
          if (world.sessions.length === 0) {
            assert.deepEqual(world.handled, [], "nothing handled before login");
          }
          assert.ok(world.handled.every((f) => f.type !== "bye"));
          if (world.sessions.length > 0) loggedIn++;
          if (world.finished.length > 0) closed++;
        } finally {
          actor.stop();
        }
      },
    ),
    { numRuns: 300 },
  );
  // The random walks must reach the interesting states, or they prove little.
  assert.ok(loggedIn >= 10, `only ${loggedIn} runs logged in`);
  assert.ok(closed >= 30, `only ${closed} runs closed`);
});

Deno.test("readClientFrame never throws, whatever the line", () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.json(), line), (text) => {
      const frame = readClientFrame(text);
      assert.equal(typeof frame.type, "string");
    }),
    { numRuns: 2_000 },
  );
});
