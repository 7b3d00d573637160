// Text search in page order (migration 9, lib/index/text_order.ts): message_ts's copies of their row stay right
// whoever writes them, and pages and counts of archive-api's search_query are the same through the copies as
// through the join on messages that they replace: every window size, both orders, bookmarks, topics, public,
// retracted, time windows.
import assert from "node:assert/strict";
import { NO_CATALOG } from "../../lib/index/catalog.ts";
import { connectIndex, type IndexSql } from "../../lib/index/database.ts";
import { type Bookmark, createListing, type ListingFilter } from "../../lib/index/listing.ts";
import { MIGRATIONS, TEXT_ORDER_INLINE } from "../../lib/index/migrations.ts";
import { createIndex } from "../../lib/index/postgres.ts";
import { matching, orderedMatches } from "../../lib/index/text_order.ts";
import type { IndexRow } from "../../lib/index/types.ts";
import { serviceEnv, uniqueName } from "../support/helpers.ts";

const T0 = 1_674_000_000_000n;
const WORDS = ["grb", "afterglow", "neutrino", "swift", "optical", "redshift"];

const uuidFor = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;

// Row n: one of three topics, public for two of them, timestamps with ties (n / 3), a text of a few words for most.
function row(n: number): IndexRow {
  const words = WORDS.filter((_, i) => (n + i) % (i + 2) === 0);
  return {
    uuid: uuidFor(n),
    topic: `t${n % 3}`,
    timestamp: T0 + BigInt(Math.floor(n / 3)),
    partition: 0,
    offset: BigInt(n),
    size: 100,
    key: `t${n % 3}/${uuidFor(n)}.bson`,
    bucket: "hk-test",
    crc32: 1,
    isClientUuid: false,
    messageCrc32: 2,
    archivedAt: T0,
    archiverVersion: "0.0.0-test",
    contentSha256: "ab".repeat(32),
    valueSize: 100,
    sender: null,
    format: "json",
    isTest: false,
    clashOf: null,
    catalog: { ...NO_CATALOG, public: n % 3 !== 2 },
    ...(n % 7 === 0
      ? {}
      : { text: { text: `GRB ${230000 + (n % 40)}A ${words.join(" ")}`, fullyIndexed: true } }),
  };
}

async function withSchema(fn: (sql: IndexSql) => Promise<void>): Promise<void> {
  const schema = uniqueName("order").replaceAll("-", "_");
  const sql = await connectIndex(serviceEnv("DATABASE_URL"), { searchPath: schema, max: 2 });
  try {
    await fn(sql);
  } finally {
    await sql`drop schema if exists ${sql(schema)} cascade`;
    await sql.end();
  }
}

/** Rows whose copies differ from their message's row (or are missing). */
async function wrongCopies(sql: IndexSql): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from message_ts t left join messages m on m.uuid = t.uuid
    where t.m_id is distinct from m.id or t.m_timestamp is distinct from m.timestamp
      or t.m_topic is distinct from m.topic or t.m_public is distinct from m.public`;
  return row!.n;
}

const FILTERS: ListingFilter[] = [
  { topicsPublic: null, topicsFull: null, includeRetracted: true },
  { topicsPublic: null, topicsFull: null, includeRetracted: false },
  { topicsPublic: ["t0", "t2"], topicsFull: ["t1"], includeRetracted: true },
  { topicsPublic: null, topicsFull: ["t2"], includeRetracted: false, since: T0 + 10n, until: T0 + 40n },
  { topicsPublic: ["t1"], topicsFull: null, includeRetracted: true, until: T0 + 30n },
];
const QUERIES = [
  "grb",
  "afterglow neutrino",
  '"GRB 230003A"',
  "swift or redshift",
  "grb -optical",
  "nothing",
];

/** Every page of every filter and query, both orders, followed by its bookmarks; and the counts. */
async function everything(sql: IndexSql): Promise<string[]> {
  const listing = createListing(sql);
  const out: string[] = [];
  for (const filter of FILTERS) {
    for (const search of QUERIES) {
      const f = { ...filter, search };
      out.push(`${search} count ${await listing.count(f)}`);
      for (const ascending of [true, false]) {
        let bookmark: Bookmark | undefined;
        const ids: bigint[] = [];
        for (let pages = 0; pages < 50; pages++) {
          const page = await listing.page(f, { ascending, limit: 7, ...(bookmark ? { bookmark } : {}) });
          ids.push(...page.rows.map((r) => r.id));
          if (page.next === null) break;
          bookmark = page.next;
        }
        // And one page back from the last bookmark.
        const back = bookmark === undefined
          ? []
          : (await listing.page(f, { ascending, limit: 7, bookmark: { ...bookmark, backwards: true } })).rows;
        out.push(`${search} ${ascending} ${ids.join(",")} back ${back.map((r) => r.id).join(",")}`);
      }
    }
  }
  return out;
}

Deno.test("text order: the copies follow the row, written by claim, addText, archive-core and updates", async () => {
  await withSchema(async (sql) => {
    const index = createIndex(sql);
    await index.migrate();
    await index.claim(Array.from({ length: 30 }, (_, n) => row(n + 1)));
    // Rows without text, then given it by `db index-text`'s addText and by archive-core's own insert.
    const added = await index.addText([{
      uuid: uuidFor(7),
      text: { text: "GRB by index-text", fullyIndexed: true },
    }]);
    assert.equal(added, 1);
    await sql`insert into message_ts (uuid, text_data, text_fully_indexed)
      values (${uuidFor(14)}::uuid, to_tsvector('GRB by archive-core'), true)`;
    assert.equal(await wrongCopies(sql), 0);
    const [copied] = await sql<{ m_topic: string; m_public: boolean }[]>`
      select m_topic, m_public from message_ts where uuid = ${uuidFor(14)}::uuid`;
    assert.deepEqual(copied, { m_topic: "t2", m_public: false });
    // Whatever updates a message's time, topic or public flag updates its copies.
    await sql`update messages set public = not public, timestamp = timestamp + 1000 where id % 4 = 0`;
    await sql`update messages set topic = 'moved' where id = 5`;
    assert.equal(await wrongCopies(sql), 0);
    assert.equal(await index.countUnordered(), 0n);
  });
});

Deno.test("text order: pages and counts through the copies equal the join's; backfill resumes", async () => {
  await withSchema(async (sql) => {
    const index = createIndex(sql);
    await index.migrate();
    await index.claim(Array.from({ length: 120 }, (_, n) => row(n + 1)));
    await sql`update messages set retracted = true where id % 11 = 0`;
    // Statistics in which 'grb' is common and '230003a' rare: the event's phrase is found by its rare lexeme.
    await sql`analyze message_ts`;
    const ordered = await everything(sql);
    assert.ok(ordered.some((l) => /count [1-9]/.test(l)), "the queries find something");
    // As after migration 9 on a large archive: no copies yet; search answers by the join meanwhile.
    await sql`update message_ts set m_id = null, m_timestamp = null, m_topic = null, m_public = null`;
    assert.equal(await index.countUnordered(), 120n - 17n);
    assert.deepEqual(await everything(sql), ordered);
    // `db index-text`'s backfill, a batch at a time, stopped half way and resumed.
    let after: string | undefined;
    for (let i = 0; i < 10; i++) {
      const { filled, last } = await index.orderText(5, after);
      assert.equal(filled, 5);
      after = last;
    }
    assert.equal(await index.countUnordered(), 120n - 17n - 50n);
    assert.deepEqual(await everything(sql), ordered, "the join's answers while some rows lack copies");
    // A new run starts from the first text still without copies; rows filled meanwhile are skipped.
    await sql`update message_ts set m_id = null, m_timestamp = null, m_topic = null, m_public = null
      where uuid = (select uuid from message_ts order by uuid limit 1)`;
    after = undefined;
    let filled = 0;
    for (;;) {
      const batch = await index.orderText(7, after);
      filled += batch.filled;
      if (batch.last === undefined) break;
      after = batch.last;
    }
    assert.equal(filled, 120 - 17 - 50 + 1);
    assert.equal(await wrongCopies(sql), 0);
    assert.deepEqual(await everything(sql), ordered);
  });
});

Deno.test("text order: a word in few or no texts is sorted in one query, never walked to in windows", async () => {
  await withSchema(async (sql) => {
    const index = createIndex(sql);
    await index.migrate();
    await index.claim(Array.from({ length: 120 }, (_, n) => row(n + 1)));
    await sql`analyze message_ts`;
    // A word in no text reached the last window, which PostgreSQL may answer by walking every text in time order:
    // 8.5 s for a sender's name over 800 000 texts. The index's capped count sends it (and any rare word) to the
    // one-query path; a common word keeps the windows, which end early for it.
    for (const query of ["nothing", "sender3", '"GRB 230003A"']) {
      assert.equal((await matching(sql, query)).few, true, query);
    }
    assert.equal((await matching(sql, "grb")).few, undefined);
  });
});

Deno.test("text order: windows of any size give the matches in (timestamp, id) order", async () => {
  await withSchema(async (sql) => {
    const index = createIndex(sql);
    await index.migrate();
    await index.claim(Array.from({ length: 90 }, (_, n) => row(n + 1)));
    for (const query of QUERIES) {
      for (const ascending of [true, false]) {
        const expected = await sql<{ id: bigint; timestamp: bigint }[]>`
          select m.id, m.timestamp from messages m join message_ts t on t.uuid = m.uuid
          where t.text_data @@ websearch_to_tsquery(${query}) and m.public and m.timestamp >= ${T0 + 3n}
          order by ${ascending ? sql`m.timestamp, m.id` : sql`m.timestamp desc, m.id desc`}`;
        for (const windows of [[1], [1, 2, 3], [4, 40], [1000]]) {
          for (const limit of [1, 5, 100]) {
            const found = await orderedMatches(sql, {
              query,
              where: sql`t.m_public`,
              ascending,
              since: T0 + 3n,
              limit,
              windows,
            });
            assert.deepEqual(found, expected.slice(0, limit), `${query} ${ascending} ${windows} ${limit}`);
          }
        }
      }
    }
  });
});

Deno.test("migration 9 gives the texts already there their copies", async () => {
  await withSchema(async (sql) => {
    // An index at version 8 with texts, as archive-core or an older housekeeping left it.
    await sql`create table schema_migrations (version integer primary key, name text not null,
      applied_at timestamptz not null default now(), archiver_version text)`;
    for (const m of MIGRATIONS.filter((m) => m.version <= 8)) {
      await sql.begin(async (tx) => {
        await m.up(tx);
        await tx`insert into schema_migrations (version, name) values (${m.version}, ${m.name})`;
      });
    }
    await sql`insert into messages (topic, timestamp, uuid, public)
      select 't' || (g % 2), g, ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, g % 2 = 0
      from generate_series(1, 50) g`;
    await sql`insert into message_ts (uuid, text_data, text_fully_indexed)
      select uuid, to_tsvector('GRB ' || timestamp), true from messages`;
    const index = createIndex(sql);
    assert.deepEqual(await index.migrate(), { from: 8, to: MIGRATIONS.at(-1)!.version });
    assert.equal(await wrongCopies(sql), 0);
    assert.ok(TEXT_ORDER_INLINE >= 50);
    const page = await createListing(sql).page(
      { topicsPublic: null, topicsFull: null, includeRetracted: true, search: "grb" },
      { ascending: false, limit: 3 },
    );
    assert.deepEqual(page.rows.map((r) => r.timestamp), [50n, 48n, 46n]);
  });
});
