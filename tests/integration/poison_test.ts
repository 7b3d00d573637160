// Poison records (issue 21): nothing a producer writes may stop `archive`. Header values the index derives text
// columns from (NUL, invalid UTF-8, control bytes, megabytes) through the real archive path on PostgreSQL and on
// the embedded PGlite, and through the upload path; what PostgreSQL still refuses goes to the quarantine.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import { Binary, serialize } from "bson";
import { createIngest } from "../../lib/archive/ingest.ts";
import { MAX_HEADER_TEXT_BYTES } from "../../lib/index/catalog.ts";
import { connectIndex } from "../../lib/index/database.ts";
import { startEmbeddedIndex } from "../../lib/index/embedded.ts";
import { createIndex } from "../../lib/index/postgres.ts";
import { createLogger, silentLogger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import { decodeArchiveObject, type KafkaRecord } from "../../lib/format/record.ts";
import type { Progress } from "../../lib/cli/progress.ts";
import { type Problem, verifyArchive } from "../../lib/verify/check.ts";
import { parseUpload, storeUpload } from "../../lib/serve/offload.ts";
import { createFsStore } from "../../lib/store/fs.ts";
import { createS3Store } from "../../lib/store/s3.ts";
import type { BlobStore } from "../../lib/store/types.ts";
import {
  createBucket,
  dropBucket,
  peerProduce,
  type PeerRecord,
  runMain,
  schemaSql,
  spawnMain,
  waitFor,
  withArchiveScenario,
} from "../support/archive_helpers.ts";
import { serviceEnv, uniqueName } from "../support/helpers.ts";

const enc = new TextEncoder();
const bytes = (s: string) => enc.encode(s);

/** `n` bytes of text no compressor shrinks: a btree entry of it cannot fit, compressed or not. */
function incompressibleText(n: number): Uint8Array {
  const alphabet = bytes("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
  return new Uint8Array(randomBytes(n)).map((b) => alphabet[b & 63]!);
}

const MIB = 2 ** 20;

/** What the issue found and what can come next, in every column the index derives from a header. */
function poisonCorpus(): PeerRecord[] {
  return [
    {
      value: bytes("nul in format and title"),
      headers: [["_format", bytes("json\0")], ["title", bytes("GRB\0A")]],
    },
    {
      value: bytes("controls"),
      headers: [["_sender", bytes("alice\x1b[2J\x07\r\n")], ["originator", bytes("\u202egnp.exe")], [
        "file_name",
        bytes("../../etc/passwd\0.fits"),
      ]],
    },
    {
      value: bytes("invalid utf-8 first, then text"),
      headers: [["_sender", Uint8Array.of(0xc3, 0x28)], ["_sender", bytes("bob")], [
        "title",
        Uint8Array.of(0xed, 0xa0, 0x80), // an encoded lone surrogate: not UTF-8
      ]],
    },
    { value: bytes("megabyte sender"), headers: [["_sender", incompressibleText(MIB - 4096)]] },
    { value: bytes("megabyte format"), headers: [["_format", incompressibleText(MIB - 4096)]] },
    { value: bytes("megabyte title"), headers: [["title", incompressibleText(MIB - 4096)]] },
    { value: bytes("after the poison"), headers: [["_format", bytes("json")], ["_sender", bytes("carol")]] },
  ];
}

interface Columns {
  offset: bigint;
  key: string;
  sender: string;
  format: string | null;
  title: string;
  file_name: string;
  originator: string;
}

// What the columns must be for poisonCorpus, record by record (null: only the bounds are checked).
const EXPECTED: (Partial<Columns> | null)[] = [
  { format: "json ", title: "GRB A", sender: "" },
  { sender: "alice [2J   ", originator: "\u202egnp.exe", file_name: "../../etc/passwd .fits" },
  { sender: "bob", title: "" },
  null,
  null,
  null,
  { format: "json", sender: "carol" },
];

function checkColumns(rows: Columns[], sent: PeerRecord[]) {
  assert.equal(rows.length, sent.length, "one row per record: none stopped the archive");
  rows.forEach((row, i) => {
    for (const column of ["sender", "format", "title", "file_name", "originator"] as const) {
      const text = row[column] ?? "";
      assert.ok(enc.encode(text).length <= MAX_HEADER_TEXT_BYTES, `${column} of record ${i} is bounded`);
      // deno-lint-ignore no-control-regex
      assert.doesNotMatch(text, /[\u0000-\u001f\u007f]/, `${column} of record ${i} has no control bytes`);
    }
    const expected = EXPECTED[i];
    if (expected) {
      for (const [k, v] of Object.entries(expected)) {
        assert.equal(row[k as keyof Columns], v, `${k} of ${i}`);
      }
    }
  });
  assert.equal(
    enc.encode(rows[3]!.sender).length,
    MAX_HEADER_TEXT_BYTES,
    "a megabyte sender is cut, not dropped",
  );
}

async function checkObjects(store: BlobStore, rows: Columns[], sent: PeerRecord[]) {
  for (const [i, row] of rows.entries()) {
    const d = decodeArchiveObject((await store.get(row.key))!);
    assert.deepEqual(
      d.headers.map((h) => [h.key, h.value === null ? null : Buffer.from(h.value).toString("hex")]),
      (sent[i]!.headers ?? []).map(([k, v]) => [k, v === null ? null : Buffer.from(v).toString("hex")]),
      `the object of record ${i} keeps every header byte`,
    );
  }
}

Deno.test("archive: NUL, invalid UTF-8, controls and megabytes in derived headers on PostgreSQL + MinIO", async () => {
  await withArchiveScenario("poison-pg", { topics: ["t"], backend: "s3" }, async (s) => {
    const [topic] = s.topics as [string];
    const sent = poisonCorpus();
    await peerProduce(topic, sent);
    const run = await runMain(["archive", "--until-end", ...s.flags], s.env);
    assert.equal(run.code, 0, run.stderr);
    const sql = schemaSql(s.schema);
    try {
      const rows = await sql<Columns[]>`
        select "offset", key, sender, format, title, file_name, originator from messages order by "offset"`;
      checkColumns(rows, sent);
      const store = await createS3Store({ bucket: s.bucket, endpoint: serviceEnv("S3_ENDPOINT") });
      try {
        await checkObjects(store, rows, sent);
      } finally {
        store.close();
      }
    } finally {
      await sql.end();
    }
  });
});

Deno.test("archive: the same poison on the embedded PGlite and a directory store", async () => {
  await withArchiveScenario("poison-lite", { topics: ["t"] }, async (s) => {
    const [topic] = s.topics as [string];
    const sent = poisonCorpus();
    await peerProduce(topic, sent);
    const env: Record<string, string> = { ...s.env, HOUSEKEEPING_DATA_DIR: s.dir };
    for (const k of ["DATABASE_URL", "S3_BUCKET", "S3_ENDPOINT", "PGHOST"]) delete env[k];
    const run = await runMain(["archive", "--until-end", "--group", s.group], env);
    assert.equal(run.code, 0, run.stderr);
    const embedded = await startEmbeddedIndex(`${s.dir}/index`);
    const sql = await connectIndex(embedded.url, { max: embedded.max });
    const store = await createFsStore(s.storeDir);
    try {
      const rows = await sql<Columns[]>`
        select "offset", key, sender, format, title, file_name, originator from messages order by "offset"`;
      checkColumns(rows, sent);
      await checkObjects(store, rows, sent);
    } finally {
      store.close();
      await sql.end();
      await embedded.close();
    }
  });
});

Deno.test("upload: poison in derived headers is archived byte-exact, its columns cleaned", async () => {
  const schema = uniqueName("s_poison_up").replaceAll("-", "_");
  const bucket = uniqueName("poison-up").toLowerCase();
  await createBucket(bucket);
  const sql = await connectIndex(serviceEnv("DATABASE_URL"), { searchPath: schema });
  const store = await createS3Store({ bucket, endpoint: serviceEnv("S3_ENDPOINT") });
  try {
    const index = createIndex(sql);
    await index.migrate();
    const ingest = createIngest({
      store,
      index,
      keyLayout: "daily",
      archiverVersion: "test",
      log: silentLogger,
      metrics: createMetrics(),
      signal: new AbortController().signal,
      putConcurrency: 2,
      maxInflightBytes: 16 * MIB,
      directUpload: true,
    });
    const title = incompressibleText(MIB);
    title[7] = 0;
    const headers = [
      ["_id", new Binary(crypto.getRandomValues(new Uint8Array(16)))],
      ["_format", new Binary(bytes("blob\0"))],
      ["_sender", new Binary(incompressibleText(MIB))],
      ["title", new Binary(title)],
    ];
    const body = serialize({ message: new Binary(bytes("offloaded")), headers });
    const record = parseUpload("t+oversized", new Uint8Array(body), 1_700_000_000_000n);
    const stored = await storeUpload(ingest, index, record);
    const row = (await index.byUuid(stored.uuid))!;
    assert.equal(row.format, "blob ");
    assert.equal(enc.encode(row.sender!).length, MAX_HEADER_TEXT_BYTES);
    assert.equal(row.catalog?.title.length, MAX_HEADER_TEXT_BYTES);
    assert.equal(row.catalog?.title[7], " ");
    const d = decodeArchiveObject((await store.get(row.key))!);
    const hex = (v: Uint8Array | null) => v === null ? null : Buffer.from(v).toString("hex");
    assert.deepEqual(
      d.headers.map((h) => hex(h.value)),
      record.headers.map((h) => hex(h.value)),
      "object byte-exact",
    );
  } finally {
    store.close();
    await sql`drop schema if exists ${sql(schema)} cascade`;
    await sql.end();
    await dropBucket(bucket);
  }
});

// ---- quarantine ----

/**
 * A database in LATIN1, as some long-lived PostgreSQL clusters are: it refuses, for the record alone, any text with
 * no LATIN1 equivalent (SQLSTATE 22P05), whatever the cleaning. The genuine per-record refusal the quarantine is for.
 */
async function withLatin1Database(fn: (url: string) => Promise<void>): Promise<void> {
  const name = uniqueName("hk_latin1").replaceAll("-", "_");
  const admin = await connectIndex(serviceEnv("DATABASE_URL"), { max: 1 });
  await admin.unsafe(
    `create database ${name} encoding 'LATIN1' lc_collate 'C' lc_ctype 'C' template template0`,
  );
  try {
    const url = new URL(serviceEnv("DATABASE_URL"));
    url.pathname = `/${name}`;
    await fn(url.toString());
  } finally {
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

const ROCKET_TITLE = bytes("GRB 250101A \u{1f680}"); // 4-byte UTF-8: no LATIN1 equivalent

function quarantineCorpus(topic: string, offsets: bigint[]): KafkaRecord[] {
  return offsets.map((offset, i) => ({
    topic,
    partition: 0,
    offset,
    timestamp: 1_700_000_000_000n + offset,
    key: null,
    value: bytes(`record ${i}`),
    headers: [
      {
        key: "_id",
        value: Uint8Array.from({ length: 16 }, (_, j) => (j === 6 ? 0x40 : j === 8 ? 0x80 : i + 1)),
      },
      { key: "_sender", value: bytes("alice") },
      { key: "title", value: i === 2 ? ROCKET_TITLE : bytes(`caf\u00e9 ${i}`) },
    ],
  }));
}

Deno.test("quarantine: a record PostgreSQL refuses is archived byte-exact under a marked row; replays and copies stay exactly-once", async () => {
  await withLatin1Database(async (url) => {
    const bucket = uniqueName("poison-q").toLowerCase();
    await createBucket(bucket);
    const sql = await connectIndex(url);
    const store = await createS3Store({ bucket, endpoint: serviceEnv("S3_ENDPOINT") });
    try {
      const index = createIndex(sql);
      await index.migrate();
      const metrics = createMetrics();
      const lines: string[] = [];
      const archiver = (now: bigint) =>
        createIngest({
          store,
          index,
          keyLayout: "daily",
          archiverVersion: "test",
          log: createLogger({ sink: (l) => lines.push(l) }),
          metrics,
          signal: new AbortController().signal,
          putConcurrency: 2,
          maxInflightBytes: 16 * MIB,
          now: () => now,
        });
      const topic = "poison.q";
      const records = quarantineCorpus(topic, [0n, 1n, 2n, 3n, 4n]);
      // A crash after the claim: the rows are there, no object yet.
      const claimed = await archiver(1n).claim(records);
      assert.equal(claimed.toPut.length, 5);
      assert.deepEqual(claimed.toPut.map((p) => p.row.quarantine ?? null).map((q) => q !== null), [
        false,
        false,
        true,
        false,
        false,
      ]);
      // The restarted archiver replays them: each object written once, the quarantined one included.
      assert.deepEqual(await archiver(2n).ingest(records), {
        stored: 0,
        duplicates: 0,
        replayed: 5,
        clashes: 0,
      });
      // The same content again at later offsets: receipts, nothing stored twice.
      const copies = quarantineCorpus(topic, [5n, 6n, 7n, 8n, 9n]).map((r, i) => ({
        ...r,
        timestamp: records[i]!.timestamp,
      }));
      assert.deepEqual(await archiver(3n).ingest(copies), {
        stored: 0,
        duplicates: 5,
        replayed: 0,
        clashes: 0,
      });

      const rows = await index.select({ topics: [topic] }, { limit: 100 });
      assert.equal(rows.length, 5);
      const poisoned = rows.find((r) => r.offset === 2n)!;
      assert.match(poisoned.quarantine!, /^SQLSTATE 22P05: character with byte sequence 0xf0 0x9f 0x9a 0x80/);
      assert.equal(poisoned.sender, null);
      assert.equal(poisoned.catalog?.title, "");
      assert.equal(
        rows.find((r) => r.offset === 1n)!.catalog?.title,
        "caf\u00e9 1",
        "its neighbours keep theirs",
      );
      assert.ok(
        rows.filter((r) => r !== poisoned).every((r) => r.quarantine === undefined && r.sender === "alice"),
      );
      for (const row of rows) {
        const d = decodeArchiveObject((await store.get(row.key))!);
        const sent = records.find((r) => r.offset === row.offset)!;
        assert.deepEqual(d.value, sent.value);
        assert.deepEqual(
          d.headers.map((h) => [h.key, [...h.value!]]),
          sent.headers.map((h) => [h.key, [...h.value!]]),
        );
        assert.equal(d.archivedAt, 1n, "the replay rewrote the claimed object, byte for byte");
      }
      assert.equal(metrics.get("quarantined_total", { topic }), 1, "counted once, at its claim");
      const logged = lines.map((l) => JSON.parse(l)).filter((l) => l.code === "INGEST_RECORD_QUARANTINED");
      assert.equal(logged.length, 1);
      assert.equal(logged[0].uuid, poisoned.uuid);
      assert.deepEqual(await index.quarantineCounts(), [{ topic, records: 1n }]);

      const verify = async (repair: boolean) => {
        const reported: Problem[] = [];
        const summary = await verifyArchive(
          { store, index, log: silentLogger, signal: new AbortController().signal, now: () => 0n },
          { filter: {}, repair, orphans: true, quick: false, concurrency: 2, graceMs: 0n },
          (p) => reported.push(p),
          (): Progress => ({ tick() {}, done() {} }),
        );
        return { summary, reported };
      };
      const { summary, reported } = await verify(false);
      assert.deepEqual(summary.problems, {}, "a quarantined record is not corruption");
      assert.equal(summary.quarantined, 1);
      assert.deepEqual(reported.map((p) => [p.kind, p.uuid]), [["quarantined", poisoned.uuid]]);
      // --repair tries again; the database is still LATIN1, so the row stays as it is.
      const again = await verify(true);
      assert.equal(again.summary.quarantined, 1);
      assert.match(again.reported[0]!.detail, /still refuses the full row \(SQLSTATE 22P05/);
      assert.equal((await index.byUuid(poisoned.uuid))!.quarantine, poisoned.quarantine);
      // Its row lost: --repair indexes the orphan object as `archive` did, quarantined, instead of stopping.
      await sql`delete from messages where uuid = ${poisoned.uuid}::uuid`;
      const repaired = await verify(true);
      assert.deepEqual(repaired.summary.problems, { orphan: 1 });
      assert.equal(repaired.summary.repaired, 1);
      assert.equal(repaired.summary.quarantined, 1);
      assert.match(repaired.reported[0]!.detail, /indexed from the object, quarantined: .*22P05/);
      const back = (await index.byUuid(poisoned.uuid))!;
      assert.deepEqual([back.key, back.crc32, back.quarantine], [
        poisoned.key,
        poisoned.crc32,
        poisoned.quarantine,
      ]);
    } finally {
      store.close();
      await sql.end();
      await dropBucket(bucket);
    }
  });
});

Deno.test("quarantine: `archive` moves on past a refused record, re-reading changes nothing, `verify` and `status` list it", async () => {
  await withLatin1Database(async (url) => {
    await withArchiveScenario("poison-q-run", { topics: ["t"] }, async (s) => {
      const [topic] = s.topics as [string];
      const sent: PeerRecord[] = [
        ...poisonCorpus(),
        { value: bytes("refused title"), headers: [["title", ROCKET_TITLE], ["_sender", bytes("dave")]] },
        { value: bytes("last"), headers: [["title", bytes("caf\u00e9")]] },
      ];
      await peerProduce(topic, sent);
      const env = { ...s.env, DATABASE_URL: url, LOG_LEVEL: "info" };
      const first = await runMain(["archive", "--until-end", ...s.flags], env);
      assert.equal(first.code, 0, first.stderr);
      const logged = first.stderr.split("\n").filter((l) => l.includes("INGEST_RECORD_QUARANTINED"));
      // The right-to-left override in poisonCorpus's `originator` has no LATIN1 equivalent either.
      const refused = [1, sent.length - 2];
      assert.equal(logged.length, refused.length, first.stderr);
      // Read everything again from the start under another group: replays of its own claims, nothing new.
      const again = await runMain(
        ["archive", "--until-end", ...s.flags.map((f) => (f === s.group ? `${s.group}-again` : f))],
        env,
      );
      assert.equal(again.code, 0, again.stderr);
      assert.ok(!again.stderr.includes("INGEST_RECORD_QUARANTINED"), "quarantined once");
      const sql = schemaSql(s.schema, url);
      try {
        const rows = await sql<{ offset: bigint; quarantined: boolean; quarantine_reason: string | null }[]>`
          select "offset", quarantined, quarantine_reason from messages order by "offset"`;
        assert.equal(rows.length, sent.length, "one row per record");
        assert.deepEqual(rows.filter((r) => r.quarantined).map((r) => Number(r.offset)), refused);
        assert.equal((await sql`select 1 from receipts`).length, 0);
      } finally {
        await sql.end();
      }
      const verify = await runMain(["verify", "--store", s.storeUrl, "--db-schema", s.schema], env);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
      assert.match(verify.stdout, /^quarantined .*SQLSTATE 22P05/m);
      assert.match(verify.stdout, /quarantined: 2 records/);
      const status = await runMain(["status", "--skip-lag", "--db-schema", s.schema], env);
      assert.equal(status.code, 0, status.stderr);
      assert.match(
        status.stdout,
        new RegExp(`== quarantined[^\\n]*\\n[^]*${topic.replaceAll(".", "\\.")}\\s+2\\n`),
      );
    });
  });
});

Deno.test("quarantine: kill -9 at random moments, then restart: every record exactly once, quarantined ones too", async () => {
  await withLatin1Database(async (url) => {
    await withArchiveScenario("poison-q-kill", { topics: ["t"], partitions: 3 }, async (s) => {
      const [topic] = s.topics as [string];
      const total = 1500;
      const refused = (i: number) => i % 50 === 7;
      const records: PeerRecord[] = Array.from({ length: total }, (_, i) => ({
        value: new Uint8Array(1024 + (i % 5) * 700).fill(i & 0xff),
        headers: [
          ...(i % 3 === 0 ? [] : [["_id", new Uint8Array(randomBytes(16))] as [string, Uint8Array]]),
          ["title", refused(i) ? ROCKET_TITLE : bytes(`n\u00b0 ${i}`)],
        ],
        partition: i % 3,
      }));
      await peerProduce(topic, records, "lz4");
      const env = { ...s.env, DATABASE_URL: url };
      const sql = schemaSql(s.schema, url);
      const count = async () => {
        try {
          const [row] = await sql<{ n: number }[]>`select count(*)::int as n from messages`;
          return row?.n ?? 0;
        } catch {
          return 0; // not migrated yet
        }
      };
      try {
        const args = ["archive", ...s.flags, "--put-concurrency", "4"];
        // Two kills: each restart waits out the killed member's session in the group.
        for (let round = 0; round < 2; round++) {
          const child = spawnMain(args, env);
          const before = await count();
          await waitFor("some progress", async () => {
            const n = await count();
            return n > before + 50 || n >= total ? true : undefined;
          }, 120);
          await new Promise((r) => setTimeout(r, Math.random() * 300));
          child.kill("SIGKILL");
          await child.status;
          await child.stderr.cancel();
        }
        const finish = await runMain([...args, "--until-end"], env);
        assert.equal(finish.code, 0, finish.stderr);
        const rows = await sql<
          { partition: number; offset: bigint; key: string; size: number; quarantined: boolean }[]
        >`
          select partition, "offset", key, size, quarantined from messages`;
        assert.equal(rows.length, total, "every record archived once");
        assert.equal(new Set(rows.map((r) => `${r.partition}:${r.offset}`)).size, total);
        assert.equal(rows.filter((r) => r.quarantined).length, records.filter((_, i) => refused(i)).length);
        assert.equal((await sql`select 1 from receipts`).length, 0, "replays are not duplicates");
        const store = await createFsStore(s.storeDir);
        const keys = new Map<string, number>();
        for await (const o of store.list()) keys.set(o.key, o.size);
        store.close();
        assert.equal(keys.size, total, "no orphans, no missing objects");
        for (const row of rows) assert.equal(keys.get(row.key), row.size, `object ${row.key} is complete`);
      } finally {
        await sql.end();
      }
    });
  });
});

Deno.test("quarantine: once its cause is gone, `verify --repair` indexes the row in full from its object", async () => {
  await withArchiveScenario("poison-q-repair", { topics: ["t"] }, async (s) => {
    const [topic] = s.topics as [string];
    const sent: PeerRecord[] = [
      { value: bytes("short"), headers: [["title", bytes("GRB 250101A")]] },
      { value: bytes("long"), headers: [["title", bytes("GRB 250101A: a title longer than the rule")]] },
    ];
    await peerProduce(topic, sent);
    const sql = schemaSql(s.schema);
    try {
      // An operator's rule the index enforces: PostgreSQL refuses the second row for what it holds (23514).
      await runMain(["db", "migrate", "--db-schema", s.schema], s.env);
      await sql`alter table messages add constraint short_titles check (length(title) <= 20)`;
      const run = await runMain(["archive", "--until-end", ...s.flags], s.env);
      assert.equal(run.code, 0, run.stderr);
      const quarantined =
        async () => (await sql<{ title: string; quarantined: boolean; quarantine_reason: string | null }[]>`
          select title, quarantined, quarantine_reason from messages order by "offset"`);
      const before = await quarantined();
      assert.deepEqual(before.map((r) => [r.title, r.quarantined]), [["GRB 250101A", false], ["", true]]);
      assert.match(before[1]!.quarantine_reason!, /^SQLSTATE 23514: .*short_titles/);
      const flags = ["--store", s.storeUrl, "--db-schema", s.schema];
      const still = await runMain(["verify", "--repair", ...flags], s.env);
      assert.equal(still.code, 0, still.stdout + still.stderr);
      assert.match(still.stdout, /still refuses the full row \(SQLSTATE 23514/);
      // The rule is dropped: --repair re-derives the row's columns from the object.
      await sql`alter table messages drop constraint short_titles`;
      const fixed = await runMain(["verify", "--repair", ...flags], s.env);
      assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr);
      assert.match(fixed.stdout, /re-indexed in full from its object/);
      assert.doesNotMatch(fixed.stdout, /^quarantined: /m);
      assert.deepEqual((await quarantined()).map((r) => [r.title, r.quarantined, r.quarantine_reason]), [
        ["GRB 250101A", false, null],
        ["GRB 250101A: a title longer than the rule", false, null],
      ]);
    } finally {
      await sql.end();
    }
  });
});
