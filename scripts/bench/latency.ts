// S3 at a distance: the archiver with Toxiproxy between it and MinIO adding 20 ms to every response (built by
// `scripts/services.sh toxiproxy`, cached like MinIO). On loopback a PUT takes ~1 ms; against AWS it takes tens of
// ms, and only concurrency hides that. Printed: archive_1KiB_s3_20ms_vs_put_ceiling (the PUT ceiling through the
// same proxy) and archive_1KiB_s3_20ms_vs_loopback (the same archive without the proxy, in the same run). On two
// shared cores the proxy's own CPU slows the archive as much as the latency may, so the same archive also runs
// through a second proxy that adds no latency: archive_1KiB_s3_20ms_vs_proxy is the latency's share alone, and
// toxiproxy_cpu_ms_per_record what the proxy takes.
import { createS3Store } from "../../lib/store/s3.ts";
import { waitFor } from "../../tests/support/archive_helpers.ts";
import { serviceEnv } from "../../tests/support/helpers.ts";
import { putCeiling } from "./ceilings.ts";
import { freePort, runArchive } from "./commands.ts";
import { cpuSeconds } from "./proc.ts";
import { figure, note, type Rate, rateFigures, recordsPerSecond } from "./report.ts";
import type { Bench } from "./services.ts";
import { createTopics, produce, SIZES } from "./workload.ts";

const LATENCY_MS = 20;
const SIZE = SIZES[0]!;

async function toxiproxyBinary(): Promise<string> {
  const script = new URL("../services.sh", import.meta.url).pathname;
  const out = await new Deno.Command(script, { args: ["toxiproxy"], stderr: "inherit" }).output();
  if (!out.success) throw new Error("scripts/services.sh toxiproxy failed");
  return new TextDecoder().decode(out.stdout).trim();
}

async function api(port: number, path: string, body: unknown): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`toxiproxy ${path}: ${response.status} ${text}`);
}

export async function benchS3Latency(
  b: Bench,
  rounds: number,
  limits: { slots: number; inflightBytes: number },
  timeoutSeconds: number,
): Promise<void> {
  const apiPort = freePort();
  const listenPort = freePort();
  const plainPort = freePort();
  const server = new Deno.Command(await toxiproxyBinary(), {
    args: ["-host", "127.0.0.1", "-port", String(apiPort)],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const s3 = new URL(serviceEnv("S3_ENDPOINT"));
  const endpoint = `http://127.0.0.1:${listenPort}`;
  const plainEndpoint = `http://127.0.0.1:${plainPort}`;
  let store: Awaited<ReturnType<typeof createS3Store>> | undefined;
  try {
    await waitFor("toxiproxy", async () => {
      return (await fetch(`http://127.0.0.1:${apiPort}/version`).then((r) => r.text(), () => null)) ??
        undefined;
    }, 30);
    await api(apiPort, "/proxies", { name: "s3", listen: `127.0.0.1:${listenPort}`, upstream: s3.host });
    await api(apiPort, "/proxies", { name: "s3-plain", listen: `127.0.0.1:${plainPort}`, upstream: s3.host });
    await api(apiPort, "/proxies/s3/toxics", {
      name: "latency",
      type: "latency",
      stream: "downstream",
      attributes: { latency: LATENCY_MS, jitter: 0 },
    });
    store = await createS3Store({ bucket: b.bucket, endpoint });
    const topic = `${b.id}-src-s3latency`;
    const count = SIZE.count;
    await createTopics(b.kafka, [topic]);
    await produce(b.kafka, topic, SIZE, count);
    const best = {
      loopback: 0,
      plain: 0,
      proxied: 0,
      put: undefined as Rate | undefined,
      proxyCpu: Infinity,
    };
    for (let round = 1; round <= rounds; round++) {
      note(`S3 +${LATENCY_MS} ms round ${round} of ${rounds}`);
      const put = await putCeiling(store, `${b.id}-put-s3latency-${round}`, SIZE, count, limits);
      if (best.put === undefined || recordsPerSecond(put) > recordsPerSecond(best.put)) best.put = put;
      for (const via of ["loopback", "plain", "proxied"] as const) {
        const schema = `${b.schema}_s3latency_${via}_${round}`;
        b.schemas.push(schema);
        const proxyCpu = cpuSeconds(server.pid) ?? 0;
        const env = via === "loopback" ? {} : { S3_ENDPOINT: via === "plain" ? plainEndpoint : endpoint };
        const run = await runArchive(b, topic, schema, count, timeoutSeconds, env);
        const rate = count / run.workSeconds;
        best[via] = Math.max(best[via], rate);
        if (via !== "loopback") {
          const msPerRecord = ((cpuSeconds(server.pid) ?? 0) - proxyCpu) * 1000 / count;
          best.proxyCpu = Math.min(best.proxyCpu, msPerRecord);
        }
      }
    }
    rateFigures(`put_ceiling_1KiB_s3_${LATENCY_MS}ms`, best.put!);
    figure(`archive_1KiB_s3_${LATENCY_MS}ms_records_per_s`, best.proxied, 0);
    figure(`archive_1KiB_loopback_records_per_s`, best.loopback, 0);
    figure(`archive_1KiB_s3_proxy_records_per_s`, best.plain, 0);
    figure(`toxiproxy_cpu_ms_per_record`, best.proxyCpu, 3);
    figure(`archive_1KiB_s3_${LATENCY_MS}ms_vs_put_ceiling`, best.proxied / recordsPerSecond(best.put!));
    figure(`archive_1KiB_s3_${LATENCY_MS}ms_vs_loopback`, best.proxied / best.loopback);
    figure(`archive_1KiB_s3_${LATENCY_MS}ms_vs_proxy`, best.proxied / best.plain);
  } finally {
    store?.close();
    server.kill("SIGTERM");
    await server.status;
  }
}
