/**
 * End to end: stored private messages survive offline recipients, server
 * restarts, SIGKILL and frozen connections, and arrive exactly once, in
 * order.
 */

import assert from "node:assert/strict";
import {
  chat,
  type ParleyProcess,
  ServerProcess,
} from "./support/processes.ts";
import { isTimed, tempDir, untimed } from "./support/output.ts";

async function leave(...clients: ParleyProcess[]): Promise<void> {
  for (const client of clients) {
    await client.endInput();
    const status = await client.exit();
    assert.equal(status.code, 0, client.stderr.lines.join("\n"));
  }
}

/** Ends a client some of whose messages were not accepted: it exits 1. */
async function leaveUnaccepted(
  client: ParleyProcess,
  summary: RegExp,
): Promise<void> {
  await client.endInput();
  const status = await client.exit();
  assert.equal(status.code, 1, client.stderr.lines.join("\n"));
  assert.match(client.stderr.lines.join("\n"), summary);
}

Deno.test("an offline message is delivered at login with its original time", async () => {
  const [dir, cleanup] = await tempDir();
  let server = await ServerProcess.start(dir);
  try {
    // bob registers, then leaves.
    const bob1 = chat("bob", "b", "--server", server.address);
    await bob1.stdout.waitFor("*** connected to");
    await leave(bob1);

    const alice = chat("alice", "a", "--server", server.address);
    await alice.stdout.waitFor("*** connected to");
    await alice.type("@bob are you there?");
    await alice.stdout.waitFor("*** bob is offline; message stored");
    const echo = await alice.stdout.waitFor("alice -> bob: are you there?");
    await alice.type("@bob second");
    await alice.stdout.waitFor("alice -> bob: second");
    await leave(alice);

    // Wait so that a replay stamped with the login time would differ.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const port = server.port;
    await server.stop();
    server = await ServerProcess.start(dir, [], port);

    const bob2 = chat("bob", "b", "--server", server.address);
    await bob2.stdout.waitFor("alice: second");
    await leave(bob2);
    const lines = bob2.stdout.lines;
    const summary = lines.indexOf("*** 2 messages arrived while you were away");
    assert.notEqual(summary, -1, lines.join("\n"));
    const first = lines.find((l) => l.endsWith("alice: are you there?"))!;
    assert.equal(first.slice(0, 19), echo.slice(0, 19), "original send time");
    assert.deepEqual(lines.filter(isTimed).map(untimed), [
      "alice: are you there?",
      "alice: second",
    ]);
  } finally {
    await server.stop();
    await cleanup();
  }
});

Deno.test("every accepted message is delivered exactly once and in order across a SIGKILL", async () => {
  const [dir, cleanup] = await tempDir();
  let server = await ServerProcess.start(dir);
  const names = ["ann", "ben", "cat"];
  const clients = names.map((n) =>
    chat(n, `pw-${n}`, "--server", server.address)
  );
  const PER_PAIR = 60;
  try {
    for (const c of clients) await c.stdout.waitFor("*** connected to");
    // Each client sends PER_PAIR numbered messages to each other client, in
    // small bursts, and the server is killed part-way.
    const sending = (async () => {
      for (let i = 1; i <= PER_PAIR; i++) {
        for (const [k, client] of clients.entries()) {
          const lines = names.filter((_, j) => j !== k).map((to) =>
            `@${to} ${names[k]}>${to} ${String(i).padStart(3, "0")}`
          );
          await client.type(...lines).catch(() => {});
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    await clients[0].stdout.waitForCount((l) => l.includes(" -> "), 20, 20_000);
    server.kill("SIGKILL");
    await server.exit();
    await sending;
    for (const c of clients) {
      await c.stdout.waitFor("*** connection to the server was lost");
    }
    server = await ServerProcess.start(dir, [], server.port);
    for (const c of clients) await c.type(`HI ${server.address}`);
    for (const c of clients) {
      await c.stdout.waitForCount((l) => l.startsWith("*** connected to"), 2);
    }
    // Let the replays finish.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // The kill left messages unconfirmed, and lines typed while the
    // clients were not connected were not sent.
    for (const client of clients) {
      await leaveUnaccepted(
        client,
        /^parley chat: \d+ messages? (was|were) not accepted$/,
      );
    }

    let accepted = 0;
    for (const [k, sender] of clients.entries()) {
      const echoes = sender.stdout.lines.filter(isTimed).map(untimed).filter(
        (l) => l.startsWith(`${names[k]} -> `),
      );
      for (const to of names.filter((_, j) => j !== k)) {
        const sent = echoes.filter((l) => l.startsWith(`${names[k]} -> ${to}:`))
          .map((l) => l.slice(l.indexOf(": ") + 2));
        const receiver = clients[names.indexOf(to)];
        const got = receiver.stdout.lines.filter(isTimed).map(untimed)
          .filter((l) => l.startsWith(`${names[k]}: `))
          .map((l) => l.slice(l.indexOf(": ") + 2));
        accepted += sent.length;
        for (const text of sent) {
          assert.equal(
            got.filter((g) => g === text).length,
            1,
            `"${text}" was not delivered exactly once to ${to}`,
          );
        }
        assert.deepEqual(
          got,
          [...got].sort(),
          `${names[k]}>${to} out of order`,
        );
      }
    }
    assert.ok(accepted >= 20, `only ${accepted} messages were accepted`);
    assert.ok(
      accepted < names.length * (names.length - 1) * PER_PAIR,
      "the server was killed only after every message was accepted",
    );
  } finally {
    for (const c of clients) {
      c.kill("SIGKILL");
      await c.exit();
    }
    server.kill("SIGKILL");
    await server.exit();
    await cleanup();
  }
});

Deno.test("messages to a frozen recipient are neither lost nor doubled after it logs in again", async () => {
  const [dir, cleanup] = await tempDir();
  const server = await ServerProcess.start(dir, [
    "--ping-interval",
    "1",
    "--ping-timeout",
    "1",
  ]);
  const sender = chat("sam", "s", "--server", server.address);
  const frozen = chat("fay", "f", "--server", server.address);
  try {
    await sender.stdout.waitFor("*** connected to");
    await frozen.stdout.waitFor("*** connected to");
    frozen.kill("SIGSTOP");
    const texts = Array.from({ length: 30 }, (_, i) => `m${i + 10}`);
    await sender.type(...texts.map((t) => `@fay ${t}`));
    await sender.stdout.waitForCount((l) => l.includes("sam -> fay:"), 30);
    await server.stderr.waitFor(/Closed conn-\d+ \S+ fay: ping_timeout/);
    frozen.kill("SIGKILL");
    await frozen.exit();

    const back = chat("fay", "f", "--server", server.address);
    await back.stdout.waitForCount((l) => l.includes("sam: "), 30);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await leave(back, sender);
    assert.deepEqual(
      back.stdout.lines.filter(isTimed).map(untimed),
      texts.map((t) => `sam: ${t}`),
    );
  } finally {
    frozen.kill("SIGKILL");
    await frozen.exit();
    await server.stop();
    await cleanup();
  }
});

Deno.test("a full mailbox refuses at once and expired messages are reported", async () => {
  const [dir, cleanup] = await tempDir();
  // 0.00002 days is 1.7 seconds.
  const server = await ServerProcess.start(dir, [
    "--max-offline",
    "2",
    "--offline-ttl",
    "0.00002",
  ]);
  try {
    const gus = chat("gus", "g", "--server", server.address);
    await gus.stdout.waitFor("*** connected to");
    await leave(gus);

    const hal = chat("hal", "h", "--server", server.address);
    await hal.stdout.waitFor("*** connected to");
    await hal.type("@gus one", "@gus two", "@gus three");
    await hal.stdout.waitFor(
      /^\*\*\* not sent to gus \("three"\): the mailbox of gus is full \(2 messages\)/i,
    );
    await hal.stdout.waitForCount((l) => l.includes("hal -> gus:"), 2);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(
      hal.stdout.lines.filter(isTimed).map(untimed),
      ["hal -> gus: one", "hal -> gus: two"],
    );
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await hal.type("@gus four");
    await hal.stdout.waitFor("hal -> gus: four");
    await leaveUnaccepted(hal, /^parley chat: 1 message was not accepted$/);

    const back = chat("gus", "g", "--server", server.address);
    await back.stdout.waitFor("hal: four");
    await leave(back);
    assert.ok(
      back.stdout.lines.includes("*** 2 messages expired unread"),
      back.stdout.lines.join("\n"),
    );
    assert.deepEqual(back.stdout.lines.filter(isTimed).map(untimed), [
      "hal: four",
    ]);
  } finally {
    await server.stop();
    await cleanup();
  }
});
