// `restore`: re-publishes archived records to Kafka, bit for bit. The index selects (the bucket is never listed),
// objects are fetched concurrently and checked, records go out in their original order (lib/restore/run.ts).
import type { Admin, Kafka, RecordMetadata } from "kafkajs";
import type { Command, CommandContext } from "../command.ts";
import {
  CONNECTION_OPTIONS,
  parseCommandArgs,
  parsePositiveInt,
  printableSettings,
  type ResolvedSettings,
  type SettingName,
  settingsHelp,
  settingValue,
} from "../config.ts";
import {
  connectServices,
  kafkaSettings,
  loadSettings,
  printConfig,
  requireCurrentSchema,
  type Services,
} from "../connect.ts";
import { errorMessage, hkError, isHkError } from "../errors.ts";
import type { PartitionSummary, SelectFilter } from "../index/postgres.ts";
import { formatTime } from "../format.ts";
import { createKafka, type KafkaSettings } from "../kafka.ts";
import type { Logger } from "../log.ts";
import { createProgress, type Progress } from "../progress.ts";
import { type Checkpoint, checkResumable, readCheckpoint, writeCheckpoint } from "../restore/checkpoint.ts";
import {
  checkTopicName,
  loopError,
  loopingTargets,
  parseRename,
  parseUuid,
  parseUuidFile,
  positionToJson,
  sameBrokers,
  selectionKey,
  type TargetNaming,
  targetTopic,
} from "../restore/plan.ts";
import {
  currentEnds,
  type Landed,
  landedMatcher,
  mergeEnds,
  partitionKey,
  readbackGroup,
  readSpans,
  spansBeyond,
  type TargetEnds,
} from "../restore/landed.ts";
import { createOrderedProducer, MAX_IN_FLIGHT, type OrderedProducer } from "../restore/producer.ts";
import { createRecordLimiter } from "../restore/rate.ts";
import { type RestoreResult, runRestore, type TopicMessages } from "../restore/run.ts";
import { prepareTargets, type TargetNeeds } from "../restore/target.ts";
import { describeSelection, parseSelection, SELECTION_HELP, SELECTION_OPTIONS } from "../selection.ts";
import { sleep } from "../retry.ts";
import type { VetoList } from "../veto.ts";

/** Target connection settings: `--target-X` flag > `RESTORE_*` variable > the source's (archive's) setting. */
export const TARGET_SETTINGS = [
  { flag: "brokers", env: "RESTORE_KAFKA_BROKERS" },
  { flag: "username", env: "RESTORE_KAFKA_USERNAME" },
  { flag: "password", env: "RESTORE_KAFKA_PASSWORD" },
  { flag: "sasl-mechanism", env: "RESTORE_KAFKA_SASL_MECHANISM" },
  { flag: "security-protocol", env: "RESTORE_KAFKA_SECURITY_PROTOCOL" },
  { flag: "ca-file", env: "RESTORE_KAFKA_CA_FILE" },
  { flag: "hop-auth", env: "RESTORE_HOP_AUTH_FILE" },
] as const satisfies readonly { flag: SettingName; env: string }[];

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  ...SELECTION_OPTIONS,
  "topic-regex": { type: "string" },
  "uuid-file": { type: "string" },
  "from-offset": { type: "string" },
  "to-offset": { type: "string" },
  rename: { type: "string", multiple: true },
  "to-prefix": { type: "string" },
  "create-topics": { type: "boolean" },
  "allow-loop": { type: "boolean" },
  "dry-run": { type: "boolean" },
  "max-rate": { type: "string" },
  "max-bytes-rate": { type: "string" },
  checkpoint: { type: "string" },
  "on-bad-object": { type: "string" },
  "fetch-concurrency": { type: "string" },
  "max-inflight-mib": { type: "string" },
  progress: { type: "string" },
  ...Object.fromEntries(TARGET_SETTINGS.map((s) => [`target-${s.flag}`, { type: "string" }] as const)),
} as const;

export interface RestoreOptions {
  settings: ResolvedSettings;
  /** The target cluster's connection settings (the rest of `settings` unchanged). */
  target: ResolvedSettings;
  configPath: string | undefined;
  printConfig: boolean;
  filter: SelectFilter;
  naming: TargetNaming;
  dryRun: boolean;
  createTopics: boolean;
  allowLoop: boolean;
  onBadObject: "stop" | "skip";
  maxRate: number | undefined;
  maxBytesRate: number | undefined;
  checkpoint: string | undefined;
  fetchConcurrency: number;
  maxInflightBytes: number;
  progress: "auto" | "bar" | "json" | "none";
}

function positiveNumber(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0) {
    throw hkError("USAGE", `--${flag} must be a positive number, got ${JSON.stringify(value)}`);
  }
  return n;
}

function nonNegativeInteger(flag: string, value: string | undefined): bigint | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value.trim())) {
    throw hkError("USAGE", `--${flag} must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return BigInt(value.trim());
}

function oneOf<T extends string>(
  flag: string,
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw hkError("USAGE", `--${flag} must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

/**
 * Pure apart from `readFile` (config and --uuid-file): argv + environment -> options. `now` (ms) anchors ages
 * such as `--since 24h`.
 */
export function parseRestoreArgs(
  argv: string[],
  env: Record<string, string | undefined>,
  readFile: (path: string) => string = Deno.readTextFileSync,
  now: bigint = BigInt(Date.now()),
): RestoreOptions {
  const { values, positionals } = parseCommandArgs("restore", argv, OPTIONS, true);
  const configPath = values.config as string | undefined;
  const settings = loadSettings(values, env, configPath, readFile);
  const str = (name: string) => values[name] as string | undefined;
  const list = (name: string) => (values[name] as string[] | undefined) ?? [];

  // The selection flags every command shares (topic, time, uuid, sender, format, partition), plus restore's own.
  const selection = parseSelection("restore", values, now);
  const topics = selection.topics ?? [];
  for (const t of topics) checkTopicName(t, "--topic");
  const topicRegex = str("topic-regex");
  if (topicRegex === "") throw hkError("USAGE", "--topic-regex must not be empty (use '.*' for every topic)");
  const uuids = [...(selection.uuids ?? []), ...positionals.map((u) => parseUuid(u, "argument"))];
  const uuidFile = str("uuid-file");
  if (uuidFile !== undefined) {
    let text: string;
    try {
      text = readFile(uuidFile);
    } catch (e) {
      throw hkError("USAGE", `cannot read --uuid-file ${uuidFile}: ${errorMessage(e)}`);
    }
    uuids.push(...parseUuidFile(text, uuidFile));
    if (uuids.length === 0) throw hkError("USAGE", `--uuid-file ${uuidFile} lists no UUID`);
  }
  if (topics.length === 0 && topicRegex === undefined && uuids.length === 0) {
    throw hkError(
      "USAGE",
      "restore needs a selection: --topic NAME, --topic-regex RE, or UUIDs (--uuid, --uuid-file, arguments); " +
        "use --topic-regex '.*' to restore everything",
    );
  }
  const fromOffset = nonNegativeInteger("from-offset", str("from-offset"));
  const toOffset = nonNegativeInteger("to-offset", str("to-offset"));
  if (fromOffset !== undefined && toOffset !== undefined && fromOffset >= toOffset) {
    throw hkError(
      "USAGE",
      `--from-offset (${fromOffset}) must be below --to-offset (${toOffset}, exclusive)`,
    );
  }
  const { topics: _t, uuids: _u, ...shared } = selection;
  const filter: SelectFilter = {
    ...shared,
    ...(topics.length > 0 ? { topics: [...new Set(topics)] } : {}),
    ...(topicRegex !== undefined ? { topicRegex } : {}),
    ...(uuids.length > 0 ? { uuids: [...new Set(uuids)] } : {}),
    ...(fromOffset !== undefined ? { fromOffset } : {}),
    ...(toOffset !== undefined ? { toOffset } : {}),
  };

  const renames = new Map<string, string>();
  for (const text of list("rename")) {
    const [from, to] = parseRename(text);
    if (renames.has(from) && renames.get(from) !== to) {
      throw hkError("USAGE", `--rename gives topic ${from} two targets: ${renames.get(from)} and ${to}`);
    }
    renames.set(from, to);
  }
  const prefix = str("to-prefix");
  if (prefix !== undefined) checkTopicName(`${prefix}x`, "--to-prefix");

  const maxInflightMib = parsePositiveInt("max-inflight-mib", str("max-inflight-mib"), 64);
  return {
    settings,
    target: targetSettings(settings, values, env),
    configPath,
    printConfig: values["print-config"] === true,
    filter,
    naming: { renames, prefix },
    dryRun: values["dry-run"] === true,
    createTopics: values["create-topics"] === true,
    allowLoop: values["allow-loop"] === true,
    onBadObject: oneOf("on-bad-object", str("on-bad-object"), ["stop", "skip"] as const, "stop"),
    maxRate: positiveNumber("max-rate", str("max-rate")),
    maxBytesRate: positiveNumber("max-bytes-rate", str("max-bytes-rate")),
    checkpoint: str("checkpoint"),
    fetchConcurrency: parsePositiveInt("fetch-concurrency", str("fetch-concurrency"), 16),
    maxInflightBytes: maxInflightMib * 2 ** 20,
    progress: oneOf("progress", str("progress"), ["auto", "bar", "json", "none"] as const, "auto"),
  };
}

/** The target's settings: each Kafka setting from --target-X, else RESTORE_*, else the source's value. */
export function targetSettings(
  source: ResolvedSettings,
  values: Record<string, unknown>,
  env: Record<string, string | undefined>,
): ResolvedSettings {
  const out = { ...source };
  const given = (flag: string, envName: string) => {
    const fromFlag = values[`target-${flag}`];
    if (typeof fromFlag === "string") return { value: fromFlag, source: "flag" as const };
    const fromEnv = env[envName];
    return fromEnv !== undefined && fromEnv !== "" ? { value: fromEnv, source: "env" as const } : undefined;
  };
  // A credential is a pair: a target username must not be combined with the source's password, or vice versa.
  const ownCredentials = given("username", "RESTORE_KAFKA_USERNAME") !== undefined ||
    given("password", "RESTORE_KAFKA_PASSWORD") !== undefined;
  for (const { flag, env: envName } of TARGET_SETTINGS) {
    const own = given(flag, envName);
    if (own !== undefined) out[flag] = own;
    else if (ownCredentials && (flag === "username" || flag === "password")) {
      out[flag] = { value: undefined, source: "unset" };
    }
  }
  return out;
}

function brokersOf(settings: ResolvedSettings): string[] {
  return (settingValue(settings, "brokers") ?? "").split(",").map((b) => b.trim()).filter(Boolean);
}

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
  --max-rate N             at most N records per second
  --max-bytes-rate N       at most N bytes (key + value + headers) per second
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

function restoreExtras(o: RestoreOptions): Record<string, unknown> {
  const target = printableSettings(o.target);
  return {
    selection: describeSelection(o.filter),
    rename: Object.fromEntries(o.naming.renames),
    "to-prefix": o.naming.prefix ?? null,
    target: Object.fromEntries(TARGET_SETTINGS.map(({ flag }) => [flag, target[flag]])),
    "dry-run": o.dryRun,
    "create-topics": o.createTopics,
    "allow-loop": o.allowLoop,
    "on-bad-object": o.onBadObject,
    "max-rate": o.maxRate ?? null,
    "max-bytes-rate": o.maxBytesRate ?? null,
    checkpoint: o.checkpoint ?? null,
    "fetch-concurrency": o.fetchConcurrency,
    "max-inflight-mib": o.maxInflightBytes / 2 ** 20,
    progress: o.progress,
  };
}

interface TopicPlan {
  source: string;
  target: string;
  records: bigint;
  bytes: bigint;
  earliest: bigint;
  latest: bigint;
  partitions: PartitionSummary[];
}

function planTopics(summary: PartitionSummary[], naming: TargetNaming): TopicPlan[] {
  const out = new Map<string, TopicPlan>();
  for (const p of summary) {
    let t = out.get(p.topic);
    if (t === undefined) {
      t = {
        source: p.topic,
        target: targetTopic(naming, p.topic),
        records: 0n,
        bytes: 0n,
        earliest: p.earliest,
        latest: p.latest,
        partitions: [],
      };
      out.set(p.topic, t);
    }
    t.records += p.records;
    t.bytes += p.bytes;
    if (p.earliest < t.earliest) t.earliest = p.earliest;
    if (p.latest > t.latest) t.latest = p.latest;
    t.partitions.push(p);
  }
  return [...out.values()];
}

function span(earliest: bigint, latest: bigint) {
  return {
    from: Number(earliest),
    to: Number(latest),
    fromTime: formatTime(earliest),
    toTime: formatTime(latest),
  };
}

function dryRunReport(plan: TopicPlan[], targetBrokers: string[], sameCluster: boolean, start: Checkpoint) {
  const records = plan.reduce((n, t) => n + t.records, 0n);
  const bytes = plan.reduce((n, t) => n + t.bytes, 0n);
  const earliest = plan.reduce<bigint | null>(
    (m, t) => (m === null || t.earliest < m ? t.earliest : m),
    null,
  );
  const latest = plan.reduce<bigint | null>((m, t) => (m === null || t.latest > m ? t.latest : m), null);
  return {
    dryRun: true,
    target: { brokers: targetBrokers, sameClusterAsArchive: sameCluster },
    resumeAfter: start.position === null ? null : positionToJson(start.position),
    records: Number(records),
    bytes: Number(bytes),
    timeSpan: earliest === null || latest === null ? null : span(earliest, latest),
    topics: plan.map((t) => ({
      source: t.source,
      target: t.target,
      records: Number(t.records),
      bytes: Number(t.bytes),
      timeSpan: span(t.earliest, t.latest),
      partitions: t.partitions.map((p) => ({
        partition: p.partition,
        records: Number(p.records),
        bytes: Number(p.bytes),
        timeSpan: span(p.earliest, p.latest),
      })),
    })),
  };
}

/** Partition counts of `topics` on a cluster, as far as it can be asked; empty when it cannot. */
async function partitionCounts(admin: Admin, topics: string[], log: Logger): Promise<Map<string, number>> {
  try {
    const existing = new Set(await admin.listTopics());
    const wanted = topics.filter((t) => existing.has(t));
    if (wanted.length === 0) return new Map();
    const { topics: meta } = await admin.fetchTopicMetadata({ topics: wanted });
    return new Map(meta.map((t) => [t.name, t.partitions.length]));
  } catch (e) {
    log.warn("cannot read the source topics' partition counts; using the index's", {
      error: errorMessage(e),
    });
    return new Map();
  }
}

/** The source cluster, asked briefly (it may be gone: restoring is what archives are for). */
async function probeSource(
  settings: ResolvedSettings,
  ctx: CommandContext,
  log: Logger,
  topics: string[],
): Promise<{ clusterId: string | null; partitions: Map<string, number> }> {
  let admin: Admin | undefined;
  try {
    const { settings: ks } = await kafkaSettings(settings, ctx.env, "housekeeping-restore-probe");
    const probe: KafkaSettings = { ...ks, retries: 1, connectionTimeoutMs: 5000 };
    admin = createKafka(probe, log).admin();
    await admin.connect();
    const { clusterId } = await admin.describeCluster();
    return { clusterId, partitions: await partitionCounts(admin, topics, log) };
  } catch (e) {
    log.warn(
      "cannot reach the archive's own (source) cluster; the loop guard compares broker addresses only",
      {
        error: errorMessage(e),
      },
    );
    return { clusterId: null, partitions: new Map() };
  } finally {
    await admin?.disconnect().catch(() => {});
  }
}

function guardLoop(
  options: RestoreOptions,
  veto: VetoList,
  targets: string[],
  brokers: string[],
): void {
  if (options.allowLoop) return;
  const looping = loopingTargets(targets, veto);
  if (looping.length > 0) throw loopError(looping, brokers);
}

const KAFKA_HINTS: Record<string, string> = {
  MESSAGE_TOO_LARGE:
    "a record is larger than the target topic's max.message.bytes: raise it on the target topic",
  RECORD_LIST_TOO_LARGE:
    "a record is larger than the target topic's max.message.bytes: raise it on the target",
  INVALID_RECORD: "the broker refused a record, most often for a timestamp outside the target topic's " +
    "message.timestamp.before.max.ms / message.timestamp.after.max.ms: raise those on the target topic",
  INVALID_TIMESTAMP: "the broker refused a timestamp: check the target topic's message.timestamp.* settings",
  TOPIC_AUTHORIZATION_FAILED: "the target credential may not write this topic: check its ACLs",
  UNKNOWN_TOPIC_OR_PARTITION: "the target topic or partition disappeared: re-run to check the target again",
};

function sendError(e: unknown, topics: string[], checkpoint: string | undefined): Error {
  const type = (e as { type?: unknown }).type;
  const hint = typeof type === "string" ? KAFKA_HINTS[type] : undefined;
  const resume = checkpoint === undefined
    ? "re-run with --checkpoint FILE to be able to resume"
    : `re-run with --checkpoint ${checkpoint} to resume after the last acknowledged record`;
  return hkError(
    "RESTORE_SEND_FAILED",
    `publishing to ${topics.join(", ")} failed: ${errorMessage(e)}${hint ? `; ${hint}` : ""}; ${resume}`,
    { cause: e, retriable: false },
  );
}

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

  const summary = await index.summarize(options.filter, start.position ?? undefined);
  const plan = planTopics(summary, options.naming);
  const targets = [...new Set(plan.map((t) => t.target))];
  const sameByAddress = sameBrokers(sourceBrokers, targetBrokers);
  if (sameByAddress) guardLoop(options, services.veto, targets, targetBrokers);
  if (options.dryRun) {
    ctx.stdout(JSON.stringify(dryRunReport(plan, targetBrokers, sameByAddress, start), null, 2) + "\n");
    return 0;
  }
  if (plan.length === 0) {
    log.warn("the selection matches no archived record (after the checkpoint, if any); nothing to send");
    ctx.stdout(
      JSON.stringify({ complete: true, sent: 0, skipped: 0, bytes: 0, totals: totalsOf(start) }, null, 2) +
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
        filter: options.filter,
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
        publish: async (batch: TopicMessages[]) => {
          try {
            const acknowledged = await unlessStuck(send.send(batch), ctx.shutdown, checkpointPath);
            return () => advanceEnds(ends, batch, acknowledged, admin);
          } catch (e) {
            if (isHkError(e)) throw e;
            throw sendError(e, batch.map((b) => b.topic), checkpointPath);
          }
        },
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
    ctx.stdout(JSON.stringify(summaryOf(result, performance.now() - began, checkpointPath), null, 2) + "\n");
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

/**
 * The target's end offsets to record in the checkpoint from here on, and the records of this restore that a killed
 * run had sent beyond its checkpoint (see lib/restore/landed.ts).
 */
async function recognizeLanded(
  kafka: Kafka,
  admin: Admin,
  targets: string[],
  start: Checkpoint,
  { groupId, log }: { groupId: string; log: Logger },
): Promise<{ ends: TargetEnds; landed: Landed }> {
  const current = await currentEnds(admin, targets);
  if (start.position !== null && start.targetEnds === undefined) {
    log.warn(
      "the checkpoint was written by an older version without the target's end offsets: records a killed run " +
        "had sent after it may be sent again",
    );
  }
  const spans = start.targetEnds === undefined ? [] : spansBeyond(start.targetEnds, current);
  const found = await readSpans(kafka, admin, spans, groupId, log);
  return { ends: mergeEnds(start.targetEnds, current), landed: landedMatcher(found) };
}

/** Moves `ends` past the records of an acknowledged request (each partition's batch starts at its base offset). */
async function advanceEnds(
  ends: TargetEnds,
  batch: TopicMessages[],
  acknowledged: RecordMetadata[],
  admin: Admin,
): Promise<void> {
  const counts = new Map<string, number>();
  for (const { topic, messages } of batch) {
    for (const m of messages) {
      const key = partitionKey(topic, m.partition);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  const unknown = new Set<string>();
  for (const r of acknowledged) {
    const count = counts.get(partitionKey(r.topicName, r.partition));
    const base = r.baseOffset === undefined ? -1n : BigInt(r.baseOffset);
    if (count === undefined) continue;
    if (base < 0n) unknown.add(r.topicName);
    else (ends[r.topicName] ??= {})[String(r.partition)] = String(base + BigInt(count));
  }
  // A broker that does not report base offsets: the end offsets now are at least as far (never short of ours).
  if (unknown.size > 0) Object.assign(ends, await currentEnds(admin, [...unknown]));
}

const encoder = new TextEncoder();
const STOP_GRACE_MS = 30_000;

/**
 * `send`, unless a stop was asked for and it is still unacknowledged after a grace period: the idempotent
 * producer retries an unreachable cluster for ever, and SIGINT must still end the command.
 */
async function unlessStuck<T>(
  send: Promise<T>,
  signal: AbortSignal,
  checkpoint: string | undefined,
): Promise<T> {
  const settled = new AbortController();
  const either = AbortSignal.any([signal, settled.signal]);
  const stuck = (async () => {
    await new Promise<void>((resolve) => {
      if (either.aborted) resolve();
      else either.addEventListener("abort", () => resolve(), { once: true });
    });
    if (settled.signal.aborted) return;
    await sleep(STOP_GRACE_MS, settled.signal);
    if (settled.signal.aborted) return;
    throw hkError(
      "RESTORE_INTERRUPTED",
      `stopped while a produce request was unacknowledged for ${
        STOP_GRACE_MS / 1000
      } s (is the target cluster ` +
        `reachable?); it may or may not have been written${
          checkpoint === undefined
            ? ""
            : `; resuming from ${checkpoint} finds what was written and sends the rest`
        }`,
    );
  })();
  try {
    return await Promise.race([send, stuck.then(() => new Promise<never>(() => {}))]);
  } finally {
    settled.abort();
    await stuck.catch(() => {});
  }
}

function restoreProgress(mode: RestoreOptions["progress"], total: number, ctx: CommandContext): Progress {
  if (mode === "none") return { tick() {}, done() {} };
  return createProgress({
    label: "restore",
    total,
    isTerminal: mode === "auto" ? (ctx.stderrIsTerminal ?? Deno.stderr.isTerminal()) : mode === "bar",
    write: ctx.stderr ?? ((text) => Deno.stderr.writeSync(encoder.encode(text))),
  });
}

function totalsOf(c: Checkpoint) {
  return { sent: c.sent, skipped: c.skipped, bytes: c.bytes };
}

function summaryOf(r: RestoreResult, elapsedMs: number, checkpoint: string | undefined) {
  const seconds = elapsedMs / 1000;
  return {
    complete: r.checkpoint.complete,
    interrupted: r.interrupted,
    sent: r.sent,
    skipped: r.skipped,
    bytes: r.bytes,
    elapsedSeconds: Number(seconds.toFixed(3)),
    recordsPerSecond: seconds > 0 ? Number((r.sent / seconds).toFixed(1)) : null,
    topics: r.topics,
    badObjects: r.badObjects,
    partitionFallbacks: r.partitionFallbacks,
    alreadyInTarget: r.alreadyInTarget,
    throttle: r.throttle,
    checkpoint: checkpoint ?? null,
    totals: totalsOf(r.checkpoint),
  };
}
