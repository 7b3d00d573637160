// Publishing restored records to the target: in order through the idempotent producer (lib/restore/producer.ts), the
// target's end offsets advanced past what was acknowledged (for the checkpoint), a stop that still ends a request
// the cluster never answers, and failures that say how to fix and resume. recognizeLanded finds, on resuming, what
// a killed run had sent after its checkpoint.
import type { Admin, Kafka, RecordMetadata } from "kafkajs";
import { errorMessage, hkError, isHkError } from "../runtime/errors.ts";
import type { Logger } from "../runtime/log.ts";
import type { Checkpoint } from "./checkpoint.ts";
import {
  currentEnds,
  type Landed,
  landedMatcher,
  mergeEnds,
  partitionKey,
  readSpans,
  spansBeyond,
  type TargetEnds,
} from "./landed.ts";
import type { OrderedProducer } from "./producer.ts";
import type { TopicMessages } from "./run.ts";

/**
 * The publish step of runRestore: sends one batch and waits for its acknowledgement; what it resolves to moves
 * `ends` past the batch, called by runRestore in send order.
 * Errors other than ours become RESTORE_SEND_FAILED with the broker's hint and how to resume.
 */
export function createPublisher(
  { producer, admin, ends, signal, checkpoint }: {
    producer: OrderedProducer;
    admin: Admin;
    ends: TargetEnds;
    signal: AbortSignal;
    checkpoint: string | undefined;
  },
): (batch: TopicMessages[]) => Promise<() => Promise<void>> {
  return async (batch: TopicMessages[]) => {
    try {
      const acknowledged = await unlessStuck(producer.send(batch), signal, checkpoint);
      return () => advanceEnds(ends, batch, acknowledged, admin);
    } catch (e) {
      if (isHkError(e)) throw e;
      throw sendError(e, batch.map((b) => b.topic), checkpoint);
    }
  };
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

/**
 * The target's end offsets to record in the checkpoint from here on, and the records of this restore that a killed
 * run had sent beyond its checkpoint (see lib/restore/landed.ts).
 */
export async function recognizeLanded(
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

const STOP_GRACE_MS = 30_000;

/**
 * `send`, unless a stop was asked for and it is still unacknowledged after a grace period: the idempotent
 * producer retries an unreachable cluster for ever, and SIGINT must still end the command.
 */
export async function unlessStuck<T>(
  send: Promise<T>,
  signal: AbortSignal,
  checkpoint: string | undefined,
  graceMs = STOP_GRACE_MS,
): Promise<T> {
  // One listener and, once a stop is asked, one timer, both gone when `send` settles: AbortSignal.any and an
  // AbortController per request cost ~40 µs of the JS thread per produce request, this ~3.
  let timer: ReturnType<typeof setTimeout> | undefined;
  let arm: (() => void) | undefined;
  const stuck = new Promise<never>((_, reject) => {
    arm = () => {
      timer = setTimeout(() => reject(stuckError(graceMs, checkpoint)), graceMs);
    };
    if (signal.aborted) arm();
    else signal.addEventListener("abort", arm, { once: true });
  });
  try {
    return await Promise.race([send, stuck]);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", arm!);
  }
}

function stuckError(graceMs: number, checkpoint: string | undefined): Error {
  return hkError(
    "RESTORE_INTERRUPTED",
    `stopped while a produce request was unacknowledged for ${graceMs / 1000} s (is the target cluster ` +
      `reachable?); it may or may not have been written${
        checkpoint === undefined
          ? ""
          : `; resuming from ${checkpoint} finds what was written and sends the rest`
      }`,
  );
}
