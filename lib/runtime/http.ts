// Opt-in HTTP endpoint for orchestrators: /healthz (200 while the consumer runs) and /metrics (Prometheus text).
import { errorMessage, hkError, type HousekeepingError } from "./errors.ts";
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
  const hostname = "0.0.0.0";
  const server = listenOrExplain(() =>
    Deno.serve({
      port,
      hostname,
      onListen: () => log.info("http listening", { port }),
    }, (req) =>
      orchestratorResponse(new URL(req.url).pathname, metrics, healthy) ??
        new Response("not found: try /healthz or /metrics\n", { status: 404 })), {
    hostname,
    port,
    portSetting: "--http-port (HTTP_PORT)",
  });
  return { shutdown: () => server.shutdown() };
}

/** Where a server listens, and the settings that chose it, for a start-up error that says what to change. */
export interface ListenTarget {
  hostname: string;
  port: number;
  portSetting: string;
  hostSetting?: string;
}

/** Runs `start` (a Deno.serve) and turns a failure to listen into one coded line naming the setting to fix. */
export function listenOrExplain<T>(start: () => T, target: ListenTarget): T {
  try {
    return start();
  } catch (e) {
    throw isListenFailure(e) ? listenError(e, target) : e;
  }
}

/** The errors Deno.serve raises when it cannot listen (and nothing else of ours raises). */
export function isListenFailure(e: unknown): boolean {
  return e instanceof Deno.errors.AddrInUse || e instanceof Deno.errors.AddrNotAvailable ||
    e instanceof Deno.errors.PermissionDenied || unresolvable(e);
}

/** A host name that does not resolve (Deno.serve raises a plain Error for it). */
function unresolvable(e: unknown): boolean {
  return e instanceof Error && /failed to lookup address/i.test(e.message);
}

export function listenError(e: unknown, target: ListenTarget): HousekeepingError {
  const where = `${target.hostname}:${target.port}`;
  const host = target.hostSetting ? ` or ${target.hostSetting}` : "";
  const why = e instanceof Deno.errors.AddrInUse
    ? `port ${target.port} is already in use (by another process or another housekeeping): choose another ` +
      `with ${target.portSetting}, or stop what holds it`
    : e instanceof Deno.errors.PermissionDenied
    ? `not permitted (ports below 1024 need privileges): choose a port from 1024 up with ${target.portSetting}`
    : e instanceof Deno.errors.AddrNotAvailable
    ? `${target.hostname} is not an address of this machine: fix ${target.hostSetting ?? "the address"}`
    : unresolvable(e)
    ? `the host name ${target.hostname} does not resolve: fix ${target.hostSetting ?? "the address"}`
    : `${errorMessage(e)}: check ${target.portSetting}${host}`;
  return hkError("HTTP_LISTEN_FAILED", `cannot listen on ${where}: ${why}`, { cause: e });
}
