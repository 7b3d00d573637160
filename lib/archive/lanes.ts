// The lanes: per partition, the records the consumer handed over and that are not yet committed. The work overlaps:
// a chunk's claim starts as soon as the previous chunk's claim is done (claims stay in offset order, see
// Ingest.claim), its objects are written while later chunks are claimed and the consumer fetches the next batch,
// and commits follow strictly in offset order, each only after everything below it is stored. Without this, kafkajs
// fetches nothing while a batch is processed and every batch ends with the object writes draining to none.
//
// The lanes know nothing of kafkajs: batches come in as LaneBatch, offsets go out through a LaneSink
// (lib/archive/consumer.ts adapts kafkajs to both), so tests drive them with a fake consumer.
import { isHkError } from "../runtime/errors.ts";
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";
import type { KafkaRecord } from "../format/record.ts";
import { sleep } from "../runtime/retry.ts";

/** What the running archiver shares between its consumer, its lanes and its supervisor loop. */
export interface RunState {
  healthy: boolean;
  /** An error that must stop the service (a bug, a record we cannot represent): exit non-zero. */
  fatal: unknown;
  /**
   * The consumer must be rebuilt, so that kafkajs fetches again from the committed offsets: kafkajs stopped it for
   * good, or archiving a partition failed after kafkajs had already fetched past the failed records (see Lane).
   */
  consumerCrashed: boolean;
}

/** One fetched batch of one partition, with the consumer's controls for it (kafkajs's eachBatch payload). */
export interface LaneBatch {
  topic: string;
  partition: number;
  /** The batch's records, converted only if the lanes take the batch (a paused one is never looked at). */
  records(): KafkaRecord[];
  /**
   * The offset of the last entry fetched, whatever it was: control records and aborted transactions are filtered
   * out of `records` but still occupy offsets. Null when the fetch returned no entry at all.
   */
  lastFetched: bigint | null;
  isRunning(): boolean;
  /** The batch belongs to a generation of the group that has ended. */
  isStale(): boolean;
  /** Stops fetching this partition until it is resumed. */
  pause(): void;
  /** Lets the consumer fetch on past `offset`; what is stored is recorded by the commits, not by this. */
  resolveOffset(offset: bigint): void;
  heartbeat(): Promise<void>;
}

/** Where the lanes' results go: the consumer group. */
export interface LaneSink {
  /** Commits `next` (the offset of the next record to read) for the partition. */
  commit(topic: string, partition: number, next: bigint): Promise<void>;
  /** Fetches again from partitions that were paused. */
  resume(partitions: { topic: string; partitions: number[] }[]): void;
  /** Whether a failed commit or heartbeat means the group moved on to a new generation (the client rejoins). */
  groupMovedOn(e: unknown): boolean;
}

/** The two steps of lib/archive/ingest.ts the lanes pipeline: claims in order, writes overlapping. */
export interface LaneIngest<C> {
  claim(records: KafkaRecord[]): Promise<C>;
  write(claimed: C): Promise<unknown>;
}

export interface LanesOptions<C> {
  ingest: LaneIngest<C>;
  sink: LaneSink;
  metrics: Metrics;
  log: Logger;
  state: RunState;
}

interface Lane {
  /** Settles when the last claim handed to the lane has finished. */
  claimed: Promise<void>;
  /** Settles when everything handed to the lane is committed; rejects once any of it failed. */
  committed: Promise<void>;
  /**
   * Commits nothing more: it failed (nothing after the failure may be committed, and kafkajs has fetched past
   * it: the consumer is rebuilt), or the group was rebalanced (kafkajs starts over from the committed offsets).
   */
  closed: boolean;
  failed: boolean;
}

/** Records per ingest call: bounds the size of one multi-row claim and the bytes held per partition. */
const CHUNK_RECORDS = 1000;
const CHUNK_BYTES = 16 * 2 ** 20;

export function chunkRecords(records: KafkaRecord[]): KafkaRecord[][] {
  const chunks: KafkaRecord[][] = [];
  let current: KafkaRecord[] = [];
  let bytes = 0;
  for (const r of records) {
    const size = (r.value?.length ?? 0) + (r.key?.length ?? 0);
    if (current.length > 0 && (current.length >= CHUNK_RECORDS || bytes + size > CHUNK_BYTES)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(r);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** A lane's commit that must not happen any more (see Lane.closed): not an error. */
class Superseded extends Error {}

const HEARTBEAT_POLL_MS = 1_000;

/**
 * Waits for `work` while keeping the member in the group: kafkajs heartbeats only between batches, so a wait on
 * slow storage longer than the session would get the member expelled and make the whole group rebalance, again and
 * again under load. kafkajs sends a heartbeat only when its interval is due. Ends early when the group rebalances,
 * so that kafkajs rejoins at once rather than holding every member up until the rebalance timeout (the lanes'
 * commits are refused then, see laneFailed).
 */
async function awaitHeartbeating(
  work: Promise<unknown>,
  heartbeat: () => Promise<void>,
  groupMovedOn: (e: unknown) => boolean,
): Promise<void> {
  let settled = false;
  const done = work.then(() => (settled = true), () => (settled = true));
  while (!settled) {
    const stop = new AbortController();
    await Promise.race([done, sleep(HEARTBEAT_POLL_MS, stop.signal)]);
    stop.abort();
    if (settled) return;
    try {
      await heartbeat();
    } catch (e) {
      if (groupMovedOn(e)) return;
    }
  }
}

const REJOIN_GRACE_MS = 60_000;

export function createLanes<C>(options: LanesOptions<C>) {
  const { ingest, sink, metrics, log, state } = options;
  const byPartition = new Map<string, Lane>();
  /** Set while the consumer stops: no new work is taken on, so that the lanes can drain before it disconnects. */
  let draining = false;
  /** It joined the group after it began to stop: kafkajs restarted it behind our back. */
  let stale = false;
  /** Paused partitions whose commit was refused because the group moved on: resumed when kafkajs has rejoined. */
  const awaitingJoin = new Map<string, { topic: string; partition: number }>();
  /** Rebuilds the consumer should kafkajs not rejoin after such a refusal. */
  let rejoinWatch: ReturnType<typeof setTimeout> | undefined;

  /** Takes one batch of a partition; resolves when the consumer may fetch the partition's next batch. */
  async function take(batch: LaneBatch): Promise<void> {
    const { topic, partition, heartbeat, isRunning, isStale } = batch;
    const key = `${topic}:${partition}`;
    const existing = byPartition.get(key);
    if (stale) {
      // Not retriable, so kafkajs crashes this consumer for good instead of pausing in the group (restartOnFailure
      // is not asked): it stops fetching and heartbeating, and the group hands its partitions to the live consumer.
      throw Object.assign(new Error("a consumer being replaced rejoined the group; ending it"), {
        retriable: false,
      });
    }
    if (draining || existing?.failed) {
      // The consumer is stopping, or being rebuilt after this partition failed: take nothing more from it.
      batch.pause();
      return;
    }
    if (!isRunning() || isStale()) return;
    const lane: Lane = existing ??
      { claimed: Promise.resolve(), committed: Promise.resolve(), closed: false, failed: false };
    byPartition.set(key, lane);
    const previous = lane.committed;
    const commit = async (next: bigint) => {
      if (lane.closed || !isRunning() || isStale()) throw new Superseded();
      await sink.commit(topic, partition, next);
      log.debug("committed", { topic, partition, offset: next.toString() });
      // kafkajs heartbeats after every batch; this covers a lane that takes long. A rebalance it reports is
      // kafkajs's to handle (it rejoins, and groupJoined closes the lanes).
      await heartbeat().catch(() => {});
    };

    const records = batch.records();
    log.debug("batch", {
      topic,
      partition,
      first: records[0]?.offset.toString() ?? null,
      last: batch.lastFetched?.toString() ?? null,
      records: records.length,
      lane: existing === undefined ? "new" : "existing",
    });
    for (const chunk of chunkRecords(records)) {
      const last = chunk[chunk.length - 1]!.offset;
      const claimed = lane.claimed.then(() => {
        if (lane.closed) throw new Superseded();
        return ingest.claim(chunk);
      });
      const written = claimed.then((c) => ingest.write(c));
      // Not `claimed` itself: an idle lane would keep the claimed records, and the fetch they view, alive.
      lane.claimed = claimed.then(() => {});
      // A failed claim fails the lane through `committed` (laneFailed), and the lane's later claims inherit the
      // failure, but nothing waits on the last claim: unhandled, its rejection would end the process.
      lane.claimed.catch(() => {});
      lane.committed = Promise.all([lane.committed, written]).then(() => commit(last + 1n));
    }
    // Control records and aborted transactions are filtered out but still occupy offsets: once every record of the
    // batch is stored, the offsets up to the last fetched entry (whatever it was) are done too.
    const lastFetched = batch.lastFetched;
    const lastRecord = records.length > 0 ? records[records.length - 1]!.offset : -1n;
    if (lastFetched !== null && lastFetched > lastRecord) {
      lane.committed = lane.committed.then(() => commit(lastFetched + 1n));
    }
    lane.committed.catch((e) => laneFailed(lane, e, topic, partition));
    // The consumer fetches on after this batch; what is stored is recorded by the lane's commits. Should the lane
    // fail, nothing after the failure is committed and the rebuilt consumer fetches it again.
    if (lastFetched !== null) batch.resolveOffset(lastFetched);
    // At most this batch and the next are in flight per partition: that bounds the memory held.
    await awaitHeartbeating(previous, heartbeat, sink.groupMovedOn);
  }

  function laneFailed(lane: Lane, e: unknown, topic: string, partition: number): void {
    if (lane.failed) return;
    // Closed by groupJoined: the new generation has started this partition afresh already.
    const superseded = lane.closed;
    lane.failed = true;
    lane.closed = true;
    if (e instanceof Superseded || (isHkError(e) && e.code === "STOPPING")) return;
    const movedOn = sink.groupMovedOn(e);
    if (movedOn && superseded) return;
    if (movedOn && !draining) {
      // Only the commit came too late for the generation: what the lane claimed is still written, what it did not
      // claim yet never will be by it, and the next generation fetches the partition from its committed offset
      // (groupJoined), so waiting for kafkajs to rejoin is enough.
      // Rebuilding the consumer instead would make every member rebalance again, which under load (members slow to
      // heartbeat, sessions expiring) feeds on itself. The partition stays paused until then: nothing of it may be
      // committed past this lane's records before they are redone.
      log.warn(
        "commit refused because the group is rebalancing; the partition restarts from its committed offset",
        { topic, partition, error: e },
      );
      awaitingJoin.set(`${topic}:${partition}`, { topic, partition });
      rejoinWatch ??= setTimeout(() => {
        if (draining) return;
        log.warn("kafkajs did not rejoin the group after a refused commit; rebuilding the consumer");
        state.consumerCrashed = true;
      }, REJOIN_GRACE_MS);
      return;
    }
    metrics.inc("errors_total", { topic, stage: "batch" });
    if (isHkError(e) && !e.retriable) {
      // A bug or a record we cannot represent: stop rather than skip it (nothing may be lost silently).
      log.error("fatal error while archiving; stopping", { topic, partition, error: e });
      state.fatal ??= e;
      return;
    }
    log.error("archiving a partition failed; redoing it from the committed offset", {
      topic,
      partition,
      error: e,
    });
    if (!draining) state.consumerCrashed = true;
  }

  /** The group has a new generation: the consumer fetches every assigned partition from its committed offset. */
  function groupJoined(): void {
    // The old lanes must not commit any more (they could only move offsets back); their writes finish harmlessly.
    for (const lane of byPartition.values()) lane.closed = true;
    byPartition.clear();
    // Joining while being stopped: kafkajs was restarting this consumer after a crash and the join was still
    // pending when we stopped it (kafkajs's stop() skips a consumer that has not joined yet). It would stay in the
    // group for ever, holding partitions it does not archive: its first batch ends it (see take).
    if (draining) stale = true;
    // Partitions whose commit the old generation refused start afresh too (see laneFailed).
    clearTimeout(rejoinWatch);
    rejoinWatch = undefined;
    if (awaitingJoin.size > 0 && !draining) {
      const byTopic = new Map<string, number[]>();
      for (const { topic, partition } of awaitingJoin.values()) {
        byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition]);
      }
      sink.resume([...byTopic].map(([topic, partitions]) => ({ topic, partitions })));
    }
    awaitingJoin.clear();
  }

  /** Takes no new work from now on; settles when every lane has committed or failed. */
  function drain(): Promise<unknown> {
    draining = true;
    clearTimeout(rejoinWatch);
    return Promise.allSettled([...byPartition.values()].map((lane) => lane.committed));
  }

  return {
    take,
    groupJoined,
    drain,
    get draining() {
      return draining;
    },
  };
}

export type Lanes = ReturnType<typeof createLanes>;
