// Kafka's rules for topic names, and the archive's offload pseudo-topics built on them.
import { ARCHIVE_TOPIC_PATTERN, TOPIC_PATTERN } from "../format/keys.ts";

const TOPIC = new RegExp(`^${TOPIC_PATTERN}$`);

/** Kafka's rule for topic names: 1 to 249 of [A-Za-z0-9._-], except "." and "..". */
export function isTopicName(name: string): boolean {
  return TOPIC.test(name) && name !== "." && name !== "..";
}
// Messages too large for Kafka, posted to `serve` by hop-client, are archived (as archive-api does) under the
// pseudo-topic `<topic>+oversized`: '+' is illegal in Kafka names, so it can never clash with a real topic.
export const OFFLOAD_SUFFIX = "+oversized";
const ARCHIVE_TOPIC = new RegExp(`^${ARCHIVE_TOPIC_PATTERN}$`);

/** A topic of the archive: a Kafka topic name, or the offload pseudo-topic of one. */
export function isArchiveTopic(name: string): boolean {
  return ARCHIVE_TOPIC.test(name) && isTopicName(offloadedFrom(name));
}

/** The Kafka topic an offload pseudo-topic extends; any other name unchanged. */
export function offloadedFrom(topic: string): string {
  return topic.endsWith(OFFLOAD_SUFFIX) ? topic.slice(0, -OFFLOAD_SUFFIX.length) : topic;
}
