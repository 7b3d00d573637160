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
import { archivedTopics, endOffsets, partitionsBehind } from "../topics/topics.ts";
import { VERSION } from "../version.ts";
import { startConsumer, stopConsumer } from "./consumer.ts";
import type { PublicTopics, TopicList } from "../topics/public_topics.ts";
import { createIngest, type Ingest } from "./ingest.ts";
import type { HopauthSettings } from "../cli/hopauth_settings.ts";
import type { TopicPolicy } from "../topics/policy.ts";
import { isHopauthPolicy } from "../topics/policy_hopauth.ts";
import { createTopicPolicy } from "../cli/topic_policy.ts";
import { observingIngest } from "./policy_ingest.ts";
import type { Metrics } from "../runtime/metrics.ts";
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
  /** Topics whose text is indexed for search (--index-text). */
  indexText: TopicList;
  /** hopauth's API and credential (--hopauth-url): the topic policy comes from there instead of the settings. */
  hopauth?: HopauthSettings;
  /** How often the policy is fetched from hopauth again (--policy-refresh). */
  policyRefreshMs: number;
}

export async function runArchiver(
  options: ArchiverOptions,
  services: Services,
  ctx: CommandContext,
): Promise<number> {
  const { log, kafka } = services;
  // /metrics is anyone's who reaches the port: private topics' names stay out (lib/runtime/metrics.ts). Public is
  // the policy's word (hopauth's publicly_readable with --hopauth-url), asked when /metrics is rendered.
  // The policy needs the metrics to exist first; /metrics asks it only once it is set.
  const shown: { policy?: TopicPolicy } = {};
  const metrics = createMetrics(undefined, {
    showTopic: (topic) => shown.policy?.decide(topic).public ?? false,
  });
  const state: RunState = { healthy: false, fatal: undefined, consumerCrashed: false };
  const stop = new AbortController();
  const onShutdown = () => stop.abort();
  ctx.shutdown.addEventListener("abort", onShutdown, { once: true });
  const http = options.httpPort === undefined
    ? undefined
    : serveHttp(options.httpPort, metrics, () => state.healthy, log);

  const policy = createTopicPolicy(options, services.veto, log, metrics);
  shown.policy = policy;
  const ingest = archiverIngest(options, services, policy, metrics, stop.signal);

  const admin = kafka.admin();
  await admin.connect();
  let policyLoop: Promise<void> | undefined;
  const judge = topicJudge(admin, policy);
  try {
    if (isHopauthPolicy(policy)) {
      await policy.initial(stop.signal);
      policyLoop = policy.run(stop.signal);
    }
    return await consumeTopics({
      options,
      services,
      admin,
      judge,
      ingest,
      metrics,
      state,
      signal: stop.signal,
    });
  } finally {
    ctx.shutdown.removeEventListener("abort", onShutdown);
    stop.abort(); // ends the policy's refresh loop
    await policyLoop;
    await admin.disconnect().catch(() => {});
    await http?.shutdown();
  }
}

/** Ingest that takes each topic's public and index-text columns from the policy as it stands. */
function archiverIngest(
  options: ArchiverOptions,
  services: Services,
  policy: TopicPolicy,
  metrics: Metrics,
  signal: AbortSignal,
): Ingest {
  return observingIngest(
    createIngest({
      store: services.store,
      index: services.index,
      keyLayout: services.keyLayout,
      archiverVersion: VERSION,
      log: services.log,
      metrics,
      signal,
      putConcurrency: options.putConcurrency,
      maxInflightBytes: options.maxInflightBytes,
      isPublic: (topic) => policy.decide(topic).public,
      indexText: (topic) => policy.decide(topic).indexText,
    }),
    policy,
  );
}

interface ArchiverRun {
  options: ArchiverOptions;
  services: Services;
  admin: Admin;
  judge: TopicJudge;
  ingest: Ingest;
  metrics: Metrics;
  state: RunState;
  signal: AbortSignal;
}

/** One consumer after another, each over the topic set of its time, until stopped, done (--until-end) or fatal. */
async function consumeTopics(run: ArchiverRun): Promise<number> {
  const { options, services, admin, judge, ingest, metrics, state, signal } = run;
  const { log, kafka, groupId } = services;
  let topics = await judge.archived();
  const targets = options.untilEnd ? await endOffsets(admin, topics) : new Map<string, bigint>();
  log.info("archiving", {
    topics,
    groupId,
    store: services.store.url,
    untilEnd: options.untilEnd,
    policy: policyDescription(options),
    memory: memorySettings,
  });
  while (!signal.aborted) {
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
    const next = await waitForChange(
      admin,
      services,
      judge,
      options,
      topics,
      targets,
      signal,
      state,
      log,
    );
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
}

async function waitForChange(
  admin: Admin,
  services: Services,
  judge: TopicJudge,
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
        const fresh = await judge.archived();
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
      // A policy that changed (an operator's switch in hopauth) is applied at once, not at the next listing.
      if (Date.now() < nextRefresh && !judge.policyChanged()) continue;
      nextRefresh = Date.now() + options.topicRefreshMs;
      const fresh = await judge.archived();
      log.debug("topics listed", { archived: fresh.length });
      if (fresh.length !== current.size || fresh.some((t) => !current.has(t))) return fresh;
    } catch (e) {
      // Metadata is best effort: a broker outage is retried on the next tick; the consumer retries on its own.
      log.warn("topic refresh failed", { error: e });
    }
  }
  return "stop";
}

/**
 * The archived topics by the policy, remembering which version of it they were judged by: a switch that arrives
 * while a consumer starts is still seen as a change afterwards.
 */
function topicJudge(admin: Admin, policy: TopicPolicy) {
  let judgedBy = -1;
  return {
    async archived(): Promise<string[]> {
      const version = policy.version;
      const topics = archivedTopics(await admin.listTopics(), policy);
      judgedBy = version; // only once judged: a failed listing leaves the change pending
      return topics;
    },
    policyChanged: () => policy.version !== judgedBy,
  };
}

type TopicJudge = ReturnType<typeof topicJudge>;

function policyDescription(options: ArchiverOptions): Record<string, unknown> {
  return options.hopauth === undefined
    ? { source: "static", publicTopics: options.publicTopics.entries, indexText: options.indexText.entries }
    : { source: "hopauth", url: options.hopauth.url, refreshSeconds: options.policyRefreshMs / 1000 };
}
