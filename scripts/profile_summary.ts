/**
 * Sums up a V8 profile by function: self time for a CPU profile
 * (`.cpuprofile`, from `deno task bench --cpu-prof DIR`), bytes allocated
 * for a sampling heap profile (`.heapprofile`, from `--heap-prof DIR`).
 *
 * ```sh
 * deno run -A scripts/profile_summary.ts FILE [--top N] [--per N]
 * ```
 *
 * `--per N` also divides each figure by N, e.g. the messages of the run,
 * to read it as a cost per message.
 *
 * @module
 */

import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: CallFrame }>;
  samples: number[];
  timeDeltas: number[];
}

interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children: HeapNode[];
}

/** A function as the summary names it: name, file and line. */
function label(frame: CallFrame): string {
  const file = frame.url.split("/").slice(-2).join("/");
  const where = file ? ` ${file}:${frame.lineNumber + 1}` : "";
  return `${frame.functionName || "(anonymous)"}${where}`;
}

/** Self time per function in microseconds, and the idle time apart. */
export function cpuTotals(profile: CpuProfile): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const totals = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const key = label(byId.get(id)!);
    totals.set(key, (totals.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  return totals;
}

/** Bytes allocated per function, over the whole tree. */
export function heapTotals(head: HeapNode): Map<string, number> {
  const totals = new Map<string, number>();
  const stack = [head];
  for (let node = stack.pop(); node; node = stack.pop()) {
    if (node.selfSize > 0) {
      const key = label(node.callFrame);
      totals.set(key, (totals.get(key) ?? 0) + node.selfSize);
    }
    stack.push(...node.children);
  }
  return totals;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: {
      top: { type: "string", default: "30" },
      per: { type: "string", default: "1" },
    },
    allowPositionals: true,
  });
  const top = Number(values.top);
  const per = Number(values.per);
  if (positionals.length !== 1 || !(top > 0) || !(per > 0)) {
    console.error(
      "usage: profile_summary.ts FILE [--top N] [--per N] (N > 0)",
    );
    Deno.exit(2);
  }
  const profile = JSON.parse(await Deno.readTextFile(positionals[0]));
  const heap = "head" in profile;
  const totals = heap ? heapTotals(profile.head) : cpuTotals(profile);
  const idle = heap ? 0 : totals.get("(idle)") ?? 0;
  totals.delete("(idle)");
  const busy = [...totals.values()].reduce((sum, n) => sum + n, 0);
  const unit = heap ? "bytes" : "µs";
  console.log(
    heap
      ? `allocated ${busy} bytes` + (per > 1 ? `, ${busy / per} per 1` : "")
      : `busy ${busy / 1e6} s, idle ${idle / 1e6} s` +
        (per > 1 ? `, busy ${busy / per} µs per 1` : ""),
  );
  const rows = [...totals].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [key, value] of rows) {
    const share = (100 * value / busy).toFixed(1).padStart(5);
    const amount = (value / per).toFixed(per > 1 ? 1 : 0).padStart(10);
    console.log(`${amount} ${unit} ${share} %  ${key}`);
  }
}
