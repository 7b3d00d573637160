// BENCH_SCALE_ROWS=10000000: the commands against an index holding years of Hopskotch traffic. A real sample
// (6 000 records of 1 KiB on one topic, produced now) is archived for real; the index of another schema is first
// filled inside PostgreSQL (generate_series) with BENCH_SCALE_ROWS rows over 40 topics (a few busy, most quiet)
// and 3 years up to an hour ago, each pointing at one of the sample's objects (so that verify reads real objects of
// the right size; as every archive run writes the objects again, their CRC-32 no longer matches a filler row's, which
// verify reports). Then:
//   archive_1KiB_<N>_vs_empty   the sample archived into the full index vs into two empty ones;
//   status_<N>_s                the three windows of `status` (1h, 24h, all) read from the index, in total;
//   query_uuid_<N>_ms           one lookup by UUID (median of 50 random filler rows);
//   select_day_<N>_ms           the first page (500 rows) of a one-day selection of the busiest topic, in restore
//                               order: what restore reads first;
//   restore_first_record_<N>_s  spawn of `restore` for one day of the sample's topic to its first record in the
//                               target;
//   verify_sample_10k_of_<N>_s  `verify --sample 10000 --skip-orphans`, spawn to exit;
//   search_<N>_ms_p50/_p99      `search` (Index.search, best 20 by rank) over message_ts filled for one row in
//                               five with a GCN-circular-sized text (300 words), 100 queries: 50 of one word, 50
//                               of two (an event name "GRB 2xxxxxA" or two words), words drawn as often as they
//                               occur in the texts (a few common, most rare);
//   serve_*_<N>_*               archive-api's listing and search routes of `serve` (scripts/bench/serve_scale.ts).
// Even topics' rows are public (archive-core's `public` column), so that anonymous listings have rows to show.
// <N> is 10M for 10 million rows, else the row count. The schemas are dropped at the end unless BENCH_KEEP=1.
import type postgres from "postgres";
import { createIndex } from "../../lib/index/postgres.ts";
import { createPrng } from "../../lib/mock/prng.ts";
import { archiveEnv, schemaSql, spawnLogged, vetoAllBut } from "../../tests/support/archive_helpers.ts";
import { runArchive } from "./commands.ts";
import { serveScaleFigures } from "./serve_scale.ts";
import { deadline } from "./child.ts";
import { figure, note, type Rate, recordsPerSecond } from "./report.ts";
import type { Bench } from "./services.ts";
import { createTopics, produce, SIZES } from "./workload.ts";

const SAMPLE = SIZES[0]!;
const SAMPLE_RECORDS = 6_000;
const TOPICS = 40;
const YEARS = 3;
const CHUNK_ROWS = 1_000_000;
const DAY_MS = 86_400_000;

const label = (rows: number) =>
  rows % 1_000_000 === 0 ? `${rows / 1_000_000}M` : rows % 1000 === 0 ? `${rows / 1000}k` : String(rows);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const result = await fn();
  return [result, performance.now() - start];
}

/**
 * `rows` filler rows in `schema` (migrated), copying object fields from the sample rows of `sampleSchema`. Topic i
 * gets a share proportional to 1/(i+1) (Zipf-like: a few busy topics, many quiet ones); time grows with the row
 * number, so ids, offsets and timestamps rise together as in a real archive.
 */
export async function fill(
  schema: string,
  sampleSchema: string,
  topicPrefix: string,
  rows: number,
  endMs: number,
  startRow = 0,
) {
  const pool = schemaSql(schema);
  await pool`create schema if not exists ${pool(schema)}`;
  // One connection: the temporary tables below live in it.
  const sql = await pool.reserve();
  try {
    await createIndex(pool).migrate();
    const startMs = endMs - YEARS * 365 * DAY_MS;
    await sql`create temp table sample as
      select row_number() over (order by id) - 1 as n, key, bucket, size, crc32, message_crc32, value_size
      from ${sql(sampleSchema)}.messages`;
    const [counted] = await sql<{ n: number }[]>`select count(*)::int as n from sample`;
    const n = counted?.n ?? 0;
    if (n === 0) throw new Error(`${sampleSchema} holds no sample rows`);
    // Zipf weights: topic t takes rows whose fraction u (golden-ratio sequence, well spread) falls in its band.
    await sql`create temp table bands as
      select t, sum(w) over (order by t) - w as lo, sum(w) over (order by t) as hi
      from (select t, (1.0 / (t + 1)) / (select sum(1.0 / (s + 1)) from generate_series(0, ${
      TOPICS - 1
    }) s) as w
        from generate_series(0, ${TOPICS - 1}) t) x`;
    // Rows go in without the secondary indexes, which are built once at the end: maintaining them row by row made
    // the fill several times slower (~5 min per million rows on a busy machine).
    const indexes = await sql<{ name: string; definition: string }[]>`
      select indexname as name, indexdef as definition from pg_indexes
      where schemaname = ${schema} and tablename = 'messages'
        and indexname not in (select conname from pg_constraint where conrelid = 'messages'::regclass)`;
    for (const { name } of indexes) await sql`drop index ${sql(name)}`;
    for (let from = startRow; from < rows; from += CHUNK_ROWS) {
      const to = Math.min(rows, from + CHUNK_ROWS) - 1;
      const [, ms] = await timed(() =>
        sql`insert into messages (topic, timestamp, uuid, size, key, bucket, crc32, is_client_uuid, message_crc32,
            partition, "offset", archived_at, archiver_version, content_sha256, value_size, sender, format, public)
          select ${topicPrefix} || lpad(b.t::text, 2, '0'), g.ts, gen_random_uuid(), s.size, s.key, s.bucket,
            s.crc32, true, s.message_crc32, (g.i % 4)::int, g.i, to_timestamp(g.ts / 1000.0) + interval '2 s',
            'bench-filler', md5(g.i::text) || md5((g.i + 1)::text), s.value_size, 'sender' || (g.i % 7),
            (array['voevent', 'json', 'avro', 'blob'])[1 + g.i % 4], b.t % 2 = 0
          from (select i, (${startMs}::int8 + (i::float8 / ${rows} * ${endMs - startMs})::int8) as ts,
              (i * 0.6180339887498949) - floor(i * 0.6180339887498949) as u
            from generate_series(${from}::int8, ${to}::int8) i) g
          join bands b on g.u >= b.lo and g.u < b.hi
          join sample s on s.n = g.i % ${n}`
      );
      note(`scale: ${to + 1} of ${rows} rows (${(ms / 1000).toFixed(0)} s for the last ${to + 1 - from})`);
    }
    const [, indexMs] = await timed(async () => {
      await sql`set maintenance_work_mem = '256MB'`;
      for (const { definition } of indexes) await sql.unsafe(definition);
    });
    note(`scale: ${indexes.length} indexes built in ${(indexMs / 1000).toFixed(0)} s`);
    await fillText(sql, rows);
    await sql`analyze messages`;
    await sql`analyze topic_days`;
    await sql`analyze message_ts`;
    const [size] = await sql<{ mib: number }[]>`
      select (pg_total_relation_size('messages') / 1048576)::int as mib`;
    note(`scale: messages takes ${size?.mib} MiB with its indexes`);
  } finally {
    sql.release();
    await pool.end();
  }
}

// Words of the filler texts: a vocabulary of VOCABULARY words, word k of a text drawn with a skew (u^3) so that a
// few words are common and most are rare, as in prose; plus each text's event name.
const VOCABULARY = 5_000;
const TEXT_WORDS = 300;
const TEXT_SHARE = 5;

const vocabularyWord = (k: number) => `term${k}`;
// A word's rank k in 0..VOCABULARY-1 from a uniform u in [0, 1): the skew of the filler texts.
const skewed = (u: number) => Math.floor(VOCABULARY * u ** 3);

async function fillText(sql: postgres.ReservedSql<{ bigint: bigint }>, rows: number) {
  for (let from = 0; from < rows; from += CHUNK_ROWS) {
    const [, ms] = await timed(() =>
      sql`insert into message_ts (uuid, text_data, text_fully_indexed, m_id, m_timestamp, m_topic, m_public)
        select m.uuid, to_tsvector('GRB ' || (200000 + m.id % 90000)::text || 'A ' || (
          select string_agg('term' || floor(${VOCABULARY} *
            power((abs(hashint8(m.id * ${TEXT_WORDS} + k)) % 1000003) / 1000003.0, 3))::int::text, ' ')
          from generate_series(1, ${TEXT_WORDS}) k)), true, m.id, m.timestamp, m.topic, m.public
        from messages m where m.id % ${TEXT_SHARE} = 0 and m.id > ${from} and m.id <= ${from + CHUNK_ROWS}`
    );
    note(`scale: texts for rows up to ${Math.min(rows, from + CHUNK_ROWS)} (${(ms / 1000).toFixed(0)} s)`);
  }
}

/** p50 and p99 of 100 searches: 50 of one word, 50 of two (an event name, or two words). */
async function searchTimes(index: ReturnType<typeof createIndex>): Promise<{ p50: number; p99: number }> {
  const prng = createPrng(10);
  const word = () => vocabularyWord(skewed(prng.next() / 2 ** 32));
  const queries = [
    ...Array.from({ length: 50 }, word),
    ...Array.from(
      { length: 50 },
      (_, i) => i % 2 === 0 ? `"GRB ${200000 + prng.int(90000)}A"` : `${word()} ${word()}`,
    ),
  ];
  await index.search(queries[0]!, {}, 20); // the first query reads the index's metadata
  const times: number[] = [];
  for (const q of queries) times.push((await timed(() => index.search(q, {}, 20)))[1]);
  times.sort((a, b) => a - b);
  return { p50: times[49]!, p99: times[98]! };
}

async function archiveRate(b: Bench, topic: string, schema: string): Promise<Rate> {
  const run = await runArchive(b, topic, schema, SAMPLE_RECORDS, 1800);
  return {
    records: SAMPLE_RECORDS,
    valueBytes: SAMPLE_RECORDS * SAMPLE.bytes,
    seconds: run.workSeconds,
    cpuSeconds: run.workCpuSeconds,
  };
}

/** Spawn of `restore` to the first record in the target. */
async function restoreFirstRecord(
  b: Bench,
  schema: string,
  source: string,
  sinceMs: number,
): Promise<number> {
  const target = `${b.id}-dst-scale`;
  await createTopics(b.kafka, [target]);
  const admin = b.kafka.admin();
  await admin.connect();
  const started = performance.now();
  const child = spawnLogged(
    [
      "restore",
      "--topic",
      source,
      "--rename",
      `${source}=${target}`,
      "--since",
      String(sinceMs),
      "--until",
      String(sinceMs + DAY_MS),
      "--on-bad-object",
      "skip",
      "--progress",
      "none",
      "--bucket",
      b.bucket,
      "--db-schema",
      schema,
    ],
    archiveEnv({ VETO_FILE: vetoAllBut(`${b.id}-src-`), LOG_LEVEL: "warn" }),
  );
  try {
    return await deadline(
      "the restore's first record",
      (async () => {
        for (;;) {
          const offsets = await admin.fetchTopicOffsets(target);
          if (offsets.some((p) => Number(p.high) > 0)) return (performance.now() - started) / 1000;
          if (child.exited) throw new Error(`restore exited early:\n${child.lines.slice(-20).join("\n")}`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })(),
      120,
    );
  } finally {
    child.kill("SIGKILL");
    await child.done;
    await admin.disconnect();
  }
}

async function verifySample(b: Bench, schema: string): Promise<number> {
  const started = performance.now();
  const child = spawnLogged(
    ["verify", "--sample", "10000", "--skip-orphans", "--bucket", b.bucket, "--db-schema", schema],
    archiveEnv({ LOG_LEVEL: "error" }),
  );
  await child.done;
  return (performance.now() - started) / 1000;
}

export async function benchScaleRows(b: Bench, rows: number): Promise<void> {
  const n = label(rows);
  const topicPrefix = `${b.id}-src-t`;
  const topic = `${topicPrefix}00`;
  const full = `${b.schema}_scale`;
  const empty = [`${b.schema}_scale_empty_1`, `${b.schema}_scale_empty_2`];
  b.schemas.push(full, ...empty);
  figure(`scale_rows`, rows, 0);
  await createTopics(b.kafka, [topic]);
  await produce(b.kafka, topic, SAMPLE, SAMPLE_RECORDS);
  const nowMs = Date.now();

  // Every archive run writes the sample's objects again (their bytes include when they were archived): the full
  // index, which restore and verify read next, is archived last.
  note("scale: the sample into an empty index");
  const before = await archiveRate(b, topic, empty[0]!);
  note(`scale: filling ${full} with ${rows} rows`);
  await fill(full, empty[0]!, topicPrefix, rows, nowMs - 3_600_000);
  note("scale: the sample into an empty index again");
  const after = await archiveRate(b, topic, empty[1]!);
  note("scale: the sample into the full index");
  const withFull = await archiveRate(b, topic, full);
  const emptyRate = (recordsPerSecond(before) + recordsPerSecond(after)) / 2;
  figure(`archive_1KiB_${n}_records_per_s`, recordsPerSecond(withFull), 0);
  figure(`archive_1KiB_empty_records_per_s`, emptyRate, 0);
  figure(`archive_1KiB_${n}_vs_empty`, recordsPerSecond(withFull) / emptyRate);

  const sql = schemaSql(full);
  try {
    const index = createIndex(sql);
    const now = BigInt(Date.now());
    const windows = [now - 3_600_000n, now - 86_400_000n, undefined];
    const statusMs: number[] = [];
    // Twice: the first pass reads the pages into memory, as a status run right after another one would find them.
    for (let pass = 0; pass < 2; pass++) {
      let total = 0;
      for (const since of windows) total += (await timed(() => index.topicStats(since)))[1];
      statusMs.push(total);
    }
    figure(`status_${n}_s`, statusMs[1]! / 1000, 3);
    figure(`status_${n}_cold_s`, statusMs[0]! / 1000, 3);

    const picks = await sql<{ uuid: string }[]>`
      select uuid::text from messages tablesample system (0.1) where archiver_version = 'bench-filler' limit 50`;
    const lookups: number[] = [];
    for (const { uuid } of picks) {
      const [row, ms] = await timed(() => index.byUuid(uuid));
      if (row === null) throw new Error(`uuid ${uuid} not found`);
      lookups.push(ms);
    }
    figure(`query_uuid_${n}_ms`, median(lookups), 2);

    // A day in the middle of the busiest topic's history.
    const midday = BigInt(nowMs - Math.round(YEARS * 365 * DAY_MS / 2));
    const [page, dayMs] = await timed(() =>
      index.selectInOrder({ topics: [topic], since: midday, until: midday + BigInt(DAY_MS) }, {
        limit: 500,
      })
    );
    note(`scale: a day of ${topic} starts with ${page.length} rows on its first page`);
    figure(`select_day_${n}_ms`, dayMs, 1);
    const search = await searchTimes(index);
    figure(`search_${n}_ms_p50`, search.p50, 1);
    figure(`search_${n}_ms_p99`, search.p99, 1);
  } finally {
    await sql.end();
  }

  await serveScaleFigures(b, { schema: full, topicPrefix, label: n });
  figure(`restore_first_record_${n}_s`, await restoreFirstRecord(b, full, topic, nowMs - DAY_MS / 2), 2);
  figure(`verify_sample_10k_of_${n}_s`, await verifySample(b, full), 2);
}
