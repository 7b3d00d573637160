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
import { wireMessage } from "../kafka/wire_headers.ts";
import type { Logger } from "../runtime/log.ts";
import type { Progress } from "../cli/progress.ts";
import type { DecodedArchiveObject } from "../format/record.ts";
import { headerKeyBytes } from "../format/types.ts";
import { verifyObject } from "../format/object_check.ts";
import { sleep, withRetry } from "../runtime/retry.ts";
import type { BlobStore } from "../store/types.ts";
import type { Checkpoint } from "./checkpoint.ts";
import type { Landed } from "./landed.ts";
import { type TargetNaming, targetPartition, targetTopic } from "./plan.ts";
import { createFetchWindow } from "./window.ts";
import {
  type Acknowledge,
  createRequestQueue,
  createTally,
  type RequestQueue,
  type TopicMessages,
  type TopicResult,
} from "./requests.ts";

type Row = StoredRow & { id: bigint };

/** Bytes a record carries (key, value, header keys and values): what --max-bytes-rate meters. */
export function recordBytes(r: Pick<DecodedArchiveObject, "key" | "value" | "headers">): number {
  let n = (r.key?.length ?? 0) + (r.value?.length ?? 0);
  for (const h of r.headers) n += headerKeyBytes(h).length + (h.value?.length ?? 0);
  return n;
}

// Upper bounds of a record's framing in a v2 batch (length, attributes, deltas, length prefixes) and of a batch's
// header: a produce request for one partition is kept under the topic's max.message.bytes.
const RECORD_FRAMING = 32;
const HEADER_FRAMING = 10;
const BATCH_FRAMING = 128;
const PAGE_ROWS = 500;
/** Rows held per allowed fetch: room for objects that arrive while an earlier one is late. */
const WINDOW_PER_FETCH = 2;
const MAX_BAD_REPORTED = 1000;

function wireSize(r: DecodedArchiveObject): number {
  return recordBytes(r) + RECORD_FRAMING + HEADER_FRAMING * r.headers.length;
}

export type { Acknowledge, TopicMessages, TopicResult };

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

type FetchWindow = ReturnType<typeof createFetchWindow<Row>>;

export async function runRestore(job: RestoreJob, deps: RestoreDeps): Promise<RestoreResult> {
  const { signal } = deps;
  const tally = createTally(job.start);
  const queue = createRequestQueue({
    maxInFlight: Math.max(1, job.requestsInFlight ?? 1),
    publish: deps.publish,
    async acknowledged(request) {
      const bytes = tally.count(request);
      deps.progress.tick(request.pending.length + request.skippedSince.length, bytes);
      await deps.saveCheckpoint(tally.checkpoint);
    },
  });
  const rows = createRowHandler(job, deps, queue);
  const window = createFetchWindow<Row>(
    {
      fetchConcurrency: job.fetchConcurrency,
      maxInflightBytes: job.maxInflightBytes,
      perFetch: WINDOW_PER_FETCH,
    },
    (row) =>
      withRetry(() => deps.store.get(row.key), { what: `reading object ${row.key}`, signal, log: deps.log }),
  );
  try {
    await restoreInOrder(job, deps, window, rows.handle);
    await queue.flush();
  } finally {
    // On an error, what is in flight still finishes: acknowledged records are then in the checkpoint.
    await Promise.allSettled([...window.objects(), ...queue.inFlight()]);
  }
  const interrupted = signal.aborted;
  if (!interrupted) {
    tally.checkpoint.complete = true;
    await deps.saveCheckpoint(tally.checkpoint);
  }
  const { run } = tally;
  deps.progress.done({ sent: run.sent, skipped: run.skipped, ...(interrupted ? { interrupted } : {}) });
  return {
    sent: run.sent,
    skipped: run.skipped,
    bytes: run.bytes,
    topics: [...tally.topics.values()],
    badObjects: rows.badObjects,
    partitionFallbacks: run.fallbacks,
    alreadyInTarget: run.alreadyInTarget,
    throttle: { waits: rows.throttle.waits, ms: Math.round(rows.throttle.ms) },
    interrupted,
    checkpoint: tally.checkpoint,
  };
}

/**
 * Reads the selection page by page in restore order, starts each row's fetch as the window has room, and hands
 * arrived objects to `handle` strictly in order. Returns when every row was handled, or at once when stopping.
 */
async function restoreInOrder(
  job: RestoreJob,
  deps: RestoreDeps,
  window: FetchWindow,
  handle: (row: Row, bytes: Uint8Array | null) => Promise<void>,
): Promise<void> {
  const { signal, log } = deps;
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
      () =>
        deps.index.selectInOrder(job.filter, {
          ...(after ? { after } : {}),
          limit: job.pageRows ?? PAGE_ROWS,
        }),
      { what: "reading the index", signal, log },
    );
    // Read ahead while the page before is fetched; awaited in turn, or dropped when stopping.
    page.catch(() => {});
    return page;
  };

  let page = readPage(job.start.position ?? undefined);
  while (!signal.aborted) {
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
      if (signal.aborted) return;
      window.add(row);
    }
  }
  while (window.length > 0 && !signal.aborted) await next();
}

/**
 * Decides each row in turn: a bad object stops the restore or is skipped (--on-bad-object); a record already in
 * the target is counted, not sent; any other record is queued for its target partition, after the rate limiter.
 */
function createRowHandler(job: RestoreJob, deps: RestoreDeps, queue: RequestQueue) {
  const { log, signal } = deps;
  const now = deps.now ?? (() => performance.now());
  const badObjects: BadObject[] = [];
  const warnedFallback = new Set<string>();
  const throttle = { waits: 0, ms: 0 };

  async function badObject(row: Row, topic: string, problem: string): Promise<void> {
    const bad = { uuid: row.uuid, topic: row.topic, key: row.key, problem };
    log.error("bad archive object", { ...bad, action: job.onBadObject });
    if (badObjects.length < MAX_BAD_REPORTED) badObjects.push(bad);
    if (job.onBadObject === "stop") {
      await queue.flush();
      throw hkError(
        "RESTORE_BAD_OBJECT",
        `object ${row.key} (uuid ${row.uuid}, topic ${row.topic}) fails its check: ${problem}. Nothing ` +
          "after it was sent (the checkpoint, if any, stops before it). Repair or re-fetch the object, or re-run " +
          "with --on-bad-object skip to report and skip such objects",
      );
    }
    queue.skip({ source: row.topic, topic });
    queue.decided(orderPositionOf(row));
  }

  function partitionOf(row: Row, d: DecodedArchiveObject, topic: string, partitions: number) {
    const source = d.partition ?? row.partition;
    const chosen = targetPartition(source, partitions);
    if (chosen.fallback && !warnedFallback.has(`${row.topic}:${source}`)) {
      warnedFallback.add(`${row.topic}:${source}`);
      log.warn("source partition missing on the target; using the fallback partition", {
        source: row.topic,
        sourcePartition: source,
        target: topic,
        targetPartition: chosen.partition,
        targetPartitions: partitions,
      });
    }
    return chosen;
  }

  /** Waits out the rate limit; waiting is the moment to get what is held acknowledged, so the checkpoint keeps up. */
  async function throttled(size: number): Promise<void> {
    const wait = job.limiter?.reserve(size) ?? 0;
    if (wait <= 0) return;
    const until = now() + wait;
    await queue.flush();
    throttle.waits++;
    throttle.ms += wait;
    await sleep(Math.max(0, until - now()), signal);
  }

  async function handle(row: Row, bytes: Uint8Array | null): Promise<void> {
    const topic = targetTopic(job.naming, row.topic);
    const verified = verifyObject(row, bytes);
    if ("problem" in verified) return await badObject(row, topic, verified.problem);
    const d = verified.decoded;
    const target = job.targets.get(topic);
    if (target === undefined) throw new Error(`no target information for topic ${topic}`);
    const { partition, fallback } = partitionOf(row, d, topic, target.partitions);
    const size = recordBytes(d);
    const record = { key: d.key, value: d.value, headers: d.headers, timestamp: d.timestamp };
    if (job.landed?.take(topic, partition, record)) {
      queue.add({ topic, source: row.topic, message: null, bytes: size, fallback });
      queue.decided(orderPositionOf(row));
      return;
    }
    const wire = wireSize(d);
    const key = `${topic}\0${partition}`;
    if (!queue.fits(wire, key, Math.max(1, target.maxMessageBytes - BATCH_FRAMING))) await queue.send();
    await throttled(size);
    queue.add(
      { topic, source: row.topic, message: wireMessage(record, partition), bytes: size, fallback },
      wire,
      key,
    );
    queue.decided(orderPositionOf(row));
  }

  return { handle, badObjects, throttle };
}
