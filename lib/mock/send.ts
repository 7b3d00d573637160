// Sending mock records: topics created when missing, batches produced byte-exact (wireMessage in kafka/wire_headers.ts)
// through one idempotent kafkajs producer, and each record's offset taken from the broker's produce response.
import { type Admin, CompressionTypes, type Kafka, type Producer } from "kafkajs";
import { errorMessage, hkError } from "../runtime/errors.ts";
import { installKafkajsPatches } from "../kafka/kafkajs_internals.ts";
import { wireMessage } from "../kafka/wire_headers.ts";
import type { Logger } from "../runtime/log.ts";
import { sleep } from "../runtime/retry.ts";
import type { Compression, MockRecord } from "./types.ts";

const KAFKA_COMPRESSION: Readonly<Record<Compression, CompressionTypes>> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

const LONG_MAX = "9223372036854775807";

/**
 * Topic settings mock-hop needs: any timestamp (Kafka 4 refuses timestamps more than an hour ahead by default,
 * and the far-future case is 9999), values up to the multi-MiB cap plus batch overhead, and no time-based
 * retention: a record stamped 1970 starts a log segment of its own (Kafka rolls a segment whose first timestamp is
 * older than segment.ms), and the next retention check (every 5 minutes) deletes that segment, so the record
 * would vanish before an archiver that is busy elsewhere reads it.
 */
export function topicConfig(maxValueBytes: number): Array<{ name: string; value: string }> {
  return [
    { name: "message.timestamp.after.max.ms", value: LONG_MAX },
    { name: "message.timestamp.before.max.ms", value: LONG_MAX },
    { name: "retention.ms", value: "-1" },
    { name: "max.message.bytes", value: String(maxValueBytes + 1024 * 1024) },
  ];
}

const LEADER_WAIT_MS = 60_000;

async function waitForLeaders(admin: Admin, topics: string[]): Promise<void> {
  const deadline = Date.now() + LEADER_WAIT_MS;
  for (;;) {
    try {
      const metadata = await admin.fetchTopicMetadata({ topics });
      if (metadata.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) {
        return;
      }
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
    if (Date.now() > deadline) {
      throw hkError(
        "MOCK_TOPICS_NOT_READY",
        `topics ${topics.join(", ")} have no leaders ${
          LEADER_WAIT_MS / 1000
        } s after creation; check the broker`,
      );
    }
    await sleep(500);
  }
}

export interface TopicKeeper {
  /** Creates the topics of `names` that do not exist yet; checks that existing ones have enough partitions. */
  ensure(names: Iterable<string>): Promise<string[]>;
}

export function createTopicKeeper(
  admin: Admin,
  partitions: number,
  maxValueBytes: number,
  log: Logger,
): TopicKeeper {
  const ready = new Set<string>();
  return {
    async ensure(names) {
      const wanted = [...new Set(names)].filter((t) => !ready.has(t));
      if (wanted.length === 0) return [];
      const existing = new Set(await admin.listTopics());
      const missing = wanted.filter((t) => !existing.has(t));
      if (missing.length > 0) {
        try {
          await admin.createTopics({
            topics: missing.map((topic) => ({
              topic,
              numPartitions: partitions,
              configEntries: topicConfig(maxValueBytes),
            })),
            waitForLeaders: true,
          });
        } catch (e) {
          // kafkajs's wait for the new topics' leaders gives up on UNKNOWN_TOPIC_OR_PARTITION, which a busy broker
          // still answers for a moment after creating them: the topics exist, so wait for their leaders here.
          if ((e as { type?: string }).type !== "UNKNOWN_TOPIC_OR_PARTITION") throw e;
          await waitForLeaders(admin, missing);
        }
        log.info("created topics", { topics: missing, partitions });
      }
      const present = wanted.filter((t) => existing.has(t));
      if (present.length > 0) {
        const { topics } = await admin.fetchTopicMetadata({ topics: present });
        for (const { name, partitions: found } of topics) {
          if (found.length < partitions) {
            throw hkError(
              "MOCK_TOPIC_PARTITIONS",
              `topic ${name} exists with ${found.length} partition(s), fewer than --partitions ${partitions}; use ` +
                `--partitions ${found.length}, another --topic-prefix, or delete the topic`,
            );
          }
        }
      }
      wanted.forEach((t) => ready.add(t));
      return missing;
    },
  };
}

export interface MockSender {
  /**
   * Sends `batch` (records of one compression, in stream order) in one produce request and resolves with each
   * record's offset: the partition's base offset from the response plus the record's position in it.
   */
  send(batch: readonly MockRecord[]): Promise<Map<MockRecord, bigint>>;
  close(): Promise<void>;
}

function sendError(batch: readonly MockRecord[], error: unknown): Error {
  const message = errorMessage(error);
  const cases = [...new Set(batch.map((r) => r.case))].join(", ");
  let hint = "check the broker and the credential's write permission on the topics";
  if (/timestamp/i.test(message)) {
    hint =
      "the topic refuses some timestamps: let mock-hop create its topics (new --topic-prefix) or raise " +
      "message.timestamp.after.max.ms / before.max.ms on them, or leave out the timestamp-* cases";
  } else if (/too large|size/i.test(message)) {
    hint =
      "a record exceeds the topic's max.message.bytes: lower --max-value-mib or let mock-hop create its topics";
  } else if (/authoriz/i.test(message)) hint = "the credential may not write these topics: check its ACLs";
  return hkError(
    "MOCK_SEND_FAILED",
    `cannot send ${batch.length} record(s) (cases: ${cases}): ${message}; ${hint}`,
    {
      cause: error,
      retriable: (error as { retriable?: unknown }).retriable === true,
    },
  );
}

export async function createMockSender(kafka: Kafka, log: Logger): Promise<MockSender> {
  installKafkajsPatches(); // createKafka installs them already; idempotent
  // Idempotent: a retried request cannot duplicate records, so every duplicate in the topic is one we meant.
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  const nextOffset = new Map<string, bigint>();
  return {
    async send(batch) {
      const compression = batch[0]?.compression;
      if (compression === undefined) return new Map();
      if (batch.some((r) => r.compression !== compression)) {
        throw hkError("MOCK_INTERNAL", "a batch mixes compressions; please report this bug");
      }
      const byTopic = new Map<string, MockRecord[]>();
      for (const r of batch) byTopic.set(r.topic, [...(byTopic.get(r.topic) ?? []), r]);
      let response;
      try {
        response = await producer.sendBatch({
          acks: -1,
          compression: KAFKA_COMPRESSION[compression],
          topicMessages: [...byTopic].map(([topic, records]) => ({
            topic,
            messages: records.map((r) => wireMessage(r, r.partition)),
          })),
        });
      } catch (e) {
        throw sendError(batch, e);
      }
      const base = new Map(
        response.map((p) => [`${p.topicName}\0${p.partition}`, BigInt(p.baseOffset ?? "-1")]),
      );
      const offsets = new Map<MockRecord, bigint>();
      const seen = new Map<string, bigint>();
      for (const r of batch) {
        const key = `${r.topic}\0${r.partition}`;
        const first = base.get(key);
        if (first === undefined || first < 0n) {
          throw hkError(
            "MOCK_SEND_FAILED",
            `the broker's response names no offset for ${r.topic}[${r.partition}]`,
          );
        }
        const index = seen.get(key) ?? 0n;
        seen.set(key, index + 1n);
        offsets.set(r, first + index);
      }
      for (const [key, count] of seen) {
        const first = base.get(key)!;
        const expected = nextOffset.get(key);
        if (expected !== undefined && expected !== first) {
          const [topic, partition] = key.split("\0");
          log.warn("another producer writes to this partition too; offsets are still exact", {
            topic,
            partition,
            expected: expected.toString(),
            got: first.toString(),
          });
        }
        nextOffset.set(key, first + count);
      }
      return offsets;
    },
    close: () => producer.disconnect(),
  };
}
