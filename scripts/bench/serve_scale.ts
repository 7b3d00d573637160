// `serve` on the scale index (scripts/bench/scale.ts: BENCH_SCALE_ROWS rows over 40 topics, a few busy, most
// quiet; even topics' rows public): archive-api's listing and search routes through the real `main.ts serve` child,
// one request at a time, each timed from sending to the last byte of its answer. Figures (<N> as in scale.ts):
//   serve_topic_meta_1024_<N>_ms_p50/_p99  GET /topic/{t}?meta=true&limit=1024, 120 requests over every topic:
//                                          first page oldest first, newest first, and from the middle of the
//                                          topic's history (start_time); every topic listed in full
//                                          (--public-topics names them all);
//   serve_messages_search_<N>_ms_p50/_p99  GET /messages?search_query=... (anonymous: public rows of every topic,
//                                          64 full messages a page, read from the store), 100 queries: 50 of one
//                                          word, 50 of two (an event name "GRB 2xxxxxA" or two words);
//   serve_messages_search_meta_<N>_ms_p50/_p99  the same with meta=true: the index's share alone;
//   serve_topics_<N>_ms                    GET /topics (median of 20).
// message_ts (text search) holds a GCN-circular-sized text (300 words of a skewed 5 000-word vocabulary, one of
// 1 000 texts, plus the event's name) for one row in five, unless the index already has texts (scale.ts's
// fillText gives it the same shape). The filler rows
// point at the sample's objects, which the last archive run wrote again (new CRC-32s): the rows a search answers
// with are pointed at the objects as they are now before the full-message requests.
import type postgres from "postgres";
import { createListing } from "../../lib/index/listing.ts";
import { createPrng } from "../../lib/mock/prng.ts";
import { archiveEnv, schemaSql, spawnLogged, waitFor } from "../../tests/support/archive_helpers.ts";
import { figure, note } from "./report.ts";
import type { Bench } from "./services.ts";

const TEXTS = 1_000;
const TEXT_WORDS = 300;
const VOCABULARY = 5_000;
const TEXT_SHARE = 5;
const DAY_MS = 86_400_000;

type Sql = postgres.Sql<{ bigint: bigint }>;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Texts for one row in TEXT_SHARE, unless message_ts has rows already; the GIN index is built once, after. */
async function fillTexts(sql: Sql): Promise<void> {
  const [any] = await sql`select 1 from message_ts limit 1`;
  if (any !== undefined) return;
  const started = performance.now();
  const reserved = await sql.reserve();
  try {
    await reserved`set maintenance_work_mem = '256MB'`;
    await reserved`create temp table texts as
      select k, to_tsvector(string_agg('term' || floor(${VOCABULARY} *
          power((abs(hashint8(k * ${TEXT_WORDS} + w)) % 1000003) / 1000003.0, 3))::int::text, ' ')) as tsv
      from generate_series(0, ${TEXTS - 1}) k, generate_series(1, ${TEXT_WORDS}) w group by k`;
    await reserved`drop index if exists message_ts_idx`;
    await reserved`insert into message_ts (uuid, text_data, text_fully_indexed, m_id, m_timestamp, m_topic, m_public)
      select m.uuid, x.tsv || to_tsvector('GRB ' || (200000 + m.id % 90000)::text || 'A'), true, m.id, m.timestamp,
        m.topic, m.public
      from messages m join texts x on x.k = (m.id / ${TEXT_SHARE}) % ${TEXTS}
      where m.id % ${TEXT_SHARE} = 0`;
    await reserved`create index if not exists message_ts_idx on message_ts using gin (text_data)`;
    await reserved`analyze message_ts`;
  } finally {
    reserved.release();
  }
  note(`serve scale: message_ts filled in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

/** 100 searches: 50 of one word, 50 of two (an event name, or two words); words as often as in the texts. */
function searchQueries(): string[] {
  const prng = createPrng(23);
  const word = () => `term${Math.floor(VOCABULARY * (prng.next() / 2 ** 32) ** 3)}`;
  return [
    ...Array.from({ length: 50 }, word),
    ...Array.from(
      { length: 50 },
      (_, i) => i % 2 === 0 ? `"GRB ${200000 + prng.int(90000)}A"` : `${word()} ${word()}`,
    ),
  ];
}

// The rows the searches answer with, pointed at their objects as the last archive run wrote them.
async function repointSearchRows(sql: Sql, queries: string[]): Promise<void> {
  const listing = createListing(sql);
  const uuids: string[] = [];
  for (const search of queries) {
    const page = await listing.page(
      { topicsPublic: null, topicsFull: null, includeRetracted: true, search },
      { ascending: true, limit: 64 },
    );
    uuids.push(...page.rows.map((r) => r.uuid));
  }
  await sql`update messages m set crc32 = s.crc32, message_crc32 = s.message_crc32, size = s.size
    from messages s
    where m.uuid = any(${uuids}::uuid[]) and s.key = m.key and s.archiver_version <> 'bench-filler'`;
}

async function timedGet(url: string): Promise<number> {
  const started = performance.now();
  const resp = await fetch(url);
  const body = await resp.arrayBuffer();
  if (resp.status !== 200 || body.byteLength === 0) throw new Error(`GET ${url}: ${resp.status}`);
  return performance.now() - started;
}

async function latencies(urls: string[]): Promise<{ p50: number; p99: number }> {
  await timedGet(urls[0]!); // connections, JIT, the index's metadata
  const times: number[] = [];
  for (const url of urls) times.push(await timedGet(url));
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

async function topicUrls(sql: Sql, base: string, topicPrefix: string): Promise<string[]> {
  const spans = await sql<{ topic: string; earliest: bigint; latest: bigint }[]>`
    select topic, min(earliest) as earliest, max(latest) as latest from topic_days
    where topic like ${topicPrefix + "%"} group by topic order by topic`;
  const urls: string[] = [];
  for (const { topic, earliest, latest } of spans) {
    const page = `${base}/topic/${encodeURIComponent(topic)}?meta=true&limit=1024`;
    const middle = (earliest + latest) / 2n;
    urls.push(page, `${page}&asc=false`, `${page}&start_time=${middle - (middle % BigInt(DAY_MS))}`);
  }
  return urls;
}

export async function serveScaleFigures(
  b: Bench,
  options: { schema: string; topicPrefix: string; label: string },
): Promise<void> {
  const { schema, topicPrefix, label: n } = options;
  const sql = schemaSql(schema);
  const child = spawnLogged(
    ["serve", "--http-port", "0", "--http-host", "127.0.0.1", "--bucket", b.bucket, "--db-schema", schema],
    archiveEnv({ PUBLIC_TOPICS: `${topicPrefix}[0-9]+`, LOG_LEVEL: "info" }),
  );
  try {
    await fillTexts(sql);
    const queries = searchQueries();
    await repointSearchRows(sql, queries);
    const port = await waitFor("serve to listen", () => {
      const line = child.lines.find((l) => l.includes("serve listening"));
      return Promise.resolve(line === undefined ? undefined : JSON.parse(line).port as number);
    });
    const base = `http://127.0.0.1:${port}`;
    const meta = await latencies(await topicUrls(sql, base, topicPrefix));
    figure(`serve_topic_meta_1024_${n}_ms_p50`, meta.p50, 1);
    figure(`serve_topic_meta_1024_${n}_ms_p99`, meta.p99, 1);
    const search = (q: string) => `${base}/messages?search_query=${encodeURIComponent(q)}`;
    const searchMeta = await latencies(queries.map((q) => `${search(q)}&meta=true`));
    figure(`serve_messages_search_meta_${n}_ms_p50`, searchMeta.p50, 1);
    figure(`serve_messages_search_meta_${n}_ms_p99`, searchMeta.p99, 1);
    const full = await latencies(queries.map(search));
    figure(`serve_messages_search_${n}_ms_p50`, full.p50, 1);
    figure(`serve_messages_search_${n}_ms_p99`, full.p99, 1);
    const topics = await latencies(Array.from({ length: 20 }, () => `${base}/topics`));
    figure(`serve_topics_${n}_ms`, topics.p50, 1);
  } finally {
    child.kill("SIGTERM");
    await child.done;
    await sql.end();
  }
}
