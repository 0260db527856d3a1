import assert from "node:assert/strict";
import {
  adminSocketPath,
  listenPrivate,
  MAX_SOCKET_PATH,
} from "../server/admin_socket.ts";
import { SocketTransport } from "../transport/socket.ts";
import { tempDir } from "./support/output.ts";

Deno.test("admin socket is open to its owner only", async () => {
  const [dir, cleanup] = await tempDir();
  const path = `${dir}/p.db.admin.sock`;
  const listener = await listenPrivate(new SocketTransport(), path);
  try {
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  } finally {
    listener.close();
    await cleanup();
  }
});

Deno.test("admin socket left by a crashed server is replaced", async () => {
  const [dir, cleanup] = await tempDir();
  const path = `${dir}/p.db.admin.sock`;
  // A process that exits without closing its listener leaves the file.
  const crashed = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `Deno.listen({ transport: "unix", path: ${JSON.stringify(path)} });` +
      "Deno.exit(0);",
    ],
  }).output();
  assert.equal(crashed.code, 0);
  assert.ok((await Deno.lstat(path)).isSocket);
  const listener = await listenPrivate(new SocketTransport(), path);
  listener.close();
  await cleanup();
});

Deno.test("admin socket of a running server is not taken over", async () => {
  const [dir, cleanup] = await tempDir();
  const path = `${dir}/p.db.admin.sock`;
  const running = Deno.listen({ transport: "unix", path });
  try {
    await assert.rejects(
      listenPrivate(new SocketTransport(), path),
      Deno.errors.AddrInUse,
    );
  } finally {
    running.close();
    await cleanup();
  }
});

Deno.test("admin socket never replaces a file that is no socket", async () => {
  const [dir, cleanup] = await tempDir();
  const path = `${dir}/p.db.admin.sock`;
  await Deno.writeTextFile(path, "precious");
  try {
    await assert.rejects(
      listenPrivate(new SocketTransport(), path),
      Deno.errors.AlreadyExists,
    );
    assert.equal(await Deno.readTextFile(path), "precious");
  } finally {
    await cleanup();
  }
});

Deno.test("admin socket path moves to the runtime folder when too long", () => {
  const db = `/srv/${"d".repeat(100)}/parley.db`;
  const path = adminSocketPath(db)!;
  assert.ok(path.length <= MAX_SOCKET_PATH, path);
  assert.match(path, /\/parley-admin-[0-9a-f]{16}\.sock$/);
  assert.equal(adminSocketPath(db), path);
  assert.notEqual(adminSocketPath(db + "2"), path);
});

Deno.test("adminSocketPath() gives a symlinked database the socket of its file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a.db`, "");
    await Deno.symlink(`${dir}/a.db`, `${dir}/link.db`);
    const real = Deno.realPathSync(`${dir}/a.db`);
    assert.equal(adminSocketPath(`${dir}/link.db`), `${real}.admin.sock`);
    assert.equal(adminSocketPath(`${dir}/./a.db`), `${real}.admin.sock`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
