import assert from "node:assert/strict";
import { withServer } from "./support/server_fixture.ts";

const IDLE = 1_000;

/** Open file descriptors of a process. */
async function openFds(pid: number): Promise<number> {
  let count = 0;
  for await (const _ of Deno.readDir(`/proc/${pid}/fd`)) count++;
  return count;
}

/** Reads a socket to its end; resolves with everything it received. */
async function readToEnd(conn: Deno.Conn): Promise<string> {
  const buffer = new Uint8Array(1024);
  let text = "";
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
  } catch {
    // A reset also ends it.
  }
  conn.close();
  return text;
}

Deno.test("a thousand connections that never log in are closed by the login timeout while users chat", async () => {
  await withServer(["--login-timeout", "2"], async ({ server, connect }) => {
    const pid = server.child.pid;
    const [alice, bob] = [await connect(), await connect()];
    assert.equal((await alice.login("alice", "pw")).type, "ready");
    assert.equal((await bob.login("bob", "pw")).type, "ready");
    const baseline = await openFds(pid);

    const idle: Promise<string>[] = [];
    for (let i = 0; i < IDLE; i += 100) {
      const batch = await Promise.all(
        Array.from(
          { length: 100 },
          () => Deno.connect({ hostname: "127.0.0.1", port: server.port }),
        ),
      );
      idle.push(...batch.map(readToEnd));
    }

    // Users chat while the idle connections wait for their timeout.
    const sentAt: number[] = [];
    for (let i = 0; i < 20; i++) {
      sentAt.push(performance.now());
      await alice.send({ type: "send", id: `m${i}`, to: "bob", text: `${i}` });
      await new Promise((r) => setTimeout(r, 100));
    }
    const last = await bob.waitFor((f) => f.type === "msg" && f.text === "19");
    assert.ok(last);
    assert.deepEqual(
      bob.frames.filter((f) => f.type === "msg").map((f) => f.text),
      Array.from({ length: 20 }, (_, i) => `${i}`),
    );

    const received = await Promise.all(idle);
    const bye = JSON.stringify({
      type: "bye",
      reason: "login_timeout",
      text: "Login took too long",
    }) + "\n";
    assert.equal(received.filter((text) => text === bye).length, IDLE);

    let now = await openFds(pid);
    const deadline = Date.now() + 5_000;
    while (now > baseline && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      now = await openFds(pid);
    }
    assert.equal(now, baseline, "open sockets are back to the baseline");
    // The users are still connected and served.
    const from = alice.frames.length;
    await alice.send({ type: "who" });
    assert.deepEqual((await alice.next("who", from)).users, ["alice", "bob"]);
  });
});
