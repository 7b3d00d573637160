// What restore reports: the plan per topic (and --dry-run's report of it), progress while sending, and the
// summary at the end.
import type { CommandContext } from "../cli/command.ts";
import { formatTime } from "../cli/output.ts";
import type { PartitionSummary } from "../index/types.ts";
import { createProgress, type Progress } from "../cli/progress.ts";
import type { RestoreOptions } from "./args.ts";
import type { Checkpoint } from "./checkpoint.ts";
import { positionToJson, type TargetNaming, targetTopic } from "./plan.ts";
import type { RestoreResult } from "./run.ts";

const encoder = new TextEncoder();

/** What the selection holds per source topic, with its target topic. */
export interface TopicPlan {
  source: string;
  target: string;
  records: bigint;
  bytes: bigint;
  earliest: bigint;
  latest: bigint;
  partitions: PartitionSummary[];
}

export function planTopics(summary: PartitionSummary[], naming: TargetNaming): TopicPlan[] {
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

/** The --dry-run report: what would be sent, per topic and partition. */
export function dryRunReport(
  plan: TopicPlan[],
  targetBrokers: string[],
  sameCluster: boolean,
  start: Checkpoint,
) {
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

export function restoreProgress(
  mode: RestoreOptions["progress"],
  total: number,
  ctx: CommandContext,
): Progress {
  if (mode === "none") return { tick() {}, done() {} };
  return createProgress({
    label: "restore",
    total,
    isTerminal: mode === "auto" ? (ctx.stderrIsTerminal ?? Deno.stderr.isTerminal()) : mode === "bar",
    write: ctx.stderr ?? ((text) => Deno.stderr.writeSync(encoder.encode(text))),
  });
}

export function totalsOf(c: Checkpoint) {
  return { sent: c.sent, skipped: c.skipped, bytes: c.bytes };
}

/** The summary a finished or interrupted restore prints on stdout. */
export function summaryOf(r: RestoreResult, elapsedMs: number, checkpoint: string | undefined) {
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
