import assert from "node:assert/strict";
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
