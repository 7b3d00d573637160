// `restore`: re-publishes archived records to Kafka, bit for bit. The index selects (the bucket is never listed),
// objects are fetched concurrently and checked, records go out in their original order (lib/restore/run.ts).
import type { Kafka } from "kafkajs";
import type { Command, CommandContext } from "../cli/command.ts";
import { settingsHelp } from "../cli/config.ts";
import { createKafka } from "../kafka/client.ts";
import { type Checkpoint, checkResumable, readCheckpoint, writeCheckpoint } from "../restore/checkpoint.ts";
import { readbackGroup } from "../restore/landed.ts";
import { positionToJson, sameBrokers, selectionKey, unpublishableTopics } from "../restore/plan.ts";
import { createRecordLimiter } from "../restore/rate.ts";
import { runRestore } from "../restore/run.ts";
import { prepareTargets, type TargetNeeds } from "../restore/target.ts";
import { SELECTION_HELP } from "../cli/selection.ts";
import {
  connectServices,
  kafkaSettings,
  printConfig,
  requireCurrentSchema,
  type Services,
} from "../cli/services.ts";
import { brokersOf, parseRestoreArgs, restoreExtras, type RestoreOptions } from "../restore/args.ts";
import { createOrderedProducer, MAX_IN_FLIGHT, type OrderedProducer } from "../restore/producer.ts";
import { createPublisher, recognizeLanded } from "../restore/publish.ts";
import { dryRunReport, planTopics, restoreProgress, summaryOf, totalsOf } from "../restore/report.ts";
import { guardLoop, partitionCounts, probeSource } from "../restore/source.ts";

export const command: Command = {
  name: "restore",
  summary: "re-publish archived records to Kafka, bit for bit (selected from the index)",
  help: `Usage: housekeeping restore SELECTION [options] [UUID...]

Re-publishes archived records to Kafka exactly as they were received: value, key, header list (order, duplicates
and null values kept), timestamp (as CreateTime) and partition, in the original offset order within each
partition. The index selects what to send (the bucket is never listed); objects are fetched concurrently, and each
is checked against its index row (size, CRC-32, record identity, value CRC-32) before anything is published. Both
object layouts are read, including the original housekeeping's.

${SELECTION_HELP}
  --topic-regex RE     source topics matching a PostgreSQL regular expression ('.*': everything)
  --uuid-file FILE     UUIDs, one per line ('#' comments allowed); UUIDs may also be given as arguments
  --from-offset N      source offset >= N
  --to-offset N        source offset < N
  A selection needs at least a topic, a topic regex or UUIDs. With --checkpoint, give absolute times: an age
  (--since 24h) is another range on the next run, and the checkpoint would refuse it.

Target:
  --rename FROM=TO         publish topic FROM as TO (repeatable)
  --to-prefix P            publish every other topic as P<topic>
  --create-topics          create missing target topics with the source topic's partition count (the source
                           cluster's when it can be asked, else the index's highest partition + 1)
  --allow-loop             allow a target topic that the archiver itself archives (see below)
  --target-brokers, --target-username, --target-password, --target-sasl-mechanism, --target-security-protocol,
  --target-ca-file, --target-hop-auth
                           the target cluster's connection, like the options without "target-" [env
                           RESTORE_KAFKA_BROKERS, RESTORE_KAFKA_USERNAME, RESTORE_KAFKA_PASSWORD,
                           RESTORE_KAFKA_SASL_MECHANISM, RESTORE_KAFKA_SECURITY_PROTOCOL, RESTORE_KAFKA_CA_FILE,
                           RESTORE_HOP_AUTH_FILE]; each defaults to the archive's (source) setting

Partitions: a record goes to its own partition number when the target topic has it. Otherwise (fallback) it goes
to partition (number mod target partition count), so each source partition still lands, in order, in one target
partition. Records of the original archiver, which stored no partition or offset, go to partition 0 in timestamp
order, before the records that have offsets.

Loop guard: the archiver archives every topic of its cluster that is not on the veto list. A target topic on the
same cluster (same broker address or cluster id) that is not vetoed would be archived again, so restore refuses it
(RESTORE_LOOP) unless --allow-loop is given. Restore into renamed topics on the veto list, or another cluster.

Operation:
  --dry-run                print what would be sent (records, stored bytes, time span per topic and partition),
                           and send nothing
  --max-rate N             at most N records per second (0.001 to 1e9)
  --max-bytes-rate N       at most N bytes (key + value + headers) per second (1024 to 1e12)
  --checkpoint FILE        record progress in FILE (JSON, replaced atomically after every acknowledged request);
                           an interrupted restore re-run with the same FILE and selection continues after the last
                           acknowledged record; records a hard kill left unrecorded are found in the target (it
                           reads back what lies beyond the end offsets FILE holds) and not sent twice
  --on-bad-object MODE     stop (default): a missing or damaged object stops the restore before it;
                           skip: report it (log and summary) and go on
  --fetch-concurrency N    objects fetched at once (default 16)
  --max-inflight-mib N     MiB of objects held at once (default 64)
  --progress MODE          auto (default: a bar when stderr is a terminal, else JSON lines every 10 s), bar,
                           json or none
Records are sent by an idempotent producer, up to 5 produce requests in flight per broker, in order; the
summary (JSON) goes to stdout.

Source, index and bucket:
${settingsHelp()}

Examples:
  housekeeping restore --topic gcn.circular --since 2024-05-01 --until 2024-06-01 --to-prefix restored. --dry-run
  RESTORE_KAFKA_BROKERS=kafka.test:9092 housekeeping restore --topic-regex '^gcn\\.' --create-topics \\
      --checkpoint gcn.checkpoint --max-rate 500
  housekeeping restore --uuid-file lost.txt --rename gcn.circular=gcn.circular.replay --on-bad-object skip
`,
  async run(argv, ctx) {
    const options = parseRestoreArgs(argv, ctx.env);
    if (options.printConfig) return printConfig(ctx, options.settings, restoreExtras(options));
    const services = await connectServices(options.settings, ctx, {
      clientId: "housekeeping-restore",
      migrate: false,
    });
    try {
      return await restore(options, services, ctx);
    } finally {
      await services.close();
    }
  },
};

async function restore(options: RestoreOptions, services: Services, ctx: CommandContext): Promise<number> {
  const { log, index } = services;
  await requireCurrentSchema(index);
  const targetBrokers = brokersOf(options.target);
  const sourceBrokers = brokersOf(options.settings);
  const selection = selectionKey(options.filter, options.naming, targetBrokers);

  const previous = options.checkpoint === undefined ? null : await readCheckpoint(options.checkpoint);
  if (previous !== null) checkResumable(options.checkpoint!, previous, selection);
  const start: Checkpoint = previous ??
    { selection, position: null, sent: 0, skipped: 0, bytes: 0, complete: false };
  if (start.complete) {
    log.info("this restore already completed; nothing to send", { checkpoint: options.checkpoint });
    ctx.stdout(
      JSON.stringify({ complete: true, alreadyComplete: true, totals: totalsOf(start) }, null, 2) + "\n",
    );
    return 0;
  }

  const selected = await index.summarize(options.filter, start.position ?? undefined);
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
  if (notRestored.length > 0) log.warn("not restoring offloaded messages", { topics: notRestored });
  const extra = notRestored.length > 0 ? { notRestored } : {};
  const plan = planTopics(summary, options.naming);
  const targets = [...new Set(plan.map((t) => t.target))];
  const sameByAddress = sameBrokers(sourceBrokers, targetBrokers);
  if (sameByAddress) guardLoop(options, services.veto, targets, targetBrokers);
  if (options.dryRun) {
    ctx.stdout(
      JSON.stringify({ ...dryRunReport(plan, targetBrokers, sameByAddress, start), ...extra }, null, 2) +
        "\n",
    );
    return 0;
  }
  if (plan.length === 0) {
    log.warn("the selection matches no archived record (after the checkpoint, if any); nothing to send");
    ctx.stdout(
      JSON.stringify(
        { complete: true, sent: 0, skipped: 0, bytes: 0, totals: totalsOf(start), ...extra },
        null,
        2,
      ) +
        "\n",
    );
    return 0;
  }

  const { settings: tks, warnings } = await kafkaSettings(options.target, ctx.env, "housekeeping-restore");
  for (const w of warnings) log.warn(w);
  const kafka: Kafka = createKafka(tks, log);
  const admin = kafka.admin();
  let producer: OrderedProducer | undefined;
  await admin.connect();
  try {
    const sourceTopics = plan.map((t) => t.source);
    let sourcePartitions: Map<string, number>;
    if (sameByAddress) {
      sourcePartitions = options.createTopics ? await partitionCounts(admin, sourceTopics, log) : new Map();
    } else {
      const probe = await probeSource(options.settings, ctx, log, options.createTopics ? sourceTopics : []);
      sourcePartitions = probe.partitions;
      const { clusterId } = await admin.describeCluster();
      if (probe.clusterId !== null && probe.clusterId === clusterId) {
        guardLoop(options, services.veto, targets, targetBrokers);
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
    const prepared = await prepareTargets(admin, needs, {
      create: options.createTopics,
      brokers: targetBrokers,
      log,
      nowMs: Date.now(),
    });

    const checkpointPath = options.checkpoint;
    const resumed = await recognizeLanded(kafka, admin, [...prepared.keys()], start, {
      groupId: readbackGroup(tks.sasl?.username),
      log,
    });
    const ends = resumed.ends;
    // Written before anything is sent, so that even a run killed before its first checkpoint has its start ends.
    if (checkpointPath !== undefined) await writeCheckpoint(checkpointPath, { ...start, targetEnds: ends });

    producer = await createOrderedProducer(kafka, { log });
    const send = producer;
    const totalRecords = plan.reduce((n, t) => n + Number(t.records), 0);
    const progress = restoreProgress(options.progress, totalRecords, ctx);
    const began = performance.now();
    log.info("restoring", {
      records: totalRecords,
      topics: plan.map((t) => ({ source: t.source, target: t.target, records: Number(t.records) })),
      target: targetBrokers,
      resumeAfter: start.position === null ? null : positionToJson(start.position),
    });
    const result = await runRestore(
      {
        filter,
        naming: options.naming,
        targets: prepared,
        start,
        onBadObject: options.onBadObject,
        ...(options.maxRate !== undefined || options.maxBytesRate !== undefined
          ? {
            limiter: createRecordLimiter({
              recordsPerSecond: options.maxRate,
              bytesPerSecond: options.maxBytesRate,
            }),
          }
          : {}),
        fetchConcurrency: options.fetchConcurrency,
        maxInflightBytes: options.maxInflightBytes,
        landed: resumed.landed,
        requestsInFlight: MAX_IN_FLIGHT,
      },
      {
        index,
        store: services.store,
        log,
        signal: ctx.shutdown,
        progress,
        publish: createPublisher({
          producer: send,
          admin,
          ends,
          signal: ctx.shutdown,
          checkpoint: checkpointPath,
        }),
        saveCheckpoint: checkpointPath === undefined
          ? () => Promise.resolve()
          : (cp) => writeCheckpoint(checkpointPath, { ...cp, targetEnds: ends }),
      },
    );
    if (resumed.landed.unmatched > 0) {
      log.info(
        "the target holds records after the checkpoint that this restore did not send (another producer's)",
        {
          records: resumed.landed.unmatched,
        },
      );
    }
    ctx.stdout(
      JSON.stringify({ ...summaryOf(result, performance.now() - began, checkpointPath), ...extra }, null, 2) +
        "\n",
    );
    if (result.interrupted) {
      log.error("restore interrupted", {
        checkpoint: checkpointPath ?? null,
        hint: checkpointPath === undefined
          ? "without --checkpoint a new run starts from the beginning"
          : "run the same command again to continue",
      });
      return 1;
    }
    return 0;
  } finally {
    await producer?.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
  }
}
