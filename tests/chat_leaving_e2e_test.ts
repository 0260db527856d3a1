/**
 * End to end: `parley chat` with piped input leaves only once it has what
 * it came for: the whole stored backlog shown and acknowledged, and the
 * server's answer to every message it sent.
 */

import assert from "node:assert/strict";
import { isTimed, tempDir, untimed } from "./support/output.ts";
import {
  chat,
  register,
  ServerProcess,
  storeBacklog,
} from "./support/processes.ts";

Deno.test("piped chat ending its input at once shows and acks the whole stored backlog", async () => {
  const [dir, cleanup] = await tempDir();
  const server = await ServerProcess.start(dir);
  try {
    await register(server, "eve", "pw");
    const lines = await storeBacklog(server, "eve", 500);

    const eve = chat("eve", "pw", "--server", server.address);
    await eve.endInput();
    const status = await eve.exit();
    assert.equal(status.code, 0, eve.stderr.lines.join("\n"));
    const shown = eve.stdout.lines.filter(isTimed).map((line) =>
      untimed(line).split(" ")[1]
    );
    assert.deepEqual(shown, lines.map((_, i) => `e${i}`));
    assert.ok(
      eve.stdout.lines.includes("*** 500 messages arrived while you were away"),
    );

    // Everything shown was acknowledged: nothing comes again.
    const again = chat("eve", "pw", "--server", server.address);
    await again.endInput();
    assert.equal((await again.exit()).code, 0);
    assert.deepEqual(again.stdout.lines, [
      `*** connected to ${server.address} as eve`,
      "*** disconnected: goodbye",
    ]);
  } finally {
    await server.stop();
    await cleanup();
  }
});

Deno.test("piped chat quitting right after sending waits for every answer", async () => {
  const [dir, cleanup] = await tempDir();
  const server = await ServerProcess.start(dir);
  try {
    const bob = chat("bob", "pw", "--server", server.address);
    await bob.stdout.waitFor("*** connected to");
    const alice = chat("alice", "pw", "--server", server.address);
    const lines = Array.from({ length: 40 }, (_, i) => `@bob quick ${i}`);
    await alice.type(...lines, "QUIT");
    const status = await alice.exit();
    assert.equal(status.code, 0, alice.stderr.lines.join("\n"));
    assert.deepEqual(
      alice.stdout.lines.filter(isTimed).map(untimed),
      lines.map((_, i) => `alice -> bob: quick ${i}`),
    );
    assert.deepEqual(
      alice.stdout.lines.filter((l) => l.includes("may not")),
      [],
    );
    await bob.endInput();
    assert.equal((await bob.exit()).code, 0);
  } finally {
    await server.stop();
    await cleanup();
  }
});
