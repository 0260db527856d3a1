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
  getStreamSink,
  getTextFormatter,
  type LoggerConfig,
  type LogRecord,
  reset,
  type Sink,
} from "@logtape/logtape";
import { getFileSink } from "@logtape/file";

/** Logging settings. */
export interface LoggingOptions {
  level: "debug" | "info" | "warning" | "error";
  format: "text" | "json";
  /** Path of the frame log, or null. */
  netlog: string | null;
}

/** One netlog line: time, direction, connection, remote, user, frame. */
function netlogLine(record: LogRecord): string {
  const p = record.properties as Record<string, string>;
  const time = new Date(record.timestamp).toISOString();
  return `${time} ${p.dir} ${p.conn} ${p.remote} ${p.user ?? "-"} ${p.frame}\n`;
}

/**
 * A stream onto stderr that stays open when the sink is disposed: closing
 * `Deno.stderr.writable` would close stderr itself, and the error line
 * printed after logging stops would crash with `BadResource`.
 */
function stderrStream(): WritableStream<Uint8Array> {
  return new WritableStream({
    async write(chunk) {
      let offset = 0;
      while (offset < chunk.length) {
        offset += await Deno.stderr.write(chunk.subarray(offset));
      }
    },
  });
}

/** A logged value as a reader wants it: strings bare, errors by message. */
function plainValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof Error) return value.message;
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
  if (options.netlog) {
    sinks.netlog = getFileSink(options.netlog, {
      formatter: netlogLine,
      lazy: true,
    });
    loggers.push({
      category: ["parley", "netlog"],
      sinks: ["netlog"],
      lowestLevel: "debug",
      parentSinks: "override",
    });
  }
  await configure({ reset: true, sinks, loggers });
}

/** Flushes and closes the sinks. */
export async function stopLogging(): Promise<void> {
  await reset();
}
