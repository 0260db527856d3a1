import assert from "node:assert/strict";
import { RawClient } from "./support/raw_client.ts";
import { ServerProcess } from "./support/processes.ts";

const encoder = new TextEncoder();

/** Resident memory of a process in MiB. */
async function rssMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

/** Logs in over a socket that is then never read again, like SIGSTOP. */
async function frozenClient(port: number, name: string): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode(
    JSON.stringify({ type: "hello", v: 1, name }) + "\n",
  ));
  await new Promise((r) => setTimeout(r, 300));
  await conn.write(encoder.encode(
    JSON.stringify({ type: "password", password: "pw" }) + "\n",
  ));
  await new Promise((r) => setTimeout(r, 300));
  return conn;
}

Deno.test("a client that stops reading is dropped as a slow consumer, keeps its private messages, and slows nobody", async () => {
  const dir = await Deno.makeTempDir();
  const server = await ServerProcess.start(dir);
  const pid = server.child.pid;
  const clients: RawClient[] = [];
  const connect = async (name: string) => {
    const client = await RawClient.connect(server.port);
    clients.push(client);
    assert.equal((await client.login(name, "pw")).type, "ready");
    return client;
  };
  let frozen: Deno.Conn | undefined;
  try {
    const alice = await connect("alice");
    const bob = await connect("bob");
    frozen = await frozenClient(server.port, "slow");
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

    const back = await RawClient.connect(server.port);
    clients.push(back);
    const ready = await back.login("slow", "pw");
    assert.equal(ready.stored, 2);
    await back.waitFor((f) => f.type === "msg" && f.text === "second");
    assert.deepEqual(
      back.frames.filter((f) => f.seq).map((f) => f.text),
      ["first", "second"],
    );
  } finally {
    try {
      frozen?.close();
    } catch {
      // Closed by the server already.
    }
    for (const c of clients) c.close();
    await Promise.all(clients.map((c) => c.closed));
    const status = await server.stop();
    assert.equal(status.code, 0, server.stderr.lines.join("\n"));
    await Deno.remove(dir, { recursive: true });
  }
});
