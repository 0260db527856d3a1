import assert from "node:assert/strict";
import { HashWorkers } from "../store/hash_workers.ts";
import {
  hashPassword,
  threadPoolScrypt,
  verifyPassword,
} from "../store/password.ts";

const COST = { N: 1024, r: 8, p: 1 };
const SALT = new Uint8Array(16).fill(7);

/** Nice values of this process's threads named `worker-*` (Linux). */
function workerNiceValues(): number[] {
  const values: number[] = [];
  for (const task of Deno.readDirSync(`/proc/${Deno.pid}/task`)) {
    let stat;
    try {
      stat = Deno.readTextFileSync(`/proc/${Deno.pid}/task/${task.name}/stat`);
    } catch (error) {
      // A thread of the runtime's pools may end between list and read.
      if (error instanceof Deno.errors.NotFound) continue;
      throw error;
    }
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    // After the name come stat's fields from the 3rd (state); nice is 19th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (comm.startsWith("worker-")) values.push(Number(fields[16]));
  }
  return values;
}

Deno.test("HashWorkers.scrypt() derives the key the thread pool derives", async () => {
  const workers = new HashWorkers(1, 10);
  try {
    const [ours, pool] = await Promise.all([
      workers.scrypt("pässword", SALT, 32, COST),
      threadPoolScrypt("pässword", SALT, 32, COST),
    ]);
    assert.equal(ours.toString("hex"), pool.toString("hex"));
  } finally {
    workers.close();
  }
});

Deno.test("HashWorkers.scrypt() hashes on threads at the nice value given", {
  ignore: Deno.build.os !== "linux",
}, async () => {
  const workers = new HashWorkers(2, 13);
  try {
    await Promise.all([
      workers.scrypt("a", SALT, 32, COST),
      workers.scrypt("b", SALT, 32, COST),
    ]);
    assert.deepEqual(workerNiceValues().filter((n) => n === 13), [13, 13]);
  } finally {
    workers.close();
  }
});

Deno.test("HashWorkers runs jobs beyond its threads in turn", async () => {
  const workers = new HashWorkers(1, 0);
  try {
    const keys = await Promise.all(
      ["a", "b", "c"].map((pw) => workers.scrypt(pw, SALT, 16, COST)),
    );
    const expected = await Promise.all(
      ["a", "b", "c"].map((pw) => threadPoolScrypt(pw, SALT, 16, COST)),
    );
    assert.deepEqual(
      keys.map((k) => k.toString("hex")),
      expected.map((k) => k.toString("hex")),
    );
  } finally {
    workers.close();
  }
});

Deno.test("HashWorkers.scrypt() rejects a cost scrypt refuses, and goes on", async () => {
  const workers = new HashWorkers(1, 0);
  try {
    await assert.rejects(
      workers.scrypt("pw", SALT, 32, { N: 1000, r: 8, p: 1 }),
      Error,
    );
    assert.equal((await workers.scrypt("pw", SALT, 32, COST)).length, 32);
  } finally {
    workers.close();
  }
});

Deno.test("HashWorkers.close() refuses the jobs it did not finish", async () => {
  const workers = new HashWorkers(1, 0);
  const running = workers.scrypt("a", SALT, 32, COST);
  const waiting = workers.scrypt("b", SALT, 32, COST);
  workers.close();
  const message = "The hashing threads are closed";
  await assert.rejects(running, { message });
  await assert.rejects(waiting, { message });
  await assert.rejects(workers.scrypt("c", SALT, 32, COST), { message });
});

Deno.test("HashWorkers refuses a size or nice value out of range", () => {
  assert.throws(() => new HashWorkers(0, 10), {
    name: "RangeError",
    message: "Expected at least 1 hash thread, found 0",
  });
  assert.throws(() => new HashWorkers(1, 20), {
    name: "RangeError",
    message: "Expected a nice value from 0 to 19, found 20",
  });
});

Deno.test("hashPassword() and verifyPassword() agree through HashWorkers", async () => {
  const workers = new HashWorkers(1, 10);
  const derive = workers.scrypt.bind(workers);
  try {
    const stored = await hashPassword("s3cret", COST, derive);
    assert.equal(await verifyPassword("s3cret", stored, derive), true);
    assert.equal(await verifyPassword("s3cret", stored), true);
    assert.equal(await verifyPassword("guess", stored, derive), false);
  } finally {
    workers.close();
  }
});
