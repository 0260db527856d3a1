/**
 * Test doubles for the chat client: hand-driven timers and a scripted
 * server on the in-memory transport.
 *
 * @module
 */

import type { TimerHandle, Timers } from "../client/timers.ts";
import { type MemoryLink, MemoryTransport } from "../transport/memory.ts";
import type { Link, Listener } from "../transport/transport.ts";

/** {@linkcode Timers} that fire only when the test moves time on. */
export class FakeTimers implements Timers {
  #now = 0;
  #next = 1;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + ms, fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }

  /** Milliseconds since the start of the test. */
  now(): number {
    return this.#now;
  }

  /** Timers started and neither fired nor cleared. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves time on by `ms`, firing due timers in order. */
  tick(ms: number): void {
    const end = this.#now + ms;
    while (true) {
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at <= end && (!due || entry[1].at < due[1].at)) {
          due = entry;
        }
      }
      if (!due) break;
      this.#timers.delete(due[0]);
      this.#now = due[1].at;
      due[1].fn();
    }
    this.#now = end;
  }
}

/** A frame as the fake server sees it. */
export type Frame = Record<string, unknown> & { type: string };

const encoder = new TextEncoder();

/** The server end of one client connection, driven by the test. */
export class ServerEnd {
  readonly link: Link;
  readonly #frames: Frame[] = [];
  #waiter?: (frame: Frame | null) => void;
  #closed = false;
  /** Resolves when the link is closed. */
  readonly closed: Promise<void>;

  constructor(link: Link) {
    this.link = link;
    let resolveClosed!: () => void;
    this.closed = new Promise((resolve) => resolveClosed = resolve);
    link.read({
      onFrames: (inbound) => {
        for (const item of inbound) {
          if (item.kind !== "line") continue;
          const frame = JSON.parse(item.line) as Frame;
          const waiter = this.#waiter;
          this.#waiter = undefined;
          if (waiter) waiter(frame);
          else this.#frames.push(frame);
        }
      },
      onClose: () => {
        this.#closed = true;
        this.#waiter?.(null);
        this.#waiter = undefined;
        resolveClosed();
      },
    });
  }

  /** The next frame the client sent, or null once closed. */
  next(): Promise<Frame | null> {
    const frame = this.#frames.shift();
    if (frame) return Promise.resolve(frame);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiter = resolve);
  }

  /** Frames received and not yet taken with `next`. */
  get unread(): Frame[] {
    return [...this.#frames];
  }

  /**
   * Sends frames. On an in-memory link several at once arrive at the
   * client as one batch.
   */
  send(...frames: Frame[]): void {
    const link = this.link as Partial<MemoryLink>;
    if (link.sendBytes) {
      const text = frames.map((frame) => JSON.stringify(frame) + "\n");
      link.sendBytes(encoder.encode(text.join("")));
    } else {
      for (const frame of frames) this.link.send(JSON.stringify(frame));
    }
  }
}

/** A scripted server: accepts in-memory links at one address. */
export class FakeServer {
  readonly transport = new MemoryTransport();
  readonly address: string;
  #listener?: Listener;

  constructor(address = "chat:1") {
    this.address = address;
  }

  /** Starts listening. */
  async start(): Promise<this> {
    this.#listener = await this.transport.listen(this.address);
    return this;
  }

  /** The next connection. */
  async accept(): Promise<ServerEnd> {
    const link = await this.#listener!.accept();
    if (!link) {
      throw new Error("Expected a connection, found the listener closed");
    }
    return new ServerEnd(link);
  }

  /** Stops listening. */
  close(): void {
    this.#listener?.close();
  }
}

/** A `ready` frame with test defaults. */
export function ready(fields: Partial<Frame> = {}): Frame {
  return {
    type: "ready",
    v: 1,
    name: "alice",
    server: "fake/1",
    pingInterval: 30,
    pingTimeout: 10,
    stored: 0,
    expired: 0,
    instance: "db-1",
    rateLimit: 0,
    rateBurst: 0,
    ...fields,
  };
}

/** A private message to alice as the server sends it. */
export function toAlice(seq: number): Frame {
  return { type: "msg", from: "bob", to: "alice", ts: 1, text: `m${seq}`, seq };
}
