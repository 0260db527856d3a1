/**
 * End to end: `parley chat` with piped input stopped from outside, by the
 * reader of its output going away or by a signal, leaves the server with
 * a bye and exits with the status a shell would report, without a stack
 * trace.
 */

import assert from "node:assert/strict";
import { tempDir } from "./support/output.ts";
import {
  chat,
  register,
  ServerProcess,
  storeBacklog,
} from "./support/processes.ts";

const MOD = new URL("../mod.ts", import.meta.url).pathname;
const decoder = new TextDecoder();

/** Waits for the server to log that `name` left with a bye. */
async function saidBye(server: ServerProcess, name: string): Promise<void> {
  await server.stderr.waitFor(
    new RegExp(`Closed conn-\\d+ \\S+ ${name}: client_left$`),
  );
}

/**
 * Starts `parley chat` with `args` and `input` piped, its stdout read
 * until `lines` lines came and then closed, as `| head -N` does.
 *
 * @returns The status, the lines read and everything on stderr.
 */
async function headOf(
  args: string[],
  input: string,
  lines: number,
): Promise<{ code: number; read: string[]; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-kv", MOD, "chat", ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", TZ: "UTC", PARLEY_PASSWORD: "pw" },
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const reader = child.stdout.getReader();
  let text = "";
  while (text.split("\n").length <= lines) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  await reader.cancel();
  const { code } = await child.status;
  return {
    code,
    read: text.split("\n").slice(0, lines),
    stderr: await stderr,
  };
}

Deno.test("piped chat whose reader goes away leaves with bye and exits 141, without a stack trace", async () => {
  // It used to die of an uncaught BrokenPipe, status 1 and a stack trace
  // on stderr, without a bye.
  const [dir, cleanup] = await tempDir();
  const server = await ServerProcess.start(dir);
  try {
    await register(server, "eve", "pw");
    // More than a pipe holds, so the client is still writing when the
    // reader goes.
    await storeBacklog(server, "eve", 200);

    const result = await headOf(
      ["--name", "eve", "--server", server.address],
      "WHO\n",
      2,
    );
    assert.deepEqual(result.read, [
      `*** connected to ${server.address} as eve`,
      "*** 200 messages arrived while you were away",
    ]);
    assert.equal(result.stderr, "");
    assert.equal(result.code, 141);
    await saidBye(server, "eve");
  } finally {
    await server.stop();
    await cleanup();
  }
});

Deno.test("piped chat on SIGTERM leaves with bye and exits 143", async () => {
  const [dir, cleanup] = await tempDir();
  const server = await ServerProcess.start(dir);
  try {
    const eve = chat("eve", "pw", "--server", server.address);
    await eve.stdout.waitFor("*** registered new account eve");
    eve.kill("SIGTERM");
    const status = await eve.exit();
    assert.deepEqual(eve.stdout.lines, [
      `*** connected to ${server.address} as eve`,
      "*** registered new account eve",
      "*** disconnected: goodbye",
    ]);
    assert.deepEqual(eve.stderr.lines, []);
    assert.equal(status.code, 143);
    await saidBye(server, "eve");
  } finally {
    await server.stop();
    await cleanup();
  }
});

Deno.test("chat --help whose reader is gone before it writes exits 0, without a stack trace", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-kv", MOD, "chat", "--help"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await child.stdout.cancel();
  const stderr = await new Response(child.stderr).text();
  assert.equal(stderr, "");
  assert.equal((await child.status).code, 0);
});
