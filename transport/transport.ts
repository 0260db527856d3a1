/**
 * The small interface every transport implements. The actors and the hub
 * see only {@linkcode Link}s; TCP, Unix sockets and the in-memory transport
 * used by tests all look the same from there.
 *
 * A link carries frames: one string each way, without the newline. The
 * transport does the byte-level work (splitting lines, limits, batching
 * writes) so the rest of parley never touches a socket.
 *
 * @module
 */

/** What a link reports to whoever reads it. */
export interface LinkHandler {
  /**
   * Frames that arrived together, in order. Problems with single lines
   * (too large, not UTF-8) come in the same list, in their place.
   */
  onFrames(frames: Inbound[]): void;
  /** The link is closed; nothing more will arrive. Called once. */
  onClose(cause: CloseCause): void;
}

/** One received line, or why a line could not be read. */
export type Inbound =
  | { kind: "line"; line: string }
  | { kind: "too_large"; bytes: number }
  | { kind: "bad_utf8" };

/** Why a link closed. */
export type CloseCause =
  /** The peer closed its side. */
  | "eof"
  /** Reading or writing failed (reset, broken pipe). */
  | "error"
  /** This side called `close()`. */
  | "local"
  /** The peer did not read fast enough and the outgoing queue overflowed. */
  | "overflow";

/** A connection that carries frames both ways. */
export interface Link {
  /** Where the peer is, for logs: `127.0.0.1:53122`, `unix`, `memory:3`. */
  readonly remote: string;
  /** Starts delivering received frames to `handler`. Call once. */
  read(handler: LinkHandler): void;
  /**
   * Queues one frame for sending. Frames queued in the same turn go out in
   * one write. When the queue passes its byte limit the link closes itself
   * with cause `overflow` and this returns false; so does a closed link.
   */
  send(frame: string): boolean;
  /** Bytes queued and not yet written. */
  readonly queuedBytes: number;
  /**
   * Sends what is queued, then closes. Resolves when closed; never rejects.
   *
   * @param graceMs Longest wait for the queue to drain.
   */
  end(graceMs?: number): Promise<void>;
  /** Closes at once, dropping anything queued. Safe to call twice. */
  close(): void;
}

/** Accepts links until closed. */
export interface Listener {
  /** `host:port`, or the socket path, actually bound. */
  readonly address: string;
  /** Resolves with the next link, or null once the listener is closed. */
  accept(): Promise<Link | null>;
  /** Stops accepting. Links already accepted stay open. */
  close(): void;
}

/** Options shared by every transport. */
export interface LinkOptions {
  /** Longest frame accepted, in bytes. */
  maxFrameBytes?: number;
  /** Bytes a link may queue for sending before it closes as `overflow`. */
  maxQueuedBytes?: number;
}

/** A way to listen for and make links. */
export interface Transport {
  /** Listens at `address` (`host:port` for TCP). */
  listen(address: string): Promise<Listener>;
  /** Connects to `address`. Rejects when nothing is listening there. */
  connect(address: string): Promise<Link>;
}

/** Default for {@linkcode LinkOptions.maxQueuedBytes}: 1 MiB. */
export const DEFAULT_MAX_QUEUED_BYTES = 1 << 20;
