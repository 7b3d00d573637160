import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { fileURLToPath } from "node:url";
import { Binary, deserialize, Double, Int32, Long, serialize } from "bson";
import {
  type ArchiveAnnotations,
  type ArchiveStamp,
  bytesToJson,
  decodeArchiveObject,
  encodeArchiveObject,
  encodeArchivePieces,
  type KafkaRecord,
  toArchiveJson,
} from "../../lib/format/record.ts";
import { crc32, hex } from "../../lib/format/checksum.ts";
import { contentDigest } from "../../lib/format/identity.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);
const STAMP: ArchiveStamp = { archivedAt: 1700000000000n, archiverVersion: "housekeeping 0.1.0" };
const UUID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
const ANN: ArchiveAnnotations = { uuid: UUID, isClientUuid: false };

function record(overrides: Partial<KafkaRecord> = {}): KafkaRecord {
  return {
    topic: "gcn.circular",
    partition: 0,
    offset: 42n,
    timestamp: 1674000000123n,
    timestampType: "CreateTime",
    key: null,
    value: utf8('{"a": 1}'),
    headers: [],
    ...overrides,
  };
}

const bytes = (...b: number[]) => Uint8Array.from(b);

function withoutTimestampType(rec: KafkaRecord): KafkaRecord {
  const { timestampType: _, ...rest } = rec;
  return rest;
}

/** Adversarial records, each meant to trip a different part of the encoding. */
const CASES: [string, KafkaRecord, ArchiveAnnotations][] = [
  ["tombstone with null key", record({ value: null, key: null }), ANN],
  ["empty value and empty key", record({ value: new Uint8Array(0), key: new Uint8Array(0) }), ANN],
  ["binary key and value", record({ key: bytes(0, 0xff, 0xfe), value: bytes(0xc3, 0x28, 0, 0xff) }), ANN],
  [
    "non-UTF-8 header values",
    record({ headers: [{ key: "bin", value: bytes(0xff, 0xfe, 0, 0x80) }, { key: "z", value: bytes(0) }] }),
    ANN,
  ],
  [
    "interleaved duplicate header keys",
    record({
      headers: ["a", "b", "a", "b", "a"].map((key, i) => ({ key, value: utf8(`${key}${i}`) })),
    }),
    ANN,
  ],
  [
    "null and empty header values",
    record({
      headers: [{ key: "n", value: null }, { key: "e", value: new Uint8Array(0) }, { key: "n", value: null }],
    }),
    ANN,
  ],
  [
    "200 headers",
    record({
      headers: Array.from({ length: 200 }, (_, i) => ({ key: `h${i % 7}`, value: utf8(String(i)) })),
    }),
    ANN,
  ],
  ["unicode header key", record({ headers: [{ key: "ключ-🔑-鍵", value: utf8("v") }] }), ANN],
  [
    "header keys that are not UTF-8 (con_header_keys), among others",
    record({
      headers: [
        { key: "x\ufffd\ufffd", keyBytes: bytes(0x78, 0xff, 0xfe), value: utf8("1") },
        { key: "\ufffd", value: utf8("a real U+FFFD, which is UTF-8") },
        { key: "\x04\ufffdM", keyBytes: bytes(0x04, 0x9d, 0x4d), value: new Uint8Array(0) },
      ],
    }),
    ANN,
  ],
  ["timestamp -1, no timestamp type", withoutTimestampType(record({ timestamp: -1n })), ANN],
  ["timestamp 0, LogAppendTime", record({ timestamp: 0n, timestampType: "LogAppendTime" }), ANN],
  ["timestamp 2^62, offset near 2^63", record({ timestamp: 2n ** 62n, offset: 2n ** 63n - 1n }), ANN],
  ["small numbers stay int64", record({ timestamp: 5n, offset: 0n, partition: 0 }), ANN],
  [
    "topic with dots, dashes, underscores",
    record({ topic: "my-org.alerts_v2.test-x", partition: 2147483647 }),
    ANN,
  ],
  ["client uuid", record(), { uuid: UUID, isClientUuid: true }],
  ["uuid clash", record(), {
    uuid: UUID,
    isClientUuid: false,
    clashOf: "12345678-1234-4678-9234-567812345678",
  }],
];

/** The same document built with js-bson's explicit wrapper types: an independent encoder to compare against. */
function jsBsonEncoding(rec: KafkaRecord, ann: ArchiveAnnotations): Uint8Array {
  const bin = (b: Uint8Array | null) => b === null ? null : new Binary(b, Binary.SUBTYPE_DEFAULT);
  const metadata: Record<string, unknown> = {
    timestamp: Long.fromBigInt(rec.timestamp),
    headers: rec.headers.map((h) => [h.key, bin(h.value)]),
    key: bin(rec.key),
    topic: rec.topic,
    partition: new Int32(rec.partition),
    offset: Long.fromBigInt(rec.offset),
  };
  if (rec.timestampType !== undefined) metadata["timestamp_type"] = rec.timestampType;
  metadata["archived_at"] = Long.fromBigInt(STAMP.archivedAt);
  metadata["archiver_version"] = STAMP.archiverVersion;
  const annotations: Record<string, unknown> = {
    con_text_uuid: ann.uuid,
    con_is_client_uuid: ann.isClientUuid,
    con_message_crc32: Long.fromNumber(rec.value === null ? 0 : crc32(rec.value)),
    con_content_sha256: hex(contentDigest(rec)),
  };
  if (ann.clashOf !== undefined) annotations["con_uuid_clash_of"] = ann.clashOf;
  const exact = rec.headers.flatMap((h, i) =>
    h.keyBytes === undefined ? [] : [[new Int32(i), bin(h.keyBytes)]]
  );
  if (exact.length > 0) annotations["con_header_keys"] = exact;
  // js-bson returns a Buffer; compare as a plain Uint8Array.
  return Uint8Array.from(serialize({ message: bin(rec.value), metadata, annotations }));
}

function assertRoundTrip(rec: KafkaRecord, ann: ArchiveAnnotations, encoded: Uint8Array): void {
  const d = decodeArchiveObject(encoded);
  assert.equal(d.layout, "archive-core");
  assert.equal(d.topic, rec.topic);
  assert.equal(d.partition, rec.partition);
  assert.equal(d.offset, rec.offset);
  assert.equal(d.timestamp, rec.timestamp);
  assert.equal(d.timestampType, rec.timestampType ?? null);
  assert.deepEqual(d.key, rec.key);
  assert.deepEqual(d.value, rec.value);
  assert.deepEqual(d.headers, rec.headers);
  assert.equal(d.legacyFormat, null);
  assert.equal(d.uuid, ann.uuid);
  assert.equal(d.isClientUuid, ann.isClientUuid);
  assert.equal(d.clashOf, ann.clashOf ?? null);
  assert.equal(d.messageCrc32, BigInt(rec.value === null ? 0 : crc32(rec.value)));
  assert.equal(d.contentSha256, hex(contentDigest(rec)));
  assert.equal(d.archivedAt, STAMP.archivedAt);
  assert.equal(d.archiverVersion, STAMP.archiverVersion);
}

for (const [name, rec, ann] of CASES) {
  Deno.test(`round trip: ${name}`, () => {
    const encoded = encodeArchiveObject(rec, ann, STAMP);
    assertRoundTrip(rec, ann, encoded);
  });

  Deno.test(`byte-identical to js-bson with explicit types: ${name}`, () => {
    assert.deepEqual(encodeArchiveObject(rec, ann, STAMP), jsBsonEncoding(rec, ann));
  });
}

Deno.test("element types: Binary subtype 0, int64 even when small, int32 partition, key order", () => {
  const rec = record({
    timestamp: 5n,
    offset: 0n,
    value: new Uint8Array(0),
    headers: [{ key: "n", value: null }, { key: "e", value: new Uint8Array(0) }],
  });
  const raw = encodeArchiveObject(rec, ANN, STAMP);
  const doc = deserialize(raw, { promoteValues: false, promoteBuffers: false, promoteLongs: false });
  assert.deepEqual(Object.keys(doc), ["message", "metadata", "annotations"]);
  assert.ok(doc["message"] instanceof Binary && doc["message"].sub_type === 0);
  const meta = doc["metadata"];
  assert.deepEqual(Object.keys(meta), [
    "timestamp",
    "headers",
    "key",
    "topic",
    "partition",
    "offset",
    "timestamp_type",
    "archived_at",
    "archiver_version",
  ]);
  for (const field of ["timestamp", "offset", "archived_at"]) assert.ok(meta[field] instanceof Long, field);
  assert.ok(meta["partition"] instanceof Int32);
  assert.equal(meta["key"], null);
  assert.equal(meta["headers"][0][1], null, "null header value stays null");
  assert.ok(meta["headers"][1][1] instanceof Binary && meta["headers"][1][1].length() === 0);
  const notes = doc["annotations"];
  assert.deepEqual(Object.keys(notes), [
    "con_text_uuid",
    "con_is_client_uuid",
    "con_message_crc32",
    "con_content_sha256",
  ]);
  assert.ok(notes["con_message_crc32"] instanceof Long, "a crc32 of 0 is still int64");
  // First element on the wire: type 0x05 (binary) named "message".
  assert.equal(raw[4], 0x05);
  assert.equal(new TextDecoder().decode(raw.subarray(5, 12)), "message");
});

Deno.test("tombstone stores message as BSON null, not an empty binary", () => {
  const raw = encodeArchiveObject(record({ value: null }), ANN, STAMP);
  assert.equal(raw[4], 0x0a);
  assert.equal(deserialize(raw)["message"], null);
});

Deno.test("encoding is deterministic: equal inputs give identical bytes", () => {
  const build = () =>
    record({ key: utf8("k"), headers: [{ key: "a", value: utf8("1") }, { key: "b", value: null }] });
  const first = encodeArchiveObject(build(), ANN, STAMP);
  const second = encodeArchiveObject(build(), { ...ANN }, { ...STAMP });
  assert.deepEqual(first, second);
  const other = encodeArchiveObject(build(), ANN, { ...STAMP, archivedAt: STAMP.archivedAt + 1n });
  assert.notDeepEqual(first, other);
});

const TWENTY_MIB = 20 * 1024 * 1024;
function bigValue(): Uint8Array {
  const value = new Uint8Array(TWENTY_MIB);
  for (let i = 0; i < value.length; i += 4096) value[i] = (i / 4096) & 0xff;
  value[value.length - 1] = 0x7f;
  return value;
}

Deno.test("a 20 MiB value encodes and decodes", () => {
  const rec = record({ value: bigValue(), headers: [{ key: "_id", value: new Uint8Array(16) }] });
  const raw = encodeArchiveObject(rec, ANN, STAMP);
  assert.ok(raw.length > TWENTY_MIB);
  assertRoundTrip(rec, ANN, raw);
});

Deno.test("invalid records are refused with a coded error naming the field", () => {
  const cases: [KafkaRecord, ArchiveAnnotations, string, RegExp][] = [
    [record({ partition: 2 ** 31 }), ANN, "BSON_VALUE_INVALID", /metadata\.partition/],
    [record({ partition: 1.5 }), ANN, "BSON_VALUE_INVALID", /metadata\.partition/],
    [record({ offset: 2n ** 63n }), ANN, "BSON_VALUE_INVALID", /metadata\.offset/],
    [record({ timestamp: -(2n ** 63n) - 1n }), ANN, "BSON_VALUE_INVALID", /metadata\.timestamp/],
    [record({ headers: [{ key: "bad\ud800", value: null }] }), ANN, "BSON_VALUE_INVALID", /headers\.0\.0/],
    [record({ topic: "t\udc00" }), ANN, "BSON_VALUE_INVALID", /metadata\.topic/],
    [record(), { ...ANN, uuid: UUID.toUpperCase() }, "ARCHIVE_RECORD_INVALID", /uuid/],
    [record(), { ...ANN, clashOf: "nope" }, "ARCHIVE_RECORD_INVALID", /clashOf/],
    [
      record({ timestampType: "Bogus" as "CreateTime" }),
      ANN,
      "ARCHIVE_RECORD_INVALID",
      /timestampType/,
    ],
  ];
  for (const [rec, ann, code, message] of cases) {
    assert.throws(() => encodeArchiveObject(rec, ann, STAMP), (e: Error & { code?: string }) => {
      assert.equal(e.code, code);
      assert.match(e.message, message);
      return true;
    });
  }
});

const LEGACY = new URL("../../testdata/legacy/housekeeping-object.bson", import.meta.url);

Deno.test("the original housekeeping layout decodes", () => {
  const d = decodeArchiveObject(Deno.readFileSync(LEGACY));
  assert.equal(d.layout, "housekeeping-v1");
  assert.equal(d.topic, "gcn.circular");
  assert.equal(d.timestamp, 1674000000123n);
  assert.equal(d.legacyFormat, "json");
  assert.deepEqual(d.value, utf8('{"a": 1}'));
  assert.deepEqual(d.headers.map((h) => h.key), ["_id", "_sender", "_format", "nullhdr"]);
  assert.deepEqual(d.headers[0]?.value, bytes(...Buffer.from("12345678123446789234567812345678", "hex")));
  assert.deepEqual(d.headers[1]?.value, utf8("alice"));
  assert.equal(d.headers[3]?.value, null);
  assert.equal(d.messageCrc32, 4221669015n);
  assert.equal(d.messageCrc32, BigInt(crc32(d.value!)));
  assert.equal(d.uuid, "12345678-1234-4678-9234-567812345678");
  assert.equal(d.isClientUuid, true);
  assert.equal(d.key, null);
  assert.equal(d.partition, null);
  assert.equal(d.offset, null);
  assert.equal(d.contentSha256, null);
});

Deno.test("an object as archive-core's Python writer lays it out decodes", () => {
  // archive-core writes small ints as int32, the key as str in its tests, None for absent headers,
  // and annotations this archive does not know.
  const raw = serialize({
    message: new Binary(utf8("x")),
    metadata: { timestamp: new Int32(356), headers: null, key: "", topic: "t1" },
    annotations: {
      con_text_uuid: UUID,
      con_is_client_uuid: false,
      con_message_crc32: new Int32(123456),
      public: true,
      title: null,
    },
  });
  const d = decodeArchiveObject(raw);
  assert.equal(d.layout, "archive-core");
  assert.equal(d.timestamp, 356n);
  assert.deepEqual(d.headers, []);
  assert.deepEqual(d.key, new Uint8Array(0));
  assert.equal(d.uuid, UUID);
  assert.equal(d.messageCrc32, 123456n);
  assert.equal(d.partition, null);
});

/** Objects whose con_header_keys does not hold the exact name of a header that is not UTF-8, in order. */
function headerKeyCases(good: { metadata: object }): [Uint8Array, RegExp][] {
  const headers = [["x\ufffd", new Binary(utf8("1"))], ["ok", null], ["\ufffd", null]];
  const withKeys = (keys: unknown) =>
    serialize({
      message: new Binary(utf8("v")),
      metadata: { ...good.metadata, headers },
      annotations: { con_header_keys: keys },
    });
  const pair = (i: number, ...b: number[]) => [new Int32(i), new Binary(bytes(...b))];
  return [
    [withKeys("x"), /con_header_keys: expected non-empty array/],
    [withKeys([]), /con_header_keys: expected non-empty array/],
    [withKeys([[new Int32(0)]]), /con_header_keys\[0\]: expected \[index, bytes\] pair/],
    [withKeys([pair(3, 0xff)]), /con_header_keys\[0\]\[0\]: 3 is not the index of a later header/],
    [withKeys([pair(-1, 0xff)]), /con_header_keys\[0\]\[0\]/],
    [withKeys([pair(0, 0x78, 0xff), pair(0, 0x78, 0xfe)]), /con_header_keys\[1\]\[0\]/],
    [withKeys([pair(2, 0xff), pair(0, 0x78, 0xff)]), /con_header_keys\[1\]\[0\]/],
    [withKeys([[new Int32(0), "x\ufffd"]]), /con_header_keys\[0\]\[1\]: expected binary/],
    // Bytes that are UTF-8 (the text would be exact without them), or not what the header's text came from.
    [withKeys([pair(1, 0x6f, 0x6b)]), /con_header_keys\[0\]\[1\]: not the non-UTF-8 name of header 1/],
    [withKeys([pair(2, 0xef, 0xbf, 0xbd)]), /con_header_keys\[0\]\[1\]/],
    [withKeys([pair(0, 0x79, 0xff)]), /con_header_keys\[0\]\[1\]: not the non-UTF-8 name of header 0/],
  ];
}

Deno.test("malformed objects throw ARCHIVE_OBJECT_INVALID naming the field", () => {
  const good = {
    message: new Binary(utf8("v")),
    metadata: { timestamp: Long.fromNumber(1), headers: [], topic: "t" },
  };
  const cases: [Uint8Array, RegExp][] = [
    [utf8("definitely not bson"), /not valid BSON/],
    [serialize({ ...good, message: "text" }), /message: expected binary/],
    [serialize({ ...good, message: new Binary(new Uint8Array(16), 4) }), /message: expected/],
    [serialize({ message: good.message }), /metadata: expected document, found nothing/],
    [serialize({ ...good, metadata: { ...good.metadata, timestamp: "1" } }), /metadata\.timestamp/],
    [serialize({ ...good, metadata: { ...good.metadata, timestamp: new Double(1) } }), /metadata\.timestamp/],
    [serialize({ ...good, metadata: { ...good.metadata, topic: 7 } }), /metadata\.topic/],
    [serialize({ ...good, metadata: { timestamp: Long.fromNumber(1), topic: "t" } }), /metadata\.headers/],
    [serialize({ ...good, metadata: { ...good.metadata, headers: [["k"]] } }), /metadata\.headers\[0\]/],
    [
      serialize({ ...good, metadata: { ...good.metadata, headers: [["k", "v"]] } }),
      /metadata\.headers\[0\]\[1\]/,
    ],
    [serialize({ ...good, metadata: { ...good.metadata, timestamp_type: "x" } }), /timestamp_type/],
    [
      serialize({ ...good, metadata: { ...good.metadata, partition: Long.fromNumber(2 ** 40) } }),
      /partition/,
    ],
    [serialize({ ...good, annotations: { con_is_client_uuid: "yes" } }), /annotations\.con_is_client_uuid/],
    [serialize({ ...good, message: { format: "json" } }), /message\.content/],
    ...headerKeyCases(good),
  ];
  for (const [raw, message] of cases) {
    assert.throws(() => decodeArchiveObject(raw), (e: Error & { code?: string }) => {
      assert.equal(e.code, "ARCHIVE_OBJECT_INVALID");
      assert.match(e.message, message);
      return true;
    });
  }
  // Sanity: the base of those cases is itself acceptable, so each failure is due to its one change.
  assert.equal(decodeArchiveObject(serialize(good)).topic, "t");
});

Deno.test("toArchiveJson: text as utf8, other bytes as base64, int64 as strings", () => {
  const rec = record({
    key: bytes(0xff),
    headers: [{ key: "n", value: null }, { key: "t", value: utf8("é") }],
    timestamp: 2n ** 62n,
  });
  const json = toArchiveJson(decodeArchiveObject(encodeArchiveObject(rec, ANN, STAMP)));
  const round = JSON.parse(JSON.stringify(json));
  assert.deepEqual(round.key, { base64: "/w==" });
  assert.deepEqual(round.value, { utf8: '{"a": 1}' });
  assert.deepEqual(round.headers, [["n", null], ["t", { utf8: "é" }]]);
  assert.equal(round.timestamp, "4611686018427387904");
  assert.equal(round.offset, "42");
  assert.equal(round.uuid, UUID);
  assert.deepEqual(bytesToJson(new Uint8Array(0)), { utf8: "" });
  // A header name that is not UTF-8 is shown as its bytes, like any other bytes.
  const exact = record({ headers: [{ key: "x\ufffd", keyBytes: bytes(0x78, 0xff), value: null }] });
  const shown = JSON.parse(
    JSON.stringify(toArchiveJson(decodeArchiveObject(encodeArchiveObject(exact, ANN, STAMP)))),
  );
  assert.deepEqual(shown.headers, [[{ base64: "eP8=" }, null]]);
});

Deno.test("a header's keyBytes must be a name that is not UTF-8, and its key that name's text", () => {
  for (
    const header of [
      { key: "ok", keyBytes: utf8("ok"), value: null },
      { key: "\ufffd", keyBytes: bytes(0xef, 0xbf, 0xbd), value: null },
      { key: "y\ufffd", keyBytes: bytes(0x78, 0xff), value: null },
    ]
  ) {
    assert.throws(
      () => encodeArchiveObject(record({ headers: [header] }), ANN, STAMP),
      (e: Error & { code?: string }) =>
        e.code === "ARCHIVE_RECORD_INVALID" && /header 0: keyBytes/.test(e.message),
    );
  }
});

// ---- cross-check with hop-client's own BSON codec ----

type PyBytes = { b64: string } | null;
type PyInt = { int: string };
interface PyView {
  check: string | null;
  zlib_crc32: string | null;
  message: PyBytes;
  metadata: {
    timestamp: PyInt;
    headers: [string, PyBytes][];
    key: PyBytes;
    topic: string;
    partition: PyInt;
    offset: PyInt;
    timestamp_type?: string;
    archived_at: PyInt;
    archiver_version: string;
  };
  annotations: Record<string, unknown>;
}

const pyBytes = (b: Uint8Array | null): PyBytes =>
  b === null ? null : { b64: Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64") };
const pyInt = (n: bigint | number | string): PyInt => ({ int: String(n) });

function python(): string {
  const home = Deno.env.get("HOME") ?? "";
  return Deno.env.get("HOUSEKEEPING_PYTHON") ?? `${home}/.cache/housekeeping/venv/bin/python`;
}

async function readWithHopClient(paths: string[]): Promise<PyView[]> {
  const script = fileURLToPath(new URL("../py/read_archive.py", import.meta.url));
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(python(), { args: [script, ...paths], stdout: "piped", stderr: "piped" })
      .output();
  } catch (e) {
    throw new Error(
      `cannot run ${python()} (${e}); set HOUSEKEEPING_PYTHON to a Python with hop-client installed`,
    );
  }
  assert.ok(out.success, `read_archive.py failed: ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("hop-client's BSON codec reads what we write, field by field", async () => {
  const cases: [string, KafkaRecord, ArchiveAnnotations][] = [
    ...CASES,
    [
      "20 MiB value",
      record({ value: bigValue(), headers: [{ key: "_id", value: new Uint8Array(16) }] }),
      ANN,
    ],
  ];
  const dir = await Deno.makeTempDir({ prefix: "housekeeping-record-test-" });
  try {
    const paths = await Promise.all(cases.map(async ([, rec, ann], i) => {
      const path = `${dir}/${i}.bson`;
      await Deno.writeFile(path, encodeArchiveObject(rec, ann, STAMP));
      return path;
    }));
    const views = await readWithHopClient(paths);
    assert.equal(views.length, cases.length);
    cases.forEach(([name, rec, ann], i) => {
      const view = views[i]!;
      const m = view.metadata;
      assert.deepEqual(view.message, pyBytes(rec.value), name);
      assert.deepEqual(m.key, pyBytes(rec.key), name);
      // A name that is not UTF-8 is text with U+FFFD here (hop-client requires a string); its bytes are annotated.
      assert.deepEqual(m.headers, rec.headers.map((h) => [h.key, pyBytes(h.value)]), name);
      const exact = rec.headers.flatMap((h, j) =>
        h.keyBytes === undefined ? [] : [[pyInt(j), pyBytes(h.keyBytes)]]
      );
      assert.deepEqual(view.annotations["con_header_keys"], exact.length > 0 ? exact : undefined, name);
      assert.equal(m.topic, rec.topic, name);
      assert.deepEqual(m.timestamp, pyInt(rec.timestamp), name);
      assert.deepEqual(m.partition, pyInt(rec.partition), name);
      assert.deepEqual(m.offset, pyInt(rec.offset), name);
      assert.equal(m.timestamp_type, rec.timestampType, name);
      assert.deepEqual(m.archived_at, pyInt(STAMP.archivedAt), name);
      assert.equal(m.archiver_version, STAMP.archiverVersion, name);
      assert.equal(view.annotations["con_text_uuid"], ann.uuid, name);
      assert.equal(view.annotations["con_is_client_uuid"], ann.isClientUuid, name);
      assert.deepEqual(view.annotations["con_message_crc32"], pyInt(view.zlib_crc32 ?? 0), name);
      // hop-client refuses archived messages it cannot hand to a user: tombstones and null header
      // values. Every other object must pass its structure check.
      if (rec.value === null) assert.match(view.check ?? "", /Original message data not present/, name);
      else if (rec.headers.some((h) => h.value === null)) {
        assert.match(view.check ?? "", /Malformed original message header/, name);
      } else assert.equal(view.check, null, name);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("encodeArchivePieces and a given digest give encodeArchiveObject's bytes; a large value is not copied", () => {
  const large = new Uint8Array(100_000).map((_, i) => i % 251);
  for (const value of [null, utf8("small"), large]) {
    const rec = record({ value, key: large.subarray(0, 5000), headers: [{ key: "h", value: large }] });
    const expected = encodeArchiveObject(rec, ANN, STAMP);
    assert.deepEqual(encodeArchiveObject(rec, ANN, STAMP, contentDigest(rec)), expected);
    const pieces = encodeArchivePieces(rec, ANN, STAMP, contentDigest(rec));
    assert.deepEqual(Buffer.concat(pieces), Buffer.from(expected));
    assert.equal(crc32(...pieces), crc32(expected));
    if (value === large) assert.ok(pieces.includes(value), "the value itself is a piece");
  }
});
