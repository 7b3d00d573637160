// The restore loop: index rows in restore order -> objects fetched concurrently (bounded by count and bytes) ->
// each object checked against its index row -> records published exactly as archived, up to `requestsInFlight`
// produce requests at a time, handed over in order (the publisher keeps every partition's order) -> checkpoint
// after each acknowledged request, in request order.
import { hkError } from "../runtime/errors.ts";
import {
  type Index,
  type OrderPosition,
  orderPositionOf,
  type SelectFilter,
  type StoredRow,
} from "../index/types.ts";
import { type WireMessage, wireMessage } from "../kafka/wire_headers.ts";
import type { Logger } from "../runtime/log.ts";
import type { Progress } from "../cli/progress.ts";
import type { DecodedArchiveObject } from "../format/record.ts";
import { verifyObject } from "../format/object_check.ts";
import { sleep, withRetry } from "../runtime/retry.ts";
import type { BlobStore } from "../store/types.ts";
import type { Checkpoint } from "./checkpoint.ts";
import type { Landed } from "./landed.ts";
import { type TargetNaming, targetPartition, targetTopic } from "./plan.ts";
import { createFetchWindow } from "./window.ts";

type Row = StoredRow & { id: bigint };

const utf8 = new TextEncoder();

/** Bytes a record carries (key, value, header keys and values): what --max-bytes-rate meters. */
export function recordBytes(r: Pick<DecodedArchiveObject, "key" | "value" | "headers">): number {
  let n = (r.key?.length ?? 0) + (r.value?.length ?? 0);
  for (const h of r.headers) n += utf8.encode(h.key).length + (h.value?.length ?? 0);
  return n;
}

// Upper bounds of a record's framing in a v2 batch (length, attributes, deltas, length prefixes) and of a batch's
// header: a produce request for one partition is kept under the topic's max.message.bytes.
const RECORD_FRAMING = 32;
const HEADER_FRAMING = 10;
const BATCH_FRAMING = 128;
const MAX_REQUEST_RECORDS = 500;
const MAX_REQUEST_BYTES = 4 * 2 ** 20;
/**
 * Bytes of produce requests in flight, at most (beyond the first): with 1 MiB records 2 requests of 4 MiB, with
 * small ones up to requestsInFlight. Measured at 1 MiB: 1 / 2 / 5 requests in flight gave 107 / 150 / 158
 * records/s and a peak RSS of 289 / 302 / 333 MiB.
 */
const MAX_REQUEST_BYTES_IN_FLIGHT = 2 * MAX_REQUEST_BYTES;
const PAGE_ROWS = 500;
/** Rows held per allowed fetch: room for objects that arrive while an earlier one is late. */
const WINDOW_PER_FETCH = 2;
const MAX_BAD_REPORTED = 1000;

function wireSize(r: DecodedArchiveObject): number {
  return recordBytes(r) + RECORD_FRAMING + HEADER_FRAMING * r.headers.length;
}

export interface TopicMessages {
  topic: string;
  messages: WireMessage[];
}

export interface BadObject {
  uuid: string;
  topic: string;
  key: string;
  problem: string;
}

export interface RestoreJob {
  filter: SelectFilter;
  naming: TargetNaming;
  /** Every target topic the selection maps to, with its partition count and batch size limit. */
  targets: ReadonlyMap<string, { partitions: number; maxMessageBytes: number }>;
  /** Where a previous run stopped (position null: from the start) and its totals. */
  start: Checkpoint;
  onBadObject: "stop" | "skip";
  limiter?: { reserve(bytes: number): number };
  fetchConcurrency: number;
  maxInflightBytes: number;
  pageRows?: number;
  /** Records already in the target beyond the checkpoint (acknowledged, not yet recorded, when a run was killed). */
  landed?: Landed;
  /** Produce requests handed to `publish` and not yet checkpointed, at most (default 1). */
  requestsInFlight?: number;
}

/** Moves the target's end offsets (in the checkpoint) past an acknowledged request. */
export type Acknowledge = () => Promise<void> | void;

export interface RestoreDeps {
  index: Pick<Index, "selectInOrder">;
  store: Pick<BlobStore, "get">;
  log: Logger;
  signal: AbortSignal;
  /**
   * Sends one produce request's worth; resolves once the target acknowledged all of it. It is called again
   * before the request before has resolved (up to RestoreJob.requestsInFlight): the publisher keeps every
   * partition's records in call order. What it resolves with is called in request order, each right before
   * that request's checkpoint is saved.
   */
  publish(batch: TopicMessages[]): Promise<Acknowledge | void>;
  progress: Pick<Progress, "tick" | "done">;
  saveCheckpoint(checkpoint: Checkpoint): Promise<void>;
  now?: () => number;
}

export interface TopicResult {
  source: string;
  target: string;
  sent: number;
  skipped: number;
  bytes: number;
}

export interface RestoreResult {
  /** This run only; the checkpoint holds the totals over all runs. */
  sent: number;
  skipped: number;
  bytes: number;
  topics: TopicResult[];
  badObjects: BadObject[];
  /** Records that went to another partition than their own (see targetPartition). */
  partitionFallbacks: number;
  /** Of `sent`: records found already in the target after an interruption, and so not sent again. */
  alreadyInTarget: number;
  throttle: { waits: number; ms: number };
  interrupted: boolean;
  checkpoint: Checkpoint;
}

interface Pending {
  topic: string;
  source: string;
  /** Null for a record already in the target (see RestoreJob.landed): counted with the request, not sent. */
  message: WireMessage | null;
  bytes: number;
  fallback: boolean;
}

/** One produce request's worth: the records to send and the rows decided up to its last one. */
interface Queued {
  pending: Pending[];
  skippedSince: { source: string; topic: string }[];
  decidedUpTo: OrderPosition;
}

export async function runRestore(job: RestoreJob, deps: RestoreDeps): Promise<RestoreResult> {
  const { log, signal } = deps;
  const now = deps.now ?? (() => performance.now());
  const pageRows = job.pageRows ?? PAGE_ROWS;
  const checkpoint: Checkpoint = { ...job.start };
  const topics = new Map<string, TopicResult>();
  const badObjects: BadObject[] = [];
  const warnedFallback = new Set<string>();
  const throttle = { waits: 0, ms: 0 };
  const run = { sent: 0, skipped: 0, bytes: 0, fallbacks: 0, alreadyInTarget: 0 };

  let pending: Pending[] = [];
  let pendingBytes = 0;
  const pendingPerPartition = new Map<string, number>();
  // Rows decided (queued or skipped) since the last acknowledged request; committed together with it.
  let decidedUpTo: OrderPosition | null = null;
  let skippedSince: { source: string; topic: string }[] = [];

  const topicResult = (source: string, topic: string) => {
    let r = topics.get(source);
    if (r === undefined) {
      r = { source, target: topic, sent: 0, skipped: 0, bytes: 0 };
      topics.set(source, r);
    }
    return r;
  };

  // The requests in flight (publishing, then saving the checkpoint after it), oldest first. A request is handed to
  // `publish` at once, but is checkpointed only after every request before it was: the checkpoint never passes an
  // unacknowledged record, and records acknowledged beyond it when a run is killed are found again by the read-back
  // of the next run (see landed.ts). Meanwhile the following records are fetched, checked and queued.
  const maxInFlight = Math.max(1, job.requestsInFlight ?? 1);
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
    await settle(maxInFlight - 1, pendingBytes);
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

  /** Sends what is queued and waits until everything is acknowledged and checkpointed. */
  async function flush(): Promise<void> {
    await send();
    await settle(0);
  }

  async function commit(request: Queued, before: Promise<void>): Promise<void> {
    const { pending, skippedSince } = request;
    let published: Promise<Acknowledge | void> = Promise.resolve();
    if (pending.some((p) => p.message !== null)) {
      const byTopic = new Map<string, WireMessage[]>();
      for (const p of pending) {
        if (p.message === null) continue;
        const list = byTopic.get(p.topic) ?? [];
        list.push(p.message);
        byTopic.set(p.topic, list);
      }
      published = deps.publish([...byTopic].map(([topic, messages]) => ({ topic, messages })));
    }
    // Settles only after its own request did, so that nothing is left in flight behind a failure.
    const [earlier, own] = await Promise.allSettled([before, published]);
    if (earlier.status === "rejected") throw earlier.reason;
    if (own.status === "rejected") throw own.reason;
    await own.value?.();
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
    checkpoint.position = request.decidedUpTo;
    deps.progress.tick(pending.length + skippedSince.length, bytes);
    await deps.saveCheckpoint(checkpoint);
  }

  async function handle(row: Row, bytes: Uint8Array | null): Promise<void> {
    const topic = targetTopic(job.naming, row.topic);
    const verified = verifyObject(row, bytes);
    if ("problem" in verified) {
      const bad = { uuid: row.uuid, topic: row.topic, key: row.key, problem: verified.problem };
      log.error("bad archive object", { ...bad, action: job.onBadObject });
      if (badObjects.length < MAX_BAD_REPORTED) badObjects.push(bad);
      if (job.onBadObject === "stop") {
        await flush();
        throw hkError(
          "RESTORE_BAD_OBJECT",
          `object ${row.key} (uuid ${row.uuid}, topic ${row.topic}) fails its check: ${verified.problem}. Nothing ` +
            "after it was sent (the checkpoint, if any, stops before it). Repair or re-fetch the object, or re-run " +
            "with --on-bad-object skip to report and skip such objects",
        );
      }
      skippedSince.push({ source: row.topic, topic });
      decidedUpTo = orderPositionOf(row);
      return;
    }
    const d = verified.decoded;
    const target = job.targets.get(topic);
    if (target === undefined) throw new Error(`no target information for topic ${topic}`);
    const source = d.partition ?? row.partition;
    const { partition, fallback } = targetPartition(source, target.partitions);
    if (fallback && !warnedFallback.has(`${row.topic}:${source}`)) {
      warnedFallback.add(`${row.topic}:${source}`);
      log.warn("source partition missing on the target; using the fallback partition", {
        source: row.topic,
        sourcePartition: source,
        target: topic,
        targetPartition: partition,
        targetPartitions: target.partitions,
      });
    }
    const size = recordBytes(d);
    const record = { key: d.key, value: d.value, headers: d.headers, timestamp: d.timestamp };
    if (job.landed?.take(topic, partition, record)) {
      pending.push({ topic, source: row.topic, message: null, bytes: size, fallback });
      decidedUpTo = orderPositionOf(row);
      return;
    }
    const wire = wireSize(d);
    const key = `${topic}\0${partition}`;
    const limit = Math.max(1, target.maxMessageBytes - BATCH_FRAMING);
    if (
      pending.length >= MAX_REQUEST_RECORDS || pendingBytes + wire > MAX_REQUEST_BYTES ||
      (pendingPerPartition.get(key) ?? 0) + wire > limit
    ) await send();
    const wait = job.limiter?.reserve(size) ?? 0;
    if (wait > 0) {
      // Waiting is the moment to get what is held acknowledged, so the checkpoint keeps up with a slow restore.
      const until = now() + wait;
      await flush();
      throttle.waits++;
      throttle.ms += wait;
      await sleep(Math.max(0, until - now()), signal);
    }
    const message = wireMessage(record, partition);
    pending.push({ topic, source: row.topic, message, bytes: size, fallback });
    pendingBytes += wire;
    pendingPerPartition.set(key, (pendingPerPartition.get(key) ?? 0) + wire);
    decidedUpTo = orderPositionOf(row);
  }

  const fetchObject = (row: Row) =>
    withRetry(() => deps.store.get(row.key), { what: `reading object ${row.key}`, signal, log });

  const window = createFetchWindow<Row>(
    {
      fetchConcurrency: job.fetchConcurrency,
      maxInflightBytes: job.maxInflightBytes,
      perFetch: WINDOW_PER_FETCH,
    },
    fetchObject,
  );
  const next = async () => {
    const { row, object } = window.take();
    // Once stopping, no row is decided any more: rows are handled strictly in order, so dropping this one and all
    // after it keeps the checkpoint exact (an aborted fetch would otherwise surface as an error).
    if (signal.aborted) return;
    let bytes: Uint8Array | null;
    try {
      bytes = await object;
    } catch (e) {
      if (signal.aborted) return;
      throw e;
    }
    await handle(row, bytes);
  };

  const readPage = (after: OrderPosition | undefined) => {
    const page = withRetry(
      () => deps.index.selectInOrder(job.filter, { ...(after ? { after } : {}), limit: pageRows }),
      { what: "reading the index", signal, log },
    );
    // Read ahead while the page before is fetched; awaited in turn, or dropped when stopping.
    page.catch(() => {});
    return page;
  };

  try {
    let page = readPage(job.start.position ?? undefined);
    pages: while (!signal.aborted) {
      const rows = await page;
      if (rows.length === 0) break;
      page = readPage(orderPositionOf(rows[rows.length - 1]!));
      for (const row of rows) {
        while (!signal.aborted) {
          // Arrived objects are handled at once, in order; otherwise wait for any fetch to settle (the head, or one
          // behind it, which frees a fetch slot) unless there is room to start this row's fetch.
          if (window.headSettled()) await next();
          else if (window.roomFor(row)) break;
          else await window.anySettled();
        }
        if (signal.aborted) break pages;
        window.add(row);
      }
    }
    while (window.length > 0 && !signal.aborted) await next();
    await flush();
  } finally {
    // On an error, what is in flight still finishes: acknowledged records are then in the checkpoint.
    await Promise.allSettled([...window.objects(), ...inflight.map((r) => r.committed)]);
  }
  const interrupted = signal.aborted;
  if (!interrupted) {
    checkpoint.complete = true;
    await deps.saveCheckpoint(checkpoint);
  }
  deps.progress.done({ sent: run.sent, skipped: run.skipped, ...(interrupted ? { interrupted } : {}) });
  return {
    sent: run.sent,
    skipped: run.skipped,
    bytes: run.bytes,
    topics: [...topics.values()],
    badObjects,
    partitionFallbacks: run.fallbacks,
    alreadyInTarget: run.alreadyInTarget,
    throttle: { waits: throttle.waits, ms: Math.round(throttle.ms) },
    interrupted,
    checkpoint,
  };
}
