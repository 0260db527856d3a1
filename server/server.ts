/**
 * The message server: listens on a transport, gives every accepted link to
 * the supervisor, and provides the ports through which the connection
 * actors reach the hub, the accounts and the sockets.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { type Actor, type AnyActorRef, createActor } from "xstate";
import {
  type CloseReason,
  type ConnectionPorts,
  createConnectionMachine,
  type PasswordVerdict,
} from "../actors/connection.ts";
import { createShardMachine } from "../actors/shard.ts";
import {
  createSupervisorMachine,
  type SupervisorMachine,
} from "../actors/supervisor.ts";
import type { ByeReason, Incoming, ServerFrame } from "../protocol/frames.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { MAX_FRAME_BYTES, readClientFrame } from "../protocol/frames.ts";
import { lookalikeRefusal } from "../protocol/names.ts";
import { Accounts } from "../store/accounts.ts";
import {
  claimDatabase,
  databaseInstance,
  openDatabase,
} from "../store/database.ts";
import { GroupCommitter } from "../store/group_commit.ts";
import { Mailboxes } from "../store/mailboxes.ts";
import { HashQueue } from "../store/hash_queue.ts";
import { HashWorkers } from "../store/hash_workers.ts";
import {
  DEFAULT_COST,
  type Derive,
  hashPassword,
  verifyPassword,
} from "../store/password.ts";
import type {
  Inbound,
  Link,
  Listener,
  Transport,
} from "../transport/transport.ts";
import { SocketTransport } from "../transport/socket.ts";
import { VERSION } from "../version.ts";
import type { ServeConfig } from "./config.ts";
import { Hub } from "./hub.ts";
import { netlogText } from "./netlog.ts";
import { Inspector } from "./inspector.ts";
import { CoarseTimers } from "./coarse_timers.ts";
import { LoginGuard, pairKey } from "./login_guard.ts";

const netLog = getLogger(["parley", "net"]);
const authLog = getLogger(["parley", "auth"]);
const actorLog = getLogger(["parley", "actor"]);
const frameLog = getLogger(["parley", "netlog"]);

/**
 * How late an idle or ping timer may fire, at most: the idle timers of
 * connections that fall due in one tick share one runtime timer, so their
 * pings go out together (see server/coarse_timers.ts). A tenth of the
 * shortest timing when that is shorter.
 */
const TIMER_RESOLUTION_MS = 250;

/** Longest wait for a leaving client's messages to be answered. */
const SETTLE_MS = 2_000;

/** One accepted connection, as the server tracks it. */
export interface Connection {
  id: string;
  link: Link;
  remote: string;
  lastFrameAt: number;
  actor?: AnyActorRef;
  user?: string;
}

/** A running server. */
export interface Server {
  /** `host:port` actually bound. */
  readonly address: string;
  readonly hub: Hub;
  readonly supervisor: Actor<SupervisorMachine>;
  readonly connections: ReadonlyMap<string, Connection>;
  readonly startedAt: number;
  /** The connection actors as seen through xstate's inspection. */
  readonly inspector: Inspector;
  readonly accounts: Accounts;
  readonly mailboxes: Mailboxes;
  /** Tells every client, closes every link, the listener and the database. */
  shutdown(): Promise<void>;
}

/** Options beyond the config, for tests. */
export interface ServerOptions {
  transport?: Transport;
  /** Sees every actor event, for `parley debug`. */
  inspect?: Parameters<typeof createActor>[1] extends infer O
    ? O extends { inspect?: infer I } ? I : never
    : never;
  /**
   * Run once the file is claimed and the port bound, before the database
   * is opened (where an upgrade may write to it): what else the server
   * needs (`parley debug`'s endpoint) fails the start here, leaving the
   * file as it was. Its `close` is called if a later step fails.
   */
  beforeOpen?: () => Promise<{ close(): Promise<void> }>;
}

/**
 * Opens the database, starts listening and serving.
 *
 * @throws {DatabaseError} When the database cannot be used.
 * @throws {Deno.errors.AddrInUse} When the address is taken.
 */
export async function startServer(
  config: ServeConfig,
  options: ServerOptions = {},
): Promise<Server> {
  // The file first, then the port, then the database: a server that
  // cannot start leaves a database another server may be using as it was.
  const claim = await claimDatabase(config.db);
  // What is open so far, newest first: a failed step closes it all, then
  // discards the claim (after the database, whose closing drops SQLite's
  // locks too), so that what this start made goes, under the lock.
  const opened: Array<() => void> = [];
  let listener: Listener;
  let kv: Deno.Kv;
  let instance: string;
  try {
    const transport = options.transport ??
      new SocketTransport({ maxQueuedBytes: config.maxQueuedBytes });
    const host = config.host.includes(":") ? `[${config.host}]` : config.host;
    listener = await transport.listen(`${host}:${config.port}`);
    opened.unshift(() => listener.close());
    if (options.beforeOpen) {
      const extra = await options.beforeOpen();
      opened.unshift(() => void extra.close());
    }
    kv = await openDatabase(config.db);
    opened.unshift(() => kv.close());
    instance = await databaseInstance(kv);
  } catch (error) {
    for (const close of opened) close();
    await claim?.discard();
    throw error;
  }
  const committer = new GroupCommitter(kv);
  const accounts = new Accounts(kv);
  const now = () => Date.now();
  const mailboxes = new Mailboxes(kv, committer, {
    maxStored: config.maxOffline,
    ttlMs: config.offlineTtlDays * 86_400_000,
    now,
  });
  const connections = new Map<string, Connection>();
  const guard = new LoginGuard(config.loginGuard, now);
  const hashes = new HashQueue(config.hashConcurrency);
  const hashThreads = new HashWorkers(config.hashConcurrency, config.hashNice);
  const derive: Derive = hashThreads.scrypt.bind(hashThreads);
  const closing = new Set<Promise<void>>();
  const netlogOn = config.netlog !== null;

  const logFrame = (
    conn: Connection,
    dir: "in" | "out",
    frame: string,
  ) =>
    frameLog.info("{dir} {conn} {frame}", {
      dir,
      conn: conn.id,
      remote: conn.remote,
      user: conn.user,
      frame,
    });

  const write = (connId: string, frame: ServerFrame): boolean => {
    const conn = connections.get(connId);
    if (!conn) return false;
    return writeLine(conn, JSON.stringify(frame));
  };

  const writeLine = (conn: Connection, line: string): boolean => {
    if (netlogOn) logFrame(conn, "out", line);
    return conn.link.send(line);
  };

  /** One frame to many: a broadcast is serialised once, not per receiver. */
  const writeAll = (connIds: string[], frame: ServerFrame): void => {
    const line = JSON.stringify(frame);
    for (const connId of connIds) {
      const conn = connections.get(connId);
      if (conn) writeLine(conn, line);
    }
  };

  const kick = (connId: string, reason: ByeReason, text?: string) =>
    connections.get(connId)?.actor?.send({ type: "KICK", reason, text });

  const hub = new Hub({
    write,
    writeAll,
    kick,
    queuedBytes: (connId) => connections.get(connId)?.link.queuedBytes ?? 0,
    accountName: async (key) => (await accounts.find(key))?.name ?? null,
    now,
    setTimer: (ms, fire) => timers.set(ms, fire),
    ready: {
      server: `parley/${VERSION}`,
      pingInterval: config.pingIntervalS,
      pingTimeout: config.pingTimeoutS,
      instance,
      rateLimit: config.rateLimit,
      rateBurst: config.rateLimit > 0 ? config.rateBurst : 0,
    },
  }, mailboxes);

  const toIncoming = (conn: Connection, inbound: Inbound): Incoming => {
    const frame = readInbound(inbound);
    if (netlogOn) {
      // A debugging aid: its fault must never cost the frame or the
      // connection.
      let text: string;
      try {
        text = netlogText(inbound, frame);
      } catch (error) {
        netLog.warn("Cannot write a frame of {conn} to the netlog: {error}", {
          conn: conn.id,
          error,
        });
        text = "<a frame the netlog could not describe, not logged>";
      }
      logFrame(conn, "in", text);
    }
    return frame;
  };

  const readInbound = (inbound: Inbound): Incoming => {
    switch (inbound.kind) {
      case "line":
        return readClientFrame(inbound.line);
      case "too_large":
        return {
          type: "invalid",
          code: "frame_too_large",
          text:
            `Frame of ${inbound.bytes} bytes is over the limit of ${MAX_FRAME_BYTES}; it was skipped`,
        };
      case "bad_utf8":
        return {
          type: "invalid",
          code: "bad_utf8",
          text: "Frame is not valid UTF-8; it was skipped",
        };
    }
  };

  const timers = new CoarseTimers(
    Math.min(
      TIMER_RESOLUTION_MS,
      config.pingIntervalS * 100,
      config.pingTimeoutS * 100,
    ),
  );

  /** Logs a login or registration the limits refused, and answers it. */
  const refused = (
    what: "login" | "registration",
    user: string,
    remote: string,
    refusal: ProtocolError,
  ): PasswordVerdict => {
    authLog.warn(`Refused ${what} of {user} from {remote}: {reason}`, {
      user,
      remote,
      reason: refusal.message,
    });
    return { kind: "refused", code: refusal.code, text: refusal.message };
  };

  /** Checks one password, unless the lockout refuses it first. */
  const checkOne = async (
    key: string,
    password: string,
    remote: string,
    signal?: AbortSignal,
  ): Promise<PasswordVerdict> => {
    const locked = guard.loginRefusal(key, remote);
    if (locked) return refused("login", key, remote, locked);
    const account = await accounts.find(key);
    const ok = account !== null &&
      await hashes.run(
        () => verifyPassword(password, account.hash, derive),
        signal,
      );
    if (ok) {
      guard.succeeded(key, remote);
      return { kind: "accepted" };
    }
    const delayMs = guard.failed(key, remote);
    authLog.warn("Wrong password for {user} from {remote}", {
      user: key,
      remote,
    });
    return { kind: "wrong", delayMs };
  };

  /** The check under way per name and address; see `checkPassword`. */
  const pairChecks = new Map<string, Promise<void>>();

  const ports: ConnectionPorts = {
    timings: {
      pingIntervalMs: config.pingIntervalS * 1000,
      pingTimeoutMs: config.pingTimeoutS * 1000,
      loginTimeoutMs: config.loginTimeoutS * 1000,
    },
    // Steady, unlike the wall clock, which may be set back.
    now: () => performance.now(),
    setTimer: (ms, fire) => timers.set(ms, fire),
    attach(connId, actor) {
      const conn = connections.get(connId);
      if (conn) conn.actor = actor;
    },
    read(connId, events) {
      const conn = connections.get(connId);
      if (!conn) {
        queueMicrotask(() => events.closed("local"));
        return () => {};
      }
      conn.link.read({
        onFrames(inbound) {
          // Closed, and its link ending: what a flooder sent meanwhile is
          // not worth reading.
          if (connections.get(connId) !== conn) return;
          conn.lastFrameAt = now();
          events.frames(inbound.map((item) => toIncoming(conn, item)));
        },
        onClose: (cause) => events.closed(cause),
      });
      return () => {};
    },
    write: (connId, frame) => void write(connId, frame),
    async lookupAccount(name, key, remote) {
      const found = await accounts.lookup(name, key);
      if (found === null) {
        const limited = guard.registrationRefusal(remote);
        if (limited === null) return { kind: "free" };
        refused("registration", key, remote, limited);
        return { kind: "limited", text: limited.message };
      }
      return "name" in found
        ? { kind: "registered", name: found.name }
        : { kind: "lookalike", of: found.lookalikeOf };
    },
    checkPassword(key, password, remote, signal) {
      // One check at a time per name and address: guesses sent on many
      // connections at once are each counted before the next is checked,
      // so they cannot all get past the lockout together.
      const pair = pairKey(key, remote);
      const checking = (pairChecks.get(pair) ?? Promise.resolve()).then(() =>
        checkOne(key, password, remote, signal)
      );
      const settled = checking.then(() => {}, () => {});
      pairChecks.set(pair, settled);
      settled.then(() => {
        if (pairChecks.get(pair) === settled) pairChecks.delete(pair);
      });
      return checking;
    },
    async register(name, key, password, remote, signal) {
      const limited = guard.register(remote);
      if (limited) return refused("registration", name, remote, limited);
      const hash = await hashes.run(
        () =>
          hashPassword(
            password,
            { ...DEFAULT_COST, N: config.hashCost },
            derive,
          ),
        signal,
      );
      const created = await accounts.create({
        name,
        key,
        hash,
        createdAt: now(),
        lastLoginAt: null,
      });
      if (!created.created) {
        guard.registrationFailed(remote);
        const refusal = created.lookalike !== undefined
          ? lookalikeRefusal(name, created.lookalike)
          : new ProtocolError(
            "name_taken",
            `The name "${name}" was just registered by someone else; choose another`,
          );
        return { kind: "refused", code: refusal.code, text: refusal.message };
      }
      hub.registered(key, name);
      authLog.info("Registered {user} from {remote}", { user: name, remote });
      return { kind: "accepted" };
    },
    enterSession(connId, name, key) {
      const conn = connections.get(connId);
      if (conn) conn.user = name;
      authLog.info("{user} logged in on {conn} from {remote}", {
        user: name,
        conn: connId,
        remote: conn?.remote,
      });
      accounts.touch(key, now()).catch(() => {});
      hub.enter(connId, name, key).catch((error) =>
        authLog.error("Login of {user} failed: {error}", { user: name, error })
      );
    },
    handle: (connId, frames) => hub.handle(connId, frames),
    finish: (connId, reason, text) => finish(connId, reason, text),
  };

  const finish = (connId: string, reason: CloseReason, text: string) => {
    const conn = connections.get(connId);
    if (!conn) return hub.leave(connId);
    // A client leaving on its own, sent away by a shutdown or for flooding
    // still hears about the messages it sent just before.
    const answered =
      reason === "client_left" || reason === "shutdown" || reason === "flooding"
        ? hub.settle(connId, SETTLE_MS)
        : Promise.resolve();
    const closed = answered.then(() => close(conn, reason, text));
    closing.add(closed);
    closed.finally(() => closing.delete(closed));
  };

  const close = (conn: Connection, reason: CloseReason, text: string) => {
    const connId = conn.id;
    hub.leave(connId);
    // The operator's words come with a kick; other reasons speak for
    // themselves.
    const detail = reason === "kicked" ? ` (${text})` : "";
    if (conn.user !== undefined) {
      authLog.info("{user} logged out of {conn}: {reason}{detail}", {
        user: conn.user,
        conn: connId,
        reason,
        detail,
      });
    }
    if (reason !== "connection_lost" && reason !== "internal") {
      write(connId, { type: "bye", reason, text });
    } else if (reason === "internal") {
      write(connId, { type: "error", code: "internal", text });
    }
    connections.delete(connId);
    const ended = conn.link.end(500);
    closing.add(ended);
    ended.finally(() => closing.delete(ended));
    netLog.info("Closed {conn} {remote} {user}: {reason}{detail}", {
      conn: connId,
      remote: conn.remote,
      user: conn.user ?? "-",
      reason,
      detail,
    });
  };

  const connection = createConnectionMachine(ports);
  const shard = createShardMachine(connection, {
    childFailed(connId, error) {
      actorLog.error("Connection actor {conn} failed: {error}", {
        conn: connId,
        error,
      });
      finish(connId, "internal", "Internal server error");
    },
  });
  const inspector = new Inspector({
    connection,
    timings: {
      pingInterval: config.pingIntervalS,
      pingTimeout: config.pingTimeoutS,
      login: config.loginTimeoutS,
    },
    now,
  });
  if (actorLog.isEnabledFor("debug")) {
    // The properties are the transition as `parley debug --watch --json`
    // has it (`from` null for a new actor), the text as `--watch` shows it.
    inspector.watch((t) =>
      actorLog.debug(
        `{actor} ${t.from ?? "(new)"} → {to} ({cause})`,
        { ...t },
      )
    );
  }
  const extra = options.inspect;
  const supervisor = createActor(createSupervisorMachine(shard), {
    input: {},
    inspect: extra === undefined ? inspector.inspect : (event) => {
      inspector.inspect(event);
      if (typeof extra === "function") extra(event);
      else extra.next?.(event);
    },
  });
  supervisor.subscribe({
    error: (error) => actorLog.fatal("Supervisor failed: {error}", { error }),
  });
  supervisor.start();

  let accepting = true;
  let counter = 0;
  const acceptLoop = (async () => {
    while (accepting) {
      const link = await listener.accept();
      if (!link) break;
      const id = `conn-${++counter}`;
      connections.set(id, {
        id,
        link,
        remote: link.remote,
        lastFrameAt: now(),
        // Set later, but given a slot now: a field added afterwards moves
        // every record's fields out of the object, into a second one.
        actor: undefined,
        user: undefined,
      });
      netLog.info("Accepted {conn} from {remote}", {
        conn: id,
        remote: link.remote,
      });
      supervisor.send({ type: "CONNECTED", connId: id, remote: link.remote });
    }
  })();

  const startedAt = now();
  return {
    address: listener.address,
    hub,
    supervisor,
    connections,
    startedAt,
    inspector,
    accounts,
    mailboxes,
    async shutdown() {
      accepting = false;
      listener.close();
      await acceptLoop;
      for (const conn of [...connections.values()]) {
        if (conn.actor) {
          kick(conn.id, "shutdown");
        } else {
          conn.link.close();
        }
      }
      // Closing a connection may first wait for its answers, then end its
      // link: wait until nothing is left closing.
      while (closing.size > 0) await Promise.all(closing);
      mailboxes.close();
      await committer.drain();
      hub.close();
      supervisor.stop();
      hashThreads.close();
      kv.close();
      // After the database: closing any handle of the file drops the
      // process's own locks on it, SQLite's included.
      claim?.close();
    },
  };
}
