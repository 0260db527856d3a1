import assert from "node:assert/strict";
import { withServer } from "./support/server_fixture.ts";

Deno.test("a client flooding pings over a real socket is refused, then closed for flooding, and others are not held up", async () => {
  await withServer([], async ({ server, connect }) => {
    const bystander = await connect();
    assert.equal((await bystander.login("bob", "pw-bob")).type, "ready");
    const flooder = await connect();
    assert.equal((await flooder.login("mallory", "pw-mallory")).type, "ready");
    const from = flooder.frames.length;
    // Far more than one read takes: the server must stop reading them.
    await flooder.write('{"type":"ping"}\n'.repeat(200_000)).catch(() => {});
    await flooder.waitClosed();
    // On the real clock tokens come back while the flood is read, so the
    // counts are at least the bursts; the hub's tests pin them exactly.
    const answers = flooder.frames.slice(from);
    const pongs = answers.findIndex((f) => f.type !== "pong");
    assert.ok(pongs >= 100, `Expected at least 100 pongs, found ${pongs}`);
    const refusals = answers.slice(pongs, -1);
    assert.ok(refusals.length >= 50, `Expected 50 refusals or more`);
    for (const refusal of refusals) {
      assert.equal(refusal.type, "error");
      assert.equal(refusal.code, "rate_limited");
      assert.match(
        refusal.text,
        /^Too many frames: at most 100 at once, then 50 per second besides messages; this one was ignored, try again in \d+ ms$/,
      );
    }
    assert.deepEqual(answers.at(-1), {
      type: "bye",
      reason: "flooding",
      text: "Too many frames too fast, after being refused",
    });
    await server.stderr.waitFor("mallory: flooding");
    // The bystander's who answers at once, without the flooder.
    const seen = bystander.frames.length;
    await bystander.send({ type: "who" });
    assert.deepEqual(await bystander.next("who", seen), {
      type: "who",
      users: ["bob"],
    });
  });
});

Deno.test("who over a real socket is answered 10 times at once, then refused until a second has passed", async () => {
  await withServer([], async ({ connect }) => {
    const alice = await connect();
    assert.equal((await alice.login("alice", "pw-alice")).type, "ready");
    const from = alice.frames.length;
    await alice.send(...Array(11).fill({ type: "who" }));
    const refusal = await alice.waitFor(
      (f) => f.type === "error",
      10_000,
      from,
    );
    assert.deepEqual(
      alice.frames.slice(from).map((f) => f.type),
      [...Array(10).fill("who"), "error"],
    );
    assert.equal(refusal.code, "rate_limited");
    assert.match(
      refusal.text,
      /^Too many who requests: at most 10 at once, then 1 per second; try again in \d+ ms$/,
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const later = alice.frames.length;
    await alice.send({ type: "who" });
    assert.deepEqual(await alice.next("who", later), {
      type: "who",
      users: ["alice"],
    });
  });
});

Deno.test("a client flooding pings before login over a real socket gets 100 answers, then is closed", async () => {
  await withServer([], async ({ server, connect }) => {
    const flooder = await connect();
    await flooder.write('{"type":"ping"}\n'.repeat(100_000)).catch(() => {});
    await flooder.waitClosed();
    assert.deepEqual(flooder.frames, [
      ...Array(100).fill({ type: "pong" }),
      {
        type: "bye",
        reason: "flooding",
        text: "Too many frames before login",
      },
    ]);
    // Logged with no user: it never logged in.
    await server.stderr.waitFor(
      /Closed conn-\d+ 127\.0\.0\.1:\d+ -: flooding$/,
    );
  });
});
