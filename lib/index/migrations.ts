// Versioned schema of the index. Each migration runs in its own transaction under an advisory lock, so several
// archivers starting at once apply each step exactly once; `schema_migrations` records what has been applied.
//
// Migration 1 is seed-era housekeeping's table exactly as it created it (docs/archive-format.md §4.1), so a database that has
// that table simply starts at version 1 and is upgraded in place by migration 2; a new database goes through the
// same two steps. Migration 3 brings the shape of archive-core 1.3.0 (the archiver before this one), from its own
// database as from ours. Never edit a released migration: add a new one.
import type postgres from "postgres";
import { hkError } from "../runtime/errors.ts";
import { VERSION } from "../version.ts";
import { indexError, type IndexSql, isConnectionError } from "./database.ts";

type Tx = postgres.TransactionSql<{ bigint: bigint }>;

export interface Migration {
  version: number;
  name: string;
  up(tx: Tx): Promise<void>;
}

// First key of the two-key advisory lock ("hkmg"); the second is the schema, so separate schemas (one per test,
// one per deployment) never wait for each other.
const LOCK_KEY = 0x686b6d67;

async function run(tx: Tx, statements: readonly string[]): Promise<void> {
  // Fixed DDL, no values: nothing here is built from input.
  for (const statement of statements) await tx.unsafe(statement);
}

// PostgreSQL's uuid input also takes braces and missing hyphens; these rows would make the type change fail.
async function checkLegacyUuids(tx: Tx): Promise<void> {
  const [bad] = await tx<{ n: bigint; example: bigint | null }[]>`
    select count(*) as n, min(id) as example from messages
    where uuid is not null
      and uuid::text !~* '^[{]?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}[}]?$'`;
  if (bad !== undefined && bad.n > 0n) {
    throw hkError(
      "INDEX_MIGRATION_FAILED",
      `${bad.n} rows of messages have a uuid that is not a UUID (first: id ${bad.example}); fix or delete them ` +
        `(SELECT id, uuid FROM messages WHERE id = ${bad.example}), then start again`,
    );
  }
}

// What `status` reports for all time, kept per topic and day of record time so that it is read from ~15 000 rows
// (40 topics, 1 year) instead of counted over every row of messages. Statement-level triggers keep it exact: an
// insert adds its rows (in topic, day order, so concurrent archivers lock summary rows in the same order); a delete
// or an update recounts the days it touched from messages (minimum and maximum cannot be subtracted).
const TOPIC_DAYS = [
  `CREATE TABLE IF NOT EXISTS topic_days (
    topic TEXT NOT NULL,
    day BIGINT NOT NULL,
    messages BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    earliest BIGINT NOT NULL,
    latest BIGINT NOT NULL,
    last_archived TIMESTAMPTZ,
    PRIMARY KEY (topic, day))`,
  `CREATE OR REPLACE FUNCTION topic_days_recount(days TEXT[], day_numbers BIGINT[]) RETURNS void
    LANGUAGE sql SET search_path FROM CURRENT AS $$
    DELETE FROM topic_days d USING unnest(days, day_numbers) AS t(topic, day)
      WHERE d.topic = t.topic AND d.day = t.day;
    INSERT INTO topic_days (topic, day, messages, bytes, earliest, latest, last_archived)
      SELECT m.topic, t.day, count(*), coalesce(sum(m.size), 0), min(m.timestamp), max(m.timestamp),
        max(m.archived_at)
      FROM unnest(days, day_numbers) AS t(topic, day)
      JOIN messages m ON m.topic = t.topic AND m.timestamp >= t.day * 86400000
        AND m.timestamp < (t.day + 1) * 86400000
      GROUP BY m.topic, t.day
    $$`,
  `CREATE OR REPLACE FUNCTION topic_days_inserted() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
    BEGIN
      INSERT INTO topic_days AS d (topic, day, messages, bytes, earliest, latest, last_archived)
        SELECT topic, floor(timestamp / 86400000.0)::int8, count(*), coalesce(sum(size), 0), min(timestamp),
          max(timestamp), max(archived_at)
        FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
      ON CONFLICT (topic, day) DO UPDATE SET messages = d.messages + excluded.messages,
        bytes = d.bytes + excluded.bytes, earliest = least(d.earliest, excluded.earliest),
        latest = greatest(d.latest, excluded.latest),
        last_archived = greatest(d.last_archived, excluded.last_archived);
      RETURN NULL;
    END $$`,
  `CREATE OR REPLACE FUNCTION topic_days_changed() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
    DECLARE
      touched_topics TEXT[];
      touched_days BIGINT[];
    BEGIN
      IF TG_OP = 'DELETE' THEN
        SELECT array_agg(topic ORDER BY topic, day), array_agg(day ORDER BY topic, day)
          INTO touched_topics, touched_days
          FROM (SELECT DISTINCT topic, floor(timestamp / 86400000.0)::int8 AS day FROM old_rows) t;
      ELSE
        SELECT array_agg(topic ORDER BY topic, day), array_agg(day ORDER BY topic, day)
          INTO touched_topics, touched_days
          FROM (SELECT topic, floor(timestamp / 86400000.0)::int8 AS day FROM old_rows
            UNION SELECT topic, floor(timestamp / 86400000.0)::int8 FROM new_rows) t;
      END IF;
      IF touched_topics IS NOT NULL THEN PERFORM topic_days_recount(touched_topics, touched_days); END IF;
      RETURN NULL;
    END $$`,
  `CREATE TRIGGER topic_days_insert AFTER INSERT ON messages REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION topic_days_inserted()`,
  `CREATE TRIGGER topic_days_delete AFTER DELETE ON messages REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION topic_days_changed()`,
  `CREATE TRIGGER topic_days_update AFTER UPDATE ON messages REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION topic_days_changed()`,
  // The rows already there: creating the triggers locked messages against writes until this transaction ends.
  `INSERT INTO topic_days (topic, day, messages, bytes, earliest, latest, last_archived)
    SELECT topic, floor(timestamp / 86400000.0)::int8, count(*), coalesce(sum(size), 0), min(timestamp),
      max(timestamp), max(archived_at)
    FROM messages GROUP BY 1, 2`,
];

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "original housekeeping table",
    up: (tx) =>
      run(tx, [
        `CREATE TABLE IF NOT EXISTS messages (id BIGSERIAL PRIMARY KEY, topic TEXT, timestamp BIGINT, uuid TEXT,
          size INTEGER, key TEXT, bucket TEXT, crc32 BIGINT, is_client_uuid BOOLEAN, message_crc32 BIGINT)`,
      ]),
  },
  {
    version: 2,
    name: "uuid column and unique key, Kafka coordinates, provenance, receipts",
    async up(tx) {
      await checkLegacyUuids(tx);
      await run(tx, [
        `ALTER TABLE messages ALTER COLUMN uuid TYPE UUID USING uuid::uuid`,
        `CREATE TABLE IF NOT EXISTS receipts (
          id BIGSERIAL PRIMARY KEY,
          uuid UUID NOT NULL,
          topic TEXT,
          partition INTEGER,
          "offset" BIGINT,
          timestamp BIGINT,
          received_at TIMESTAMPTZ DEFAULT now(),
          UNIQUE (topic, partition, "offset", timestamp))`,
        // The original checked for duplicates with a racy SELECT-then-INSERT, so old tables can hold a UUID twice.
        // The earliest row stays; later ones become receipts (coordinates and receipt time unknown: NULL).
        `WITH dup AS (
          DELETE FROM messages m USING messages k WHERE k.uuid = m.uuid AND k.id < m.id
          RETURNING m.uuid, m.topic, m.timestamp)
        INSERT INTO receipts (uuid, topic, timestamp, received_at) SELECT uuid, topic, timestamp, NULL FROM dup`,
        `ALTER TABLE messages ALTER COLUMN uuid SET NOT NULL, ALTER COLUMN topic SET NOT NULL,
          ALTER COLUMN timestamp SET NOT NULL`,
        `ALTER TABLE messages ADD CONSTRAINT messages_uuid_key UNIQUE (uuid)`,
        // is_test defaults to false: the original archiver never stored test messages, and it may still be
        // running next to this one, inserting rows that lack the new columns.
        `ALTER TABLE messages
          ADD COLUMN IF NOT EXISTS partition INTEGER,
          ADD COLUMN IF NOT EXISTS "offset" BIGINT,
          ADD COLUMN IF NOT EXISTS archived_at TIMESTAMPTZ,
          ADD COLUMN IF NOT EXISTS archiver_version TEXT,
          ADD COLUMN IF NOT EXISTS content_sha256 TEXT,
          ADD COLUMN IF NOT EXISTS value_size INTEGER,
          ADD COLUMN IF NOT EXISTS sender TEXT,
          ADD COLUMN IF NOT EXISTS format TEXT,
          ADD COLUMN IF NOT EXISTS is_test BOOLEAN NOT NULL DEFAULT false,
          ADD COLUMN IF NOT EXISTS clash_of UUID`,
        `CREATE INDEX IF NOT EXISTS messages_topic_timestamp_idx ON messages (topic, timestamp)`,
        `CREATE INDEX IF NOT EXISTS messages_timestamp_idx ON messages (timestamp)`,
        `CREATE INDEX IF NOT EXISTS messages_topic_partition_offset_idx ON messages (topic, partition, "offset")`,
        `CREATE INDEX IF NOT EXISTS messages_sender_idx ON messages (sender)`,
        `CREATE INDEX IF NOT EXISTS messages_format_idx ON messages (format)`,
        `CREATE INDEX IF NOT EXISTS receipts_uuid_idx ON receipts (uuid)`,
      ]);
    },
  },
  {
    version: 3,
    name: "archive-core 1.3.0 columns, topics and message_ts tables",
    up: (tx) => run(tx, ARCHIVE_CORE_SHAPE),
  },
  {
    version: 4,
    name: "per-topic daily summary for status over the whole archive",
    up: (tx) => run(tx, TOPIC_DAYS),
  },
  {
    version: 5,
    name: "quarantine of records whose full row PostgreSQL refused",
    up: (tx) => run(tx, QUARANTINE),
  },
  {
    version: 6,
    name: "message_ts by uuid: newest-first search, text backfill, cascading deletes",
    // archive-core's message_ts has only its GIN index: finding a message's text (search walking the newest
    // messages, `db index-text` skipping rows already indexed, the ON DELETE CASCADE of a deleted message)
    // read the whole table each time.
    up: (tx) => run(tx, [`CREATE INDEX IF NOT EXISTS message_ts_uuid_idx ON message_ts (uuid)`]),
  },
  {
    version: 7,
    name: "topic_days recount of the first and last day an int64 timestamp holds",
    up: (tx) => run(tx, [TOPIC_DAYS_RECOUNT]),
  },
  {
    version: 8,
    name: "archive-api's listings at scale: a topic's rows in page order, topics with public rows",
    up: (tx) => run(tx, LISTING_AT_SCALE),
  },
  {
    version: 9,
    name: "text search in page order: message_ts copies its message's id, time, topic and public flag",
    up: (tx) => run(tx, TEXT_IN_PAGE_ORDER),
  },
  {
    version: 10,
    name: "listing pages from the index alone: a topic's rows with their catalogue columns",
    up: (tx) => run(tx, LISTING_FROM_INDEX),
  },
];

/** Rows of message_ts a migration gives their copies at once; a larger backlog is left to `db index-text`. */
export const TEXT_ORDER_INLINE = 100_000;

// Text search at scale (docs/benchmarks.md, "text search at 10 M rows"): archive-api lists matches in (timestamp,
// id) order, but the GIN index is on message_ts and the order on messages, so PostgreSQL either fetched every match
// to sort it (6 s for a word in 2 % of 2 M texts) or walked messages in page order and probed each for text. With
// the order's columns copied into message_ts (m_*, NULL until filled), a search reads a window of the newest texts
// (message_ts_order_idx) AND the GIN index's matches, and only the rows in both. The copies never change: a
// message's id, time, topic and public flag are set when it is archived; the trigger on messages keeps them right
// should anything update those. Texts written by another archiver (archive-core inserts message_ts without them)
// get them from the row by the BEFORE trigger; ours are written in the same statement (postgres.ts, text.ts).
// message_ts_unordered_idx finds the rows still without copies (`db index-text` fills them in batches; search
// answers by the slow join while any is left), and is empty afterwards.
const TEXT_IN_PAGE_ORDER = [
  `ALTER TABLE message_ts
    ADD COLUMN IF NOT EXISTS m_id BIGINT,
    ADD COLUMN IF NOT EXISTS m_timestamp BIGINT,
    ADD COLUMN IF NOT EXISTS m_topic TEXT,
    ADD COLUMN IF NOT EXISTS m_public BOOLEAN`,
  `CREATE OR REPLACE FUNCTION housekeeping_message_ts_ordered() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
    BEGIN
      SELECT id, timestamp, topic, public INTO NEW.m_id, NEW.m_timestamp, NEW.m_topic, NEW.m_public
        FROM messages WHERE uuid = NEW.uuid;
      RETURN NEW;
    END $$`,
  `DROP TRIGGER IF EXISTS message_ts_ordered ON message_ts`,
  `CREATE TRIGGER message_ts_ordered BEFORE INSERT OR UPDATE OF uuid ON message_ts
    FOR EACH ROW WHEN (NEW.m_id IS NULL) EXECUTE FUNCTION housekeeping_message_ts_ordered()`,
  `CREATE OR REPLACE FUNCTION housekeeping_message_ts_reordered() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
    BEGIN
      UPDATE message_ts SET m_id = NEW.id, m_timestamp = NEW.timestamp, m_topic = NEW.topic, m_public = NEW.public
        WHERE uuid = NEW.uuid;
      RETURN NULL;
    END $$`,
  `DROP TRIGGER IF EXISTS message_ts_reordered ON messages`,
  `CREATE TRIGGER message_ts_reordered AFTER UPDATE OF id, timestamp, topic, public ON messages
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.timestamp IS DISTINCT FROM NEW.timestamp
      OR OLD.topic IS DISTINCT FROM NEW.topic OR OLD.public IS DISTINCT FROM NEW.public)
    EXECUTE FUNCTION housekeeping_message_ts_reordered()`,
  // A small backlog is filled here; each filled row is a new row version (and GIN entries), ~0.5 ms a row.
  `DO $$ BEGIN
    IF (SELECT count(*) FROM (SELECT 1 FROM message_ts LIMIT ${TEXT_ORDER_INLINE + 1}) backlog)
        <= ${TEXT_ORDER_INLINE} THEN
      UPDATE message_ts t SET m_id = m.id, m_timestamp = m.timestamp, m_topic = m.topic, m_public = m.public
        FROM messages m WHERE m.uuid = t.uuid;
    END IF;
  END $$`,
  `CREATE INDEX IF NOT EXISTS message_ts_order_idx ON message_ts (m_timestamp, m_id)`,
  // A search narrowed to a topic walks that topic's texts in time order for a common word.
  `CREATE INDEX IF NOT EXISTS message_ts_topic_order_idx ON message_ts (m_topic, m_timestamp, m_id)`,
  `CREATE INDEX IF NOT EXISTS message_ts_unordered_idx ON message_ts (uuid) WHERE m_id IS NULL`,
  // Counts and pages leave retracted rows out by this (few rows) rather than by reading each match's row.
  `CREATE INDEX IF NOT EXISTS messages_retracted_idx ON messages (id) WHERE retracted`,
];

// archive-api's listings on a large index (docs/benchmarks.md, serve at 10 M rows):
// - a topic's page is its rows in (timestamp, id) order: (topic, timestamp, id) gives it in order and serves every
//   query the old (topic, timestamp) did, which goes.
// - anonymous callers see a topic's public rows only: the partial index holds those in the same order, so that a
//   topic with few or no public rows is not read row by row (0.57 s for a private topic of 58 000 rows before);
//   and /topics (which topics have a public row) is a skip scan of it, one probe per topic, instead of reading
//   every row (4.3 s at 10 M rows).
// Building them reads the table and blocks writes meanwhile (a few minutes per 10 M rows on a busy machine).
const LISTING_AT_SCALE = [
  `CREATE INDEX IF NOT EXISTS messages_topic_timestamp_id_idx ON messages (topic, timestamp, id)`,
  `DROP INDEX IF EXISTS messages_topic_timestamp_idx`,
  `CREATE INDEX IF NOT EXISTS messages_public_topic_idx ON messages (topic, timestamp, id) WHERE public`,
];

/**
 * The rows whose catalogue text fits a btree entry: PostgreSQL refuses an index entry above ~2700 bytes
 * (BTMaxItemSize of an 8 KiB page), and each header-derived column may hold 1024 bytes (lib/index/catalog.ts), or
 * anything when another archiver wrote the row. 2300 bytes of text plus the fixed columns, their headers and
 * alignment (under 200 bytes) stay below it. lib/index/listing.ts names the partial indexes' rows by this same
 * text, which is how PostgreSQL proves a query may read them.
 */
const CATALOGUE_TEXT = `octet_length(topic) + octet_length(title) + octet_length(sender)
  + octet_length(media_type) + octet_length(file_name) + octet_length(originator)
  + coalesce(octet_length(format), 0)`;
export const CATALOGUE_FITS = `${CATALOGUE_TEXT} <= 2300`;

// A topic's listing page (archive-api's meta=true, the web pages) from the index alone: an index-only scan reads the
// page's ~1025 entries from a few consecutive leaf pages, where the heap holds them on ~1025 different pages (rows
// of all topics are interleaved in arrival order): 1025 random reads, 0.8 s on a cold 10 M-row index.
// - The covering index has the catalogue columns (what meta=true and the web pages show) as INCLUDE columns, for
//   the rows whose text fits an index entry; the rest (hostile headers, other archivers' rows) are in a partial
//   index of their own, empty in practice, and a page merges the two scans. One index for all rows would refuse
//   such a row's insert (the archiver would quarantine it; archive-core's insert would fail).
// - Index-only scans skip the heap only for pages the visibility map marks all-visible, which VACUUM sets. An
//   archive only inserts, and autovacuum's default waits for 20 % of the table in new rows before it vacuums for
//   inserts (2 M rows at 10 M): the newest pages, which newest-first pages read, would stay heap reads for weeks.
//   Every 20 000 inserted rows instead: such a VACUUM visits only the pages not yet all-visible (a few MB) and,
//   with no dead rows, skips the indexes. An update (a retraction) clears its page's bit until the next VACUUM;
//   until then the scan reads that page from the heap, so answers are always current, only slower.
// - (topic, timestamp, id) without INCLUDE stays: restore's order, topic_days' recounts and public-only scans
//   read it for every row, which no partial index can answer.
// Building them reads the table and blocks writes meanwhile (a few minutes per 10 M rows on a busy machine).
const LISTING_FROM_INDEX = [
  `CREATE INDEX IF NOT EXISTS messages_topic_catalogue_idx ON messages (topic, timestamp, id)
    INCLUDE (crc32, uuid, size, value_size, public, retracted, title, sender, media_type, file_name, originator,
      format)
    WHERE ${CATALOGUE_FITS}`,
  `CREATE INDEX IF NOT EXISTS messages_topic_long_catalogue_idx ON messages (topic, timestamp, id)
    WHERE NOT (${CATALOGUE_FITS})`,
  // Without statistics of the text's length PostgreSQL guesses that a third of a topic's rows are long: for a page
  // from a point in time it then looked for them along messages_timestamp_idx, reading half the table (minutes at
  // 10 M rows) to find none. With them it knows how few there are and reads their index.
  `CREATE STATISTICS IF NOT EXISTS messages_catalogue_text_stats ON (${CATALOGUE_TEXT}) FROM messages`,
  `ANALYZE messages`,
  `ALTER TABLE messages SET (autovacuum_vacuum_insert_threshold = 20000,
    autovacuum_vacuum_insert_scale_factor = 0)`,
];

// A record's timestamp is any int64 (docs/archive-format.md §1.1). Migration 4's recount bounded a day by
// day * 86400000 and (day + 1) * 86400000, which leave int8 for the days of -2^63 and 2^63-1: updating or deleting
// such a row (verify releasing it from quarantine, a deletion) failed with "bigint out of range". The bounds of
// those two days are the ends of int8 instead; every other day's bounds are the same rows as before, and still
// ranges on messages.timestamp (int8 against int8, so its index serves them).
const TOPIC_DAYS_RECOUNT =
  `CREATE OR REPLACE FUNCTION topic_days_recount(days TEXT[], day_numbers BIGINT[]) RETURNS void
    LANGUAGE sql SET search_path FROM CURRENT AS $$
    DELETE FROM topic_days d USING unnest(days, day_numbers) AS t(topic, day)
      WHERE d.topic = t.topic AND d.day = t.day;
    INSERT INTO topic_days (topic, day, messages, bytes, earliest, latest, last_archived)
      SELECT m.topic, t.day, count(*), coalesce(sum(m.size), 0), min(m.timestamp), max(m.timestamp),
        max(m.archived_at)
      FROM unnest(days, day_numbers) AS t(topic, day)
      JOIN messages m ON m.topic = t.topic
        AND m.timestamp >= CASE WHEN t.day <= -106751991168 THEN '-9223372036854775808'::int8
          ELSE t.day * 86400000 END
        AND m.timestamp <= CASE WHEN t.day >= 106751991167 THEN '9223372036854775807'::int8
          ELSE (t.day + 1) * 86400000 - 1 END
      GROUP BY m.topic, t.day
    $$`;

// A record whose row PostgreSQL refuses for what it holds (lib/archive/ingest.ts) is archived with a row that
// leaves out what came from its headers, marked here with PostgreSQL's reason. A constant default adds the columns
// without rewriting the table; the partial index holds the quarantined rows only, so `status` and `verify` find
// them without a scan however large the archive.
const QUARANTINE = [
  `ALTER TABLE messages
    ADD COLUMN IF NOT EXISTS quarantined BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS quarantine_reason TEXT`,
  `CREATE INDEX IF NOT EXISTS messages_quarantined_idx ON messages (topic) WHERE quarantined`,
];

// What archive-core 1.3.0 (the archiver that ran Hopskotch's archive before this one) has and archive-api reads: the
// catalogue columns, the per-topic summary `topics` kept by a trigger, and the text-search table `message_ts`. A
// database it filled already has them (ADD COLUMN IF NOT EXISTS keeps its rows); a seed-era or new one gets them with
// archive-core's defaults, so archive-api can serve either. Every new column has a default, so that archive-core can
// still insert next to (or after) this archiver.
const ARCHIVE_CORE_SHAPE = [
  // No insert may slip between summarising the rows into `topics` and the trigger that keeps it current.
  `LOCK TABLE messages IN SHARE ROW EXCLUSIVE MODE`,
  `ALTER TABLE messages
    ADD COLUMN IF NOT EXISTS public BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS direct_upload BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS title TEXT NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS media_type TEXT NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS file_name TEXT NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS originator TEXT NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS retracted BOOLEAN NOT NULL DEFAULT false`,
  // archive-core's sender is '' when there is none; migration 2 made it nullable on other databases.
  `UPDATE messages SET sender = '' WHERE sender IS NULL`,
  `ALTER TABLE messages ALTER COLUMN sender SET DEFAULT '', ALTER COLUMN sender SET NOT NULL`,
  // archive-core's own unique constraint makes migration 2's second one redundant (unless a key references it).
  `DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'messages'::regclass AND conname = 'messages_uuid_idx'
               AND contype = 'u')
      AND EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'messages'::regclass
                  AND conname = 'messages_uuid_key' AND contype = 'u')
      AND NOT EXISTS (SELECT 1 FROM pg_constraint f JOIN pg_constraint k ON f.conindid = k.conindid
                      WHERE f.contype = 'f' AND k.conrelid = 'messages'::regclass AND k.conname = 'messages_uuid_key')
    THEN ALTER TABLE messages DROP CONSTRAINT messages_uuid_key;
    END IF;
  END $$`,
  // archive-api pages through messages by (timestamp, id) and filters on topic and public from this index alone.
  `CREATE INDEX IF NOT EXISTS messages_timestamp_id_idx ON messages (timestamp, id) INCLUDE (topic, public)`,
  // Rows of other archivers (no content digest), by archive-core's duplicate test (lib/index/original.ts): on a
  // database of ours the index is empty and costs nothing to keep, and a lookup in it is one probe.
  `CREATE INDEX IF NOT EXISTS messages_other_archivers_idx ON messages (topic, timestamp, message_crc32)
    WHERE content_sha256 IS NULL`,
  `CREATE TABLE IF NOT EXISTS message_ts (
    uuid UUID NOT NULL REFERENCES messages (uuid) ON DELETE CASCADE,
    text_data TSVECTOR NOT NULL,
    text_fully_indexed BOOLEAN NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS message_ts_idx ON message_ts USING GIN (text_data)`,
  `CREATE TABLE IF NOT EXISTS topics AS
    SELECT topic, min(timestamp) AS e_timestamp, max(timestamp) AS l_timestamp, count(*) AS n_messages
    FROM messages GROUP BY topic`,
  `DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'topics'::regclass AND contype = 'u') THEN
      ALTER TABLE topics ADD CONSTRAINT unique_topic UNIQUE (topic);
    END IF;
  END $$`,
  // archive-core's trigger updates the topic's row once per inserted row: 1000 updates of one row per claim, and
  // claims of one topic waiting on each other's row lock. Once per statement does the same sums in one upsert.
  `CREATE OR REPLACE FUNCTION housekeeping_topics_inserted() RETURNS trigger LANGUAGE plpgsql AS $f$
  BEGIN
    INSERT INTO topics AS t (topic, e_timestamp, l_timestamp, n_messages)
      SELECT topic, min(timestamp), max(timestamp), count(*) FROM inserted_rows GROUP BY topic
    ON CONFLICT (topic) DO UPDATE SET e_timestamp = LEAST(t.e_timestamp, excluded.e_timestamp),
      l_timestamp = GREATEST(t.l_timestamp, excluded.l_timestamp), n_messages = t.n_messages + excluded.n_messages;
    RETURN NULL;
  END $f$`,
  // As archive-core: deletions only lower the count (its earliest and latest times stay as they were).
  `CREATE OR REPLACE FUNCTION housekeeping_topics_deleted() RETURNS trigger LANGUAGE plpgsql AS $f$
  BEGIN
    UPDATE topics t SET n_messages = t.n_messages - d.n
      FROM (SELECT topic, count(*) AS n FROM deleted_rows GROUP BY topic) d WHERE t.topic = d.topic;
    RETURN NULL;
  END $f$`,
  // The name archive-core checks before creating its own: should it run on this database again, it keeps ours.
  `DROP TRIGGER IF EXISTS trigger_update_topics ON messages`,
  `CREATE TRIGGER trigger_update_topics AFTER INSERT ON messages REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION housekeeping_topics_inserted()`,
  `CREATE TRIGGER trigger_update_topics_deleted AFTER DELETE ON messages REFERENCING OLD TABLE AS deleted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION housekeeping_topics_deleted()`,
];

const LATEST = MIGRATIONS.at(-1)?.version ?? 0;

async function currentVersion(sql: IndexSql | Tx): Promise<number> {
  // Two statements: a query naming a missing table fails when parsed, whatever its CASE says.
  const [table] = await sql<{ exists: boolean }[]>`
    select to_regclass('schema_migrations') is not null as exists`;
  if (!table?.exists) return 0;
  const [row] = await sql<{ version: number }[]>`
    select coalesce(max(version), 0) as version from schema_migrations`;
  return row?.version ?? 0;
}

/** The schema version of the database and the newest one this program knows. */
export async function schemaVersion(sql: IndexSql): Promise<{ current: number; latest: number }> {
  try {
    return { current: await currentVersion(sql), latest: LATEST };
  } catch (e) {
    throw indexError(e, "reading the index schema version");
  }
}

function tooNew(current: number): Error {
  return hkError(
    "INDEX_MIGRATION_FAILED",
    `the index schema is at version ${current}, newer than this housekeeping knows (${LATEST}): upgrade housekeeping`,
  );
}

// Applies `migration` unless another process already did; returns the version found before.
async function applyOne(sql: IndexSql, migration: Migration): Promise<number> {
  return await sql.begin(async (tx) => {
    const [where] = await tx<{ schema: string | null }[]>`select current_schema() as schema`;
    // With no schema to create tables in, the lock key below would be NULL, and a NULL key locks nothing.
    if (!where?.schema) {
      throw hkError(
        "INDEX_MIGRATION_FAILED",
        "no schema to create the index tables in: the search_path names no existing schema; create it or fix " +
          "--db-schema",
      );
    }
    await tx`select pg_advisory_xact_lock(${LOCK_KEY}::int4, hashtext(current_schema()))`;
    await tx`create table if not exists schema_migrations (
      version integer primary key, name text not null, applied_at timestamptz not null default now(),
      archiver_version text)`;
    const found = await currentVersion(tx);
    if (found > LATEST) throw tooNew(found);
    if (found < migration.version) {
      await migration.up(tx);
      await tx`insert into schema_migrations (version, name, archiver_version)
        values (${migration.version}, ${migration.name}, ${VERSION})`;
    }
    return found;
  });
}

/** Brings the schema to the latest version; safe to run from several processes at once. */
export async function migrate(sql: IndexSql): Promise<{ from: number; to: number }> {
  const { current } = await schemaVersion(sql);
  if (current > LATEST) throw tooNew(current);
  // The common start-up case needs no lock.
  if (current === LATEST) return { from: current, to: current };
  let from: number | undefined;
  for (const migration of MIGRATIONS) {
    try {
      const found = await applyOne(sql, migration);
      from ??= found;
    } catch (e) {
      const mapped = indexError(e, `index migration ${migration.version} (${migration.name})`);
      if (isConnectionError(mapped) || mapped.code === "INDEX_MIGRATION_FAILED") throw mapped;
      throw hkError("INDEX_MIGRATION_FAILED", mapped.message, { cause: e, retriable: mapped.retriable });
    }
  }
  return { from: from ?? current, to: LATEST };
}
