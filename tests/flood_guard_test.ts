import assert from "node:assert/strict";
import { FloodGuard } from "../server/flood_guard.ts";
import { FRAME_BURST, REFUSAL_BURST, WHO_BURST } from "../protocol/frames.ts";
import { send, startHub } from "./support/hub_fixture.ts";

const repeat = <T>(n: number, make: (i: number) => T): T[] =>
  Array.from({ length: n }, (_, i) => make(i));

Deno.test("FloodGuard allows a burst of frames, then 50 a second", () => {
  let now = 1_000;
  const guard = new FloodGuard(() => now);
  assert.deepEqual(
    new Set(repeat(FRAME_BURST, () => guard.frame())),
    new Set([0]),
  );
  assert.equal(guard.frame(), 20);
  now += 20;
  assert.equal(guard.frame(), 0);
  assert.equal(guard.frame(), 20);
});

Deno.test("FloodGuard allows 10 who at once, then one a second", () => {
  let now = 1_000;
  const guard = new FloodGuard(() => now);
  assert.deepEqual(
    new Set(repeat(WHO_BURST, () => guard.who())),
    new Set([0]),
  );
  assert.equal(guard.who(), 1_000);
  // Counted apart from the frames: their burst is whole.
  assert.deepEqual(
    new Set(repeat(FRAME_BURST, () => guard.frame())),
    new Set([0]),
  );
  now += 1_000;
  assert.equal(guard.who(), 0);
  assert.equal(guard.who(), 1_000);
});

Deno.test("FloodGuard closes after 50 refusals at once, or more than 5 a second after", () => {
  let now = 1_000;
  const guard = new FloodGuard(() => now);
  assert.deepEqual(
    new Set(repeat(REFUSAL_BURST, () => guard.refused())),
    new Set([false]),
  );
  assert.equal(guard.refused(), true);
  now += 200;
  assert.equal(guard.refused(), false, "one refusal back after 200 ms");
  assert.equal(guard.refused(), true);
});

Deno.test("hub answers 10 who at once, refuses the next, and answers again a second later", async () => {
  const f = await startHub();
  await f.hub.enter("c1", "alice", "alice");
  f.written.length = 0;
  f.hub.handle("c1", repeat(12, () => ({ type: "who" as const })));
  const who = { type: "who", users: ["alice"] };
  const refusal = {
    type: "error",
    code: "rate_limited",
    text:
      "Too many who requests: at most 10 at once, then 1 per second; try again in 1000 ms",
  };
  assert.deepEqual(f.framesTo("c1"), [
    ...repeat(10, () => who),
    refusal,
    refusal,
  ]);
  f.tick(1_000);
  f.written.length = 0;
  f.hub.handle("c1", [{ type: "who" }]);
  assert.deepEqual(f.framesTo("c1"), [who]);
  await f.close();
});

Deno.test("hub refuses pings beyond the frame limit, then closes a connection that goes on", async () => {
  // A flood in one batch: 100 pongs, 50 refusals, then the connection is
  // closed and the rest of the batch is not handled.
  const f = await startHub();
  await f.hub.enter("c1", "alice", "alice");
  f.written.length = 0;
  f.hub.handle("c1", repeat(1_000, () => ({ type: "ping" as const })));
  const frames = f.framesTo("c1");
  assert.deepEqual(frames.slice(0, 100), repeat(100, () => ({ type: "pong" })));
  assert.deepEqual(
    frames.slice(100),
    repeat(50, () => ({
      type: "error",
      code: "rate_limited",
      text:
        "Too many frames: at most 100 at once, then 50 per second besides messages; this one was ignored, try again in 20 ms",
    })),
  );
  assert.deepEqual(f.kicked, [["c1", "flooding"]]);
  // Being closed: what it sends meanwhile is not looked at.
  f.written.length = 0;
  f.hub.handle("c1", [{ type: "who" }]);
  assert.deepEqual(f.framesTo("c1"), []);
  await f.close();
});

Deno.test("hub counts pongs, acks of nothing and refused frames against the frame limit", async () => {
  const f = await startHub();
  await f.hub.enter("c1", "alice", "alice");
  f.written.length = 0;
  f.hub.handle("c1", [
    { type: "ping" },
    ...repeat(40, () => ({ type: "pong" as const })),
    ...repeat(40, () => ({ type: "ack" as const, seq: 7 })),
    ...repeat(20, () => ({
      type: "invalid" as const,
      code: "unknown_type" as const,
      text: 'Unknown frame type "frob"',
    })),
  ]);
  assert.deepEqual(
    f.framesTo("c1").map((x) => x.type === "error" ? x.code : x.type),
    ["pong", ...repeat(19, () => "unknown_type"), "rate_limited"],
  );
  await f.close();
});

Deno.test("hub never limits acks that acknowledge new messages", async () => {
  // A busy recipient acks once per read: as many acks as messages, at most.
  const f = await startHub();
  await f.hub.enter("c1", "alice", "alice");
  await f.hub.enter("c2", "bob", "bob");
  f.hub.handle("c1", repeat(300, (i) => send(`m${i}`, "bob", `n${i}`)));
  await f.hub.settle("c1", 5_000);
  const seqs = f.framesTo("c2").flatMap((x) =>
    x.type === "msg" ? [x.seq!] : []
  );
  assert.equal(seqs.length, 300);
  f.written.length = 0;
  f.hub.handle("c2", seqs.map((seq) => ({ type: "ack" as const, seq })));
  assert.deepEqual(f.framesTo("c2"), []);
  assert.equal(
    f.framesTo("c1").filter((x) => x.type === "delivered").length,
    300,
  );
  assert.deepEqual(f.kicked, []);
  await f.close();
});

Deno.test("hub closes a connection that goes on sending messages after 50 rate_limited refusals", async () => {
  const f = await startHub({ rateLimit: { perSecond: 5, burst: 5 } });
  await f.hub.enter("c1", "alice", "alice");
  f.written.length = 0;
  f.hub.handle("c1", repeat(100, (i) => send(`m${i}`, "all", `n${i}`)));
  const answers = f.framesTo("c1").filter((x) => x.type !== "msg");
  assert.deepEqual(answers.map((x) => x.type === "error" ? x.code : x.type), [
    ...repeat(5, () => "accepted"),
    ...repeat(50, () => "rate_limited"),
  ]);
  assert.deepEqual(f.kicked, [["c1", "flooding"]]);
  await f.close();
});

Deno.test("hub limits pongs from the second that comes within a second of another", async () => {
  // An idle connection's pong, one per ping interval, is never counted.
  const f = await startHub();
  await f.hub.enter("c1", "alice", "alice");
  f.written.length = 0;
  f.hub.handle("c1", [{ type: "pong" }]);
  f.tick(30_000);
  f.hub.handle("c1", [{ type: "pong" }]);
  f.tick(30_000);
  f.hub.handle(
    "c1",
    repeat(FRAME_BURST + 2, () => ({ type: "pong" as const })),
  );
  assert.deepEqual(f.framesTo("c1"), [{
    type: "error",
    code: "rate_limited",
    text:
      "Too many frames: at most 100 at once, then 50 per second besides messages; this one was ignored, try again in 20 ms",
  }]);
  await f.close();
});

Deno.test("hub refuses a who over the frame limit with the frame limit's words", async () => {
  const f = await startHub();
  await f.hub.enter("c1", "alice", "alice");
  f.written.length = 0;
  f.hub.handle("c1", [
    ...repeat(FRAME_BURST - 1, () => ({ type: "ping" as const })),
    { type: "who" },
    { type: "who" },
  ]);
  const frames = f.framesTo("c1");
  assert.deepEqual(frames.slice(FRAME_BURST - 1), [
    { type: "who", users: ["alice"] },
    {
      type: "error",
      code: "rate_limited",
      text:
        "Too many frames: at most 100 at once, then 50 per second besides messages; this one was ignored, try again in 20 ms",
    },
  ]);
  await f.close();
});

Deno.test("hub closing a connection for flooding still answers the messages it sent before", async () => {
  const f = await startHub();
  await f.hub.enter("c1", "alice", "alice");
  await f.hub.enter("c2", "bob", "bob");
  f.written.length = 0;
  f.hub.handle("c1", [
    send("m1", "bob", "hi bob"),
    ...repeat(1_000, () => ({ type: "ping" as const })),
  ]);
  assert.deepEqual(f.kicked, [["c1", "flooding"]]);
  await f.hub.settle("c1", 5_000);
  const accepted = f.framesTo("c1").find((x) => x.type === "accepted");
  assert.deepEqual(accepted && { ...accepted, ts: 0 }, {
    type: "accepted",
    id: "m1",
    to: "bob",
    ts: 0,
    status: "sent",
  });
  await f.close();
});
