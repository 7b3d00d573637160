// The produce requests of a restore (lib/restore/run.ts): records queue up into one request, which goes to
// `publish` as soon as there is room for it in flight; requests are checkpointed strictly in order, each only after
// every request before it was. The checkpoint thus never passes an unacknowledged record, and records acknowledged
// beyond it when a run is killed are found again by the read-back of the next run (see landed.ts).
import type { OrderPosition } from "../index/types.ts";
import type { WireMessage } from "../kafka/wire_headers.ts";
import type { Checkpoint } from "./checkpoint.ts";

const MAX_REQUEST_RECORDS = 500;
const MAX_REQUEST_BYTES = 4 * 2 ** 20;
/**
 * Bytes of produce requests in flight, at most (beyond the first): with 1 MiB records 2 requests of 4 MiB, with
 * small ones up to requestsInFlight. Measured at 1 MiB: 1 / 2 / 5 requests in flight gave 107 / 150 / 158
 * records/s and a peak RSS of 289 / 302 / 333 MiB.
 */
const MAX_REQUEST_BYTES_IN_FLIGHT = 2 * MAX_REQUEST_BYTES;

export interface TopicMessages {
  topic: string;
  messages: WireMessage[];
}

/** Moves the target's end offsets (in the checkpoint) past an acknowledged request. */
export type Acknowledge = () => Promise<void> | void;

export interface TopicResult {
  source: string;
  target: string;
  sent: number;
  skipped: number;
  bytes: number;
}

export interface Pending {
  topic: string;
  source: string;
  /** Null for a record already in the target (see RestoreJob.landed): counted with the request, not sent. */
  message: WireMessage | null;
  bytes: number;
  fallback: boolean;
}

/** One produce request's worth: the records to send and the rows decided up to its last one. */
export interface Queued {
  pending: Pending[];
  skippedSince: { source: string; topic: string }[];
  decidedUpTo: OrderPosition;
}

/** What this run sent and skipped, per topic and in total, and the checkpoint that follows acknowledged requests. */
export function createTally(start: Checkpoint) {
  const checkpoint: Checkpoint = { ...start };
  const topics = new Map<string, TopicResult>();
  const run = { sent: 0, skipped: 0, bytes: 0, fallbacks: 0, alreadyInTarget: 0 };

  const topicResult = (source: string, topic: string) => {
    let r = topics.get(source);
    if (r === undefined) {
      r = { source, target: topic, sent: 0, skipped: 0, bytes: 0 };
      topics.set(source, r);
    }
    return r;
  };

  /** Counts an acknowledged request and moves the checkpoint past it; returns its bytes. */
  function count({ pending, skippedSince, decidedUpTo }: Queued): number {
    let bytes = 0;
    for (const p of pending) {
      const r = topicResult(p.source, p.topic);
      r.sent++;
      r.bytes += p.bytes;
      bytes += p.bytes;
      if (p.fallback) run.fallbacks++;
      if (p.message === null) run.alreadyInTarget++;
    }
    for (const s of skippedSince) topicResult(s.source, s.topic).skipped++;
    run.sent += pending.length;
    run.skipped += skippedSince.length;
    run.bytes += bytes;
    checkpoint.sent += pending.length;
    checkpoint.skipped += skippedSince.length;
    checkpoint.bytes += bytes;
    checkpoint.position = decidedUpTo;
    return bytes;
  }

  return { checkpoint, topics, run, count };
}

export interface RequestQueueOptions {
  /** Produce requests handed to `publish` and not yet checkpointed, at most. */
  maxInFlight: number;
  /** See RestoreDeps.publish. */
  publish(batch: TopicMessages[]): Promise<Acknowledge | void>;
  /** Called in request order once a request and every one before it were acknowledged. */
  acknowledged(request: Queued): Promise<void>;
}

export type RequestQueue = ReturnType<typeof createRequestQueue>;

export function createRequestQueue(options: RequestQueueOptions) {
  let pending: Pending[] = [];
  let pendingBytes = 0;
  const pendingPerPartition = new Map<string, number>();
  // Rows decided (queued or skipped) since the last request; committed together with the next one.
  let decidedUpTo: OrderPosition | null = null;
  let skippedSince: { source: string; topic: string }[] = [];
  // The requests in flight (publishing, then saving the checkpoint after it), oldest first.
  const inflight: { committed: Promise<void>; bytes: number }[] = [];
  let inflightBytes = 0;
  let lastCommit: Promise<void> = Promise.resolve();

  /** Waits until at most `atMost` requests are in flight, and `room` more bytes fit beside them. */
  async function settle(atMost: number, room = 0): Promise<void> {
    while (
      inflight.length > atMost || (inflight.length > 0 && inflightBytes + room > MAX_REQUEST_BYTES_IN_FLIGHT)
    ) {
      const oldest = inflight.shift()!;
      inflightBytes -= oldest.bytes;
      await oldest.committed;
    }
  }

  /** Sends what is queued once there is room for it; does not wait for its answer. */
  async function send(): Promise<void> {
    await settle(options.maxInFlight - 1, pendingBytes);
    if (decidedUpTo === null) return;
    const request: Queued = { pending, skippedSince, decidedUpTo };
    const bytes = pendingBytes;
    pending = [];
    pendingBytes = 0;
    pendingPerPartition.clear();
    skippedSince = [];
    decidedUpTo = null;
    const committed = commit(request, lastCommit);
    lastCommit = committed;
    inflight.push({ committed, bytes });
    inflightBytes += bytes;
    // Awaited by a later settle(); until then a failure must not count as unhandled.
    committed.catch(() => {});
  }

  async function commit(request: Queued, before: Promise<void>): Promise<void> {
    let published: Promise<Acknowledge | void> = Promise.resolve();
    if (request.pending.some((p) => p.message !== null)) {
      published = options.publish(byTopic(request.pending));
    }
    // Settles only after its own request did, so that nothing is left in flight behind a failure.
    const [earlier, own] = await Promise.allSettled([before, published]);
    if (earlier.status === "rejected") throw earlier.reason;
    if (own.status === "rejected") throw own.reason;
    await own.value?.();
    await options.acknowledged(request);
  }

  return {
    /** True when a record of `wire` bytes for `partitionKey` still fits the queued request under `limit`. */
    fits(wire: number, partitionKey: string, limit: number): boolean {
      return pending.length < MAX_REQUEST_RECORDS && pendingBytes + wire <= MAX_REQUEST_BYTES &&
        (pendingPerPartition.get(partitionKey) ?? 0) + wire <= limit;
    },
    /** Queues a record (`wire` 0: one already in the target, sent with nothing). */
    add(p: Pending, wire = 0, partitionKey?: string): void {
      pending.push(p);
      pendingBytes += wire;
      if (partitionKey !== undefined) {
        pendingPerPartition.set(partitionKey, (pendingPerPartition.get(partitionKey) ?? 0) + wire);
      }
    },
    skip(s: { source: string; topic: string }): void {
      skippedSince.push(s);
    },
    /** Every row up to `position` is decided: the next request's checkpoint may pass it. */
    decided(position: OrderPosition): void {
      decidedUpTo = position;
    },
    send,
    /** Sends what is queued and waits until everything is acknowledged and checkpointed. */
    async flush(): Promise<void> {
      await send();
      await settle(0);
    },
    inFlight: (): Promise<void>[] => inflight.map((r) => r.committed),
  };
}

function byTopic(pending: Pending[]): TopicMessages[] {
  const topics = new Map<string, WireMessage[]>();
  for (const p of pending) {
    if (p.message === null) continue;
    const list = topics.get(p.topic) ?? [];
    list.push(p.message);
    topics.set(p.topic, list);
  }
  return [...topics].map(([topic, messages]) => ({ topic, messages }));
}
