/**
 * Real parley processes for end-to-end tests: a `serve` on a free port with
 * its database in a temporary folder, and `chat` clients fed through stdin.
 *
 * Processes are started with `Deno.execPath()`, the real deno binary, so a
 * signal reaches the process itself.
 *
 * @module
 */

import assert from "node:assert/strict";

const MOD = new URL("../../mod.ts", import.meta.url).pathname;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Reads a process's output stream line by line, keeping every line. */
export class LineReader {
  readonly lines: string[] = [];
  #waiters: Array<() => void> = [];
  #done = false;
  readonly finished: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.finished = this.#pump(stream);
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    let rest = "";
    for await (const chunk of stream) {
      rest += decoder.decode(chunk, { stream: true });
      const parts = rest.split("\n");
      rest = parts.pop()!;
      this.lines.push(...parts);
      for (const wake of this.#waiters.splice(0)) wake();
    }
    if (rest) this.lines.push(rest);
    this.#done = true;
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /**
   * Waits until a line matches, and returns it.
   *
   * @throws {Error} After `timeoutMs`, listing what was seen.
   */
  async waitFor(
    match: string | RegExp | ((line: string) => boolean),
    timeoutMs = 10_000,
  ): Promise<string> {
    const test = typeof match === "function"
      ? match
      : typeof match === "string"
      ? (line: string) => line.includes(match)
      : (line: string) => match.test(line);
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const found = this.lines.find(test);
      if (found !== undefined) return found;
      if (this.#done || Date.now() > deadline) {
        throw new Error(
          `No line matching ${match} within ${timeoutMs} ms; saw:\n${
            this.lines.join("\n")
          }`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits until `count` lines match. */
  async waitForCount(
    test: (line: string) => boolean,
    count: number,
    timeoutMs = 10_000,
  ): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const found = this.lines.filter(test);
      if (found.length >= count) return found;
      if (this.#done || Date.now() > deadline) {
        throw new Error(
          `Saw ${found.length} of ${count} lines within ${timeoutMs} ms:\n${
            this.lines.join("\n")
          }`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** A running parley process. */
export class ParleyProcess {
  readonly child: Deno.ChildProcess;
  readonly stdout: LineReader;
  readonly stderr: LineReader;
  readonly #stdin?: WritableStreamDefaultWriter<Uint8Array>;

  constructor(args: string[], env: Record<string, string> = {}, stdin = true) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-kv", MOD, ...args],
      stdin: stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", TZ: "UTC", ...env },
    }).spawn();
    this.stdout = new LineReader(this.child.stdout);
    this.stderr = new LineReader(this.child.stderr);
    if (stdin) this.#stdin = this.child.stdin.getWriter();
  }

  /** Writes lines to the process's stdin. */
  async type(...lines: string[]): Promise<void> {
    await this.#stdin!.write(
      encoder.encode(lines.map((l) => l + "\n").join("")),
    );
  }

  /** Closes stdin: end of input. */
  async endInput(): Promise<void> {
    await this.#stdin?.close().catch(() => {});
  }

  /** Sends a signal, ignoring a process that already exited. */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.child.kill(signal);
    } catch {
      // Already gone.
    }
  }

  /** Waits for exit and for both output streams to end. */
  async exit(): Promise<Deno.CommandStatus> {
    await this.#stdin?.close().catch(() => {});
    const status = await this.child.status;
    await Promise.all([this.stdout.finished, this.stderr.finished]);
    return status;
  }
}

/** A `parley serve` process on a free port. */
export class ServerProcess extends ParleyProcess {
  address = "";
  readonly db: string;

  private constructor(args: string[], db: string) {
    super(args, {}, false);
    this.db = db;
  }

  /**
   * Starts a server with its database under `dir` and waits until it
   * listens. Tests share one address, so the per-address registration
   * limit and the message rate limit are lifted; `extra` may set them.
   *
   * @param extra More flags for `serve`; they override the ones before.
   */
  static async start(
    dir: string,
    extra: string[] = [],
    port = 0,
  ): Promise<ServerProcess> {
    const db = `${dir}/parley.db`;
    const server = new ServerProcess([
      "serve",
      "--port",
      String(port),
      "--db",
      db,
      "--hash-cost",
      "1024",
      "--register-limit",
      "1000000",
      "--rate-limit",
      "0",
      ...extra,
    ], db);
    try {
      const line = await server.stdout.waitFor("listening on", 20_000);
      server.address = line.slice(line.lastIndexOf(" ") + 1);
    } catch (error) {
      server.kill("SIGKILL");
      await server.exit();
      throw new Error(
        `Server did not start:\n${server.stderr.lines.join("\n")}`,
        { cause: error },
      );
    }
    return server;
  }

  /** The port it listens on. */
  get port(): number {
    return Number(this.address.slice(this.address.lastIndexOf(":") + 1));
  }

  /** SIGTERM and wait. */
  async stop(): Promise<Deno.CommandStatus> {
    this.kill("SIGTERM");
    return await this.exit();
  }
}

/** A `parley chat` process fed through stdin (unattended mode). */
export function chat(
  name: string,
  password: string,
  ...flags: string[]
): ParleyProcess {
  return new ParleyProcess(["chat", "--name", name, ...flags], {
    PARLEY_PASSWORD: password,
  });
}

/** Registers `name` with `password` by a piped `parley chat` that leaves. */
export async function register(
  server: ServerProcess,
  name: string,
  password: string,
): Promise<void> {
  const client = chat(name, password, "--server", server.address);
  await client.stdout.waitFor("*** connected to");
  await client.endInput();
  assert.equal((await client.exit()).code, 0);
}

/**
 * Stores `count` messages of about 1 KB for `to`, registered and offline,
 * sent by a piped `parley chat` as alice (password `pw`).
 *
 * @returns The lines alice typed: `@to eN xxx…`.
 */
export async function storeBacklog(
  server: ServerProcess,
  to: string,
  count: number,
): Promise<string[]> {
  const pad = "x".repeat(1000);
  const lines = Array.from({ length: count }, (_, i) => `@${to} e${i} ${pad}`);
  const alice = chat("alice", "pw", "--server", server.address);
  await alice.type(...lines);
  await alice.endInput();
  assert.equal((await alice.exit()).code, 0, alice.stderr.lines.join("\n"));
  return lines;
}
