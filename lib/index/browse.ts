// What the web pages read from the index beyond the Index seam: messages per day from topic_days (the charts), a
// topic's messages newest first with keyset paging on (timestamp, id) as archive-api pages, and the newest messages
// of a sender. Every value from a request reaches PostgreSQL as a bound parameter.
import { indexError, type IndexSql } from "./database.ts";

/** A keyset place: the (timestamp, id) of a row. */
export interface Place {
  timestamp: bigint;
  id: bigint;
}

export interface BrowseRow {
  id: bigint;
  uuid: string;
  topic: string;
  timestamp: bigint;
  size: number;
  valueSize: number | null;
  sender: string | null;
  format: string | null;
  title: string;
  retracted: boolean;
}

export interface BrowsePage {
  rows: BrowseRow[];
  /** Where the older rows start (exclusive), or null: none. */
  older: Place | null;
  /** Where the newer rows start (exclusive), or null: none. */
  newer: Place | null;
}

export interface DayCount {
  topic: string;
  /** Days since 1970-01-01 (UTC), as topic_days counts them. */
  day: bigint;
  messages: bigint;
  bytes: bigint;
}

interface DbRow {
  id: bigint;
  uuid: string;
  topic: string;
  timestamp: bigint;
  size: number;
  value_size: bigint | null;
  sender: string | null;
  format: string | null;
  title: string;
  retracted: boolean;
}

const toRow = (r: DbRow): BrowseRow => ({
  id: BigInt(r.id),
  uuid: r.uuid,
  topic: r.topic,
  timestamp: BigInt(r.timestamp),
  size: Number(r.size),
  valueSize: r.value_size === null ? null : Number(r.value_size),
  sender: r.sender,
  format: r.format,
  title: r.title,
  retracted: r.retracted,
});

const place = (r: BrowseRow): Place => ({ timestamp: r.timestamp, id: r.id });

export function createBrowse(sql: IndexSql) {
  const columns =
    sql`id, uuid::text as uuid, topic, timestamp, size, value_size, sender, format, title, retracted`;

  /** Messages per topic and day for `topics`, days fromDay..toDay inclusive. */
  async function days(topics: string[], fromDay: bigint, toDay: bigint): Promise<DayCount[]> {
    if (topics.length === 0) return [];
    try {
      const rows = await sql<{ topic: string; day: bigint; messages: bigint; bytes: bigint }[]>`
        select topic, day, messages, bytes from topic_days
        where topic in ${sql(topics)} and day >= ${fromDay} and day <= ${toDay}
        order by day, topic`;
      return rows.map((r) => ({
        topic: r.topic,
        day: BigInt(r.day),
        messages: BigInt(r.messages),
        bytes: BigInt(r.bytes),
      }));
    } catch (e) {
      throw indexError(e, "reading messages per day");
    }
  }

  /** The last day (<= notAfter) on which any of `topics` has messages, or null. */
  async function lastDay(topics: string[], notAfter: bigint): Promise<bigint | null> {
    if (topics.length === 0) return null;
    try {
      const [row] = await sql<{ day: bigint | null }[]>`
        select max(day) as day from topic_days where topic in ${sql(topics)} and day <= ${notAfter}`;
      return row?.day === null || row?.day === undefined ? null : BigInt(row.day);
    } catch (e) {
      throw indexError(e, "reading messages per day");
    }
  }

  /**
   * One page of `topic`'s messages newest first, within [since, until): the newest, those older than `older`, or
   * those newer than `newer` (scanned oldest first and reversed, as sqlakeyset pages backwards).
   */
  async function page(
    topic: string,
    options: { since?: bigint; until?: bigint; older?: Place; newer?: Place; limit: number },
  ): Promise<BrowsePage> {
    const { since, until, older, newer, limit } = options;
    const backwards = newer !== undefined;
    const from = older !== undefined
      ? sql`and (timestamp, id) < (${older.timestamp}, ${older.id})`
      : newer !== undefined
      ? sql`and (timestamp, id) > (${newer.timestamp}, ${newer.id})`
      : sql``;
    let fetched: BrowseRow[];
    try {
      const rows = await sql<DbRow[]>`
        select ${columns} from messages
        where topic = ${topic}
          ${since !== undefined ? sql`and timestamp >= ${since}` : sql``}
          ${until !== undefined ? sql`and timestamp < ${until}` : sql``}
          ${from}
        order by ${backwards ? sql`timestamp, id` : sql`timestamp desc, id desc`}
        limit ${limit + 1}`;
      fetched = rows.map(toRow);
    } catch (e) {
      throw indexError(e, "listing a topic's messages");
    }
    const more = fetched.length > limit;
    const rows = fetched.slice(0, limit);
    if (backwards) rows.reverse();
    const first = rows[0];
    const last = rows[rows.length - 1];
    if (first === undefined || last === undefined) return { rows, older: null, newer: null };
    // Paging back from a bookmark, the bookmark's own row is older; paging on from one, it is newer.
    return backwards
      ? { rows, older: place(last), newer: more ? place(first) : null }
      : { rows, older: more ? place(last) : null, newer: older !== undefined ? place(first) : null };
  }

  /** The newest `limit` messages whose sender is `sender` (in `topics`, when given). */
  async function bySender(sender: string, topics: string[] | null, limit: number): Promise<BrowseRow[]> {
    try {
      const rows = await sql<DbRow[]>`
        select ${columns} from messages
        where sender = ${sender} ${topics !== null ? sql`and topic in ${sql(topics)}` : sql``}
        order by timestamp desc, id desc limit ${limit}`;
      return rows.map(toRow);
    } catch (e) {
      throw indexError(e, "finding a sender's messages");
    }
  }

  return { days, lastDay, page, bySender };
}

export type Browse = ReturnType<typeof createBrowse>;
