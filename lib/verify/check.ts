// Reconciles the index with the object store (`verify`). Two passes over the selection:
//   1. every index row (or a random sample): its object exists, has the recorded size and CRC-32, decodes, and
//      names the same message (uuid, topic, timestamp, coordinates) with the same content (value CRC, digest);
//   2. every object listed under the selected topics: it has an index row pointing at it; objects without one are
//      orphans, which `repair` indexes from the object itself. Nothing here ever deletes or rewrites an object.
// The archiver claims a row BEFORE writing its object (lib/archive/ingest.ts), so a row without its object is legitimate for
// as long as that write takes: such rows are still reported (the caller decides the exit code), marked in flight
// when archived less than `graceMs` ago.
import { catalogOf, headerText, indexText } from "../index/catalog.ts";
import { quarantineRow, rowRefusal } from "../index/rows.ts";
import { crc32 } from "../format/checksum.ts";
import { errorMessage } from "../runtime/errors.ts";
import {
  checkArchiveObject,
  contentOf,
  type ObjectProblemKind,
  selfProblems,
} from "../format/object_check.ts";
import { clientUuid, contentDigest, legacyUuid } from "../format/identity.ts";
import type { Index, SelectFilter, StoredRow } from "../index/types.ts";
import { parseObjectKey } from "../format/keys.ts";
import type { Logger } from "../runtime/log.ts";
import type { Progress } from "../cli/progress.ts";
import { decodeArchiveObject, type DecodedArchiveObject } from "../format/record.ts";
import { createLimiter, settleAll, withRetry } from "../runtime/retry.ts";
import type { BlobStore } from "../store/types.ts";

export type ProblemKind = ObjectProblemKind | "orphan" | "stray" | "quarantined";

export interface Problem {
  kind: string;
  /** Object key. */
  key: string | null;
  uuid: string | null;
  topic: string | null;
  detail: string;
  /** `missing` only: the row is younger than the grace period, so the archiver may still be writing the object. */
  inFlight?: boolean;
  /** `orphan` only: whether `--repair` indexed it (absent without --repair). */
  repaired?: boolean;
}

export interface VerifyDeps {
  store: BlobStore;
  index: Pick<Index, "select" | "count" | "lookup" | "insertRepaired" | "releaseQuarantine">;
  log: Logger;
  signal: AbortSignal;
  /** ms since the epoch. */
  now: () => bigint;
  /** The `public` column of repaired rows (--public-topics); default: not public. */
  isPublic?: (topic: string) => boolean;
}

export interface VerifyPlan {
  filter: SelectFilter;
  /** Check this many random rows instead of all of them. */
  sample?: number;
  /** Index valid orphans. */
  repair: boolean;
  /** List the store for orphans (pass 2). */
  orphans: boolean;
  /** HEAD only: existence and size, without reading objects. */
  quick: boolean;
  concurrency: number;
  graceMs: bigint;
}

export interface VerifySummary {
  rowsChecked: number;
  objectsListed: number;
  /** Keys housekeeping never writes (other tools' files): listed but not judged. */
  foreignKeys: number;
  problems: Record<string, number>;
  repaired: number;
  inFlight: number;
  /** Rows of quarantined records (IndexRow.quarantine): listed, not problems. */
  quarantined: number;
  interrupted: boolean;
}

const PAGE = 1000;

function problemOf(
  row: Pick<StoredRow, "key" | "uuid" | "topic">,
  kind: ProblemKind,
  detail: string,
): Problem {
  return { kind, key: row.key, uuid: row.uuid, topic: row.topic, detail };
}

/** Pure: every problem of one index row given its object's bytes (null: absent). See lib/format/object_check.ts. */
export function checkObject(
  row: StoredRow,
  bytes: Uint8Array | null,
  now: bigint,
  graceMs: bigint,
): Problem[] {
  if (bytes === null) {
    const inFlight = row.archivedAt !== null && now - row.archivedAt < graceMs;
    return [{
      ...problemOf(
        row,
        "missing",
        inFlight ? "no object (possibly in flight: archived moments ago)" : "no object",
      ),
      inFlight,
    }];
  }
  return checkArchiveObject(row, bytes).problems.map((p) => problemOf(row, p.kind, p.detail));
}

/**
 * Pure: the index row an orphan object stands for, read from the object itself, or why it cannot be trusted. The
 * identity must be established by the object: its annotated uuid, else its client `_id`, else the archive's derived
 * uuid must equal the uuid in its key; a random uuid of the original archiver cannot be checked and is refused.
 */
export function rowFromObject(
  key: string,
  bytes: Uint8Array,
  bucket: string,
  isPublic: (topic: string) => boolean = () => false,
): { row: StoredRow } | { refused: string } {
  const parsed = parseObjectKey(key);
  if (parsed === null) return { refused: "the key is not one housekeeping writes" };
  let d: DecodedArchiveObject;
  try {
    d = decodeArchiveObject(bytes);
  } catch (e) {
    return { refused: `the object does not decode: ${errorMessage(e)}` };
  }
  if (d.topic !== parsed.topic) {
    return { refused: `the key names topic ${parsed.topic}, the object ${d.topic}` };
  }
  const c = contentOf(d);
  const corrupt = selfProblems(d, c);
  if (corrupt.length > 0) return { refused: `the object is corrupt: ${corrupt.join("; ")}` };
  let isClientUuid: boolean;
  if (d.uuid !== null) {
    if (d.uuid !== parsed.uuid) return { refused: `the key names uuid ${parsed.uuid}, the object ${d.uuid}` };
    isClientUuid = d.isClientUuid ?? clientUuid(d.headers) === d.uuid;
  } else if (clientUuid(d.headers) === parsed.uuid) isClientUuid = true;
  else if (legacyUuid(d.topic, d.timestamp, contentDigest(d)) === parsed.uuid) isClientUuid = false;
  else return { refused: `nothing in the object confirms the uuid ${parsed.uuid} of its key` };
  return {
    row: {
      uuid: parsed.uuid,
      topic: d.topic,
      timestamp: d.timestamp,
      partition: d.partition,
      offset: d.offset,
      size: bytes.length,
      key,
      bucket,
      crc32: crc32(bytes),
      isClientUuid,
      messageCrc32: c.valueCrc32,
      archivedAt: d.archivedAt,
      archiverVersion: d.archiverVersion,
      contentSha256: c.sha256,
      valueSize: c.valueSize,
      sender: headerText(d.headers, "_sender"),
      format: formatOf(d),
      isTest: d.headers.some((h) => h.key === "_test"),
      clashOf: d.clashOf,
      catalog: catalogOf(d.headers, isPublic(d.topic)),
    },
  };
}

// The `format` column of an object: its `_format` header, else the original housekeeping's envelope format.
function formatOf(d: DecodedArchiveObject): string | null {
  return headerText(d.headers, "_format") ?? (d.legacyFormat === null ? null : indexText(d.legacyFormat));
}

/** Pure: whether an object outside the index falls in the selection (judged on what the object says). */
export function objectInSelection(filter: SelectFilter, keyUuid: string, d: DecodedArchiveObject): boolean {
  if (filter.topics !== undefined && !filter.topics.includes(d.topic)) return false;
  // PostgreSQL's `~` and JS regular expressions agree on the plain patterns people use for topics.
  if (filter.topicRegex !== undefined && !new RegExp(filter.topicRegex).test(d.topic)) return false;
  if (filter.since !== undefined && d.timestamp < filter.since) return false;
  if (filter.until !== undefined && d.timestamp >= filter.until) return false;
  if (filter.uuids !== undefined && !filter.uuids.includes(keyUuid)) return false;
  if (filter.partition !== undefined && d.partition !== filter.partition) return false;
  if (filter.fromOffset !== undefined && (d.offset === null || d.offset < filter.fromOffset)) return false;
  if (filter.toOffset !== undefined && (d.offset === null || d.offset >= filter.toOffset)) return false;
  if (filter.sender !== undefined && headerText(d.headers, "_sender") !== filter.sender) return false;
  if (filter.format !== undefined && formatOf(d) !== filter.format) return false;
  return true;
}

export async function verifyArchive(
  deps: VerifyDeps,
  plan: VerifyPlan,
  report: (p: Problem) => void,
  progress: (phase: "index" | "bucket", total?: number) => Progress,
): Promise<VerifySummary> {
  const { store, index, log, signal } = deps;
  const summary: VerifySummary = {
    rowsChecked: 0,
    objectsListed: 0,
    foreignKeys: 0,
    problems: {},
    repaired: 0,
    inFlight: 0,
    quarantined: 0,
    interrupted: false,
  };
  const emit = (p: Problem) => {
    summary.problems[p.kind] = (summary.problems[p.kind] ?? 0) + 1;
    if (p.inFlight) summary.inFlight++;
    if (p.repaired) summary.repaired++;
    report(p);
  };
  const retry = <T>(what: string, fn: () => Promise<T>) => withRetry(fn, { what, signal, log });
  const slots = createLimiter(plan.concurrency);

  async function checkRow(row: StoredRow): Promise<number> {
    if (plan.quick) {
      if (row.quarantine != null) await listQuarantined(row, null);
      const head = await retry(`HEAD ${row.key}`, () => store.head(row.key));
      if (head === null) checkObject(row, null, deps.now(), plan.graceMs).forEach(emit);
      else if (head.size !== row.size) {
        emit(problemOf(row, "size_mismatch", `object has ${head.size} bytes, the index says ${row.size}`));
      }
      return head?.size ?? 0;
    }
    const bytes = await retry(`GET ${row.key}`, () => store.get(row.key));
    const problems = checkObject(row, bytes, deps.now(), plan.graceMs);
    problems.forEach(emit);
    if (row.quarantine != null) {
      await listQuarantined(row, problems.length === 0 && plan.repair ? bytes : null);
    }
    return bytes?.length ?? 0;
  }

  // Not corruption: the object was checked like any other; the row lacks only its header-derived text. --repair
  // tries that text again from the object (after the cause is fixed, e.g. the database is now in UTF-8).
  async function listQuarantined(row: StoredRow, repairFrom: Uint8Array | null): Promise<void> {
    let detail = `the index refused the full row (${row.quarantine}); the object is complete`;
    const rebuilt = repairFrom === null
      ? null
      : rowFromObject(row.key, repairFrom, store.bucket, deps.isPublic);
    let released = false;
    if (rebuilt !== null && "row" in rebuilt) {
      try {
        released = await retry("index quarantine release", () => index.releaseQuarantine(rebuilt.row));
        if (released) detail = "re-indexed in full from its object: no longer quarantined";
      } catch (e) {
        const reason = rowRefusal(e);
        if (reason === null) throw e;
        detail = `the index still refuses the full row (${reason}); the object is complete`;
      }
    }
    if (!released) summary.quarantined++;
    report(problemOf(row, "quarantined", detail));
  }

  async function checkRows(rows: StoredRow[], bar: Progress): Promise<void> {
    await settleAll(rows.map((row) =>
      slots.run(1, async () => {
        if (signal.aborted) return;
        const bytes = await checkRow(row);
        summary.rowsChecked++;
        bar.tick(1, bytes);
      })
    ));
  }

  // Pass 1: the index.
  if (plan.sample !== undefined) {
    const rows = await index.select(plan.filter, { limit: plan.sample, random: true });
    const bar = progress("index", rows.length);
    await checkRows(rows, bar);
    bar.done({ checked: summary.rowsChecked });
  } else {
    const total = Number(await index.count(plan.filter));
    const bar = progress("index", total);
    let after: bigint | undefined;
    while (!signal.aborted) {
      const rows = await index.select(plan.filter, {
        limit: PAGE,
        ...(after !== undefined ? { after } : {}),
      });
      if (rows.length === 0) break;
      await checkRows(rows, bar);
      after = rows[rows.length - 1]!.id;
    }
    bar.done({ checked: summary.rowsChecked });
  }

  // Pass 2: the bucket.
  if (plan.orphans && !signal.aborted) {
    const bar = progress("bucket");
    const prefixes = plan.filter.topics?.map((t) => `${t}/`) ?? [""];
    let batch: { key: string; size: number; uuid: string }[] = [];
    const flush = async () => {
      const rows = await retry("index lookup", () => index.lookup(batch.map((o) => o.uuid)));
      for (const o of batch) {
        if (signal.aborted) break;
        const row = rows.get(o.uuid);
        if (row?.key !== o.key) await examineUnindexed(o.key, row ?? null);
        bar.tick(1, o.size);
      }
      batch = [];
    };
    for (const prefix of prefixes) {
      for await (const entry of store.list(prefix)) {
        if (signal.aborted) break;
        summary.objectsListed++;
        const parsed = parseObjectKey(entry.key);
        if (parsed === null) {
          summary.foreignKeys++;
          log.debug("skipping a key housekeeping does not write", { key: entry.key });
          bar.tick(1, entry.size);
          continue;
        }
        batch.push({ ...entry, uuid: parsed.uuid });
        if (batch.length >= PAGE) await flush();
      }
    }
    if (batch.length > 0 && !signal.aborted) await flush();
    bar.done({ listed: summary.objectsListed });
  }

  // An object no row points at: an orphan (no row for its uuid) or a stray copy (the uuid's row names another key).
  async function examineUnindexed(key: string, owner: StoredRow | null): Promise<void> {
    const keyUuid = parseObjectKey(key)!.uuid;
    const bytes = await retry(`GET ${key}`, () => store.get(key));
    if (bytes === null) return; // deleted since it was listed
    const rebuilt = rowFromObject(key, bytes, store.bucket, deps.isPublic);
    let decoded: DecodedArchiveObject | null = null;
    try {
      decoded = decodeArchiveObject(bytes);
    } catch {
      // Reported below; an undecodable object cannot be placed in a time range, so it is always in scope.
    }
    if (decoded !== null && !objectInSelection(plan.filter, keyUuid, decoded)) return;
    const base = { key, uuid: keyUuid, topic: decoded?.topic ?? parseObjectKey(key)!.topic };
    if (owner !== null) {
      emit({ ...base, kind: "stray", detail: `not indexed: the index row of this uuid names ${owner.key}` });
      return;
    }
    if ("refused" in rebuilt) {
      emit({
        ...base,
        kind: "orphan",
        detail: `no index row; not repairable: ${rebuilt.refused}`,
        ...(plan.repair ? { repaired: false } : {}),
      });
      return;
    }
    if (!plan.repair) {
      emit({ ...base, kind: "orphan", detail: "no index row; valid object (--repair indexes it)" });
      return;
    }
    const quarantine = { reason: null as string | null };
    const insert = async (row: StoredRow) => {
      try {
        return await retry("index repair", () => index.insertRepaired(row));
      } catch (e) {
        // As `archive` does: a row refused for what it holds goes in without its header-derived text.
        quarantine.reason = rowRefusal(e);
        if (quarantine.reason === null) throw e;
        return await retry(
          "index repair",
          () => index.insertRepaired(quarantineRow(row, quarantine.reason!)),
        );
      }
    };
    if (await insert(rebuilt.row)) {
      const detail = quarantine.reason === null
        ? "no index row; indexed from the object"
        : `no index row; indexed from the object, quarantined: the index refused the full row (${quarantine.reason})`;
      emit({ ...base, kind: "orphan", detail, repaired: true });
      if (quarantine.reason !== null) summary.quarantined++;
      return;
    }
    // The uuid was indexed between the listing and now (an archiver got there first): judge it again.
    const now = (await retry("index lookup", () => index.lookup([keyUuid]))).get(keyUuid);
    if (now !== undefined && now.key !== key) {
      emit({ ...base, kind: "stray", detail: `not indexed: the index row of this uuid names ${now.key}` });
    }
  }

  summary.interrupted = signal.aborted;
  return summary;
}
