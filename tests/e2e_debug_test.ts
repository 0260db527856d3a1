/**
 * End to end: `parley debug` against a real `parley serve`, with clients
 * speaking the protocol over real TCP sockets so each can be held in a
 * chosen state.
 */

import assert from "node:assert/strict";
import { AdminClient } from "../cli/admin_client.ts";
import type {
  AdminRequest,
  StatusReply,
  TransitionEvent,
} from "../server/admin_protocol.ts";
import { adminSocketPath } from "../server/admin_socket.ts";
import { chat, ParleyProcess, ServerProcess } from "./support/processes.ts";
import { tempDir } from "./support/output.ts";
import { RawClient } from "./support/raw_client.ts";

/** Runs `parley debug` to its end. */
async function debug(...args: string[]) {
  const process = new ParleyProcess(["debug", ...args], {}, false);
  const status = await process.exit();
  return {
    code: status.code,
    stdout: process.stdout.lines,
    stderr: process.stderr.lines,
  };
}

Deno.test("debug shows clients in their states, watches a frozen one close and kicks others", async () => {
  const [dir, cleanup] = await tempDir();
  const server = await ServerProcess.start(dir, [
    "--ping-interval",
    "1.5",
    "--ping-timeout",
    "4",
  ]);
  const db = ["--db", server.db];
  const watch = new ParleyProcess(["debug", "--watch", "--json", ...db], {
    TZ: "UTC",
  }, false);
  const clients: RawClient[] = [];
  let pinging: ReturnType<typeof setInterval> | undefined;
  try {
    await watch.stderr.waitFor("parley debug: watching");
    const anonymous = await RawClient.connect(server.port);
    const alice = await RawClient.connect(server.port);
    const frozen = await RawClient.connect(server.port);
    clients.push(anonymous, alice, frozen);
    await alice.login("alice", "pw-alice");
    // alice keeps talking, so she never goes idle.
    // Once she is kicked her socket is closed, and a write to it fails:
    // that is no fault of the test's.
    pinging = setInterval(
      () => alice.send({ type: "ping" }).catch(() => {}),
      300,
    );
    await frozen.login("carol", "pw-carol");
    await frozen.waitFor("ping");

    const shown = await debug("--json", ...db);
    assert.equal(shown.code, 0, shown.stderr.join("\n"));
    assert.equal(shown.stdout.length, 1);
    const status: StatusReply = JSON.parse(shown.stdout[0]);
    assert.deepEqual(
      status.connections.map((c) => [c.remote, c.user, c.state]),
      [
        [anonymous.local, null, "unregistered"],
        [alice.local, "alice", "online"],
        [frozen.local, "carol", "idle-probing"],
      ],
    );
    assert.deepEqual(status.server.states, {
      unregistered: 1,
      online: 1,
      "idle-probing": 1,
    });
    assert.equal(status.supervisor.accepted, 3);
    const frozenId = status.connections[2].id;
    const aliceId = status.connections[1].id;

    assert.deepEqual(await frozen.waitFor("bye", 15_000), {
      type: "bye",
      reason: "ping_timeout",
      text: "No answer to ping",
    });
    const isFrozen = (line: string) =>
      (JSON.parse(line) as TransitionEvent).actor === frozenId;
    const frozenSteps = (await watch.stdout.waitForCount(
      isFrozen,
      7,
      15_000,
    )).map((line) => {
      const t: TransitionEvent = JSON.parse(line);
      return `${t.from ?? "(new)"} → ${t.to} (${t.cause}) ${t.user ?? "-"}`;
    });
    assert.deepEqual(frozenSteps, [
      "(new) → unregistered (connected) -",
      "unregistered → authenticating.lookingUp (frames: hello) -",
      "authenticating.lookingUp → authenticating.awaitingPassword (name is free) -",
      "authenticating.awaitingPassword → authenticating.registering (frames: password) -",
      "authenticating.registering → online (registered) carol",
      "online → idle-probing (no frame for 1.5 s) carol",
      "idle-probing → closed (no answer to ping for 4 s) carol",
    ]);

    const kicked = await debug("kick", "alice", "go", "home", ...db);
    assert.deepEqual(kicked, {
      code: 0,
      stdout: [`Kicked alice (${aliceId}): go home`],
      stderr: [],
    });
    assert.deepEqual(await alice.waitFor("bye"), {
      type: "bye",
      reason: "kicked",
      text: "go home",
    });
    await alice.waitClosed();
    const aliceClosed = await watch.stdout.waitFor((line) => {
      const t: TransitionEvent = JSON.parse(line);
      return t.actor === aliceId && t.to === "closed";
    });
    assert.equal(JSON.parse(aliceClosed).cause, "kicked: go home");

    const dave = chat("dave", "pw-dave", "--server", server.address);
    try {
      await dave.stdout.waitFor("*** connected to");
      // A direction mark in the reason reaches neither terminal as such.
      const daveKicked = await debug("kick", "dave", "Time\u202e to go", ...db);
      assert.equal(daveKicked.code, 0, daveKicked.stderr.join("\n"));
      assert.match(
        daveKicked.stdout.join("\n"),
        /^Kicked dave \(conn-\d+\): Time\uFFFD to go$/,
      );
      await dave.stdout.waitFor("*** disconnected: time\uFFFD to go");
    } finally {
      await dave.endInput();
      await dave.exit();
    }
    // Only connections can be kicked; any actor can be shown.
    assert.deepEqual(await debug("kick", "nobody", ...db), {
      code: 1,
      stdout: [],
      stderr: [
        `parley debug: No actor "nobody"; expected a connection id or a user's name`,
      ],
    });
    assert.deepEqual(await debug("show", "nobody", ...db), {
      code: 1,
      stdout: [],
      stderr: [
        `parley debug: No actor "nobody"; expected supervisor, shard-N, a connection id or a user's name`,
      ],
    });

    await server.stderr.waitFor(
      `Closed ${frozenId} ${frozen.local} carol: ping_timeout`,
    );
    await server.stderr.waitFor(
      `alice logged out of ${aliceId}: kicked (go home)`,
    );
    // The log spells the direction mark out.
    await server.stderr.waitFor((line) =>
      /dave logged out of conn-\d+: kicked \(Time\\u202e to go\)$/.test(line)
    );
    watch.kill("SIGINT");
    assert.equal((await watch.exit()).code, 0);
  } finally {
    clearInterval(pinging);
    watch.kill("SIGKILL");
    await watch.exit();
    for (const client of clients) await client.end();
    await server.stop();
    await cleanup();
  }
});

Deno.test("debug over TCP is refused without the right token", async () => {
  const [dir, cleanup] = await tempDir();
  const good = `${dir}/token`;
  const bad = `${dir}/wrong`;
  await Deno.writeTextFile(good, "correct-horse-battery-staple\n");
  await Deno.writeTextFile(bad, "not-the-right-token-at-all\n");
  const server = await ServerProcess.start(dir, [
    "--admin",
    "127.0.0.1:0",
    "--admin-token-file",
    good,
  ]);
  let raw: RawClient | undefined;
  try {
    const line = await server.stdout.waitFor(/parley debug on 127\.0\.0\.1:/);
    const admin = line.slice(line.lastIndexOf(" ") + 1);

    assert.deepEqual(await debug("--admin", admin, "--token-file", bad), {
      code: 1,
      stdout: [],
      stderr: [`parley debug: ${admin} refused access: Wrong admin token`],
    });
    await server.stderr.waitFor(/Refused admin client .*: Wrong admin token/);

    raw = await RawClient.connect(Number(admin.split(":")[1]));
    await raw.send({ type: "status" });
    assert.deepEqual(await raw.waitFor("error"), {
      type: "error",
      code: "unauthorized",
      text: 'Send {"type":"auth","token":…} first',
    });
    await raw.waitClosed();

    const allowed = await debug(
      "--admin",
      admin,
      "--token-file",
      good,
      "--json",
    );
    assert.equal(allowed.code, 0, allowed.stderr.join("\n"));
    const status: StatusReply = JSON.parse(allowed.stdout[0]);
    assert.equal(status.server.address, server.address);
    assert.deepEqual(status.connections, []);
  } finally {
    await raw?.end();
    await server.stop();
    await cleanup();
  }
});

Deno.test("the chat and admin ports each say so to the other protocol's client", async () => {
  // Each used to answer with its own protocol's refusal (an unknown frame
  // type, a missing token), leaving the user to guess the port was wrong.
  const [dir, cleanup] = await tempDir();
  const token = `${dir}/token`;
  await Deno.writeTextFile(token, "correct-horse-battery-staple\n");
  const server = await ServerProcess.start(dir, [
    "--admin",
    "127.0.0.1:0",
    "--admin-token-file",
    token,
  ]);
  let raw: RawClient | undefined;
  try {
    const line = await server.stdout.waitFor(/parley debug on 127\.0\.0\.1:/);
    const admin = line.slice(line.lastIndexOf(" ") + 1);

    assert.deepEqual(
      await debug("--admin", server.address, "--token-file", token),
      {
        code: 1,
        stdout: [],
        stderr: [
          `parley debug: ${server.address} refused access: Unknown frame type "auth" (this is parley's chat port, not its admin port); expected hello, password, send, ack, who, ping, pong or bye`,
        ],
      },
    );

    raw = await RawClient.connect(Number(admin.split(":")[1]));
    await raw.send({ type: "hello", v: 1, name: "alice" });
    assert.deepEqual(await raw.waitFor("error"), {
      type: "error",
      code: "unauthorized",
      text:
        `This is parley's admin port, not its chat port; send {"type":"auth","token":…} first`,
    });
    await raw.waitClosed();
  } finally {
    await raw?.end();
    await server.stop();
    await cleanup();
  }
});

Deno.test("debug says in one line that no server runs on a database", async () => {
  const [dir, cleanup] = await tempDir();
  try {
    assert.deepEqual(await debug("--db", `${dir}/none.db`), {
      code: 1,
      stdout: [],
      stderr: [
        `parley debug: cannot reach the server at unix:${dir}/none.db.admin.sock: no such socket; is parley serve running with this --db?`,
      ],
    });
  } finally {
    await cleanup();
  }
});

Deno.test("debug shows every connection when the status is over 64 KiB, and refuses a show without a target or a request over 64 KiB", async () => {
  const [dir, cleanup] = await tempDir();
  const server = await ServerProcess.start(dir);
  const conns: Deno.Conn[] = [];
  try {
    // About 160 bytes each in the status: 600 make some 96 KiB.
    for (let i = 0; i < 600; i++) {
      conns.push(await Deno.connect({ port: server.port }));
    }
    const shown = await debug("--json", "--db", server.db);
    assert.equal(shown.code, 0, shown.stderr.join("\n"));
    assert.ok(shown.stdout[0].length > 65_536);
    const status: StatusReply = JSON.parse(shown.stdout[0]);
    assert.equal(status.connections.length, 600);
    assert.deepEqual(status.server.states, { unregistered: 600 });

    const admin = await AdminClient.connect(
      `unix:${adminSocketPath(server.db)}`,
      null,
    );
    try {
      const request = { type: "show" } as AdminRequest;
      assert.deepEqual(await admin.request(request), {
        type: "error",
        code: "bad_request",
        text:
          `A show request needs a "target": supervisor, shard-N, a connection id or a user's name`,
      });
      // A request over 64 KiB used to be dropped without a word, and the
      // client waited for a reply until its timeout. 65,536 bytes pass.
      const padded = (length: number) => {
        const empty = JSON.stringify({ type: "users", pad: "" });
        return {
          type: "users",
          pad: "z".repeat(length - empty.length),
        } as AdminRequest;
      };
      const limit = await admin.request(padded(65_536));
      assert.equal(limit.type, "users");
      assert.deepEqual(await admin.request(padded(65_537)), {
        type: "error",
        code: "bad_request",
        text: "A request of 65537 bytes is over the limit of 65536",
      });
      assert.equal((await admin.request({ type: "users" })).type, "users");
    } finally {
      admin.close();
    }
  } finally {
    for (const conn of conns) conn.close();
    await server.stop();
    await cleanup();
  }
});

Deno.test("a debug watcher that stops reading is dropped once 1 MiB waits for it, though one status may be larger", async () => {
  const [dir, cleanup] = await tempDir();
  const server = await ServerProcess.start(dir);
  const path = adminSocketPath(server.db)!;
  const watcher = await Deno.connect({ transport: "unix", path });
  try {
    await watcher.write(new TextEncoder().encode('{"type":"watch"}\n'));
    // Never read while connections come and go, each adding transitions
    // of about 300 bytes to its queue, until the server drops it.
    const dropped = (line: string) => line.includes("Dropped admin watcher");
    for (let batch = 0; batch < 200; batch++) {
      await Promise.all(
        Array.from({ length: 100 }, async () => {
          (await Deno.connect({ port: server.port })).close();
        }),
      );
      if (server.stderr.lines.some(dropped)) break;
    }
    await server.stderr.waitFor(dropped);
    // What the kernel held arrives, then the end.
    const buffer = new Uint8Array(1 << 16);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ended = await Promise.race([
      (async () => {
        while (await watcher.read(buffer) !== null) {
          // Drained.
        }
        return true;
      })(),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), 10_000);
      }),
    ]);
    clearTimeout(timer);
    assert.ok(ended, "Expected the server to drop the stalled watcher");
  } finally {
    watcher.close();
    await server.stop();
    await cleanup();
  }
});
