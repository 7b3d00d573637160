// The archiver's outer loop: runs one consumer over the current topic set and replaces it when the set changes,
// when kafkajs gave up on it or a partition failed, and ends on shutdown, on a fatal error, or (--until-end) once
// the end offsets that existed at start are committed.
import type { Admin } from "kafkajs";
import type { CommandContext } from "../cli/command.ts";
import type { Services } from "../cli/services.ts";
import { serveHttp } from "../runtime/http.ts";
import type { Logger } from "../runtime/log.ts";
import { createMetrics } from "../runtime/metrics.ts";
import { sleep } from "../runtime/retry.ts";
import { archivableTopics, endOffsets, partitionsBehind } from "../topics/topics.ts";
import { VERSION } from "../version.ts";
import { startConsumer, stopConsumer } from "./consumer.ts";
import type { PublicTopics } from "../topics/public_topics.ts";
import { createIngest } from "./ingest.ts";
import { memorySettings } from "../runtime/memory.ts";
import type { RunState } from "./lanes.ts";

export interface ArchiverOptions {
  untilEnd: boolean;
  topicRefreshMs: number;
  putConcurrency: number;
  maxInflightBytes: number;
  partitionsConcurrency: number;
  sessionTimeoutMs: number;
  httpPort: number | undefined;
  /** The `public` column of what is archived (--public-topics). */
  publicTopics: PublicTopics;
}

export async function runArchiver(
  options: ArchiverOptions,
  services: Services,
  ctx: CommandContext,
): Promise<number> {
  const { log, kafka, groupId } = services;
  // /metrics is anyone's who reaches the port: private topics' names stay out (lib/runtime/metrics.ts).
  const metrics = createMetrics(undefined, { showTopic: options.publicTopics.isPublic });
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
    isPublic: options.publicTopics.isPublic,
  });

  const admin = kafka.admin();
  await admin.connect();
  try {
    let topics = await archivableTopics(admin, services.veto);
    const targets = options.untilEnd ? await endOffsets(admin, topics) : new Map<string, bigint>();
    log.info("archiving", {
      topics,
      groupId,
      store: services.store.url,
      untilEnd: options.untilEnd,
      memory: memorySettings,
    });
    while (!stop.signal.aborted) {
      const running = topics.length > 0
        ? await startConsumer(
          kafka,
          {
            groupId,
            topics,
            sessionTimeoutMs: options.sessionTimeoutMs,
            partitionsConcurrency: options.partitionsConcurrency,
          },
          ingest,
          metrics,
          log,
          state,
        )
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

async function waitForChange(
  admin: Admin,
  services: Services,
  options: ArchiverOptions,
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
