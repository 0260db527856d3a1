/**
 * A real `parley serve` on a fresh temporary database, for end-to-end tests
 * that talk raw protocol: it hands out raw clients, and afterwards closes
 * them, checks that the server stops cleanly and removes the folder.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ServerProcess } from "./processes.ts";
import { RawClient } from "./raw_client.ts";

/** What a test gets from {@linkcode withServer}. */
export interface ServerFixture {
  server: ServerProcess;
  /** The temporary folder holding the database. */
  dir: string;
  /**
   * A raw client connected to the server, closed when the test ends.
   *
   * @param read false for a client that never reads.
   */
  connect(read?: boolean): Promise<RawClient>;
  /** Every client `connect` made, oldest first. */
  clients: readonly RawClient[];
}

/**
 * Runs `test` against a new server started with `flags`.
 *
 * @throws {AssertionError} When the server does not exit 0 on SIGTERM, or
 * its log shows an uncaught error or a panic.
 */
export async function withServer(
  flags: string[],
  test: (fixture: ServerFixture) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "parley-test-" });
  const server = await ServerProcess.start(dir, flags);
  const clients: RawClient[] = [];
  const connect = async (read = true) => {
    const client = await RawClient.connect(server.port, read);
    clients.push(client);
    return client;
  };
  try {
    await test({ server, dir, connect, clients });
  } finally {
    for (const client of clients) client.close();
    await Promise.all(clients.map((client) => client.closed));
    const status = await server.stop();
    await Deno.remove(dir, { recursive: true });
    const log = server.stderr.lines.join("\n");
    assert.equal(status.code, 0, log);
    // Whatever the test fed it, the server never crashed on it.
    assert.doesNotMatch(log, /Uncaught|unhandled|panicked|FATAL|FTL/i);
  }
}
