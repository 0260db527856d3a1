/**
 * Where the admin socket of a server lives, and how the server opens it so
 * that only the user running the server can connect.
 *
 * The socket sits next to the database, `<db>.admin.sock`, so `parley debug`
 * finds it from the same `--db` (or the same default) as `parley serve`. A
 * Unix socket path may hold at most {@linkcode MAX_SOCKET_PATH} bytes; when
 * the database path is too long for that, the socket goes to
 * `$XDG_RUNTIME_DIR` (else `/tmp/parley-<uid>`, a folder only its owner may
 * enter) under a name made from a hash of the database's absolute path.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { basename, dirname, join, resolve } from "node:path";
import type { Listener, Transport } from "../transport/transport.ts";

/** Longest Unix socket path in bytes (108 bytes with the final NUL). */
export const MAX_SOCKET_PATH = 107;

const encoder = new TextEncoder();

/**
 * The admin socket path of the server using database `db`.
 *
 * @param db The database path as given to `serve --db`.
 * @returns An absolute path, or null for an in-memory database.
 *
 * @example
 * ```ts
 * import { adminSocketPath } from "./admin_socket.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(adminSocketPath("/srv/parley.db"), "/srv/parley.db.admin.sock");
 * assert.equal(adminSocketPath(":memory:"), null);
 * ```
 */
export function adminSocketPath(db: string): string | null {
  if (db === ":memory:") return null;
  const absolute = realPath(resolve(db));
  const beside = `${absolute}.admin.sock`;
  if (encoder.encode(beside).length <= MAX_SOCKET_PATH) return beside;
  const hash = createHash("sha256").update(absolute).digest("hex");
  return `${runtimeDir()}/parley-admin-${hash.slice(0, 16)}.sock`;
}

/**
 * The path with every link resolved, so that two names for one database
 * (a symlink, `..`) lead to one socket, and a second server on the same
 * file is refused like one on the same path.
 */
function realPath(absolute: string): string {
  try {
    return Deno.realPathSync(absolute);
  } catch {
    try {
      return join(Deno.realPathSync(dirname(absolute)), basename(absolute));
    } catch {
      return absolute; // Nothing there yet: serve creates it.
    }
  }
}

function runtimeDir(): string {
  const xdg = Deno.env.get("XDG_RUNTIME_DIR");
  if (xdg) return xdg;
  return `/tmp/parley-${Deno.uid() ?? "user"}`;
}

/**
 * Listens on a Unix socket that only this user can open: it is created with
 * a umask of 077 and set to mode 0600. A socket file left behind by a server
 * that crashed is removed first.
 *
 * @throws {Deno.errors.AddrInUse} When another server answers on `path`.
 * @throws {Deno.errors.AlreadyExists} When `path` exists and is no socket.
 */
export async function listenPrivate(
  transport: Transport,
  path: string,
): Promise<Listener> {
  await ensureFolder(dirname(path));
  await removeStale(path);
  const mask = Deno.umask(0o077);
  try {
    const listener = await transport.listen(`unix:${path}`);
    await Deno.chmod(path, 0o600);
    return listener;
  } finally {
    Deno.umask(mask);
  }
}

/** Creates the fallback folder, private to this user. */
async function ensureFolder(folder: string): Promise<void> {
  if (!folder.startsWith("/tmp/parley-")) return;
  await Deno.mkdir(folder, { recursive: true, mode: 0o700 });
  const info = await Deno.stat(folder);
  if (info.uid !== Deno.uid() || (info.mode! & 0o077) !== 0) {
    throw new Deno.errors.PermissionDenied(
      `Expected ${folder} to be a folder only you can enter, found mode ${
        (info.mode! & 0o777).toString(8)
      } owned by uid ${info.uid}; remove it and start again`,
    );
  }
}

async function removeStale(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  if (!info.isSocket) {
    throw new Deno.errors.AlreadyExists(
      `Expected ${path} to be the admin socket, found another kind of file; move it away`,
    );
  }
  await refuseIfAnswered(path);
  await Deno.remove(path);
}

/**
 * Checks that no server answers on the admin socket `path`. A server that
 * does, of this parley or an older one, owns the database next to it.
 *
 * @throws {Deno.errors.AddrInUse} When another server answers on `path`.
 */
export async function refuseIfAnswered(path: string): Promise<void> {
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch {
    return; // no socket, or nobody behind it
  }
  conn.close();
  throw new Deno.errors.AddrInUse(
    `Another server answers on ${path}; stop it or use another --db`,
  );
}
