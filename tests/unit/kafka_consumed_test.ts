// A consumed record's timestamp and offset are what Java's consumer computes: first timestamp (offset) plus the
// record's delta as a two's-complement long (issue 21: -1 and 2^63-1 in one batch stopped the archive).
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { toKafkaRecord } from "../../lib/archive/consumer.ts";
import { javaVarlong, messageOffset, messageTimestamp } from "../../lib/kafka/consumed.ts";
import { installKafkajsPatches, kafkajsModules } from "../../lib/kafka/kafkajs_internals.ts";
import { wireMessage } from "../../lib/kafka/wire_headers.ts";

installKafkajsPatches();

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

type KafkajsMessage = Parameters<typeof toKafkaRecord>[2];
const Decoder = kafkajsModules.Decoder as { new (buffer: Buffer): object };
const decodeRecord = kafkajsModules.decodeRecord as (decoder: object, context: object) => KafkajsMessage;
const decodeRecordBatch = kafkajsModules.decodeRecordBatch as (decoder: object) => Promise<{
  records: KafkajsMessage[];
}>;

/** Unsigned LEB128 of `raw` (any size): a varlong's bytes, ten at most for Java and kafkajs alike. */
function varlongBytes(raw: bigint): number[] {
  const out: number[] = [];
  for (let v = raw;; v >>= 7n) {
    if (v < 0x80n) return [...out, Number(v)];
    out.push(Number(v & 0x7fn) | 0x80);
  }
}

const zigzag64 = (n: bigint) => BigInt.asUintN(64, (n << 1n) ^ (n >> 63n));

/** Java's DefaultRecord: the low 64 bits of the raw varlong, zigzag-decoded, added to the first timestamp as longs. */
function javaTimestamp(first: bigint, raw: bigint): bigint {
  const low = BigInt.asUintN(64, raw);
  const delta = BigInt.asIntN(64, (low >> 1n) ^ -(low & 1n));
  return BigInt.asIntN(64, first + delta);
}

/** A record decoded by kafkajs's own decoder, its timestamp delta the varlong `raw`, in a batch of these fields. */
function decoded(raw: bigint, batch: Record<string, string | number>): KafkajsMessage {
  // attributes, timestamp delta, offset delta 0, key and value null, no headers.
  const body = Buffer.from([0, ...varlongBytes(raw), 0, 1, 1, 0]);
  return decodeRecord(new Decoder(body), { magicByte: 2, timestampType: 0, firstOffset: "0", ...batch });
}

Deno.test("timestamps: first timestamp plus delta wraps as a Java long, for every extreme", () => {
  const cases: [bigint, bigint][] = [
    [-1n, INT64_MIN], // the issue: -1 then 2^63-1, the producer's delta wrapped to -2^63
    [-1n, -1n],
    [INT64_MAX, 1n],
    [INT64_MIN, -1n],
    [INT64_MIN, INT64_MAX],
    [INT64_MAX, INT64_MIN],
    [0n, INT64_MIN],
    [1_750_000_000_000n, 0n],
    [1_750_000_000_000n, -1_750_000_000_001n],
    [253402300800000n, 2n ** 53n + 1n],
  ];
  for (const [first, delta] of cases) {
    const raw = zigzag64(delta);
    const m = decoded(raw, { firstTimestamp: first.toString() });
    const expected = javaTimestamp(first, raw);
    assert.equal(messageTimestamp(m), expected, `first ${first} delta ${delta}`);
    assert.ok(expected >= INT64_MIN && expected <= INT64_MAX);
  }
  assert.equal(messageTimestamp(decoded(zigzag64(INT64_MIN), { firstTimestamp: "-1" })), INT64_MAX);
});

Deno.test("timestamps: a ten-byte varlong keeps its low 64 bits, as Java reads it", () => {
  // Bits 64-69 of the raw value (in the tenth byte) are what Java's shift drops and kafkajs's BigInt keeps.
  for (const high of [1n, 2n, 3n, 0x3fn]) {
    for (const low of [0n, 1n, 2n ** 63n, 2n ** 64n - 1n, 12345n]) {
      const raw = (high << 64n) | low;
      for (const first of [-1n, 0n, INT64_MAX, INT64_MIN]) {
        const m = decoded(raw, { firstTimestamp: first.toString() });
        assert.equal(messageTimestamp(m), javaTimestamp(first, raw), `raw ${raw} first ${first}`);
      }
    }
  }
  // Within 64 bits, Java's value is kafkajs's: javaVarlong changes nothing.
  for (const n of [0n, -1n, 1n, INT64_MIN, INT64_MAX]) assert.equal(javaVarlong(n), n);
});

Deno.test("timestamps: LogAppendTime is the batch's max timestamp, whatever the delta", () => {
  for (const max of [INT64_MIN, -1n, 0n, INT64_MAX]) {
    const m = decoded(zigzag64(INT64_MIN), {
      firstTimestamp: "5",
      maxTimestamp: max.toString(),
      timestampType: 1,
    });
    assert.equal(messageTimestamp(m), max);
  }
});

Deno.test("offsets: the first offset plus the delta, as a Java long; magic 0 and 1 as given", () => {
  const body = Buffer.from([0, 0, 2 * 3, 1, 1, 0]); // offset delta 3
  const m = decodeRecord(new Decoder(body), {
    magicByte: 2,
    firstOffset: (INT64_MAX - 1n).toString(),
    firstTimestamp: "0",
  });
  assert.equal(messageOffset(m), INT64_MIN + 1n);
  assert.equal(messageOffset({ offset: "42", timestamp: "-1" }), 42n);
  assert.equal(messageTimestamp({ offset: "42", timestamp: "-1" }), -1n);
});

Deno.test("a batch of records 2^63 apart, as our Produce encoder writes it, becomes exact records", async () => {
  const Produce = (kafkajsModules.requests as {
    requests: {
      Produce: {
        protocol: (
          o: { version: number },
        ) => (a: unknown) => { request: { encode(): Promise<{ buffer: Buffer }> } };
      };
    };
  }).requests.Produce;
  const stamps = [-1n, INT64_MAX, INT64_MIN, 0n, 253402300800000n];
  const messages = stamps.map((timestamp, i) =>
    wireMessage({ key: null, value: Uint8Array.of(i), headers: [], timestamp }, 0)
  );
  const request = await Produce.protocol({ version: 7 })({
    acks: -1,
    timeout: 30000,
    topicData: [{ topic: "t", partitions: [{ partition: 0, firstSequence: 0, messages }] }],
  }).request.encode();
  const { records } = await decodeRecordBatch(
    new Decoder(request.buffer.subarray(2 + 2 + 4 + 4 + 3 + 4 + 4 + 4)),
  );
  const got = records.map((m) => toKafkaRecord("t", 0, m));
  assert.deepEqual(got.map((r) => r.timestamp), stamps);
  assert.deepEqual(got.map((r) => r.offset), [0n, 1n, 2n, 3n, 4n]);
});
