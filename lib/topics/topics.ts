// Topic discovery: what the credential can read (cluster metadata), judged against the veto list.
import type { Admin } from "kafkajs";
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

export async function archivableTopics(admin: Admin, veto: VetoList): Promise<string[]> {
  return (await surveyTopics(admin, veto)).filter((r) => r.verdict.archive).map((r) => r.topic);
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
