/**
 * The benchmark still runs: `scripts/bench.ts --quick --json` starts real
 * servers and the load generator, and reports every scenario. Speed is
 * never checked here; the machine running the tests is too busy for that.
 */

import assert from "node:assert/strict";

const BENCH = new URL("../scripts/bench.ts", import.meta.url).pathname;

/** Every figure a scenario must report, as a path into its result. */
const FIGURES: Record<string, string[]> = {
  relay: ["rate", "latencyMs.p99"],
  pairs: ["rate", "latencyMs.p50", "latencyMs.p99", "latencyMs.max"],
  "relay-steady": ["latencyMs.p99", "received"],
  steady: ["latencyMs.p50", "latencyMs.p99", "latencyMs.max"],
  idle: [
    "rssPerConnectionKiB",
    "rssPerConnectionIdleEndKiB",
    "idleCpuPercent",
    "connectSeconds",
  ],
  fanout: ["allReceivedMs.p50", "allReceivedMs.max"],
  replay: ["seconds", "received"],
  storm: ["latencyMs.p99", "stormLatencyMs.p99", "p99Ratio", "logins"],
};

const SCENARIOS = Object.keys(FIGURES);

function at(value: unknown, path: string): unknown {
  return path.split(".").reduce(
    (v, part) => (v as Record<string, unknown> | undefined)?.[part],
    value,
  );
}

Deno.test("bench --quick --json reports every scenario with numeric figures", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", BENCH, "--quick", "--json"],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  const report = JSON.parse(new TextDecoder().decode(output.stdout));
  assert.equal(report.quick, true);
  assert.deepEqual(Object.keys(report.results), SCENARIOS);
  for (const name of SCENARIOS) {
    const result = report.results[name];
    for (const path of [...FIGURES[name], "serverCpuS", "serverPeakRssMiB"]) {
      const value = at(result, path);
      assert.ok(
        typeof value === "number" && Number.isFinite(value),
        `${name}.${path} should be a finite number, found ${value}`,
      );
    }
  }
  assert.equal(report.results.pairs.errors, 0);
  assert.equal(report.results.fanout.complete, report.results.fanout.messages);
  assert.equal(report.results.replay.received, report.results.replay.stored);
});
