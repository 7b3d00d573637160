// The index as archive-api lists it (archive-core's SQL_db.get_message_records and friends): pages of rows in
// (timestamp, id) order with sqlakeyset's keyset paging, selected by topic and public flag, time window, retraction
// and text search (websearch_to_tsquery over message_ts). Every value from a request reaches PostgreSQL as a bound
// parameter; topic lists are bounded by the caller.
import { indexError, type IndexSql } from "./database.ts";
import { CATALOGUE_FITS } from "./migrations.ts";
import { orderedMatches, unordered } from "./text_order.ts";

/**
 * One row as a listing shows it: archive-core's MessageRecord without what only reading the object needs, plus the
 * web pages' format and value size. All of it is in messages_topic_catalogue_idx (migration 10), so a topic's page
 * is read from the index alone.
 */
export interface ListingRow {
  id: bigint;
  topic: string;
  timestamp: bigint;
  uuid: string;
  size: number;
  crc32: bigint;
  public: boolean;
  title: string;
  sender: string;
  mediaType: string;
  fileName: string;
  originator: string;
  retracted: boolean;
  /** hop-client's `_format`, when it had one. */
  format: string | null;
  /** Bytes of the Kafka value (size is the stored object's). */
  valueSize: number | null;
}

/** A row of a page of full messages: where its object is. */
export interface ListedObject extends ListingRow {
  key: string;
}

/** A keyset place: the (timestamp, id) of a row, and which way a bookmark pages from it. */
export interface Place {
  timestamp: bigint;
  id: bigint;
}

export interface Bookmark extends Place {
  backwards: boolean;
}

/**
 * archive-core's selection: with neither list, the public rows of every topic; otherwise the public rows of
 * `topicsPublic` and all rows of `topicsFull`.
 */
export interface ListingFilter {
  topicsPublic: string[] | null;
  topicsFull: string[] | null;
  /** timestamp >= since */
  since?: bigint;
  /** timestamp < until */
  until?: bigint;
  includeRetracted: boolean;
  /** websearch_to_tsquery text over message_ts. */
  search?: string;
}

export interface ListingPage<R extends ListingRow = ListingRow> {
  rows: R[];
  next: Bookmark | null;
  prev: Bookmark | null;
}

export interface PageOptions {
  ascending: boolean;
  limit: number;
  bookmark?: Bookmark;
}

export interface ListingDbRow {
  id: bigint;
  topic: string;
  timestamp: bigint;
  uuid: string;
  size: number;
  crc32: bigint;
  public: boolean;
  title: string;
  sender: string;
  media_type: string;
  file_name: string;
  originator: string;
  retracted: boolean;
  format: string | null;
  value_size: number | null;
  key?: string;
}

export function toListingRow(r: ListingDbRow): ListingRow {
  return {
    id: r.id,
    topic: r.topic,
    timestamp: r.timestamp,
    uuid: r.uuid,
    size: r.size,
    crc32: r.crc32,
    public: r.public,
    title: r.title,
    sender: r.sender,
    mediaType: r.media_type,
    fileName: r.file_name,
    originator: r.originator,
    retracted: r.retracted,
    format: r.format,
    valueSize: r.value_size,
  };
}

const toListedObject = (r: ListingDbRow): ListedObject => ({ ...toListingRow(r), key: r.key! });

/** The columns of a ListingRow, from `messages m`. */
export const listingColumns = (sql: IndexSql) =>
  sql`m.id, m.topic, m.timestamp, m.uuid::text as uuid, m.size, m.crc32, m.public, m.title, m.sender,
    m.media_type, m.file_name, m.originator, m.retracted, m.format, m.value_size`;

/** More named topics than this are listed by the general query: each one is a scan of its own. */
const PER_TOPIC_SCANS = 32;

const place = (r: Place): Place => ({ timestamp: r.timestamp, id: r.id });

/**
 * sqlakeyset's Paging: `fetched` holds up to limit + 1 rows in scan order (reversed when paging backwards); the
 * extra row only says that there is more that way.
 */
export function pageOf<R extends Place>(
  fetched: R[],
  limit: number,
  bookmark: Bookmark | undefined,
): { rows: R[]; next: Bookmark | null; prev: Bookmark | null } {
  const backwards = bookmark?.backwards ?? false;
  const rows = fetched.slice(0, limit);
  const excess = fetched.length > limit ? place(fetched[limit]!) : null;
  const current = bookmark === undefined ? null : { timestamp: bookmark.timestamp, id: bookmark.id };
  let [before, first, last, beyond] = [
    current,
    rows.length > 0 ? place(rows[0]!) : null,
    rows.length > 0 ? place(rows[rows.length - 1]!) : null,
    excess,
  ];
  if (backwards) {
    rows.reverse();
    [before, first, last, beyond] = [beyond, last, first, before];
  }
  const mark = (p: Place | null, back: boolean): Bookmark | null =>
    p === null ? null : { ...p, backwards: back };
  return {
    rows,
    next: beyond !== null ? mark(last ?? before, false) : null,
    prev: before !== null ? mark(first ?? beyond, true) : null,
  };
}

export function createListing(sql: IndexSql) {
  // The rows of the filter's topics its reader may see, on a table's public flag and topic columns: messages'
  // own (where) or message_ts's copies of them (textWhere).
  function visibleTopics(f: ListingFilter, publicColumn: string, topicColumn: string) {
    const isPublic = sql(publicColumn);
    const topic = sql(topicColumn);
    const pub = f.topicsPublic !== null && f.topicsPublic.length > 0
      ? sql`(${isPublic} and ${topic} in ${sql(f.topicsPublic)})`
      : null;
    const full = f.topicsFull !== null && f.topicsFull.length > 0
      ? sql`${topic} in ${sql(f.topicsFull)}`
      : null;
    return f.topicsPublic === null && f.topicsFull === null
      ? sql`${isPublic}`
      : pub !== null && full !== null
      ? sql`(${pub} or ${full})`
      : pub ?? full ?? sql`true`;
  }

  function where(f: ListingFilter) {
    return sql`${visibleTopics(f, "m.public", "m.topic")} ${window(f)}`;
  }

  function window(f: ListingFilter) {
    return sql`${f.since !== undefined ? sql`and m.timestamp >= ${f.since}` : sql``}
      ${f.until !== undefined ? sql`and m.timestamp < ${f.until}` : sql``}
      ${f.includeRetracted ? sql`` : sql`and not m.retracted`}`;
  }

  // A few named topics and no text search: one scan per topic in page order, merged, where PostgreSQL would walk
  // every topic's rows in time order and filter (0.46 s for two quiet topics of a 10 M-row index). A topic read in
  // full is two scans of migration 10's partial indexes, the rows whose catalogue fits an index entry (read from the
  // index alone) and the others (none, in practice); public rows only are one scan of messages_public_topic_idx.
  // Same rows as where(f); null when the general query is the one to run.
  function perTopicScans(f: ListingFilter) {
    if (f.search !== undefined || (f.topicsPublic === null && f.topicsFull === null)) return null;
    const full = new Set(f.topicsFull ?? []);
    // A topic read in full already has its public rows.
    const publicOnly = [...new Set(f.topicsPublic ?? [])].filter((t) => !full.has(t));
    if (full.size + publicOnly.length === 0 || full.size + publicOnly.length > PER_TOPIC_SCANS) return null;
    const fits = sql.unsafe(CATALOGUE_FITS);
    return [
      ...[...full].flatMap((topic) => [
        sql`m.topic = ${topic} and ${fits}`,
        sql`m.topic = ${topic} and not (${fits})`,
      ]),
      ...publicOnly.map((topic) => sql`m.topic = ${topic} and m.public`),
    ];
  }

  // where(f) on message_ts's copies of the row (migration 9), for text search: the rows of a page are found in
  // message_ts alone (text_order.ts); retracted rows, few, are left out through their partial index.
  function textWhere(f: ListingFilter) {
    const topics = visibleTopics(f, "t.m_public", "t.m_topic");
    return f.includeRetracted
      ? topics
      : sql`${topics} and not exists (select 1 from messages r where r.id = t.m_id and r.retracted)`;
  }

  async function searchPage(
    f: ListingFilter & { search: string },
    scan: { ascending: boolean; limit: number; bookmark?: Bookmark },
    columns: ReturnType<typeof listingColumns>,
  ): Promise<ListingDbRow[]> {
    const matches = await orderedMatches(sql, {
      query: f.search,
      where: textWhere(f),
      ascending: scan.ascending,
      ...(scan.bookmark !== undefined ? { after: scan.bookmark } : {}),
      ...(f.since !== undefined ? { since: f.since } : {}),
      ...(f.until !== undefined ? { until: f.until } : {}),
      limit: scan.limit,
    });
    if (matches.length === 0) return [];
    return await sql<ListingDbRow[]>`
      select ${columns}
      from unnest(${matches.map((r) => String(r.id))}::int8[]) with ordinality as p(id, n)
      join messages m on m.id = p.id order by p.n`;
  }

  function source(f: ListingFilter) {
    return f.search === undefined ? sql`messages m` : sql`messages m join message_ts t on m.uuid = t.uuid
        and t.text_data @@ websearch_to_tsquery(${f.search})`;
  }

  async function fetchPage<R extends ListingRow>(
    f: ListingFilter,
    options: PageOptions,
    columns: ReturnType<typeof listingColumns>,
    toRow: (r: ListingDbRow) => R,
  ): Promise<ListingPage<R>> {
    const { ascending, limit, bookmark } = options;
    // Paging backwards scans the other way and reverses the rows (as sqlakeyset does).
    const scanAscending = ascending !== (bookmark?.backwards ?? false);
    const after = bookmark === undefined
      ? sql``
      : scanAscending
      ? sql`and (m.timestamp, m.id) > (${bookmark.timestamp}, ${bookmark.id})`
      : sql`and (m.timestamp, m.id) < (${bookmark.timestamp}, ${bookmark.id})`;
    const order = scanAscending ? sql`m.timestamp, m.id` : sql`m.timestamp desc, m.id desc`;
    const scans = perTopicScans(f);
    try {
      const rows = f.search !== undefined && !(await unordered(sql))
        ? await searchPage({ ...f, search: f.search }, {
          ascending: scanAscending,
          limit: limit + 1,
          ...(bookmark !== undefined ? { bookmark } : {}),
        }, columns)
        : scans === null
        ? await sql<ListingDbRow[]>`
          select ${columns} from ${source(f)} where ${where(f)} ${after} order by ${order} limit ${limit + 1}`
        : await sql<ListingDbRow[]>`
          select * from (${
          scans.map((scan) =>
            sql`(select ${columns} from messages m where ${scan} ${window(f)} ${after}
              order by ${order} limit ${limit + 1})`
          ).reduce((a, b) => sql`${a} union all ${b}`)
        }) m order by ${order} limit ${limit + 1}`;
      return pageOf(rows.map(toRow), limit, bookmark);
    } catch (e) {
      throw indexError(e, "listing messages");
    }
  }

  /** One page of at most `limit` rows, and the bookmarks around it. */
  const page = (f: ListingFilter, options: PageOptions): Promise<ListingPage> =>
    fetchPage(f, options, listingColumns(sql), toListingRow);

  /** The same page with where each row's object is: the heap's rows too, for the pages that read the objects. */
  const pageWithObjects = (f: ListingFilter, options: PageOptions): Promise<ListingPage<ListedObject>> =>
    fetchPage(f, options, sql`${listingColumns(sql)}, m.key`, toListedObject);

  async function count(f: ListingFilter): Promise<bigint> {
    try {
      const [row] = f.search !== undefined && !(await unordered(sql))
        ? await sql<{ n: bigint }[]>`
          select count(*) as n from message_ts t
          where t.text_data @@ websearch_to_tsquery(${f.search}) and ${textWhere(f)}
            ${f.since !== undefined ? sql`and t.m_timestamp >= ${f.since}` : sql``}
            ${f.until !== undefined ? sql`and t.m_timestamp < ${f.until}` : sql``}`
        : await sql<{ n: bigint }[]>`select count(*) as n from ${source(f)} where ${where(f)}`;
      return row?.n ?? 0n;
    } catch (e) {
      throw indexError(e, "counting messages");
    }
  }

  /** Topics with at least one public row (archive-core's get_topics_with_public_messages). */
  async function topicsWithPublicMessages(): Promise<string[]> {
    try {
      // A skip scan of messages_public_topic_idx (topic first): the next topic after the last one found, one probe each, rather
      // than every public row (archive-core's `select distinct`, which gives the same list).
      const rows = await sql<{ topic: string }[]>`
        with recursive found (topic) as (
          (select topic from messages where public order by topic limit 1)
          union all
          select (select m.topic from messages m where m.public and m.topic > f.topic order by m.topic limit 1)
          from found f where f.topic is not null)
        select topic from found where topic is not null order by topic`;
      return rows.map((r) => r.topic);
    } catch (e) {
      throw indexError(e, "listing topics");
    }
  }

  /** Sets the retracted flag; false when no row has that uuid. */
  async function setRetracted(uuid: string, retracted: boolean): Promise<boolean> {
    try {
      const rows =
        await sql`update messages set retracted = ${retracted} where uuid = ${uuid}::uuid returning id`;
      return rows.length > 0;
    } catch (e) {
      throw indexError(e, "marking a message retracted");
    }
  }

  return { page, pageWithObjects, count, topicsWithPublicMessages, setRetracted };
}

export type Listing = ReturnType<typeof createListing>;
