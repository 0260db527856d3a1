/**
 * A raw TCP client for end-to-end tests: writes exact bytes to a real
 * server and collects every frame it answers, so tests can feed malformed
 * input that no well-behaved client would send.
 *
 * @module
 */

const encoder = new TextEncoder();

/** One frame received from the server, parsed. */
// deno-lint-ignore no-explicit-any
export type Received = Record<string, any>;

/** A TCP connection to a parley server that speaks raw bytes. */
export class RawClient {
  readonly conn: Deno.TcpConn;
  /** This end's address as the server sees it: `127.0.0.1:PORT`. */
  readonly local: string;
  readonly frames: Received[] = [];
  /** Lines the server sent that were not JSON (there should be none). */
  readonly garbage: string[] = [];
  readonly closed: Promise<void>;
  #reading = true;

  private constructor(conn: Deno.TcpConn, read: boolean) {
    this.conn = conn;
    const addr = conn.localAddr as Deno.NetAddr;
    this.local = `${addr.hostname}:${addr.port}`;
    this.closed = read ? this.#pump() : Promise.resolve();
    this.#reading = read;
  }

  /**
   * Connects to `port` on 127.0.0.1.
   *
   * @param read false for a client that never reads (a slow consumer).
   */
  static async connect(port: number, read = true): Promise<RawClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    return new RawClient(conn, read);
  }

  async #pump(): Promise<void> {
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(64 * 1024);
    let rest = "";
    try {
      while (true) {
        const n = await this.conn.read(buffer);
        if (n === null) break;
        rest += decoder.decode(buffer.subarray(0, n), { stream: true });
        const lines = rest.split("\n");
        rest = lines.pop()!;
        for (const line of lines) {
          try {
            this.frames.push(JSON.parse(line));
          } catch {
            this.garbage.push(line);
          }
        }
      }
    } catch {
      // Reset or closed by us: the frames so far are what arrived.
    }
    this.#reading = false;
  }

  /** Whether the server has closed the connection (as seen by reading). */
  get ended(): boolean {
    return !this.#reading;
  }

  /** Writes bytes or text exactly as given. */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    let offset = 0;
    while (offset < bytes.length) {
      offset += await this.conn.write(bytes.subarray(offset));
    }
  }

  /** Writes frames, one JSON line each, in one write. */
  async send(...frames: unknown[]): Promise<void> {
    await this.write(frames.map((f) => JSON.stringify(f) + "\n").join(""));
  }

  /**
   * Waits until a frame matches and returns it; frames matched before are
   * skipped when `after` is given.
   *
   * @throws {Error} After `timeoutMs`, listing what arrived.
   */
  async waitFor(
    match: string | ((frame: Received) => boolean),
    timeoutMs = 10_000,
    after = 0,
  ): Promise<Received> {
    const test = typeof match === "string"
      ? (frame: Received) => frame.type === match
      : match;
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const found = this.frames.slice(after).find(test);
      if (found) return found;
      if (Date.now() > deadline || (this.ended && !this.frames.some(test))) {
        throw new Error(
          `No matching frame within ${timeoutMs} ms; got:\n${
            this.frames.map((f) => JSON.stringify(f).slice(0, 200)).join("\n")
          }`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Waits for the next frame of `type` after the first `after` frames. */
  next(type: string, after = this.frames.length, timeoutMs = 10_000) {
    return this.waitFor((f) => f.type === type, timeoutMs, after);
  }

  /** Waits until the server closes the connection. */
  async waitClosed(timeoutMs = 10_000): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.closed,
      new Promise((_, reject) =>
        timer = setTimeout(
          () => reject(new Error(`Still open after ${timeoutMs} ms`)),
          timeoutMs,
        )
      ),
    ]).finally(() => clearTimeout(timer));
  }

  /**
   * Logs in (registering if the name is new) and waits for `ready`.
   *
   * @returns The `ready` frame.
   */
  async login(name: string, password: string): Promise<Received> {
    const start = this.frames.length;
    await this.send({ type: "hello", v: 1, name });
    const answer = await this.waitFor(
      (f) => f.type === "auth" || f.type === "error",
      10_000,
      start,
    );
    // A name may be refused before a password is asked for.
    if (answer.type === "error") return answer;
    await this.send({ type: "password", password });
    return await this.waitFor(
      (f) => f.type === "ready" || f.type === "error" || f.type === "bye",
      10_000,
      start,
    );
  }

  /** Closes, ignoring a connection already closed. */
  close(): void {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }

  /** Closes and waits for the reader to stop. */
  async end(): Promise<void> {
    this.close();
    await this.closed;
  }
}
