// The wire-header hook, exercised through kafkajs's own record decoder (the module instance kafkajs runs).
// The end-to-end proof through a real broker and every codec is in kafka_test.ts.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  checkHeaderFold,
  checkKafkajsVersion,
  installKafkajsPatches,
  kafkajsModules,
} from "../../lib/kafka/kafkajs_internals.ts";
import { wireHeaders, wireMessage } from "../../lib/kafka/wire_headers.ts";
import { installCodecs } from "../../lib/kafka/codecs.ts";
import { headerKeyBytes, type WireHeader } from "../../lib/format/types.ts";

type KafkajsDecoder = { readVarIntArray(reader: (d: unknown) => unknown): unknown[] };
const Decoder = kafkajsModules.Decoder as { new (buffer: Buffer): KafkajsDecoder; prototype: KafkajsDecoder };
const decodeRecord = kafkajsModules.decodeRecord as (
  decoder: KafkajsDecoder,
  batchContext: Record<string, unknown>,
) => { headers: Record<string, unknown>; key: Buffer | null; value: Buffer | null; magicByte: number };

const utf8 = (text: string) => new TextEncoder().encode(text);

function zigzag(value: number): number[] {
  let n = value >= 0 ? value * 2 : -value * 2 - 1;
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

const bytesField = (value: Uint8Array | null) =>
  value === null ? zigzag(-1) : [...zigzag(value.length), ...value];

/** A v2 record body (after its length prefix), headers as given; headerCount overrides the list length. */
function recordBytes(headers: WireHeader[], headerCount = headers.length): Buffer {
  const body = [
    0, // attributes
    ...zigzag(0), // timestamp delta
    ...zigzag(0), // offset delta
    ...bytesField(utf8("k")),
    ...bytesField(utf8("v")),
    ...zigzag(headerCount),
    ...headers.flatMap((h) => [...bytesField(headerKeyBytes(h)), ...bytesField(h.value)]),
  ];
  return Buffer.from(body);
}

const BATCH_CONTEXT = { firstOffset: "0", firstTimestamp: "1700000000000", magicByte: 2, timestampType: 0 };

function decode(headers: WireHeader[], headerCount?: number) {
  return decodeRecord(new Decoder(recordBytes(headers, headerCount)), BATCH_CONTEXT);
}

const INTERLEAVED: WireHeader[] = [
  { key: "_id", value: Uint8Array.from({ length: 16 }, (_, i) => i) },
  { key: "dup", value: utf8("first") },
  { key: "other", value: new Uint8Array(0) },
  { key: "dup", value: null },
  { key: "bin", value: Uint8Array.of(0xff, 0xfe, 0x00, 0x80) },
  { key: "dup", value: utf8("third") },
  { key: "other", value: null },
  { key: "ключ", value: utf8("ü") },
];

installKafkajsPatches();

Deno.test("the wire list keeps order, duplicates, nulls and empties exactly", () => {
  const record = decode(INTERLEAVED);
  const wire = wireHeaders(record);
  assert.deepEqual(wire, INTERLEAVED);
  assert.equal(wire[2]!.value?.length, 0, "empty stays empty");
  assert.equal(wire[3]!.value, null, "null stays null");
  assert.ok(!Buffer.isBuffer(wire[0]!.value), "values are plain Uint8Array views");
});

// Names that are not UTF-8 (kafkajs reads "x\ufffd\ufffd", "\x04\ufffdM", ...), and UTF-8 ones that look alike.
const RAW_NAMES: WireHeader[] = [
  { key: "x\ufffd\ufffd", keyBytes: Uint8Array.of(0x78, 0xff, 0xfe), value: utf8("1") },
  { key: "\ufffd", value: utf8("a real U+FFFD, which is UTF-8: no keyBytes") },
  { key: "\x04\ufffdM", keyBytes: Uint8Array.of(0x04, 0x9d, 0x4d), value: null },
  // An encoded surrogate: three U+FFFD, one per byte, as every WHATWG decoder reads it.
  { key: "\ufffd\ufffd\ufffd", keyBytes: Uint8Array.of(0xed, 0xa0, 0x80), value: new Uint8Array(0) },
  { key: "_id", value: new Uint8Array(16) },
  { key: "\ufffd", keyBytes: Uint8Array.of(0xff), value: null },
];

Deno.test("a header name that is not UTF-8 keeps its wire bytes; kafkajs's text of it is unchanged", () => {
  const record = decode(RAW_NAMES);
  const wire = wireHeaders(record);
  assert.deepEqual(wire, RAW_NAMES);
  assert.ok(wire.every((h) => h.keyBytes === undefined || !Buffer.isBuffer(h.keyBytes)), "plain views");
  // kafkajs's object form is the one it always made, from its own text of each name.
  assert.deepEqual(Object.keys(record.headers), [
    "x\ufffd\ufffd",
    "\ufffd",
    "\x04\ufffdM",
    "\ufffd\ufffd\ufffd",
    "_id",
  ]);
  assert.equal((record.headers["\ufffd"] as unknown[]).length, 2);
});

Deno.test("50 000 names that are not UTF-8 decode with a bounded amount of work per header, exactly", () => {
  const count = 50_000;
  const headers: WireHeader[] = Array.from({ length: count }, (_, i) => {
    const keyBytes = Uint8Array.of(0x68, 0xff, i & 0x7f, (i >> 7) & 0x7f, i >> 14);
    return { key: new TextDecoder().decode(keyBytes), keyBytes, value: i % 3 === 0 ? null : utf8(String(i)) };
  });
  const watched = decodeWatched(headers, { refuseFold: true });
  assert.equal(watched.folds, 0);
  assert.ok(watched.objectOps <= 3 * count + 10, `${watched.objectOps} operations for ${count} headers`);
  assert.deepEqual(wireHeaders(watched.record), headers);
});

Deno.test("kafkajs's own object form is unchanged by the hook", () => {
  const record = decode(INTERLEAVED);
  assert.deepEqual(Object.keys(record.headers), ["_id", "dup", "other", "bin", "ключ"]);
  assert.deepEqual(record.headers.dup, [Buffer.from("first"), null, Buffer.from("third")]);
  assert.deepEqual(
    Object.getOwnPropertySymbols({ ...record.headers }),
    [],
    "spread copies do not carry the list",
  );
  assert.equal(
    JSON.stringify(Object.keys(record.headers)),
    JSON.stringify(Object.keys({ ...record.headers })),
  );
});

// ---- kafkajs's quadratic header fold (issue 21): proved without a clock. kafkajs's record decoder folds the list
// with `list.reduce(fold, {})`; watchFold sits on top of the hook, sees that call, and counts (or refuses) every
// call of kafkajs's `fold`, and every operation on the object the headers are folded into.

interface Watched {
  record: ReturnType<typeof decode>;
  /** The header list kafkajs decoded, and kafkajs's own fold function it passed to `reduce`. */
  list: { key: string; value: Buffer | null }[];
  kafkajsFold: (acc: unknown, header: unknown) => unknown;
  /** Calls of kafkajs's fold (the quadratic one): must stay 0. */
  folds: number;
  /** Operations (get, define, has, ...) on the object the headers were folded into. */
  objectOps: number;
}

const OBJECT_TRAPS = [
  "get",
  "set",
  "has",
  "defineProperty",
  "deleteProperty",
  "getOwnPropertyDescriptor",
  "ownKeys",
] as const;

function decodeWatched(headers: WireHeader[], options: { refuseFold: boolean }): Watched {
  const hooked = Decoder.prototype.readVarIntArray;
  const seen: Partial<Watched> = { folds: 0, objectOps: 0 };
  Decoder.prototype.readVarIntArray = function (reader) {
    const list = hooked.call(this, reader) as Watched["list"];
    const reduce = list.reduce as (fold: unknown, initial: object) => object;
    Object.defineProperty(list, "reduce", {
      value(fold: Watched["kafkajsFold"], initial: object) {
        Object.assign(seen, { list, kafkajsFold: fold });
        const counted = (acc: unknown, header: unknown) => {
          seen.folds!++;
          // Refusing at once: a quadratic fold over 50 000 headers would take the best part of an hour.
          if (options.refuseFold) throw new Error("kafkajs's own header fold ran");
          return fold(acc, header);
        };
        // Every trap a fold could take on its object, counted.
        const handler: Record<string, unknown> = {};
        for (const trap of OBJECT_TRAPS) {
          const op = Reflect[trap] as (...a: unknown[]) => unknown;
          handler[trap] = (...a: unknown[]) => (seen.objectOps!++, op(...a));
        }
        const target = new Proxy(initial, handler);
        return reduce.call(this, counted, target);
      },
    });
    return list;
  };
  try {
    seen.record = decode(headers);
  } finally {
    Decoder.prototype.readVarIntArray = hooked;
  }
  return seen as Watched;
}

/** A deterministic generator (the tests must be repeatable). */
function lcg(seed: number) {
  let state = seed;
  return (n: number) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state % n;
  };
}

// Keys that name Object.prototype members, integer-like keys (ordered first by JavaScript) and the empty key:
// where an object fold can go wrong.
const AWKWARD_KEYS = ["__proto__", "constructor", "toString", "hasOwnProperty", "10", "2", "0", "", "ключ"];

function awkwardHeaders(count: number, seed: number): WireHeader[] {
  const pick = lcg(seed);
  const keys = [...AWKWARD_KEYS, ...Array.from({ length: 30 }, (_, i) => `k${i}`)];
  return Array.from({ length: count }, (_, i) => ({
    key: keys[pick(keys.length)]!,
    value: pick(5) === 0 ? null : utf8(`v${i}`),
  }));
}

Deno.test("kafkajs's own header fold never runs; the object is the one it would have made", () => {
  for (const [i, headers] of [INTERLEAVED, awkwardHeaders(600, 1), awkwardHeaders(600, 2)].entries()) {
    const watched = decodeWatched(headers, { refuseFold: false });
    assert.equal(watched.folds, 0, `case ${i}: kafkajs's fold was called`);
    // kafkajs's own fold, run here on the same list, is the reference for the object form.
    const theirs = Array.prototype.reduce.call(watched.list, watched.kafkajsFold, {}) as object;
    assert.deepEqual(Object.keys(watched.record.headers), Object.keys(theirs), `case ${i}: key order`);
    assert.deepEqual({ ...watched.record.headers }, { ...theirs }, `case ${i}: values`);
    assert.equal(Object.getPrototypeOf(watched.record.headers), Object.prototype, `case ${i}: prototype`);
    assert.deepEqual(wireHeaders(watched.record), headers, `case ${i}: wire list`);
  }
});

Deno.test("50 000 headers decode with a bounded amount of work per header, exactly", () => {
  const count = 50_000;
  // Mostly distinct keys (kafkajs's worst case: its object grew by one key per header), one key repeated
  // throughout, null and empty values.
  const headers: WireHeader[] = Array.from({ length: count }, (_, i) => ({
    key: i % 10 === 0 ? "dup" : `h${i}`,
    value: i % 7 === 0 ? null : i % 11 === 0 ? new Uint8Array(0) : utf8(String(i)),
  }));
  const watched = decodeWatched(headers, { refuseFold: true });
  assert.equal(watched.folds, 0);
  // One lookup, one definition and one own-property check at most per header, and hanging the wire list: a fold
  // that touched earlier keys again for each header would need count^2 / 2 here.
  assert.ok(watched.objectOps <= 3 * count + 10, `${watched.objectOps} operations for ${count} headers`);
  assert.deepEqual(wireHeaders(watched.record), headers);
  const object = watched.record.headers;
  assert.equal(Object.keys(object).length, count - count / 10 + 1);
  const dups = object.dup as (Buffer | null)[];
  assert.equal(dups.length, count / 10);
  assert.deepEqual(
    dups.map((v) => v === null ? null : v.toString()),
    headers.filter((h) => h.key === "dup")
      .map((h) => h.value === null ? null : new TextDecoder().decode(h.value)),
  );
  assert.deepEqual(object.h49999, Buffer.from("49999"));
});

Deno.test("the fold hook refuses a kafkajs whose record decoder folds its headers elsewhere", () => {
  checkHeaderFold(); // the decoder this build runs
  // Decoders whose header object does not come from the hooked list's reduce: a copy made after it, or none.
  const refolded = (d: KafkajsDecoder, c: Record<string, unknown>) => {
    const record = decodeRecord(d, c);
    return { ...record, headers: Object.fromEntries(Object.entries(record.headers)) };
  };
  const broken = () => {
    throw new TypeError("decoder.readVarIntArray(...).reduce is not a function");
  };
  for (const decoder of [refolded, broken] as Parameters<typeof checkHeaderFold>[0][]) {
    assert.throws(() => checkHeaderFold(decoder), (error: Error & { code?: string }) => {
      assert.equal(error.code, "KAFKA_INTERNALS_MISMATCH");
      assert.match(error.message, /does not fold headers through the hook: .*(wire header list|reduce)/);
      assert.match(error.message, /deno\.json/);
      return true;
    });
  }
});

Deno.test("records without headers, and a null header array, give an empty list", () => {
  assert.deepEqual(wireHeaders(decode([])), []);
  assert.deepEqual(wireHeaders(decode([], -1)), []);
});

Deno.test("each call returns a fresh array", () => {
  const record = decode(INTERLEAVED);
  const first = wireHeaders(record);
  first.pop();
  assert.equal(wireHeaders(record).length, INTERLEAVED.length);
});

Deno.test("the wire-header patch is installed once and leaves other arrays alone", () => {
  const patched = Decoder.prototype.readVarIntArray;
  installKafkajsPatches();
  assert.equal(Decoder.prototype.readVarIntArray, patched, "a second install must not wrap twice");
  const decoder = new Decoder(Buffer.from([...zigzag(2), 1, 2]));
  const list = decoder.readVarIntArray((d) => (d as { readInt8(): number }).readInt8());
  assert.deepEqual(list, [1, 2]);
  assert.equal(Object.hasOwn(list, "reduce"), false);
});

Deno.test("wireHeaders refuses a message decoded without the hook instead of guessing", () => {
  const unhooked = { headers: { a: Buffer.from("1") }, magicByte: 2 };
  assert.throws(() => wireHeaders(unhooked), (error: Error & { code?: string }) => {
    assert.equal(error.code, "KAFKA_WIRE_HEADERS_MISSING");
    assert.match(error.message, /createKafka/);
    return true;
  });
  assert.throws(() => wireHeaders({ magicByte: 2 }), { code: "KAFKA_WIRE_HEADERS_MISSING" });
  const record = decode(INTERLEAVED);
  assert.throws(() => wireHeaders({ ...record, headers: { ...record.headers } }), {
    code: "KAFKA_WIRE_HEADERS_MISSING",
  });
});

Deno.test("pre-0.11 messages (magic 0 and 1) have no headers", () => {
  assert.deepEqual(wireHeaders({ magicByte: 0 }), []);
  assert.deepEqual(wireHeaders({ magicByte: 1 }), []);
});

// ---- producing: wireMessage and the Produce request hook (the broker round trip is in restore_test.ts) ----

type ProduceBuilder = (
  args: Record<string, unknown>,
) => {
  request: { encode(): Promise<{ buf: Buffer; buffer: Buffer }> };
  response: { decode(payload: Buffer): Promise<unknown> };
};
const Produce = (kafkajsModules.requests as {
  requests: { Produce: { protocol: (o: { version: number }) => ProduceBuilder } };
}).requests.Produce;

function produceArgs(messages: unknown[]) {
  return {
    acks: -1,
    timeout: 30000,
    topicData: [{ topic: "t", partitions: [{ partition: 0, firstSequence: 0, messages }] }],
  };
}

Deno.test("the Produce patch is installed once", () => {
  const patched = Produce.protocol;
  installKafkajsPatches();
  assert.equal(Produce.protocol, patched);
});

Deno.test("wireMessage refuses what it cannot send unchanged", () => {
  const record = { key: null, value: null, headers: [], timestamp: 0n };
  assert.throws(() => wireMessage(record, -1), { code: "KAFKA_WIRE_RECORD_INVALID" });
  assert.throws(() => wireMessage(record, 1.5), { code: "KAFKA_WIRE_RECORD_INVALID" });
  assert.throws(
    () => wireMessage({ ...record, headers: [{ key: "bad\ud800", value: null }] }, 0),
    { code: "KAFKA_WIRE_RECORD_INVALID" },
  );
  const message = wireMessage({ ...record, value: utf8("v"), timestamp: 0n }, 3);
  assert.equal(message.partition, 3);
  assert.equal(message.timestamp, "0", "a string, so kafkajs's `timestamp || Date.now()` keeps 0");
  assert.deepEqual([...message.value!], [...utf8("v")]);
});

Deno.test("Produce requests: wire messages are encoded from their record; others stay kafkajs's", async () => {
  const wire = wireMessage({ key: null, value: utf8("v"), headers: INTERLEAVED, timestamp: 5n }, 0);
  const plain = { key: null, value: Buffer.from("v"), timestamp: "5", headers: {} };
  const build = Produce.protocol({ version: 7 });
  const encoded = (await build(produceArgs([wire])).request.encode()).buffer;
  // Every header key and value appears in the request in wire order (uncompressed batch).
  let at = 0;
  for (const h of INTERLEAVED) {
    const key = Buffer.from(h.key);
    const found = encoded.indexOf(key, at);
    assert.ok(found >= at, `header ${h.key} in order`);
    at = found + key.length;
  }
  await assert.rejects(build(produceArgs([wire, plain])).request.encode(), {
    code: "KAFKA_WIRE_MIXED_BATCH",
  });
  const ours = (await build(produceArgs([plain])).request.encode()).buffer;
  assert.ok(ours.length > 0, "ordinary messages are still encoded by kafkajs");
});

Deno.test("Produce requests: byte header keys are sent as is, even when not UTF-8", async () => {
  const raw = Uint8Array.of(0x5f, 0xff, 0xfe, 0x80); // not UTF-8: no string key could carry it
  const message = wireMessage({
    key: null,
    value: utf8("v"),
    headers: [{ key: raw, value: null }, { key: "named", value: utf8("1") }, { key: raw, value: utf8("2") }],
    timestamp: -1n,
  }, 0);
  const encoded = (await Produce.protocol({ version: 7 })(produceArgs([message])).request.encode()).buffer;
  // Each header is its zigzag-varint key length, the key bytes, then its value (null is length -1).
  const expected = Buffer.from([
    ...bytesField(raw),
    ...bytesField(null),
    ...bytesField(utf8("named")),
    ...bytesField(utf8("1")),
    ...bytesField(raw),
    ...bytesField(utf8("2")),
  ]);
  assert.ok(encoded.includes(expected), "the header list, byte keys unchanged, in order");
});

Deno.test("Produce requests: a consumed name that is not UTF-8 is sent as its bytes, and reads back so", async () => {
  const message = wireMessage({ key: null, value: utf8("v"), headers: RAW_NAMES, timestamp: 0n }, 0);
  const request = (await Produce.protocol({ version: 7 })(produceArgs([message])).request.encode()).buffer;
  const expected = Buffer.from(
    RAW_NAMES.flatMap((h) => [...bytesField(headerKeyBytes(h)), ...bytesField(h.value)]),
  );
  assert.ok(request.includes(expected), "the names' wire bytes, not their text");
  const decodeBatch = kafkajsModules.decodeRecordBatch as (
    decoder: unknown,
  ) => Promise<{ records: object[] }>;
  const { records } = await decodeBatch(new Decoder(request.subarray(2 + 2 + 4 + 4 + 3 + 4 + 4 + 4)));
  assert.deepEqual(wireHeaders(records[0]!), RAW_NAMES);
});

Deno.test("Produce requests: the bytes equal kafkajs's own encoding of the same records, for every codec", async () => {
  installCodecs();
  // Records kafkajs can express too (no duplicate keys, no null header values), in timestamp disorder so that the
  // batch's first and max timestamps are computed, with values long enough for multi-byte
  // varints and lengths spanning several of the CRC's 16-byte blocks.
  const value = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
  const records = [
    { key: null, value: value(0, 1), headers: [], timestamp: 1_700_000_000_500n },
    { key: utf8("k1"), value: value(200_000, 2), headers: [], timestamp: 1_700_000_000_100n },
    {
      key: utf8(""),
      value: value(37, 3),
      headers: [{ key: "_id", value: value(16, 4) }, { key: "ключ", value: utf8("ü") }, {
        key: "e",
        value: value(0, 0),
      }],
      timestamp: 1_700_000_000_900n,
    },
    {
      key: null,
      value: null,
      headers: [{ key: "_format", value: utf8("blob") }],
      timestamp: 1_700_000_000_100n,
    },
  ];
  const plain = (r: (typeof records)[number], partition: number) => ({
    partition,
    key: r.key === null ? null : Buffer.from(r.key),
    value: r.value === null ? null : Buffer.from(r.value),
    timestamp: r.timestamp.toString(),
    headers: Object.fromEntries(r.headers.map((h) => [h.key, Buffer.from(h.value)])),
  });
  const args = (make: (r: (typeof records)[number], partition: number) => unknown, compression: number) => ({
    acks: -1,
    timeout: 30000,
    transactionalId: null,
    producerId: 4711n,
    producerEpoch: 3,
    compression,
    topicData: [
      {
        topic: "first",
        partitions: [
          { partition: 0, firstSequence: 17, messages: records.map((r) => make(r, 0)) },
          { partition: 3, firstSequence: 0, messages: [make(records[2]!, 3)] },
        ],
      },
      {
        topic: "zweite",
        partitions: [{ partition: 1, firstSequence: 5, messages: records.map((r) => make(r, 1)) }],
      },
    ],
  });
  const build = Produce.protocol({ version: 7 });
  for (const codec of [0, 1, 2, 3, 4]) {
    const ours = (await build(args(wireMessage, codec)).request.encode()).buffer;
    const theirs = (await build(args(plain, codec)).request.encode()).buffer;
    assert.equal(ours.length, theirs.length, `codec ${codec}: length`);
    assert.ok(Buffer.compare(ours, theirs) === 0, `codec ${codec}: the request bytes, CRC-32C included`);
  }
});

Deno.test("Produce requests: extreme timestamps and deltas beyond 2^53 read back exactly through kafkajs", async () => {
  const stamps = [2n ** 62n, -1n, 0n, 2n ** 53n + 1n, 2n ** 62n + 2n ** 61n];
  const messages = stamps.map((timestamp, i) =>
    wireMessage({ key: null, value: utf8(`v${i}`), headers: INTERLEAVED, timestamp }, 0)
  );
  const request = (await Produce.protocol({ version: 7 })(produceArgs(messages)).request.encode()).buffer;
  // transactional_id (null), acks, timeout, topic count, topic "t", partition count, partition, record set size.
  const batchAt = 2 + 2 + 4 + 4 + 3 + 4 + 4 + 4;
  const decodeBatch = kafkajsModules.decodeRecordBatch as (decoder: unknown) => Promise<{
    records: { timestamp: string; value: Buffer; headers: object }[];
  }>;
  const { records } = await decodeBatch(new Decoder(request.subarray(batchAt)));
  assert.deepEqual(records.map((r) => r.timestamp), stamps.map(String));
  assert.deepEqual(records.map((r) => r.value.toString()), stamps.map((_, i) => `v${i}`));
  for (const r of records) assert.deepEqual(wireHeaders(r), INTERLEAVED);
});

Deno.test("Produce requests: 50 000 headers, each read a bounded number of times, read back exactly", async () => {
  installCodecs();
  const count = 50_000;
  const headers: WireHeader[] = Array.from({ length: count }, (_, i) => ({
    key: i % 10 === 0 ? "dup" : `h${i}`,
    value: i % 7 === 0 ? null : i % 11 === 0 ? new Uint8Array(0) : utf8(String(i)),
  }));
  // Every read of a header's key or value is counted: a constant number per header is linear work, whatever the
  // clock says.
  let reads = 0;
  const counted = headers.map((h) => ({
    get key() {
      reads++;
      return h.key;
    },
    get value() {
      reads++;
      return h.value;
    },
  }));
  const batchAt = 2 + 2 + 4 + 4 + 3 + 4 + 4 + 4; // as in the test of extreme timestamps above
  const decodeBatch = kafkajsModules.decodeRecordBatch as (decoder: unknown) => Promise<{
    records: { headers: object }[];
  }>;
  for (const compression of [0, 4]) { // none, zstd
    reads = 0;
    const message = wireMessage({ key: null, value: utf8("v"), headers: counted, timestamp: 1n }, 0);
    const args = { ...produceArgs([message]), compression };
    const request = (await Produce.protocol({ version: 7 })(args).request.encode()).buffer;
    assert.ok(reads <= 6 * count, `codec ${compression}: ${reads} reads of ${count} headers`);
    const { records } = await decodeBatch(new Decoder(request.subarray(batchAt)));
    assert.deepEqual(wireHeaders(records[0]!), headers, `codec ${compression}`);
  }
});

Deno.test("Produce requests: kafkajs frames our body in the room left before it, with the same bytes", async () => {
  const createRequest = kafkajsModules.createRequest as (options: {
    correlationId: number;
    clientId: string;
    request: { apiKey: number; apiVersion: number; encode(): Promise<unknown> };
  }) => Promise<{ buffer: Buffer }>;
  const message = wireMessage({
    key: null,
    value: utf8("v".repeat(1000)),
    headers: INTERLEAVED,
    timestamp: 5n,
  }, 0);
  const body = await Produce.protocol({ version: 7 })(produceArgs([message])).request.encode() as {
    buf: Buffer;
    buffer: Buffer;
    size(): number;
  };
  const copy = Buffer.from(body.buffer);
  const framed = (encode: () => Promise<unknown>) =>
    createRequest({
      correlationId: 42,
      clientId: "housekeeping-test",
      request: { apiKey: 0, apiVersion: 7, encode },
    });
  // kafkajs's own path, for a body without room: copied into fresh encoders.
  const expected = (await framed(() => Promise.resolve({ buf: copy, buffer: copy, size: () => copy.length })))
    .buffer;
  const first = (await framed(() => Promise.resolve(body))).buffer;
  assert.ok(Buffer.compare(first, expected) === 0, "the framed request, bytes unchanged");
  assert.equal(first.buffer, body.buf.buffer, "framed in place: the body was not copied");
  assert.ok(Buffer.compare(body.buffer, copy) === 0, "the body itself is untouched");
  // The room is used once; framing the same body again takes kafkajs's copying path and leaves the first intact.
  const second = (await framed(() => Promise.resolve(body))).buffer;
  assert.ok(Buffer.compare(second, expected) === 0);
  assert.notEqual(second.buffer, body.buf.buffer);
  assert.ok(Buffer.compare(first, expected) === 0);
  // A client id longer than the room: kafkajs's path, same layout.
  const long = "c".repeat(300);
  const framedLong = await createRequest({
    correlationId: 1,
    clientId: long,
    request: {
      apiKey: 0,
      apiVersion: 7,
      encode: () => Produce.protocol({ version: 7 })(produceArgs([message])).request.encode(),
    },
  });
  assert.equal(framedLong.buffer.readInt32BE(0), framedLong.buffer.length - 4);
  assert.ok(framedLong.buffer.subarray(framedLong.buffer.length - copy.length).equals(copy));
});

Deno.test("Produce requests: a request's buffer is reused only once the broker answered that request", async () => {
  const value = new Uint8Array(100_000).fill(7);
  const build = Produce.protocol({ version: 7 });
  const request = () =>
    build(produceArgs([wireMessage({ key: null, value, headers: [], timestamp: 1n }, 0)]));
  const first = request();
  const encodedFirst = await first.request.encode();
  const bytes = Buffer.from(encodedFirst.buffer);
  const second = request();
  const encodedSecond = await second.request.encode();
  assert.notEqual(encodedSecond.buf.buffer, encodedFirst.buf.buffer, "unanswered: never shared");
  // The answer to the first request (its content does not matter here) frees its buffer for the next request.
  await first.response.decode(Buffer.alloc(4)).catch(() => {});
  const third = request();
  const encodedThird = await third.request.encode();
  assert.equal(encodedThird.buf.buffer, encodedFirst.buf.buffer, "answered: reused");
  assert.ok(Buffer.compare(encodedThird.buffer, bytes) === 0, "and written in full");
  // A request encoded twice (kafkajs does not) never gives a buffer back: which encoding was answered is unknown.
  const twice = request();
  await twice.request.encode();
  const again = await twice.request.encode();
  await twice.response.decode(Buffer.alloc(4)).catch(() => {});
  const fourth = request();
  const encodedFourth = await fourth.request.encode();
  assert.notEqual(encodedFourth.buf.buffer, again.buf.buffer);
});

Deno.test("the kafkajs patches refuse any kafkajs but the one they were written for", () => {
  checkKafkajsVersion(); // the kafkajs this build runs
  assert.throws(() => checkKafkajsVersion("2.2.5"), (error: Error & { code?: string }) => {
    assert.equal(error.code, "KAFKA_INTERNALS_MISMATCH");
    assert.match(error.message, /kafkajs is version 2\.2\.5, not 2\.2\.4.*deno\.json/);
    return true;
  });
});
