// A diagnostic for the benchmarks: where a process's peak RSS goes, which /proc alone cannot tell.
import { errorMessage, hkError } from "./errors.ts";

/**
 * HK_MEMLOG=<file>: appends a JSON line of Deno.memoryUsage() (MiB) to the file each time RSS, the V8 heap or the
 * external (ArrayBuffer) memory reaches a new high, sampled every 20 ms; the last line with "rss" as its reason is
 * the RSS peak split into heap and external (scripts/bench.ts). /proc alone cannot tell those apart.
 */
export function startMemoryLog(path: string): void {
  // Checked once here, at start-up: a file that cannot be written used to crash the process 20 ms later, from a
  // timer, as an uncaught NotFound.
  try {
    Deno.writeTextFileSync(path, "", { append: true });
  } catch (e) {
    throw hkError(
      "CONFIG_INVALID",
      `HK_MEMLOG=${path} cannot be written: ${errorMessage(e)}; fix or unset HK_MEMLOG`,
      {
        cause: e,
      },
    );
  }
  const high = { rss: 0, heapTotal: 0, external: 0 };
  const timer = setInterval(() => {
    const m = Deno.memoryUsage();
    const raised = (Object.keys(high) as (keyof typeof high)[]).filter((k) => m[k] > high[k]);
    if (raised.length === 0) return;
    for (const k of raised) high[k] = m[k];
    const mib = (n: number) => Math.round(n / 2 ** 20);
    // With --v8-flags=--expose-gc, a full collection right after each sample tells live memory from garbage.
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const live = gc ? Deno.memoryUsage() : undefined;
    const line = {
      t: Math.round(performance.now()),
      raised,
      rss: mib(m.rss),
      heapTotal: mib(m.heapTotal),
      heapUsed: mib(m.heapUsed),
      external: mib(m.external),
      ...(live ? { liveHeapUsed: mib(live.heapUsed), liveExternal: mib(live.external) } : {}),
    };
    Deno.writeTextFileSync(path, JSON.stringify(line) + "\n", { append: true });
  }, 20);
  Deno.unrefTimer(timer);
}
