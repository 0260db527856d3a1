import assert from "node:assert/strict";
import { HashQueue } from "../store/hash_queue.ts";

/** A task that runs until `finish()` is called. */
function gate(log: string[], name: string) {
  const done = Promise.withResolvers<string>();
  return {
    task: () => {
      log.push(`start ${name}`);
      return done.promise;
    },
    finish: () => done.resolve(name),
  };
}

Deno.test("HashQueue runs no more tasks at once than its limit", async () => {
  const queue = new HashQueue(2);
  const log: string[] = [];
  const gates = ["a", "b", "c", "d"].map((name) => gate(log, name));
  const results = gates.map((g) => queue.run(g.task));
  await Promise.resolve();
  assert.deepEqual(log, ["start a", "start b"]);
  assert.equal(queue.running, 2);
  assert.equal(queue.waiting, 2);
  gates[1].finish();
  await results[1];
  await Promise.resolve();
  assert.deepEqual(log, ["start a", "start b", "start c"]);
  gates[0].finish();
  gates[2].finish();
  gates[3].finish();
  assert.deepEqual(await Promise.all(results), ["a", "b", "c", "d"]);
  assert.deepEqual(log, ["start a", "start b", "start c", "start d"]);
  assert.equal(queue.running, 0);
});

Deno.test("HashQueue hands a freed place to the waiter, not a newcomer", async () => {
  const queue = new HashQueue(1);
  const log: string[] = [];
  const [a, b, c] = ["a", "b", "c"].map((name) => gate(log, name));
  const ra = queue.run(a.task);
  const rb = queue.run(b.task);
  a.finish();
  await ra;
  // b holds the place from here, even before it has started running.
  const rc = queue.run(c.task);
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual(log, ["start a", "start b"]);
  assert.equal(queue.running, 1);
  b.finish();
  c.finish();
  assert.deepEqual(await Promise.all([rb, rc]), ["b", "c"]);
  assert.deepEqual(log, ["start a", "start b", "start c"]);
});

Deno.test("HashQueue never starts a waiting task whose signal aborted", async () => {
  const queue = new HashQueue(1);
  const log: string[] = [];
  const [a, b, c] = ["a", "b", "c"].map((name) => gate(log, name));
  const ra = queue.run(a.task);
  const abort = new AbortController();
  const rb = queue.run(b.task, abort.signal);
  const rc = queue.run(c.task);
  abort.abort(new Error("Connection closed"));
  await assert.rejects(rb, { message: "Connection closed" });
  assert.equal(queue.waiting, 1);
  a.finish();
  c.finish();
  assert.deepEqual(await Promise.all([ra, rc]), ["a", "c"]);
  assert.deepEqual(log, ["start a", "start c"]);
});

Deno.test("HashQueue refuses a task whose signal already aborted", async () => {
  const queue = new HashQueue(1);
  const abort = new AbortController();
  abort.abort(new Error("Gone"));
  let started = false;
  await assert.rejects(
    queue.run(() => {
      started = true;
      return Promise.resolve();
    }, abort.signal),
    { message: "Gone" },
  );
  assert.equal(started, false);
  assert.equal(queue.running, 0);
});

Deno.test("HashQueue frees its place when a task fails", async () => {
  const queue = new HashQueue(1);
  await assert.rejects(
    queue.run(() => Promise.reject(new Error("Hash failed"))),
    { message: "Hash failed" },
  );
  assert.equal(queue.running, 0);
  assert.equal(await queue.run(() => Promise.resolve(7)), 7);
});

Deno.test("HashQueue refuses a limit below 1", () => {
  assert.throws(() => new HashQueue(0), {
    name: "RangeError",
    message: "Expected a hash concurrency of at least 1, found 0",
  });
});
