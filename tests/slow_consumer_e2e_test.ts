import assert from "node:assert/strict";
import { withServer } from "./support/server_fixture.ts";

/** Resident memory of a process in MiB. */
async function rssMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

Deno.test("a client that stops reading is dropped as a slow consumer, keeps its private messages, and slows nobody", async () => {
  await withServer([], async ({ server, connect }) => {
    const pid = server.child.pid;
    const online = async (name: string) => {
      const client = await connect();
      assert.equal((await client.login(name, "pw")).type, "ready");
      return client;
    };
    const alice = await online("alice");
    const bob = await online("bob");
    // Logs in over a socket that is then never read again, like SIGSTOP.
    const frozen = await connect(false);
    await frozen.send({ type: "hello", v: 1, name: "slow" });
    await new Promise((r) => setTimeout(r, 300));
    await frozen.send({ type: "password", password: "pw" });
    await new Promise((r) => setTimeout(r, 300));
    await alice.send({ type: "send", id: "p1", to: "slow", text: "first" });
    assert.equal((await alice.next("accepted", 0)).status, "sent");
    const before = await rssMiB(pid);

    const text = "x".repeat(8_000);
    const started = performance.now();
    for (let batch = 0; batch < 10; batch++) {
      const frames = [];
      for (let i = 0; i < 100; i++) {
        frames.push({ type: "send", id: `b${batch}-${i}`, to: "all", text });
      }
      await bob.send(...frames);
      await bob.waitFor((f) => f.id === `b${batch}-99`, 20_000);
    }
    const msgs = () => alice.frames.filter((f) => f.type === "msg");
    const deadline = Date.now() + 20_000;
    while (msgs().length < 1_000 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const elapsed = performance.now() - started;
    assert.equal(msgs().length, 1_000, "alice got every broadcast");
    assert.equal(
      new Set(msgs().map((f) => f.ts)).size > 0 &&
        msgs().every((f) => f.from === "bob" && f.text === text),
      true,
    );
    const after = await rssMiB(pid);
    console.log(
      `8 MB broadcast in ${Math.round(elapsed)} ms; server RSS ${
        before.toFixed(0)
      } -> ${after.toFixed(0)} MiB`,
    );
    assert.ok(after - before < 100, `server grew ${after - before} MiB`);

    await server.stderr.waitFor(/Closed conn-\d+ .* slow: slow_consumer/);
    const from = alice.frames.length;
    await alice.send({ type: "send", id: "p2", to: "slow", text: "second" });
    assert.equal((await alice.next("accepted", from)).status, "stored");

    const back = await connect();
    const ready = await back.login("slow", "pw");
    assert.equal(ready.stored, 2);
    await back.waitFor((f) => f.type === "msg" && f.text === "second");
    assert.deepEqual(
      back.frames.filter((f) => f.seq).map((f) => f.text),
      ["first", "second"],
    );
  });
});
