// The text-search side of the index (archive-core's message_ts): search with its query language, and what
// `db index-text` needs to fill message_ts for rows archived without their text. The rows' own text goes in with
// the row itself (postgres.ts, claim).
import { hkError } from "../runtime/errors.ts";
import type { IndexSql } from "./database.ts";
import { type DbRow, fromDb, type Int8, int8 } from "./rows.ts";
import { orderedMatches, unordered } from "./text_order.ts";
import type { RowText, SearchFilter, SearchHit, StoredRow } from "./types.ts";

type Guard = <T>(action: string, fn: () => Promise<T>) => Promise<T>;

/** Matches ranked: the newest this many (or `limit`, if more), see search. */
export const RECENT = 100;
/** Up to this many matches, all are ranked (only while message_ts lacks its copies, see search). */
export const RANK_ALL = 2000;

export function createTextIndex(sql: IndexSql, guard: Guard) {
  const columns =
    sql`m.id, m.uuid::text as uuid, m.topic, m.timestamp, m.partition, m."offset", m.size, m.key,
    m.bucket, m.crc32, m.is_client_uuid, m.message_crc32,
    floor(extract(epoch from m.archived_at) * 1000)::int8 as archived_ms, m.archiver_version, m.content_sha256,
    m.value_size, m.sender, m.format, m.is_test, m.clash_of::text as clash_of, m.public, m.direct_upload, m.title,
    m.media_type, m.file_name, m.originator, m.retracted`;

  // websearch_to_tsquery with one argument, as archive-core's search_message_text: the database's default text
  // search configuration, the one to_tsvector used when the text went in.
  function searchWhere(query: string, filter: SearchFilter) {
    const conditions = [
      filter.topics !== undefined ? sql`m.topic = any(${filter.topics}::text[])` : null,
      filter.since !== undefined ? sql`m.timestamp >= ${filter.since}` : null,
      filter.until !== undefined ? sql`m.timestamp < ${filter.until}` : null,
    ].filter((c) => c !== null);
    return conditions.reduce(
      (all, c) => sql`${all} and ${c}`,
      sql`ts.text_data @@ websearch_to_tsquery(${query})`,
    );
  }

  // The best ts_rank among the newest `recent` matches, found in time order from message_ts alone
  // (text_order.ts): ranking every match of a common word means reading a million texts. While some texts lack
  // message_ts's copies (migration 9, before `db index-text` fills them), by joining messages as before:
  // every match ranked up to RANK_ALL, else the newest `recent`.
  async function search(query: string, filter: SearchFilter, limit: number): Promise<SearchHit[]> {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw hkError("INDEX_QUERY_INVALID", `search limit must be a positive integer, got ${limit}`);
    }
    const recent = Math.max(limit, RECENT);
    const rows = await guard("searching the indexed text", async () => {
      if (await unordered(sql)) return await searchJoined(query, filter, limit, recent);
      const matches = await orderedMatches(sql, {
        query,
        where: filter.topics !== undefined ? sql`t.m_topic = any(${filter.topics}::text[])` : sql`true`,
        ascending: false,
        ...(filter.since !== undefined ? { since: filter.since } : {}),
        ...(filter.until !== undefined ? { until: filter.until } : {}),
        limit: recent,
      });
      if (matches.length === 0) return [];
      return await sql<(DbRow & { rank: number })[]>`
        select ${columns}, max(ts_rank(ts.text_data, websearch_to_tsquery(${query})))::float8 as rank
        from messages m join message_ts ts on ts.uuid = m.uuid
        where m.id = any(${matches.map((r) => String(r.id))}::int8[])
          and ts_match_vq(ts.text_data, websearch_to_tsquery(${query}))
        group by m.id
        order by rank desc, m.timestamp desc, m.id desc
        limit ${limit}`;
    });
    return rows.map((r) => ({ ...fromDb(r), rank: r.rank }));
  }

  async function searchJoined(query: string, filter: SearchFilter, limit: number, recent: number) {
    const [few] = await sql<{ n: number }[]>`
      select count(*)::int as n from (
        select 1 from message_ts where text_data @@ websearch_to_tsquery(${query}) limit ${RANK_ALL + 1}
      ) matched`;
    const candidates = (few?.n ?? 0) <= RANK_ALL
      ? sql`
        select m.id, ts.text_data
        from (select uuid, text_data from message_ts where text_data @@ websearch_to_tsquery(${query})
          offset 0) ts
        join messages m on m.uuid = ts.uuid where ${searchWhere(query, filter)}`
      : sql`
        select m.id, ts.text_data from message_ts ts join messages m on m.uuid = ts.uuid
        where ${searchWhere(query, filter)}
        order by m.timestamp desc, m.id desc limit ${recent}`;
    return await sql<(DbRow & { rank: number })[]>`
      select ${columns}, max(ts_rank(r.text_data, websearch_to_tsquery(${query})))::float8 as rank
      from (${candidates}) r join messages m on m.id = r.id
      group by m.id
      order by rank desc, m.timestamp desc, m.id desc
      limit ${limit}`;
  }

  /** How many messages match (archive-core counts the joined rows); with `atMost`, counting stops after it. */
  async function countSearch(query: string, filter: SearchFilter, atMost?: number): Promise<bigint> {
    const [row] = await guard(
      "counting search results",
      async () =>
        await unordered(sql)
          ? await sql<{ n: Int8 }[]>`
          select count(*) as n from (
            select 1 from message_ts ts join messages m on m.uuid = ts.uuid
            where ${searchWhere(query, filter)} ${atMost === undefined ? sql`` : sql`limit ${atMost + 1}`}
          ) matched`
          : await sql<{ n: Int8 }[]>`
          select count(*) as n from (
            select 1 from message_ts t where t.text_data @@ websearch_to_tsquery(${query})
              ${filter.topics !== undefined ? sql`and t.m_topic = any(${filter.topics}::text[])` : sql``}
              ${filter.since !== undefined ? sql`and t.m_timestamp >= ${filter.since}` : sql``}
              ${filter.until !== undefined ? sql`and t.m_timestamp < ${filter.until}` : sql``}
              ${atMost === undefined ? sql`` : sql`limit ${atMost + 1}`}
          ) matched`,
    );
    return row === undefined ? 0n : int8(row.n);
  }

  const unindexed = (topics: string[]) =>
    sql`m.topic = any(${topics}::text[]) and not exists (select 1 from message_ts ts where ts.uuid = m.uuid)`;

  async function withoutText(
    topics: string[],
    after: bigint | undefined,
    limit: number,
  ): Promise<(StoredRow & { id: bigint })[]> {
    const rows = await guard("selecting rows without indexed text", () =>
      sql<DbRow[]>`
        select ${columns} from messages m
        where ${unindexed(topics)} ${after === undefined ? sql`` : sql`and m.id > ${after}`}
        order by m.id limit ${limit}`);
    return rows.map(fromDb);
  }

  async function countWithoutText(topics: string[]): Promise<bigint> {
    const [row] = await guard(
      "counting rows without indexed text",
      () => sql<{ n: Int8 }[]>`select count(*) as n from messages m where ${unindexed(topics)}`,
    );
    return row === undefined ? 0n : int8(row.n);
  }

  async function addText(texts: { uuid: string; text: RowText }[]): Promise<number> {
    if (texts.length === 0) return 0;
    // Only for rows still there and still without text: a concurrent archiver or backfill got there first.
    const added = await guard(`indexing the text of ${texts.length} rows`, () =>
      sql<{ uuid: string }[]>`
        insert into message_ts (uuid, text_data, text_fully_indexed, m_id, m_timestamp, m_topic, m_public)
        select distinct on (t.uuid) t.uuid::uuid, to_tsvector(t.text), t.fully_indexed::bool, m.id, m.timestamp,
          m.topic, m.public
        from unnest(${texts.map((t) => t.uuid)}::text[], ${texts.map((t) => t.text.text)}::text[],
          ${texts.map((t) => String(t.text.fullyIndexed))}::text[]) as t(uuid, text, fully_indexed)
        join messages m on m.uuid = t.uuid::uuid
        where not exists (select 1 from message_ts ts where ts.uuid = t.uuid::uuid)
        order by t.uuid
        returning uuid::text as uuid`);
    return added.length;
  }

  /** message_ts rows still without their copies of the row (migration 9 leaves a large backlog to index-text). */
  async function countUnordered(): Promise<bigint> {
    const [row] = await guard(
      "counting texts without their copies",
      () => sql<{ n: Int8 }[]>`select count(*) as n from message_ts where m_id is null`,
    );
    return row === undefined ? 0n : int8(row.n);
  }

  // One committed batch of the backfill: the texts without copies among the next `batch` texts in uuid order
  // after `after` (from the first one without, when undefined). A stopped run loses at most a batch and the next
  // one starts from what is left. Paging by uuid, not by "the first rows still without": the rows just filled stay
  // in message_ts_unordered_idx as dead entries until a vacuum, which each batch would read again (while any
  // transaction is open, PostgreSQL cannot mark them dead in the index), slower and slower. Each row filled is
  // rewritten, with its GIN entries (~0.5 ms a row).
  async function orderText(
    batch: number,
    after?: string,
  ): Promise<{ filled: number; last: string | undefined }> {
    return await guard(`copying the rows of ${batch} texts`, async () => {
      let from = sql`uuid > ${after ?? ""}::uuid`;
      if (after === undefined) {
        const [first] = await sql<{ uuid: string | null }[]>`
          select uuid::text as uuid from message_ts where m_id is null order by uuid limit 1`;
        if (first?.uuid == null) return { filled: 0, last: undefined };
        from = sql`uuid >= ${first.uuid}::uuid`;
      }
      const [row] = await sql<{ filled: number; last: string | null }[]>`
        with page as (
          select uuid from message_ts where ${from} order by uuid limit ${batch}
        ), filled as (
          update message_ts t set m_id = m.id, m_timestamp = m.timestamp, m_topic = m.topic, m_public = m.public
          from messages m
          where m.uuid = t.uuid and t.m_id is null and t.uuid in (select uuid from page)
          returning 1
        )
        select (select count(*)::int from filled) as filled, (select uuid::text from page order by uuid desc limit 1) as last`;
      return { filled: row?.filled ?? 0, last: row?.last ?? undefined };
    });
  }

  return { search, countSearch, withoutText, countWithoutText, addText, countUnordered, orderText };
}
