/**
 * Logging for `parley serve`, configured once at start through LogTape.
 *
 * Categories: `parley.net` (connections), `parley.auth` (logins),
 * `parley.route` (messages), `parley.store` (database), `parley.actor`
 * (state transitions, at debug). Message bodies never appear at info.
 * `parley.netlog` is the frame log, sent only to the `--netlog` file.
 *
 * @module
 */

import {
  configure,
  getLogger,
  getStreamSink,
  getTextFormatter,
  type LoggerConfig,
  type LogRecord,
  reset,
  type Sink,
} from "@logtape/logtape";
import { spellOutControls } from "../protocol/controls.ts";
import { VERSION } from "../version.ts";

/**
 * Longest a netlog line waits in memory before it is written: short enough
 * that `tail -f` shows a frame at once and a killed server loses at most
 * this much, long enough that a busy server writes once per batch.
 */
const NETLOG_FLUSH_MS = 50;

/** Netlog characters (about bytes) gathered before they are written at once. */
const NETLOG_MAX_PENDING = 64 * 1024;

/** Logging settings. */
export interface LoggingOptions {
  level: "debug" | "info" | "warning" | "error";
  format: "text" | "json";
  /** Path of the frame log, or null. */
  netlog: string | null;
}

/**
 * Formats netlog lines: time, direction, connection, remote, user, frame.
 * A busy server logs many frames in one millisecond, and formatting the
 * time was the costliest part of a line: it is formatted once per
 * millisecond.
 */
function netlogFormatter(): (record: LogRecord) => string {
  let at = -1;
  let time = "";
  return (record) => {
    const p = record.properties as Record<string, string>;
    if (record.timestamp !== at) {
      at = record.timestamp;
      time = new Date(at).toISOString();
    }
    // JSON escapes the C0 controls but not direction marks, which would
    // reorder the line in `tail -f`; `\u202e` in a JSON string is the same.
    return `${time} ${p.dir} ${p.conn} ${p.remote} ${p.user ?? "-"} ${
      spellOutControls(p.frame)
    }\n`;
  };
}

/**
 * The netlog file. Lines are gathered for at most
 * {@linkcode NETLOG_FLUSH_MS} and written together, whether or not more
 * follow: the file sink of `@logtape/file` writes a buffered line only when
 * a later one arrives, so the last frames of a quiet server stayed in
 * memory, and were lost with it. Lines are written, not synced: once
 * written they outlive the process; only a crash of the machine can lose
 * them, which is acceptable for a debugging aid.
 *
 * A write that fails (disk full) is reported once on stderr and ends the
 * netlog; the server goes on.
 */
function netlogSink(
  path: string,
): Sink & Disposable & { started(): void } {
  const file = Deno.openSync(path, { append: true, create: true });
  const encoder = new TextEncoder();
  const netlogLine = netlogFormatter();
  // A netlog is appended to: each run of the server marks where its lines
  // begin and end, as its connection ids start again at conn-1. A server
  // that fails to start marks nothing (another may be writing the file).
  const mark = (dir: string, text: string) =>
    `${new Date().toISOString()} ${dir} - - - <${text}>\n`;
  let started = false;
  let pending: string[] = [];
  let pendingBytes = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failed = false;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    const bytes = encoder.encode(pending.join(""));
    pending = [];
    pendingBytes = 0;
    if (failed) return;
    try {
      for (let offset = 0; offset < bytes.length;) {
        offset += file.writeSync(bytes.subarray(offset));
      }
    } catch (error) {
      failed = true;
      getLogger(["parley", "net"]).error(
        "Cannot write the netlog {path}, it stops here: {error}",
        { path, error },
      );
    }
  };
  const add = (line: string) => {
    if (failed) return;
    pending.push(line);
    pendingBytes += line.length;
    if (pendingBytes >= NETLOG_MAX_PENDING) flush();
    else timer ??= setTimeout(flush, NETLOG_FLUSH_MS);
  };
  const sink = (record: LogRecord) => add(netlogLine(record));
  return Object.assign(sink, {
    started() {
      started = true;
      add(mark(
        "start",
        `parley serve ${VERSION} started, pid ${Deno.pid}; connection ids start again at conn-1`,
      ));
    },
    [Symbol.dispose]() {
      if (started) add(mark("stop", "parley serve stopped"));
      flush();
      file.close();
    },
  });
}

/**
 * A stream onto stderr that stays open when the sink is disposed: closing
 * `Deno.stderr.writable` would close stderr itself, and the error line
 * printed after logging stops would crash with `BadResource`.
 *
 * Once a write fails (stderr piped to a reader that quit: `BrokenPipe`)
 * the log lines are dropped: a failed write would reject the sink's
 * stream, and the rejection would end the server and every connection
 * with it, over output nobody reads any more.
 */
function stderrStream(): WritableStream<Uint8Array> {
  let broken = false;
  return new WritableStream({
    async write(chunk) {
      try {
        for (let offset = 0; !broken && offset < chunk.length;) {
          offset += await Deno.stderr.write(chunk.subarray(offset));
        }
      } catch {
        broken = true;
      }
    },
  });
}

/** A logged value as a reader wants it: strings bare, errors by message. */
function plainValue(value: unknown): string {
  // A kick reason or an error may quote what a client sent: controls and
  // direction marks spelled out, so a value can neither rearrange the
  // operator's terminal nor start a line that looks like another record.
  if (typeof value === "string") return spellOutControls(value);
  if (value instanceof Error) return spellOutControls(value.message);
  return Deno.inspect(value);
}

/**
 * One JSON object per record for log collectors: the message filled in as
 * plain text, and the values again, typed, under `properties`.
 */
function jsonLine(record: LogRecord): string {
  const message = record.message
    .map((part, i) => i % 2 === 0 ? part as string : plainValue(part))
    .join("");
  return JSON.stringify({
    "@timestamp": new Date(record.timestamp).toISOString(),
    level: record.level,
    logger: record.category.join("."),
    message,
    properties: record.properties,
  }, (_, value) => value instanceof Error ? value.message : value) + "\n";
}

/** The netlog sink of the current setup, if any. */
let netlog: ReturnType<typeof netlogSink> | undefined;

/** Sets up the sinks; call once before the server starts. */
export async function setupLogging(options: LoggingOptions): Promise<void> {
  const sinks: Record<string, Sink> = {
    stderr: getStreamSink(stderrStream(), {
      formatter: options.format === "json" ? jsonLine : getTextFormatter({
        timestamp: "date-time-timezone",
        value: plainValue,
      }),
    }),
  };
  const loggers: LoggerConfig<string, string>[] = [
    {
      category: ["parley"],
      sinks: ["stderr"],
      lowestLevel: options.level,
    },
    {
      category: ["logtape", "meta"],
      sinks: ["stderr"],
      lowestLevel: "warning",
    },
  ];
  netlog = undefined;
  if (options.netlog) {
    sinks.netlog = netlog = netlogSink(options.netlog);
    loggers.push({
      category: ["parley", "netlog"],
      sinks: ["netlog"],
      lowestLevel: "debug",
      parentSinks: "override",
    });
  }
  await configure({ reset: true, sinks, loggers });
}

/**
 * Marks in the netlog, if there is one, that the server started: its
 * frames follow, and a stop line once logging stops. Call once the server
 * listens; a server that fails to start leaves the file as it was.
 */
export function markNetlogStarted(): void {
  netlog?.started();
}

/** Flushes and closes the sinks. */
export async function stopLogging(): Promise<void> {
  await reset();
}
