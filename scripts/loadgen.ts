/**
 * The load generator of `deno task bench`: a separate process that drives a
 * running server over loopback with raw protocol clients.
 *
 * Usage: `deno run -A scripts/loadgen.ts '<json>'` where the JSON names the
 * scenario, the server address and the scenario's sizes. It prints
 * `mark NAME` when the orchestrator should sample the server (CPU, RSS), and
 * finally `result {...}` with the scenario's figures.
 *
 * Latency is measured from the generator's own clock: every message text
 * starts with its send time (`performance.now()`), and the receiving client
 * in the same process reads it back.
 *
 * @module
 */

import {
  BenchClient,
  cpuSeconds,
  pool,
  round,
  sleep,
  stampedText,
  stampOf,
  summarise,
} from "./bench_client.ts";

/** Parameters shared by every scenario. */
interface Common {
  scenario: string;
  address: string;
}

const PASSWORD = "bench-password";
/** Logins running at once while setting a scenario up. */
const LOGIN_CONCURRENCY = 64;

function mark(name: string): void {
  console.log(`mark ${name}`);
}

/** The send time carried by a `msg` line, without parsing all of it. */
function lineStamp(line: string): number {
  return stampOf(line.slice(line.indexOf('"text":"') + 8));
}

async function loginAll(
  address: string,
  names: string[],
  readBytes?: number,
): Promise<BenchClient[]> {
  return await pool(names, LOGIN_CONCURRENCY, async (name) => {
    const client = await BenchClient.connect(address, readBytes);
    await client.login(name, PASSWORD);
    return client;
  });
}

function closeAll(clients: BenchClient[]): void {
  for (const client of clients) client.close();
}

// ---- pairs ----------------------------------------------------------------

interface PairsParams extends Common {
  pairs: number;
  window: number;
  total: number;
  size: number;
  /** `relay` speaks to the no-op relay: msg lines go straight through. */
  relay?: boolean;
}

/**
 * Connects senders and receivers: logged in to parley, or paired by the
 * no-op relay in the order it accepts them.
 */
async function connectPairs(
  p: { address: string; pairs: number; relay?: boolean },
): Promise<{ senders: BenchClient[]; receivers: BenchClient[] }> {
  if (!p.relay) {
    return {
      senders: await loginAll(p.address, range(p.pairs).map((i) => `s${i}`)),
      receivers: await loginAll(p.address, range(p.pairs).map((i) => `r${i}`)),
    };
  }
  const senders: BenchClient[] = [];
  const receivers: BenchClient[] = [];
  for (let i = 0; i < p.pairs; i++) {
    senders.push(await BenchClient.connect(p.address));
    receivers.push(await BenchClient.connect(p.address));
    await sleep(2);
  }
  return { senders, receivers };
}

/**
 * What a sender writes for one message: a `send` to parley, or through the
 * relay the `msg` parley would deliver (with a `seq`, so the receiver
 * acknowledges it back through the relay as it would to parley).
 */
function messageLine(
  relay: boolean | undefined,
  i: number,
  id: number,
  text: string,
): string {
  return relay
    ? `{"type":"msg","from":"s${i}","to":"r${i}","ts":0,"text":"${text}","seq":${id}}`
    : `{"type":"send","id":"${id}","to":"r${i}","text":"${text}"}`;
}

/**
 * Senders keep `window` messages each in flight to their receivers until
 * `total` have arrived. A message leaves the window when its receiver has it.
 */
async function pairs(p: PairsParams): Promise<Record<string, unknown>> {
  const { senders, receivers } = await connectPairs(p);
  const perPair = Math.ceil(p.total / p.pairs);
  const latencies: number[] = [];
  let received = 0;
  let accepted = 0;
  let errors = 0;
  let end = 0;
  const done = Promise.withResolvers<void>();
  const state = range(p.pairs).map(() => ({ sent: 0, inFlight: 0 }));
  const pump = (i: number) => {
    const s = state[i];
    while (s.inFlight < p.window && s.sent < perPair) {
      s.inFlight++;
      s.sent++;
      senders[i].sendLine(
        messageLine(p.relay, i, s.sent, stampedText(p.size)),
      );
    }
  };
  for (let i = 0; i < p.pairs; i++) {
    receivers[i].onLine = (line) => {
      if (!line.startsWith('{"type":"msg"')) return;
      const now = performance.now();
      latencies.push(now - lineStamp(line));
      received++;
      state[i].inFlight--;
      if (received === perPair * p.pairs) {
        end = now;
        done.resolve();
      }
      pump(i);
    };
    senders[i].onLine = (line) => {
      if (line.startsWith('{"type":"accepted"')) accepted++;
      else if (line.startsWith('{"type":"error"')) errors++;
    };
  }
  mark("start");
  const start = performance.now();
  for (let i = 0; i < p.pairs; i++) pump(i);
  await done.promise;
  mark("end");
  const seconds = (end - start) / 1000;
  await sleep(100);
  closeAll([...senders, ...receivers]);
  return {
    messages: received,
    seconds: round(seconds),
    rate: Math.round(received / seconds),
    latencyMs: summarise(latencies),
    accepted,
    errors,
  };
}

// ---- steady ---------------------------------------------------------------

interface SteadyParams extends Common {
  pairs: number;
  rate: number;
  seconds: number;
  size: number;
  /** Logins per second running alongside, with these many accounts. */
  storm?: { perSecond: number; users: number };
  /** `relay` speaks to the no-op relay, as in {@linkcode PairsParams}. */
  relay?: boolean;
}

/**
 * Sends at a fixed total rate spread over the pairs, on a 1 ms timer, and
 * measures each message from its send to its receiver.
 */
async function steady(p: SteadyParams): Promise<Record<string, unknown>> {
  const { senders, receivers } = await connectPairs(p);
  if (p.storm) {
    // Register the storm's accounts before measuring anything.
    closeAll(
      await loginAll(p.address, range(p.storm.users).map((i) => `login${i}`)),
    );
  }
  const alone = await steadyRun(p, senders, receivers);
  const result: Record<string, unknown> = { latencyMs: alone.latency };
  result.sent = alone.sent;
  result.received = alone.received;
  if (p.storm) {
    const storm = loginStorm(p.address, p.storm.perSecond, p.storm.users);
    const during = await steadyRun(p, senders, receivers);
    const logins = await storm.stop();
    result.stormLatencyMs = during.latency;
    result.stormReceived = during.received;
    result.logins = logins.count;
    result.loginFailures = logins.failures;
    result.loginMs = summarise(logins.times);
    result.p99Ratio = round(during.latency.p99 / alone.latency.p99);
  }
  closeAll([...senders, ...receivers]);
  return result;
}

async function steadyRun(
  p: SteadyParams,
  senders: BenchClient[],
  receivers: BenchClient[],
) {
  const latencies: number[] = [];
  const total = Math.round(p.rate * p.seconds);
  let received = 0;
  const done = Promise.withResolvers<void>();
  for (const receiver of receivers) {
    receiver.onLine = (line) => {
      if (!line.startsWith('{"type":"msg"')) return;
      latencies.push(performance.now() - lineStamp(line));
      if (++received === total) done.resolve();
    };
  }
  mark("steady-start");
  const start = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(
      total,
      Math.floor((performance.now() - start) * p.rate / 1000),
    );
    for (; sent < due; sent++) {
      const i = sent % p.pairs;
      // Numbered from 1: through the relay the number is the `seq`.
      senders[i].sendLine(
        messageLine(p.relay, i, sent + 1, stampedText(p.size)),
      );
    }
    await sleep(1);
  }
  await Promise.race([done.promise, sleep(10_000)]);
  mark("steady-end");
  return { latency: summarise(latencies), sent, received };
}

/** Logs in `perSecond` times a second, cycling through `users` accounts. */
function loginStorm(address: string, perSecond: number, users: number) {
  let running = true;
  const times: number[] = [];
  let failures = 0;
  const inFlight = new Set<Promise<void>>();
  const loop = (async () => {
    const start = performance.now();
    let started = 0;
    while (running) {
      const due = Math.floor((performance.now() - start) * perSecond / 1000);
      for (; started < due; started++) {
        const name = `login${started % users}`;
        const one = (async () => {
          const t0 = performance.now();
          try {
            const client = await BenchClient.connect(address, 4096);
            await client.login(name, PASSWORD);
            times.push(performance.now() - t0);
            client.sendLine('{"type":"bye"}');
            await sleep(10);
            client.close();
          } catch {
            failures++;
          }
        })();
        inFlight.add(one);
        one.finally(() => inFlight.delete(one));
      }
      await sleep(5);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await Promise.all(inFlight);
      return { count: times.length, failures, times };
    },
  };
}

// ---- idle -----------------------------------------------------------------

interface IdleParams extends Common {
  clients: number;
  idleSeconds: number;
}

/**
 * Logs `clients` connections in, then holds them while they only answer
 * the server's pings.
 */
async function idle(p: IdleParams): Promise<Record<string, unknown>> {
  // One login before the baseline: the server's first login starts its
  // hashing worker and compiles the login path, about 16 MiB once, which is
  // no cost of each connection.
  closeAll(await loginAll(p.address, ["idlewarmup"], 2048));
  await sleep(500);
  mark("before-connect");
  const start = performance.now();
  const clients = await loginAll(
    p.address,
    range(p.clients).map((i) => `idle${i}`),
    2048,
  );
  const connectSeconds = (performance.now() - start) / 1000;
  await sleep(1000);
  mark("idle-start");
  await sleep(p.idleSeconds * 1000);
  mark("idle-end");
  const alive = clients.filter((c) => !c.isClosed).length;
  closeAll(clients);
  return {
    clients: p.clients,
    alive,
    connectSeconds: round(connectSeconds),
    idleSeconds: p.idleSeconds,
  };
}

// ---- fan-out --------------------------------------------------------------

interface FanoutParams extends Common {
  clients: number;
  messages: number;
}

/**
 * One sender broadcasts `messages` messages, one at a time: each is timed
 * from its send until the last of the `clients` receivers has it.
 */
async function fanout(p: FanoutParams): Promise<Record<string, unknown>> {
  const receivers = await loginAll(
    p.address,
    range(p.clients).map((i) => `fan${i}`),
    8192,
  );
  const [sender] = await loginAll(p.address, ["fansender"]);
  const counts = new Array<number>(p.messages).fill(0);
  let waiting: { index: number; resolve: () => void } | null = null;
  for (const receiver of receivers) {
    receiver.onLine = (line) => {
      if (!line.startsWith('{"type":"msg"')) return;
      const index = parseInt(line.slice(line.indexOf('"text":"') + 8), 10);
      if (++counts[index] === p.clients && waiting?.index === index) {
        waiting.resolve();
      }
    };
  }
  const times: number[] = [];
  mark("start");
  const start = performance.now();
  for (let index = 0; index < p.messages; index++) {
    const all = new Promise<void>((resolve) => waiting = { index, resolve });
    const t0 = performance.now();
    sender.sendLine(
      `{"type":"send","id":"b${index}","to":"all","text":"${index} broadcast"}`,
    );
    await Promise.race([all, sleep(10_000)]);
    times.push(performance.now() - t0);
  }
  const seconds = (performance.now() - start) / 1000;
  mark("end");
  closeAll([...receivers, sender]);
  return {
    clients: p.clients,
    messages: p.messages,
    complete: counts.filter((c) => c === p.clients).length,
    allReceivedMs: summarise(times),
    seconds: round(seconds),
  };
}

// ---- replay ---------------------------------------------------------------

interface ReplayParams extends Common {
  stored: number;
  size: number;
}

/**
 * Stores `stored` messages for an offline user, then times that user's
 * login until the last one has arrived.
 */
async function replay(p: ReplayParams): Promise<Record<string, unknown>> {
  const [away] = await loginAll(p.address, ["away"]);
  away.sendLine('{"type":"bye"}');
  await away.closed;
  const [sender] = await loginAll(p.address, ["filler"]);
  let accepted = 0;
  let inFlight = 0;
  let sent = 0;
  const filled = Promise.withResolvers<void>();
  const fill = () => {
    while (inFlight < 500 && sent < p.stored) {
      inFlight++;
      sent++;
      sender.sendLine(
        `{"type":"send","id":"${sent}","to":"away","text":"${
          stampedText(p.size)
        }"}`,
      );
    }
  };
  sender.onLine = (line) => {
    if (line.startsWith('{"type":"accepted"')) {
      inFlight--;
      if (++accepted === p.stored) filled.resolve();
      fill();
    } else if (line.startsWith('{"type":"error"')) {
      filled.reject(new Error(`Filling the mailbox failed: ${line}`));
    }
  };
  fill();
  await filled.promise;
  sender.close();
  await sleep(200);
  mark("start");
  const start = performance.now();
  const client = await BenchClient.connect(p.address);
  let received = 0;
  const all = Promise.withResolvers<void>();
  client.onLine = (line) => {
    if (line.startsWith('{"type":"msg"') && ++received === p.stored) {
      all.resolve();
    }
  };
  const ready = await client.login("away", PASSWORD);
  await Promise.race([all.promise, sleep(30_000)]);
  const seconds = (performance.now() - start) / 1000;
  mark("end");
  client.close();
  return {
    stored: ready.stored,
    received,
    seconds: round(seconds),
    rate: Math.round(received / seconds),
  };
}

// ---- main -----------------------------------------------------------------

/** CPU seconds (user + system) this process has used, from /proc. */
function ownCpuSeconds(): number {
  return round(cpuSeconds(Deno.readTextFileSync("/proc/self/stat")));
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

const SCENARIOS: Record<
  string,
  (p: never) => Promise<Record<string, unknown>>
> = { pairs, steady, idle, fanout, replay };

if (import.meta.main) {
  const params = JSON.parse(Deno.args[0]) as Common;
  const run = SCENARIOS[params.scenario];
  if (!run) {
    console.error(`loadgen: unknown scenario "${params.scenario}"`);
    Deno.exit(2);
  }
  const result = await run(params as never);
  result.generatorCpuS = ownCpuSeconds();
  console.log(`result ${JSON.stringify(result)}`);
  Deno.exit(0);
}
