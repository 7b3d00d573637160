// Property-based hostile-input suite for the archive path (issue 21): random records (keys, values, headers with
// any names and bytes, up to 50 000 of them, timestamps from -1 to the far future) go through everything a record
// meets between the wire and the index: the Kafka record batch (written by our Produce encoder, every codec, read
// back by the decoder the consumer runs and `toKafkaRecord`), identity, the BSON object (our writer; read back by
// npm:bson and by the project's decoder) and the index row (an actual INSERT, into PostgreSQL and into PGlite,
// through the Index interface). Each record must come out byte-exact, or be quarantined; nothing may throw.
// Seeded and bounded (tests/fuzz_helpers.ts): `HK_FUZZ_SEED=S` replays a run.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { type Binary, deserialize, type Long } from "bson";
import fc from "fast-check";
import { toKafkaRecord } from "../../lib/archive/consumer.ts";
import { createIngest } from "../../lib/archive/ingest.ts";
import { crc32, hex } from "../../lib/format/checksum.ts";
import { errorMessage } from "../../lib/runtime/errors.ts";
import { clashUuid, clientUuid, contentDigest, isUuidText, legacyUuid } from "../../lib/format/identity.ts";
import { connectIndex } from "../../lib/index/database.ts";
import { startEmbeddedIndex } from "../../lib/index/embedded.ts";
import { createIndex } from "../../lib/index/postgres.ts";
import { toDb } from "../../lib/index/rows.ts";
import type { Index, StoredRow } from "../../lib/index/types.ts";
import { installCodecs } from "../../lib/kafka/codecs.ts";
import { installKafkajsPatches, kafkajsModules } from "../../lib/kafka/kafkajs_internals.ts";
import { type RawWireHeader, wireMessage, type WireRecord } from "../../lib/kafka/wire_headers.ts";
import { silentLogger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import { decodeArchiveObject, encodeArchiveObject, type KafkaRecord } from "../../lib/format/record.ts";
import { headerKeyBytes, type WireHeader } from "../../lib/format/types.ts";
import { createFsStore } from "../../lib/store/fs.ts";
import type { BlobStore } from "../../lib/store/types.ts";
import { dropSchema, testIds } from "../support/archive_helpers.ts";
import { fuzz, pseudoBytes, pseudoText, showBytes, showText } from "../support/fuzz_helpers.ts";
import { serviceEnv } from "../support/helpers.ts";

installKafkajsPatches();
installCodecs();

// ---- generators ----

type AnyHeader = WireHeader | RawWireHeader;
type Batch = { records: WireRecord[]; compression: number };

const utf8 = (text: string) => new TextEncoder().encode(text);
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const lossyUtf8 = new TextDecoder("utf-8");

/** Large byte strings, filled cheaply from a seed (fast-check generating a MiB byte by byte is slow). */
const largeBytes = fc.record({ n: fc.integer({ min: 4096, max: 1 << 20 }), seed: fc.integer() })
  .map(({ n, seed }) => pseudoBytes(n, seed));
const largeText = fc.record({ n: fc.integer({ min: 3000, max: 300_000 }), seed: fc.integer() })
  .map(({ n, seed }) => pseudoText(n, seed));

// Byte strings no UTF-8 decoder should accept, and text that is valid but hostile wherever it is shown or stored.
const INVALID_UTF8 = [
  [0xff],
  [0xc3, 0x28],
  [0xc0, 0xaf], // overlong "/"
  [0xed, 0xa0, 0x80], // an encoded surrogate
  [0xf4, 0x90, 0x80, 0x80], // beyond U+10FFFF
  [0x62, 0x6c, 0x6f, 0x62, 0xe2, 0x82], // "blob" and a cut sequence
].map((b) => Uint8Array.from(b));
const HOSTILE_TEXT = [
  "\0",
  "blob\0",
  "json\0evil",
  "\u202egnp.exe",
  "\x1b[31mred\x1b[0m",
  "a\r\nSet-Cookie: x=1",
  "\x7f\x01\x1f",
  "\ufeff\u200b",
  "' OR 1=1 --",
  "\\x00",
  "%00",
  "\ud83d\ude00",
].map(utf8);

const headerValue: fc.Arbitrary<Uint8Array | null> = fc.oneof(
  { arbitrary: fc.constant(null), weight: 2 },
  { arbitrary: fc.constant(new Uint8Array(0)), weight: 2 },
  { arbitrary: fc.uint8Array({ maxLength: 40 }), weight: 4 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 30 }).map(utf8), weight: 4 },
  { arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 40 }).map(utf8), weight: 3 },
  { arbitrary: fc.constantFrom(...INVALID_UTF8, ...HOSTILE_TEXT), weight: 4 },
  { arbitrary: fc.constantFrom(...["blob", "json", "voevent", "avro", "circular"].map(utf8)), weight: 2 },
  { arbitrary: largeText, weight: 1 },
  { arbitrary: largeBytes, weight: 1 },
);

// Names archive code looks for, names that are hostile in JavaScript objects, and anything else.
const SPECIAL_NAMES = [
  "_id",
  "_format",
  "_sender",
  "_test",
  "title",
  "file_name",
  "originator",
  "",
  "\0",
  "a\0b",
  "\u202e",
  "__proto__",
  "constructor",
  "toString",
  "ключ",
];
const headerName = fc.oneof(
  { arbitrary: fc.constantFrom(...SPECIAL_NAMES), weight: 3 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 20 }), weight: 1 },
);

// A few fixed client UUIDs, so that batches reuse `_id`s (duplicates and clashes), and `_id`s of other lengths.
const ID_POOL = [0x11, 0x22, 0x33].map((b) => new Uint8Array(16).fill(b));
const idHeader: fc.Arbitrary<WireHeader> = fc.oneof(
  fc.constantFrom(...ID_POOL),
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
  fc.uint8Array({ minLength: 15, maxLength: 17 }),
).map((value) => ({ key: "_id", value }));

const header: fc.Arbitrary<WireHeader> = fc.oneof(
  { arbitrary: fc.record({ key: headerName, value: headerValue }), weight: 6 },
  { arbitrary: idHeader, weight: 1 },
);

const keyOrValue: fc.Arbitrary<Uint8Array | null> = fc.oneof(
  { arbitrary: fc.constant(null), weight: 2 },
  { arbitrary: fc.constant(new Uint8Array(0)), weight: 2 },
  { arbitrary: fc.uint8Array({ maxLength: 64 }), weight: 5 },
  { arbitrary: fc.constantFrom(...INVALID_UTF8, ...HOSTILE_TEXT), weight: 1 },
  { arbitrary: largeBytes, weight: 1 },
);

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const timestamp: fc.Arbitrary<bigint> = fc.oneof(
  fc.constantFrom(
    -1n,
    0n,
    1n,
    1_750_000_000_000n,
    253402300799999n, // 9999-12-31T23:59:59.999Z, the last dated key
    253402300800000n, // year 10000
    8_640_000_000_000_000n, // the last instant a JavaScript Date holds
    8_640_000_000_000_001n,
    2n ** 53n + 1n,
    INT64_MAX,
    INT64_MIN,
    -2n,
  ),
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  fc.bigInt({ min: 0n, max: 4_000_000_000_000n }),
);

function recordOf(headers: fc.Arbitrary<AnyHeader[]>): fc.Arbitrary<WireRecord> {
  return fc.record({ key: keyOrValue, value: keyOrValue, headers, timestamp });
}

const batchOf = (records: fc.Arbitrary<WireRecord[]>): fc.Arbitrary<Batch> =>
  fc.record({ records, compression: fc.constantFrom(0, 0, 0, 1, 2, 3, 4) });

const recordBatch = batchOf(
  fc.array(recordOf(fc.array(header, { maxLength: 12 })), { minLength: 1, maxLength: 3 }),
);

// ---- the path a record takes ----

type KafkajsDecoder = object;
const Decoder = kafkajsModules.Decoder as { new (buffer: Buffer): KafkajsDecoder };
const decodeRecordBatch = kafkajsModules.decodeRecordBatch as (decoder: KafkajsDecoder) => Promise<{
  records: Parameters<typeof toKafkaRecord>[2][];
}>;
type ProduceBuilder = (args: unknown) => { request: { encode(): Promise<{ buffer: Buffer }> } };
const Produce = (kafkajsModules.requests as {
  requests: { Produce: { protocol: (o: { version: number }) => ProduceBuilder } };
}).requests.Produce;
// Where the record batch starts in a Produce v7 request for topic "t": transactional id (null), acks, timeout,
// topic count, topic name, partition count, partition, record set size.
const BATCH_AT = 2 + 2 + 4 + 4 + 3 + 4 + 4 + 4;

/** The records as the archiver gets them: our Produce encoder's batch, through kafkajs's decoder (patched). */
async function throughTheWire(batch: Batch, topic: string): Promise<KafkaRecord[]> {
  const request = await Produce.protocol({ version: 7 })({
    acks: -1,
    timeout: 30000,
    compression: batch.compression,
    topicData: [{
      topic: "t",
      partitions: [{ partition: 0, firstSequence: 0, messages: batch.records.map((r) => wireMessage(r, 0)) }],
    }],
  }).request.encode();
  const decoded = await decodeRecordBatch(new Decoder(request.buffer.subarray(BATCH_AT)));
  return decoded.records.map((m) => toKafkaRecord(topic, 0, m));
}

const keyBytes = (key: string | Uint8Array) => typeof key === "string" ? utf8(key) : key;

function assertDecodedExactly(sent: WireRecord, got: KafkaRecord, i: number): void {
  assert.deepEqual(got.key, sent.key, `record ${i}: key`);
  assert.deepEqual(got.value, sent.value, `record ${i}: value`);
  assert.equal(got.timestamp, sent.timestamp, `record ${i}: timestamp`);
  assert.equal(got.headers.length, sent.headers.length, `record ${i}: header count`);
  sent.headers.forEach((h, j) => {
    const back = got.headers[j]!;
    assert.deepEqual(headerKeyBytes(back), keyBytes(h.key), `record ${i}: header ${j} key bytes`);
    assert.equal(back.key, lossyUtf8.decode(keyBytes(h.key)), `record ${i}: header ${j} key text`);
    assert.deepEqual(back.value, h.value, `record ${i}: header ${j} value`);
  });
}

// A quarantined row is marked so (issue 21's poison-record policy); whatever the column is called.
function isQuarantined(row: object): boolean {
  return Object.entries(row).some(([name, v]) => /quarantin/i.test(name) && v !== null && v !== false);
}

/** The object of `row` holds `rec` exactly, and the row describes that object and that record. */
async function assertStoredExactly(store: BlobStore, row: StoredRow, rec: KafkaRecord, sent: WireRecord) {
  const object = await store.get(row.key);
  assert.ok(object !== null, `object ${row.key} missing`);
  assert.equal(row.size, object.length, "size");
  assert.equal(row.crc32, crc32(object), "crc32");
  const digest = contentDigest(rec);
  assert.equal(row.contentSha256, hex(digest), "content_sha256");
  assert.equal(row.valueSize, rec.value?.length ?? 0, "value_size");
  assert.equal(row.messageCrc32, rec.value === null ? 0 : crc32(rec.value), "message_crc32");
  // Identity: the client's `_id`, or (clash) a UUID of it and the content, or one of topic, time and content.
  assert.ok(isUuidText(row.uuid), `uuid ${row.uuid}`);
  const client = clientUuid(rec.headers);
  if (row.isClientUuid) assert.equal(row.uuid, client, "client uuid");
  else if (row.clashOf !== null) assert.equal(row.uuid, clashUuid(client!, digest), "clash uuid");
  else assert.equal(row.uuid, legacyUuid(rec.topic, rec.timestamp, digest), "legacy uuid");

  // The project's reader gives back every byte; the writer is a pure function of record, identity and stamp.
  const back = decodeArchiveObject(object);
  assert.equal(back.layout, "archive-core");
  assertDecodedExactly(sent, {
    ...rec,
    key: back.key,
    value: back.value,
    headers: back.headers,
    timestamp: back.timestamp,
  }, 0);
  assert.equal(back.topic, rec.topic);
  assert.equal(back.offset, rec.offset);
  assert.equal(back.uuid, row.uuid);
  const again = encodeArchiveObject(rec, {
    uuid: row.uuid,
    isClientUuid: row.isClientUuid,
    ...(row.clashOf !== null ? { clashOf: row.clashOf } : {}),
  }, { archivedAt: row.archivedAt!, archiverVersion: row.archiverVersion! });
  assert.ok(Buffer.compare(again, object) === 0, "the object re-encodes to the same bytes");

  // js-bson, independently: the value is binary subtype 0 (or null), headers [string, binary|null] pairs.
  const doc = deserialize(object, { promoteValues: false, promoteBuffers: false, promoteLongs: false });
  const bin = (v: unknown) => {
    if (v === null) return null;
    const b = v as Binary;
    return new Uint8Array(b.buffer.buffer, b.buffer.byteOffset, b.position);
  };
  assert.deepEqual(bin(doc.message), rec.value === null ? null : rec.value, "bson: message");
  assert.deepEqual(bin(doc.metadata.key), rec.key, "bson: metadata.key");
  assert.equal((doc.metadata.timestamp as Long).toBigInt(), rec.timestamp, "bson: metadata.timestamp");
  const pairs = doc.metadata.headers as [string, Binary | null][];
  assert.equal(pairs.length, rec.headers.length, "bson: header count");
  pairs.forEach(([k, v], j) => {
    assert.equal(k, rec.headers[j]!.key, `bson: header ${j} key`);
    assert.deepEqual(bin(v), rec.headers[j]!.value, `bson: header ${j} value`);
  });
  // The exact bytes of every name that is not UTF-8, and of no other, in annotations.con_header_keys.
  const exactNames = rec.headers.flatMap((h, j) => h.keyBytes === undefined ? [] : [[j, h.keyBytes]]);
  const annotated = (doc.annotations.con_header_keys ?? []) as [{ value: number }, Binary][];
  assert.deepEqual(annotated.map(([j, b]) => [j.value, bin(b)]), exactNames, "bson: con_header_keys");
}

const isControl = (text: string) =>
  Array.from(text).some((c) =>
    c.codePointAt(0)! < 0x20 || (c.codePointAt(0)! >= 0x7f && c.codePointAt(0)! < 0xa0)
  );

/** Text columns derived from headers: never NUL or broken text; a clean, short value is kept as it is. */
function assertDerivedText(row: StoredRow, rec: KafkaRecord): void {
  const db = toDb(row);
  for (const [column, v] of Object.entries(db)) {
    if (typeof v !== "string") continue;
    assert.ok(!v.includes("\0"), `${column} holds NUL`);
    assert.ok(v.isWellFormed(), `${column} is not well-formed text`);
  }
  const derived: [string, string | null | undefined][] = [
    ["_format", row.format],
    ["_sender", row.sender],
    ["title", row.catalog?.title],
    ["file_name", row.catalog?.fileName],
    ["originator", row.catalog?.originator],
  ];
  for (const [name, column] of derived) {
    const found = rec.headers.filter((h) => h.key === name);
    if (found.length !== 1 || found[0]!.value === null || found[0]!.value.length > 200) continue;
    let text: string;
    try {
      text = strictUtf8.decode(found[0]!.value);
    } catch {
      continue;
    }
    if (text === "" || isControl(text)) continue;
    assert.equal(column, text, `a clean ${name} header is indexed as it is`);
  }
}

// ---- the property ----

interface Target {
  index: Index;
  store: BlobStore;
}

let topicCount = 0;

/** One batch through wire, identity, BSON, index and store; every record exact (or quarantined), no throw. */
async function archiveExactly(target: Target, batch: Batch): Promise<void> {
  const topic = `fz-${Date.now().toString(36)}-${topicCount++}`;
  const records = await throughTheWire(batch, topic);
  assert.equal(records.length, batch.records.length, "record count");
  records.forEach((rec, i) => assertDecodedExactly(batch.records[i]!, rec, i));
  const stop = new AbortController();
  const ingest = createIngest({
    store: target.store,
    index: target.index,
    keyLayout: "daily",
    archiverVersion: "fuzz",
    log: silentLogger,
    metrics: createMetrics(),
    signal: stop.signal,
    putConcurrency: 4,
    maxInflightBytes: 64 * 2 ** 20,
  });
  let claimed;
  try {
    claimed = await ingest.claim(records);
    await ingest.write(claimed);
  } catch (e) {
    throw new Error(`archiving threw instead of storing or quarantining: ${errorMessage(e)}`, { cause: e });
  } finally {
    stop.abort();
  }
  // What the INSERT stored is what the archiver meant to store.
  for (const p of claimed.toPut) {
    const stored = await target.index.byUuid(p.row.uuid);
    assert.ok(stored !== null, `row ${p.row.uuid} claimed but not found`);
    // archive-core's sender column has '' for none, so an empty `_sender` reads back as none. The row's search
    // text goes to message_ts, not to the row byUuid reads.
    const { text: _text, ...row } = p.row;
    const expected = { ...row, sender: row.sender === "" ? null : row.sender };
    if (!isQuarantined(p.row)) assert.deepEqual(stored, expected, "index row");
  }
  const rows = await target.index.select({ topics: [topic] }, { limit: 100 });
  // Client `_id`s are drawn from a small pool, so a receipt may name a row of an earlier case's topic.
  const owners = [...rows.map((r) => r.uuid), ...records.map((r) => clientUuid(r.headers) ?? [])].flat();
  const receipts = (await target.index.receipts([...new Set(owners)])).filter((r) => r.topic === topic);
  for (const [i, rec] of records.entries()) {
    const row = rows.find((r) => r.offset === rec.offset);
    if (row !== undefined) {
      if (isQuarantined(row)) continue;
      await assertStoredExactly(target.store, row, rec, batch.records[i]!);
      assertDerivedText(row, rec);
      continue;
    }
    // Not stored: an earlier record (of this batch, or under its `_id` before) had the same content.
    const receipt = receipts.find((r) => r.offset === rec.offset);
    assert.ok(receipt !== undefined, `record ${i} neither stored, quarantined nor a receipt`);
    const owner = rows.find((r) => r.uuid === receipt.uuid) ?? await target.index.byUuid(receipt.uuid);
    assert.equal(owner?.contentSha256, hex(contentDigest(rec)), `record ${i}: receipt of other content`);
  }
}

function describeBatch(batch: Batch): string {
  const records = batch.records.map((r) => {
    const headers = r.headers.slice(0, 8).map((h) =>
      `${typeof h.key === "string" ? showText(h.key, 24) : showBytes(h.key)}=${showBytes(h.value)}`
    );
    const more = r.headers.length > 8 ? ` …+${r.headers.length - 8}` : "";
    return `{key ${showBytes(r.key)} value ${showBytes(r.value)} ts ${r.timestamp} headers ` +
      `(${r.headers.length}) [${headers.join(", ")}${more}]}`;
  });
  return `codec ${batch.compression}: ${records.join(" ")}`;
}

async function withTargets(
  kind: "postgres" | "pglite",
  fn: (target: Target) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hk-fuzz-" });
  const { schema } = testIds("fuzz");
  const embedded = kind === "pglite" ? await startEmbeddedIndex(`${dir}/pglite`) : null;
  const sql = embedded === null
    ? await connectIndex(serviceEnv("DATABASE_URL"), { searchPath: schema, max: 4 })
    : await connectIndex(embedded.url, { searchPath: schema, max: embedded.max });
  const store = await createFsStore(`${dir}/store`);
  try {
    const index = createIndex(sql);
    await index.migrate();
    await fn({ index, store });
  } finally {
    store.close();
    await sql.end({ timeout: 5 });
    if (embedded === null) await dropSchema(schema);
    else await embedded.close();
    await Deno.remove(dir, { recursive: true });
  }
}

// The reproductions of issue 21 and of what these suites found, tried first on every run.
const one = (record: Partial<WireRecord>): Batch => ({
  records: [{ key: null, value: utf8("v"), headers: [], timestamp: 1_750_000_000_000n, ...record }],
  compression: 0,
});
const KNOWN_POISON: Batch[] = [
  one({ headers: [{ key: "_format", value: utf8("blob\0") }] }),
  one({ headers: [{ key: "title", value: utf8("a\0b") }, { key: "originator", value: utf8("\0") }] }),
  one({ headers: [{ key: "_sender", value: Uint8Array.of(0xc3, 0x28, 0x00) }] }),
  // Indexed columns (btree) hold at most ~2.7 kB; incompressible text beyond that fails the INSERT.
  one({ headers: [{ key: "_format", value: pseudoText(229_000, 1) }] }),
  one({ headers: [{ key: "_sender", value: pseudoText(10_000, 2) }] }),
  one({ headers: [{ key: "title", value: pseudoText(1 << 20, 3) }] }),
  // Timestamps more than 2^63 apart in one batch: the wire delta wraps (as Java's long does); decoding must too.
  {
    records: [
      { key: null, value: utf8("a"), headers: [], timestamp: -1n },
      { key: null, value: utf8("b"), headers: [], timestamp: INT64_MAX },
    ],
    compression: 0,
  },
];

Deno.test("fuzz: random records archive byte-exact (or quarantined) into PostgreSQL", async () => {
  await withTargets("postgres", async (target) => {
    await fuzz(
      recordBatch,
      { name: "records (PostgreSQL)", numRuns: 300, describe: describeBatch, examples: KNOWN_POISON },
      (batch) => archiveExactly(target, batch),
    );
  });
});

Deno.test("fuzz: random records archive byte-exact (or quarantined) into PGlite", async () => {
  await withTargets("pglite", async (target) => {
    await fuzz(
      recordBatch,
      { name: "records (PGlite)", numRuns: 60, describe: describeBatch, examples: KNOWN_POISON },
      (batch) => archiveExactly(target, batch),
    );
  });
});

// Up to 50 000 headers on one record, names from a small pool (duplicates interleaved) and random ones.
const manyHeaders = fc.record({
  count: fc.oneof(fc.constantFrom(20_000, 50_000), fc.integer({ min: 0, max: 5_000 })),
  names: fc.array(headerName, { minLength: 1, maxLength: 8 }),
  seed: fc.integer(),
}).map(({ count, names, seed }) => {
  const pick = pseudoBytes(count * 2, seed);
  return Array.from({ length: count }, (_, i): WireHeader => ({
    key: names[pick[2 * i]! % names.length]!,
    value: pick[2 * i + 1]! % 5 === 0 ? null : pick.subarray(2 * i, 2 * i + (pick[2 * i + 1]! % 3)),
  }));
});

Deno.test("fuzz: records with up to 50 000 headers archive byte-exact (or quarantined)", async () => {
  await withTargets("postgres", async (target) => {
    await fuzz(
      batchOf(fc.array(recordOf(manyHeaders), { minLength: 1, maxLength: 1 })),
      {
        name: "many headers",
        numRuns: 6,
        describe: describeBatch,
        // Issue 21: 20 000 headers never committed (kafkajs folds them quadratically).
        examples: [20_000, 50_000].map((n) =>
          one({
            headers: Array.from({ length: n }, (_, i) => ({ key: `h${i % 7}`, value: utf8(String(i)) })),
          })
        ),
      },
      (batch) => archiveExactly(target, batch),
    );
  });
});

// A header name that is not UTF-8 cannot be a string without loss (kafkajs decodes it with U+FFFD): the record
// must then be quarantined, or the name kept byte for byte; never silently altered.
const rawName = fc.oneof(fc.constantFrom(...INVALID_UTF8), fc.uint8Array({ minLength: 1, maxLength: 12 }))
  .filter((bytes) => {
    try {
      strictUtf8.decode(bytes);
      return false;
    } catch {
      return true;
    }
  });
const rawHeaders = fc.tuple(
  fc.array(header, { maxLength: 4 }),
  fc.record({ key: rawName, value: headerValue }),
)
  .map(([headers, raw]): AnyHeader[] => [...headers, raw]);

Deno.test("fuzz: a non-UTF-8 header name is kept exactly or the record quarantined", async () => {
  await withTargets("postgres", async (target) => {
    await fuzz(
      batchOf(fc.array(recordOf(rawHeaders), { minLength: 1, maxLength: 2 })),
      {
        name: "non-UTF-8 header names",
        numRuns: 30,
        describe: describeBatch,
        examples: [
          // HK_FUZZ_SEED=20261206 HK_FUZZ_PATH=0: the name was archived as "\x04\ufffdM".
          one({ headers: [{ key: Uint8Array.of(0x04, 0x9d, 0x4d), value: null }] }),
          // Two names that decode to the same text (U+FFFD): different content, neither a copy of the other.
          {
            records: [0xff, 0xfe].map((b) => ({
              key: null,
              value: utf8("v"),
              headers: [{ key: Uint8Array.of(b), value: utf8("x") }],
              timestamp: 1_750_000_000_000n,
            })),
            compression: 0,
          },
        ],
      },
      // archiveExactly compares the decoded and the stored header names with the sent bytes.
      (batch) => archiveExactly(target, batch),
    );
  });
});
