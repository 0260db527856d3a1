import assert from "node:assert/strict";
import { LineReader } from "./support/processes.ts";
import { RawClient } from "./support/raw_client.ts";
import { withServer } from "./support/server_fixture.ts";

Deno.test("json logs carry the message as text and the values as properties", async () => {
  await withServer(["--log-format", "json"], async ({ server, connect }) => {
    const zoe = await connect();
    assert.equal((await zoe.login("zoe", "pw")).type, "ready");
    const line = await server.stderr.waitFor('"logger":"parley.auth"');
    const record = JSON.parse(line);
    assert.equal(record.level, "info");
    assert.equal(record.message, `Registered zoe from ${zoe.local}`);
    assert.deepEqual(record.properties, { user: "zoe", remote: zoe.local });
  });
});

Deno.test("json logs give a new actor's transition from null, as debug --watch --json does", async () => {
  await withServer(
    ["--log-format", "json", "--log-level", "debug"],
    async ({ server, connect }) => {
      await connect();
      const line = await server.stderr.waitFor('"to":"unregistered"');
      const record = JSON.parse(line);
      assert.equal(record.logger, "parley.actor");
      assert.equal(record.message, "conn-1 (new) → unregistered (connected)");
      assert.equal(record.properties.from, null);
      assert.equal(record.properties.actor, "conn-1");
    },
  );
});

Deno.test("a server whose stderr reader went away keeps serving", async () => {
  // A log line written to a closed pipe used to end the server with status
  // 1, dropping every client, and with no word on where it could be read.
  const dir = await Deno.makeTempDir({ prefix: "parley-test-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-kv",
      new URL("../mod.ts", import.meta.url).pathname,
      "serve",
      "--port",
      "0",
      "--db",
      `${dir}/parley.db`,
      "--hash-cost",
      "1024",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  await child.stderr.cancel();
  const stdout = new LineReader(child.stdout);
  try {
    const line = await stdout.waitFor("listening on");
    const port = Number(line.slice(line.lastIndexOf(":") + 1));
    const first = await RawClient.connect(port);
    assert.equal((await first.login("amy", "pw")).type, "ready");
    first.close();
    await first.closed;
    const second = await RawClient.connect(port);
    assert.equal((await second.login("ben", "pw")).type, "ready");
    await second.send({ type: "who" });
    assert.deepEqual(await second.next("who", 0), {
      type: "who",
      users: ["ben"],
    });
    second.close();
    await second.closed;
  } finally {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    const status = await child.status;
    await stdout.finished;
    await Deno.remove(dir, { recursive: true });
    assert.equal(status.code, 0);
    assert.equal(stdout.lines.at(-1), "parley serve: shutting down");
  }
});
