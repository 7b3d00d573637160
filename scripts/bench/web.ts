// The web pages' server time over an index of BENCH_WEB_ROWS rows (default 10 000 000): issue 25 asks for every
// page under 300 ms with the 10 M-row index. One real message is archived (MinIO + PostgreSQL); the index is then
// filled inside PostgreSQL (generate_series) over 40 topics (a few busy, most quiet) and 3 years, every filler row
// pointing at that message's object, so that the message page reads a real object. The pages are asked of the web
// handler itself (no socket), HTML read to its end:
//   web_topics_page_<N>_ms_p50/_p99   `/`: topic statistics and 30 days of topic_days for every topic;
//   web_topic_page_<N>_ms_p50/_p99    the busiest topic's newest page, and pages older than random rows of it;
//   web_message_page_ms_p50/_p99      random rows' message pages (object fetched, decoded, rendered);
//   web_search_page_<N>_ms_p50/_p99   a sender's newest 50 messages (the search until text search lands).
//   scripts/deno.sh run -A --frozen scripts/bench/web.ts   (after eval "$(scripts/services.sh env)")
// The schema and bucket are dropped at the end unless BENCH_KEEP=1.
// Seen 2026-12-06 (10 M rows, 2 cores shared with five other sessions' work; the fill took ~35 min), p50 / p99:
// topics 38 / 141 ms, topic 4.3 / 40 ms, message 9.5 / 43 ms, search (sender) 2.3 / 13.5 ms.
import { createIngest } from "../../lib/archive/ingest.ts";
import { createBrowse } from "../../lib/index/browse.ts";
import { connectIndex } from "../../lib/index/database.ts";
import { createIndex } from "../../lib/index/postgres.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import { silentLogger } from "../../lib/runtime/log.ts";
import { openStore } from "../../lib/store/open.ts";
import { parsePublicTopics } from "../../lib/topics/public_topics.ts";
import { createWebPages } from "../../lib/web/handler.ts";
import { createBucket, dropBucket, dropSchema } from "../../tests/support/archive_helpers.ts";
import { serviceEnv } from "../../tests/support/helpers.ts";
import { figure, note } from "./report.ts";

const ROWS = Number(Deno.env.get("BENCH_WEB_ROWS") ?? "10000000");
const ROUNDS = 100;
const TOPICS = 40;
const YEARS = 3;
const CHUNK_ROWS = 1_000_000;
const DAY_MS = 86_400_000;
const label = ROWS % 1_000_000 === 0 ? `${ROWS / 1_000_000}M` : String(ROWS);
const id = `webbench${Date.now().toString(36)}`;
const enc = new TextEncoder();

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
}

await createBucket(id);
const sql = await connectIndex(serviceEnv("DATABASE_URL"), { searchPath: id });
const store = await openStore(`s3://${id}`, { endpoint: serviceEnv("S3_ENDPOINT").replace(/\/$/, "") });
try {
  const index = createIndex(sql);
  await index.migrate();
  const topic = `${id}.t00`;
  const stop = new AbortController();
  const ingest = createIngest({
    store,
    index,
    keyLayout: "daily",
    archiverVersion: "bench",
    log: silentLogger,
    metrics: createMetrics(),
    signal: stop.signal,
    putConcurrency: 4,
    maxInflightBytes: 2 ** 24,
  });
  const value = enc.encode(JSON.stringify({ notice: "GCN", text: "x".repeat(2000), n: 1 }));
  await ingest.write(
    await ingest.claim([{
      topic,
      partition: 0,
      offset: 0n,
      timestamp: BigInt(Date.now()),
      key: null,
      value,
      headers: [{ key: "_format", value: enc.encode("json") }, {
        key: "_sender",
        value: enc.encode("bench"),
      }],
    }]),
  );
  stop.abort();
  await fill(topic);
  const browse = createBrowse(sql);
  const web = createWebPages({
    index,
    browse,
    store,
    hopAuth: {
      authorize: () => Promise.reject(new Error("every topic is public here")),
      authorizeReads: () => Promise.reject(new Error("every topic is public here")),
    },
    publicTopics: parsePublicTopics(".*"),
    log: silentLogger,
  });
  const api = () => Promise.reject(new Error("no API call expected"));
  const time = async (path: string) => {
    const url = new URL(path, "http://bench.local");
    const started = performance.now();
    const resp = (await web(new Request(url), url, api))!;
    await resp.text();
    if (resp.status !== 200) throw new Error(`${path}: ${resp.status}`);
    return performance.now() - started;
  };
  const picks = await sql<{ uuid: string; timestamp: bigint; id: bigint }[]>`
    select uuid::text, timestamp, id from messages tablesample system (0.1) where topic = ${topic} limit ${ROUNDS}`;
  const measure = async (name: string, path: (i: number) => string) => {
    for (let i = 0; i < 3; i++) await time(path(i));
    const ms: number[] = [];
    for (let i = 0; i < ROUNDS; i++) ms.push(await time(path(i)));
    figure(`${name}_ms_p50`, quantile(ms, 0.5), 1);
    figure(`${name}_ms_p99`, quantile(ms, 0.99), 1);
  };
  const pick = (i: number) => picks[i % picks.length]!;
  await measure(`web_topics_page_${label}`, () => "/");
  await measure(
    `web_topic_page_${label}`,
    (i) =>
      i % 2 === 0 ? `/web/topic/${topic}` : `/web/topic/${topic}?older=${pick(i).timestamp}_${pick(i).id}`,
  );
  await measure("web_message_page", (i) => `/web/message/${pick(i).uuid}`);
  await measure(`web_search_page_${label}`, (i) => `/web/search?q=sender${i % 7}`);
} finally {
  if (Deno.env.get("BENCH_KEEP") !== "1") {
    await dropSchema(id).catch(() => {});
    await dropBucket(id).catch(() => {});
  }
  await sql.end({ timeout: 5 });
  store.close();
}

/** ROWS filler rows copying the one real row's object fields; topic i takes a share proportional to 1/(i+1). */
async function fill(sampleTopic: string) {
  const endMs = Date.now() - 3_600_000;
  const startMs = endMs - YEARS * 365 * DAY_MS;
  const prefix = sampleTopic.slice(0, -2);
  for (let from = 0; from < ROWS; from += CHUNK_ROWS) {
    const to = Math.min(ROWS, from + CHUNK_ROWS) - 1;
    const started = performance.now();
    await sql`
      with bands as (
        select t, sum(w) over (order by t) - w as lo, sum(w) over (order by t) as hi
        from (select t, (1.0 / (t + 1)) / (select sum(1.0 / (s + 1)) from generate_series(0, ${
      TOPICS - 1
    }) s) as w
          from generate_series(0, ${TOPICS - 1}) t) x),
      sample as (select * from messages where topic = ${sampleTopic} limit 1)
      insert into messages (topic, timestamp, uuid, size, key, bucket, crc32, is_client_uuid, message_crc32,
        partition, "offset", archived_at, archiver_version, content_sha256, value_size, sender, format, title)
      select ${prefix} || lpad(b.t::text, 2, '0'), g.ts, gen_random_uuid(), s.size, s.key, s.bucket, s.crc32, true,
        s.message_crc32, (g.i % 4)::int, g.i + 1, to_timestamp(g.ts / 1000.0), 'bench-filler', s.content_sha256,
        s.value_size, 'sender' || (g.i % 7), 'json', 'GCN notice ' || g.i
      from (select i, (${startMs}::int8 + (i::float8 / ${ROWS} * ${endMs - startMs})::int8) as ts,
          (i * 0.6180339887498949) - floor(i * 0.6180339887498949) as u
        from generate_series(${from}::int8, ${to}::int8) i) g
      join bands b on g.u >= b.lo and g.u < b.hi
      cross join sample s`;
    note(`web bench: ${to + 1} of ${ROWS} rows (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  }
  await sql`analyze messages`;
  await sql`analyze topic_days`;
}
