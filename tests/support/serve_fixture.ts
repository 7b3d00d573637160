// One `serve` for a test: a fresh MinIO bucket and PostgreSQL schema, records archived through the ingest core the
// archiver uses, the hopauth stand-in (real SCRAM-SHA-512), and the server on 127.0.0.1 at a free port.
import { createIngest, type Ingest } from "../../lib/archive/ingest.ts";
import { connectIndex } from "../../lib/index/database.ts";
import { createIndex } from "../../lib/index/postgres.ts";
import type { Index } from "../../lib/index/types.ts";
import { createMetrics, type Metrics } from "../../lib/runtime/metrics.ts";
import { silentLogger } from "../../lib/runtime/log.ts";
import type { KafkaRecord } from "../../lib/format/record.ts";
import type { WireHeader } from "../../lib/format/types.ts";
import { createHopAuth } from "../../lib/serve/hopauth.ts";
import { parsePublicTopics } from "../../lib/topics/public_topics.ts";
import { startServer } from "../../lib/serve/server.ts";
import { openStore } from "../../lib/store/open.ts";
import type { BlobStore } from "../../lib/store/types.ts";
import { createBucket, dropBucket, dropSchema, testIds } from "./archive_helpers.ts";
import { type StandIn, type StandInOptions, startHopAuthStandIn } from "./hopauth_standin.ts";
import { serviceEnv } from "./helpers.ts";

export interface ServeFixture {
  id: string;
  bucket: string;
  schema: string;
  url: string;
  index: Index;
  store: BlobStore;
  ingest: Ingest;
  metrics: Metrics;
  hopauth: StandIn;
  /** Archives records as `archive` would (same core), returning their UUIDs in order. */
  archive(records: KafkaRecord[]): Promise<string[]>;
}

export function idHeader(uuid: string): WireHeader {
  return {
    key: "_id",
    value: Uint8Array.from(uuid.replaceAll("-", "").match(/../g)!.map((x) => parseInt(x, 16))),
  };
}

export async function withServe(
  options: { publicTopics: string; auth: Omit<StandInOptions, "root"> },
  fn: (f: ServeFixture) => Promise<void>,
): Promise<void> {
  const { id, schema } = testIds("serve");
  const bucket = `hk-${id}`.toLowerCase().slice(0, 60);
  await createBucket(bucket);
  const sql = await connectIndex(serviceEnv("DATABASE_URL"), { searchPath: schema });
  const index = createIndex(sql);
  await index.migrate();
  const store = await openStore(`s3://${bucket}`, { endpoint: serviceEnv("S3_ENDPOINT") });
  const metrics = createMetrics();
  const stop = new AbortController();
  const publicTopics = parsePublicTopics(options.publicTopics);
  const ingest = createIngest({
    store,
    index,
    keyLayout: "daily",
    archiverVersion: "test",
    log: silentLogger,
    metrics,
    signal: stop.signal,
    putConcurrency: 8,
    maxInflightBytes: 64 * 2 ** 20,
    isPublic: publicTopics.isPublic,
    directUpload: true, // as lib/commands/serve.ts
  });
  const hopauth = startHopAuthStandIn(options.auth);
  const server = startServer({
    index,
    store,
    ingest,
    hopAuth: createHopAuth({ url: hopauth.url, realm: "tests", log: silentLogger }),
    publicTopics,
    metrics,
    log: silentLogger,
    maxUploadBytes: 8 * 2 ** 20,
  }, { hostname: "127.0.0.1", port: 0 });
  try {
    await fn({
      id,
      bucket,
      schema,
      url: `http://127.0.0.1:${server.port}`,
      index,
      store,
      ingest,
      metrics,
      hopauth,
      archive: async (records) => {
        const claimed = await ingest.claim(records);
        await ingest.write(claimed);
        const rows = await index.select({ topics: [...new Set(records.map((r) => r.topic))] }, {
          limit: 1000,
        });
        return records.map((r) =>
          rows.find((row) =>
            row.partition === r.partition && row.offset === r.offset && row.topic === r.topic
          )!.uuid
        );
      },
    });
  } finally {
    stop.abort();
    await server.shutdown();
    await hopauth.close();
    store.close();
    await sql.end({ timeout: 5 });
    await dropSchema(schema);
    await dropBucket(bucket);
  }
}
