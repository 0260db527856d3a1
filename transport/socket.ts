/**
 * The transport over Deno's sockets: TCP for `host:port` addresses and Unix
 * domain sockets for `unix:PATH`.
 *
 * @module
 */

import { LineDecoder } from "../protocol/line_decoder.ts";
import {
  type CloseCause,
  DEFAULT_MAX_QUEUED_BYTES,
  type Link,
  type LinkHandler,
  type LinkOptions,
  type Listener,
  type Transport,
} from "./transport.ts";

const encoder = new TextEncoder();
/**
 * Read buffer sizes. Each waiting read holds its buffer, so 10,000 idle
 * connections with 64 KiB each would hold 640 MiB: a link starts small and
 * grows its buffer only when a read fills it (a busy sender). 512 bytes
 * hold a login or a ping's answer; starting at 2 KiB cost 1.5 KiB more per
 * idle connection.
 */
const MIN_READ_BYTES = 512;
const MAX_READ_BYTES = 64 * 1024;

/** A parsed transport address. */
export type SocketAddress =
  | { transport: "tcp"; hostname: string; port: number }
  | { transport: "unix"; path: string };

/**
 * Parses `host:port`, `[v6]:port` or `unix:PATH`.
 *
 * @throws {SyntaxError} When the address has none of these forms.
 *
 * @example
 * ```ts
 * import { parseAddress } from "./socket.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseAddress("127.0.0.1:1998"), {
 *   transport: "tcp",
 *   hostname: "127.0.0.1",
 *   port: 1998,
 * });
 * ```
 */
export function parseAddress(address: string): SocketAddress {
  if (address.startsWith("unix:")) {
    const path = address.slice(5);
    if (path === "") throw new SyntaxError("Expected unix:PATH, found no path");
    return { transport: "unix", path };
  }
  const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(address);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new SyntaxError(
      `Expected HOST:PORT with a port from 0 to 65535, found "${address}"`,
    );
  }
  return { transport: "tcp", hostname: match[1] ?? match[2], port };
}

/** Formats a Deno network address as parley writes addresses. */
export function formatAddress(addr: Deno.Addr): string {
  if (addr.transport === "tcp" || addr.transport === "udp") {
    const host = addr.hostname.includes(":")
      ? `[${addr.hostname}]`
      : addr.hostname;
    return `${host}:${addr.port}`;
  }
  return "path" in addr ? `unix:${addr.path}` : addr.transport;
}

/** {@linkcode Transport} over TCP and Unix sockets. */
export class SocketTransport implements Transport {
  readonly #options: LinkOptions;

  /** @param options Limits applied to every link. */
  constructor(options: LinkOptions = {}) {
    this.#options = options;
  }

  /** Listens on TCP (`host:port`, port 0 picks one) or a Unix socket. */
  listen(address: string): Promise<Listener> {
    const parsed = parseAddress(address);
    const listener = parsed.transport === "tcp"
      ? Deno.listen({ hostname: parsed.hostname, port: parsed.port })
      : Deno.listen({ transport: "unix", path: parsed.path });
    return Promise.resolve(new SocketListener(listener, this.#options));
  }

  /** Connects to `host:port` or `unix:PATH`. */
  async connect(address: string): Promise<Link> {
    const parsed = parseAddress(address);
    const conn = parsed.transport === "tcp"
      ? await Deno.connect({ hostname: parsed.hostname, port: parsed.port })
      : await Deno.connect({ transport: "unix", path: parsed.path });
    return new SocketLink(conn, this.#options);
  }
}

class SocketListener implements Listener {
  readonly address: string;
  readonly #listener: Deno.Listener;
  readonly #options: LinkOptions;
  #closed = false;

  constructor(listener: Deno.Listener, options: LinkOptions) {
    this.#listener = listener;
    this.#options = options;
    this.address = formatAddress(listener.addr);
  }

  async accept(): Promise<Link | null> {
    while (!this.#closed) {
      try {
        const conn = await this.#listener.accept();
        return new SocketLink(conn, this.#options);
      } catch (error) {
        if (this.#closed) return null;
        // Too many open files and similar are passing: wait and go on.
        if (!(error instanceof Deno.errors.BadResource)) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          continue;
        }
        return null;
      }
    }
    return null;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
  }
}

/** A link over one Deno connection. */
export class SocketLink implements Link {
  readonly remote: string;
  readonly #conn: Deno.Conn;
  readonly #decoder: LineDecoder;
  readonly #maxQueued: number;
  #handler?: LinkHandler;
  /** Frames queued since the last write began, each ended by a newline. */
  #pending = "";
  #pendingBytes = 0;
  #inFlightBytes = 0;
  #writing = false;
  #closed = false;
  /** Waiting for the queue to drain; made when `end` first waits. */
  #drained: Array<() => void> | undefined;

  constructor(conn: Deno.Conn, options: LinkOptions = {}) {
    this.#conn = conn;
    this.remote = formatAddress(conn.remoteAddr);
    this.#decoder = new LineDecoder(options.maxFrameBytes);
    this.#maxQueued = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
  }

  get queuedBytes(): number {
    return this.#pendingBytes + this.#inFlightBytes;
  }

  read(handler: LinkHandler): void {
    if (this.#handler) throw new Error("Link is already being read");
    this.#handler = handler;
    this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    let buffer = new Uint8Array(MIN_READ_BYTES);
    try {
      while (!this.#closed) {
        const n = await this.#conn.read(buffer);
        if (n === null) return this.#shutdown("eof");
        const frames = this.#decoder.push(buffer.subarray(0, n));
        if (n === buffer.length && n < MAX_READ_BYTES) {
          buffer = new Uint8Array(Math.min(4 * n, MAX_READ_BYTES));
        }
        if (frames.length > 0 && !this.#closed) this.#handler!.onFrames(frames);
      }
    } catch {
      this.#shutdown("error");
    }
  }

  send(frame: string): boolean {
    if (this.#closed) return false;
    // Appending builds a rope that the encoder flattens once: no array of
    // frames and no joined copy.
    this.#pending += frame + "\n";
    // Counted in UTF-16 units: close enough to bytes for a limit.
    this.#pendingBytes += frame.length + 1;
    if (this.queuedBytes > this.#maxQueued) {
      this.#shutdown("overflow");
      return false;
    }
    if (!this.#writing) {
      this.#writing = true;
      queueMicrotask(() => this.#writeLoop());
    }
    return true;
  }

  async #writeLoop(): Promise<void> {
    try {
      while (this.#pending.length > 0 && !this.#closed) {
        const bytes = encoder.encode(this.#pending);
        this.#pending = "";
        this.#pendingBytes = 0;
        this.#inFlightBytes = bytes.length;
        // Nearly always written whole at the first try.
        let offset = await this.#conn.write(bytes);
        while (offset < bytes.length) {
          this.#inFlightBytes = bytes.length - offset;
          offset += await this.#conn.write(bytes.subarray(offset));
        }
      }
    } catch {
      this.#shutdown("error");
    } finally {
      this.#writing = false;
      this.#inFlightBytes = 0;
      this.#resolveDrained();
    }
  }

  async end(graceMs = 1000): Promise<void> {
    if (this.#closed) return;
    if (this.#writing) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => (this.#drained ??= []).push(resolve)),
        new Promise<void>((resolve) => timer = setTimeout(resolve, graceMs)),
      ]);
      clearTimeout(timer);
    }
    this.#shutdown("local");
  }

  close(): void {
    this.#shutdown("local");
  }

  #shutdown(cause: CloseCause): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending = "";
    this.#pendingBytes = 0;
    try {
      this.#conn.close();
    } catch {
      // Closing twice throws BadResource; either way it is closed.
    }
    this.#resolveDrained();
    this.#handler?.onClose(cause);
  }

  #resolveDrained(): void {
    const waiting = this.#drained;
    this.#drained = undefined;
    for (const resolve of waiting ?? []) resolve();
  }
}
