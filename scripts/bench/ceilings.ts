// The ceilings the archiver and restore are measured against: what kafkajs alone delivers with the archiver's
// consumer settings, and what the project's S3 store (same SDK, same keep-alive agent) PUTs and GETs at the
// concurrency the commands use. Each does the bare operation and nothing else.
import type { Kafka } from "kafkajs";
import { CONSUMER_OPTIONS } from "../../lib/archive/consumer.ts";
import { crc32 } from "../../lib/format/checksum.ts";
import { objectKey } from "../../lib/format/keys.ts";
import { encodeArchiveObject } from "../../lib/format/record.ts";
import type { BlobStore } from "../../lib/store/types.ts";
import { deadline } from "./child.ts";
import { cpuSeconds } from "./proc.ts";
import type { Rate } from "./report.ts";
import { baseValue, sampleRecord, type Size } from "./workload.ts";

/** Runs task(0) .. task(count - 1) on `workers` concurrent loops. */
async function runPool(
  count: number,
  workers: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const loop = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(workers, count) }, loop));
}

/** Times `work` (wall and this process's CPU) as a rate over `records` records of `size`. */
async function timed(records: number, size: Size, work: () => Promise<void>): Promise<Rate> {
  const cpu = cpuSeconds("self")!;
  const started = performance.now();
  await work();
  return {
    records,
    valueBytes: records * size.bytes,
    seconds: (performance.now() - started) / 1000,
    cpuSeconds: cpuSeconds("self")! - cpu,
  };
}

/** How a command bounds its concurrent object requests: by slots and by bytes in flight. */
export interface Limits {
  slots: number;
  inflightBytes: number;
}

/** Loops that keep as many requests in flight as the command would for objects of `objectBytes`. */
function concurrency(limits: Limits, objectBytes: number): number {
  return Math.max(1, Math.min(limits.slots, Math.floor(limits.inflightBytes / objectBytes)));
}

/**
 * Consume-only: every record of `topic` through kafkajs with the archiver's consumer settings, doing nothing with
 * them. Timed from joining the group (as the archive run is) to the last record.
 */
export async function consumeCeiling(
  kafka: Kafka,
  topic: string,
  groupId: string,
  count: number,
  size: Size,
  partitionsConcurrency: number,
  timeoutSeconds: number,
): Promise<Rate> {
  const consumer = kafka.consumer({ groupId, ...CONSUMER_OPTIONS });
  let joined: { at: number; cpu: number } | undefined;
  consumer.on(
    consumer.events.GROUP_JOIN,
    () => joined ??= { at: performance.now(), cpu: cpuSeconds("self")! },
  );
  let seen = 0;
  let finish!: (end: { at: number; cpu: number }) => void;
  const finished = new Promise<{ at: number; cpu: number }>((resolve) => finish = resolve);
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: partitionsConcurrency,
      eachBatch: ({ batch }) => {
        seen += batch.messages.length;
        if (seen >= count) finish({ at: performance.now(), cpu: cpuSeconds("self")! });
        return Promise.resolve();
      },
    });
    const end = await deadline(`consuming ${topic}`, finished, timeoutSeconds);
    return {
      records: count,
      valueBytes: count * size.bytes,
      seconds: (end.at - joined!.at) / 1000,
      cpuSeconds: end.cpu - joined!.cpu,
    };
  } finally {
    await consumer.disconnect();
  }
}

// Distinct objects cycled through by the PUT ceiling: as many as can be in flight, so no two concurrent PUTs send
// the same buffer, without holding `count` encoded objects in memory.
const PUT_POOL = 64;

/**
 * PUT ceiling: `count` real archive objects of `size` (encoded like the archiver encodes them, checksums computed
 * beforehand) written under fresh keys through `store` at the concurrency `limits` allow.
 */
export async function putCeiling(
  store: BlobStore,
  topic: string,
  size: Size,
  count: number,
  limits: Limits,
): Promise<Rate> {
  const base = baseValue(size);
  const stamp = { archivedAt: BigInt(Date.now()), archiverVersion: "bench" };
  const objects = Array.from({ length: Math.min(PUT_POOL, count) }, (_, i) => {
    const uuid = crypto.randomUUID();
    const bytes = encodeArchiveObject(sampleRecord(topic, base, i), { uuid, isClientUuid: true }, stamp);
    return { bytes, crc32: crc32(bytes) };
  });
  const keys = Array.from(
    { length: count },
    () => objectKey("daily", topic, stamp.archivedAt, crypto.randomUUID()),
  );
  return await timed(
    count,
    size,
    () =>
      runPool(count, concurrency(limits, objects[0]!.bytes.length), async (i) => {
        const object = objects[i % objects.length]!;
        await store.put(keys[i]!, object.bytes, object.crc32);
      }),
  );
}

/** GET ceiling: `objects` read through `store` at the concurrency `limits` allow. */
export async function getCeiling(
  store: BlobStore,
  objects: { key: string; size: number }[],
  size: Size,
  limits: Limits,
): Promise<Rate> {
  return await timed(
    objects.length,
    size,
    () =>
      runPool(objects.length, concurrency(limits, objects[0]!.size), async (i) => {
        const { key } = objects[i]!;
        if ((await store.get(key)) === null) throw new Error(`object ${key} is missing`);
      }),
  );
}
