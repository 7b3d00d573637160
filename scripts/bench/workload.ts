// What the benchmark archives: per message size, a fresh topic of hop-client-like records (random 16-byte `_id`,
// `_sender`, `_format`), produced once with kafkajs and then read by every phase.
import { Buffer } from "node:buffer";
import type { Kafka } from "kafkajs";
import type { KafkaRecord } from "../../lib/format/record.ts";
import { MiB, note } from "./report.ts";

export interface Size {
  /** As it appears in figure names: 1KiB, 64KiB, 1MiB. */
  label: string;
  /** Value bytes of every record. */
  bytes: number;
  /** Records at BENCH_SCALE=1: chosen so that each phase runs for 5-15 s on a 2-core machine. */
  count: number;
}

export const SIZES: readonly Size[] = [
  { label: "1KiB", bytes: 1024, count: 6_000 },
  { label: "64KiB", bytes: 64 * 1024, count: 4_000 },
  { label: "1MiB", bytes: MiB, count: 800 },
];

/** Partitions of every benchmark topic: the archiver consumes several partitions at once. */
export const PARTITIONS = 4;

// The topics must take 1 MiB records plus their batch framing; the broker's own limit is higher.
const MAX_MESSAGE_BYTES = 8 * MiB;

export async function createTopics(kafka: Kafka, topics: string[], maxMessageBytes = MAX_MESSAGE_BYTES) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: topics.map((topic) => ({
        topic,
        numPartitions: PARTITIONS,
        configEntries: [{ name: "max.message.bytes", value: String(maxMessageBytes) }],
      })),
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
}

const encoder = new TextEncoder();
const SENDER = encoder.encode("hkbench");
const FORMAT = encoder.encode("blob");

/** Random bytes of any length (getRandomValues fills at most 64 KiB per call). */
export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(length, i + 65536)));
  }
  return out;
}

/**
 * The value of record `i`: one random block per size with the index stamped into its first bytes, so that every
 * record is distinct content (no receipts) without generating megabytes of randomness per record.
 */
function makeValue(base: Uint8Array, i: number): Uint8Array {
  const value = base.slice();
  new DataView(value.buffer).setFloat64(0, i);
  return value;
}

export function baseValue(size: Size): Uint8Array {
  return randomBytes(Math.max(size.bytes, 8));
}

/** Record `i` as the archiver would see it (for encoding objects of the real shape outside Kafka). */
export function sampleRecord(topic: string, base: Uint8Array, i: number): KafkaRecord {
  return {
    topic,
    partition: i % PARTITIONS,
    offset: BigInt(Math.floor(i / PARTITIONS)),
    timestamp: BigInt(Date.now()),
    timestampType: "CreateTime",
    key: null,
    value: makeValue(base, i),
    headers: [
      { key: "_id", value: randomBytes(16) },
      { key: "_sender", value: SENDER },
      { key: "_format", value: FORMAT },
    ],
  };
}

// One produce request stays well under the broker's request limit while amortising its round trip.
const PRODUCE_BATCH_BYTES = 4 * MiB;

/** Produces `count` records of `size` round-robin over the partitions, acknowledged by all replicas. */
export async function produce(kafka: Kafka, topic: string, size: Size, count: number): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const started = performance.now();
  try {
    const base = baseValue(size);
    const perBatch = Math.max(1, Math.floor(PRODUCE_BATCH_BYTES / size.bytes));
    for (let first = 0; first < count; first += perBatch) {
      const messages = [];
      for (let i = first; i < Math.min(count, first + perBatch); i++) {
        const r = sampleRecord(topic, base, i);
        messages.push({
          partition: r.partition,
          value: Buffer.from(r.value!.buffer),
          headers: Object.fromEntries(r.headers.map((h) => [h.key, Buffer.from(h.value!)])),
        });
      }
      await producer.send({ topic, messages, acks: -1 });
    }
  } finally {
    await producer.disconnect();
  }
  note(
    `produced ${count} x ${size.label} into ${topic} in ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s`,
  );
}
