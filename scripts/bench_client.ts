/**
 * A raw protocol client for the load generator: one TCP connection speaking
 * parley's NDJSON frames directly, with as little work per frame as the
 * measurements allow. It answers pings, acknowledges private messages with
 * one cumulative `ack` per read, and coalesces the frames written in one
 * turn into one socket write, like a real client would.
 *
 * @module
 */

import { PROTOCOL_VERSION } from "../protocol/frames.ts";
import { parseAddress } from "../transport/socket.ts";

const encoder = new TextEncoder();

/** One connection to a parley server (or to the no-op relay). */
export class BenchClient {
  readonly #conn: Deno.TcpConn;
  readonly #decoder = new TextDecoder();
  #rest = "";
  #out: string[] = [];
  #writing = false;
  #closed = false;
  #waiters: Array<{ type: string; resolve: (frame: unknown) => void }> = [];
  /** Called with each line not taken by a waiter. */
  onLine: (line: string) => void = () => {};
  /** Highest `seq` seen in this read, acked once the read is handled. */
  #ackUpTo = 0;
  readonly closed: Promise<void>;

  private constructor(conn: Deno.TcpConn, readBytes: number) {
    this.#conn = conn;
    conn.setNoDelay(true);
    this.closed = this.#readLoop(readBytes);
  }

  /**
   * Connects to `host:port`.
   *
   * @param readBytes Size of the read buffer: small for the thousands of
   * mostly idle clients, large for the busy ones.
   */
  static async connect(
    address: string,
    readBytes = 64 * 1024,
  ): Promise<BenchClient> {
    const parsed = parseAddress(address);
    if (parsed.transport !== "tcp") {
      throw new TypeError(`Expected a TCP address, found ${address}`);
    }
    const conn = await Deno.connect({
      hostname: parsed.hostname,
      port: parsed.port,
    });
    return new BenchClient(conn, readBytes);
  }

  /** Queues one frame; frames queued in one turn go out in one write. */
  sendLine(line: string): void {
    if (this.#closed) return;
    this.#out.push(line);
    if (!this.#writing) {
      this.#writing = true;
      queueMicrotask(() => this.#writeLoop());
    }
  }

  /** Queues one frame object. */
  send(frame: Record<string, unknown>): void {
    this.sendLine(JSON.stringify(frame));
  }

  /**
   * Logs in (registering if the name is new).
   *
   * @returns The `ready` frame.
   * @throws {Error} When the server answers with an error instead.
   */
  async login(
    name: string,
    password: string,
  ): Promise<{ stored: number }> {
    const auth = this.#nextOf(["auth", "error", "bye"]);
    this.send({ type: "hello", v: PROTOCOL_VERSION, name });
    const got = await auth as { type: string; text?: string };
    if (got.type !== "auth") {
      throw new Error(`Expected auth for ${name}, found ${got.type}`);
    }
    const ready = this.#nextOf(["ready", "error", "bye"]);
    this.send({ type: "password", password });
    const done = await ready as { type: string; text?: string; stored: number };
    if (done.type !== "ready") {
      throw new Error(
        `Expected ready for ${name}, found ${done.type}: ${done.text}`,
      );
    }
    return done;
  }

  #nextOf(types: string[]): Promise<unknown> {
    return new Promise((resolve) => {
      let settled = false;
      for (const type of types) {
        this.#waiters.push({
          type,
          resolve: (frame) => {
            if (settled) return;
            settled = true;
            this.#waiters = this.#waiters.filter((w) =>
              !types.includes(w.type)
            );
            resolve(frame);
          },
        });
      }
    });
  }

  /** Whether the connection is closed (by either side). */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** Closes the connection. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  async #writeLoop(): Promise<void> {
    try {
      while (this.#out.length > 0 && !this.#closed) {
        const bytes = encoder.encode(this.#out.join("\n") + "\n");
        this.#out = [];
        let offset = 0;
        while (offset < bytes.length) {
          offset += await this.#conn.write(bytes.subarray(offset));
        }
      }
    } catch {
      this.close();
    } finally {
      this.#writing = false;
    }
  }

  async #readLoop(readBytes: number): Promise<void> {
    const buffer = new Uint8Array(readBytes);
    try {
      while (!this.#closed) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        let text = this.#decoder.decode(buffer.subarray(0, n), {
          stream: true,
        });
        if (this.#rest) text = this.#rest + text;
        let start = 0;
        let end = text.indexOf("\n");
        while (end !== -1) {
          this.#line(text.slice(start, end));
          start = end + 1;
          end = text.indexOf("\n", start);
        }
        this.#rest = text.slice(start);
        if (this.#ackUpTo > 0) {
          this.sendLine(`{"type":"ack","seq":${this.#ackUpTo}}`);
          this.#ackUpTo = 0;
        }
      }
    } catch {
      // Reset or closed: the scenario notices missing frames.
    }
    this.close();
  }

  #line(line: string): void {
    // The server writes "type" first, so the type is at a fixed place.
    if (line.startsWith('{"type":"msg"')) {
      const at = line.lastIndexOf('"seq":');
      if (at !== -1) {
        const seq = parseInt(line.slice(at + 6), 10);
        if (seq > this.#ackUpTo) this.#ackUpTo = seq;
      }
    } else if (line === '{"type":"ping"}') {
      this.sendLine('{"type":"pong"}');
      return;
    }
    if (this.#waiters.length > 0) {
      const frame = JSON.parse(line) as { type: string };
      const at = this.#waiters.findIndex((w) => w.type === frame.type);
      if (at !== -1) {
        const [waiter] = this.#waiters.splice(at, 1);
        waiter.resolve(frame);
        return;
      }
    }
    this.onLine(line);
  }
}

/** Waits `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `make` for each item with at most `limit` running at once. */
export async function pool<T, R>(
  items: T[],
  limit: number,
  make: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await make(items[i], i);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, worker),
  );
  return results;
}

/** Latency summary in milliseconds. */
export interface Latency {
  p50: number;
  p99: number;
  max: number;
  count: number;
}

/** Percentiles of a list of milliseconds. */
export function summarise(samples: number[]): Latency {
  if (samples.length === 0) return { p50: NaN, p99: NaN, max: NaN, count: 0 };
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return {
    p50: round(at(0.5)),
    p99: round(at(0.99)),
    max: round(sorted[sorted.length - 1]),
    count: sorted.length,
  };
}

/** A message text of about `size` characters carrying its send time. */
export function stampedText(size: number): string {
  const stamp = performance.now().toFixed(3);
  return stamp + " " + "x".repeat(Math.max(0, size - stamp.length - 1));
}

/** The send time carried by a text made by {@linkcode stampedText}. */
export function stampOf(text: string): number {
  return parseFloat(text);
}

/** `x` to three decimals, as every figure of the benchmark is reported. */
export function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Clock ticks per second in `/proc/PID/stat` (USER_HZ on Linux). */
const CLOCK_TICKS = 100;

/** CPU seconds (user + system) in the text of a `/proc/PID/stat` file. */
export function cpuSeconds(stat: string): number {
  // Fields after the command name, which is in parentheses.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
