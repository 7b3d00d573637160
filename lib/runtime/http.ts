// Opt-in HTTP endpoint for orchestrators: /healthz (200 while the consumer runs) and /metrics (Prometheus text).
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import { memoryActivity } from "./memory.ts";

/** The orchestrator endpoints every HTTP server of ours answers; null for any other path. */
export function orchestratorResponse(
  path: string,
  metrics: Metrics,
  healthy: () => boolean,
  unhealthyText = "not consuming\n",
): Response | null {
  if (path === "/healthz") {
    return healthy() ? new Response("ok\n") : new Response(unhealthyText, { status: 503 });
  }
  if (path === "/metrics") {
    metrics.set("resident_memory_bytes", {}, Deno.memoryUsage().rss);
    metrics.set("memory_collections_total", {}, memoryActivity.collections);
    metrics.set("memory_collection_seconds_total", {}, memoryActivity.collectionSeconds);
    return new Response(metrics.render(), { headers: { "content-type": "text/plain; version=0.0.4" } });
  }
  return null;
}

export function serveHttp(port: number, metrics: Metrics, healthy: () => boolean, log: Logger) {
  const server = Deno.serve({
    port,
    hostname: "0.0.0.0",
    onListen: () => log.info("http listening", { port }),
  }, (req) =>
    orchestratorResponse(new URL(req.url).pathname, metrics, healthy) ??
      new Response("not found: try /healthz or /metrics\n", { status: 404 }));
  return { shutdown: () => server.shutdown() };
}
