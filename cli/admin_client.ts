/**
 * The client side of the admin protocol: one connection to a server's admin
 * endpoint, requests out, replies in, in order.
 *
 * @module
 */

import { systemTimers, waitAtMost } from "../client/timers.ts";
import {
  type AdminReply,
  type AdminRequest,
  MAX_ADMIN_REPLY_BYTES,
} from "../server/admin_protocol.ts";
import { SocketTransport } from "../transport/socket.ts";
import type { Link } from "../transport/transport.ts";

/** The admin endpoint cannot be reached or refused us. */
export class AdminUnreachable extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AdminUnreachable";
  }
}

/**
 * How long a request waits for its reply. A server that is stopped
 * (SIGSTOP) or stuck still accepts the connection; without a limit the
 * request would wait forever.
 */
export const REPLY_TIMEOUT_MS = 10_000;

/** A connection to an admin endpoint. */
export class AdminClient {
  readonly #address: string;
  readonly #link: Link;
  readonly #replies: Array<AdminReply | null> = [];
  #waiting: (() => void) | undefined;

  private constructor(address: string, link: Link) {
    this.#address = address;
    this.#link = link;
    link.read({
      onFrames: (frames) => {
        for (const frame of frames) {
          if (frame.kind === "too_large") {
            // Refused, not skipped: the request would wait for it forever.
            this.#replies.push({
              type: "error",
              code: "reply_too_large",
              text:
                `The server's reply of ${frame.bytes} bytes is over the client's limit of ${MAX_ADMIN_REPLY_BYTES}`,
            });
            continue;
          }
          if (frame.kind !== "line") continue;
          try {
            this.#replies.push(JSON.parse(frame.line));
          } catch {
            continue;
          }
        }
        this.#wake();
      },
      onClose: () => {
        this.#replies.push(null);
        this.#wake();
      },
    });
  }

  #wake(): void {
    const wake = this.#waiting;
    this.#waiting = undefined;
    wake?.();
  }

  /**
   * Connects to `address` (`unix:PATH` or `host:port`), sending `token`
   * first when given.
   *
   * @throws {AdminUnreachable} When nothing answers there, the socket may
   * not be opened, or the token is refused.
   */
  static async connect(
    address: string,
    token: string | null,
  ): Promise<AdminClient> {
    let link: Link;
    try {
      link = await new SocketTransport({
        maxQueuedBytes: 1 << 24,
        maxFrameBytes: MAX_ADMIN_REPLY_BYTES,
      }).connect(
        address,
      );
    } catch (error) {
      throw new AdminUnreachable(
        `cannot reach the server at ${address}: ${reason(error)}`,
        { cause: error },
      );
    }
    const client = new AdminClient(address, link);
    if (token !== null) {
      const reply = await client.request({ type: "auth", token });
      if (reply.type !== "ok") {
        client.close();
        throw new AdminUnreachable(
          reply.type === "error"
            ? `${address} refused access: ${reply.text}`
            : `${address} answered the token with "${reply.type}"`,
        );
      }
    }
    return client;
  }

  /** Sends a request without waiting. */
  send(request: AdminRequest): void {
    this.#link.send(JSON.stringify(request));
  }

  /**
   * The next reply.
   *
   * @throws {AdminUnreachable} When the server closes the connection first.
   */
  async next(): Promise<AdminReply> {
    while (this.#replies.length === 0) {
      await new Promise<void>((resolve) => this.#waiting = resolve);
    }
    const reply = this.#replies.shift()!;
    if (reply === null) {
      this.#replies.unshift(null);
      throw new AdminUnreachable("the server closed the admin connection");
    }
    return reply;
  }

  /**
   * Sends a request and resolves with its reply.
   *
   * @param timeoutMs How long to wait for the reply.
   * @throws {AdminUnreachable} When the server closes the connection or
   * does not answer in time.
   */
  async request(
    request: AdminRequest,
    timeoutMs = REPLY_TIMEOUT_MS,
  ): Promise<AdminReply> {
    this.send(request);
    const reply = this.next();
    if (!await waitAtMost(systemTimers, timeoutMs, reply)) {
      throw new AdminUnreachable(
        `no answer from ${this.#address} within ${
          timeoutMs / 1000
        } s; is the server stopped or overloaded?`,
      );
    }
    return await reply;
  }

  /** Closes the connection. */
  close(): void {
    this.#link.close();
  }
}

function reason(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) {
    return "no such socket; is parley serve running with this --db?";
  }
  if (error instanceof Deno.errors.ConnectionRefused) {
    return "connection refused; is parley serve running?";
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return "permission denied; only the user running the server may use it";
  }
  return (error as Error).message;
}
