// `status`: what the archive holds (per topic and in total, over time windows like the original's "last hour /
// last 24 h / all time") and how far the archiver's consumer group is behind Kafka, per partition.
import type { Admin } from "kafkajs";
import type { Command } from "../cli/command.ts";
import { withReadOnlyIndex } from "../cli/read_commands.ts";
import { CONNECTION_OPTIONS, parseCommandArgs, settingsHelp } from "../cli/config.ts";
import { type CommandSettings, commandSettings, openKafka, printConfig } from "../cli/services.ts";
import { HOPAUTH_OPTIONS } from "../cli/hopauth_settings.ts";
import { fetchTopicPolicy, type PolicySettings, policySettings } from "../cli/topic_policy.ts";
import { errorMessage } from "../runtime/errors.ts";
import { usageError } from "../cli/flags.ts";
import {
  optionsHelp,
  optionSpec,
  type OptionTable,
  type OptionValues,
  printableOptions,
  readOptions,
} from "../cli/options.ts";
import {
  type Column,
  formatBytes,
  formatCount,
  formatTimeShort,
  renderTable,
  toJson,
} from "../cli/output.ts";
import type { TopicStats } from "../index/types.ts";
import type { Logger } from "../runtime/log.ts";
import { judgeTopics } from "../topics/topics.ts";

const STATUS_OPTIONS = {
  window: {
    type: "string",
    multiple: true,
    arg: "W",
    default: "1h,24h,all",
    help: "windows to show, comma separated or repeated: 30m, 1h, 24h, 7d, 2w, all",
    parse: (texts: string[]) => parseWindows(texts),
    print: (windows: StatusWindow[]) => windows.map((w) => w.name),
  },
  topic: { type: "string", multiple: true, arg: "NAME", help: "only this topic (repeatable)" },
  "skip-lag": { type: "boolean", help: "do not ask Kafka for the consumer-group lag (the index alone)" },
  json: {
    type: "boolean",
    help: "one JSON object (int64 as decimal strings, times in ms) instead of tables",
  },
  // The lag counts the topics `archive` archives: with --hopauth-url, by hopauth's flags, as `topics` shows.
  ...HOPAUTH_OPTIONS,
} as const satisfies OptionTable;

const OPTIONS = { ...CONNECTION_OPTIONS, ...optionSpec(STATUS_OPTIONS) };

/** A window of record time ending now; `ms` null is all time. */
export interface StatusWindow {
  name: string;
  ms: bigint | null;
}

export interface StatusOptions extends CommandSettings {
  /** Which topics the lag counts: those the archive's policy archives (null with --skip-lag). */
  policy: PolicySettings | null;
  /** The options as the table reads them, for --print-config. */
  own: OptionValues<typeof STATUS_OPTIONS>;
  topics: string[] | undefined;
  windows: StatusWindow[];
  lag: boolean;
  json: boolean;
}

const UNIT_MS: Record<string, bigint> = {
  s: 1000n,
  m: 60_000n,
  h: 3_600_000n,
  d: 86_400_000n,
  w: 604_800_000n,
};

/** Pure: "1h", "24h", "7d", "all" -> windows; several may be given comma-separated or by repeating --window. */
export function parseWindows(texts: string[]): StatusWindow[] {
  const names = texts.flatMap((t) => t.split(",")).map((t) => t.trim()).filter(Boolean);
  if (names.length === 0) throw usageError("status", "--window needs a value such as 1h, 24h, 7d or all");
  return names.map((name) => {
    if (name === "all") return { name, ms: null };
    const m = /^(\d+)(s|m|h|d|w)$/.exec(name);
    if (!m || BigInt(m[1]!) === 0n) {
      throw usageError(
        "status",
        `--window ${JSON.stringify(name)} is not a window: use e.g. 30m, 1h, 24h, 7d, 2w or all`,
      );
    }
    return { name, ms: BigInt(m[1]!) * UNIT_MS[m[2]!]! };
  });
}

/** Pure: argv + environment (+ config file text) -> options. */
export function parseStatusArgs(
  argv: string[],
  env: Record<string, string | undefined>,
  readConfig: (path: string) => string = Deno.readTextFileSync,
): StatusOptions {
  const { values } = parseCommandArgs("status", argv, OPTIONS);
  const own = readOptions("status", STATUS_OPTIONS, values, env);
  const settings = commandSettings(values, env, readConfig);
  return {
    ...settings,
    // Only the lag needs the policy: --skip-lag works without hopauth's credential.
    policy: own["skip-lag"] ? null : policySettings("status", values, env, settings.settings),
    own,
    topics: own.topic,
    windows: own.window,
    lag: !own["skip-lag"],
    json: own.json,
  };
}

export interface Totals extends Omit<TopicStats, "topic"> {
  topics: number;
}

export interface WindowReport {
  window: string;
  /** Record timestamps >= since (ms); null: all time. */
  since: bigint | null;
  topics: TopicStats[];
  totals: Totals;
}

export interface PartitionLag {
  topic: string;
  partition: number;
  /** The group's committed offset; null when it has committed nothing there yet (it starts at the beginning). */
  committed: bigint | null;
  /** Oldest offset still in Kafka (retention). */
  start: bigint;
  /** High watermark: the offset of the next record. */
  end: bigint;
  lag: bigint;
}

/** A readable topic the policy does not archive: no lag is counted for it. */
export interface ExcludedTopic {
  topic: string;
  /** The stable word of `topics --json` (vetoed, not_archivable, not_listed, ...). */
  reason: string;
  detail: string;
}

export type LagReport =
  | {
    group: string;
    /** The policy that chose the topics: "static", "hopauth". */
    policy: string;
    partitions: PartitionLag[];
    total: bigint;
    /** Readable topics the policy excludes (internal ones aside), all of them counted... */
    excludedCount: number;
    /** ...and, listed with the reason, those --topic named. */
    excluded: ExcludedTopic[];
  }
  | { group: string; error: string }
  | null;

const minOf = (a: bigint | null, b: bigint | null) => (a === null ? b : b === null ? a : a < b ? a : b);
const maxOf = (a: bigint | null, b: bigint | null) => (a === null ? b : b === null ? a : a > b ? a : b);

/** Pure: the TOTAL line of a window. */
export function totalsOf(topics: TopicStats[]): Totals {
  return topics.reduce<Totals>((t, s) => ({
    topics: t.topics + 1,
    messages: t.messages + s.messages,
    bytes: t.bytes + s.bytes,
    earliest: minOf(t.earliest, s.earliest),
    latest: maxOf(t.latest, s.latest),
    lastArchivedAt: maxOf(t.lastArchivedAt, s.lastArchivedAt),
    duplicates: t.duplicates + s.duplicates,
  }), {
    topics: 0,
    messages: 0n,
    bytes: 0n,
    earliest: null,
    latest: null,
    lastArchivedAt: null,
    duplicates: 0n,
  });
}

/**
 * Pure: lag per partition. With no committed offset the archiver starts at the oldest record Kafka keeps, and a
 * commit below that (records expired before they were archived) counts from there too: those records are gone.
 */
export function computeLag(
  ends: { topic: string; partition: number; start: bigint; end: bigint }[],
  committed: Map<string, bigint>,
): PartitionLag[] {
  return ends.map((p) => {
    const c = committed.get(`${p.topic}:${p.partition}`);
    const known = c === undefined || c < 0n ? null : c;
    const from = known === null || known < p.start ? p.start : known;
    return { ...p, committed: known, lag: p.end > from ? p.end - from : 0n };
  });
}

async function fetchLag(admin: Admin, groupId: string, topics: string[]): Promise<PartitionLag[]> {
  const ends: { topic: string; partition: number; start: bigint; end: bigint }[] = [];
  for (const topic of topics) {
    for (const p of await admin.fetchTopicOffsets(topic)) {
      ends.push({ topic, partition: p.partition, start: BigInt(p.low), end: BigInt(p.high) });
    }
  }
  const committed = new Map<string, bigint>();
  if (topics.length > 0) {
    for (const t of await admin.fetchOffsets({ groupId, topics })) {
      for (const p of t.partitions) committed.set(`${t.topic}:${p.partition}`, BigInt(p.offset));
    }
  }
  return computeLag(ends, committed).sort((a, b) =>
    a.topic.localeCompare(b.topic) || a.partition - b.partition
  );
}

export const command: Command = {
  name: "status",
  summary:
    "per-topic counts, bytes, times and duplicates over time windows; quarantined records; consumer-group lag per partition",
  help: `Usage: housekeeping status [options]

From the index, per topic and in total, for each window of record time ending now (default: last hour, last 24
hours, all time): messages, bytes stored (BSON objects), earliest and latest record timestamp, last archive time
(when the newest of those messages was archived) and duplicate receipts (records received again and not stored
twice). From Kafka, for every topic \`archive\` would archive: per partition the archiver group's committed offset,
the end offset and the lag (records not yet archived). Which topics those are is the archive's own decision, as
\`topics\` shows it: the veto list, or with --hopauth-url hopauth's archivable flag; a topic it does not archive
has no lag (a --topic it excludes is listed with the reason).

Options:
${optionsHelp(STATUS_OPTIONS)}
${settingsHelp()}

Exit status: 0 on success; 1 on errors, including Kafka being unreachable for the lag (the index part is still
printed); 2 for usage errors.

Examples:
  housekeeping status
  housekeeping status --window 7d --topic gcn.circular --skip-lag
  housekeeping status --json | jq '.lag.total'
`,
  async run(argv, ctx) {
    const options = parseStatusArgs(argv, ctx.env);
    if (options.printConfig) {
      return printConfig(ctx, options.settings, printableOptions(STATUS_OPTIONS, options.own));
    }
    const now = BigInt(Date.now());
    const { log, kafka, veto, groupId } = await openKafka(options.settings, ctx, "housekeeping-status");
    let quarantined: QuarantineCount[] = [];
    const windows = await withReadOnlyIndex(options.settings, ctx, log, async (index) => {
      const counts = await index.quarantineCounts();
      quarantined = options.topics === undefined
        ? counts
        : counts.filter((q) => options.topics!.includes(q.topic));
      const reports: WindowReport[] = [];
      for (const w of options.windows) {
        const since = w.ms === null ? null : now - w.ms;
        const all = await index.topicStats(since ?? undefined);
        const topics = options.topics === undefined
          ? all
          : all.filter((s) => options.topics!.includes(s.topic));
        reports.push({ window: w.name, since, topics, totals: totalsOf(topics) });
      }
      return reports;
    });
    const lag = options.policy !== null
      ? await lagReport(kafka, options.policy, veto, groupId, options.topics, log)
      : null;
    if (options.json) {
      ctx.stdout(toJson({ generatedAt: now, group: groupId, windows, quarantined, lag }, 2) + "\n");
    } else ctx.stdout(renderStatus(windows, lag, quarantined));
    return lag !== null && "error" in lag ? 1 : 0;
  },
};

async function lagReport(
  kafka: Awaited<ReturnType<typeof openKafka>>["kafka"],
  policySettings: PolicySettings,
  veto: Awaited<ReturnType<typeof openKafka>>["veto"],
  groupId: string,
  only: string[] | undefined,
  log: Logger,
): Promise<LagReport> {
  const admin = kafka.admin();
  try {
    // The archive's own decision (lib/cli/topic_policy.ts): a topic it does not archive has no lag to catch up.
    const policy = await fetchTopicPolicy(policySettings, veto, log);
    await admin.connect();
    const judged = judgeTopics(await admin.listTopics(), policy).filter((r) => r.readable);
    const wanted = (topic: string) => only === undefined || only.includes(topic);
    const topics = judged.filter((r) => r.decision.archive && wanted(r.topic)).map((r) => r.topic);
    const excluded = judged.filter((r) => !r.decision.archive && r.decision.category !== "internal");
    const partitions = await fetchLag(admin, groupId, topics);
    return {
      group: groupId,
      policy: policy.source,
      partitions,
      total: partitions.reduce((a, p) => a + p.lag, 0n),
      excludedCount: excluded.length,
      excluded: only === undefined ? [] : excluded.filter((r) => wanted(r.topic)).map((r) => ({
        topic: r.topic,
        reason: r.decision.category,
        detail: r.decision.reason,
      })),
    };
  } catch (e) {
    log.warn("cannot read the consumer-group lag from Kafka", { error: e });
    return { group: groupId, error: errorMessage(e) };
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

const STATS_COLUMNS: Column[] = [
  { title: "TOPIC" },
  { title: "MESSAGES", align: "right" },
  { title: "BYTES", align: "right" },
  { title: "EARLIEST (record time)" },
  { title: "LATEST (record time)" },
  { title: "LAST ARCHIVED" },
  { title: "DUPLICATES", align: "right" },
];

function statsRow(name: string, s: Omit<TopicStats, "topic">): string[] {
  return [
    name,
    formatCount(s.messages),
    formatBytes(s.bytes),
    formatTimeShort(s.earliest),
    formatTimeShort(s.latest),
    formatTimeShort(s.lastArchivedAt),
    formatCount(s.duplicates),
  ];
}

/** Records archived under quarantine (their index row refused), per topic, all time. */
export interface QuarantineCount {
  topic: string;
  records: bigint;
}

/** Pure: the tables a person reads. */
export function renderStatus(
  windows: WindowReport[],
  lag: LagReport,
  quarantined: QuarantineCount[] = [],
): string {
  const out: string[] = [];
  if (quarantined.length > 0) {
    const total = quarantined.reduce((n, q) => n + q.records, 0n);
    const rows = [...quarantined.map((q) => [q.topic, formatCount(q.records)]), [
      "TOTAL",
      formatCount(total),
    ]];
    out.push(
      "== quarantined: archived, but the index refused their full rows (`housekeeping verify` lists them)\n" +
        renderTable([{ title: "TOPIC" }, { title: "RECORDS", align: "right" }], rows),
    );
  }
  for (const w of windows) {
    const title = w.since === null
      ? "all time"
      : `last ${w.window} (records since ${formatTimeShort(w.since)})`;
    const rows = w.topics.map((s) => statsRow(s.topic, s));
    rows.push(statsRow(`TOTAL (${w.totals.topics} topic${w.totals.topics === 1 ? "" : "s"})`, w.totals));
    out.push(`== ${title}\n${renderTable(STATS_COLUMNS, rows)}`);
  }
  if (lag !== null) {
    if ("error" in lag) out.push(`== consumer group "${lag.group}": lag unavailable: ${lag.error}\n`);
    else {
      const rows = lag.partitions.map((p) => [
        p.topic,
        String(p.partition),
        p.committed === null ? "-" : p.committed.toString(),
        p.end.toString(),
        formatCount(p.lag),
      ]);
      rows.push(["TOTAL", "", "", "", formatCount(lag.total)]);
      for (const x of lag.excluded) rows.push([x.topic, "-", "-", "-", `not archived: ${x.reason}`]);
      const others = lag.excludedCount - lag.excluded.length;
      const note = others === 0
        ? ""
        : `${others} readable topic${others === 1 ? " is" : "s are"} not archived ` +
          `by the ${lag.policy} policy and not counted (\`housekeeping topics\` says why)\n`;
      out.push(
        `== consumer group "${lag.group}": lag per partition\n` +
          renderTable([
            { title: "TOPIC" },
            { title: "PARTITION", align: "right" },
            { title: "COMMITTED", align: "right" },
            { title: "END", align: "right" },
            { title: "LAG", align: "right" },
          ], rows) + note,
      );
    }
  }
  return out.join("\n");
}
