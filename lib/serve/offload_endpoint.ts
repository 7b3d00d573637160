// Offload discovery: hop-client learns where to send messages too large for Kafka (and which host it may send its
// credential to when fetching them back) from the last message of the Kafka topic `sys.metadata`, a JSON object
// {"LargeMessageUploadEndpoint": URL}. Publishing it is idempotent: nothing is written when the last message
// already says the same; the topic is created (one partition, compacted, the value under one key) if missing.
import { Buffer } from "node:buffer";
import type { Admin, Kafka } from "kafkajs";
import { hkError } from "../runtime/errors.ts";
import type { Logger } from "../runtime/log.ts";

export const METADATA_TOPIC = "sys.metadata";
const KEY = "LargeMessageUploadEndpoint";

/** The metadata message's value for `url` (an http(s) URL with no path beyond the API root). */
export function endpointMessage(url: string): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ [KEY]: url }));
}

/** Checks what hop-client will do with `url`: it posts to `${url}/topic/...` and trusts its scheme and host. */
export function checkEndpointUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw hkError(
      "USAGE",
      `offload endpoint "${url}" is not a URL; give serve's public URL, e.g. https://archive.example.org`,
    );
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    throw hkError("USAGE", `offload endpoint "${url}" must be http(s)`);
  }
  if (parsed.search !== "" || parsed.hash !== "" || parsed.username !== "" || parsed.password !== "") {
    throw hkError("USAGE", `offload endpoint "${url}" must have no query, fragment or user info`);
  }
  return url.replace(/\/+$/, "");
}

async function ensureTopic(admin: Admin, topic: string): Promise<boolean> {
  if ((await admin.listTopics()).includes(topic)) return false;
  try {
    await admin.createTopics({
      topics: [{ topic, numPartitions: 1, configEntries: [{ name: "cleanup.policy", value: "compact" }] }],
      waitForLeaders: true,
    });
  } catch (e) {
    const type = (e as { type?: string }).type;
    if (type !== "TOPIC_ALREADY_EXISTS" && type !== "UNKNOWN_TOPIC_OR_PARTITION") throw e;
  }
  return true;
}

/**
 * Reads the records of offsets [from, to) of one partition back: restore's reader, handed in by the command so that
 * serve and restore (one layer) stay apart.
 */
export type ReadSpans = (
  kafka: Kafka,
  admin: Admin,
  spans: { topic: string; partition: number; from: bigint; to: bigint }[],
  groupId: string,
  log: Logger,
) => Promise<ReadonlyMap<string, ReadonlyMap<number, readonly { value: Uint8Array | null }[]>>>;

/** The last message's value on partition 0 of `topic`, or null when it has none. */
async function lastValue(
  kafka: Kafka,
  admin: Admin,
  topic: string,
  options: { groupId: string; log: Logger; readSpans: ReadSpans },
) {
  const { groupId, log, readSpans } = options;
  const offsets = await admin.fetchTopicOffsets(topic);
  const p0 = offsets.find((p) => p.partition === 0);
  if (p0 === undefined || BigInt(p0.high) <= BigInt(p0.low)) return null;
  const to = BigInt(p0.high);
  const found = await readSpans(kafka, admin, [{ topic, partition: 0, from: to - 1n, to }], groupId, log);
  return found.get(topic)?.get(0)?.at(-1)?.value ?? null;
}

/**
 * Makes `url` what hop-client finds in `topic`: "unchanged" when the last message already says so, else
 * "published".
 */
export async function publishOffloadEndpoint(
  kafka: Kafka,
  url: string,
  options: { topic?: string; groupId: string; log: Logger; readSpans: ReadSpans },
): Promise<"published" | "unchanged"> {
  const topic = options.topic ?? METADATA_TOPIC;
  const value = endpointMessage(checkEndpointUrl(url));
  const admin = kafka.admin();
  await admin.connect();
  try {
    const created = await ensureTopic(admin, topic);
    if (!created) {
      const last = await lastValue(kafka, admin, topic, options);
      if (last !== null && Buffer.from(last).equals(Buffer.from(value))) return "unchanged";
    }
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    try {
      await producer.send({ topic, acks: -1, messages: [{ key: KEY, value: Buffer.from(value) }] });
    } finally {
      await producer.disconnect();
    }
    options.log.info("offload endpoint published", { topic, url });
    return "published";
  } finally {
    await admin.disconnect();
  }
}
