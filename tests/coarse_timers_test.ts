import assert from "node:assert/strict";
import { SimulatedClock } from "xstate";
import { CoarseTimers, type TimerClock } from "../server/coarse_timers.ts";

/** A simulated clock that counts the runtime timers it was asked for. */
function simulated(start = 0) {
  const clock = new SimulatedClock();
  clock.set(start);
  const counts = { set: 0, cleared: 0 };
  const timerClock: TimerClock = {
    now: () => clock.now(),
    setTimeout: (fire, ms) => {
      counts.set++;
      return clock.setTimeout(fire, ms);
    },
    clearTimeout: (id) => {
      counts.cleared++;
      clock.clearTimeout(id as number);
    },
  };
  return { clock, counts, timerClock };
}

Deno.test("CoarseTimers fires a timer at the first tick after its time, never before", () => {
  const { clock, timerClock } = simulated(1_000);
  const timers = new CoarseTimers(250, timerClock);
  const fired: number[] = [];
  timers.set(30_010, () => fired.push(clock.now()));
  clock.increment(30_009);
  assert.deepEqual(fired, []);
  clock.increment(1);
  assert.deepEqual(fired, [], "not at 31,010: the tick is at 31,250");
  clock.increment(239);
  assert.deepEqual(fired, []);
  clock.increment(1);
  assert.deepEqual(fired, [31_250]);
  assert.equal(timers.pending, 0);
});

Deno.test("CoarseTimers shares one runtime timer among the timers of a tick", () => {
  const { clock, counts, timerClock } = simulated();
  const timers = new CoarseTimers(100, timerClock);
  const fired: string[] = [];
  for (const name of ["a", "b", "c"]) timers.set(10, () => fired.push(name));
  timers.set(150, () => fired.push("later"));
  assert.equal(counts.set, 2);
  assert.equal(timers.ticks, 2);
  assert.equal(timers.pending, 4);
  clock.increment(100);
  assert.deepEqual(fired, ["a", "b", "c"], "in the order they were set");
  clock.increment(100);
  assert.deepEqual(fired, ["a", "b", "c", "later"]);
  assert.equal(timers.ticks, 0);
});

Deno.test("CoarseTimers does not fire a cancelled timer and frees a tick left empty", () => {
  const { clock, counts, timerClock } = simulated();
  const timers = new CoarseTimers(100, timerClock);
  const fired: string[] = [];
  const cancelA = timers.set(50, () => fired.push("a"));
  const cancelB = timers.set(60, () => fired.push("b"));
  cancelA();
  assert.equal(counts.cleared, 0, "b still needs the tick");
  cancelA();
  assert.equal(timers.pending, 1, "cancelling twice counts once");
  cancelB();
  assert.equal(counts.cleared, 1);
  assert.equal(timers.ticks, 0);
  clock.increment(1_000);
  assert.deepEqual(fired, []);
});

Deno.test("CoarseTimers cancelling after the timer fired does nothing", () => {
  const { clock, counts, timerClock } = simulated();
  const timers = new CoarseTimers(100, timerClock);
  let fired = 0;
  const cancel = timers.set(10, () => fired++);
  clock.increment(100);
  cancel();
  assert.equal(fired, 1);
  assert.equal(counts.cleared, 0);
  assert.equal(timers.pending, 0);
});

Deno.test("CoarseTimers fires timers set by a firing timer at their own tick", () => {
  const { clock, timerClock } = simulated();
  const timers = new CoarseTimers(100, timerClock);
  const fired: string[] = [];
  timers.set(50, () => {
    fired.push(`outer ${clock.now()}`);
    timers.set(10, () => fired.push(`short ${clock.now()}`));
    timers.set(100, () => fired.push(`long ${clock.now()}`));
  });
  clock.increment(100);
  assert.deepEqual(fired, ["outer 100"]);
  clock.increment(100);
  assert.deepEqual(fired, ["outer 100", "short 200", "long 200"]);
});

Deno.test("CoarseTimers refuses a resolution that is not positive", () => {
  assert.throws(() => new CoarseTimers(0), {
    name: "RangeError",
    message: "Expected a positive resolution in ms, found 0",
  });
});

Deno.test("CoarseTimers on the real clock fires and leaves no timer behind", async () => {
  const timers = new CoarseTimers(20);
  const fired = Promise.withResolvers<void>();
  timers.set(5, () => fired.resolve());
  const cancel = timers.set(5_000, () => {});
  await fired.promise;
  cancel();
  assert.equal(timers.ticks, 0);
});
