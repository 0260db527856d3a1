import assert from "node:assert/strict";
import { adminSocketPath } from "../server/admin_socket.ts";
import { chat, ParleyProcess, ServerProcess } from "./support/processes.ts";

/** Runs `serve` expecting it to refuse to start; returns its stderr. */
async function failedStart(...args: string[]): Promise<string[]> {
  const server = new ParleyProcess(
    ["serve", "--port", "0", ...args],
    {},
    false,
  );
  // A server that starts after all is stopped, so the test fails instead of
  // waiting for it forever.
  const timer = setTimeout(() => server.kill("SIGKILL"), 20_000);
  const status = await server.exit();
  clearTimeout(timer);
  assert.equal(status.code, 1, server.stderr.lines.join("\n"));
  assert.deepEqual(server.stdout.lines, []);
  return server.stderr.lines;
}

Deno.test("serve on a port in use prints one line, exits 1 and leaves no database or netlog behind", async () => {
  const dir = await Deno.makeTempDir();
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const { port } = taken.addr;
    assert.deepEqual(
      await failedStart(
        "--port",
        String(port),
        "--db",
        `${dir}/new/p.db`,
        "--netlog",
        `${dir}/net.log`,
      ),
      [
        `parley serve: 127.0.0.1:${port} is already in use; stop the other server or choose another --port`,
      ],
    );
    assert.deepEqual(
      [...Deno.readDirSync(dir)],
      [],
      "neither the database, the folder made for it nor the netlog",
    );
  } finally {
    taken.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve on a port in use leaves a netlog that another server writes as it was", async () => {
  // It used to append its own start and stop lines, in the middle of the
  // running server's frames.
  const dir = await Deno.makeTempDir();
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const netlog = `${dir}/net.log`;
    const before = "2026-12-03T13:09:18.362Z in conn-1 127.0.0.1:5 - {}\n";
    await Deno.writeTextFile(netlog, before);
    await failedStart(
      "--port",
      String(taken.addr.port),
      "--db",
      `${dir}/p.db`,
      "--netlog",
      netlog,
    );
    assert.equal(await Deno.readTextFile(netlog), before);
  } finally {
    taken.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve with a host that does not resolve names the flag and exits 2", async () => {
  // It used to open the database, fail to listen and exit 1 with the
  // resolver's words, as if the machine were at fault.
  const dir = await Deno.makeTempDir();
  try {
    const server = new ParleyProcess(
      ["serve", "--port", "0", "--db", `${dir}/p.db`, "--host", "999.1.1.1"],
      {},
      false,
    );
    const status = await server.exit();
    assert.equal(status.code, 2);
    assert.deepEqual(server.stdout.lines, []);
    assert.deepEqual(server.stderr.lines, [
      "parley serve: option '--host <host>': expected an IP address or a name that resolves, found \"999.1.1.1\", which has no address (see --help)",
    ]);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve takes an IPv6 host in brackets, as it prints it", async () => {
  // `--host ::1` worked and printed `[::1]:PORT`, but `--host [::1]` was
  // refused as a name with no address.
  const dir = await Deno.makeTempDir();
  const server = await ServerProcess.start(dir, ["--host", "[::1]"]);
  try {
    assert.equal(server.address, `[::1]:${server.port}`);
    const client = chat("ivy", "pw", "--server", server.address);
    await client.type("WHO");
    await client.endInput();
    assert.equal((await client.exit()).code, 0);
    assert.deepEqual(client.stdout.lines, [
      `*** connected to [::1]:${server.port} as ivy`,
      "*** registered new account ivy",
      "*** online: ivy",
      "*** disconnected: goodbye",
    ]);
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve with a database path it cannot create prints one line and exits 1", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/file`, "not a folder");
  try {
    const lines = await failedStart("--db", `${dir}/file/parley.db`);
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(
      lines[0],
      /^parley serve: cannot create the database folder .*\/file: a file stands where a folder of that path should be$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve says why a path fails in plain words, without Deno's os error and call", async () => {
  // They used to end in "(os error 2): mkdir '/proc/nope'".
  assert.deepEqual(await failedStart("--db", "/proc/nope/parley.db"), [
    "parley serve: cannot create the database folder /proc/nope: No such file or directory",
  ]);
  const dir = await Deno.makeTempDir();
  try {
    assert.deepEqual(
      await failedStart(
        "--db",
        `${dir}/parley.db`,
        "--netlog",
        "/proc/nope/net.log",
      ),
      [
        "parley serve: cannot write the netlog /proc/nope/net.log: No such file or directory (--netlog)",
      ],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve with a folder as its database prints one line and exits 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const lines = await failedStart("--db", dir);
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0], /^parley serve: cannot open the database /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve with a corrupt database file prints one line and exits 1", async () => {
  const dir = await Deno.makeTempDir();
  const garbage = new Uint8Array(8192);
  for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919) % 251;
  await Deno.writeFile(`${dir}/parley.db`, garbage);
  try {
    assert.deepEqual(await failedStart("--db", `${dir}/parley.db`), [
      `parley serve: cannot open the database ${dir}/parley.db: file is not a database`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve with a database of a newer schema prints one line and exits 1", async () => {
  const dir = await Deno.makeTempDir();
  const kv = await Deno.openKv(`${dir}/parley.db`);
  await kv.set(["schema"], 99);
  kv.close();
  try {
    assert.deepEqual(await failedStart("--db", `${dir}/parley.db`), [
      `parley serve: database ${dir}/parley.db has schema version 99, this parley reads version 3; use a newer parley`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A schema 2 database holding one stored message for bob, as parley 2 left it. */
async function schema2Database(path: string): Promise<void> {
  const kv = await Deno.openKv(path);
  await kv.set(["schema"], 2);
  await kv.set(["mailbox", "bob"], { next: 2, first: 1, expiredUnread: 0 });
  await kv.set(["message", "bob", 1], [{
    seq: 1,
    from: "alice",
    fromKey: "alice",
    to: "bob",
    ts: 5,
    text: "hi",
    id: "1",
  }]);
  kv.close();
}

/** The schema and the keys of stored messages, as they are on disk. */
async function onDisk(path: string): Promise<[unknown, Deno.KvKey[]]> {
  const kv = await Deno.openKv(path);
  try {
    const keys = [];
    for (const prefix of ["message", "chunk"]) {
      for await (const { key } of kv.list({ prefix: [prefix] })) keys.push(key);
    }
    return [(await kv.get(["schema"])).value, keys];
  } finally {
    kv.close();
  }
}

Deno.test("serve that cannot start leaves an older database as it was", async () => {
  // Another program on the port: the older database must not be upgraded
  // under a server of an older parley that may be using it.
  const dir = await Deno.makeTempDir();
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await schema2Database(`${dir}/parley.db`);
    const { port } = taken.addr;
    assert.deepEqual(
      await failedStart("--port", String(port), "--db", `${dir}/parley.db`),
      [
        `parley serve: 127.0.0.1:${port} is already in use; stop the other server or choose another --port`,
      ],
    );
    assert.deepEqual(await onDisk(`${dir}/parley.db`), [2, [[
      "message",
      "bob",
      1,
    ]]]);
  } finally {
    taken.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve on a database whose admin socket answers (an older parley's server) exits 1 and leaves it as it was", async () => {
  const dir = await Deno.makeTempDir();
  const db = `${dir}/parley.db`;
  await schema2Database(db);
  const socket = adminSocketPath(db)!;
  const older = Deno.listen({ transport: "unix", path: socket });
  try {
    assert.deepEqual(await failedStart("--db", db), [
      `parley serve: database ${db} is in use: Another server answers on ${socket}; stop it or use another --db`,
    ]);
    assert.deepEqual(await onDisk(db), [2, [["message", "bob", 1]]]);
  } finally {
    older.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve on a database another server has open under another name (a hard link) exits 1", async () => {
  const dir = await Deno.makeTempDir();
  const first = await ServerProcess.start(dir);
  try {
    await Deno.link(first.db, `${dir}/hard.db`);
    assert.deepEqual(await failedStart("--db", `${dir}/hard.db`), [
      `parley serve: database ${dir}/hard.db is in use by another parley server; stop it or use another --db`,
    ]);
  } finally {
    assert.equal((await first.stop()).code, 0);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve that cannot offer parley debug exits 1 and removes the database it made", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // A plain file where the admin socket goes.
    await Deno.writeTextFile(`${dir}/p.db.admin.sock`, "");
    const stderr = await failedStart("--db", `${dir}/p.db`);
    assert.equal(stderr.length, 1);
    assert.match(stderr[0], /^parley serve: cannot offer parley debug on /);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((entry) => entry.name),
      ["p.db.admin.sock"],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve whose TCP admin port is taken names that address alone", async () => {
  const dir = await Deno.makeTempDir();
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await Deno.writeTextFile(`${dir}/token`, "a-long-enough-secret\n");
    const admin = `127.0.0.1:${taken.addr.port}`;
    const stderr = await failedStart(
      "--db",
      `${dir}/p.db`,
      "--admin",
      admin,
      "--admin-token-file",
      `${dir}/token`,
    );
    assert.equal(stderr.length, 1);
    assert.match(
      stderr[0],
      new RegExp(`^parley serve: cannot offer parley debug on ${admin}: `),
    );
  } finally {
    taken.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve that cannot offer parley debug leaves an older database as it was", async () => {
  // parley debug listens before the database is opened: an upgrade must not
  // happen under a start that fails.
  const dir = await Deno.makeTempDir();
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await schema2Database(`${dir}/parley.db`);
    await Deno.writeTextFile(`${dir}/token`, "a-long-enough-secret\n");
    const admin = `127.0.0.1:${taken.addr.port}`;
    const stderr = await failedStart(
      "--db",
      `${dir}/parley.db`,
      "--admin",
      admin,
      "--admin-token-file",
      `${dir}/token`,
    );
    assert.match(stderr.join("\n"), /cannot offer parley debug on /);
    assert.deepEqual(await onDisk(`${dir}/parley.db`), [2, [[
      "message",
      "bob",
      1,
    ]]]);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((entry) => entry.name).sort(),
      ["parley.db", "token"],
      "no admin socket left behind",
    );
  } finally {
    taken.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve on a dangling symbolic link makes the file it points to", async () => {
  // A link set up ahead of the first start (/var/lib/parley.db → a data
  // disk) used to fail with "No such file or directory".
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/data`);
    await Deno.symlink(`${dir}/data/real.db`, `${dir}/parley.db`);
    const server = await ServerProcess.start(dir);
    await server.stop();
    assert.ok((await Deno.stat(`${dir}/data/real.db`)).size > 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
