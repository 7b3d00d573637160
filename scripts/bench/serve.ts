// `serve` under load: GET /msg/{uuid} of 1 KiB records by 64 concurrent clients against the real `main.ts serve`
// child, side by side with the GET ceiling (the same objects read straight from the store through lib/store/s3.ts
// at the same concurrency). Each request costs serve one index lookup (PostgreSQL) on top of the store GET, and its
// response crosses one more HTTP hop, so the ratio says what the service adds to reading the bucket directly.
// The clients GET through lib/store/http1.ts, the HTTP/1.1 client the ceiling reads the store with: through fetch
// each request cost the bench's own process ~0.1 ms more of the two cores it shares with serve and MinIO, which
// the ratio charged to serve (1 673/s -> 2 117/s, quiet machine, 2026-12-06).
// Figures: serve_get_1KiB_per_s, serve_get_ceiling_1KiB_per_s, serve_get_1KiB_vs_get_ceiling, the p50/p99
// latency seen by the clients, and serve's own CPU per request; with the native ceiling (BENCH_PARTS including
// `native`, scripts/bench/native.ts): serve_get_1KiB_vs_native_get, the same objects read by minio-go; then
// serve_list_64x1MiB_ms_p50 and serve_list_64x1MiB_peak_rss_MiB: 4 clients at once reading full listings of 64
// messages of 1 MiB, and serve's peak RSS over the whole run.
import { createHttp1Client } from "../../lib/store/http1.ts";
import { createIngest } from "../../lib/archive/ingest.ts";
import { connectIndex } from "../../lib/index/database.ts";
import { createIndex } from "../../lib/index/postgres.ts";
import { silentLogger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import { archiveEnv, spawnLogged, waitFor } from "../../tests/support/archive_helpers.ts";
import { serviceEnv } from "../../tests/support/helpers.ts";
import { getCeiling } from "./ceilings.ts";
import { nativeGetCeiling } from "./native.ts";
import { cpuSeconds, residentPeak } from "./proc.ts";
import { figure, MiB, note, type Rate, recordsPerSecond } from "./report.ts";
import type { Bench } from "./services.ts";
import { baseValue, sampleRecord, SIZES } from "./workload.ts";

const CLIENTS = 64;
const SIZE = SIZES[0]!; // 1 KiB

/** Archives `count` records of `size` into the bench bucket and a schema of its own; their UUIDs and keys. */
export async function fill(b: Bench, topic: string, schema: string, count: number, size = SIZE) {
  const sql = await connectIndex(serviceEnv("DATABASE_URL"), { searchPath: schema });
  try {
    const index = createIndex(sql);
    await index.migrate();
    const ingest = createIngest({
      store: b.store,
      index,
      keyLayout: "daily",
      archiverVersion: "bench",
      log: silentLogger,
      metrics: createMetrics(),
      signal: new AbortController().signal,
      putConcurrency: 64,
      maxInflightBytes: 64 * 2 ** 20,
    });
    const base = baseValue(size);
    for (let at = 0; at < count; at += 1000) {
      const records = Array.from(
        { length: Math.min(1000, count - at) },
        (_, i) => sampleRecord(topic, base, at + i),
      );
      await ingest.ingest(records);
    }
    const rows = await index.select({ topics: [topic] }, { limit: count });
    return rows.map((r) => ({ uuid: r.uuid, key: r.key, size: r.size }));
  } finally {
    await sql.end({ timeout: 5 });
  }
}

interface ServeRound {
  rate: Rate;
  latenciesMs: number[];
}

/** `requests` GETs of /msg/{uuid} (cycling through `uuids`) by CLIENTS keep-alive connections; every body is read. */
async function load(base: string, uuids: string[], pid: number, requests: number): Promise<ServeRound> {
  const latenciesMs: number[] = [];
  let next = 0;
  const url = new URL(base);
  const http = createHttp1Client({
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    ca: undefined,
    maxIdle: CLIENTS,
    idleMs: 30_000,
  });
  const client = async () => {
    while (next < requests) {
      const uuid = uuids[next++ % uuids.length]!;
      const started = performance.now();
      const resp = await http.request({ method: "GET", target: `/msg/${uuid}`, headers: [] });
      if (resp.status !== 200 || resp.body.byteLength === 0) throw new Error(`GET ${uuid}: ${resp.status}`);
      latenciesMs.push(performance.now() - started);
    }
  };
  const cpu = cpuSeconds(pid)!;
  const started = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, client));
  http.close();
  return {
    rate: {
      records: requests,
      valueBytes: requests * SIZE.bytes,
      seconds: (performance.now() - started) / 1000,
      cpuSeconds: cpuSeconds(pid)! - cpu,
    },
    latenciesMs,
  };
}

// Full listings of 64 messages of 1 MiB (GET /topic/{t}, archive-api's largest page), LISTING_CLIENTS at once:
// serve streams each object from the store as it passes, so its memory must not grow with the page.
const LISTING_CLIENTS = 4;
async function largeListing(b: Bench, base: string, topic: string, schema: string, pid: number) {
  await fill(b, topic, schema, 64, SIZES[2]!);
  const before = residentPeak(pid);
  const times: number[] = [];
  for (let round = 0; round < 3; round++) {
    await Promise.all(Array.from({ length: LISTING_CLIENTS }, async () => {
      const started = performance.now();
      const resp = await fetch(`${base}/topic/${topic}?limit=64`);
      const body = await resp.arrayBuffer();
      if (resp.status !== 200 || body.byteLength < 64 * MiB) throw new Error(`listing: ${resp.status}`);
      times.push(performance.now() - started);
    }));
  }
  times.sort((x, y) => x - y);
  note(`serve: peak RSS ${(before / MiB).toFixed(0)} MiB before the 1 MiB listings`);
  figure("serve_list_64x1MiB_ms_p50", percentile(times, 50), 0);
  figure("serve_list_64x1MiB_peak_rss_MiB", residentPeak(pid) / MiB, 0);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function serveFigures(
  b: Bench,
  options: { scale: number; rounds: number; native?: boolean },
): Promise<void> {
  const topic = `${b.id}-serve`;
  const schema = `${b.schema}_serve`;
  b.schemas.push(schema);
  const objects = await fill(b, topic, schema, Math.max(64, Math.round(2_000 * options.scale)));
  note(`serve: ${objects.length} objects of 1 KiB archived`);
  const child = spawnLogged(
    ["serve", "--http-port", "0", "--http-host", "127.0.0.1", "--bucket", b.bucket, "--db-schema", schema],
    archiveEnv({ PUBLIC_TOPICS: `${topic},${topic}-1MiB`, LOG_LEVEL: "info" }),
  );
  try {
    const port = await waitFor("serve to listen", () => {
      const line = child.lines.find((l) => l.includes("serve listening"));
      return Promise.resolve(line === undefined ? undefined : JSON.parse(line).port as number);
    });
    const base = `http://127.0.0.1:${port}`;
    const uuids = objects.map((o) => o.uuid);
    await load(base, uuids, child.child.pid, CLIENTS * 4); // warm: connections, JIT, the index's cache
    let best: ServeRound | undefined;
    let ceiling: Rate | undefined;
    let native: Rate | undefined;
    const withNative = options.native ?? true;
    const requests = Math.max(CLIENTS, Math.round(6_000 * options.scale));
    const ceilingObjects = Array.from({ length: requests }, (_, i) => objects[i % objects.length]!);
    for (let round = 1; round <= options.rounds; round++) {
      note(`serve round ${round} of ${options.rounds}`);
      const got = await getCeiling(b.store, ceilingObjects, SIZE, { slots: CLIENTS, inflightBytes: 2 ** 40 });
      if (ceiling === undefined || recordsPerSecond(got) > recordsPerSecond(ceiling)) ceiling = got;
      if (withNative) {
        const limits = { slots: CLIENTS, inflightBytes: 2 ** 40 };
        const nat = await nativeGetCeiling(b.bucket, ceilingObjects, SIZE, limits);
        if (native === undefined || recordsPerSecond(nat) > recordsPerSecond(native)) native = nat;
      }
      const served = await load(base, uuids, child.child.pid, requests);
      if (best === undefined || recordsPerSecond(served.rate) > recordsPerSecond(best.rate)) best = served;
    }
    const sorted = best!.latenciesMs.sort((x, y) => x - y);
    figure("serve_get_1KiB_per_s", recordsPerSecond(best!.rate), 0);
    figure("serve_get_ceiling_1KiB_per_s", recordsPerSecond(ceiling!), 0);
    figure("serve_get_1KiB_vs_get_ceiling", recordsPerSecond(best!.rate) / recordsPerSecond(ceiling!));
    if (native !== undefined) {
      figure("serve_get_native_1KiB_per_s", recordsPerSecond(native), 0);
      figure("serve_get_1KiB_vs_native_get", recordsPerSecond(best!.rate) / recordsPerSecond(native));
      figure("serve_get_ceiling_1KiB_vs_native_get", recordsPerSecond(ceiling!) / recordsPerSecond(native));
    }
    figure("serve_get_1KiB_p50_ms", percentile(sorted, 50), 1);
    figure("serve_get_1KiB_p99_ms", percentile(sorted, 99), 1);
    figure("serve_get_1KiB_cpu_ms_per_request", (best!.rate.cpuSeconds * 1000) / best!.rate.records, 3);
    await largeListing(b, base, `${topic}-1MiB`, schema, child.child.pid);
  } finally {
    child.kill("SIGTERM");
    await child.done;
  }
}
