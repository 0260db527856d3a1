/**
 * `deno task bench`: measures parley's speed, memory and cost.
 *
 * For each scenario it starts a real `parley serve` on a temporary database
 * and port 0, starts the load generator (`scripts/loadgen.ts`) as a second
 * process, and samples the server's CPU time and memory from `/proc` at the
 * marks the generator prints. The no-op relay (`scripts/relay.ts`) runs the
 * `pairs` and `steady` loads (`relay`, `relay-steady`) as the ceiling and the
 * latency floor for this runtime and this load generator.
 *
 * Flags:
 * - `--quick`: every scenario scaled far down (a smoke run, not a measure)
 * - `--json [FILE]`: also write the figures as JSON (to stdout without FILE)
 * - `--pin`: server on core 0, generator on core 1 (needs `taskset`)
 * - `--scenario NAME`: run only this one (repeatable)
 * - `--cpu-prof DIR`: write a V8 CPU profile of each server into DIR
 * - `--heap-prof DIR`: write a sampling heap profile of each parley server
 *   into DIR (every allocation, garbage included; `scripts/heap_probe.ts`)
 * - `--steady-rate N`: messages per second of `relay-steady`, `steady` and
 *   `storm` (default 10,000), to find the load a latency target holds at
 * - `--netlog`: every parley server also writes a netlog, to see its cost
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { table } from "../cli/debug_format.ts";
import { cpuSeconds, round } from "./bench_client.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const MOD = join(ROOT, "mod.ts");
const LOADGEN = join(ROOT, "scripts", "loadgen.ts");
const RELAY = join(ROOT, "scripts", "relay.ts");
const HEAP_PROBE = join(ROOT, "scripts", "heap_probe.ts");
const decoder = new TextDecoder();

/** Server CPU and memory at one moment, from /proc. */
interface ProcSample {
  at: number;
  cpuS: number;
  rssKiB: number;
  peakKiB: number;
}

/** Reads CPU seconds (user + system) and memory of a process. */
async function sample(pid: number): Promise<ProcSample> {
  let stat;
  try {
    stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  } catch (error) {
    throw new Error(`Expected the server (pid ${pid}) to be running: ${error}`);
  }
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kib = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? NaN);
  return {
    at: performance.now(),
    cpuS: cpuSeconds(stat),
    rssKiB: kib("VmRSS"),
    peakKiB: kib("VmHWM"),
  };
}

/** Reads a child's stdout line by line. */
class Lines {
  readonly #waiters: Array<(line: string | null) => void> = [];
  readonly #queue: Array<string | null> = [];

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#pump(stream);
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    let rest = "";
    for await (const chunk of stream) {
      rest += decoder.decode(chunk, { stream: true });
      const parts = rest.split("\n");
      rest = parts.pop()!;
      for (const part of parts) this.#put(part);
    }
    if (rest) this.#put(rest);
    this.#put(null);
  }

  #put(line: string | null): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(line);
    else this.#queue.push(line);
  }

  /** The next line, or null at the end of the stream. */
  next(): Promise<string | null> {
    if (this.#queue.length > 0) return Promise.resolve(this.#queue.shift()!);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

/** Keeps the last lines of a stream, to show when a process fails. */
function tail(stream: ReadableStream<Uint8Array>): () => string {
  const kept: string[] = [];
  (async () => {
    for await (const chunk of stream) {
      kept.push(decoder.decode(chunk));
      if (kept.length > 50) kept.shift();
    }
  })();
  return () => kept.join("");
}

interface Options {
  quick: boolean;
  pin: boolean;
  cpuProf: string | null;
  heapProf: string | null;
  /** Messages per second of `steady` and `storm`; null for the default. */
  steadyRate: number | null;
  /** Whether parley servers write a netlog (into their temporary folder). */
  netlog: boolean;
}

function command(core: number, options: Options, args: string[]) {
  const deno = Deno.execPath();
  return options.pin
    ? { cmd: "taskset", args: ["-c", String(core), deno, ...args] }
    : { cmd: deno, args };
}

/** A started server (parley or the relay) and its figures so far. */
class ServerUnderTest {
  readonly child: Deno.ChildProcess;
  readonly address: Promise<string>;
  readonly stderr: () => string;
  readonly #dir: string;

  constructor(kind: "parley" | "relay", flags: string[], options: Options) {
    this.#dir = Deno.makeTempDirSync({ prefix: "parley-bench-" });
    const prof = options.cpuProf
      ? ["--cpu-prof", `--cpu-prof-dir=${options.cpuProf}`]
      : [];
    const heap = options.heapProf ? ["--preload", HEAP_PROBE] : [];
    const args = kind === "parley"
      ? [
        "run",
        "-A",
        "--unstable-kv",
        ...prof,
        ...heap,
        MOD,
        "serve",
        "--port",
        "0",
        "--db",
        join(this.#dir, "bench.db"),
        "--log-level",
        "warning",
        // Every client comes from 127.0.0.1 and sends faster than a person:
        // the abuse limits would measure themselves, not the routing.
        "--rate-limit",
        "0",
        "--register-limit",
        "1000000",
        ...options.netlog ? ["--netlog", join(this.#dir, "net.log")] : [],
        ...flags,
      ]
      : ["run", "-A", ...prof, RELAY];
    const { cmd, args: full } = command(0, options, args);
    this.child = new Deno.Command(cmd, {
      args: full,
      stdout: "piped",
      stderr: "piped",
      env: {
        NO_COLOR: "1",
        ...options.heapProf ? { PARLEY_HEAP_PROF: options.heapProf } : {},
      },
    }).spawn();
    this.stderr = tail(this.child.stderr);
    const lines = new Lines(this.child.stdout);
    this.address = (async () => {
      while (true) {
        const line = await lines.next();
        if (line === null) {
          throw new Error(
            "Expected the server to print its address, found it ended",
          );
        }
        const match = /listening on (\S+)/.exec(line);
        if (match) return match[1];
      }
    })();
  }

  async stop(): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }, 10_000);
    await this.child.status;
    clearTimeout(timer);
    await Deno.remove(this.#dir, { recursive: true });
  }
}

/** What one scenario run gives: the generator's figures and the server's. */
type Figures = Record<string, unknown>;

/**
 * Runs the generator for one scenario against a fresh server and returns
 * the generator's result with the server's CPU and memory added.
 */
async function run(
  name: string,
  server: { kind: "parley" | "relay"; flags?: string[] },
  params: Record<string, unknown>,
  options: Options,
  onMark: (mark: string, at: ProcSample, first: ProcSample) => void = () => {},
): Promise<Figures> {
  const sut = new ServerUnderTest(server.kind, server.flags ?? [], options);
  try {
    const address = await sut.address;
    const pid = sut.child.pid;
    const first = await sample(pid);
    const { cmd, args } = command(1, options, [
      "run",
      "-A",
      LOADGEN,
      JSON.stringify({ scenario: name, address, ...params }),
    ]);
    const gen = new Deno.Command(cmd, {
      args,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const genErr = tail(gen.stderr);
    const lines = new Lines(gen.stdout);
    const marks: Record<string, ProcSample> = {};
    let result: Figures | null = null;
    let peak = first.peakKiB;
    while (true) {
      const line = await lines.next();
      if (line === null) break;
      if (line.startsWith("mark ")) {
        const at = await sample(pid);
        peak = Math.max(peak, at.peakKiB);
        marks[line.slice(5)] = at;
        onMark(line.slice(5), at, first);
      } else if (line.startsWith("result ")) {
        result = JSON.parse(line.slice(7));
      }
    }
    const status = await gen.status;
    const last = await sample(pid);
    if (!status.success || result === null) {
      throw new Error(
        `Load generator for ${name} failed (exit ${status.code}):\n${genErr()}`,
      );
    }
    return {
      ...result,
      ...extra(marks),
      serverCpuS: round(last.cpuS - first.cpuS),
      serverPeakRssMiB: round(Math.max(peak, last.peakKiB) / 1024),
    };
  } catch (error) {
    throw new Error(
      `${(error as Error).message}\nserver stderr:\n${sut.stderr()}`,
    );
  } finally {
    await sut.stop();
  }
}

/** Figures computed from the server samples at the generator's marks. */
function extra(marks: Record<string, ProcSample>): Figures {
  const out: Figures = {};
  const span = (a: string, b: string) =>
    marks[a] && marks[b]
      ? {
        cpu: marks[b].cpuS - marks[a].cpuS,
        seconds: (marks[b].at - marks[a].at) / 1000,
      }
      : null;
  const busy = span("start", "end");
  if (busy) out.busyServerCpuS = round(busy.cpu);
  const idle = span("idle-start", "idle-end");
  if (idle) out.idleCpuPercent = round(100 * idle.cpu / idle.seconds);
  if (marks["before-connect"] && marks["idle-start"]) {
    out.rssBeforeMiB = round(marks["before-connect"].rssKiB / 1024);
    out.rssConnectedMiB = round(marks["idle-start"].rssKiB / 1024);
  }
  if (marks["before-connect"] && marks["idle-end"]) {
    out.rssIdleEndMiB = round(marks["idle-end"].rssKiB / 1024);
  }
  return out;
}

/** Sizes of every scenario, full and quick. */
function sizes(quick: boolean, steadyRate: number | null) {
  const rate = steadyRate ?? (quick ? 500 : 10_000);
  const steady = quick
    ? { pairs: 5, rate, seconds: 1, size: 40 }
    : { pairs: 100, rate, seconds: 10, size: 40 };
  // The storm is the steady load with logins on top.
  const storm = { ...steady, perSecond: quick ? 5 : 50 };
  return quick
    ? {
      pairs: { pairs: 5, window: 5, total: 2_000, size: 40 },
      steady,
      idle: { clients: 100, idleSeconds: 2, pingInterval: 1 },
      fanout: { clients: 20, messages: 10 },
      replay: { stored: 300, size: 40 },
      storm,
    }
    : {
      pairs: { pairs: 50, window: 20, total: 200_000, size: 40 },
      steady,
      idle: { clients: 10_000, idleSeconds: 30, pingInterval: 30 },
      fanout: { clients: 1_000, messages: 100 },
      replay: { stored: 10_000, size: 40 },
      storm,
    };
}

const FAST_HASH = ["--hash-cost", "1024"];

/** One function per scenario: the server it needs and the load it gets. */
function scenarios(options: Options) {
  const s = sizes(options.quick, options.steadyRate);
  return {
    relay: () =>
      run("pairs", { kind: "relay" }, { ...s.pairs, relay: true }, options),
    pairs: () =>
      run("pairs", { kind: "parley", flags: FAST_HASH }, s.pairs, options),
    "relay-steady": () =>
      run("steady", { kind: "relay" }, { ...s.steady, relay: true }, options),
    steady: () =>
      run("steady", { kind: "parley", flags: FAST_HASH }, s.steady, options),
    idle: async () => {
      const { pingInterval, ...load } = s.idle;
      const figures = await run(
        "idle",
        {
          kind: "parley",
          flags: [...FAST_HASH, "--ping-interval", String(pingInterval)],
        },
        load,
        options,
      );
      const before = figures.rssBeforeMiB as number;
      const perConnection = (mib: number) =>
        round((mib - before) * 1024 / load.clients);
      // Right after the burst (the target's figure) and after the hold,
      // when the held connections are all that is left of it.
      return {
        ...figures,
        pingIntervalS: pingInterval,
        rssPerConnectionKiB: perConnection(figures.rssConnectedMiB as number),
        rssPerConnectionIdleEndKiB: perConnection(
          figures.rssIdleEndMiB as number,
        ),
      };
    },
    fanout: () =>
      run("fanout", { kind: "parley", flags: FAST_HASH }, s.fanout, options),
    replay: () =>
      run(
        "replay",
        {
          kind: "parley",
          flags: [...FAST_HASH, "--max-offline", String(s.replay.stored * 2)],
        },
        s.replay,
        options,
      ),
    storm: () => {
      const { perSecond, ...load } = s.storm;
      // The real password cost: the point is what hashing does to chat.
      return run("steady", { kind: "parley" }, {
        ...load,
        storm: { perSecond, users: perSecond },
      }, options);
    },
  };
}

type ScenarioName = keyof ReturnType<typeof scenarios>;
const ORDER: ScenarioName[] = [
  "relay",
  "pairs",
  "relay-steady",
  "steady",
  "idle",
  "fanout",
  "replay",
  "storm",
];

/** The figures shown in the table, per scenario. */
function summaryRows(name: string, f: Figures): string[][] {
  const lat = (key: string) => {
    const l = f[key] as { p50: number; p99: number; max: number } | undefined;
    return l ? `${l.p50} / ${l.p99} / ${l.max}` : "-";
  };
  if (typeof f.error === "string") {
    return [[name, "failed", f.error.split("\n")[0], "-", "-"]];
  }
  const common = [
    `${f.serverCpuS}`,
    `${f.serverPeakRssMiB}`,
  ];
  switch (name) {
    case "relay":
    case "pairs":
      return [[
        name,
        `${f.rate} msg/s`,
        `latency ms ${lat("latencyMs")}`,
        ...common,
      ]];
    case "relay-steady":
    case "steady":
      return [[
        name,
        `${f.received}/${f.sent} delivered`,
        `latency ms ${lat("latencyMs")}`,
        ...common,
      ]];
    case "idle":
      return [[
        name,
        `${f.rssPerConnectionKiB} KiB/conn (${f.rssPerConnectionIdleEndKiB} ` +
        `after the hold), ${f.idleCpuPercent} % CPU idle`,
        `${f.clients} logged in ${f.connectSeconds} s`,
        ...common,
      ]];
    case "fanout":
      return [[
        name,
        `${f.complete}/${f.messages} to ${f.clients}`,
        `all-received ms ${lat("allReceivedMs")}`,
        ...common,
      ]];
    case "replay":
      return [[
        name,
        `${f.received}/${f.stored} in ${f.seconds} s`,
        `${f.rate} msg/s`,
        ...common,
      ]];
    case "storm":
      return [[
        name,
        `p99 ${(f.latencyMs as { p99: number }).p99} → ${
          (f.stormLatencyMs as { p99: number }).p99
        } ms (×${f.p99Ratio})`,
        `${f.logins} logins, ${f.loginFailures} failed, login ms ${
          lat("loginMs")
        }`,
        ...common,
      ]];
    default:
      return [[name, "", "", ...common]];
  }
}

function printTable(
  results: Record<string, Figures>,
  print: (line: string) => void,
): void {
  const rows = [[
    "scenario",
    "result",
    "detail",
    "server CPU s",
    "peak RSS MiB",
  ]];
  for (const [name, figures] of Object.entries(results)) {
    rows.push(...summaryRows(name, figures));
  }
  print(table(rows));
  const relay = results.relay?.rate as number | undefined;
  const pairs = results.pairs?.rate as number | undefined;
  if (relay && pairs) {
    print(`parley pairs = ${round(pairs / relay)} of the no-op relay`);
  }
  const p99 = (name: string) =>
    (results[name]?.latencyMs as { p99: number } | undefined)?.p99;
  const relayP99 = p99("relay-steady");
  const steadyP99 = p99("steady");
  if (relayP99 && steadyP99) {
    print(
      `parley steady p99 = ${round(steadyP99 / relayP99)}× the no-op relay's`,
    );
  }
}

if (import.meta.main) {
  // `--json` without a file means stdout.
  const args = Deno.args.flatMap((arg, i, all) =>
    arg === "--json" && (i + 1 === all.length || all[i + 1].startsWith("--"))
      ? [arg, "-"]
      : [arg]
  );
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "string" },
      pin: { type: "boolean", default: false },
      scenario: { type: "string", multiple: true },
      "cpu-prof": { type: "string" },
      "heap-prof": { type: "string" },
      "steady-rate": { type: "string" },
      netlog: { type: "boolean", default: false },
    },
    allowNegative: false,
  });
  const options: Options = {
    quick: values.quick,
    pin: values.pin,
    cpuProf: values["cpu-prof"] ?? null,
    heapProf: values["heap-prof"] ?? null,
    steadyRate: null,
    netlog: values.netlog,
  };
  if (values["steady-rate"] !== undefined) {
    const rate = Number(values["steady-rate"]);
    if (!Number.isInteger(rate) || rate < 1) {
      console.error(
        `bench: --steady-rate expects a whole number of messages per second, found "${
          values["steady-rate"]
        }"`,
      );
      Deno.exit(2);
    }
    options.steadyRate = rate;
  }
  if (options.heapProf) Deno.mkdirSync(options.heapProf, { recursive: true });
  if (options.pin) {
    const found = await new Deno.Command("taskset", { args: ["-V"] }).output()
      .then(() => true, () => false);
    if (!found) {
      console.error("bench: --pin needs taskset, which was not found");
      Deno.exit(2);
    }
  }
  const all = scenarios(options);
  const chosen = (values.scenario ?? ORDER) as string[];
  for (const name of chosen) {
    if (!(name in all)) {
      console.error(
        `bench: unknown scenario "${name}"; expected one of ${
          ORDER.join(", ")
        }`,
      );
      Deno.exit(2);
    }
  }
  const results: Record<string, Figures> = {};
  let failed = false;
  const toStdout = values.json === "-";
  const log = toStdout ? console.error : console.log;
  for (const name of ORDER.filter((n) => chosen.includes(n))) {
    log(`bench: ${name}...`);
    try {
      results[name] = await all[name]();
    } catch (error) {
      log(`bench: ${name} failed: ${(error as Error).message}`);
      results[name] = { error: (error as Error).message };
      failed = true;
    }
  }
  const report = {
    machine: { cores: navigator.hardwareConcurrency, deno: Deno.version.deno },
    quick: options.quick,
    pinned: options.pin,
    results,
  };
  printTable(results, log);
  if (toStdout) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    if (values.json) {
      await Deno.writeTextFile(
        values.json,
        JSON.stringify(report, null, 2) + "\n",
      );
    }
  }
  if (failed) Deno.exit(1);
}
