// The target cluster, checked before the first record is sent: the topics exist (or are created with the source's
// partition count), keep the timestamps they are given (CreateTime), and accept the selection's timestamp range.
// Failing here beats failing half-way through a restore.
import { type Admin, ConfigResourceTypes } from "kafkajs";
import { errorMessage, hkError } from "../runtime/errors.ts";
import type { Logger } from "../runtime/log.ts";

/** What the selection needs from one target topic. */
export interface TargetNeeds {
  /** Partition count for a topic that has to be created (the source topic's). */
  partitions: number;
  /** Record timestamps of the selection, ms. */
  earliest: bigint;
  latest: bigint;
}

export interface TargetTopic {
  partitions: number;
  /** The topic's max.message.bytes: the largest record batch it takes. */
  maxMessageBytes: number;
  created: boolean;
}

const LONG_MAX = "9223372036854775807";
const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
const AFTER = "message.timestamp.after.max.ms";
const BEFORE = "message.timestamp.before.max.ms";
const TYPE = "message.timestamp.type";
const MAX_BYTES = "max.message.bytes";
const RETENTION = "retention.ms";

function configsForNew(needs: TargetNeeds, nowMs: number): { name: string; value: string }[] {
  // Archived timestamps can lie ahead of the broker's clock (Kafka 4 refuses more than one hour ahead by default).
  // Time-based retention counts from each record's own timestamp: with the broker's default (7 days) Kafka would
  // delete restored records older than that within minutes of restoring them. The operator can set a retention
  // afterwards; a restore that destroys what it restores would surprise everyone.
  const entries = [{ name: TYPE, value: "CreateTime" }, { name: RETENTION, value: "-1" }];
  if (needs.latest > BigInt(nowMs)) entries.push({ name: AFTER, value: LONG_MAX });
  return entries;
}

async function describe(
  admin: Admin,
  topics: string[],
  log: Logger,
): Promise<Map<string, Map<string, string>>> {
  const out = new Map<string, Map<string, string>>();
  if (topics.length === 0) return out;
  try {
    const { resources } = await admin.describeConfigs({
      resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
      includeSynonyms: false,
    });
    for (const r of resources) {
      out.set(r.resourceName, new Map(r.configEntries.map((e) => [e.configName, e.configValue])));
    }
  } catch (e) {
    // Hopskotch credentials may write a topic without being allowed to describe its configuration (hop-client
    // copes the same way): go on without the checks rather than refuse a restore that would work.
    log.warn("cannot read the target topics' configuration; timestamp and size checks skipped", {
      topics,
      error: errorMessage(e),
    });
  }
  return out;
}

function checkTimestamps(
  topic: string,
  config: Map<string, string>,
  needs: TargetNeeds,
  nowMs: number,
): void {
  if (config.get(TYPE) === "LogAppendTime") {
    throw hkError(
      "RESTORE_TARGET_LOG_APPEND_TIME",
      `target topic ${topic} has message.timestamp.type=LogAppendTime: the broker would replace every original ` +
        `timestamp with its own clock. Set it to CreateTime (kafka-configs --alter --entity-type topics ` +
        `--entity-name ${topic} --add-config message.timestamp.type=CreateTime) or restore into another topic`,
    );
  }
  const fix = (name: string) =>
    `raise it (kafka-configs --alter --entity-type topics --entity-name ${topic} --add-config ` +
    `${name}=${LONG_MAX}) or narrow the selection with --since/--until`;
  const after = config.get(AFTER);
  if (after !== undefined && needs.latest > BigInt(nowMs) + BigInt(after)) {
    throw hkError(
      "RESTORE_TARGET_REJECTS_TIMESTAMPS",
      `target topic ${topic} refuses timestamps more than ${after} ms ahead of the broker's clock ` +
        `(${AFTER}), but the selection holds records stamped up to ${needs.latest}; ${fix(AFTER)}`,
    );
  }
  const before = config.get(BEFORE);
  if (before !== undefined && needs.earliest >= 0n && needs.earliest < BigInt(nowMs) - BigInt(before)) {
    throw hkError(
      "RESTORE_TARGET_REJECTS_TIMESTAMPS",
      `target topic ${topic} refuses timestamps more than ${before} ms behind the broker's clock (${BEFORE}), ` +
        `but the selection holds records stamped as early as ${needs.earliest}; ${fix(BEFORE)}`,
    );
  }
}

/** Records older than the target's retention are deleted by Kafka soon after they land: allowed, but said. */
function warnRetention(
  topic: string,
  config: Map<string, string>,
  needs: TargetNeeds,
  options: { log: Logger; nowMs: number },
): void {
  const retention = Number(config.get(RETENTION) ?? "-1");
  if (!(retention >= 0) || needs.earliest >= BigInt(options.nowMs) - BigInt(retention)) return;
  options.log.warn(
    "target topic deletes records older than its retention.ms: Kafka will remove the older restored records within " +
      "minutes of restoring them",
    {
      topic,
      retentionMs: retention,
      earliest: Number(needs.earliest),
      fix: `kafka-configs --alter --entity-type topics --entity-name ${topic} --add-config retention.ms=-1`,
    },
  );
}

/**
 * Makes sure every target topic exists (creating missing ones only when `create`), and returns what the restore
 * needs to know about each. Throws RESTORE_TARGET_MISSING, RESTORE_TARGET_LOG_APPEND_TIME or
 * RESTORE_TARGET_REJECTS_TIMESTAMPS, each saying what to change.
 */
export async function prepareTargets(
  admin: Admin,
  wanted: ReadonlyMap<string, TargetNeeds>,
  options: { create: boolean; brokers: readonly string[]; log: Logger; nowMs: number },
): Promise<Map<string, TargetTopic>> {
  const existing = new Set(await admin.listTopics());
  const missing = [...wanted.keys()].filter((t) => !existing.has(t));
  if (missing.length > 0 && !options.create) {
    throw hkError(
      "RESTORE_TARGET_MISSING",
      `target topic(s) ${missing.join(", ")} do not exist on ${
        options.brokers.join(",")
      }: create them, or pass ` +
        "--create-topics to create them with the source topic's partition count",
    );
  }
  if (missing.length > 0) {
    await admin.createTopics({
      topics: missing.map((topic) => {
        const needs = wanted.get(topic)!;
        return { topic, numPartitions: needs.partitions, configEntries: configsForNew(needs, options.nowMs) };
      }),
      waitForLeaders: true,
    });
    options.log.info("created target topics", {
      topics: missing.map((t) => ({ topic: t, partitions: wanted.get(t)!.partitions })),
    });
  }
  const topics = [...wanted.keys()];
  const metadata = await admin.fetchTopicMetadata({ topics });
  const partitions = new Map(metadata.topics.map((t) => [t.name, t.partitions.length]));
  const configs = await describe(admin, topics, options.log);
  const out = new Map<string, TargetTopic>();
  for (const [topic, needs] of wanted) {
    const config = configs.get(topic) ?? new Map<string, string>();
    checkTimestamps(topic, config, needs, options.nowMs);
    warnRetention(topic, config, needs, options);
    const count = partitions.get(topic) ?? 0;
    if (count < 1) {
      throw hkError(
        "RESTORE_TARGET_MISSING",
        `target topic ${topic} reports no partitions; check the target cluster`,
      );
    }
    const maxBytes = Number(config.get(MAX_BYTES) ?? DEFAULT_MAX_MESSAGE_BYTES);
    out.set(topic, {
      partitions: count,
      maxMessageBytes: Number.isFinite(maxBytes) && maxBytes > 0 ? maxBytes : DEFAULT_MAX_MESSAGE_BYTES,
      created: missing.includes(topic),
    });
  }
  return out;
}
