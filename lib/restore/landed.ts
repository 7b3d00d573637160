// Exactly once across a hard kill. The target may have acknowledged a produce request that the checkpoint does not
// record yet (the restore was killed between the two); resuming from the checkpoint would send those records again.
// So the checkpoint also keeps, per target partition, the end offset right after the last acknowledged request
// (TargetEnds). On resume, whatever the target holds beyond those offsets is read back, and the next records of the
// restore that are found there, in order, are counted as sent instead of being sent again.
//
// Why matching in order is enough: records go to a partition strictly in restore order and a partition appends a
// produce request's batch whole or not at all, so the records of ours that landed unrecorded in a partition are the
// next ones the resumed restore would send there. Records from other producers may lie between them and are
// stepped over; once one of our records is not found, nothing after it in that partition can have landed.
import type { Admin, Kafka, KafkaMessage } from "kafkajs";
import { hkError } from "../runtime/errors.ts";
import { messageOffset, messageTimestamp } from "../kafka/consumed.ts";
import { type RawWireHeader, wireHeaders } from "../kafka/wire_headers.ts";
import type { Logger } from "../runtime/log.ts";
import { headerKeyBytes, type WireHeader } from "../format/types.ts";
import { sleep } from "../runtime/retry.ts";

/** topic -> partition -> end offset (decimal string, as Kafka's admin API gives offsets). */
export type TargetEnds = Record<string, Record<string, string>>;

export interface LandedRecord {
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: ReadonlyArray<WireHeader | RawWireHeader>;
  timestamp: bigint;
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// The name's wire bytes: a restored record may carry a key as bytes, one read back as text (with keyBytes when it
// is not UTF-8).
const headerKey = (h: WireHeader | RawWireHeader) =>
  typeof h.key === "string" ? headerKeyBytes(h as WireHeader) : h.key;

/** The same record as Kafka stores it: timestamp, key, value and the header list in order. */
export function sameRecord(a: LandedRecord, b: LandedRecord): boolean {
  if (a.timestamp !== b.timestamp || a.headers.length !== b.headers.length) return false;
  if (!sameBytes(a.key, b.key) || !sameBytes(a.value, b.value)) return false;
  return a.headers.every((h, i) => {
    const other = b.headers[i]!;
    return sameBytes(headerKey(h), headerKey(other)) && sameBytes(h.value, other.value);
  });
}

export interface Landed {
  /**
   * True if `record`, about to be sent to `topic`/`partition`, is already there (landed after the checkpoint):
   * it is then not sent again. Must be asked in restore order.
   */
  take(topic: string, partition: number, record: LandedRecord): boolean;
  /** Records read back that were not (yet) matched. */
  readonly unmatched: number;
}

/** One target partition as a map key. */
export const partitionKey = (topic: string, partition: number) => `${topic}\0${partition}`;

/** A matcher over the records found beyond the checkpoint's ends, per target partition, in offset order. */
export function landedMatcher(found: ReadonlyMap<string, ReadonlyMap<number, LandedRecord[]>>): Landed {
  const queues = new Map<string, LandedRecord[]>();
  for (const [topic, partitions] of found) {
    for (const [partition, records] of partitions) {
      if (records.length > 0) queues.set(partitionKey(topic, partition), [...records]);
    }
  }
  return {
    take(topic, partition, record) {
      if (queues.size === 0) return false;
      const key = partitionKey(topic, partition);
      const queue = queues.get(key);
      if (queue === undefined) return false;
      const at = queue.findIndex((r) => sameRecord(r, record));
      if (at < 0) {
        queues.delete(key);
        return false;
      }
      queue.splice(0, at + 1);
      if (queue.length === 0) queues.delete(key);
      return true;
    },
    get unmatched() {
      let n = 0;
      for (const q of queues.values()) n += q.length;
      return n;
    },
  };
}

const OFFSETS_ATTEMPTS = 8;

/**
 * A topic's offsets. A topic restore has just created may still be electing its leaders (NOT_LEADER_OR_FOLLOWER,
 * seen in the fault runs), which kafkajs's admin does not wait out: retriable errors are retried for a while.
 */
async function offsetsOf(admin: Admin, topic: string) {
  for (let attempt = 1;; attempt++) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (e) {
      if ((e as { retriable?: unknown }).retriable !== true || attempt >= OFFSETS_ATTEMPTS) throw e;
      await sleep(Math.min(2_000, 100 * 2 ** attempt));
    }
  }
}

/** The current end offset of every partition of `topics`. */
export async function currentEnds(admin: Admin, topics: readonly string[]): Promise<TargetEnds> {
  const ends: TargetEnds = {};
  for (const topic of topics) {
    const partitions: Record<string, string> = {};
    for (const p of await offsetsOf(admin, topic)) partitions[String(p.partition)] = p.high;
    ends[topic] = partitions;
  }
  return ends;
}

/**
 * The ends to start a run from: the checkpoint's where it has them; the current end where it has none (a new
 * restore, a partition added since, or a checkpoint written before ends were kept; nothing can be recognised there).
 */
export function mergeEnds(recorded: TargetEnds | undefined, current: TargetEnds): TargetEnds {
  const out: TargetEnds = {};
  for (const [topic, partitions] of Object.entries(current)) {
    out[topic] = { ...partitions, ...(recorded?.[topic] ?? {}) };
  }
  return out;
}

interface Span {
  topic: string;
  partition: number;
  from: bigint;
  to: bigint;
}

/** Partitions whose end moved beyond the recorded one: [recorded, current) for each. */
export function spansBeyond(recorded: TargetEnds, current: TargetEnds): Span[] {
  const spans: Span[] = [];
  for (const [topic, partitions] of Object.entries(recorded)) {
    for (const [partition, end] of Object.entries(partitions)) {
      const now = current[topic]?.[partition];
      if (now !== undefined && BigInt(now) > BigInt(end)) {
        spans.push({ topic, partition: Number(partition), from: BigInt(end), to: BigInt(now) });
      }
    }
  }
  return spans;
}

const READ_TIMEOUT_MS = 120_000;

/**
 * A throw-away consumer group for reading back. Hopskotch (like many clusters) lets a credential use only groups
 * named after it: `<username>-...`, as hop-client names its own.
 */
export function readbackGroup(username: string | undefined): string {
  return `${username ?? "housekeeping"}-restore-readback-${crypto.randomUUID()}`;
}

/**
 * Reads the records in `spans` from the target with a throw-away consumer group `groupId` (deleted afterwards). A
 * span ends at the end offset seen before reading, so records other producers add meanwhile are not waited for.
 */
export async function readSpans(
  kafka: Kafka,
  admin: Admin,
  spans: readonly Span[],
  groupId: string,
  log: Logger,
): Promise<Map<string, Map<number, LandedRecord[]>>> {
  const found = new Map<string, Map<number, LandedRecord[]>>();
  if (spans.length === 0) return found;
  const wanted = new Map(spans.map((s) => [partitionKey(s.topic, s.partition), s]));
  const open = new Set(wanted.keys());
  const next = new Map<Span, bigint>();
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 200 });
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  const topics = [...new Set(spans.map((s) => s.topic))];
  try {
    await commitStartOffsets(admin, groupId, topics, wanted);
    // Offsets can have gaps (compaction, transaction markers, batches of control records only, which never reach
    // eachBatch): the last offset of each batch kafkajs got through says how far the partition is read.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      const key = partitionKey(payload.topic, payload.partition);
      const span = wanted.get(key);
      if (span === undefined || !open.has(key) || BigInt(payload.lastOffset) < span.to - 1n) return;
      open.delete(key);
      if (open.size === 0) finished();
    });
    await consumer.connect();
    await consumer.subscribe({ topics });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const span = wanted.get(partitionKey(batch.topic, batch.partition));
        if (span !== undefined) collect(found, next, span, batch.messages);
        await Promise.resolve();
      },
    });
    await withinReadTimeout(done, open);
    let records = 0;
    for (const partitions of found.values()) for (const list of partitions.values()) records += list.length;
    log.info("read back the target records written after the checkpoint", {
      partitions: spans.length,
      records,
    });
    return found;
  } finally {
    await consumer.disconnect().catch(() => {});
    await admin.deleteGroups([groupId]).catch(() => {});
  }
}

/**
 * Start positions are committed for the fresh group before it joins, so that its very first fetch reads from them
 * (a seek after joining races with a first fetch from the default position).
 */
async function commitStartOffsets(
  admin: Admin,
  groupId: string,
  topics: string[],
  wanted: ReadonlyMap<string, Span>,
): Promise<void> {
  for (const topic of topics) {
    const partitions = (await admin.fetchTopicOffsets(topic)).map((p) => ({
      partition: p.partition,
      offset: String(wanted.get(partitionKey(topic, p.partition))?.from ?? p.high),
    }));
    await admin.setOffsets({ groupId, topic, partitions });
  }
}

/** Adds the messages of one fetched batch that lie in `span` and were not read yet to `found`. */
function collect(
  found: Map<string, Map<number, LandedRecord[]>>,
  next: Map<Span, bigint>,
  span: Span,
  messages: KafkaMessage[],
): void {
  const byPartition = found.get(span.topic) ?? new Map<number, LandedRecord[]>();
  found.set(span.topic, byPartition);
  const records = byPartition.get(span.partition) ?? [];
  byPartition.set(span.partition, records);
  for (const m of messages) {
    const offset = messageOffset(m);
    // A batch fetched again after a rebalance would repeat what was read.
    if (offset < (next.get(span) ?? span.from) || offset >= span.to) continue;
    next.set(span, offset + 1n);
    records.push({
      key: m.key === null ? null : new Uint8Array(m.key),
      value: m.value === null ? null : new Uint8Array(m.value),
      headers: wireHeaders(m),
      timestamp: messageTimestamp(m),
    });
  }
}

/** Waits for `done`; fails with RESTORE_READBACK_FAILED, naming the partitions still `open`, after the timeout. */
async function withinReadTimeout(done: Promise<void>, open: ReadonlySet<string>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(hkError(
        "RESTORE_READBACK_FAILED",
        `could not read back the target records written after the checkpoint within ${
          READ_TIMEOUT_MS / 1000
        } s ` +
          `(still open: ${[...open].map((k) => k.replace("\0", ":")).join(", ")}); without them records ` +
          "acknowledged before the interruption would be sent twice. Check the target cluster and run the same " +
          "command again",
      ));
    }, READ_TIMEOUT_MS);
  });
  try {
    await Promise.race([done, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
