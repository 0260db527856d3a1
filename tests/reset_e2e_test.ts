import assert from "node:assert/strict";
import { withServer } from "./support/server_fixture.ts";

const ROUNDS = 30;
const VICTIMS = 5;

Deno.test("clients reset while a broadcast is sent to them crash nothing and the rest get each broadcast once", async () => {
  await withServer([], async ({ server, connect }) => {
    const watchers = [];
    for (const name of ["w1", "w2", "w3"]) {
      const c = await connect();
      watchers.push(c);
      assert.equal((await c.login(name, "pw")).type, "ready");
    }
    const sender = watchers[0];
    for (let round = 0; round < ROUNDS; round++) {
      // Victims log in without ever reading: their sockets hold unread
      // data, so closing them makes the kernel send a reset, not a close.
      const victims = await Promise.all(
        Array.from({ length: VICTIMS }, async (_, i) => {
          const victim = await connect(false);
          await victim.send({ type: "hello", v: 1, name: `v${i}` });
          return victim;
        }),
      );
      await new Promise((r) => setTimeout(r, 30));
      await Promise.all(
        victims.map((v) => v.send({ type: "password", password: "pw" })),
      );
      // Logged in, so they are among the broadcast's receivers; a fixed
      // wait left many still hashing their password on a busy machine.
      await server.stderr.waitForCount(
        (line) => /\] parley·auth: v\d logged in on conn-/.test(line),
        (round + 1) * VICTIMS,
      );
      const broadcast = [];
      for (let i = 0; i < 5; i++) {
        broadcast.push({
          type: "send",
          id: `r${round}-${i}`,
          to: "all",
          text: `round ${round} #${i} ${"x".repeat(2_000)}`,
        });
      }
      // The resets race the broadcast on the server.
      const sending = sender.send(...broadcast);
      for (const v of victims) v.close();
      await sending;
    }
    const total = ROUNDS * 5;
    for (const w of watchers) {
      const deadline = Date.now() + 15_000;
      const msgs = () => w.frames.filter((f) => f.type === "msg");
      while (msgs().length < total && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const texts = msgs().map((f) => f.text as string);
      assert.equal(texts.length, total, "every broadcast arrived");
      assert.equal(new Set(texts).size, total, "and each only once");
    }
    // Every victim was logged in (receiving) when it reset.
    await server.stderr.waitForCount(
      (line) => /Closed conn-\d+ \S+ v\d: connection_lost/.test(line),
      (ROUNDS * VICTIMS) / 2,
    );
    const from = sender.frames.length;
    await sender.send({ type: "who" });
    assert.deepEqual((await sender.next("who", from)).users, [
      "w1",
      "w2",
      "w3",
    ]);
  });
});
