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
