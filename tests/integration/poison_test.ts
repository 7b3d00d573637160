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
import { silentLogger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import { decodeArchiveObject } from "../../lib/format/record.ts";
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
