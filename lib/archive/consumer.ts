// The archiver's kafkajs consumer: its settings, its life (start, crash, rejoin, stop) and the adapter that hands
// its batches to the lanes (lib/archive/lanes.ts) and their commits back to the group.
import type { Consumer, EachBatchPayload, KafkaMessage } from "kafkajs";
import type { Services } from "../cli/services.ts";
import { messageTimestampType } from "../kafka/client.ts";
import { messageOffset, messageTimestamp } from "../kafka/consumed.ts";
import { wireHeaders } from "../kafka/wire_headers.ts";
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";
import type { KafkaRecord } from "../format/record.ts";
import { sleep } from "../runtime/retry.ts";
import type { Ingest } from "./ingest.ts";
import { groupMovedOn } from "../kafka/rebalance.ts";
import { createLanes, type LaneBatch, type Lanes, type RunState } from "./lanes.ts";

/** kafkajs message -> our record; the header list comes from the wire, never from kafkajs's header object. */
export function toKafkaRecord(topic: string, partition: number, m: KafkaMessage): KafkaRecord {
  const type = messageTimestampType(m as Parameters<typeof messageTimestampType>[0]);
  return {
    topic,
    partition,
    offset: messageOffset(m),
    timestamp: messageTimestamp(m),
    ...(type ? { timestampType: type } : {}),
    key: m.key ? new Uint8Array(m.key.buffer, m.key.byteOffset, m.key.byteLength) : null,
    value: m.value ? new Uint8Array(m.value.buffer, m.value.byteOffset, m.value.byteLength) : null,
    headers: wireHeaders(m),
  };
}

/**
 * Kafka request timeout for a session timeout: longer than the session, so that a SyncGroup waiting on a leader
 * that died mid-rebalance (a killed archiver) is answered by the broker once that leader's session expires
 * (REBALANCE_IN_PROGRESS: kafkajs rejoins as the same member). With kafkajs's 30 s against the default 45 s
 * session, the request timed out first; kafkajs then restarts the consumer as a new member and leaves the old one
 * behind as the next dead leader, again and again.
 */
export function requestTimeoutFor(sessionTimeoutMs: number): number {
  return Math.max(30_000, sessionTimeoutMs + 10_000);
}

/** The archiver's kafkajs consumer settings (scripts/bench.ts measures its consume-only ceiling with them too). */
export const CONSUMER_OPTIONS = {
  allowAutoTopicCreation: false,
  // Fetch sizes bound memory: a fetch response is read into one buffer the records view (over TLS kafkajs holds it
  // about twice over while decoding it: socket chunks, then the joined buffer; lib/kafka/socket_frames.ts), the lanes
  // keep up to two fetches' records in flight, and V8 frees such buffers late, so with large records the fetch size
  // sets the archiver's peak RSS (docs/benchmarks.md, "Peak RSS").
  // Much smaller fetches cost more than they save: a per-partition limit that cuts record batches short has the
  // broker send partial batches, which kafkajs drops and fetches again. The lanes keep the object writes busy
  // across fetches either way.
  maxBytesPerPartition: 4 * 2 ** 20,
  maxBytes: 12 * 2 ** 20,
  maxWaitTimeInMs: 500,
  sessionTimeout: 45_000,
  heartbeatInterval: 3_000,
} as const;

export interface ConsumerSettings {
  groupId: string;
  topics: string[];
  sessionTimeoutMs: number;
  partitionsConcurrency: number;
}

export interface RunningConsumer {
  consumer: Consumer;
  lanes: Lanes;
}

/** kafkajs's batch as the lanes see it. */
function laneBatch(payload: EachBatchPayload): LaneBatch {
  const { batch } = payload;
  const { topic, partition } = batch;
  const fetchedNothing = (batch as unknown as { isEmptyIncludingFiltered(): boolean })
    .isEmptyIncludingFiltered();
  return {
    topic,
    partition,
    records: () => batch.messages.map((m) => toKafkaRecord(topic, partition, m)),
    lastFetched: fetchedNothing ? null : BigInt(batch.lastOffset()),
    isRunning: payload.isRunning,
    isStale: payload.isStale,
    pause: () => void payload.pause(),
    resolveOffset: (offset) => payload.resolveOffset(offset.toString()),
    heartbeat: payload.heartbeat,
  };
}

export async function startConsumer(
  kafka: Services["kafka"],
  settings: ConsumerSettings,
  ingest: Ingest,
  metrics: Metrics,
  log: Logger,
  state: RunState,
): Promise<RunningConsumer> {
  // The lanes are made before the consumer they commit to (kafkajs's restartOnFailure asks them), and commit
  // only once it runs.
  const lanes = createLanes({
    ingest,
    sink: {
      commit: (topic, partition, next) =>
        consumer.commitOffsets([{ topic, partition, offset: next.toString() }]),
      resume: (topics) => consumer.resume(topics),
      groupMovedOn,
    },
    metrics,
    log,
    state,
  });
  const consumer = kafka.consumer({
    groupId: settings.groupId,
    ...CONSUMER_OPTIONS,
    sessionTimeout: settings.sessionTimeoutMs,
    // The broker expects several heartbeats per session.
    heartbeatInterval: Math.min(
      CONSUMER_OPTIONS.heartbeatInterval,
      Math.floor(settings.sessionTimeoutMs / 3),
    ),
    // kafkajs decides whether to restart a crashed consumer only after its own disconnect, and a stop() that ran
    // meanwhile (ours, rebuilding the consumer during a broker outage) does not cancel that restart: the consumer
    // would rejoin the group behind our back and hold partitions it never archives (its lanes are draining).
    retry: { retries: 5, restartOnFailure: () => Promise.resolve(!lanes.draining) },
  });
  consumer.on(consumer.events.CRASH, (event) => {
    if (lanes.draining) return; // being replaced already
    const error = event.payload.error;
    if (!event.payload.restart) {
      log.error("consumer stopped after an error; rebuilding it", { error });
      state.consumerCrashed = true;
    } else log.warn("consumer restarting after error", { error });
  });
  consumer.on(consumer.events.GROUP_JOIN, () => lanes.groupJoined());
  await consumer.connect();
  await consumer.subscribe({ topics: settings.topics, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: settings.partitionsConcurrency,
    eachBatch: (payload) => {
      const { topic, partition } = payload.batch;
      metrics.set("consumer_lag", { topic, partition }, Number(payload.batch.offsetLag()));
      return lanes.take(laneBatch(payload));
    },
  });
  return { consumer, lanes };
}

export async function stopConsumer({ consumer, lanes }: RunningConsumer, log: Logger): Promise<void> {
  // Work in flight finishes and is committed before the consumer leaves the group (on shutdown our retry loops give
  // up, so this is bounded); then kafkajs waits for its running batches, which wait for nothing any more.
  const drained = lanes.drain();
  const timeout = sleep(60_000).then(() => "timeout" as const);
  if ((await Promise.race([drained.then(() => "ok" as const), timeout])) === "timeout") {
    log.warn("archiving in flight did not finish within 60 s; stopping anyway (uncommitted work is redone)");
  }
  const result = await Promise.race([consumer.disconnect().then(() => "ok" as const), timeout]);
  if (result === "timeout") {
    log.warn("consumer did not stop within 60 s; exiting anyway (uncommitted work is redone)");
  }
}
