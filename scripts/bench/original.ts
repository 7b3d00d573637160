// `archive_vs_original_*`: this archiver against the one it replaces, scimma/archive-ingest on scimma/archive-core
// 1.3.0, run unmodified on the same records, services and machine. The original is not on PyPI, so it is run only
// when given: BENCH_ORIGINAL_PYTHON (a Python with archive-core's dependencies from PyPI: aioboto3, bson,
// filemagic, hop-client, psycopg, psycopg_pool, sqlalchemy, sqlakeyset, toml), BENCH_ORIGINAL_CORE (a checkout of
// archive-core v1.3.0: the directory holding its `archive` package) and BENCH_ORIGINAL_INGEST (archive-ingest's
// scripts/archive_ingest.py at 3c02a27). Like in production it reads through SASL (the services' SASL listener and
// user) and asks a hopauth API which topics to archive: a stand-in here answers for the benchmark's topic.
//
// The original stores one record at a time and says nothing about progress, so its rate is read from its index:
// rows counted every 100 ms, from the first row to the last (start-up excluded, as for ours).
import postgres from "postgres";
import { serviceEnv } from "../../tests/support/helpers.ts";
import type { ChildRun } from "./child.ts";
import { cpuSeconds } from "./proc.ts";
import { figure, note, type Rate, rateFigures, recordsPerSecond } from "./report.ts";
import type { Bench } from "./services.ts";
import { createTopics, produce, type Size } from "./workload.ts";

// The original does ~80 records/s: counts that keep each run at 10-20 s.
const ORIGINAL_SIZES: readonly Size[] = [
  { label: "512B", bytes: 512, count: 1_200 },
  { label: "64KiB", bytes: 64 * 1024, count: 600 },
];

export interface OriginalBench {
  scale: number;
  timeoutSeconds: number;
  /** Our archiver on `topic` into index `schema`, timed like every archive figure. */
  runArchive(topic: string, schema: string, count: number): Promise<ChildRun>;
}

interface Original {
  python: string;
  core: string;
  ingest: string;
}

function originalFromEnv(): Original | undefined {
  const [python, core, ingest] = ["PYTHON", "CORE", "INGEST"].map((n) => Deno.env.get(`BENCH_ORIGINAL_${n}`));
  return python && core && ingest ? { python, core, ingest } : undefined;
}

/** A hopauth `GET /v1/topics` that lists `topic` as archivable (and answers without a SCRAM challenge). */
function hopauthStandIn(topic: string): { url: string; close(): Promise<void> } {
  const body = JSON.stringify([
    { name: topic, archivable: true, publicly_readable: false, index_archived_text: false },
  ]);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(body, { headers: { "content-type": "application/json" } }),
  );
  return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

async function runOriginal(
  original: Original,
  b: Bench,
  topic: string,
  count: number,
  timeoutSeconds: number,
): Promise<Rate> {
  const shared = serviceEnv("DATABASE_URL");
  const url = new URL(shared);
  const database = `${b.schema}_orig_${topic.slice(-6).replace(/[^a-z0-9]/gi, "")}`.toLowerCase();
  const admin = postgres(shared, { max: 1, onnotice: () => {} });
  const dir = await Deno.makeTempDir({ prefix: "hkbench-orig-" });
  const hopauth = hopauthStandIn(topic);
  const group = `${b.id}-orig`;
  b.groups.push(`${serviceEnv("KAFKA_USERNAME")}-${group}`);
  let child: Deno.ChildProcess | undefined;
  try {
    await admin.unsafe(`CREATE DATABASE ${database}`);
    const auth = `${dir}/auth.toml`;
    await Deno.writeTextFile(
      auth,
      `[[auth]]\nusername = ${JSON.stringify(serviceEnv("KAFKA_USERNAME"))}\npassword = ${
        JSON.stringify(serviceEnv("KAFKA_PASSWORD"))
      }\nprotocol = "SASL_PLAINTEXT"\nmechanism = "SCRAM_SHA_512"\n`,
      { mode: 0o600 },
    );
    const [host, port] = serviceEnv("KAFKA_SASL_BROKERS").split(":");
    child = new Deno.Command(original.python, {
      args: [original.ingest],
      cwd: dir,
      env: {
        PYTHONPATH: original.core,
        HOME: dir, // hop-client looks for its own config under $HOME
        CONSUMER_TYPE: "hop",
        KAFKA_HOSTNAME: host!,
        KAFKA_PORT: port!,
        KAFKA_LOCAL_AUTH: auth,
        KAFKA_GROUPNAME: group,
        DB_TYPE: "sql",
        DB_HOST: url.hostname,
        DB_PORT: url.port,
        DB_NAME: database,
        DB_USERNAME: decodeURIComponent(url.username),
        DB_PASSWORD: decodeURIComponent(url.password),
        STORE_TYPE: "S3",
        STORE_ENDPOINT_URL: serviceEnv("S3_ENDPOINT"),
        STORE_REGION_NAME: serviceEnv("AWS_REGION"),
        S3_ACCESS_KEY_ID: serviceEnv("AWS_ACCESS_KEY_ID"),
        S3_SECRET_ACCESS_KEY: serviceEnv("AWS_SECRET_ACCESS_KEY"),
        // Its keys (<topic>/<Y>/<M>/<D>/<H>/<uuid>.bson) never meet ours (daily, zero-padded) in the run's bucket.
        STORE_PRIMARY_BUCKET: b.bucket,
        STORE_BACKUP_BUCKET: b.bucket,
        HOPAUTH_API_URL: hopauth.url,
        HOPAUTH_USERNAME: "bench",
        HOPAUTH_PASSWORD: "bench",
        LIVENESS_FILE: `${dir}/liveness`,
        LOG_LEVEL: "WARNING",
      },
      clearEnv: true,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const rows = postgres({ ...connectionOf(url), database, max: 1, onnotice: () => {} });
    try {
      const counted = async () => {
        const exists = await rows`select to_regclass('messages') is not null as ok`;
        if (!exists[0]?.ok) return 0;
        const [r] = await rows<{ n: string }[]>`select count(*)::text as n from messages`;
        return Number(r?.n ?? 0);
      };
      const deadline = Date.now() + timeoutSeconds * 1000;
      let first: { at: number; n: number; cpu: number | null } | undefined;
      for (;;) {
        if (Date.now() > deadline) throw new Error(`the original archived too little in ${timeoutSeconds} s`);
        const n = await counted();
        const at = performance.now();
        if (first === undefined && n > 0) first = { at, n, cpu: cpuSeconds(child.pid) };
        if (n >= count && first !== undefined) {
          const cpu = cpuSeconds(child.pid);
          return {
            records: n - first.n,
            valueBytes: 0,
            seconds: (at - first.at) / 1000,
            cpuSeconds: cpu === null || first.cpu === null ? 0 : cpu - first.cpu,
          };
        }
        const exited = await Promise.race([child.status.then(() => true), sleepMs(100).then(() => false)]);
        if (exited) {
          throw new Error(`the original exited after ${n} records:\n${(await stderr).slice(-2000)}`);
        }
      }
    } finally {
      await rows.end();
    }
  } finally {
    if (child !== undefined) {
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      await child.status;
    }
    await hopauth.close();
    await admin.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => {});
    await admin.end();
    await Deno.remove(dir, { recursive: true });
  }
}

function connectionOf(url: URL) {
  return {
    host: url.hostname,
    port: Number(url.port),
    username: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  };
}

const sleepMs = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function originalFigures(b: Bench, o: OriginalBench): Promise<void> {
  const original = originalFromEnv();
  if (original === undefined) {
    note(
      "archive_vs_original not measured: set BENCH_ORIGINAL_PYTHON, BENCH_ORIGINAL_CORE and BENCH_ORIGINAL_INGEST",
    );
    return;
  }
  for (const size of ORIGINAL_SIZES) {
    const count = Math.max(1, Math.round(size.count * o.scale));
    const s = size.label;
    const topic = `${b.id}-src-orig-${s}`;
    await createTopics(b.kafka, [topic]);
    await produce(b.kafka, topic, size, count);
    note(`original on ${count} x ${s}`);
    const theirs = await runOriginal(original, b, topic, count, o.timeoutSeconds);
    const schema = `${b.schema}_vsorig_${s.toLowerCase()}`;
    b.schemas.push(schema);
    note(`archive on the same ${count} x ${s}`);
    const ours = await o.runArchive(topic, schema, count);
    const oursRate: Rate = {
      records: count,
      valueBytes: count * size.bytes,
      seconds: ours.workSeconds,
      cpuSeconds: ours.workCpuSeconds,
    };
    rateFigures(`original_${s}`, { ...theirs, valueBytes: theirs.records * size.bytes });
    rateFigures(`archive_${s}_original_workload`, oursRate);
    figure(`archive_vs_original_${s}`, recordsPerSecond(oursRate) / recordsPerSecond(theirs));
  }
}
