/**
 * Preloaded into a server by `deno task bench --heap-prof DIR`: samples
 * every allocation the server makes, garbage included, from its start
 * until it is told to stop (SIGTERM or SIGINT, as the bench stops it), and
 * then writes a V8 sampling heap profile to
 * `DIR/heap.PID.heapprofile`. `scripts/profile_summary.ts` sums it up by
 * function.
 *
 * The inspector answers on this thread, so the profile is written before
 * the server's own signal handler goes on to shut it down.
 *
 * @module
 */

import { Session } from "node:inspector";

/** Bytes between samples: V8 records one allocation per this many, on average. */
const SAMPLING_INTERVAL = 4096;

const dir = Deno.env.get("PARLEY_HEAP_PROF");
if (dir) {
  const session = new Session();
  session.connect();
  session.post("HeapProfiler.enable");
  session.post("HeapProfiler.startSampling", {
    samplingInterval: SAMPLING_INTERVAL,
    // Garbage too: the point is what a message costs the collector.
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  const stop = () => {
    Deno.removeSignalListener("SIGTERM", stop);
    Deno.removeSignalListener("SIGINT", stop);
    session.post("HeapProfiler.stopSampling", (error, result) => {
      if (error) {
        console.error(`heap_probe: ${error.message}`);
        return;
      }
      Deno.writeTextFileSync(
        `${dir}/heap.${Deno.pid}.heapprofile`,
        JSON.stringify(result.profile),
      );
    });
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}
