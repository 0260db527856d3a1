/**
 * The admin endpoint of a server, for `parley debug`: answers requests of
 * the admin protocol (see `admin_protocol.ts`) from what the
 * {@linkcode Inspector} saw and from the server's own tables.
 *
 * Only the server's operator may use it. It always listens on a Unix socket
 * next to the database that only the user running the server can open; it
 * listens on TCP only when asked, and there every client must first send the
 * token. Chat clients connect to another listener and can never reach it.
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import { getLogger } from "@logtape/logtape";
import type { AnyActorRef } from "xstate";
import type { ConnectionContext } from "../actors/connection.ts";
import { CLIENT_TYPES } from "../protocol/frames.ts";
import { nameKey } from "../protocol/names.ts";
import { SocketTransport } from "../transport/socket.ts";
import type { Link, Listener, Transport } from "../transport/transport.ts";
import { VERSION } from "../version.ts";
import {
  type ActorReply,
  type AdminReply,
  type AdminRequest,
  type ChildView,
  type ConnectionView,
  MAX_ADMIN_REPLY_BYTES,
  MAX_ADMIN_REQUEST_BYTES,
  type StatusReply,
  type UserView,
} from "./admin_protocol.ts";
import { listenPrivate } from "./admin_socket.ts";
import { type ActorRecord, stateName } from "./inspector.ts";
import type { Server } from "./server.ts";

const log = getLogger(["parley", "admin"]);

/** Time a TCP admin client has to send its token. */
const AUTH_TIMEOUT_MS = 10_000;
/**
 * A watcher that falls this far behind is dropped. One reply may be far
 * larger (up to {@linkcode MAX_ADMIN_REPLY_BYTES}), but a watch is a
 * stream that never ends.
 */
const WATCH_MAX_QUEUED_BYTES = 1 << 20;

/** Where the admin endpoint listens. */
export interface AdminOptions {
  /** The Unix socket path, or null for none. */
  socketPath: string | null;
  /** `host:port` to listen on TCP as well, or null. */
  tcp: string | null;
  /** The token TCP clients must send; required when `tcp` is set. */
  token: string | null;
  /** For tests; sockets by default. */
  transport?: Transport;
}

/** A running admin endpoint. */
export interface Admin {
  /** What it listens on: `unix:PATH`, `host:port`. */
  readonly addresses: string[];
  /** Stops listening, ends every admin client, removes the socket file. */
  close(): Promise<void>;
}

/** A request that cannot be answered, turned into an `error` reply. */
class AdminError extends Error {
  readonly code: "bad_request" | "not_found";
  constructor(code: "bad_request" | "not_found", message: string) {
    super(message);
    this.code = code;
  }
}

const digest = (text: string) => createHash("sha256").update(text).digest();

/** The admin endpoint could not listen somewhere; the message says where and why. */
export class AdminListenError extends Error {
  constructor(where: string, cause: unknown) {
    const why = (cause as Error).message;
    super(`cannot offer parley debug on ${where}: ${why}`, { cause });
    this.name = "AdminListenError";
  }
}

/**
 * Starts the admin endpoint of a server, which may still be starting: the
 * endpoint listens at once, and answers once `server` resolves. So a
 * server whose admin endpoint cannot listen fails before it touches its
 * database. Connections that came in meanwhile are closed if it rejects.
 *
 * @throws {TypeError} When `tcp` is set without a token.
 * @throws {AdminListenError} When the socket or the TCP port cannot listen.
 */
export async function startAdmin(
  server: Promise<Server>,
  options: AdminOptions,
): Promise<Admin> {
  if (options.tcp !== null && !options.token) {
    throw new TypeError("Expected a token for the TCP admin endpoint");
  }
  const transport = options.transport ??
    new SocketTransport({
      maxFrameBytes: MAX_ADMIN_REQUEST_BYTES,
      maxQueuedBytes: MAX_ADMIN_REPLY_BYTES,
    });
  const listeners: Array<{ listener: Listener; secured: boolean }> = [];
  const listen = async (where: string, start: () => Promise<Listener>) => {
    try {
      return await start();
    } catch (error) {
      throw new AdminListenError(where, error);
    }
  };
  try {
    const { socketPath, tcp } = options;
    if (socketPath !== null) {
      listeners.push({
        listener: await listen(
          socketPath,
          () => listenPrivate(transport, socketPath),
        ),
        secured: true,
      });
    }
    if (tcp !== null) {
      listeners.push({
        listener: await listen(tcp, () => transport.listen(tcp)),
        secured: false,
      });
    }
  } catch (error) {
    for (const { listener } of listeners) listener.close();
    throw error;
  }
  const expected = options.token === null ? null : digest(options.token);
  const links = new Set<Link>();
  // Settled before a link waits on it, so a failed start is no unhandled
  // rejection.
  server.catch(() => {});
  const loops = listeners.map(async ({ listener, secured }) => {
    while (true) {
      const link = await listener.accept();
      if (!link) return;
      links.add(link);
      server.then(
        (started) =>
          serve(started, link, secured, expected, () => links.delete(link)),
        () => link.close(),
      );
    }
  });
  return {
    addresses: listeners.map(({ listener }) => listener.address),
    async close() {
      for (const { listener } of listeners) listener.close();
      await Promise.all(loops);
      for (const link of links) link.close();
      if (options.socketPath !== null) {
        await Deno.remove(options.socketPath).catch(() => {});
      }
    },
  };
}

/**
 * Said when a chat frame arrives: a chat client given the admin address
 * learns where it is, not only that it lacks a token.
 */
const NOT_CHAT = "This is parley's admin port, not its chat port";

/** Serves one admin client until it goes away. */
function serve(
  server: Server,
  link: Link,
  secured: boolean,
  token: Uint8Array | null,
  gone: () => void,
): void {
  let authorised = secured;
  let unwatch: (() => void) | undefined;
  let chain = Promise.resolve();
  const reply = (message: AdminReply) => link.send(JSON.stringify(message));
  const refuse = (
    code: "unauthorized" | "bad_token",
    text: string,
  ) => {
    log.warn("Refused admin client {remote}: {text}", {
      remote: link.remote,
      text,
    });
    reply({ type: "error", code, text });
    void link.end(500);
  };
  const timer = authorised ? undefined : setTimeout(
    () => refuse("unauthorized", "No token within 10 s"),
    AUTH_TIMEOUT_MS,
  );

  const handle = async (line: string): Promise<void> => {
    let request: AdminRequest;
    try {
      request = JSON.parse(line);
      if (typeof request?.type !== "string") throw new SyntaxError();
    } catch {
      reply({
        type: "error",
        code: "bad_request",
        text: "Expected one JSON object with a type per line",
      });
      return;
    }
    if (!authorised) {
      clearTimeout(timer);
      if (request.type !== "auth") {
        return refuse(
          "unauthorized",
          CLIENT_TYPES.has(request.type)
            ? `${NOT_CHAT}; send {"type":"auth","token":…} first`
            : 'Send {"type":"auth","token":…} first',
        );
      }
      const given = digest(String(request.token ?? ""));
      if (!timingSafeEqual(given, token!)) {
        return refuse("bad_token", "Wrong admin token");
      }
      authorised = true;
      log.info("Admin client {remote} authenticated", { remote: link.remote });
      reply({ type: "ok" });
      return;
    }
    try {
      switch (request.type) {
        case "auth":
          reply({ type: "ok" });
          break;
        case "status":
          reply(status(server));
          break;
        case "show":
          reply(show(server, targetOf(request)));
          break;
        case "users":
          reply({ type: "users", users: await users(server) });
          break;
        case "kick":
          reply(kick(server, targetOf(request), request.text));
          break;
        case "watch":
          if (unwatch) break;
          reply({ type: "watching" });
          unwatch = server.inspector.watch((transition) => {
            if (link.queuedBytes > WATCH_MAX_QUEUED_BYTES) {
              // Not reading: dropped, rather than kept in memory.
              log.warn("Dropped admin watcher {remote}: 1 MiB behind", {
                remote: link.remote,
              });
              unwatch?.();
              link.close();
              return;
            }
            const ok = reply({
              type: "transition",
              ...transition,
              user: userOf(server.inspector.get(transition.actor)?.ref),
            });
            if (!ok) unwatch?.();
          });
          break;
        default:
          throw new AdminError(
            "bad_request",
            `Unknown request type ${
              JSON.stringify((request as { type: unknown }).type)
            }${
              CLIENT_TYPES.has((request as { type: string }).type)
                ? ` (${NOT_CHAT.toLowerCase()})`
                : ""
            }; expected status, show, users, kick or watch`,
          );
      }
    } catch (error) {
      if (!(error instanceof AdminError)) throw error;
      reply({ type: "error", code: error.code, text: error.message });
    }
  };

  link.read({
    onFrames(frames) {
      for (const frame of frames) {
        // Answered in turn, so a client that sent several requests reads
        // the refusal where this one's reply would have been.
        const answer = frame.kind === "line"
          ? () => handle(frame.line)
          : () => {
            reply({
              type: "error",
              code: "bad_request",
              text: frame.kind === "too_large"
                ? `A request of ${frame.bytes} bytes is over the limit of ${MAX_ADMIN_REQUEST_BYTES}`
                : "A request is not valid UTF-8",
            });
          };
        chain = chain.then(answer).catch((error) =>
          log.error("Admin request failed: {error}", { error })
        );
      }
    },
    onClose() {
      clearTimeout(timer);
      unwatch?.();
      gone();
    },
  });
}

function contextOf(ref: AnyActorRef | undefined): ConnectionContext | null {
  return (ref?.getSnapshot()?.context as ConnectionContext) ?? null;
}

function userOf(ref: AnyActorRef | undefined): string | null {
  const context = contextOf(ref);
  return context?.loggedIn ? context.name : null;
}

function connectionView(
  server: Server,
  record: ActorRecord,
  now: number,
): ConnectionView {
  const conn = server.connections.get(record.id);
  const context = contextOf(record.ref);
  const user = context?.loggedIn ? context.name : null;
  return {
    id: record.id,
    remote: conn?.remote ?? context?.remote ?? "-",
    user,
    state: record.state,
    inStateMs: now - record.since,
    lastFrameMs: conn ? now - conn.lastFrameAt : null,
    queuedBytes: conn?.link.queuedBytes ?? 0,
    waiting: context?.loggedIn && context.key
      ? server.mailboxes.waiting(context.key) ?? null
      : null,
  };
}

function supervisorContext(server: Server) {
  return server.supervisor.getSnapshot().context;
}

/**
 * The `target` of a `show` or `kick`.
 *
 * @throws {AdminError} `bad_request` when it is missing, empty or not a
 * string.
 */
function targetOf(request: { type: string; target?: unknown }): string {
  const target = request.target;
  if (typeof target === "string" && target !== "") return target;
  throw new AdminError(
    "bad_request",
    `A ${request.type} request needs a "target": ${
      request.type === "show"
        ? "supervisor, shard-N, a connection id or a user's name"
        : "a connection id or a user's name"
    }`,
  );
}

function status(server: Server): StatusReply {
  const now = Date.now();
  const context = supervisorContext(server);
  return {
    type: "status",
    server: {
      version: VERSION,
      address: server.address,
      startedAt: server.startedAt,
      uptimeMs: now - server.startedAt,
      states: server.inspector.counts(),
      routed: server.hub.stats.routed,
      broadcasts: server.hub.stats.broadcasts,
      stored: server.mailboxes.storedSinceStart,
    },
    supervisor: {
      id: "supervisor",
      status: server.supervisor.getSnapshot().status,
      shards: context.shards,
      accepted: context.accepted,
      shardRestarts: context.shardRestarts,
    },
    connections: server.inspector.live().map((record) =>
      connectionView(server, record, now)
    ),
  };
}

function childrenOf(ref: AnyActorRef): ChildView[] {
  const children = ref.getSnapshot().children ?? {};
  return Object.entries(children as Record<string, AnyActorRef>).map((
    [id, child],
  ) => {
    const snapshot = child.getSnapshot();
    const view: ChildView = { id, status: snapshot.status };
    const state = snapshot.value === undefined ? "" : stateName(snapshot.value);
    if (state !== "") view.state = state;
    if (snapshot.children) {
      view.children = Object.keys(snapshot.children).length;
    }
    return view;
  });
}

/**
 * Finds a connection actor by id or by its user's name.
 *
 * @param expected What the request takes, for the refusal.
 */
function findConnection(
  server: Server,
  target: string,
  expected: string,
): ActorRecord {
  const byId = server.inspector.get(target);
  if (byId) return byId;
  const key = nameKey(target);
  const named = (record: ActorRecord) => contextOf(record.ref)?.key === key;
  const live = server.inspector.live().filter(named);
  const found = live.find((r) => contextOf(r.ref)?.loggedIn) ?? live[0] ??
    server.inspector.closed().findLast(named);
  if (!found) {
    throw new AdminError(
      "not_found",
      `No actor "${target}"; expected ${expected}`,
    );
  }
  return found;
}

function show(server: Server, target: string): ActorReply {
  const supervisor = server.supervisor;
  if (target === "supervisor") {
    return {
      type: "actor",
      id: "supervisor",
      kind: "supervisor",
      status: supervisor.getSnapshot().status,
      state: "running",
      since: server.startedAt,
      endedAt: null,
      context: { ...supervisorContext(server) },
      connection: null,
      transitions: [],
      children: childrenOf(supervisor),
    };
  }
  const shard = supervisor.getSnapshot().children[target] as
    | AnyActorRef
    | undefined;
  if (/^shard-\d+$/.test(target) && shard) {
    return {
      type: "actor",
      id: target,
      kind: "shard",
      status: shard.getSnapshot().status,
      state: "running",
      since: null,
      endedAt: null,
      context: { ...shard.getSnapshot().context },
      connection: null,
      transitions: [],
      children: childrenOf(shard).map((child) => ({
        ...child,
        state: server.inspector.get(child.id)?.state ?? child.state,
      })),
    };
  }
  const record = findConnection(
    server,
    target,
    "supervisor, shard-N, a connection id or a user's name",
  );
  const snapshot = record.ref.getSnapshot();
  const { connId, remote, name, mode, failures, loggedIn, closeReason } =
    snapshot.context as ConnectionContext;
  return {
    type: "actor",
    id: record.id,
    kind: "connection",
    status: snapshot.status,
    state: record.state,
    since: record.since,
    endedAt: record.endedAt,
    context: {
      connId,
      remote,
      name,
      mode,
      failures,
      loggedIn,
      closeReason,
    },
    connection: record.endedAt === null
      ? connectionView(server, record, Date.now())
      : null,
    transitions: record.transitions,
    children: record.endedAt === null ? childrenOf(record.ref) : [],
  };
}

async function users(server: Server): Promise<UserView[]> {
  const list: UserView[] = [];
  for await (const account of server.accounts.list()) {
    list.push({
      name: account.name,
      createdAt: account.createdAt,
      lastLoginAt: account.lastLoginAt,
      stored: await server.mailboxes.count(account.key),
      online: server.hub.sessionOf(account.name)?.connId ?? null,
    });
  }
  return list;
}

function kick(
  server: Server,
  target: string,
  reason = "Kicked by the operator",
): AdminReply {
  // The reason goes into logs and onto a terminal: one line, no controls.
  // deno-lint-ignore no-control-regex
  const text = String(reason).replace(/[\x00-\x1f\x7f-\x9f]+/g, " ").trim()
    .slice(0, 200) || "Kicked by the operator";
  const record = findConnection(
    server,
    target,
    "a connection id or a user's name",
  );
  if (record.endedAt !== null) {
    throw new AdminError(
      "not_found",
      `No live connection for "${target}"; it closed already`,
    );
  }
  const user = userOf(record.ref);
  log.info("Operator kicks {conn} {user}: {text}", {
    conn: record.id,
    user: user ?? "-",
    text,
  });
  record.ref.send({ type: "KICK", reason: "kicked", text });
  return { type: "kicked", id: record.id, user, text };
}
