/**
 * Measures what one client flooding a logged-in connection with one kind of
 * frame does to a server and to the users on it.
 *
 * Usage:
 * `deno run -A scripts/flood.ts --frame who|ping|ack|pong|bad|send
 * [--online N] [--seconds S] [--pin]`
 *
 * It starts a real `parley serve` on a temporary database, logs in `N` idle
 * users (so a `who` answer is as long as on a busy server) and a bystander,
 * then one client writes the frame as fast as its socket takes it, for `S`
 * seconds, reading everything the server answers. Meanwhile the bystander
 * pings every 20 ms and times the pongs. It prints one JSON line: frames
 * written and answered, bytes the flooder received, the server's CPU share
 * and memory during the flood, the bystander's ping times, and how the
 * flooder's connection ended.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import {
  BenchClient,
  cpuSeconds,
  pool,
  round,
  sleep,
  summarise,
} from "./bench_client.ts";

const MOD = new URL("../mod.ts", import.meta.url).pathname;
const PASSWORD = "flood-password";

/** One line of each kind of frame the flooder can send, repeated. */
const FRAMES: Record<string, string> = {
  who: '{"type":"who"}',
  ping: '{"type":"ping"}',
  pong: '{"type":"pong"}',
  ack: '{"type":"ack","seq":1}',
  bad: '{"type":"hello","v":1,"name":"x"}',
  send: '{"type":"send","id":"f","to":"all","text":"flood"}',
};

const { values } = parseArgs({
  args: Deno.args,
  options: {
    frame: { type: "string", default: "who" },
    online: { type: "string", default: "2000" },
    seconds: { type: "string", default: "5" },
    pin: { type: "boolean", default: false },
  },
});
const line = FRAMES[values.frame!];
if (!line) throw new TypeError(`Expected --frame of ${Object.keys(FRAMES)}`);
const online = Number(values.online);
const seconds = Number(values.seconds);

const dir = await Deno.makeTempDir({ prefix: "parley-flood-" });
const serveArgs = [
  "run",
  "-A",
  MOD,
  "serve",
  "--port",
  "0",
  "--db",
  join(dir, "flood.db"),
  "--log-level",
  "warning",
  "--register-limit",
  "1000000",
  "--hash-cost",
  "1024",
];
const child = new Deno.Command(
  values.pin ? "taskset" : Deno.execPath(),
  {
    args: values.pin ? ["-c", "0", Deno.execPath(), ...serveArgs] : serveArgs,
    stdout: "piped",
    stderr: "inherit",
    env: { NO_COLOR: "1" },
  },
).spawn();
const address = await (async () => {
  let text = "";
  for await (const chunk of child.stdout) {
    text += new TextDecoder().decode(chunk);
    const match = /listening on (\S+)/.exec(text);
    if (match) return match[1];
  }
  throw new Error("Expected the server to print its address");
})();
// `taskset` execs deno, so the child's pid is the server's.
const pid = child.pid;

const names = Array.from({ length: online }, (_, i) => `idle${i}`);
const idle = await pool(names, 64, async (name) => {
  const client = await BenchClient.connect(address, 4096);
  await client.login(name, PASSWORD);
  return client;
});
const bystander = await BenchClient.connect(address);
await bystander.login("bystander", PASSWORD);
const flooder = await Deno.connect({
  hostname: address.slice(0, address.lastIndexOf(":")),
  port: Number(address.slice(address.lastIndexOf(":") + 1)),
});
const floodClient = { received: 0, bytes: 0, lines: [] as string[] };

// Log the flooder in by hand: its socket is read and written raw.
const encoder = new TextEncoder();
await flooder.write(
  encoder.encode(`{"type":"hello","v":1,"name":"flooder"}\n`),
);
const reading = (async () => {
  const buffer = new Uint8Array(256 * 1024);
  const decoder = new TextDecoder();
  let rest = "";
  try {
    while (true) {
      const n = await flooder.read(buffer);
      if (n === null) break;
      floodClient.bytes += n;
      rest += decoder.decode(buffer.subarray(0, n), { stream: true });
      const parts = rest.split("\n");
      rest = parts.pop()!;
      floodClient.received += parts.length;
      for (const part of parts) {
        if (part.startsWith('{"type":"auth"')) {
          await flooder.write(
            encoder.encode(`{"type":"password","password":"${PASSWORD}"}\n`),
          );
        }
        // Keep the first few answers of each kind, and the last frame.
        if (!part.startsWith('{"type":"who"') || floodClient.lines.length < 3) {
          if (floodClient.lines.length < 12) floodClient.lines.push(part);
          else floodClient.lines[12] = part;
        }
      }
    }
  } catch {
    // Reset: what arrived is counted.
  }
})();
while (!floodClient.lines.some((l) => l.startsWith('{"type":"ready"'))) {
  await sleep(10);
}
floodClient.received = 0;
floodClient.bytes = 0;
floodClient.lines.length = 0;

const stat = async () => {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return {
    cpuS: cpuSeconds(await Deno.readTextFile(`/proc/${pid}/stat`)),
    rssKiB: Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]),
  };
};

const pings: number[] = [];
let pingSentAt = 0;
bystander.onLine = (text) => {
  if (text === '{"type":"pong"}') pings.push(performance.now() - pingSentAt);
};
const before = await stat();
const start = performance.now();
let written = 0;
const batch = encoder.encode((line + "\n").repeat(1000));
const flooding = (async () => {
  try {
    while (performance.now() - start < seconds * 1000) {
      let offset = 0;
      while (offset < batch.length) {
        offset += await flooder.write(batch.subarray(offset));
      }
      written += 1000;
    }
  } catch {
    // Closed by the server.
  }
})();
const probing = (async () => {
  while (performance.now() - start < seconds * 1000) {
    pingSentAt = performance.now();
    const seen = pings.length;
    bystander.send({ type: "ping" });
    while (pings.length === seen && !bystander.isClosed) await sleep(1);
    await sleep(20);
  }
})();
let peakKiB = before.rssKiB;
while (performance.now() - start < seconds * 1000) {
  await sleep(250);
  peakKiB = Math.max(peakKiB, (await stat()).rssKiB);
}
const after = await stat();
const elapsed = (performance.now() - start) / 1000;
await Promise.race([flooding, sleep(2_000)]);
await probing;
try {
  flooder.close();
} catch {
  // Closed already.
}
await reading;
for (const client of idle) client.close();
bystander.close();
child.kill("SIGTERM");
await child.status;
await Deno.remove(dir, { recursive: true });

console.log(JSON.stringify({
  frame: values.frame,
  online,
  seconds: round(elapsed),
  written,
  answered: floodClient.received,
  receivedKiB: Math.round(floodClient.bytes / 1024),
  serverCpuShare: round((after.cpuS - before.cpuS) / elapsed),
  rssKiB: { before: before.rssKiB, peak: peakKiB, after: after.rssKiB },
  bystanderPingMs: summarise(pings),
  firstAnswers: floodClient.lines.map((l) => l.slice(0, 160)),
}));
