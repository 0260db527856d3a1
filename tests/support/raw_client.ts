/**
 * A client that speaks the parley protocol directly over a TCP socket, for
 * end-to-end tests that need a client in a precise state: one that never
 * logs in, or one that logs in and then falls silent.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A frame received from the server. */
export type Frame = { type: string; [field: string]: unknown };

/** A raw protocol client. */
export class RawClient {
  readonly frames: Frame[] = [];
  /** This end's address as the server sees it: `127.0.0.1:PORT`. */
  readonly local: string;
  readonly #conn: Deno.TcpConn;
  readonly #reading: Promise<void>;
  #closed = false;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    const addr = conn.localAddr as Deno.NetAddr;
    this.local = `${addr.hostname}:${addr.port}`;
    this.#reading = this.#read();
  }

  /** Connects to a server on 127.0.0.1. */
  static async connect(port: number): Promise<RawClient> {
    return new RawClient(
      await Deno.connect({ hostname: "127.0.0.1", port }),
    );
  }

  async #read(): Promise<void> {
    let rest = "";
    const buffer = new Uint8Array(65_536);
    try {
      while (true) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        rest += decoder.decode(buffer.subarray(0, n), { stream: true });
        const lines = rest.split("\n");
        rest = lines.pop()!;
        for (const line of lines) if (line) this.frames.push(JSON.parse(line));
      }
    } catch {
      // Closed by us.
    }
    this.#closed = true;
  }

  /** Sends one frame. */
  async send(frame: Frame): Promise<void> {
    await this.#conn.write(encoder.encode(JSON.stringify(frame) + "\n"));
  }

  /**
   * Waits for a frame of `type`, and returns it.
   *
   * @throws {Error} After `timeoutMs`, listing the frames seen.
   */
  async waitFor(type: string, timeoutMs = 10_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const found = this.frames.find((f) => f.type === type);
      if (found) return found;
      if (Date.now() > deadline) {
        throw new Error(
          `No "${type}" frame within ${timeoutMs} ms; saw ${
            JSON.stringify(this.frames)
          }`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Waits until the server closes the connection. */
  async waitForClose(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed) {
      if (Date.now() > deadline) {
        throw new Error(`Connection still open after ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Registers or logs in as `name`, waiting for `ready`. */
  async login(name: string, password: string): Promise<void> {
    await this.send({ type: "hello", v: 1, name });
    await this.waitFor("auth");
    await this.send({ type: "password", password });
    await this.waitFor("ready");
  }

  /** Closes the socket and waits for the read loop to end. */
  async close(): Promise<void> {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    await this.#reading;
  }
}
