// Topic discovery: what the credential can read (cluster metadata), judged against the veto list or, for the
// archive and `topics`, by the topic policy (lib/topics/policy.ts).
import type { Admin } from "kafkajs";
import type { TopicDecision, TopicPolicy } from "./policy.ts";
import { judgeTopic, type TopicVerdict, type VetoList } from "./veto.ts";

export interface TopicReport {
  topic: string;
  verdict: TopicVerdict;
}

/** Every topic the broker lists for this credential, with the reason each one is or is not archived. */
export async function surveyTopics(admin: Admin, veto: VetoList): Promise<TopicReport[]> {
  const names = await admin.listTopics();
  return names.sort().map((topic) => ({ topic, verdict: judgeTopic(veto, topic) }));
}

export interface PolicyReport {
  topic: string;
  /** Listed by Kafka for this credential. */
  readable: boolean;
  decision: TopicDecision;
}

/**
 * The policy's decision for every topic Kafka lists (`readable`, the broker's answer, is passed in so that the
 * archive can judge a list it already has) and for every topic the policy names that Kafka does not list.
 */
export function judgeTopics(readable: readonly string[], policy: TopicPolicy): PolicyReport[] {
  const listed = new Set(readable);
  const unlisted = policy.named().filter((t) => !listed.has(t));
  return [
    ...[...listed].map((topic) => ({ topic, readable: true, decision: policy.decide(topic) })),
    ...unlisted.map((topic) => ({ topic, readable: false, decision: policy.decide(topic, false) })),
  ].sort((a, b) => a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0);
}

/** The topics the archive consumes: readable ones the policy archives, by name. */
export function archivedTopics(readable: readonly string[], policy: TopicPolicy): string[] {
  return [...readable].filter((t) => policy.decide(t).archive).sort();
}

/** End offsets (high watermarks) per partition: what `--until-end` must reach. */
export async function endOffsets(admin: Admin, topics: string[]): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  for (const topic of topics) {
    for (const p of await admin.fetchTopicOffsets(topic)) {
      // An empty partition (high == low) is already complete: nothing to wait for.
      if (BigInt(p.high) > BigInt(p.low)) out.set(`${topic}:${p.partition}`, BigInt(p.high));
    }
  }
  return out;
}

/** Partitions whose committed group offset has not yet reached the target. */
export async function partitionsBehind(
  admin: Admin,
  groupId: string,
  targets: Map<string, bigint>,
): Promise<string[]> {
  if (targets.size === 0) return [];
  const topics = [...new Set([...targets.keys()].map((k) => k.slice(0, k.lastIndexOf(":"))))];
  const committed = new Map<string, bigint>();
  for (const t of await admin.fetchOffsets({ groupId, topics })) {
    for (const p of t.partitions) committed.set(`${t.topic}:${p.partition}`, BigInt(p.offset));
  }
  return [...targets].filter(([k, end]) => (committed.get(k) ?? -1n) < end).map(([k]) => k);
}
