// What the property suite (fuzz_records_test.ts) found, end to end on the real broker (issue 21): one batch whose
// timestamps lie more than 2^63 apart, and header names that are not UTF-8, produced exactly, archived by the real
// `archive --until-end`, checked by `verify`, restored by the real `restore` and read back: nothing a producer
// writes may stop the archive, and no byte may change.
import assert from "node:assert/strict";
import type { Kafka } from "kafkajs";
import { toKafkaRecord } from "../../lib/archive/consumer.ts";
import { decodeArchiveObject } from "../../lib/format/record.ts";
import { headerKeyBytes, type WireHeader } from "../../lib/format/types.ts";
import { createKafka } from "../../lib/kafka/client.ts";
import { wireMessage, type WireRecord } from "../../lib/kafka/wire_headers.ts";
import { silentLogger } from "../../lib/runtime/log.ts";
import { openStore } from "../../lib/store/open.ts";
import { runMain, schemaSql, withArchiveScenario } from "../support/archive_helpers.ts";
import { consumeUntil, runPython, serviceEnv, uniqueName } from "../support/helpers.ts";

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const utf8 = (text: string) => new TextEncoder().encode(text);
const lossy = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const raw = (...bytes: number[]): WireHeader => {
  const keyBytes = Uint8Array.from(bytes);
  return { key: lossy(keyBytes), keyBytes, value: utf8("x") };
};

// One batch, in this order: -1 then 2^63-1 (the producer's delta wraps to -2^63: it stopped the archive), the
// extremes, and dates past year 9999 (the key layout files those under 0000/00/00).
const STAMPS = [-1n, INT64_MAX, INT64_MIN, 0n, 253402300800000n, 8_640_000_000_000_001n, 1_750_000_000_000n];
type Sent = WireRecord & { headers: WireHeader[] };
const record = (timestamp: bigint, headers: WireHeader[], value = utf8("v")): Sent => ({
  key: null,
  value,
  headers,
  timestamp,
});
const TIMES: Sent[] = STAMPS.map((t, i) => record(t, [], utf8(`t${i}`)));
// Names that are not UTF-8 (the fuzz suite's 04 9d 4d among them), and two records that differ only in such a
// name, which kafkajs reads as the same text: before, the second was taken for a copy of the first and dropped.
const NAMES: Sent[] = [
  record(1_750_000_000_000n, [
    raw(0x04, 0x9d, 0x4d),
    { key: "_format", value: utf8("blob") },
    raw(0x78, 0xff, 0xfe),
  ]),
  record(1_750_000_000_001n, [raw(0xff)]),
  record(1_750_000_000_001n, [raw(0xfe)]),
];

const kafkaClient = () =>
  createKafka({
    brokers: [serviceEnv("KAFKA_BROKERS")],
    clientId: "wire-exact",
    securityProtocol: "PLAINTEXT",
  }, silentLogger);

/** One produce request (one batch) per topic, records exactly as given. */
async function produce(kafka: Kafka, topic: string, records: WireRecord[]): Promise<void> {
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: records.map((r) => wireMessage(r, 0)) as never });
  } finally {
    await producer.disconnect();
  }
}

/** Every record of `topic` as the archiver reads it (toKafkaRecord), in offset order. */
async function readBack(kafka: Kafka, topic: string, count: number) {
  const consumer = kafka.consumer({ groupId: uniqueName(`${topic}-read`), maxWaitTimeInMs: 100 });
  const out: ReturnType<typeof toKafkaRecord>[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumeUntil(consumer, 60, () => `${out.length}/${count}`, ({ partition, message }) => {
      out.push(toKafkaRecord(topic, partition, message));
      return out.length >= count;
    });
  } finally {
    await consumer.disconnect();
  }
  return out.sort((a, b) => Number(a.offset - b.offset));
}

function assertSame(got: ReturnType<typeof toKafkaRecord>[], sent: Sent[], where: string): void {
  assert.equal(got.length, sent.length, where);
  got.forEach((r, i) => {
    assert.equal(r.timestamp, sent[i]!.timestamp, `${where} #${i}: timestamp`);
    assert.deepEqual(r.value, sent[i]!.value, `${where} #${i}: value`);
    assert.deepEqual(
      r.headers.map(headerKeyBytes),
      sent[i]!.headers.map(headerKeyBytes),
      `${where} #${i}: names`,
    );
    assert.deepEqual(r.headers, sent[i]!.headers, `${where} #${i}: headers`);
  });
}

/**
 * Updating and deleting rows of the first and last day an int64 holds recounts topic_days without leaving int8
 * (migration 7): the summary equals a count of the rows, and empties with them.
 */
async function assertDaysRecount(schema: string, topic: string): Promise<void> {
  const sql = schemaSql(schema);
  const days = () =>
    sql<{ day: string; messages: string; earliest: string; latest: string }[]>`
      SELECT day::text, messages::text, earliest::text, latest::text FROM topic_days WHERE topic = ${topic}
      ORDER BY day`;
  try {
    const inserted = await days();
    assert.equal(inserted.reduce((n, d) => n + Number(d.messages), 0), STAMPS.length);
    await sql`UPDATE messages SET sender = sender WHERE topic = ${topic}`;
    assert.deepEqual(await days(), inserted, "recounted after an update");
    await sql`DELETE FROM messages WHERE topic = ${topic} AND timestamp IN (${INT64_MIN.toString()}, ${INT64_MAX.toString()})`;
    const left = await days();
    assert.equal(
      left.reduce((n, d) => n + Number(d.messages), 0),
      STAMPS.length - 2,
      "recounted after a delete",
    );
    assert.ok(left.every((d) => d.earliest !== INT64_MIN.toString() && d.latest !== INT64_MAX.toString()));
  } finally {
    await sql.end();
  }
}

Deno.test("a batch 2^63 apart and non-UTF-8 header names: archived, verified and restored exactly", async () => {
  await withArchiveScenario("wirex", { topics: ["times", "names"] }, async (s) => {
    const kafka = kafkaClient();
    const [times, names] = s.topics as [string, string];
    await produce(kafka, times, TIMES);
    await produce(kafka, names, NAMES);
    // The broker took them as sent, and kafkajs (with our patches) reads them as Java's consumer would.
    assertSame(await readBack(kafka, times, TIMES.length), TIMES, "consumed");
    assertSame(await readBack(kafka, names, NAMES.length), NAMES, "consumed");

    const archive = await runMain(["archive", "--until-end", ...s.flags], s.env);
    assert.equal(archive.code, 0, archive.stderr);

    const sql = schemaSql(s.schema);
    const rows = await sql<{ topic: string; offset: bigint; timestamp: bigint; key: string }[]>`
      SELECT topic, "offset", timestamp, key FROM messages ORDER BY topic, "offset"`.finally(() => sql.end());
    const store = await openStore(s.storeUrl);
    try {
      for (const [topic, sent] of [[times, TIMES], [names, NAMES]] as const) {
        const mine = rows.filter((r) => r.topic === topic);
        assert.equal(mine.length, sent.length, `${topic}: every record archived, none taken for a copy`);
        for (const [i, row] of mine.entries()) {
          assert.equal(row.timestamp, sent[i]!.timestamp, `${topic} #${i}: indexed timestamp`);
          const t = sent[i]!.timestamp;
          if (t < 0n || t > 253402300799999n) {
            assert.match(row.key, /\/0000\/00\/00\//, `${topic} #${i}: key`);
          }
          const object = decodeArchiveObject((await store.get(row.key))!);
          assert.equal(object.timestamp, t, `${topic} #${i}: stored timestamp`);
          assert.deepEqual(object.headers, sent[i]!.headers, `${topic} #${i}: stored headers`);
        }
      }
    } finally {
      store.close();
    }

    const verify = await runMain(["verify", ...s.flags], s.env);
    assert.equal(verify.code, 0, `${verify.stdout}\n${verify.stderr}`);

    for (const [topic, sent] of [[times, TIMES], [names, NAMES]] as const) {
      const target = `${topic}-back`;
      const restore = await runMain(
        [
          "restore",
          ...s.flags,
          "--progress",
          "none",
          "--topic",
          topic,
          "--rename",
          `${topic}=${target}`,
          "--create-topics",
          // Nothing archives this test's topics after the one run above.
          "--allow-loop",
        ],
        s.env,
      );
      assert.equal(restore.code, 0, restore.stderr);
      assertSame(await readBack(kafka, target, sent.length), sent, `restored ${topic}`);
    }
    // librdkafka (hop-client's client) reads the restored timestamps as sent. (Its Python binding cannot hand out
    // a header name that is not UTF-8 at all: Message.headers() raises, so names are checked through kafkajs above.)
    const peer = await runPython("peer_consume.py", [serviceEnv("KAFKA_BROKERS"), `${times}-back`, "7"]);
    // Read as text: JSON numbers in JavaScript lose int64 precision.
    const stamps = [...peer.matchAll(/"timestamp": (-?\d+)/g)].map((m) => BigInt(m[1]!));
    assert.deepEqual(stamps, STAMPS);
    // Last: it deletes index rows.
    await assertDaysRecount(s.schema, times);
  });
});
