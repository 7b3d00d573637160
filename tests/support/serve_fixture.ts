// One `serve` for a test: a fresh MinIO bucket and PostgreSQL schema, records archived through the ingest core the
// archiver uses, the hopauth stand-in (real SCRAM-SHA-512), and the server on 127.0.0.1 at a free port.
import { createIngest, type Ingest } from "../../lib/archive/ingest.ts";
import { connectIndex, type IndexSql } from "../../lib/index/database.ts";
import { createIndex } from "../../lib/index/postgres.ts";
import { createBrowse } from "../../lib/index/browse.ts";
import { createHeadlines } from "../../lib/index/headline.ts";
import { createWebPages } from "../../lib/web/handler.ts";
import { indexTextSearch } from "../../lib/web/search.ts";
import type { Index } from "../../lib/index/types.ts";
import { createMetrics, type Metrics } from "../../lib/runtime/metrics.ts";
import { type Logger, silentLogger } from "../../lib/runtime/log.ts";
import type { KafkaRecord } from "../../lib/format/record.ts";
import type { WireHeader } from "../../lib/format/types.ts";
import { createHopAuth } from "../../lib/serve/hopauth.ts";
import { parsePublicTopics } from "../../lib/topics/public_topics.ts";
import { startServer } from "../../lib/serve/server.ts";
import { createListing } from "../../lib/index/listing.ts";
import { createHopAuthMulti } from "../../lib/serve/hopauth_multi.ts";
import type { CorsPolicy } from "../../lib/serve/manners.ts";
import { openStore } from "../../lib/store/open.ts";
import type { BlobStore } from "../../lib/store/types.ts";
import type { ListenerLimits } from "../../lib/serve/listener.ts";
import { createBucket, dropBucket, dropSchema, testIds } from "./archive_helpers.ts";
import { type StandIn, type StandInOptions, startHopAuthStandIn } from "./hopauth_standin.ts";
import { serviceEnv } from "./helpers.ts";

export interface ServeFixture {
  id: string;
  bucket: string;
  schema: string;
  url: string;
  /** The test schema's connection (the index's). */
  sql: IndexSql;
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

/** What a test may change: where serve finds its services (a silent proxy), and its deadlines. */
export interface ServeTweaks {
  /** host:port that stands for PostgreSQL (tests/silent_proxy.ts). */
  databaseAddress?: string;
  /** host:port that stands for MinIO. */
  s3Address?: string;
  /** The permissions service's URL instead of the stand-in's. */
  hopAuthUrl?: string;
  hopAuthTimeoutMs?: number;
  deadlineMs?: number;
  indexSilenceSeconds?: number;
  storeSocketTimeoutMs?: number;
  limits?: ListenerLimits;
  maxUploadBytes?: number;
  /** serve's logger (default: silent). */
  log?: Logger;
  cors?: CorsPolicy;
  /** Serve the web pages (lib/web/) too, as `housekeeping serve` does. */
  web?: boolean;
}

function withAddress(url: string, address: string | undefined): string {
  if (address === undefined) return url;
  const u = new URL(url);
  u.host = address;
  return u.toString();
}

export async function withServe(
  options: { publicTopics: string; auth: Omit<StandInOptions, "root">; tweaks?: ServeTweaks },
  fn: (f: ServeFixture) => Promise<void>,
): Promise<void> {
  const { id, schema } = testIds("serve");
  const tweaks = options.tweaks ?? {};
  const bucket = `hk-${id}`.toLowerCase().slice(0, 60);
  await createBucket(bucket);
  // Set up directly; serve's own connections go through the tweaks (a silent proxy, perhaps).
  const setupSql = await connectIndex(serviceEnv("DATABASE_URL"), { searchPath: schema });
  await createIndex(setupSql).migrate();
  await setupSql.end({ timeout: 5 });
  const sql = await connectIndex(withAddress(serviceEnv("DATABASE_URL"), tweaks.databaseAddress), {
    searchPath: schema,
    ...(tweaks.indexSilenceSeconds !== undefined
      ? { silenceTimeoutSeconds: tweaks.indexSilenceSeconds }
      : {}),
  });
  const index = createIndex(sql);
  const store = await openStore(`s3://${bucket}`, {
    endpoint: withAddress(serviceEnv("S3_ENDPOINT"), tweaks.s3Address).replace(/\/$/, ""),
    ...(tweaks.storeSocketTimeoutMs !== undefined ? { socketTimeoutMs: tweaks.storeSocketTimeoutMs } : {}),
  });
  const publicTopics = parsePublicTopics(options.publicTopics);
  const metrics = createMetrics(undefined, { showTopic: publicTopics.isPublic }); // as serve
  const stop = new AbortController();
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
  const hopAuth = createHopAuth({
    url: tweaks.hopAuthUrl ?? hopauth.url,
    realm: "tests",
    log: tweaks.log ?? silentLogger,
    ...(tweaks.hopAuthTimeoutMs !== undefined ? { timeoutMs: tweaks.hopAuthTimeoutMs } : {}),
  });
  const log = tweaks.log ?? silentLogger;
  const web = tweaks.web
    ? createWebPages({
      index,
      browse: createBrowse(sql),
      textSearch: indexTextSearch(index),
      headlines: createHeadlines(sql),
      // Snippets are dropped after their time budget; a test on a loaded machine must not see that by chance.
      snippetBudgetMs: 60_000,
      store,
      hopAuth,
      publicTopics,
      log,
    })
    : null;
  const server = await startServer({
    ...(web !== null ? { web } : {}),
    index,
    store,
    ingest,
    hopAuth,
    listing: createListing(sql),
    multi: createHopAuthMulti({
      url: tweaks.hopAuthUrl ?? hopauth.url,
      log: tweaks.log ?? silentLogger,
      ...(tweaks.hopAuthTimeoutMs !== undefined ? { timeoutMs: tweaks.hopAuthTimeoutMs } : {}),
    }),
    realm: "tests",
    ...(tweaks.cors ? { cors: tweaks.cors } : {}),
    publicTopics,
    metrics,
    log: tweaks.log ?? silentLogger,
    maxUploadBytes: tweaks.maxUploadBytes ?? 8 * 2 ** 20,
    ...(tweaks.deadlineMs !== undefined ? { deadlineMs: tweaks.deadlineMs } : {}),
  }, { hostname: "127.0.0.1", port: 0, ...(tweaks.limits ? { limits: tweaks.limits } : {}) });
  try {
    await fn({
      id,
      bucket,
      schema,
      url: `http://127.0.0.1:${server.port}`,
      sql,
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
