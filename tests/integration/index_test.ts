// One behaviour suite for the index, run against the real PostgreSQL and against the embedded PGlite server.
// Every case gets its own schema and drops it afterwards.
import assert from "node:assert/strict";
import { connectIndex, indexError, type IndexSql } from "../../lib/index/database.ts";
import { startEmbeddedIndex } from "../../lib/index/embedded.ts";
import { NO_CATALOG } from "../../lib/index/catalog.ts";
import { CATALOGUE_FITS, MIGRATIONS } from "../../lib/index/migrations.ts";
import {
  createListing,
  listingColumns,
  type ListingDbRow,
  type ListingRow,
  toListingRow,
} from "../../lib/index/listing.ts";
import { createIndex, SAMPLE_BLOCKS_FROM_ROWS } from "../../lib/index/postgres.ts";
import type { IndexRow, Receipt } from "../../lib/index/types.ts";
import { createPrng } from "../../lib/mock/prng.ts";
import postgres from "postgres";
import { hasCode, serviceEnv, uniqueName } from "../support/helpers.ts";
import { startSilentProxy } from "../support/silent_proxy.ts";

interface Backend {
  name: string;
  /** A new client whose search_path is `schema` (created if missing). */
  connect(schema: string): Promise<IndexSql>;
  /** False for the embedded server, which serves one connection at a time. */
  multiConnection: boolean;
}

type PlanNode = Record<string, unknown> & { Plans?: PlanNode[] };

interface Case {
  name: string;
  run(sql: IndexSql, backend: Backend, schema: string): Promise<void>;
}

const LATEST = MIGRATIONS.at(-1)!.version;
const VERSIONS = MIGRATIONS.map((m) => m.version);

function uuidFor(n: number): string {
  const hex = n.toString(16).padStart(12, "0");
  return `00000000-0000-4000-8000-${hex}`;
}

function row(n: number, overrides: Partial<IndexRow> = {}): IndexRow {
  return {
    uuid: uuidFor(n),
    topic: "gcn.circular",
    timestamp: 1_674_000_000_000n + BigInt(n),
    partition: n % 3,
    offset: BigInt(n),
    size: 400 + n,
    key: `gcn.circular/2023/01/18/${uuidFor(n)}.bson`,
    bucket: "hk-test",
    crc32: 4_221_669_015, // above 2^31: must survive as unsigned
    isClientUuid: n % 2 === 0,
    messageCrc32: 3_000_000_000 + n,
    archivedAt: 1_700_000_000_123n + BigInt(n),
    archiverVersion: "0.0.0-test",
    contentSha256: "ab".repeat(32),
    valueSize: 100 + n,
    sender: n % 2 === 0 ? "alice" : null,
    format: n % 2 === 0 ? "circular" : "json",
    isTest: n % 5 === 0,
    clashOf: null,
    catalog: {
      public: n % 3 === 0,
      directUpload: n % 7 === 0, // archive-api's uploads, which `archive` never writes
      title: n % 2 === 0 ? `GCN circular ${n}` : "",
      mediaType: n % 2 === 0 ? "application/x.gcn.circular" : "application/json",
      fileName: n % 4 === 0 ? `c${n}.txt` : "",
      originator: n % 4 === 0 ? "ligo" : "",
      retracted: false,
    },
    ...overrides,
  };
}

const ORIGINAL_TABLE =
  `CREATE TABLE IF NOT EXISTS messages (id BIGSERIAL PRIMARY KEY, topic TEXT, timestamp BIGINT,
  uuid TEXT, size INTEGER, key TEXT, bucket TEXT, crc32 BIGINT, is_client_uuid BOOLEAN, message_crc32 BIGINT)`;

// What the original archiver inserted (its f-strings, here parameterised).
async function insertOriginal(sql: IndexSql, topic: string, timestamp: bigint, uuid: string): Promise<void> {
  await sql`insert into messages (topic, timestamp, uuid, size, key, bucket, crc32, is_client_uuid, message_crc32)
    values (${topic}, ${timestamp}, ${uuid}, 404, ${`${topic}/2023/1/17/0/${uuid}.bson`}, 'scimma-archive',
      4221669015, true, 12345)`;
}

async function columns(sql: IndexSql, schema: string, table: string): Promise<Record<string, string>> {
  const rows = await sql<{ column_name: string; data_type: string }[]>`
    select column_name, data_type from information_schema.columns
    where table_schema = ${schema} and table_name = ${table}`;
  return Object.fromEntries(rows.map((r) => [r.column_name, r.data_type]));
}

const CASES: Case[] = [
  {
    name: "migrate creates the latest schema from an empty database",
    async run(sql, _backend, schema) {
      const index = createIndex(sql);
      assert.deepEqual(await index.schemaVersion(), { current: 0, latest: LATEST });
      assert.deepEqual(await index.migrate(), { from: 0, to: LATEST });
      assert.deepEqual(await index.schemaVersion(), { current: LATEST, latest: LATEST });
      assert.deepEqual(await columns(sql, schema, "messages"), {
        id: "bigint",
        topic: "text",
        timestamp: "bigint",
        uuid: "uuid",
        size: "integer",
        key: "text",
        bucket: "text",
        crc32: "bigint",
        is_client_uuid: "boolean",
        message_crc32: "bigint",
        partition: "integer",
        offset: "bigint",
        archived_at: "timestamp with time zone",
        archiver_version: "text",
        content_sha256: "text",
        value_size: "integer",
        sender: "text",
        format: "text",
        is_test: "boolean",
        clash_of: "uuid",
        public: "boolean",
        direct_upload: "boolean",
        title: "text",
        media_type: "text",
        file_name: "text",
        originator: "text",
        retracted: "boolean",
        quarantined: "boolean",
        quarantine_reason: "text",
      });
      assert.deepEqual(await columns(sql, schema, "topics"), {
        topic: "text",
        e_timestamp: "bigint",
        l_timestamp: "bigint",
        n_messages: "bigint",
      });
      assert.deepEqual(await columns(sql, schema, "message_ts"), {
        uuid: "uuid",
        text_data: "tsvector",
        text_fully_indexed: "boolean",
        m_id: "bigint",
        m_timestamp: "bigint",
        m_topic: "text",
        m_public: "boolean",
      });
      assert.deepEqual(await columns(sql, schema, "receipts"), {
        id: "bigint",
        uuid: "uuid",
        topic: "text",
        partition: "integer",
        offset: "bigint",
        timestamp: "bigint",
        received_at: "timestamp with time zone",
      });
      const indexes = await sql<{ indexname: string }[]>`
        select indexname from pg_indexes where schemaname = ${schema} order by indexname`;
      const names = indexes.map((i) => i.indexname);
      const expected = [
        "messages_uuid_key",
        "messages_topic_timestamp_id_idx",
        "messages_public_topic_idx",
        "messages_timestamp_idx",
        "messages_timestamp_id_idx",
        "message_ts_idx",
        "message_ts_uuid_idx",
        "message_ts_order_idx",
        "message_ts_topic_order_idx",
        "message_ts_unordered_idx",
        "messages_retracted_idx",
        "messages_quarantined_idx",
      ];
      for (const name of expected) {
        assert.ok(names.includes(name), `${name} missing from ${names.join(", ")}`);
      }
    },
  },
  {
    name: "migrate is idempotent",
    async run(sql) {
      const index = createIndex(sql);
      await index.migrate();
      assert.deepEqual(await index.migrate(), { from: LATEST, to: LATEST });
      const applied = await sql<
        { version: number }[]
      >`select version from schema_migrations order by version`;
      assert.deepEqual(applied.map((r) => r.version), VERSIONS);
    },
  },
  {
    name: "migrate upgrades the original archiver's table in place",
    async run(sql, _backend, schema) {
      await sql.unsafe(ORIGINAL_TABLE);
      const first = "6f0c5a0e-3b9e-4e0e-9a55-5d4cbb1f3a01";
      const second = "0d3f63b8-5b8a-47a6-8a5e-6d1f1a2b3c4d";
      await insertOriginal(sql, "gcn.circular", 1_674_000_000_123n, first);
      await insertOriginal(sql, "gcn.circular", 1_674_000_000_123n, first.toUpperCase()); // racy duplicate
      await insertOriginal(sql, "lvk.alert", 1_674_000_000_999n, second);
      const index = createIndex(sql);
      assert.deepEqual(await index.migrate(), { from: 0, to: LATEST });
      assert.equal((await columns(sql, schema, "messages")).uuid, "uuid");

      const kept = await index.byUuid(first);
      assert.ok(kept !== null);
      assert.equal(kept.topic, "gcn.circular");
      assert.equal(kept.timestamp, 1_674_000_000_123n);
      assert.equal(kept.key, `gcn.circular/2023/1/17/0/${first}.bson`);
      assert.equal(kept.crc32, 4_221_669_015);
      assert.equal(kept.partition, null);
      assert.equal(kept.offset, null);
      assert.equal(kept.archivedAt, null);
      assert.equal(kept.isTest, false);
      const [ids] = await sql<{ ids: bigint[] }[]>`select array_agg(id order by id) as ids from messages`;
      assert.deepEqual(ids?.ids, [1n, 3n], "the earliest row of a duplicated uuid stays, with its id");
      const receipts = await sql`select uuid::text as uuid, topic, partition, received_at from receipts`;
      assert.deepEqual([...receipts], [{
        uuid: first,
        topic: "gcn.circular",
        partition: null,
        received_at: null,
      }]);

      assert.deepEqual(await index.claim([row(1, { uuid: first }), row(2, { uuid: second.toUpperCase() })]), [
        false,
        false,
      ]);
      // The original archiver may still run next to the new one: its inserts keep working.
      await insertOriginal(sql, "gcn.circular", 1n, "11111111-2222-4333-8444-555555555555");
      const theirs = await index.byUuid("11111111-2222-4333-8444-555555555555");
      assert.equal(theirs?.isTest, false);
      assert.deepEqual(theirs?.catalog, NO_CATALOG);
      // archive-api's per-topic summary, made from the rows and kept by the trigger.
      await index.claim([row(3, { topic: "lvk.alert", timestamp: 1_674_000_001_000n })]);
      const topics = await sql`select topic, e_timestamp, l_timestamp, n_messages from topics order by topic`;
      assert.deepEqual([...topics], [
        { topic: "gcn.circular", e_timestamp: 1n, l_timestamp: 1_674_000_000_123n, n_messages: 2n },
        {
          topic: "lvk.alert",
          e_timestamp: 1_674_000_000_999n,
          l_timestamp: 1_674_000_001_000n,
          n_messages: 2n,
        },
      ]);
      // Records another archiver stored under its own UUIDs are found by topic, timestamp and value CRC-32.
      const keys = [
        { topic: "lvk.alert", timestamp: 1_674_000_000_999n, messageCrc32: 12345 },
        { topic: "lvk.alert", timestamp: 1_674_000_000_999n, messageCrc32: 12346 },
        { topic: "lvk.alert", timestamp: 1_674_000_001_000n, messageCrc32: row(3).messageCrc32 }, // ours: by uuid
      ];
      assert.deepEqual(await index.findOriginals(keys), new Map([[0, second]]));
    },
  },
  {
    name: "a row whose uuid is not a UUID stops the upgrade with a coded error and changes nothing",
    async run(sql, _backend, schema) {
      await sql.unsafe(ORIGINAL_TABLE);
      await insertOriginal(sql, "gcn.circular", 1n, "not-a-uuid");
      const index = createIndex(sql);
      await assert.rejects(index.migrate(), (e: unknown) => {
        hasCode("INDEX_MIGRATION_FAILED")(e);
        assert.match((e as Error).message, /not a UUID.*id 1/);
        return true;
      });
      assert.deepEqual(await index.schemaVersion(), { current: 1, latest: LATEST });
      assert.equal((await columns(sql, schema, "messages")).uuid, "text");
    },
  },
  {
    name: "concurrent migrations from two connections apply each step once",
    async run(sql, backend, schema) {
      // The embedded server serves one connection: there the two run interleaved on one client.
      const other = backend.multiConnection ? await backend.connect(schema) : sql;
      try {
        const results = await Promise.all([createIndex(sql).migrate(), createIndex(other).migrate()]);
        assert.ok(results.every((r) => r.to === LATEST));
        const applied = await sql<
          { version: number }[]
        >`select version from schema_migrations order by version`;
        assert.deepEqual(applied.map((r) => r.version), VERSIONS);
      } finally {
        if (other !== sql) await other.end();
      }
    },
  },
  {
    name: "claim: new rows win, conflicts lose, one winner per uuid within a batch",
    async run(sql) {
      const index = createIndex(sql);
      await index.migrate();
      assert.deepEqual(await index.claim([]), []);
      assert.deepEqual(await index.claim([row(1), row(2)]), [true, true]);
      assert.deepEqual(await index.claim([row(3), row(1), row(4)]), [true, false, true]);
      // Same uuid, different records: the first wins, the other loses.
      assert.deepEqual(await index.claim([row(5), row(6, { uuid: uuidFor(5) })]), [true, false]);
      assert.equal((await index.byUuid(uuidFor(5)))?.offset, 5n);
      // The very same record twice in one batch: exactly one true.
      assert.deepEqual(await index.claim([row(7), row(7)]), [true, false]);

      const found = await index.lookup([uuidFor(1), uuidFor(2), uuidFor(99), uuidFor(1)]);
      assert.deepEqual([...found.keys()].sort(), [uuidFor(1), uuidFor(2)]);
      assert.deepStrictEqual(found.get(uuidFor(2)), row(2));
      assert.deepStrictEqual(found.get(uuidFor(1)), row(1));
      assert.deepEqual(await index.lookup([]), new Map());
      assert.equal(await index.byUuid(uuidFor(99)), null);
      await assert.rejects(index.byUuid("nope"), hasCode("UUID_INVALID"));

      assert.equal(await index.insertRepaired(row(8)), true);
      assert.equal(await index.insertRepaired(row(8)), false);
      const clash = row(9, { clashOf: uuidFor(1), sender: "bob\u00e9", format: null });
      assert.deepEqual(await index.claim([clash]), [true]);
      assert.deepStrictEqual(await index.byUuid(uuidFor(9)), clash);
    },
  },
  {
    // /topics reads messages_public_topic_idx one topic at a time (lib/index/listing.ts): the same list as
    // archive-core's `select distinct`, whatever mix of public and private rows, names and collation order.
    name: "topics with public rows: the skip scan lists what select distinct lists",
    async run(sql) {
      const index = createIndex(sql);
      await index.migrate();
      const topics = ["a", "b.private", "B", "c_all", "a.b", "zz", "a-1", "\u00e9t\u00e9"];
      // row(n) is public when n % 3 === 0: each topic gets a different mix; "b.private" none.
      const rows = Array.from({ length: 120 }, (_, n) => {
        const topic = topics[n % topics.length]!;
        const r = row(n, { topic });
        return topic === "b.private" ? { ...r, catalog: { ...r.catalog!, public: false } } : r;
      });
      await index.claim(rows);
      const listing = createListing(sql);
      const expected = async () =>
        (await sql<{ topic: string }[]>`select distinct topic from messages where public order by topic`)
          .map((r) => r.topic);
      assert.ok((await expected()).length >= 4);
      assert.deepEqual(await listing.topicsWithPublicMessages(), await expected());
      assert.ok(!(await listing.topicsWithPublicMessages()).includes("b.private"));
      await sql`update messages set public = false`;
      assert.deepEqual(await listing.topicsWithPublicMessages(), []);
    },
  },
  {
    // Migration 10: a topic's page is read from messages_topic_catalogue_idx alone, which holds the rows whose
    // catalogue text fits a btree entry; the others (hostile headers, other archivers) are merged in from their own
    // index. A row at the bound must be accepted by the covering index, and every row listed, in order, as stored.
    name: "a topic's pages: rows too long for the covering index are listed among the others, in order",
    async run(sql) {
      const index = createIndex(sql);
      await index.migrate();
      const prng = createPrng(9);
      // Printable noise: no repeats for pglz to shorten, so these are the bytes an index entry would hold.
      const noise = (bytes: number) =>
        Array.from({ length: bytes }, () => String.fromCharCode(0x21 + prng.int(94))).join("");
      const topic = "t.page";
      const long = (n: number) => n % 7 === 3;
      const bound = Number(/<= (\d+)$/.exec(CATALOGUE_FITS)![1]);
      // Every text of the catalogue together exactly at the bound (topic, sender, media type, format count too).
      const atBound = (n: number): Partial<IndexRow> => {
        const [sender, format, mediaType] = [noise(300), noise(200), "application/json"];
        const rest = bound - topic.length - sender.length - format.length - mediaType.length;
        const third = Math.floor(rest / 3);
        const r = row(n, { topic, sender, format });
        return {
          topic,
          sender,
          format,
          catalog: {
            ...r.catalog!,
            mediaType,
            title: noise(third),
            fileName: noise(third),
            originator: noise(rest - 2 * third),
          },
        };
      };
      const rows = Array.from({ length: 45 }, (_, n) => {
        // Ties of timestamp: pages are ordered by (timestamp, id).
        const base = row(n, {
          topic: n % 9 === 8 ? "t.other" : topic,
          timestamp: 1_700_000_000_000n + BigInt(n >> 1),
        });
        if (n === 10) return { ...base, ...atBound(n) };
        if (!long(n)) return base;
        return {
          ...base,
          catalog: { ...base.catalog!, title: noise(1024), fileName: noise(1024), originator: noise(1024) },
        };
      });
      assert.deepEqual(await index.claim(rows), rows.map(() => true));
      const [fits] = await sql.unsafe<{ fits: boolean }[]>(
        `select ${CATALOGUE_FITS} as fits from messages where uuid = '${uuidFor(10)}'`,
      );
      assert.equal(fits?.fits, true);
      const expected = (await sql<ListingDbRow[]>`
        select ${listingColumns(sql)} from messages m where m.topic = ${topic} order by m.timestamp, m.id`)
        .map(toListingRow);
      const longRows = rows.filter((r, n) => r.topic === topic && long(n) && n !== 10).length;
      assert.ok(longRows >= 3);
      assert.equal(expected.filter((r) => r.title.length === 1024).length, longRows);
      const listing = createListing(sql);
      const filter = { topicsPublic: null, topicsFull: [topic], includeRetracted: true };
      for (const ascending of [true, false]) {
        const order = ascending ? expected : [...expected].reverse();
        // Forward along `next`, then back along `prev`: every row once, in order, each page the same both ways.
        const pages: ListingRow[][] = [];
        let page = await listing.page(filter, { ascending, limit: 4 });
        for (;;) {
          pages.push(page.rows);
          if (page.next === null) break;
          page = await listing.page(filter, { ascending, limit: 4, bookmark: page.next });
        }
        assert.deepEqual(pages.flat(), order);
        const back: ListingRow[][] = [];
        while (page.prev !== null) {
          page = await listing.page(filter, { ascending, limit: 4, bookmark: page.prev });
          back.unshift(page.rows);
        }
        assert.deepEqual(back, pages.slice(0, -1));
      }
      const objects = await listing.pageWithObjects(filter, { ascending: true, limit: 50 });
      assert.deepEqual(
        objects.rows.map((r) => r.key),
        expected.map((r) => row(parseInt(r.uuid.slice(-12), 16)).key),
      );
    },
  },
  {
    // What migration 10 is for: the listing's query of a topic's page can be answered by an index-only scan (the
    // covering index holds every column it reads, and the query names the partial index's rows). Whether the scan
    // then skips the heap depends on VACUUM and on transactions open elsewhere in the database, which a test on a
    // shared server does not control: the other ways to read the page are taken away instead.
    name: "a topic's page can be an index-only scan of messages_topic_catalogue_idx",
    async run(sql, backend) {
      const index = createIndex(sql);
      await index.migrate();
      await index.claim(
        Array.from({ length: 3000 }, (_, n) => row(n, { topic: n % 2 === 0 ? "t.a" : "t.b" })),
      );
      await sql`analyze messages`;
      const statements: { query: string; parameters: unknown[] }[] = [];
      const [where] = await sql<{ schema: string }[]>`select current_schema() as schema`;
      const spy = backend.multiConnection
        ? postgres(serviceEnv("DATABASE_URL"), {
          max: 1,
          types: { bigint: postgres.BigInt },
          connection: { search_path: where!.schema },
          debug: (_connection, query, parameters) => statements.push({ query, parameters }),
        })
        : null;
      if (spy === null) return; // the embedded server takes one connection: the test's own
      const explain = async (disable: string[]) => {
        const listed = statements.at(-1)!;
        const plan = await sql.begin(async (tx) => {
          for (const kind of disable) await tx.unsafe(`set local enable_${kind} = off`);
          return await tx.unsafe<{ "QUERY PLAN": { Plan: PlanNode }[] }[]>(
            `explain (format json) ${listed.query}`,
            listed.parameters as never[],
          );
        });
        const nodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodes)];
        return nodes(plan[0]!["QUERY PLAN"][0]!.Plan);
      };
      try {
        // From a point in time, with nothing switched off: the rows that do not fit are looked for in their own
        // (empty) index. Without the statistics of migration 10 PostgreSQL expected a third of the rows there and
        // walked messages_timestamp_idx instead, through every row after that time.
        await createListing(spy as unknown as IndexSql).page(
          { topicsPublic: null, topicsFull: ["t.a"], includeRetracted: true, since: 1_674_000_001_000n },
          { ascending: true, limit: 100 },
        );
        const indexes = (await explain([])).map((n) => n["Index Name"] ?? n["Node Type"]);
        assert.ok(indexes.includes("messages_topic_long_catalogue_idx"), indexes.join(", "));
        // The other indexes a page could be read along go: an index scan of the covering index, rather than an
        // index-only one, would mean that it lacks a column the page reads.
        for (
          const other of [
            "messages_topic_timestamp_id_idx",
            "messages_timestamp_id_idx",
            "messages_timestamp_idx",
          ]
        ) {
          await sql`drop index ${sql(other)}`;
        }
        for (const ascending of [true, false]) {
          await createListing(spy as unknown as IndexSql).page(
            { topicsPublic: null, topicsFull: ["t.a"], includeRetracted: false, since: 1n },
            { ascending, limit: 10, bookmark: { timestamp: 1_674_000_000_010n, id: 5n, backwards: false } },
          );
          const covering = (await explain(["seqscan", "bitmapscan"])).filter((n) =>
            n["Index Name"] === "messages_topic_catalogue_idx"
          );
          assert.deepEqual(
            covering.map((n) => n["Node Type"]),
            ["Index Only Scan"],
            `ascending ${ascending}`,
          );
        }
      } finally {
        await spy.end();
      }
    },
  },
  {
    name: "claim chunks 70k rows under the parameter limit, all or nothing",
    async run(sql) {
      const index = createIndex(sql);
      await index.migrate();
      const rows = Array.from({ length: 70_000 }, (_, i) => row(i + 1));
      const won = await index.claim(rows);
      assert.equal(won.length, rows.length);
      assert.ok(won.every((w) => w));
      const [count] = await sql<{ n: bigint }[]>`select count(*) as n from messages`;
      assert.equal(count?.n, 70_000n);
      const again = await index.claim([row(70_001), ...rows.slice(0, 5000), row(69_999)]);
      assert.deepEqual(again.filter((w) => w).length, 1);
      assert.equal(again[0], true);
    },
  },
  {
    name: "receipts are recorded once",
    async run(sql) {
      const index = createIndex(sql);
      await index.migrate();
      await index.claim([row(1)]);
      const receipt = (offset: bigint): Receipt => ({
        uuid: uuidFor(1),
        topic: "gcn.circular",
        partition: 0,
        offset,
        timestamp: 1_674_000_000_001n,
      });
      assert.equal(await index.recordReceipts([]), 0);
      assert.equal(await index.recordReceipts([receipt(10n), receipt(11n), receipt(10n)]), 2);
      assert.equal(await index.recordReceipts([receipt(10n), receipt(11n)]), 0);
      assert.equal(await index.recordReceipts([receipt(12n)]), 1);
      const [count] = await sql<{ n: bigint }[]>`select count(*) as n from receipts`;
      assert.equal(count?.n, 3n);
      // More receipts than one statement can carry (5 parameters each).
      const many = Array.from({ length: 30_000 }, (_, i) => receipt(1000n + BigInt(i)));
      assert.equal(await index.recordReceipts([...many, receipt(10n)]), 30_000);
    },
  },
  {
    name: "select filters combine, and keyset paging visits every row once",
    async run(sql) {
      const index = createIndex(sql);
      await index.migrate();
      const rows = [
        ...Array.from({ length: 10 }, (_, i) => row(i + 1)),
        ...Array.from(
          { length: 5 },
          (_, i) => row(i + 11, { topic: "lvk.alert", sender: "ligo", format: "avro" }),
        ),
        row(16, { topic: "lvk.test" }),
      ];
      await index.claim(rows);
      const uuids = async (filter: Parameters<typeof index.select>[0]) =>
        (await index.select(filter, { limit: 1000 })).map((r) => r.uuid);
      const expect = (pred: (r: IndexRow) => boolean) => rows.filter(pred).map((r) => r.uuid);

      assert.deepEqual(await uuids({}), expect(() => true));
      assert.deepEqual(
        await uuids({ topics: ["lvk.alert", "lvk.test"] }),
        expect((r) => r.topic.startsWith("lvk")),
      );
      assert.deepEqual(await uuids({ topics: [] }), []);
      assert.deepEqual(await uuids({ topicRegex: "^lvk\\.(a|t)" }), expect((r) => r.topic.startsWith("lvk")));
      const t = 1_674_000_000_000n;
      assert.deepEqual(
        await uuids({ since: t + 3n, until: t + 7n }),
        expect((r) => r.timestamp >= t + 3n && r.timestamp < t + 7n),
      );
      assert.deepEqual(await uuids({ uuids: [uuidFor(4), uuidFor(12).toUpperCase()] }), [
        uuidFor(4),
        uuidFor(12),
      ]);
      assert.deepEqual(
        await uuids({ topics: ["gcn.circular"], partition: 1, fromOffset: 2n, toOffset: 8n }),
        expect((r) => r.topic === "gcn.circular" && r.partition === 1 && r.offset >= 2n && r.offset < 8n),
      );
      assert.deepEqual(await uuids({ sender: "ligo" }), expect((r) => r.sender === "ligo"));
      assert.deepEqual(await uuids({ format: "json" }), expect((r) => r.format === "json"));
      assert.deepEqual(
        await uuids({ sender: "alice", format: "circular", since: t + 5n }),
        expect((r) => r.sender === "alice" && r.format === "circular" && r.timestamp >= t + 5n),
      );
      assert.deepEqual(await uuids({ sender: "alice", format: "circular", since: t + 5n, until: t + 11n }), [
        uuidFor(6),
        uuidFor(8),
        uuidFor(10),
      ]);

      const seen: string[] = [];
      let after: bigint | undefined;
      for (let pages = 0;; pages++) {
        assert.ok(pages < 10, "paging does not terminate");
        const page = await index.select({}, { limit: 3, ...(after !== undefined ? { after } : {}) });
        if (page.length === 0) break;
        assert.ok(page.length <= 3);
        if (after !== undefined) assert.ok(page.every((r) => r.id > after!));
        seen.push(...page.map((r) => r.uuid));
        after = page.at(-1)!.id;
      }
      assert.deepEqual(seen, expect(() => true));

      await assert.rejects(index.select({ topicRegex: "(" }, { limit: 1 }), hasCode("INDEX_QUERY_INVALID"));
      await assert.rejects(index.select({}, { limit: 0 }), hasCode("INDEX_QUERY_INVALID"));
    },
  },
  {
    name: "a random sample of a large index reads random blocks; a filter leaving too few rows scans",
    async run(sql) {
      const index = createIndex(sql);
      await index.migrate();
      const rows = SAMPLE_BLOCKS_FROM_ROWS + 10_000;
      await sql`insert into messages (topic, timestamp, uuid, size, key, bucket, crc32, is_client_uuid, message_crc32)
        select case when i < 10 then 'rare' else 'busy' end, i, gen_random_uuid(), 1, 'k' || i, 'b', 0, true, 0
        from generate_series(0, ${rows - 1}) i`;
      await sql`analyze messages`;
      const plan = (await sql.unsafe(
        `explain select id from messages tablesample system (1) order by random() limit 1`,
      )).map((r) => Object.values(r)[0]).join("\n");
      assert.match(plan, /Sample Scan/);
      const sample = await index.select({}, { limit: 500, random: true });
      assert.equal(sample.length, 500);
      assert.equal(new Set(sample.map((r) => r.uuid)).size, 500, "no row twice");
      const ids = sample.map((r) => Number(r.id)).sort((a, b) => a - b);
      assert.ok(ids.at(-1)! - ids[0]! > rows / 2, `spread over the table (${ids[0]}..${ids.at(-1)})`);
      // Drawn from ~5 000 rows of whole blocks, not from all of them: neighbours are ~20x likelier than in a
      // uniform draw of 500 out of 110 000 (about 2 neighbouring pairs).
      const neighbours = ids.filter((id, i) => i > 0 && id === ids[i - 1]! + 1).length;
      assert.ok(neighbours > 15, `read from sampled blocks (${neighbours} neighbouring ids)`);
      const rare = await index.select({ topics: ["rare"] }, { limit: 500, random: true });
      assert.equal(rare.length, 10, "every row of a small selection, found by the full scan");
    },
  },
  {
    name:
      "the daily summary behind topicStats stays equal to a count over messages through inserts, updates and deletes",
    async run(sql) {
      const index = createIndex(sql);
      await index.migrate();
      const day = 86_400_000n;
      const counted = async () =>
        await sql<
          { topic: string; day: bigint; messages: bigint; bytes: bigint; earliest: bigint; latest: bigint }[]
        >`
          select topic, floor(timestamp / 86400000.0)::int8 as day, count(*)::int8 as messages,
            coalesce(sum(size), 0)::int8 as bytes, min(timestamp) as earliest, max(timestamp) as latest
          from messages group by 1, 2 order by 1, 2`;
      const summary = async () =>
        await sql<
          { topic: string; day: bigint; messages: bigint; bytes: bigint; earliest: bigint; latest: bigint }[]
        >`
          select topic, day, messages, bytes, earliest, latest from topic_days order by 1, 2`;
      // Two days of one topic, one of another; a row at time 0 and one before 1970.
      await index.claim([
        row(1),
        row(2),
        row(3, { timestamp: 1_674_000_000_000n + day }),
        row(4, { topic: "b" }),
      ]);
      await index.claim([row(5, { timestamp: 0n }), row(6, { timestamp: -5n }), row(1)]);
      assert.equal((await summary()).length, 5);
      assert.deepEqual(await summary(), await counted());
      await sql`delete from messages where uuid = ${uuidFor(2)}::uuid`;
      assert.deepEqual(await summary(), await counted(), "a delete recounts its day (the latest moved)");
      await sql`update messages set timestamp = timestamp + ${day}, topic = 'b' where uuid = ${
        uuidFor(1)
      }::uuid`;
      assert.deepEqual(await summary(), await counted(), "an update recounts the days it left and entered");
      await sql`delete from messages where topic = 'b'`;
      assert.deepEqual(await summary(), await counted());
      const all = await index.topicStats();
      assert.deepEqual(all.map((s) => [s.topic, s.messages]), [["gcn.circular", 3n]]);
    },
  },
  {
    name: "topicStats counts messages, bytes, time range and duplicates per topic",
    async run(sql) {
      const index = createIndex(sql);
      await index.migrate();
      await index.claim([row(1), row(2), row(3), row(4, { topic: "lvk.alert" })]);
      await index.recordReceipts([
        {
          uuid: uuidFor(1),
          topic: "gcn.circular",
          partition: 0,
          offset: 100n,
          timestamp: 1_674_000_000_001n,
        },
        { uuid: uuidFor(4), topic: "lvk.alert", partition: 0, offset: 100n, timestamp: 1_674_000_000_004n },
        { uuid: uuidFor(4), topic: "only.receipts", partition: 0, offset: 1n, timestamp: 1_674_000_000_009n },
      ]);
      assert.deepEqual(await index.topicStats(), [
        {
          topic: "gcn.circular",
          messages: 3n,
          bytes: 401n + 402n + 403n,
          earliest: 1_674_000_000_001n,
          latest: 1_674_000_000_003n,
          lastArchivedAt: 1_700_000_000_126n,
          duplicates: 1n,
        },
        {
          topic: "lvk.alert",
          messages: 1n,
          bytes: 404n,
          earliest: 1_674_000_000_004n,
          latest: 1_674_000_000_004n,
          lastArchivedAt: 1_700_000_000_127n,
          duplicates: 1n,
        },
        {
          topic: "only.receipts",
          messages: 0n,
          bytes: 0n,
          earliest: null,
          latest: null,
          lastArchivedAt: null,
          duplicates: 1n,
        },
      ]);
      const recent = await index.topicStats(1_674_000_000_003n);
      assert.deepEqual(recent.map((s) => [s.topic, s.messages, s.duplicates]), [
        ["gcn.circular", 1n, 0n],
        ["lvk.alert", 1n, 1n],
        ["only.receipts", 0n, 1n],
      ]);
    },
  },
  {
    name: "claim writes a row's message_ts text in the same statement, once, only for rows it inserts",
    async run(sql) {
      const index = createIndex(sql);
      await index.migrate();
      const text = (t: string, fullyIndexed = true) => ({ text: t, fullyIndexed });
      // Row 3 is given twice with different texts in one claim (a record delivered twice): the first text counts.
      const won = await index.claim([
        row(1, { text: text("GRB 221009A afterglow") }),
        row(2),
        row(3, { text: text("first text") }),
        row(3, { text: text("second text") }),
        row(4, { text: text("", false) }),
      ]);
      assert.deepEqual(won, [true, true, true, false, true]);
      const stored = async () =>
        (await sql<{ uuid: string; text_data: string; text_fully_indexed: boolean }[]>`
          select uuid::text as uuid, text_data::text as text_data, text_fully_indexed from message_ts
          order by uuid`).map((r) => ({ ...r }));
      const expected = [
        { uuid: uuidFor(1), text_data: "'221009a':2 'afterglow':3 'grb':1", text_fully_indexed: true },
        { uuid: uuidFor(3), text_data: "'first':1 'text':2", text_fully_indexed: true },
        // archive-core stores an empty text too: the message was considered, it has no words.
        { uuid: uuidFor(4), text_data: "", text_fully_indexed: false },
      ];
      assert.deepEqual(await stored(), expected);
      // Claimed again (a replay): nothing inserted, no second text.
      assert.deepEqual(
        await index.claim([row(1, { text: text("other words") }), row(2, { text: text("x") })]),
        [
          false,
          false,
        ],
      );
      assert.deepEqual(await stored(), expected);
      // Text that PostgreSQL cannot hold as it is (a lone surrogate from JSON) still goes in, and with it the row.
      assert.deepEqual(await index.claim([row(5, { text: text("lone \ud800 surrogate") })]), [true]);
      assert.equal((await stored()).length, 4);
    },
  },
  {
    name: "search: websearch_to_tsquery over message_ts, ranked, filtered, counted",
    async run(sql) {
      const index = createIndex(sql);
      await index.migrate();
      const text = (t: string) => ({ text: t, fullyIndexed: true });
      await index.claim([
        row(1, { text: text("GRB 221009A: the brightest gamma-ray burst, GRB GRB") }),
        row(2, { text: text("GRB 230410A afterglows observed by Swift") }),
        row(3, { topic: "icecube", text: text("IceCube neutrino track near GRB 221009A") }),
        row(4, { text: null }),
        row(5, { text: text("a circular with no burst in it") }),
      ]);
      const uuids = (hits: { uuid: string }[]) => hits.map((h) => h.uuid);
      // Most mentions of GRB first (ts_rank), ties newest first.
      assert.deepEqual(uuids(await index.search("GRB", {}, 10)), [uuidFor(1), uuidFor(3), uuidFor(2)]);
      assert.deepEqual(uuids(await index.search('"GRB 221009A"', {}, 10)).sort(), [uuidFor(1), uuidFor(3)]);
      assert.deepEqual(uuids(await index.search("GRB -221009A", {}, 10)), [uuidFor(2)]);
      assert.deepEqual(
        uuids(await index.search("afterglow", {}, 10)),
        [uuidFor(2)],
        "stemmed as archive-core",
      );
      assert.deepEqual(uuids(await index.search("neutrino or afterglow", {}, 10)).sort(), [
        uuidFor(2),
        uuidFor(3),
      ]);
      assert.deepEqual(uuids(await index.search("GRB", { topics: ["icecube"] }, 10)), [uuidFor(3)]);
      assert.deepEqual(
        uuids(await index.search("GRB", { since: 1_674_000_000_002n, until: 1_674_000_000_003n }, 10)),
        [uuidFor(2)],
      );
      assert.deepEqual(uuids(await index.search("GRB", {}, 1)), [uuidFor(1)]);
      assert.equal(await index.countSearch("GRB", {}), 3n);
      assert.equal(await index.countSearch("GRB", { topics: ["gcn.circular"] }), 2n);
      assert.equal(await index.countSearch("GRB", {}, 1), 2n, "counting stops after atMost + 1");
      // Nothing to find: stop words only, punctuation only, empty.
      assert.deepEqual(await index.search("the", {}, 10), []);
      assert.deepEqual(await index.search("", {}, 10), []);
      assert.deepEqual(await index.search("\"'():&|!", {}, 10), []);
      const [hit] = await index.search("Swift", {}, 10);
      assert.equal(hit?.topic, "gcn.circular");
      assert.ok(hit !== undefined && hit.rank > 0);
      // archive-core's search_message_text (its SQLAlchemy statement, public messages of any topic) finds ours.
      await sql`update messages set public = true where uuid = ${uuidFor(2)}::uuid`;
      const theirs = await sql<{ uuid: string }[]>`
        select messages.uuid::text as uuid from messages join message_ts on messages.uuid = message_ts.uuid
        where message_ts.text_data @@ websearch_to_tsquery(${"afterglows"}) and messages.public = true
        order by messages.timestamp, messages.id`;
      assert.deepEqual(theirs.map((r) => r.uuid), [uuidFor(2)]);
      await assert.rejects(index.search("GRB", {}, 0), hasCode("INDEX_QUERY_INVALID"));
    },
  },
];

function runIndexSuite(backend: Backend, t: Deno.TestContext): Promise<void> {
  return CASES.reduce(
    (done, c) =>
      done.then(async () => {
        await t.step(c.name, async () => {
          const schema = uniqueName("t").replaceAll("-", "_");
          const sql = await backend.connect(schema);
          try {
            await c.run(sql, backend, schema);
          } finally {
            await sql`drop schema if exists ${sql(schema)} cascade`;
            await sql.end();
          }
        });
      }),
    Promise.resolve(),
  );
}

Deno.test("index on PostgreSQL", async (t) => {
  const url = serviceEnv("DATABASE_URL");
  await runIndexSuite({
    name: "postgres",
    multiConnection: true,
    connect: (schema) => connectIndex(url, { searchPath: schema, max: 4 }),
  }, t);
});

Deno.test("index on embedded PGlite", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "hk-pglite-" });
  const embedded = await startEmbeddedIndex(dir);
  try {
    await runIndexSuite({
      name: "embedded",
      multiConnection: false,
      connect: (schema) => connectIndex(embedded.url, { searchPath: schema, max: embedded.max }),
    }, t);
  } finally {
    await embedded.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("embedded index persists across restarts and refuses a second opener", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hk-pglite-" });
  try {
    const first = await startEmbeddedIndex(dir);
    try {
      await assert.rejects(startEmbeddedIndex(dir), hasCode("INDEX_EMBEDDED_BUSY"));
      const sql = await connectIndex(first.url, { max: first.max });
      try {
        const index = createIndex(sql);
        await index.migrate();
        await index.claim([row(1)]);
      } finally {
        await sql.end();
      }
    } finally {
      await first.close();
    }
    const second = await startEmbeddedIndex(dir);
    try {
      const sql = await connectIndex(second.url, { max: second.max });
      try {
        const index = createIndex(sql);
        assert.deepEqual(await index.migrate(), { from: LATEST, to: LATEST });
        assert.deepStrictEqual(await index.byUuid(uuidFor(1)), row(1));
      } finally {
        await sql.end();
      }
    } finally {
      await second.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ------------------------------------------------------------------------------------------------ connection errors
function withPassword(url: string, password: string): string {
  const u = new URL(url);
  u.password = password;
  return u.href;
}

Deno.test("connectIndex: coded errors for a server that is down, a wrong password, a missing database", async () => {
  const url = serviceEnv("DATABASE_URL");
  const down = new URL(url);
  down.port = "1";
  await assert.rejects(connectIndex(down.href, { connectTimeoutSeconds: 5 }), (e: unknown) => {
    hasCode("INDEX_UNREACHABLE", true)(e);
    assert.match((e as Error).message, /DATABASE_URL/);
    assert.ok(!(e as Error).message.includes(new URL(url).password));
    return true;
  });
  const secret = "wrong-secret-4242";
  await assert.rejects(connectIndex(withPassword(url, secret)), (e: unknown) => {
    hasCode("INDEX_AUTH_FAILED", false)(e);
    assert.ok(!(e as Error).message.includes(secret));
    return true;
  });
  const nodb = new URL(url);
  nodb.pathname = "/no_such_database_hk";
  await assert.rejects(connectIndex(nodb.href), hasCode("INDEX_NO_DATABASE", false));
  await assert.rejects(connectIndex(`postgres://u:${secret}@[bad`), (e: unknown) => {
    hasCode("INDEX_CONFIG_INVALID")(e);
    assert.ok(!(e as Error).message.includes(secret));
    return true;
  });
});

Deno.test("connectIndex: a server gone silent fails its statements with INDEX_UNREACHABLE; the pool recovers", async () => {
  const url = new URL(serviceEnv("DATABASE_URL"));
  const proxy = startSilentProxy({ hostname: url.hostname, port: Number(url.port || 5432) });
  const through = new URL(url.href);
  through.host = proxy.address;
  const sql = await connectIndex(through.href, { max: 2, silenceTimeoutSeconds: 1 });
  try {
    const probe = () =>
      sql`select 1 as one`.then(([r]) => r?.one, (e) => Promise.reject(indexError(e, "probing")));
    assert.equal(await probe(), 1);
    proxy.freeze();
    // More statements than the pool has connections: each silent connection must be closed for the next.
    const failures = await Promise.allSettled(
      Array.from({ length: 4 }, probe),
    );
    for (const f of failures) {
      assert.equal(f.status, "rejected");
      hasCode("INDEX_UNREACHABLE", true)((f as PromiseRejectedResult).reason);
    }
    proxy.thaw();
    assert.equal(await probe(), 1);
  } finally {
    await sql.end({ timeout: 1 });
    await proxy.close();
  }
});

Deno.test("connectIndex: connections refused while PostgreSQL is down do not use up the pool", async () => {
  const url = new URL(serviceEnv("DATABASE_URL"));
  const target = { hostname: url.hostname, port: Number(url.port || 5432) };
  // A relay that can be taken down (its port refuses, its connections are cut) and brought up on the same port.
  let port = 0;
  let listener: Deno.Listener | undefined;
  const conns = new Set<Deno.Conn>();
  const up = () => {
    listener = Deno.listen({ hostname: "127.0.0.1", port });
    port = (listener.addr as Deno.NetAddr).port;
    (async () => {
      for await (const client of listener!) {
        const server = await Deno.connect(target);
        conns.add(client).add(server);
        client.readable.pipeTo(server.writable).catch(() => {});
        server.readable.pipeTo(client.writable).catch(() => {});
      }
    })().catch(() => {});
  };
  const down = () => {
    listener?.close();
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    conns.clear();
  };
  up();
  const through = new URL(url.href);
  through.host = `127.0.0.1:${port}`;
  const sql = await connectIndex(through.href, {
    max: 1,
    silenceTimeoutSeconds: 5,
    connectTimeoutSeconds: 5,
  });
  try {
    const probe = () =>
      sql`select 1 as one`.then(([r]) => r?.one, (e) => Promise.reject(indexError(e, "probing")));
    assert.equal(await probe(), 1);
    down();
    // More refused connects than the pool has slots: each must give its slot back.
    for (let i = 0; i < 3; i++) await assert.rejects(probe());
    up();
    // Before the fix the pool's one slot was lost for good and this waited forever; the bound only ends a hang.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hang = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error("the pool never connected again: a refused connect leaked its slot")),
        60_000,
      );
    });
    try {
      assert.equal(await Promise.race([probe(), hang]), 1);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await sql.end({ timeout: 1 });
    down();
  }
});

Deno.test("connectIndex: without a URL it reads DATABASE_URL, else the PG* variables", async () => {
  const url = new URL(serviceEnv("DATABASE_URL"));
  const names = ["DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"];
  const saved = new Map(names.map((n) => [n, Deno.env.get(n)]));
  const restore = () => {
    for (const [n, v] of saved) v === undefined ? Deno.env.delete(n) : Deno.env.set(n, v);
  };
  try {
    const viaUrl = await connectIndex();
    await viaUrl.end();
    Deno.env.delete("DATABASE_URL");
    Deno.env.set("PGHOST", url.hostname);
    Deno.env.set("PGPORT", url.port);
    Deno.env.set("PGUSER", decodeURIComponent(url.username));
    Deno.env.set("PGPASSWORD", decodeURIComponent(url.password));
    Deno.env.set("PGDATABASE", url.pathname.slice(1));
    const viaEnv = await connectIndex();
    try {
      const [who] = await viaEnv<{ db: string }[]>`select current_database() as db`;
      assert.equal(who?.db, url.pathname.slice(1));
    } finally {
      await viaEnv.end();
    }
  } finally {
    restore();
  }
});
