import assert from "node:assert/strict";
import { ParleyProcess } from "./support/processes.ts";

/** Runs `serve` expecting it to refuse to start; returns its stderr. */
async function failedStart(...args: string[]): Promise<string[]> {
  const server = new ParleyProcess(
    ["serve", "--port", "0", ...args],
    {},
    false,
  );
  const status = await server.exit();
  assert.equal(status.code, 1, server.stderr.lines.join("\n"));
  assert.deepEqual(server.stdout.lines, []);
  return server.stderr.lines;
}

Deno.test("serve on a port in use prints one line and exits 1", async () => {
  const dir = await Deno.makeTempDir();
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const { port } = taken.addr;
    assert.deepEqual(
      await failedStart("--port", String(port), "--db", `${dir}/p.db`),
      [
        `parley serve: 127.0.0.1:${port} is already in use; stop the other server or choose another --port`,
      ],
    );
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
      "parley serve: option '--host <host>' argument '999.1.1.1' is invalid. expected an IP address or a name that resolves, found no address for it (see --help)",
    ]);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
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
      /^parley serve: Cannot create the database folder .*\/file: /,
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
    assert.match(lines[0], /^parley serve: Cannot open the database /);
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
      `parley serve: Cannot open the database ${dir}/parley.db: file is not a database`,
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
      `parley serve: Database ${dir}/parley.db has schema version 99, this parley reads version 3; use a newer parley`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
