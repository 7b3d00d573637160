// The index: one `messages` row per archived object, one `receipts` row per record received again. Every
// statement is parameterised; batches go out as multi-row statements, chunked under PostgreSQL's limit of 65535
// parameters per statement.
import type postgres from "postgres";
import { hkError } from "../runtime/errors.ts";
import { coalesced } from "./coalesce.ts";
import { indexError, type IndexSql } from "./database.ts";
import { migrate, schemaVersion } from "./migrations.ts";
import { findOriginals } from "./original.ts";
import { createTextIndex } from "./text.ts";
import {
  canonicalUuid,
  chunks,
  claimKey,
  type DbRow,
  fromDb,
  type Int8,
  int8,
  int8OrNull,
  MESSAGE_COLUMNS,
  RECEIPT_COLUMNS,
  toDb,
  withoutId,
} from "./rows.ts";
import type {
  Index,
  OrderPosition,
  PartitionSummary,
  Receipt,
  RowText,
  SelectFilter,
  SelectPage,
  StoredRow,
  TopicStats,
} from "./types.ts";

// What a claim's INSERT returns for each row it inserted.
interface Claimed {
  uuid: string;
  topic: string;
  partition: number | null;
  offset: Int8 | null;
  timestamp: Int8;
}

/** Random samples of an index with at least this many rows (by the planner's estimate) read random blocks. */
export const SAMPLE_BLOCKS_FROM_ROWS = 100_000;

export function createIndex(sql: IndexSql): Index {
  async function guard<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw indexError(e, action);
    }
  }

  // Runs a statement per chunk; several chunks share a transaction so a batch is all-or-nothing.
  async function batched<T, R>(
    items: readonly T[],
    columns: number,
    statement: (q: IndexSql | postgres.TransactionSql<{ bigint: bigint }>, chunk: T[]) => Promise<R[]>,
  ): Promise<R[]> {
    const parts = chunks(items, columns);
    if (parts.length === 1) return await statement(sql, parts[0]!);
    return await sql.begin(async (tx) => {
      const out: R[] = [];
      for (const part of parts) out.push(...(await statement(tx, part)));
      return out;
    }) as R[];
  }

  // One place that lists the columns read back, so every reader maps rows the same way.
  function selectRows(
    where: postgres.PendingQuery<postgres.Row[]>,
    tail: postgres.PendingQuery<postgres.Row[]>,
    from = sql`messages`,
  ) {
    return sql<DbRow[]>`
      select id, uuid::text as uuid, topic, timestamp, partition, "offset", size, key, bucket, crc32,
        is_client_uuid, message_crc32, floor(extract(epoch from archived_at) * 1000)::int8 as archived_ms,
        archiver_version, content_sha256, value_size, sender, format, is_test, clash_of::text as clash_of,
        public, direct_upload, title, media_type, file_name, originator, retracted, quarantined,
        quarantine_reason
      from ${from} where ${where} ${tail}`;
  }

  // A random sample of a large index reads ~10x the rows asked for, in random blocks (TABLESAMPLE SYSTEM), instead
  // of ordering every row by random(): 10 000 of 10 million rows. A filter that leaves fewer rows than asked for in
  // the blocks read falls back to the full scan (null).
  async function sampleRows(where: postgres.PendingQuery<postgres.Row[]>, limit: number) {
    const [table] = await sql<{ rows: number }[]>`
      select reltuples::float8 as rows from pg_class where oid = to_regclass('messages')`;
    const rows = table?.rows ?? -1;
    if (rows < SAMPLE_BLOCKS_FROM_ROWS || rows < 100 * limit) return null;
    const percent = (100 * 10 * limit) / rows;
    const found = await selectRows(
      where,
      sql`order by random() limit ${limit}`,
      sql`messages tablesample system (${percent}::float4)`,
    );
    return found.length === limit ? found : null;
  }

  async function claim(rows: StoredRow[]): Promise<boolean[]> {
    if (rows.length === 0) return [];
    const inserted = await guard(
      `claiming ${rows.length} index rows`,
      () =>
        batched(
          rows.map((row) => ({ ...toDb(row), text: row.text ?? null })),
          MESSAGE_COLUMNS.length,
          (q, part) =>
            part.some((r) => r.text !== null) ? claimWithText(q, part) : q<Claimed[]>`
          insert into messages ${q(part, ...MESSAGE_COLUMNS)} on conflict (uuid) do nothing
          returning uuid::text as uuid, topic, partition, "offset", timestamp`,
        ),
    );
    const wins = new Map<string, number>();
    for (const r of inserted) wins.set(claimKey(r), (wins.get(claimKey(r)) ?? 0) + 1);
    return rows.map((row) => {
      const key = claimKey({ ...row, uuid: row.uuid.toLowerCase() });
      const left = wins.get(key) ?? 0;
      if (left === 0) return false;
      wins.set(key, left - 1);
      return true;
    });
  }

  // The message_ts row (archive-core's text search) of each row this statement inserts, in the same statement: a
  // row and its text are committed together or not at all. to_tsvector with one argument, as archive-core, so that
  // its websearch_to_tsquery (the database's default configuration) finds what we index. Texts are matched to the
  // rows that won by their claim identity; of one record given twice, the first text counts. The row's id, time,
  // topic and public flag go with its text: search lists matches in that order (migration 9).
  function claimWithText(
    q: IndexSql | postgres.TransactionSql<{ bigint: bigint }>,
    part: (ReturnType<typeof toDb> & { text: RowText | null })[],
  ) {
    const texts = part.map((r, ord) => ({ ...r, ord })).filter((r) => r.text !== null);
    // Every column as text: postgres.js sends a JS array of booleans or numbers as one value, not an array.
    const column = (pick: (r: (typeof texts)[number]) => unknown) =>
      texts.map((r) => {
        const v = pick(r);
        return v === null ? null : String(v);
      });
    return q<Claimed[]>`
      with claimed as (
        insert into messages ${q(part, ...MESSAGE_COLUMNS)} on conflict (uuid) do nothing
        returning id, uuid, topic, partition, "offset", timestamp, public
      ), texts as (
        select * from unnest(${column((r) => r.uuid)}::text[], ${column((r) => r.topic)}::text[],
          ${column((r) => r.partition)}::text[], ${column((r) => r.offset)}::text[],
          ${column((r) => r.timestamp)}::text[], ${column((r) => r.text!.text)}::text[],
          ${column((r) => r.text!.fullyIndexed)}::text[], ${column((r) => r.ord)}::text[])
          as t(uuid, topic, partition, "offset", timestamp, text, fully_indexed, ord)
      ), indexed as (
        insert into message_ts (uuid, text_data, text_fully_indexed, m_id, m_timestamp, m_topic, m_public)
        select distinct on (c.uuid) c.uuid, to_tsvector(t.text), t.fully_indexed::bool, c.id, c.timestamp, c.topic,
          c.public
        from claimed c join texts t on t.uuid::uuid = c.uuid and t.topic = c.topic
          and t.timestamp::int8 = c.timestamp and t.partition::int4 is not distinct from c.partition
          and t."offset"::int8 is not distinct from c."offset"
        order by c.uuid, t.ord::int4
      )
      select uuid::text as uuid, topic, partition, "offset", timestamp from claimed`;
  }

  async function lookup(uuids: string[]): Promise<Map<string, StoredRow>> {
    return await lookupDistinct([...new Set(uuids.map(canonicalUuid))]);
  }

  /** Rows of `wanted`: distinct canonical uuids. */
  async function lookupDistinct(wanted: string[]): Promise<Map<string, StoredRow>> {
    const out = new Map<string, StoredRow>();
    if (wanted.length === 0) return out;
    const rows = await guard(
      `looking up ${wanted.length} uuids`,
      () => selectRows(sql`uuid = any(${wanted}::uuid[])`, sql``),
    );
    for (const r of rows) out.set(r.uuid, withoutId(fromDb(r)));
    return out;
  }

  async function recordReceipts(receipts: Receipt[]): Promise<number> {
    if (receipts.length === 0) return 0;
    const values = receipts.map((r) => ({
      uuid: r.uuid,
      topic: r.topic,
      partition: r.partition,
      offset: r.offset,
      timestamp: r.timestamp,
    }));
    const inserted = await guard(
      `recording ${receipts.length} receipts`,
      () =>
        batched(values, RECEIPT_COLUMNS.length, (q, part) =>
          q<{ id: Int8 }[]>`
          insert into receipts ${q(part, ...RECEIPT_COLUMNS)}
          on conflict (topic, partition, "offset", timestamp) do nothing returning id`),
    );
    return inserted.length;
  }

  // With 64 clients GETting /msg, 4 slots gave 3.4 keys per statement and 1 slot 7 (the lookup's JS cost per
  // request 0.16 -> 0.13 ms; a statement of one key cost ~0.1 ms of CPU, of eight ~0.05 per key). So one
  // statement at a time, and a second only when the one in flight has taken 50 ms (a slow statement must not
  // hold every lookup).
  // The coalescer's keys are canonical (byUuid) and distinct already.
  const oneByUuid = coalesced(lookupDistinct, { slots: 2, maxKeys: 64, stallMs: 50 });
  async function byUuid(uuid: string): Promise<StoredRow | null> {
    return await oneByUuid(canonicalUuid(uuid));
  }

  // One WHERE clause for select and count, so a progress total always matches what is paged through.
  function whereOf(filter: SelectFilter, after?: bigint) {
    const uuids = filter.uuids?.map(canonicalUuid);
    const conditions = [
      filter.topics !== undefined ? sql`topic = any(${filter.topics}::text[])` : null,
      filter.topicRegex !== undefined ? sql`topic ~ ${filter.topicRegex}` : null,
      filter.excludeTopics !== undefined ? sql`not (topic = any(${filter.excludeTopics}::text[]))` : null,
      filter.since !== undefined ? sql`timestamp >= ${filter.since}` : null,
      filter.until !== undefined ? sql`timestamp < ${filter.until}` : null,
      uuids !== undefined ? sql`uuid = any(${uuids}::uuid[])` : null,
      filter.partition !== undefined ? sql`partition = ${filter.partition}` : null,
      filter.fromOffset !== undefined ? sql`"offset" >= ${filter.fromOffset}` : null,
      filter.toOffset !== undefined ? sql`"offset" < ${filter.toOffset}` : null,
      filter.sender !== undefined ? sql`sender = ${filter.sender}` : null,
      filter.format !== undefined ? sql`format = ${filter.format}` : null,
      after !== undefined ? sql`id > ${after}` : null,
    ].filter((c) => c !== null);
    return conditions.reduce((all, c) => sql`${all} and ${c}`, sql`true`);
  }

  async function select(filter: SelectFilter, page: SelectPage): Promise<(StoredRow & { id: bigint })[]> {
    if (!Number.isSafeInteger(page.limit) || page.limit < 1) {
      throw hkError("INDEX_QUERY_INVALID", `page limit must be a positive integer, got ${page.limit}`);
    }
    const where = whereOf(filter, page.random ? undefined : page.after);
    const order = page.random ? sql`order by random()` : sql`order by id`;
    const rows = await guard(
      "selecting index rows",
      async () =>
        (page.random ? await sampleRows(where, page.limit) : null) ??
          await selectRows(where, sql`${order} limit ${page.limit}`),
    );
    return rows.map(fromDb);
  }

  async function count(filter: SelectFilter): Promise<bigint> {
    const [row] = await guard(
      "counting index rows",
      () => sql<{ n: Int8 }[]>`select count(*) as n from messages where ${whereOf(filter)}`,
    );
    return row === undefined ? 0n : int8(row.n);
  }

  async function receipts(uuids: string[]): Promise<Receipt[]> {
    const wanted = [...new Set(uuids.map(canonicalUuid))];
    if (wanted.length === 0) return [];
    const rows = await guard(
      `reading receipts of ${wanted.length} uuids`,
      () =>
        sql<{ uuid: string; topic: string; partition: number; offset: Int8; timestamp: Int8 }[]>`
        select uuid::text as uuid, topic, partition, "offset", timestamp from receipts
        where uuid = any(${wanted}::uuid[]) and partition is not null and "offset" is not null
        order by id`,
    );
    return rows.map((r) => ({
      uuid: r.uuid,
      topic: r.topic,
      partition: r.partition,
      offset: int8(r.offset),
      timestamp: int8(r.timestamp),
    }));
  }

  // Restore order in two runs, each served by an index: (topic, timestamp) for rows without Kafka coordinates,
  // (topic, partition, "offset") for the rest. Keyset conditions compare whole rows, so paging never skips a tie.
  const LEGACY = sql`(partition is null or "offset" is null)`;
  const KAFKA = sql`(partition is not null and "offset" is not null)`;

  function afterLegacy(p: OrderPosition & { legacy: true }) {
    return sql`(topic, timestamp, id) > (${p.topic}::text, ${p.timestamp}::int8, ${p.id}::int8)`;
  }

  function afterKafka(p: OrderPosition & { legacy: false }) {
    return sql`(topic, partition, "offset", id) > (${p.topic}::text, ${p.partition}::int4, ${p.offset}::int8,
      ${p.id}::int8)`;
  }

  function afterPosition(after?: OrderPosition) {
    if (after === undefined) return sql`true`;
    return after.legacy
      ? sql`((${LEGACY} and ${afterLegacy(after)}) or ${KAFKA})`
      : sql`(${KAFKA} and ${afterKafka(after)})`;
  }

  async function selectInOrder(
    filter: SelectFilter,
    page: { after?: OrderPosition; limit: number },
  ): Promise<(StoredRow & { id: bigint })[]> {
    if (!Number.isSafeInteger(page.limit) || page.limit < 1) {
      throw hkError("INDEX_QUERY_INVALID", `page limit must be a positive integer, got ${page.limit}`);
    }
    const { after, limit } = page;
    const where = whereOf(filter);
    const legacy = after?.legacy === false ? [] : await guard(
      "selecting index rows in restore order",
      () =>
        selectRows(
          sql`${where} and ${LEGACY} and ${after ? afterLegacy(after) : sql`true`}`,
          sql`order by topic, timestamp, id limit ${limit}`,
        ),
    );
    if (legacy.length >= limit) return legacy.map(fromDb);
    const kafka = await guard(
      "selecting index rows in restore order",
      () =>
        selectRows(
          sql`${where} and ${KAFKA} and ${after?.legacy === false ? afterKafka(after) : sql`true`}`,
          sql`order by topic, partition, "offset", id limit ${limit - legacy.length}`,
        ),
    );
    return [...legacy, ...kafka].map(fromDb);
  }

  async function summarize(filter: SelectFilter, after?: OrderPosition): Promise<PartitionSummary[]> {
    const rows = await guard("summarizing the selection", () =>
      sql<
        {
          topic: string;
          partition: number | null;
          records: Int8;
          bytes: Int8;
          earliest: Int8;
          latest: Int8;
        }[]
      >`
        select topic, case when ${LEGACY} then null else partition end as partition, count(*) as records,
          coalesce(sum(size), 0)::int8 as bytes, min(timestamp) as earliest, max(timestamp) as latest
        from messages where ${whereOf(filter)} and ${afterPosition(after)}
        group by 1, 2 order by 1, 2 nulls first`);
    return rows.map((r) => ({
      topic: r.topic,
      partition: r.partition,
      records: int8(r.records),
      bytes: int8(r.bytes),
      earliest: int8(r.earliest),
      latest: int8(r.latest),
    }));
  }

  async function topicStats(sinceMs?: bigint): Promise<TopicStats[]> {
    const since = sinceMs === undefined ? sql`` : sql`where timestamp >= ${sinceMs}`;
    const rows = await guard("computing topic statistics", () =>
      sql<
        {
          topic: string;
          messages: Int8;
          bytes: Int8;
          earliest: Int8 | null;
          latest: Int8 | null;
          last_archived: Int8 | null;
          duplicates: Int8;
        }[]
      >`
        with m as (${
        sinceMs === undefined
          // All time: from the daily summary (migration 4), not a count over every row.
          ? sql`
          select topic, sum(messages)::int8 as messages, sum(bytes)::int8 as bytes, min(earliest) as earliest,
            max(latest) as latest, floor(extract(epoch from max(last_archived)) * 1000)::int8 as last_archived
          from topic_days group by topic`
          : sql`
          select topic, count(*) as messages, coalesce(sum(size), 0)::int8 as bytes, min(timestamp) as earliest,
            max(timestamp) as latest, floor(extract(epoch from max(archived_at)) * 1000)::int8 as last_archived
          from messages ${since} group by topic`
      }),
        r as (select topic, count(*) as duplicates from receipts ${since} group by topic)
        select coalesce(m.topic, r.topic) as topic, coalesce(m.messages, 0) as messages,
          coalesce(m.bytes, 0) as bytes, m.earliest, m.latest, m.last_archived,
          coalesce(r.duplicates, 0) as duplicates
        from m full join r on r.topic = m.topic
        order by 1`);
    return rows.map((r) => ({
      topic: r.topic,
      messages: int8(r.messages),
      bytes: int8(r.bytes),
      earliest: int8OrNull(r.earliest),
      latest: int8OrNull(r.latest),
      lastArchivedAt: int8OrNull(r.last_archived),
      duplicates: int8(r.duplicates),
    }));
  }

  async function releaseQuarantine(row: StoredRow): Promise<boolean> {
    const d = toDb(row);
    const updated = await guard(`taking ${row.uuid} out of the quarantine`, () =>
      sql`
        update messages set sender = ${d.sender}, format = ${d.format}, title = ${d.title},
          media_type = ${d.media_type}, file_name = ${d.file_name}, originator = ${d.originator},
          quarantined = false, quarantine_reason = null
        where uuid = ${canonicalUuid(row.uuid)}::uuid and quarantined`);
    return updated.count === 1;
  }

  async function quarantineCounts(): Promise<{ topic: string; records: bigint }[]> {
    const rows = await guard("counting quarantined rows", () =>
      sql<{ topic: string; records: Int8 }[]>`
        select topic, count(*) as records from messages where quarantined group by topic order by topic`);
    return rows.map((r) => ({ topic: r.topic, records: int8(r.records) }));
  }

  const text = createTextIndex(sql, guard);
  return {
    ...text,
    migrate: () => migrate(sql),
    schemaVersion: () => schemaVersion(sql),
    claim,
    lookup,
    findOriginals: (keys) =>
      guard(`matching ${keys.length} records with other archivers' rows`, () => findOriginals(sql, keys)),
    recordReceipts,
    byUuid,
    select,
    count,
    receipts,
    selectInOrder,
    summarize,
    topicStats,
    quarantineCounts,
    releaseQuarantine,
    insertRepaired: async (row) => (await claim([row]))[0] === true,
  };
}
