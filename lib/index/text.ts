// The text-search side of the index (archive-core's message_ts): search with its query language, and what
// `db index-text` needs to fill message_ts for rows archived without their text. The rows' own text goes in with
// the row itself (postgres.ts, claim).
import { hkError } from "../runtime/errors.ts";
import type { IndexSql } from "./database.ts";
import { type DbRow, fromDb, type Int8, int8 } from "./rows.ts";
import type { RowText, SearchFilter, SearchHit, StoredRow } from "./types.ts";

type Guard = <T>(action: string, fn: () => Promise<T>) => Promise<T>;

/** Matches ranked at most, newest first, for a word with more than RANK_ALL (see search). */
export const RECENT = 200;
/** Up to this many matches, all are ranked. */
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

  // Every match is ranked when there are at most RANK_ALL (found from the GIN index, their texts read once); a word
  // with more is ranked among its newest `recent` matches only, found by walking messages newest-first and probing
  // each for text (a common word stops the walk early): ranking a million matches means reading a million texts.
  async function search(query: string, filter: SearchFilter, limit: number): Promise<SearchHit[]> {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw hkError("INDEX_QUERY_INVALID", `search limit must be a positive integer, got ${limit}`);
    }
    const recent = Math.max(limit, RECENT);
    const rows = await guard("searching the indexed text", async () => {
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
    });
    return rows.map((r) => ({ ...fromDb(r), rank: r.rank }));
  }

  /** How many messages match (archive-core counts the joined rows); with `atMost`, counting stops after it. */
  async function countSearch(query: string, filter: SearchFilter, atMost?: number): Promise<bigint> {
    const [row] = await guard("counting search results", () =>
      sql<{ n: Int8 }[]>`
        select count(*) as n from (
          select 1 from message_ts ts join messages m on m.uuid = ts.uuid
          where ${searchWhere(query, filter)} ${atMost === undefined ? sql`` : sql`limit ${atMost + 1}`}
        ) matched`);
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
        insert into message_ts (uuid, text_data, text_fully_indexed)
        select distinct on (t.uuid) t.uuid::uuid, to_tsvector(t.text), t.fully_indexed::bool
        from unnest(${texts.map((t) => t.uuid)}::text[], ${texts.map((t) => t.text.text)}::text[],
          ${texts.map((t) => String(t.text.fullyIndexed))}::text[]) as t(uuid, text, fully_indexed)
        where exists (select 1 from messages m where m.uuid = t.uuid::uuid)
          and not exists (select 1 from message_ts ts where ts.uuid = t.uuid::uuid)
        order by t.uuid
        returning uuid::text as uuid`);
    return added.length;
  }

  return { search, countSearch, withoutText, countWithoutText, addText };
}
