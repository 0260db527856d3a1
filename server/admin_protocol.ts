/**
 * The admin protocol spoken between `parley debug` and a server's admin
 * endpoint: one JSON object per line each way, like the chat protocol, but
 * on its own socket that chat clients never reach.
 *
 * ```
 * > {"type":"auth","token":"…"}        only over TCP, and first
 * < {"type":"ok"}
 * > {"type":"status"}                   < {"type":"status",…}
 * > {"type":"show","target":"conn-7"}   < {"type":"actor",…}
 * > {"type":"users"}                    < {"type":"users",…}
 * > {"type":"kick","target":"alice","text":"bye"}  < {"type":"kicked",…}
 * > {"type":"watch"}                    < {"type":"watching"}, then one
 *                                         {"type":"transition",…} each
 * ```
 *
 * Any request may be answered with `{"type":"error","code","text"}`.
 *
 * @module
 */

import type { Transition } from "./inspector.ts";

/**
 * Longest reply line either side handles, in bytes. A `status` of 10,000
 * connections is about 1.7 MB and `users` grows with the accounts, so the
 * chat protocol's 64 KiB frame limit would cut them off; the admin
 * endpoint is private (its own socket, or a token), so a large limit
 * costs nothing.
 */
export const MAX_ADMIN_REPLY_BYTES = 1 << 26;

/**
 * Longest request line the server reads, in bytes: the chat protocol's
 * limit, far above any request `parley debug` makes. A longer one is
 * answered with `bad_request` and skipped; the connection stays open.
 */
export const MAX_ADMIN_REQUEST_BYTES = 65_536;

/** A request from `parley debug`. */
export type AdminRequest =
  | { type: "auth"; token: string }
  | { type: "status" }
  | { type: "show"; target: string }
  | { type: "users" }
  | { type: "kick"; target: string; text?: string }
  | { type: "watch" };

/** One connection actor in the status table. */
export interface ConnectionView {
  id: string;
  remote: string;
  /** The logged-in user, or null. */
  user: string | null;
  /** Dotted state: `online`, `authenticating.awaitingPassword`. */
  state: string;
  /** Milliseconds in `state`. */
  inStateMs: number;
  /** Milliseconds since the client's last frame (since connect if none). */
  lastFrameMs: number | null;
  /** Outgoing bytes not yet written to the socket. */
  queuedBytes: number;
  /** Stored messages waiting for the user, when logged in. */
  waiting: number | null;
}

/** The supervisor, as the status shows it. */
export interface SupervisorView {
  id: string;
  status: string;
  shards: number;
  accepted: number;
  shardRestarts: number;
}

/** Answer to `status`. */
export interface StatusReply {
  type: "status";
  server: {
    version: string;
    address: string;
    startedAt: number;
    uptimeMs: number;
    /** Live connection actors per state. */
    states: Record<string, number>;
    routed: number;
    broadcasts: number;
    stored: number;
  };
  supervisor: SupervisorView;
  connections: ConnectionView[];
}

/** A child of an actor, in `show`. */
export interface ChildView {
  id: string;
  status: string;
  /** The child's state, for machines. */
  state?: string;
  /** How many children it has. */
  children?: number;
}

/** Answer to `show`. */
export interface ActorReply {
  type: "actor";
  id: string;
  kind: "supervisor" | "shard" | "connection";
  status: string;
  state: string;
  /** When it entered `state`, if known. */
  since: number | null;
  /** When a connection actor closed, or null while it is live. */
  endedAt: number | null;
  /** The actor's context, with nothing secret in it. */
  context: Record<string, unknown>;
  connection: ConnectionView | null;
  /** The last transitions, oldest first. */
  transitions: Transition[];
  children: ChildView[];
}

/** One account in `users`. */
export interface UserView {
  name: string;
  createdAt: number;
  lastLoginAt: number | null;
  /** Stored messages waiting for the user. */
  stored: number;
  /** The connection the user is logged in on, or null. */
  online: string | null;
}

/** A transition as streamed by `watch`. */
export interface TransitionEvent extends Transition {
  type: "transition";
  user: string | null;
}

/** Error codes of the admin protocol. */
export type AdminErrorCode =
  | "unauthorized"
  | "bad_token"
  | "bad_request"
  | "not_found"
  /** Said by the client, not the server: a reply over its limit. */
  | "reply_too_large";

/** A reply from the admin endpoint. */
export type AdminReply =
  | { type: "ok" }
  | StatusReply
  | ActorReply
  | { type: "users"; users: UserView[] }
  | { type: "kicked"; id: string; user: string | null; text: string }
  | { type: "watching" }
  | TransitionEvent
  | { type: "error"; code: AdminErrorCode; text: string };
