// The web pages' server time over a 10 M-row index: issue 25 asks for every page under 300 ms. The pages are asked
// of the web handler itself (no socket), HTML read to its end, one at a time. Two ways to get the index:
//   BENCH_WEB_SCHEMA=<schema>  an index filled by scripts/bench/scale.ts and kept (BENCH_KEEP=1), read only: nothing
//                              is written to it. Its message_ts holds a 300-word text for one row in five.
//   (unset)                    this script fills its own: BENCH_WEB_ROWS rows (default 10 000 000) inside
//                              PostgreSQL over 40 topics (a few busy, most quiet) and 3 years, texts for one row in
//                              five as scale.ts gives them; dropped at the end unless BENCH_KEEP=1.
// The rows' objects: SAMPLES real messages archived here (MinIO + PostgreSQL, a schema of their own), JSON with a
// GCN-circular-sized text of the filler texts' vocabulary; every row's object is read as one of them (the store is
// asked for a sample's key in place of the row's), so that message pages and search snippets read real objects of
// the indexed texts' size and words. Figures, p50 and p99 of ROUNDS pages:
//   web_topics_page_<N>_ms       `/`: topic statistics and 30 days of topic_days for every topic;
//   web_topic_page_<N>_ms        the busiest topic's newest page, and pages older than random rows of it;
//   web_message_page_ms          random rows' message pages (object fetched, decoded, rendered);
//   web_search_page_<N>_ms       text searches (Index.search, websearch_to_tsquery) with their snippets
//                                (objects of the 50 hits read, ts_headline): queries of one word and of two (an
//                                event name "GRB 2xxxxxA" or two words) in turn, words as often as in the texts,
//                                each query once, BENCH_WEB_SEARCHES of them (default 100);
//   web_search_page_less_index_<N>_ms  the same pages' time less Index.search's (access, snippets, rendering);
//   web_search_sender_page_<N>_ms      a sender's newest messages (what a search finds when no text matches).
// BENCH_WEB_PARTS=topics,topic,message,search,sender chooses the pages measured (default all).
//   scripts/deno.sh run -A --frozen scripts/bench/web.ts   (after eval "$(scripts/services.sh env)")
import { createIngest } from "../../lib/archive/ingest.ts";
import { createBrowse } from "../../lib/index/browse.ts";
import { connectIndex, type IndexSql } from "../../lib/index/database.ts";
import { createHeadlines } from "../../lib/index/headline.ts";
import { createIndex } from "../../lib/index/postgres.ts";
import { createPrng } from "../../lib/mock/prng.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import { silentLogger } from "../../lib/runtime/log.ts";
import { openStore } from "../../lib/store/open.ts";
import { parsePublicTopics } from "../../lib/topics/public_topics.ts";
import { createWebPages, type WebDeps } from "../../lib/web/handler.ts";
import { indexTextSearch } from "../../lib/web/search.ts";
import { createBucket, dropBucket, dropSchema } from "../../tests/support/archive_helpers.ts";
import { serviceEnv } from "../../tests/support/helpers.ts";
import { figure, note } from "./report.ts";

const KEPT = Deno.env.get("BENCH_WEB_SCHEMA");
/** Which pages to measure (default all): topics, topic, message, search, sender. */
const PARTS = new Set((Deno.env.get("BENCH_WEB_PARTS") ?? "topics,topic,message,search,sender").split(","));
/** Text searches measured (default ROUNDS): fewer when the index's search takes seconds. */
const SEARCHES = Number(Deno.env.get("BENCH_WEB_SEARCHES") ?? "100");
const ROWS = Number(Deno.env.get("BENCH_WEB_ROWS") ?? "10000000");
const ROUNDS = 100;
const TOPICS = 40;
const YEARS = 3;
const CHUNK_ROWS = 1_000_000;
const DAY_MS = 86_400_000;
const SAMPLES = 64;
// The filler texts of scale.ts and serve_scale.ts: 300 words of a 5 000-word vocabulary drawn with a skew (u^3),
// one row in five.
const TEXT_WORDS = 300;
const VOCABULARY = 5_000;
const TEXT_SHARE = 5;
const id = `webbench${Date.now().toString(36)}`;
const enc = new TextEncoder();

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
}

const skewedWord = (u: number) => `term${Math.floor(VOCABULARY * u ** 3)}`;

/**
 * `n` searches: every other one of one word, the others of two (an event name, or two words), words as often as
 * in the texts; interleaved, so that the first few are a sample of the mix.
 */
function searchQueries(n: number): string[] {
  const prng = createPrng(25);
  const word = () => skewedWord(prng.next() / 2 ** 32);
  return Array.from(
    { length: n },
    (_, i) =>
      i % 2 === 0 ? word() : i % 4 === 1 ? `"GRB ${200000 + prng.int(90000)}A"` : `${word()} ${word()}`,
  );
}

/** SAMPLES JSON messages with a filler text each, archived into `sampleSql`'s schema: their object keys. */
async function archiveSamples(sampleSql: IndexSql, store: Awaited<ReturnType<typeof openStore>>) {
  const index = createIndex(sampleSql);
  await index.migrate();
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
  const prng = createPrng(26);
  const topic = `${id}.samples`;
  const records = Array.from({ length: SAMPLES }, (_, i) => {
    const words = Array.from({ length: TEXT_WORDS }, () => skewedWord(prng.next() / 2 ** 32)).join(" ");
    return {
      topic,
      partition: 0,
      offset: BigInt(i),
      timestamp: BigInt(Date.now()),
      key: null,
      value: enc.encode(JSON.stringify({ text: `GRB ${200000 + prng.int(90000)}A ${words}` })),
      headers: [{ key: "_format", value: enc.encode("json") }, {
        key: "_sender",
        value: enc.encode("bench"),
      }],
    };
  });
  await ingest.write(await ingest.claim(records));
  stop.abort();
  return (await index.select({ topics: [topic] }, { limit: SAMPLES })).map((r) => r.key);
}

await createBucket(id);
const sampleSql = await connectIndex(serviceEnv("DATABASE_URL"), { searchPath: id });
const sql = KEPT === undefined
  ? sampleSql
  : await connectIndex(serviceEnv("DATABASE_URL"), { searchPath: KEPT });
const store = await openStore(`s3://${id}`, { endpoint: serviceEnv("S3_ENDPOINT").replace(/\/$/, "") });
try {
  const samples = await archiveSamples(sampleSql, store);
  if (KEPT === undefined) await fill(`${id}.t`);
  const index = createIndex(sql);
  const stats = await index.topicStats();
  const busiest = stats.reduce((a, b) => (b.messages > a.messages ? b : a));
  const label = (() => {
    const rows = Number(stats.reduce((n, s) => n + s.messages, 0n));
    const millions = Math.round(rows / 1_000_000);
    return millions >= 1 ? `${millions}M` : String(rows);
  })();
  note(
    `web bench: ${label} rows in ${KEPT ?? id}; the busiest topic ${busiest.topic} has ${busiest.messages}`,
  );
  // Every row's object is read as one of the samples (by a hash of its key: the same row, the same sample).
  const sampleOf = (key: string) => {
    let h = 0;
    for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) >>> 0;
    return samples[h % samples.length]!;
  };
  // The index's share of a search page: Index.search (another helper's work), timed apart from the page's own.
  const textSearch = indexTextSearch(index);
  let searchMs = 0;
  const deps: WebDeps = {
    index,
    browse: createBrowse(sql),
    textSearch: async (q, filter, limit) => {
      const started = performance.now();
      try {
        return await textSearch(q, filter, limit);
      } finally {
        searchMs += performance.now() - started;
      }
    },
    headlines: createHeadlines(sql),
    store: { get: (key) => store.get(sampleOf(key)) },
    hopAuth: {
      authorize: () => Promise.reject(new Error("every topic is public here")),
      authorizeReads: () => Promise.reject(new Error("every topic is public here")),
    },
    publicTopics: parsePublicTopics(".*"),
    log: silentLogger,
  };
  const web = createWebPages(deps);
  const api = () => Promise.reject(new Error("no API call expected"));
  const time = async (path: string) => {
    const url = new URL(path, "http://bench.local");
    const started = performance.now();
    const resp = (await web(new Request(url), url, api))!;
    const body = await resp.text();
    if (resp.status !== 200) throw new Error(`${path}: ${resp.status}`);
    return { ms: performance.now() - started, body };
  };
  type Pick = { uuid: string; timestamp: bigint; id: bigint };
  let picks = await sql<Pick[]>`
    select uuid::text, timestamp, id from messages tablesample system (0.1) where topic = ${busiest.topic}
    limit ${ROUNDS}`;
  if (picks.length === 0) { // a small index
    picks = await sql<Pick[]>`
      select uuid::text, timestamp, id from messages where topic = ${busiest.topic} order by random() limit ${ROUNDS}`;
  }
  const report = (name: string, ms: number[]) => {
    figure(`${name}_ms_p50`, quantile(ms, 0.5), 1);
    figure(`${name}_ms_p99`, quantile(ms, 0.99), 1);
  };
  const measure = async (name: string, path: (i: number) => string) => {
    for (let i = 0; i < 3; i++) await time(path(i));
    const ms: number[] = [];
    for (let i = 0; i < ROUNDS; i++) ms.push((await time(path(i))).ms);
    report(name, ms);
  };
  const pick = (i: number) => picks[i % picks.length]!;
  const topicPath = `/web/topic/${encodeURIComponent(busiest.topic)}`;
  if (PARTS.has("topics")) await measure(`web_topics_page_${label}`, () => "/");
  if (PARTS.has("topic")) {
    await measure(
      `web_topic_page_${label}`,
      (i) => i % 2 === 0 ? topicPath : `${topicPath}?older=${pick(i).timestamp}_${pick(i).id}`,
    );
  }
  if (PARTS.has("message")) await measure("web_message_page", (i) => `/web/message/${pick(i).uuid}`);
  if (PARTS.has("search")) {
    // Each query once (a repeat would find its pages cached): the page's time, and the page's time less the
    // index's search (access, snippets, rendering).
    await time(`/web/search?q=${encodeURIComponent(skewedWord(0.5))}`);
    const pages: number[] = [];
    const own: number[] = [];
    let hits = 0;
    let excerpts = 0;
    for (const q of searchQueries(SEARCHES)) {
      searchMs = 0;
      const { ms, body } = await time(`/web/search?q=${encodeURIComponent(q)}`);
      pages.push(ms);
      own.push(ms - searchMs);
      hits += body.match(/class="uuid"/g)?.length ?? 0;
      excerpts += body.match(/class="excerpt"/g)?.length ?? 0;
      note(`web bench: search ${q}: ${ms.toFixed(0)} ms, of which Index.search ${searchMs.toFixed(0)} ms`);
    }
    note(`web bench: ${SEARCHES} searches, ${hits} hits shown, ${excerpts} with a snippet`);
    report(`web_search_page_${label}`, pages);
    report(`web_search_page_less_index_${label}`, own);
  }
  if (PARTS.has("sender")) {
    await measure(`web_search_sender_page_${label}`, (i) => `/web/search?q=sender${i % 7}`);
  }
} finally {
  if (Deno.env.get("BENCH_KEEP") !== "1") {
    await dropSchema(id).catch(() => {});
    await dropBucket(id).catch(() => {});
  }
  if (sql !== sampleSql) await sql.end({ timeout: 5 });
  await sampleSql.end({ timeout: 5 });
  store.close();
}

/**
 * ROWS filler rows (pointing at the first sample's object fields) in this script's schema; topic i takes a share
 * proportional to 1/(i+1); then texts for one row in TEXT_SHARE as scale.ts's.
 */
async function fill(prefix: string) {
  const endMs = Date.now() - 3_600_000;
  const startMs = endMs - YEARS * 365 * DAY_MS;
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
      sample as (select * from messages order by id limit 1)
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
  await sql`
    insert into message_ts (uuid, text_data, text_fully_indexed)
    select m.uuid, to_tsvector('GRB ' || (200000 + m.id % 90000)::text || 'A ' || (
      select string_agg('term' || floor(${VOCABULARY} *
        power((abs(hashint8(m.id * ${TEXT_WORDS} + k)) % 1000003) / 1000003.0, 3))::int::text, ' ')
      from generate_series(1, ${TEXT_WORDS}) k)), true
    from messages m where m.id % ${TEXT_SHARE} = 0 and m.archiver_version = 'bench-filler'`;
  await sql`analyze messages`;
  await sql`analyze topic_days`;
  await sql`analyze message_ts`;
}
