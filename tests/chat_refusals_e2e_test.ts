/**
 * `parley chat` without a terminal against a real server: input from a
 * file, and how the client shows the server's abuse limits (message rate,
 * registrations per address, login lockout).
 */

import assert from "node:assert/strict";
import { isTimed, tempDir, untimed } from "./support/output.ts";
import { chat, register, ServerProcess } from "./support/processes.ts";
import { shellQuote } from "./support/pty.ts";

const MOD = new URL("../mod.ts", import.meta.url).pathname;

/** Runs `parley chat` with `args` and its stdin read from `file`. */
async function chatFromFile(
  file: string,
  password: string,
  args: string[],
): Promise<{ code: number; stdout: string[]; stderr: string }> {
  const command = [Deno.execPath(), "run", "-A", MOD, "chat", ...args]
    .map(shellQuote).join(" ") + " < " + shellQuote(file);
  const { code, stdout, stderr } = await new Deno.Command("/bin/sh", {
    args: ["-c", command],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", TZ: "UTC", PARLEY_PASSWORD: password },
  }).output();
  const text = new TextDecoder().decode(stdout);
  return {
    code,
    stdout: text.split("\n").filter((line) => line !== ""),
    stderr: new TextDecoder().decode(stderr),
  };
}

Deno.test("parley chat with input from a file runs every line, waits for the answers and exits 1 for the refused message", async () => {
  const [dir, cleanup] = await tempDir();
  const server = await ServerProcess.start(dir);
  try {
    await register(server, "bob", "pw-bob");
    const file = `${dir}/commands.txt`;
    await Deno.writeTextFile(
      file,
      [
        `HI ${server.address}`,
        "@bob one",
        "@bob two\\",
        "and a half",
        "WHO",
        "@all three",
        "@nobody four",
      ].join("\n") + "\n",
    );
    const result = await chatFromFile(file, "pw-alice", ["--name", "alice"]);
    assert.equal(result.stderr, "parley chat: 1 message was not accepted\n");
    assert.equal(result.code, 1);
    const lines = result.stdout.map(untimed);
    assert.deepEqual(lines.slice(0, 2), [
      `*** connected to ${server.address} as alice`,
      "*** registered new account alice",
    ]);
    assert.equal(lines.at(-1), "*** disconnected: goodbye");
    // Private messages are answered once on disk, so the server's answers
    // may come in another order than the commands.
    assert.deepEqual(
      lines.slice(2, -1).sort(),
      [
        "    and a half",
        `*** not sent to nobody ("four"): no such user: nobody`,
        "*** bob is offline; message stored",
        "*** bob is offline; message stored",
        "*** online: alice",
        "alice -> bob: one",
        "alice -> bob: two",
        "broadcast from alice: three",
      ].sort(),
    );
    assert.equal(
      lines[lines.indexOf("alice -> bob: two") + 1],
      "    and a half",
    );
    assert.equal(result.stdout.filter(isTimed).length, 3);
  } finally {
    await server.stop();
    await cleanup();
  }
});

Deno.test("a piped client paces itself to the server's rate limit and is never refused", async () => {
  const [dir, cleanup] = await tempDir();
  const server = await ServerProcess.start(dir, [
    "--rate-limit",
    "20",
    "--rate-burst",
    "5",
  ]);
  try {
    const alice = chat("alice", "pw", "--server", server.address);
    const count = 60;
    const lines = Array.from({ length: count }, (_, i) => `@all m${i}`);
    const started = Date.now();
    await alice.type(...lines);
    await alice.endInput();
    const status = await alice.exit();
    const took = Date.now() - started;
    assert.deepEqual(alice.stderr.lines, []);
    assert.equal(status.code, 0);
    assert.deepEqual(
      alice.stdout.lines.filter((l) => l.startsWith("***")),
      [
        `*** connected to ${server.address} as alice`,
        "*** registered new account alice",
        "*** disconnected: goodbye",
      ],
    );
    assert.deepEqual(
      alice.stdout.lines.filter(isTimed).map(untimed),
      lines.map((l) => `broadcast from alice: ${l.slice(5)}`),
    );
    // 4 at once, then 18 a second: about 3 s.
    assert.ok(took >= 2_500, `Expected pacing, took ${took} ms`);
  } finally {
    await server.stop();
    await cleanup();
  }
});

Deno.test("a piped client paces WHO below the server's fixed limit and is never refused", async () => {
  const [dir, cleanup] = await tempDir();
  const server = await ServerProcess.start(dir);
  try {
    const alice = chat("alice", "pw", "--server", server.address);
    // Two more than the server answers at once.
    const count = 12;
    const started = Date.now();
    await alice.type(...Array(count).fill("WHO"), "@all done");
    await alice.endInput();
    const status = await alice.exit();
    const took = Date.now() - started;
    assert.deepEqual(alice.stderr.lines, []);
    assert.equal(status.code, 0);
    assert.deepEqual(alice.stdout.lines.map(untimed), [
      `*** connected to ${server.address} as alice`,
      "*** registered new account alice",
      ...Array(count).fill("*** online: alice"),
      "broadcast from alice: done",
      "*** disconnected: goodbye",
    ]);
    // 9 at once, then 0.9 a second: the last of the 12 after 3.3 s.
    assert.ok(took >= 3_000, `Expected pacing, took ${took} ms`);
  } finally {
    await server.stop();
    await cleanup();
  }
});

Deno.test("a piped client sending hundreds of large messages keeps its connection and exits 0", async () => {
  const [dir, cleanup] = await tempDir();
  const server = await ServerProcess.start(dir);
  try {
    const alice = chat("alice", "pw", "--server", server.address);
    const count = 500;
    const big = "G".repeat(6_000);
    const lines = Array.from({ length: count }, (_, i) => `@all m${i} ${big}`);
    await alice.type(...lines);
    await alice.endInput();
    const status = await alice.exit();
    assert.deepEqual(alice.stderr.lines, []);
    assert.equal(status.code, 0);
    assert.deepEqual(
      alice.stdout.lines.filter((l) => l.startsWith("***")),
      [
        `*** connected to ${server.address} as alice`,
        "*** registered new account alice",
        "*** disconnected: goodbye",
      ],
    );
    const received = alice.stdout.lines.filter(isTimed);
    assert.equal(received.length, count);
    const wrong = received.map(untimed).findIndex((line, i) =>
      line !== `broadcast from alice: m${i} ${big}`
    );
    assert.equal(wrong, -1, "Expected every message, in order");
  } finally {
    await server.stop();
    await cleanup();
  }
});

Deno.test("a piped client exits 1 saying how many messages were not accepted after losing its server", async () => {
  const [dir, cleanup] = await tempDir();
  const server = await ServerProcess.start(dir);
  try {
    const alice = chat("alice", "pw", "--server", server.address);
    await alice.type("@all one");
    await alice.stdout.waitFor("broadcast from alice: one");
    await server.stop();
    await alice.stdout.waitFor("*** disconnected: ");
    await alice.type("@all two", "@all three");
    await alice.endInput();
    assert.equal((await alice.exit()).code, 1);
    assert.deepEqual(alice.stderr.lines, [
      "parley chat: 2 messages were not accepted",
    ]);
  } finally {
    await server.stop();
    await cleanup();
  }
});

Deno.test("a refused registration is reported with the server's reason and exits 1", async () => {
  const [dir, cleanup] = await tempDir();
  const server = await ServerProcess.start(dir, ["--register-limit", "1"]);
  try {
    await register(server, "alice", "pw");
    const bob = chat("bob", "pw", "--server", server.address);
    await bob.endInput();
    assert.equal((await bob.exit()).code, 1);
    assert.deepEqual(bob.stdout.lines, []);
    assert.match(
      bob.stderr.lines.join("\n"),
      new RegExp(
        `^parley chat: cannot log in to ${server.address} as bob: At most 1 new account per 600 s from one address; try again in \\d+ s$`,
      ),
    );
  } finally {
    await server.stop();
    await cleanup();
  }
});

Deno.test("a login lockout is reported with the server's reason and exits 1", async () => {
  const [dir, cleanup] = await tempDir();
  const server = await ServerProcess.start(dir, [
    "--login-failures",
    "1",
    "--login-delay",
    "0.05",
  ]);
  try {
    await register(server, "alice", "right");
    const guess = chat("alice", "wrong", "--server", server.address);
    const asked = Date.now();
    await guess.endInput();
    assert.equal((await guess.exit()).code, 1);
    assert.deepEqual(guess.stderr.lines, [
      `parley chat: cannot log in to ${server.address} as alice: Wrong password`,
    ]);
    assert.ok(Date.now() - asked >= 50, "Expected the answer to be delayed");
    // The client said bye as it gave up; it did not just vanish.
    await server.stderr.waitFor((line) =>
      /Closed conn-\d+ 127\.0\.0\.1:\d+ -: client_left$/.test(line)
    );
    // Locked out now, even with the right password.
    const right = chat("alice", "right", "--server", server.address);
    await right.endInput();
    assert.equal((await right.exit()).code, 1);
    assert.match(
      right.stderr.lines.join("\n"),
      new RegExp(
        `^parley chat: cannot log in to ${server.address} as alice: Too many wrong passwords for this name from your address; try again in \\d+ s$`,
      ),
    );
  } finally {
    await server.stop();
    await cleanup();
  }
});

Deno.test("parley chat exits 1 when the input ends inside a continued message", async () => {
  const [dir, cleanup] = await tempDir();
  const server = await ServerProcess.start(dir);
  try {
    await register(server, "y", "pw-y");
    const file = `${dir}/unfinished.txt`;
    await Deno.writeTextFile(file, "@y a\\\nb\\\n");
    const result = await chatFromFile(file, "pw-x", [
      "--name",
      "x",
      "--server",
      server.address,
    ]);
    assert.equal(result.code, 1);
    const unfinished =
      "the input ended in the middle of a message (its last line ends in \\); it was not sent";
    assert.ok(
      result.stdout.includes(`*** ${unfinished}`),
      result.stdout.join("\n"),
    );
    assert.equal(result.stdout.filter(isTimed).length, 0, "nothing was sent");
    assert.equal(result.stderr, `parley chat: ${unfinished}\n`);
  } finally {
    await server.stop();
    await cleanup();
  }
});
