// `restore`'s orchestration, behind its command file (lib/commands/restore.ts): where to start (the checkpoint),
// what to send (the plan from the index's summary), the guards (loop, offloaded topics), the target made ready
// (topics, end offsets, what already landed), then the run (run.ts) and its summary on stdout.
import type { Kafka } from "kafkajs";
import type { CommandContext } from "../cli/command.ts";
import { kafkaSettings, requireCurrentSchema, type Services } from "../cli/services.ts";
import type { SelectFilter } from "../index/types.ts";
import { createKafka } from "../kafka/client.ts";
import type { Logger } from "../runtime/log.ts";
import { brokersOf, type RestoreOptions } from "./args.ts";
import { type Checkpoint, checkResumable, readCheckpoint, writeCheckpoint } from "./checkpoint.ts";
import { readbackGroup } from "./landed.ts";
import { positionToJson, sameBrokers, selectionKey, unpublishableTopics } from "./plan.ts";
import { createOrderedProducer, MAX_IN_FLIGHT, type OrderedProducer } from "./producer.ts";
import { createPublisher, recognizeLanded } from "./publish.ts";
import { createRecordLimiter } from "./rate.ts";
import { dryRunReport, planTopics, restoreProgress, summaryOf, type TopicPlan, totalsOf } from "./report.ts";
import { runRestore } from "./run.ts";
import { guardLoop, partitionCounts, probeSource } from "./source.ts";
import { prepareTargets, type TargetNeeds } from "./target.ts";

type Admin = ReturnType<Kafka["admin"]>;

/** What a restore sends: the selection without offloaded topics, planned per topic, and what it leaves out. */
interface Selected {
  filter: SelectFilter;
  plan: TopicPlan[];
  /** Added to every report: the offloaded topics the selection matched and this restore does not send. */
  extra: Record<string, unknown>;
}

/** Everything `publishPlan` needs besides the options. */
interface Run {
  options: RestoreOptions;
  services: Services;
  ctx: CommandContext;
  start: Checkpoint;
  selected: Selected;
  targetBrokers: string[];
  sameByAddress: boolean;
}

export async function restore(
  options: RestoreOptions,
  services: Services,
  ctx: CommandContext,
): Promise<number> {
  const { log, index } = services;
  await requireCurrentSchema(index);
  const targetBrokers = brokersOf(options.target);
  const start = await startingPoint(options, targetBrokers);
  if (start.complete) {
    log.info("this restore already completed; nothing to send", { checkpoint: options.checkpoint });
    printJson(ctx, { complete: true, alreadyComplete: true, totals: totalsOf(start) });
    return 0;
  }
  const selected = await selectTopics(options, services, start);
  const { plan, extra } = selected;
  const sameByAddress = sameBrokers(brokersOf(options.settings), targetBrokers);
  if (sameByAddress) guardLoop(options, services.veto, targetsOf(plan), targetBrokers);
  if (options.dryRun) {
    printJson(ctx, { ...dryRunReport(plan, targetBrokers, sameByAddress, start), ...extra });
    return 0;
  }
  if (plan.length === 0) {
    log.warn("the selection matches no archived record (after the checkpoint, if any); nothing to send");
    printJson(ctx, { complete: true, sent: 0, skipped: 0, bytes: 0, totals: totalsOf(start), ...extra });
    return 0;
  }
  return await publishPlan({ options, services, ctx, start, selected, targetBrokers, sameByAddress });
}

function printJson(ctx: CommandContext, value: Record<string, unknown>): void {
  ctx.stdout(JSON.stringify(value, null, 2) + "\n");
}

const targetsOf = (plan: TopicPlan[]) => [...new Set(plan.map((t) => t.target))];

/** The checkpoint to continue from (refused when it belongs to another selection), or the very start. */
async function startingPoint(options: RestoreOptions, targetBrokers: string[]): Promise<Checkpoint> {
  const selection = selectionKey(options.filter, options.naming, targetBrokers);
  const previous = options.checkpoint === undefined ? null : await readCheckpoint(options.checkpoint);
  if (previous !== null) checkResumable(options.checkpoint!, previous, selection);
  return previous ?? { selection, position: null, sent: 0, skipped: 0, bytes: 0, complete: false };
}

/** The index's summary of the selection after `start`, less the offload pseudo-topics, planned per topic. */
async function selectTopics(
  options: RestoreOptions,
  services: Services,
  start: Checkpoint,
): Promise<Selected> {
  const selected = await services.index.summarize(options.filter, start.position ?? undefined);
  const excluded = unpublishableTopics(selected.map((p) => p.topic), options.naming);
  const filter = excluded.length === 0 ? options.filter : { ...options.filter, excludeTopics: excluded };
  const summary = selected.filter((p) => !excluded.includes(p.topic));
  // Reported, never silently dropped: what the selection matched but this restore leaves in the archive.
  const notRestored = excluded.map((topic) => ({
    topic,
    records: Number(selected.reduce((n, p) => (p.topic === topic ? n + p.records : n), 0n)),
    reason:
      "messages offloaded to the archive, too large for Kafka; their topic's placeholders are restored " +
      "with it; publish them under another name with --rename 'TOPIC+oversized=TARGET'",
  }));
  if (notRestored.length > 0) services.log.warn("not restoring offloaded messages", { topics: notRestored });
  return {
    filter,
    plan: planTopics(summary, options.naming),
    extra: notRestored.length > 0 ? { notRestored } : {},
  };
}

/** Connects to the target, makes it ready, runs the restore and prints its summary; 1 when interrupted. */
async function publishPlan(r: Run): Promise<number> {
  const { options, ctx, services: { log } } = r;
  const { settings: tks, warnings } = await kafkaSettings(options.target, ctx, "housekeeping-restore");
  for (const w of warnings) log.warn(w);
  const kafka: Kafka = createKafka(tks, log);
  const admin = kafka.admin();
  let producer: OrderedProducer | undefined;
  await admin.connect();
  try {
    const prepared = await prepareTargets(admin, await targetNeeds(r, admin), {
      create: options.createTopics,
      brokers: r.targetBrokers,
      log,
      nowMs: Date.now(),
    });
    const resumed = await recognizeLanded(kafka, admin, [...prepared.keys()], r.start, {
      groupId: readbackGroup(tks.sasl?.username),
      log,
    });
    const checkpointPath = options.checkpoint;
    // Written before anything is sent, so that even a run killed before its first checkpoint has its start ends.
    if (checkpointPath !== undefined) {
      await writeCheckpoint(checkpointPath, { ...r.start, targetEnds: resumed.ends });
    }
    producer = await createOrderedProducer(kafka, { log });
    const began = performance.now();
    const result = await runRestore(
      {
        filter: r.selected.filter,
        naming: options.naming,
        targets: prepared,
        start: r.start,
        onBadObject: options.onBadObject,
        ...limiterOf(options),
        fetchConcurrency: options.fetchConcurrency,
        maxInflightBytes: options.maxInflightBytes,
        landed: resumed.landed,
        requestsInFlight: MAX_IN_FLIGHT,
      },
      {
        index: r.services.index,
        store: r.services.store,
        log,
        signal: ctx.shutdown,
        progress: startProgress(r, log),
        publish: createPublisher({
          producer,
          admin,
          ends: resumed.ends,
          signal: ctx.shutdown,
          checkpoint: checkpointPath,
        }),
        saveCheckpoint: checkpointPath === undefined
          ? () => Promise.resolve()
          : (cp) => writeCheckpoint(checkpointPath, { ...cp, targetEnds: resumed.ends }),
      },
    );
    if (resumed.landed.unmatched > 0) {
      log.info(
        "the target holds records after the checkpoint that this restore did not send (another producer's)",
        { records: resumed.landed.unmatched },
      );
    }
    printJson(ctx, { ...summaryOf(result, performance.now() - began, checkpointPath), ...r.selected.extra });
    if (!result.interrupted) return 0;
    log.error("restore interrupted", {
      checkpoint: checkpointPath ?? null,
      hint: checkpointPath === undefined
        ? "without --checkpoint a new run starts from the beginning"
        : "run the same command again to continue",
    });
    return 1;
  } finally {
    await producer?.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
  }
}

function limiterOf(options: RestoreOptions) {
  if (options.maxRate === undefined && options.maxBytesRate === undefined) return {};
  return {
    limiter: createRecordLimiter({ recordsPerSecond: options.maxRate, bytesPerSecond: options.maxBytesRate }),
  };
}

function startProgress(r: Run, log: Logger) {
  const { plan } = r.selected;
  const totalRecords = plan.reduce((n, t) => n + Number(t.records), 0);
  const progress = restoreProgress(r.options.progress, totalRecords, r.ctx);
  log.info("restoring", {
    records: totalRecords,
    topics: plan.map((t) => ({ source: t.source, target: t.target, records: Number(t.records) })),
    target: r.targetBrokers,
    resumeAfter: r.start.position === null ? null : positionToJson(r.start.position),
  });
  return progress;
}

/**
 * Partitions and time span each target topic needs: the source topic's partition count (asked of the source
 * cluster when it differs from the target, which also guards a loop by cluster id), at least the index's.
 */
async function targetNeeds(r: Run, admin: Admin): Promise<Map<string, TargetNeeds>> {
  const { options, services, ctx } = r;
  const { plan } = r.selected;
  const sourceTopics = plan.map((t) => t.source);
  let sourcePartitions: Map<string, number>;
  if (r.sameByAddress) {
    sourcePartitions = options.createTopics
      ? await partitionCounts(admin, sourceTopics, services.log)
      : new Map();
  } else {
    const probe = await probeSource(
      options.settings,
      ctx,
      services.log,
      options.createTopics ? sourceTopics : [],
    );
    sourcePartitions = probe.partitions;
    const { clusterId } = await admin.describeCluster();
    if (probe.clusterId !== null && probe.clusterId === clusterId) {
      guardLoop(options, services.veto, targetsOf(plan), r.targetBrokers);
    }
  }
  const needs = new Map<string, TargetNeeds>();
  for (const t of plan) {
    const fromIndex = t.partitions.reduce((n, p) => Math.max(n, (p.partition ?? 0) + 1), 1);
    const partitions = Math.max(sourcePartitions.get(t.source) ?? 0, fromIndex);
    const had = needs.get(t.target);
    needs.set(t.target, {
      partitions: Math.max(had?.partitions ?? 0, partitions),
      earliest: had && had.earliest < t.earliest ? had.earliest : t.earliest,
      latest: had && had.latest > t.latest ? had.latest : t.latest,
    });
  }
  return needs;
}
