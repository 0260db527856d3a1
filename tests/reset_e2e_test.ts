import assert from "node:assert/strict";
import { RawClient } from "./support/raw_client.ts";
import { ServerProcess } from "./support/processes.ts";

const encoder = new TextEncoder();
const ROUNDS = 30;
const VICTIMS = 5;

/**
 * Logs in without ever reading: its socket holds unread data, so closing it
 * makes the kernel send a reset instead of a clean close.
 */
async function unreadClient(port: number, name: string): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode(
    JSON.stringify({ type: "hello", v: 1, name }) + "\n",
  ));
  return conn;
}

Deno.test("clients reset while a broadcast is sent to them crash nothing and the rest get each broadcast once", async () => {
  const dir = await Deno.makeTempDir();
  const server = await ServerProcess.start(dir);
  const watchers: RawClient[] = [];
  try {
    for (const name of ["w1", "w2", "w3"]) {
      const c = await RawClient.connect(server.port);
      watchers.push(c);
      assert.equal((await c.login(name, "pw")).type, "ready");
    }
    const sender = watchers[0];
    for (let round = 0; round < ROUNDS; round++) {
      const victims = await Promise.all(
        Array.from(
          { length: VICTIMS },
          (_, i) => unreadClient(server.port, `v${i}`),
        ),
      );
      await new Promise((r) => setTimeout(r, 30));
      const password = encoder.encode('{"type":"password","password":"pw"}\n');
      await Promise.all(victims.map((v) => v.write(password)));
      await new Promise((r) => setTimeout(r, 30));
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
    // Most victims were logged in (receiving) when they reset; a few may
    // lose the race to their own login.
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
  } finally {
    for (const c of watchers) c.close();
    await Promise.all(watchers.map((c) => c.closed));
    const status = await server.stop();
    const log = server.stderr.lines.join("\n");
    assert.equal(status.code, 0, log);
    assert.doesNotMatch(log, /Uncaught|unhandled|panicked|FATAL|FTL/i);
    await Deno.remove(dir, { recursive: true });
  }
});
