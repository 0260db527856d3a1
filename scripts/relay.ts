/**
 * The no-op relay: the ceiling the benchmark compares parley with. It pairs
 * TCP connections in the order it accepts them (first with second, third
 * with fourth, ...) and copies bytes each way without looking at them: no
 * parsing, no storage, no actors. Whatever parley does on top of this is
 * its own cost; the rest is the runtime's socket cost.
 *
 * Usage: `deno run -A scripts/relay.ts [--port N]`; prints
 * `relay: listening on HOST:PORT`.
 *
 * @module
 */

/** Copies everything read from `from` to `to` until either side closes. */
async function pipe(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    while (true) {
      const n = await from.read(buffer);
      if (n === null) break;
      let offset = 0;
      while (offset < n) {
        offset += await to.write(buffer.subarray(offset, n));
      }
    }
  } catch {
    // Reset or closed: end both sides.
  }
  for (const conn of [from, to]) {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** Accepts connections forever and relays each pair. */
async function serve(port: number): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const addr = listener.addr as Deno.NetAddr;
  console.log(`relay: listening on ${addr.hostname}:${addr.port}`);
  let waiting: Deno.TcpConn | null = null;
  for await (const conn of listener) {
    conn.setNoDelay(true);
    if (waiting === null) {
      waiting = conn;
      continue;
    }
    pipe(waiting, conn);
    pipe(conn, waiting);
    waiting = null;
  }
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--port");
  await serve(at === -1 ? 0 : Number(Deno.args[at + 1]));
}
