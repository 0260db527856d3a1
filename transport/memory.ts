/**
 * An in-process transport for tests: links are pairs of objects passing
 * bytes through the same {@linkcode LineDecoder} as TCP, so frame limits and
 * splitting behave as on a socket, without one.
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
 * {@linkcode Transport} inside one process. Addresses are any strings.
 *
 * @example
 * ```ts
 * import { MemoryTransport } from "./memory.ts";
 * import assert from "node:assert/strict";
 *
 * const transport = new MemoryTransport();
 * const listener = await transport.listen("chat");
 * const client = await transport.connect("chat");
 * const server = (await listener.accept())!;
 * const got = new Promise<string>((resolve) =>
 *   server.read({
 *     onFrames: (frames) => frames[0].kind === "line" && resolve(frames[0].line),
 *     onClose: () => {},
 *   })
 * );
 * client.send('{"type":"ping"}');
 * assert.equal(await got, '{"type":"ping"}');
 * client.close();
 * listener.close();
 * ```
 */
export class MemoryTransport implements Transport {
  readonly #listeners = new Map<string, MemoryListener>();
  readonly #options: LinkOptions;
  #next = 1;

  /** @param options Limits applied to every link. */
  constructor(options: LinkOptions = {}) {
    this.#options = options;
  }

  listen(address: string): Promise<Listener> {
    if (this.#listeners.has(address)) {
      return Promise.reject(
        new Deno.errors.AddrInUse(`Address in use: ${address}`),
      );
    }
    const listener = new MemoryListener(
      address,
      () => this.#listeners.delete(address),
    );
    this.#listeners.set(address, listener);
    return Promise.resolve(listener);
  }

  connect(address: string): Promise<Link> {
    const listener = this.#listeners.get(address);
    if (!listener) {
      return Promise.reject(
        new Deno.errors.ConnectionRefused(`Nothing listens at ${address}`),
      );
    }
    const n = this.#next++;
    const client = new MemoryLink(`memory:${n}`, this.#options);
    const server = new MemoryLink(`memory:${n}`, this.#options);
    client.peer = server;
    server.peer = client;
    listener.offer(server);
    return Promise.resolve(client);
  }
}

class MemoryListener implements Listener {
  readonly address: string;
  readonly #onClose: () => void;
  #waiting: Array<(link: Link | null) => void> = [];
  #backlog: Link[] = [];
  #closed = false;

  constructor(address: string, onClose: () => void) {
    this.address = address;
    this.#onClose = onClose;
  }

  offer(link: Link): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter(link);
    else this.#backlog.push(link);
  }

  accept(): Promise<Link | null> {
    if (this.#closed) return Promise.resolve(null);
    const ready = this.#backlog.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose();
    for (const waiter of this.#waiting.splice(0)) waiter(null);
  }
}

/** One end of an in-memory link. */
export class MemoryLink implements Link {
  readonly remote: string;
  peer?: MemoryLink;
  readonly #decoder: LineDecoder;
  readonly #maxQueued: number;
  #handler?: LinkHandler;
  #inbox: Uint8Array[] = [];
  #queued = 0;
  #closed = false;

  constructor(remote: string, options: LinkOptions = {}) {
    this.remote = remote;
    this.#decoder = new LineDecoder(options.maxFrameBytes);
    this.#maxQueued = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
  }

  get queuedBytes(): number {
    const peer = this.peer;
    return peer ? peer.#queued : 0;
  }

  read(handler: LinkHandler): void {
    this.#handler = handler;
    this.#drain();
  }

  /** Writes raw bytes to the peer, as a broken client could. */
  sendBytes(bytes: Uint8Array): boolean {
    const peer = this.peer;
    if (this.#closed || !peer || peer.#closed) return false;
    peer.#inbox.push(bytes);
    peer.#queued += bytes.length;
    if (peer.#queued > this.#maxQueued) {
      this.#shutdown("overflow");
      return false;
    }
    queueMicrotask(() => peer.#drain());
    return true;
  }

  send(frame: string): boolean {
    return this.sendBytes(encoder.encode(frame + "\n"));
  }

  #drain(): void {
    if (!this.#handler || this.#closed) return;
    const chunks = this.#inbox.splice(0);
    this.#queued = 0;
    for (const chunk of chunks) {
      const frames = this.#decoder.push(chunk);
      if (frames.length > 0 && !this.#closed) this.#handler.onFrames(frames);
    }
  }

  end(): Promise<void> {
    const peer = this.peer;
    if (peer) queueMicrotask(() => peer.#drain());
    queueMicrotask(() => this.#shutdown("local"));
    return Promise.resolve();
  }

  close(): void {
    this.#shutdown("local");
  }

  #shutdown(cause: CloseCause): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handler?.onClose(cause);
    const peer = this.peer;
    if (peer && !peer.#closed) {
      queueMicrotask(() => {
        peer.#drain();
        peer.#shutdown("eof");
      });
    }
  }
}
