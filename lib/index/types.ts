// What the index holds and what it can do, apart from how PostgreSQL stores it (postgres.ts).
import type { CatalogColumns } from "./catalog.ts";
import type { OriginalKey } from "./original.ts";
/** One archived object, as the archiver writes it. */
export interface IndexRow {
  uuid: string;
  topic: string;
  /** Record timestamp, ms. */
  timestamp: bigint;
  partition: number;
  offset: bigint;
  /** Bytes of the BSON object. */
  size: number;
  /** Object key. */
  key: string;
  bucket: string;
  /** Unsigned CRC-32 of the BSON object. */
  crc32: number;
  isClientUuid: boolean;
  /** Unsigned CRC-32 of the record value. */
  messageCrc32: number;
  /** ms since the epoch. */
  archivedAt: bigint;
  archiverVersion: string;
  /** Lowercase hex. */
  contentSha256: string;
  valueSize: number;
  sender: string | null;
  format: string | null;
  isTest: boolean;
  clashOf: string | null;
  /** archive-core's catalogue columns; absent: its defaults (NO_CATALOG). */
  catalog?: CatalogColumns;
  /**
   * Why PostgreSQL refused the record's full row: the row holds no header-derived text, the object is complete
   * (lib/archive/ingest.ts). Absent or null: not quarantined.
   */
  quarantine?: string | null;
  /**
   * Text to index for search (lib/text/extract.ts), written to message_ts in the same statement as the row;
   * absent or null: the topic's text is not indexed.
   */
  text?: RowText | null;
}

/** A message_ts row: the text archive-core's to_tsvector would read, and whether the whole message was read. */
export interface RowText {
  text: string;
  fullyIndexed: boolean;
}

// Rows written by the original archiver (before migration 2) lack these: NULL, never a made-up value.
type LegacyUnknown =
  | "partition"
  | "offset"
  | "archivedAt"
  | "archiverVersion"
  | "contentSha256"
  | "valueSize";

/** A row as read back: like IndexRow, except that rows of the original archiver have no value for some fields. */
export type StoredRow = Omit<IndexRow, LegacyUnknown> & { [K in LegacyUnknown]: IndexRow[K] | null };

export interface Receipt {
  /** The archived message this record duplicates. */
  uuid: string;
  topic: string;
  partition: number;
  offset: bigint;
  timestamp: bigint;
}

export interface SelectFilter {
  topics?: string[];
  /** PostgreSQL regular expression (`~`) on the topic. */
  topicRegex?: string;
  /** Record timestamp >= since (ms). */
  since?: bigint;
  /** Record timestamp < until (ms). */
  until?: bigint;
  uuids?: string[];
  partition?: number;
  /** offset >= fromOffset. */
  fromOffset?: bigint;
  /** offset < toOffset (exclusive, like Kafka's end offsets). */
  toOffset?: bigint;
  sender?: string;
  format?: string;
  /** Topics left out whatever else matches (restore: those it cannot publish). */
  excludeTopics?: string[];
}

/** What `search` narrows a text query to. */
export interface SearchFilter {
  topics?: string[];
  /** Record timestamp >= since (ms). */
  since?: bigint;
  /** Record timestamp < until (ms). */
  until?: bigint;
}

/** A row whose indexed text matches, with its ts_rank. */
export type SearchHit = StoredRow & { id: bigint; rank: number };

export interface SelectPage {
  /** Keyset paging: only rows with id > after. */
  after?: bigint;
  limit: number;
  /** A random sample of `limit` rows (`verify --sample`) instead of the first ones in id order. */
  random?: boolean;
}

/**
 * A position in restore order (`selectInOrder`): rows without Kafka coordinates (the original archiver's) come
 * first, by (topic, timestamp, id); then all others by (topic, partition, offset, id), which is Kafka's order within
 * each partition.
 */
export type OrderPosition =
  | { legacy: true; topic: string; timestamp: bigint; id: bigint }
  | { legacy: false; topic: string; partition: number; offset: bigint; id: bigint };

/** The position of `row` in restore order. */
export function orderPositionOf(row: StoredRow & { id: bigint }): OrderPosition {
  return row.partition === null || row.offset === null
    ? { legacy: true, topic: row.topic, timestamp: row.timestamp, id: row.id }
    : { legacy: false, topic: row.topic, partition: row.partition, offset: row.offset, id: row.id };
}

/** What `selectInOrder` would return, per topic and partition (null: rows without Kafka coordinates). */
export interface PartitionSummary {
  topic: string;
  partition: number | null;
  records: bigint;
  /** Bytes of the stored objects. */
  bytes: bigint;
  /** Record timestamps, ms. */
  earliest: bigint;
  latest: bigint;
}

export interface TopicStats {
  topic: string;
  messages: bigint;
  bytes: bigint;
  /** Record timestamps, ms; null when the topic has only receipts in range. */
  earliest: bigint | null;
  latest: bigint | null;
  lastArchivedAt: bigint | null;
  duplicates: bigint;
}

export interface Index {
  migrate(): Promise<{ from: number; to: number }>;
  schemaVersion(): Promise<{ current: number; latest: number }>;
  /**
   * Inserts the rows whose uuid is not yet taken; result[i] is true when rows[i] was inserted by this call. Of
   * several rows with one uuid, exactly one (the first) can win.
   */
  claim(rows: IndexRow[]): Promise<boolean[]>;
  /** Rows by uuid, keyed by canonical (lowercase) uuid; absent uuids are simply missing from the map. */
  lookup(uuids: string[]): Promise<Map<string, StoredRow>>;
  /**
   * Keys that a row of another archiver (no content digest: archive-core, the seed-era archiver) already matches by
   * topic, timestamp and value CRC-32: key position -> that row's uuid.
   */
  findOriginals(keys: OriginalKey[]): Promise<Map<number, string>>;
  /** Records duplicate receipts; returns how many were new. */
  recordReceipts(receipts: Receipt[]): Promise<number>;
  byUuid(uuid: string): Promise<StoredRow | null>;
  /** Rows matching every given filter, in id order (or a random sample, see SelectPage.random). */
  select(filter: SelectFilter, page: SelectPage): Promise<(StoredRow & { id: bigint })[]>;
  /** How many rows `select` would page through: totals for progress bars. */
  count(filter: SelectFilter): Promise<bigint>;
  /**
   * Receipts naming any of `uuids` (the archived message each duplicates), in id order. Receipts that migration 2
   * made from the original's duplicate rows have no Kafka coordinates and are not returned.
   */
  receipts(uuids: string[]): Promise<Receipt[]>;
  /** Rows matching every given filter that come after `page.after` in restore order (see OrderPosition). */
  selectInOrder(
    filter: SelectFilter,
    page: { after?: OrderPosition; limit: number },
  ): Promise<(StoredRow & { id: bigint })[]>;
  /** Totals of what `selectInOrder` would page through from `after` on, per topic and partition. */
  summarize(filter: SelectFilter, after?: OrderPosition): Promise<PartitionSummary[]>;
  /** Per topic; `sinceMs` limits messages and receipts to record timestamps >= sinceMs. */
  topicStats(sinceMs?: bigint): Promise<TopicStats[]>;
  /**
   * Gives a quarantined row the header-derived columns of `row` (rebuilt from its object) and takes it out of the
   * quarantine: false when the uuid names no quarantined row. Throws what PostgreSQL says if it refuses them again.
   */
  releaseQuarantine(row: StoredRow): Promise<boolean>;
  /** Quarantined rows per topic (IndexRow.quarantine), topics in order; none: []. */
  quarantineCounts(): Promise<{ topic: string; records: bigint }[]>;
  /**
   * Inserts a row rebuilt from its object (`verify --repair`); false when the uuid is already indexed. Objects of
   * other writers lack some fields (partition, offset, archive time): those stay NULL, as for the original's rows.
   */
  insertRepaired(row: StoredRow): Promise<boolean>;
  /**
   * Rows whose message_ts text matches `query` with archive-core's semantics (websearch_to_tsquery over the
   * database's default text search configuration, as its search_message_text): the best ts_rank first, then
   * newest; among the newest 100 matches (or `limit`, if more). While texts indexed before migration 9 lack
   * their copies (`db index-text` fills them), as before: all matches when there are at most 2000.
   */
  search(query: string, filter: SearchFilter, limit: number): Promise<SearchHit[]>;
  /**
   * How many rows match (archive-core's count_text_search_results); with `atMost`, at most atMost + 1, so that a
   * common word is not counted through millions of rows.
   */
  countSearch(query: string, filter: SearchFilter, atMost?: number): Promise<bigint>;
  /** Rows of `topics` that have no message_ts text, after id `after`, in id order (`db index-text`). */
  withoutText(
    topics: string[],
    after: bigint | undefined,
    limit: number,
  ): Promise<(StoredRow & { id: bigint })[]>;
  /** How many rows `withoutText` would page through. */
  countWithoutText(topics: string[]): Promise<bigint>;
  /** Adds the texts of rows that still exist and still have none; returns how many were added. */
  addText(texts: { uuid: string; text: RowText }[]): Promise<number>;
  /** message_ts rows that still lack the copies of their row search orders by (migration 9). */
  countUnordered(): Promise<bigint>;
  /**
   * Fills those copies among the next `batch` texts in uuid order after `after` (undefined: from the first one
   * without), committed; `last` is where the next batch starts, undefined when no text is left.
   */
  orderText(batch: number, after?: string): Promise<{ filled: number; last: string | undefined }>;
}
