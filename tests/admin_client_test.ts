import assert from "node:assert/strict";
import { AdminClient, AdminUnreachable } from "../cli/admin_client.ts";

Deno.test("AdminClient.request() gives up on a server that accepts but never answers", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/admin.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) accepted.push(conn);
  })();
  const client = await AdminClient.connect(`unix:${path}`, null);
  try {
    await assert.rejects(
      client.request({ type: "status" }, 200),
      (error: unknown) => {
        assert.ok(error instanceof AdminUnreachable);
        assert.equal(
          error.message,
          `no answer from unix:${path} within 0.2 s; is the server stopped or overloaded?`,
        );
        return true;
      },
    );
  } finally {
    client.close();
    for (const conn of accepted) conn.close();
    listener.close();
    await accepting.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("AdminClient.request() takes a reply far over the chat protocol's frame limit", async () => {
  // A status of a few hundred connections is over 64 KiB.
  const dir = await Deno.makeTempDir();
  const path = `${dir}/admin.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const users = Array.from({ length: 20_000 }, (_, i) => `user${i}`);
  const line = JSON.stringify({ type: "users", users }) + "\n";
  const serving = (async () => {
    const conn = await listener.accept();
    await conn.read(new Uint8Array(1024));
    const bytes = new TextEncoder().encode(line);
    for (let at = 0; at < bytes.length;) {
      at += await conn.write(bytes.subarray(at));
    }
    return conn;
  })();
  const client = await AdminClient.connect(`unix:${path}`, null);
  try {
    const reply = await client.request({ type: "users" }, 5_000);
    assert.ok(line.length > 200_000);
    assert.deepEqual(reply, { type: "users", users });
  } finally {
    client.close();
    (await serving).close();
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});
