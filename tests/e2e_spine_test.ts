/**
 * End to end: a real `parley serve` and real `parley chat` processes over
 * TCP, with the database in a temporary folder.
 */

import assert from "node:assert/strict";
import { chat, ServerProcess } from "./support/processes.ts";
import { isTimed, tempDir, untimed } from "./support/output.ts";
import { RawClient } from "./support/raw_client.ts";

Deno.test("alice, bob and tom chat privately and to everyone, then leave", async () => {
  const [dir, cleanup] = await tempDir();
  const server = await ServerProcess.start(dir);
  const alice = chat("alice", "pw-a", "--server", server.address);
  const bob = chat("bob", "pw-b", "--server", server.address);
  const tom = chat("tom", "pw-t", "--server", server.address);
  try {
    for (const client of [alice, bob, tom]) {
      await client.stdout.waitFor("*** connected to");
    }
    await alice.type("@bob hi bob");
    await bob.stdout.waitFor("alice: hi bob");
    await alice.stdout.waitFor("*** delivered to bob");
    await bob.type("@alice hi alice");
    await alice.stdout.waitFor("bob: hi alice");
    await tom.type("@all hi all");
    for (const client of [alice, bob, tom]) {
      await client.stdout.waitFor("broadcast from tom: hi all");
    }
    await bob.type("@ALL bye all");
    for (const client of [alice, bob, tom]) {
      await client.stdout.waitFor("broadcast from bob: bye all");
    }
    for (const client of [alice, bob, tom]) {
      await client.type("BYE");
      await client.endInput();
      assert.equal((await client.exit()).code, 0);
    }
    const timed = (lines: string[]) => lines.filter(isTimed).map(untimed);
    assert.deepEqual(timed(alice.stdout.lines), [
      "alice -> bob: hi bob",
      "bob: hi alice",
      "broadcast from tom: hi all",
      "broadcast from bob: bye all",
    ]);
    assert.deepEqual(timed(bob.stdout.lines), [
      "alice: hi bob",
      "bob -> alice: hi alice",
      "broadcast from tom: hi all",
      "broadcast from bob: bye all",
    ]);
    assert.deepEqual(timed(tom.stdout.lines), [
      "broadcast from tom: hi all",
      "broadcast from bob: bye all",
    ]);
    assert.ok(
      alice.stdout.lines.includes(
        `*** connected to ${server.address} as alice`,
      ),
      alice.stdout.lines.join("\n"),
    );
  } finally {
    for (const client of [alice, bob, tom]) {
      client.kill("SIGKILL");
      await client.exit();
    }
    await server.stop();
    await cleanup();
  }
});

Deno.test("a registered user logs in after a server restart with the right password only", async () => {
  const [dir, cleanup] = await tempDir();
  let server = await ServerProcess.start(dir);
  try {
    const first = chat("carol", "secret", "--server", server.address);
    await first.stdout.waitFor("*** connected to");
    assert.ok(first.stdout.lines.includes("*** registered new account carol"));
    await first.endInput();
    assert.equal((await first.exit()).code, 0);

    const port = server.port;
    assert.equal((await server.stop()).code, 0);
    server = await ServerProcess.start(dir, [], port);

    const again = chat("Carol", "secret", "--server", server.address);
    await again.stdout.waitFor(`*** connected to ${server.address} as carol`);
    await again.endInput();
    assert.equal((await again.exit()).code, 0);

    const wrong = chat("carol", "guess", "--server", server.address);
    await wrong.endInput();
    const status = await wrong.exit();
    assert.equal(status.code, 1);
    assert.match(wrong.stderr.lines.join("\n"), /wrong password/i);
  } finally {
    await server.stop();
    await cleanup();
  }
});

Deno.test("a multi-line message arrives with its line breaks", async () => {
  const [dir, cleanup] = await tempDir();
  const server = await ServerProcess.start(dir);
  const alice = chat("alice", "a", "--server", server.address);
  const bob = chat("bob", "b", "--server", server.address);
  try {
    await alice.stdout.waitFor("*** connected to");
    await bob.stdout.waitFor("*** connected to");
    await alice.type("@bob first line\\", "second line\\", "third line");
    await bob.stdout.waitFor("    third line");
    const at = bob.stdout.lines.findIndex((l) =>
      l.endsWith("alice: first line")
    );
    assert.notEqual(at, -1, bob.stdout.lines.join("\n"));
    assert.deepEqual(bob.stdout.lines.slice(at + 1, at + 3), [
      "    second line",
      "    third line",
    ]);
  } finally {
    for (const client of [alice, bob]) {
      await client.endInput();
      await client.exit();
    }
    await server.stop();
    await cleanup();
  }
});

Deno.test("a frozen client is closed after ping interval plus ping timeout", async () => {
  const [dir, cleanup] = await tempDir();
  const server = await ServerProcess.start(dir, [
    "--ping-interval",
    "1",
    "--ping-timeout",
    "1",
  ]);
  const frozen = chat("frozen", "f", "--server", server.address);
  const watcher = chat("watcher", "w", "--server", server.address);
  try {
    await frozen.stdout.waitFor("*** connected to");
    await watcher.stdout.waitFor("*** connected to");
    const frozenAt = Date.now();
    frozen.kill("SIGSTOP");
    const closed = await server.stderr.waitFor(
      /Closed conn-\d+ \S+ frozen: ping_timeout/,
      10_000,
    );
    const elapsed = Date.now() - frozenAt;
    assert.ok(elapsed >= 1_500, `closed after only ${elapsed} ms: ${closed}`);
    await watcher.type("WHO");
    await watcher.stdout.waitFor("*** online: watcher");
  } finally {
    frozen.kill("SIGKILL");
    await frozen.exit();
    await watcher.endInput();
    await watcher.exit();
    await server.stop();
    await cleanup();
  }
});

Deno.test("the netlog has every frame and no password", async () => {
  const [dir, cleanup] = await tempDir();
  const netlog = `${dir}/net.log`;
  const server = await ServerProcess.start(dir, ["--netlog", netlog]);
  try {
    const dave = chat("dave", "hunter2-secret", "--server", server.address);
    await dave.stdout.waitFor("*** connected to");
    await dave.type("@dave note to self");
    await dave.stdout.waitFor("dave: note to self");
    await dave.endInput();
    assert.equal((await dave.exit()).code, 0);
  } finally {
    await server.stop();
  }
  const log = await Deno.readTextFile(netlog);
  await cleanup();
  assert.ok(!log.includes("hunter2-secret"), "the password is in the netlog");
  const all = log.trimEnd().split("\n");
  const time = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z";
  // The run's lines between its start and stop marks.
  assert.match(
    all[0],
    new RegExp(
      `^${time} start - - - <parley serve \\S+ started, pid ${server.child.pid}; connection ids start again at conn-1>$`,
    ),
  );
  assert.match(
    all.at(-1)!,
    new RegExp(`^${time} stop - - - <parley serve stopped>$`),
  );
  const lines = all.slice(1, -1);
  const shape = new RegExp(
    `^${time} (in|out) conn-\\d+ 127\\.0\\.0\\.1:\\d+ \\S+ \\{.*\\}$`,
  );
  for (const line of lines) assert.match(line, shape);
  const frames = lines.map((l) => JSON.parse(l.slice(l.indexOf("{"))).type);
  for (
    const type of [
      "hello",
      "auth",
      "password",
      "ready",
      "send",
      "accepted",
      "msg",
      "ack",
      "delivered",
      "bye",
    ]
  ) {
    assert.ok(frames.includes(type), `no ${type} frame in the netlog`);
  }
  assert.ok(log.includes('{"type":"password","password":"***"}'));
});

Deno.test("the netlog has a frame within a moment, with no traffic after it", async () => {
  // Long lines used to wait in a buffer until more frames came: a netlog
  // under `tail -f` lagged by whole sessions, and a killed server lost them.
  const [dir, cleanup] = await tempDir();
  const netlog = `${dir}/net.log`;
  const server = await ServerProcess.start(dir, ["--netlog", netlog]);
  const zoe = await RawClient.connect(server.port);
  try {
    assert.equal((await zoe.login("zoe", "pw")).type, "ready");
    // A direction mark would reorder the line under `tail -f`.
    const text = "long ".repeat(60) + "\u202e!";
    await zoe.send({ type: "send", id: "1", to: "zoe", text });
    await zoe.next("msg", 0);
    const deadline = Date.now() + 1_000;
    let log = "";
    while (!log.includes(`"type":"msg"`) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      log = await Deno.readTextFile(netlog);
    }
    const types = log.trimEnd().split("\n").slice(1).map((l) =>
      `${l.split(" ")[1]} ${JSON.parse(l.slice(l.indexOf("{"))).type}`
    );
    assert.match(log, /^\S+ start - - - <parley serve /);
    assert.deepEqual(types, [
      "in hello",
      "out auth",
      "in password",
      "out ready",
      "in send",
      "out accepted",
      "out msg",
    ]);
    assert.ok(!log.includes("\u202e"), "a raw direction mark");
    const sent = log.split("\n").find((l) =>
      l.includes(" in ") && l.includes('"send"')
    )!;
    assert.equal(JSON.parse(sent.slice(sent.indexOf("{"))).text, text);
  } finally {
    zoe.close();
    await zoe.closed;
    await server.stop();
    await cleanup();
  }
});

Deno.test("logging in again takes over and the old client is told why", async () => {
  const [dir, cleanup] = await tempDir();
  const server = await ServerProcess.start(dir);
  const first = chat("erin", "e", "--server", server.address);
  try {
    await first.stdout.waitFor("*** connected to");
    const second = chat("erin", "e", "--server", server.address);
    await second.stdout.waitFor("*** connected to");
    await first.stdout.waitFor(
      "*** disconnected: logged in from another connection",
    );
    await second.type("WHO");
    await second.stdout.waitFor("*** online: erin");
    await second.endInput();
    assert.equal((await second.exit()).code, 0);
  } finally {
    await first.endInput();
    await first.exit();
    await server.stop();
    await cleanup();
  }
});

Deno.test("a server shutting down tells its clients and exits 0", async () => {
  const [dir, cleanup] = await tempDir();
  const server = await ServerProcess.start(dir);
  const client = chat("finn", "f", "--server", server.address);
  try {
    await client.stdout.waitFor("*** connected to");
    assert.equal((await server.stop()).code, 0);
    await client.stdout.waitFor(
      "*** disconnected: the server is shutting down",
    );
    // Every line of serve starts with its name; this one used to say
    // only "parley:".
    assert.deepEqual(server.stdout.lines, [
      `parley serve: parley debug on unix:${server.db}.admin.sock`,
      `parley serve: listening on ${server.address}`,
      "parley serve: shutting down",
    ]);
  } finally {
    await client.endInput();
    await client.exit();
    await cleanup();
  }
});
