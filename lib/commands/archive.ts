// `archive`: the service. Consumes every archivable topic and stores each record exactly once (lib/archive/ingest.ts).
import type { Admin, Consumer, EachBatchPayload, KafkaMessage } from "kafkajs";
import type { Command, CommandContext } from "../command.ts";
import {
  CONNECTION_OPTIONS,
  parseCommandArgs,
  parsePositiveInt,
  type ResolvedSettings,
  settingsHelp,
} from "../config.ts";
import { connectServices, loadSettings, printConfig, type Services } from "../connect.ts";
import { isHkError } from "../errors.ts";
import { createIngest, type Ingest } from "../archive/ingest.ts";
import { messageTimestampType } from "../kafka.ts";
import { wireHeaders } from "../kafka_headers.ts";
import type { Logger } from "../log.ts";
import { createMetrics, type Metrics } from "../metrics.ts";
import type { KafkaRecord } from "../record.ts";
import { sleep } from "../retry.ts";
import { archivableTopics, endOffsets, partitionsBehind } from "../topics.ts";
import { VERSION } from "../version.ts";
import { serveHttp } from "../http.ts";
import { surviveStrayConnectionErrors } from "../stray_errors.ts";

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  "until-end": { type: "boolean" },
  "topic-refresh": { type: "string" },
  "put-concurrency": { type: "string" },
  "max-inflight-mib": { type: "string" },
  "partitions-concurrency": { type: "string" },
  "session-timeout": { type: "string" },
  "http-port": { type: "string" },
} as const;

export interface ArchiveOptions {
  settings: ResolvedSettings;
  configPath: string | undefined;
  printConfig: boolean;
  untilEnd: boolean;
  topicRefreshMs: number;
  putConcurrency: number;
  maxInflightBytes: number;
  partitionsConcurrency: number;
  sessionTimeoutMs: number;
  httpPort: number | undefined;
}

/** Pure: argv + environment (+ config file text) -> options. */
export function parseArchiveArgs(
  argv: string[],
  env: Record<string, string | undefined>,
  readConfig: (path: string) => string = Deno.readTextFileSync,
): ArchiveOptions {
  const { values } = parseCommandArgs("archive", argv, OPTIONS);
  const configPath = values.config as string | undefined;
  const settings = loadSettings(values, env, configPath, readConfig);
  const str = (name: string, envName: string) => (values[name] as string | undefined) ?? env[envName];
  const httpPort = str("http-port", "HTTP_PORT");
  return {
    settings,
    configPath,
    printConfig: values["print-config"] === true,
    untilEnd: values["until-end"] === true,
    topicRefreshMs: parsePositiveInt("topic-refresh", str("topic-refresh", "TOPIC_REFRESH_SECONDS"), 60) *
      1000,
    putConcurrency: parsePositiveInt("put-concurrency", str("put-concurrency", "PUT_CONCURRENCY"), 64),
    maxInflightBytes: parsePositiveInt("max-inflight-mib", str("max-inflight-mib", "MAX_INFLIGHT_MIB"), 64) *
      2 ** 20,
    partitionsConcurrency: parsePositiveInt(
      "partitions-concurrency",
      str("partitions-concurrency", "PARTITIONS_CONCURRENCY"),
      4,
    ),
    sessionTimeoutMs:
      parsePositiveInt("session-timeout", str("session-timeout", "SESSION_TIMEOUT_SECONDS"), 45) * 1000,
    httpPort: httpPort === undefined ? undefined : parsePositiveInt("http-port", httpPort, 0),
  };
}

export const command: Command = {
  name: "archive",
  summary: "archive every readable topic (minus the veto list) into S3 + PostgreSQL",
  help: `Usage: housekeeping archive [options]

Archives every topic the Kafka credential can read, except Kafka's internal topics and the topics on the veto list,
into the object store (one BSON object per record) and the PostgreSQL index (one row per record), exactly once.
Offsets are committed only after the records below them are stored and indexed. Stops gracefully on SIGINT/SIGTERM.

Options:
  --until-end              archive up to the end offsets that existed at start, then exit 0
  --topic-refresh SECONDS  how often to re-list topics (default 60) [env TOPIC_REFRESH_SECONDS]
  --put-concurrency N      concurrent object writes (default 64) [env PUT_CONCURRENCY]
  --max-inflight-mib N     MiB of objects being written at once (default 64) [env MAX_INFLIGHT_MIB]
  --partitions-concurrency N  partitions processed at once (default 4) [env PARTITIONS_CONCURRENCY]
  --session-timeout SECONDS  how long the consumer group waits for a silent (crashed, killed) archiver before
                           giving its partitions to the others, or to its restarted self (default 45; brokers
                           accept 6 to 1800 by default) [env SESSION_TIMEOUT_SECONDS]
  --http-port PORT         serve /healthz and /metrics on this port (off by default) [env HTTP_PORT]
${settingsHelp()}

Examples:
  housekeeping archive                                  # Hopskotch with ~/.config/hop/auth.toml, local store
  KAFKA_BROKERS=127.0.0.1:9092 housekeeping archive --until-end
  S3_BUCKET=hop-archive DATABASE_URL=postgres://... housekeeping archive --http-port 8080
`,
  async run(argv, ctx) {
    const options = parseArchiveArgs(argv, ctx.env);
    if (options.printConfig) return printConfig(ctx, options.settings, archiveExtras(options));
    const services = await connectServices(options.settings, ctx, {
      clientId: "housekeeping-archive",
      requestTimeoutMs: requestTimeoutFor(options.sessionTimeoutMs),
    });
    // A service outage must be waited out, not end the process (see lib/stray_errors.ts).
    const restoreDefault = surviveStrayConnectionErrors(services.log);
    try {
      return await runArchiver(options, services, ctx);
    } finally {
      await services.close();
      restoreDefault();
    }
  },
};

function archiveExtras(o: ArchiveOptions): Record<string, unknown> {
  return {
    "until-end": o.untilEnd,
    "topic-refresh": o.topicRefreshMs / 1000,
    "put-concurrency": o.putConcurrency,
    "max-inflight-mib": o.maxInflightBytes / 2 ** 20,
    "partitions-concurrency": o.partitionsConcurrency,
    "session-timeout": o.sessionTimeoutMs / 1000,
    "http-port": o.httpPort ?? null,
  };
}

/** kafkajs message -> our record; the header list comes from the wire, never from kafkajs's header object. */
export function toKafkaRecord(topic: string, partition: number, m: KafkaMessage): KafkaRecord {
  const type = messageTimestampType(m as Parameters<typeof messageTimestampType>[0]);
  return {
    topic,
    partition,
    offset: BigInt(m.offset),
    timestamp: BigInt(m.timestamp),
    ...(type ? { timestampType: type } : {}),
    key: m.key ? new Uint8Array(m.key.buffer, m.key.byteOffset, m.key.byteLength) : null,
    value: m.value ? new Uint8Array(m.value.buffer, m.value.byteOffset, m.value.byteLength) : null,
    headers: wireHeaders(m),
  };
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

interface RunState {
  healthy: boolean;
  /** An error that must stop the service (a bug, a record we cannot represent): exit non-zero. */
  fatal: unknown;
  /**
   * The consumer must be rebuilt, so that kafkajs fetches again from the committed offsets: kafkajs stopped it for
   * good, or archiving a partition failed after kafkajs had already fetched past the failed records (see Lane).
   */
  consumerCrashed: boolean;
}

async function runArchiver(
  options: ArchiveOptions,
  services: Services,
  ctx: CommandContext,
): Promise<number> {
  const { log, kafka, groupId } = services;
  const metrics = createMetrics();
  const state: RunState = { healthy: false, fatal: undefined, consumerCrashed: false };
  const stop = new AbortController();
  const onShutdown = () => stop.abort();
  ctx.shutdown.addEventListener("abort", onShutdown, { once: true });
  const http = options.httpPort === undefined
    ? undefined
    : serveHttp(options.httpPort, metrics, () => state.healthy, log);

  const ingest = createIngest({
    store: services.store,
    index: services.index,
    keyLayout: services.keyLayout,
    archiverVersion: VERSION,
    log,
    metrics,
    signal: stop.signal,
    putConcurrency: options.putConcurrency,
    maxInflightBytes: options.maxInflightBytes,
  });

  const admin = kafka.admin();
  await admin.connect();
  try {
    let topics = await archivableTopics(admin, services.veto);
    const targets = options.untilEnd ? await endOffsets(admin, topics) : new Map<string, bigint>();
    log.info("archiving", { topics, groupId, store: services.store.url, untilEnd: options.untilEnd });
    while (!stop.signal.aborted) {
      const running = topics.length > 0
        ? await startConsumer(kafka, groupId, topics, options, ingest, metrics, log, state)
        : undefined;
      state.healthy = true;
      const next = await waitForChange(admin, services, options, topics, targets, stop.signal, state, log);
      state.healthy = false;
      if (running) await stopConsumer(running, log);
      if (state.fatal !== undefined) throw state.fatal;
      if (next === "done") {
        log.info("reached the end offsets that existed at start", { partitions: targets.size });
        return 0;
      }
      if (next === "stop") break;
      topics = next;
      log.info("topic set changed; resubscribing", { topics });
    }
    log.info("stopped");
    return 0;
  } finally {
    ctx.shutdown.removeEventListener("abort", onShutdown);
    await admin.disconnect().catch(() => {});
    await http?.shutdown();
  }
}

/**
 * Kafka request timeout for a session timeout: longer than the session, so that a SyncGroup waiting on a leader
 * that died mid-rebalance (a killed archiver) is answered by the broker once that leader's session expires
 * (REBALANCE_IN_PROGRESS: kafkajs rejoins as the same member). With kafkajs's 30 s against the default 45 s
 * session, the request timed out first; kafkajs then restarts the consumer as a new member, leaves the old one
 * behind as the next dead leader, and the cycle repeated for minutes (6 min seen after kill -9 during a join).
 */
export function requestTimeoutFor(sessionTimeoutMs: number): number {
  return Math.max(30_000, sessionTimeoutMs + 10_000);
}

/** The archiver's kafkajs consumer settings (scripts/bench.ts measures its consume-only ceiling with them too). */
export const CONSUMER_OPTIONS = {
  allowAutoTopicCreation: false,
  // Fetch sizes bound memory: kafkajs holds a fetch response about twice over while decoding it (socket chunks,
  // then the joined buffer the records view), the lanes keep up to two fetches' records in flight, and V8 frees
  // such buffers only some 100 MiB later. With 1 MiB records the archiver's peak RSS was ~370 MiB with 32 MiB
  // fetches, ~290 with 16 and ~260 with 12 (scripts/bench.ts). Much smaller fetches cost more than they save: a
  // per-partition limit that cuts record batches short has the broker send partial batches, which kafkajs drops and
  // fetches again.
  // The lanes keep the object writes busy across fetches either way.
  maxBytesPerPartition: 4 * 2 ** 20,
  maxBytes: 12 * 2 ** 20,
  maxWaitTimeInMs: 500,
  sessionTimeout: 45_000,
  heartbeatInterval: 3_000,
} as const;

async function startConsumer(
  kafka: Services["kafka"],
  groupId: string,
  topics: string[],
  options: ArchiveOptions,
  ingest: Ingest,
  metrics: Metrics,
  log: Logger,
  state: RunState,
): Promise<RunningConsumer> {
  const lanes: Lanes = { byPartition: new Map(), draining: false, awaitingJoin: new Map() };
  const consumer = kafka.consumer({
    groupId,
    ...CONSUMER_OPTIONS,
    sessionTimeout: options.sessionTimeoutMs,
    // The broker expects several heartbeats per session.
    heartbeatInterval: Math.min(CONSUMER_OPTIONS.heartbeatInterval, Math.floor(options.sessionTimeoutMs / 3)),
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
  consumer.on(consumer.events.GROUP_JOIN, () => {
    // A new generation: kafkajs fetches every assigned partition from its committed offset again, so the old
    // lanes must not commit any more (they could only move offsets back); their writes finish harmlessly.
    for (const lane of lanes.byPartition.values()) lane.closed = true;
    lanes.byPartition.clear();
    // Joining while being stopped: kafkajs was restarting this consumer after a crash and the join was still
    // pending when we stopped it (kafkajs's stop() skips a consumer that has not joined yet). It would stay in the
    // group for ever, holding partitions it does not archive: its first batch ends it (see handleBatch).
    if (lanes.draining) lanes.stale = true;
    // Partitions whose commit the old generation refused start afresh too (see laneFailed).
    clearTimeout(lanes.rejoinWatch);
    lanes.rejoinWatch = undefined;
    if (lanes.awaitingJoin.size > 0 && !lanes.draining) {
      const byTopic = new Map<string, number[]>();
      for (const { topic, partition } of lanes.awaitingJoin.values()) {
        byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition]);
      }
      consumer.resume([...byTopic].map(([topic, partitions]) => ({ topic, partitions })));
    }
    lanes.awaitingJoin.clear();
  });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  const context: BatchContext = { consumer, ingest, metrics, log, state, lanes };
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: options.partitionsConcurrency,
    eachBatch: (payload) => handleBatch(payload, context),
  });
  return { consumer, lanes };
}

/**
 * The records of one partition that kafkajs handed over and that are not yet committed. The work overlaps: a
 * chunk's claim starts as soon as the previous chunk's claim is done (claims stay in offset order, see
 * Ingest.claim), its objects are written while later chunks are claimed and kafkajs fetches the next batch, and
 * commits follow strictly in offset order, each only after everything below it is stored. Without this, kafkajs
 * fetches nothing while a batch is processed and every batch ends with the object writes draining to none.
 */
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

interface Lanes {
  byPartition: Map<string, Lane>;
  /** Set while the consumer stops: no new work is taken on, so that the lanes can drain before it disconnects. */
  draining: boolean;
  /** It joined the group after it began to stop: kafkajs restarted it behind our back. */
  stale?: boolean;
  /** Paused partitions whose commit was refused because the group moved on: resumed when kafkajs has rejoined. */
  awaitingJoin: Map<string, { topic: string; partition: number }>;
  /** Rebuilds the consumer should kafkajs not rejoin after such a refusal. */
  rejoinWatch?: ReturnType<typeof setTimeout> | undefined;
}

interface RunningConsumer {
  consumer: Consumer;
  lanes: Lanes;
}

interface BatchContext {
  consumer: Consumer;
  ingest: Ingest;
  metrics: Metrics;
  log: Logger;
  state: RunState;
  lanes: Lanes;
}

/** A lane's commit that must not happen any more (see Lane.closed): not an error. */
class Superseded extends Error {}

async function handleBatch(payload: EachBatchPayload, context: BatchContext): Promise<void> {
  const { batch, heartbeat, isRunning, isStale, pause, resolveOffset } = payload;
  const { consumer, ingest, metrics, lanes } = context;
  const { topic, partition } = batch;
  metrics.set("consumer_lag", { topic, partition }, Number(batch.offsetLag()));
  const key = `${topic}:${partition}`;
  const existing = lanes.byPartition.get(key);
  if (lanes.stale) {
    // Not retriable, so kafkajs crashes this consumer for good instead of pausing in the group (restartOnFailure
    // is not asked): it stops fetching and heartbeating, and the group hands its partitions to the live consumer.
    throw Object.assign(new Error("a consumer being replaced rejoined the group; ending it"), {
      retriable: false,
    });
  }
  if (lanes.draining || existing?.failed) {
    // The consumer is stopping, or being rebuilt after this partition failed: take nothing more from it.
    pause();
    return;
  }
  if (!isRunning() || isStale()) return;
  const lane: Lane = existing ??
    { claimed: Promise.resolve(), committed: Promise.resolve(), closed: false, failed: false };
  lanes.byPartition.set(key, lane);
  const previous = lane.committed;
  const commit = async (next: bigint) => {
    if (lane.closed || !isRunning() || isStale()) throw new Superseded();
    await consumer.commitOffsets([{ topic, partition, offset: next.toString() }]);
    context.log.debug("committed", { topic, partition, offset: next.toString() });
    // kafkajs heartbeats after every batch; this covers a lane that takes long. A rebalance it reports is
    // kafkajs's to handle (it rejoins, and GROUP_JOIN closes the lanes).
    await heartbeat().catch(() => {});
  };

  const records = batch.messages.map((m) => toKafkaRecord(topic, partition, m));
  context.log.debug("batch", {
    topic,
    partition,
    first: batch.firstOffset(),
    last: batch.lastOffset(),
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
    lane.committed = Promise.all([lane.committed, written]).then(() => commit(last + 1n));
  }
  // Control records and aborted transactions are filtered out by kafkajs but still occupy offsets: once every
  // record of the batch is stored, the offsets up to the last fetched entry (whatever it was) are done too.
  const fetchedNothing = (batch as unknown as { isEmptyIncludingFiltered(): boolean })
    .isEmptyIncludingFiltered();
  const lastFetched = BigInt(batch.lastOffset());
  const lastRecord = records.length > 0 ? records[records.length - 1]!.offset : -1n;
  if (!fetchedNothing && lastFetched > lastRecord) {
    lane.committed = lane.committed.then(() => commit(lastFetched + 1n));
  }
  lane.committed.catch((e) => laneFailed(lane, e, topic, partition, context));
  // kafkajs fetches on after this batch; what is stored is recorded by the lane's commits, not by kafkajs. Should
  // the lane fail, nothing after the failure is committed and the rebuilt consumer fetches it again.
  if (!fetchedNothing) resolveOffset(batch.lastOffset());
  // At most this batch and the next are in flight per partition: that bounds the memory held.
  await awaitHeartbeating(previous, heartbeat);
}

const HEARTBEAT_POLL_MS = 1_000;

/**
 * Waits for `work` while keeping the member in the group: kafkajs heartbeats only between batches, so a wait on
 * slow storage longer than the session would get the member expelled and make the whole group rebalance, again and
 * again under load. kafkajs sends a heartbeat only when its interval is due. Ends early when the group rebalances,
 * so that kafkajs rejoins at once rather than holding every member up until the rebalance timeout (the lanes'
 * commits are refused then, see laneFailed).
 */
async function awaitHeartbeating(work: Promise<unknown>, heartbeat: () => Promise<void>): Promise<void> {
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

// Commit refusals that mean the group has moved on to a new generation (or is forming one). kafkajs rejoins by
// itself when its heartbeat or fetch meets them; kafkajs's own isRebalancing() lists the same, plus the member
// being unknown after its session expired.
const GROUP_MOVED_ON = new Set([
  "REBALANCE_IN_PROGRESS",
  "ILLEGAL_GENERATION",
  "UNKNOWN_MEMBER_ID",
  "NOT_COORDINATOR_FOR_GROUP",
]);
const REJOIN_GRACE_MS = 60_000;

function groupMovedOn(e: unknown): boolean {
  for (let cause = e, depth = 0; cause !== undefined && cause !== null && depth < 4; depth++) {
    if (GROUP_MOVED_ON.has((cause as { type?: string }).type ?? "")) return true;
    cause = (cause as { cause?: unknown; originalError?: unknown }).originalError ??
      (cause as { cause?: unknown }).cause;
  }
  return false;
}

function laneFailed(lane: Lane, e: unknown, topic: string, partition: number, context: BatchContext): void {
  const { metrics, log, state, lanes } = context;
  if (lane.failed) return;
  // Closed by GROUP_JOIN: the new generation has started this partition afresh already.
  const superseded = lane.closed;
  lane.failed = true;
  lane.closed = true;
  if (e instanceof Superseded || (isHkError(e) && e.code === "STOPPING")) return;
  const movedOn = groupMovedOn(e);
  if (movedOn && superseded) return;
  if (movedOn && !lanes.draining) {
    // Only the commit came too late for the generation: what the lane claimed is still written, what it did not
    // claim yet never will be by it, and the next generation fetches the partition from its committed offset
    // (GROUP_JOIN), so waiting for kafkajs to rejoin is enough.
    // Rebuilding the consumer instead would make every member rebalance again, which under load (members slow to
    // heartbeat, sessions expiring) feeds on itself. The partition stays paused until then: nothing of it may be
    // committed past this lane's records before they are redone.
    log.warn(
      "commit refused because the group is rebalancing; the partition restarts from its committed offset",
      {
        topic,
        partition,
        error: e,
      },
    );
    lanes.awaitingJoin.set(`${topic}:${partition}`, { topic, partition });
    lanes.rejoinWatch ??= setTimeout(() => {
      if (lanes.draining) return;
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
  if (!lanes.draining) state.consumerCrashed = true;
}

async function stopConsumer({ consumer, lanes }: RunningConsumer, log: Logger): Promise<void> {
  // Work in flight finishes and is committed before the consumer leaves the group (on shutdown our retry loops give
  // up, so this is bounded); then kafkajs waits for its running batches, which wait for nothing any more.
  lanes.draining = true;
  clearTimeout(lanes.rejoinWatch);
  const drained = Promise.allSettled([...lanes.byPartition.values()].map((lane) => lane.committed));
  const timeout = sleep(60_000).then(() => "timeout" as const);
  if ((await Promise.race([drained.then(() => "ok" as const), timeout])) === "timeout") {
    log.warn("archiving in flight did not finish within 60 s; stopping anyway (uncommitted work is redone)");
  }
  const result = await Promise.race([consumer.disconnect().then(() => "ok" as const), timeout]);
  if (result === "timeout") {
    log.warn("consumer did not stop within 60 s; exiting anyway (uncommitted work is redone)");
  }
}

async function waitForChange(
  admin: Admin,
  services: Services,
  options: ArchiveOptions,
  topics: string[],
  targets: Map<string, bigint>,
  signal: AbortSignal,
  state: RunState,
  log: Logger,
): Promise<string[] | "done" | "stop"> {
  const current = new Set(topics);
  let nextRefresh = Date.now() + options.topicRefreshMs;
  while (!signal.aborted && state.fatal === undefined) {
    await sleep(options.untilEnd ? 500 : 1000, signal);
    if (signal.aborted || state.fatal !== undefined) break;
    try {
      if (state.consumerCrashed) {
        // kafkajs gave up on its own (e.g. a subscribed topic vanished), or a partition failed: rebuild the
        // consumer on a fresh list. The flag stays set until the list is had, so an outage only delays this.
        const fresh = await archivableTopics(admin, services.veto);
        state.consumerCrashed = false;
        return fresh;
      }
      if (options.untilEnd) {
        const existing = new Set(await admin.listTopics());
        const gone = [...current].filter((t) => !existing.has(t));
        if (gone.length > 0) {
          // A topic deleted while we archive it can never reach its end offsets: stop waiting for it.
          for (const key of [...targets.keys()]) {
            if (gone.includes(key.slice(0, key.lastIndexOf(":")))) targets.delete(key);
          }
          log.warn("topics deleted while archiving; no longer waiting for them", { topics: gone });
          return [...current].filter((t) => existing.has(t));
        }
        if ((await partitionsBehind(admin, services.groupId, targets)).length === 0) return "done";
        continue;
      }
      if (Date.now() < nextRefresh) continue;
      nextRefresh = Date.now() + options.topicRefreshMs;
      const fresh = await archivableTopics(admin, services.veto);
      log.debug("topics listed", { archivable: fresh.length });
      if (fresh.length !== current.size || fresh.some((t) => !current.has(t))) return fresh;
    } catch (e) {
      // Metadata is best effort: a broker outage is retried on the next tick; the consumer retries on its own.
      log.warn("topic refresh failed", { error: e });
    }
  }
  return "stop";
}
