import assert from "node:assert/strict";
import { TokenBucket } from "../protocol/token_bucket.ts";
import { FailureCounter } from "../server/throttle.ts";
import { DEFAULT_LOGIN_GUARD, LoginGuard } from "../server/login_guard.ts";

Deno.test("TokenBucket allows a burst, then the rate, and says how long to wait", () => {
  let now = 1_000;
  const bucket = new TokenBucket(10, 3, () => now);
  assert.deepEqual([bucket.take(), bucket.take(), bucket.take()], [0, 0, 0]);
  assert.equal(bucket.take(), 100);
  now += 50;
  assert.equal(bucket.take(), 50);
  now += 50;
  assert.equal(bucket.take(), 0);
  assert.equal(bucket.take(), 100);
  now += 10_000;
  assert.deepEqual(
    [bucket.take(), bucket.take(), bucket.take(), bucket.take()],
    [0, 0, 0, 100],
    "an idle bucket refills only up to its burst",
  );
});

Deno.test("TokenBucket refuses a rate of 0 and a burst below 1", () => {
  assert.throws(
    () => new TokenBucket(0, 1, () => 0),
    new RangeError(
      "Expected a rate above 0 and a burst of 1 or more, found 0 and 1",
    ),
  );
  assert.throws(() => new TokenBucket(1, 0.5, () => 0), RangeError);
});

Deno.test("TokenBucket survives a clock that goes backwards", () => {
  let now = 5_000;
  const bucket = new TokenBucket(1, 1, () => now);
  assert.equal(bucket.take(), 0);
  now = 0;
  assert.equal(bucket.take(), 1_000);
  now = 1_000;
  assert.equal(bucket.take(), 0);
});

Deno.test("FailureCounter counts within the window and forgets old keys", () => {
  let now = 0;
  const counter = new FailureCounter(1_000, () => now);
  assert.equal(counter.add("a"), 1);
  now = 400;
  assert.equal(counter.add("a"), 2);
  assert.equal(counter.waitBelow("a", 2), 600);
  assert.equal(counter.waitBelow("a", 3), 0);
  now = 1_000;
  assert.equal(counter.count("a"), 1);
  for (let i = 0; i < 100; i++) counter.add(`k${i}`);
  now = 3_000;
  counter.add("b");
  assert.equal(counter.size, 1, "keys with only old events are swept");
  counter.clear("b");
  assert.equal(counter.count("b"), 0);
});

const options = { ...DEFAULT_LOGIN_GUARD };

Deno.test("LoginGuard delays wrong answers 1, 2, 4, 8 s, then holds at 8 s", () => {
  let now = 0;
  const guard = new LoginGuard(options, () => now);
  const delays = [];
  for (let i = 0; i < 6; i++) {
    delays.push(guard.failed("bob", `10.0.0.${i}:1000`));
    now += 1;
  }
  assert.deepEqual(delays, [1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
});

Deno.test("LoginGuard locks one name and address after five wrong passwords until the cool-down", () => {
  let now = 0;
  const guard = new LoginGuard(options, () => now);
  for (let i = 0; i < 4; i++) guard.failed("bob", "10.0.0.1:1000");
  assert.equal(guard.loginRefusal("bob", "10.0.0.1:2000"), null);
  guard.failed("bob", "10.0.0.1:1000");
  now = 60_000;
  const refusal = guard.loginRefusal("bob", "10.0.0.1:3000");
  assert.equal(refusal?.code, "too_many_attempts");
  assert.equal(
    refusal?.message,
    "Too many wrong passwords for this name from your address; try again in 240 s",
  );
  assert.equal(
    guard.loginRefusal("bob", "10.0.0.2:1000"),
    null,
    "the owner from another address is not locked out",
  );
  assert.equal(guard.loginRefusal("carol", "10.0.0.1:1000"), null);
  now = 300_000;
  assert.equal(guard.loginRefusal("bob", "10.0.0.1:1000"), null);
});

Deno.test("LoginGuard locks an address that guesses at many names", () => {
  const guard = new LoginGuard(options, () => 0);
  for (let i = 0; i < 20; i++) guard.failed(`user${i}`, "10.0.0.9:1");
  assert.equal(
    guard.loginRefusal("someone", "10.0.0.9:2")?.code,
    "too_many_attempts",
  );
  assert.equal(guard.loginRefusal("someone", "10.0.0.8:2"), null);
});

Deno.test("LoginGuard forgives a name and address after the right password", () => {
  const guard = new LoginGuard(options, () => 0);
  for (let i = 0; i < 4; i++) guard.failed("bob", "10.0.0.1:1");
  guard.succeeded("bob", "10.0.0.1:2");
  guard.failed("bob", "10.0.0.1:1");
  assert.equal(guard.loginRefusal("bob", "10.0.0.1:1"), null);
});

Deno.test("LoginGuard allows five new accounts per address per ten minutes", () => {
  let now = 0;
  const guard = new LoginGuard(options, () => now);
  for (let i = 0; i < 5; i++) assert.equal(guard.register("10.0.0.1:1"), null);
  const refusal = guard.register("10.0.0.1:2");
  assert.equal(refusal?.code, "registration_limited");
  assert.equal(
    refusal?.message,
    "At most 5 new accounts per 600 s from one address; try again in 600 s",
  );
  assert.equal(guard.register("10.0.0.2:1"), null);
  now = 600_000;
  assert.equal(guard.register("10.0.0.1:3"), null);
});

Deno.test("LoginGuard counts only registrations that made an account", () => {
  const guard = new LoginGuard(
    { ...DEFAULT_LOGIN_GUARD, maxRegistrations: 2 },
    () => 0,
  );
  for (let i = 0; i < 5; i++) {
    assert.equal(guard.register("10.0.0.9:1"), null);
    guard.registrationFailed("10.0.0.9:1");
  }
  assert.equal(guard.register("10.0.0.9:1"), null);
  assert.equal(guard.register("10.0.0.9:2"), null);
  assert.equal(guard.register("10.0.0.9:3")?.code, "registration_limited");
});

Deno.test("LoginGuard tells whether an address may register without counting it", () => {
  const guard = new LoginGuard(
    { ...DEFAULT_LOGIN_GUARD, maxRegistrations: 1 },
    () => 0,
  );
  assert.equal(guard.registrationRefusal("10.0.0.9:1"), null);
  assert.equal(guard.registrationRefusal("10.0.0.9:1"), null);
  assert.equal(guard.register("10.0.0.9:1"), null);
  assert.equal(
    guard.registrationRefusal("10.0.0.9:2")?.message,
    "At most 1 new account per 600 s from one address; try again in 600 s",
  );
});
