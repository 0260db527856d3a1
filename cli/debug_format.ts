/**
 * How `parley debug` prints the admin replies for people: aligned tables,
 * short durations, local times.
 *
 * @module
 */

import type {
  ActorReply,
  AdminReply,
  ConnectionView,
  StatusReply,
  TransitionEvent,
  UserView,
} from "../server/admin_protocol.ts";
import type { Transition } from "../server/inspector.ts";
import stringWidth from "string-width";

type KickedReply = Extract<AdminReply, { type: "kicked" }>;

/**
 * A duration for people: `850ms`, `3.2s`, `2m05s`, `1h02m`, `3d04h`.
 *
 * @example
 * ```ts
 * import { duration } from "./debug_format.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(duration(3_240), "3.2s");
 * assert.equal(duration(125_000), "2m05s");
 * ```
 */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 60_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, "0");
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86_400) {
    return `${Math.floor(s / 3600)}h${pad(Math.floor(s / 60) % 60)}m`;
  }
  return `${Math.floor(s / 86_400)}d${pad(Math.floor(s / 3600) % 24)}h`;
}

const pad2 = (n: number) => String(n).padStart(2, "0");

/** Local time of day with milliseconds: `12:00:03.120`. */
function clock(ms: number): string {
  const d = new Date(ms);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${
    pad2(d.getSeconds())
  }.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

/** Local date and time: `2024-06-01 12:00:03`. */
function dateTime(ms: number | null): string {
  if (ms === null) return "-";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${
    pad2(d.getHours())
  }:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/**
 * Rows as columns padded to their widest cell; the last is not padded.
 * Widths are the columns a terminal gives a cell, so a name in CJK
 * (two columns a character) or with combining accents stays aligned.
 */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) =>
      widths[i] = Math.max(widths[i] ?? 0, stringWidth(cell))
    );
  }
  return rows.map((row) =>
    row.map((cell, i) =>
      i === row.length - 1
        ? cell
        : cell + " ".repeat(widths[i] - stringWidth(cell))
    ).join("  ").trimEnd()
  ).join("\n");
}

/** The status table: a header line, then one row per actor. */
export function formatStatus(status: StatusReply): string {
  const { server, supervisor } = status;
  const total = status.connections.length;
  const states = Object.entries(server.states)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([state, n]) => `${n} ${state}`).join(", ");
  const header = `parley/${server.version} at ${server.address}, up ${
    duration(server.uptimeMs)
  }; ${total} connection${total === 1 ? "" : "s"}${
    states ? ` (${states})` : ""
  }; ${server.routed} routed, ${server.stored} stored since start`;
  const rows = [
    [
      "ACTOR",
      "REMOTE",
      "USER",
      "STATE",
      "IN STATE",
      "LAST FRAME",
      "QUEUED",
      "WAITING",
    ],
    [
      supervisor.id,
      "-",
      "-",
      `${supervisor.status} (${supervisor.shards} shards, ${supervisor.accepted} accepted, ${supervisor.shardRestarts} restarts)`,
      duration(server.uptimeMs),
      "-",
      "-",
      "-",
    ],
    ...status.connections.map(connectionRow),
  ];
  return `${header}\n${table(rows)}`;
}

function connectionRow(c: ConnectionView): string[] {
  return [
    c.id,
    c.remote,
    c.user ?? "-",
    c.state,
    duration(c.inStateMs),
    c.lastFrameMs === null ? "-" : duration(c.lastFrameMs),
    String(c.queuedBytes),
    c.waiting === null ? "-" : String(c.waiting),
  ];
}

/** One transition on one line, as `--watch` prints it. */
export function formatTransition(t: TransitionEvent): string {
  return `${clock(t.at)} ${t.actor} ${t.user ?? "-"} ${
    t.from ?? "(new)"
  } → ${t.to} (${t.cause})`;
}

/**
 * What `kick` did: `Kicked alice (conn-7): go home`, or for a connection
 * that had not logged in, `Kicked conn-7 (not logged in): go home`.
 *
 * @example
 * ```ts
 * import { formatKicked } from "./debug_format.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   formatKicked({ type: "kicked", id: "conn-17", user: null, text: "bye" }),
 *   "Kicked conn-17 (not logged in): bye",
 * );
 * ```
 */
export function formatKicked(kicked: KickedReply): string {
  return kicked.user === null
    ? `Kicked ${kicked.id} (not logged in): ${kicked.text}`
    : `Kicked ${kicked.user} (${kicked.id}): ${kicked.text}`;
}

function transitionRow(t: Transition): string[] {
  return [clock(t.at), `${t.from ?? "(new)"} → ${t.to}`, t.cause, t.event];
}

/** One actor in full: state, context, transitions, children. */
export function formatActor(actor: ActorReply, now = Date.now()): string {
  const lines: string[] = [];
  const since = actor.since === null
    ? ""
    : ` for ${duration(now - actor.since)}`;
  lines.push(
    `${actor.id} (${actor.kind}, ${actor.status}): ${actor.state}${since}${
      actor.endedAt === null ? "" : `, ended at ${clock(actor.endedAt)}`
    }`,
  );
  lines.push("context:");
  lines.push(
    indent(table(
      Object.entries(actor.context).map(([k, v]) => [k, JSON.stringify(v)]),
    )),
  );
  if (actor.connection) {
    const c = actor.connection;
    lines.push(
      `connection: ${c.remote}, last frame ${
        c.lastFrameMs === null ? "-" : `${duration(c.lastFrameMs)} ago`
      }, ${c.queuedBytes} bytes queued, ${
        c.waiting === null ? "-" : c.waiting
      } stored messages waiting`,
    );
  }
  if (actor.transitions.length > 0) {
    lines.push(`last ${actor.transitions.length} transitions:`);
    lines.push(indent(table(actor.transitions.map(transitionRow))));
  }
  if (actor.children.length > 0) {
    lines.push(`children (${actor.children.length}):`);
    lines.push(indent(table(actor.children.map((child) => [
      child.id,
      child.status,
      child.state ?? "",
      child.children === undefined
        ? ""
        : `${child.children} ${child.children === 1 ? "child" : "children"}`,
    ]))));
  } else {
    lines.push("children: none");
  }
  return lines.join("\n");
}

/** The accounts table. */
export function formatUsers(users: UserView[]): string {
  if (users.length === 0) return "No registered users";
  return table([
    ["NAME", "CREATED", "LAST LOGIN", "STORED", "ONLINE"],
    ...users.map((u) => [
      u.name,
      dateTime(u.createdAt),
      dateTime(u.lastLoginAt),
      String(u.stored),
      u.online ?? "-",
    ]),
  ]);
}

function indent(text: string): string {
  return text.split("\n").map((line) => `  ${line}`).join("\n");
}
