// What the web pages read from the index beyond the Index seam: messages per day from topic_days (the charts), a
// topic's messages newest first (archive-api's listing query, lib/index/listing.ts, with the web pages' links for
// its bookmarks), and the newest messages of a sender. Every value from a request reaches PostgreSQL as a bound
// parameter.
import { indexError, type IndexSql } from "./database.ts";
import {
  createListing,
  listingColumns,
  type ListingDbRow,
  type ListingRow,
  type Place,
  toListingRow,
} from "./listing.ts";

export type { Place };

/** What a table of messages shows; a ListingRow is one. */
export type BrowseRow =
  & Pick<
    ListingRow,
    "id" | "uuid" | "topic" | "timestamp" | "size" | "valueSize" | "format" | "title" | "retracted"
  >
  & { sender: string | null };

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

export function createBrowse(sql: IndexSql) {
  const listing = createListing(sql);

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
   * One page of `topic`'s messages newest first (retracted ones too), within [since, until): the newest, those
   * older than `older`, or those newer than `newer`. Older is the listing's next page, newer its previous one.
   */
  async function page(
    topic: string,
    options: { since?: bigint; until?: bigint; older?: Place; newer?: Place; limit: number },
  ): Promise<BrowsePage> {
    const { since, until, older, newer, limit } = options;
    const from = older ?? newer;
    const listed = await listing.page(
      {
        topicsPublic: null,
        topicsFull: [topic],
        includeRetracted: true,
        ...(since !== undefined ? { since } : {}),
        ...(until !== undefined ? { until } : {}),
      },
      {
        ascending: false,
        limit,
        ...(from !== undefined ? { bookmark: { ...from, backwards: older === undefined } } : {}),
      },
    );
    const at = (mark: Place | null): Place | null => mark && { timestamp: mark.timestamp, id: mark.id };
    return { rows: listed.rows, older: at(listed.next), newer: at(listed.prev) };
  }

  /** The newest `limit` messages whose sender is `sender` (in `topics`, when given). */
  async function bySender(sender: string, topics: string[] | null, limit: number): Promise<BrowseRow[]> {
    try {
      const rows = await sql<ListingDbRow[]>`
        select ${listingColumns(sql)} from messages m
        where m.sender = ${sender} ${topics !== null ? sql`and m.topic in ${sql(topics)}` : sql``}
        order by m.timestamp desc, m.id desc limit ${limit}`;
      return rows.map(toListingRow);
    } catch (e) {
      throw indexError(e, "finding a sender's messages");
    }
  }

  return { days, lastDay, page, bySender };
}

export type Browse = ReturnType<typeof createBrowse>;
