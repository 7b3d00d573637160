// The ingest core with the topic policy's refresh rule in front: archive-core fetches hopauth's topics again before
// deciding about a record of a topic it did not list that is newer than its last fetch (decision_api.py's
// _metadata_for_topic). `archive` and `serve`'s uploads both store through it.
import type { KafkaRecord } from "../format/record.ts";
import { isHopauthPolicy } from "../topics/policy_hopauth.ts";
import type { TopicPolicy } from "../topics/policy.ts";
import type { Ingest } from "./ingest.ts";

/**
 * `ingest` with archive-core's refresh rule in front of each claim (which decides `public` and text indexing): a
 * record of a topic hopauth did not list, newer than the last fetch, has the policy fetched again first.
 */
export function observingIngest(ingest: Ingest, policy: TopicPolicy | undefined): Ingest {
  if (policy === undefined || !isHopauthPolicy(policy)) return ingest;
  const claim = async (records: KafkaRecord[]) => {
    const newest = new Map<string, bigint>();
    for (const r of records) {
      if (r.timestamp > (newest.get(r.topic) ?? -1n)) newest.set(r.topic, r.timestamp);
    }
    for (const [topic, timestamp] of newest) await policy.observe(topic, Number(timestamp));
    return await ingest.claim(records);
  };
  return { ...ingest, claim, ingest: async (records) => await ingest.write(await claim(records)) };
}
