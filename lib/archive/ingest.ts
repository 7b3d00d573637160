// The exactly-once core: turns a run of consecutive records of one partition into stored objects, index rows and
// duplicate receipts. It knows nothing of kafkajs, so it is exercised directly against the real store and index
// (tests/integration/ingest_test.ts).
//
// Order of effects for each record (why it is safe to crash anywhere):
//   1. claim: one multi-row INSERT .. ON CONFLICT (uuid) DO NOTHING decides atomically, across processes, who
//      owns a UUID. Claiming BEFORE writing the object is what prevents a clashing record from overwriting the
//      object of an earlier record that carried the same client `_id`.
//   2. put: the object is written at its key. The bytes are a pure function of the record and of the claim's
//      stamp (archive time, version), so re-writing after a crash reproduces them exactly.
//   3. receipts: a record whose content is already archived under another (topic, partition, offset) is recorded as
//      a receipt, not stored again.
//   4. the caller commits the Kafka offset only after all of the above succeeded for every record below it.
// A crash between 1 and 4 leaves the offset uncommitted; the replayed record finds its own claim (same topic,
// partition, offset and timestamp) and writes the object again.
import { crc32, hex } from "../format/checksum.ts";
import { hkError } from "../runtime/errors.ts";
import { clashUuid, clientUuid, contentDigest, legacyUuid } from "../format/identity.ts";
import { catalogOf, headerText } from "../index/catalog.ts";
import type { OriginalKey } from "../index/original.ts";
import { quarantineRow, rowRefusal } from "../index/rows.ts";
import type { IndexRow, Receipt, StoredRow } from "../index/types.ts";
import { type KeyLayout, objectKey } from "../format/keys.ts";
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";
import { type ArchiveStamp, encodeArchivePieces, type KafkaRecord } from "../format/record.ts";
import { createLimiter, withRetry } from "../runtime/retry.ts";
import { indexableText } from "../text/extract.ts";
import type { BlobStore } from "../store/types.ts";

export interface IngestIndex {
  claim(rows: IndexRow[]): Promise<boolean[]>;
  lookup(uuids: string[]): Promise<Map<string, StoredRow>>;
  recordReceipts(receipts: Receipt[]): Promise<number>;
  /** See Index.findOriginals; without it, records are matched by UUID only. */
  findOriginals?(keys: OriginalKey[]): Promise<Map<number, string>>;
}

export interface IngestOptions {
  store: BlobStore;
  index: IngestIndex;
  keyLayout: KeyLayout;
  archiverVersion: string;
  log: Logger;
  metrics: Metrics;
  signal: AbortSignal;
  /** Concurrent PUTs across all partitions. */
  putConcurrency: number;
  /** Bytes of encoded objects being written at once, across all partitions (memory bound). */
  maxInflightBytes: number;
  now?: () => bigint;
  /** The `public` column (--public-topics); default: nothing is public. */
  isPublic?: (topic: string) => boolean;
  /** The `direct_upload` column: true for records posted to `serve` rather than read from Kafka. */
  directUpload?: boolean;
  /** Topics whose text goes into message_ts with the row (--index-text); default: none. */
  indexText?: (topic: string) => boolean;
}

/** A record whose UUID, when it has no client `_id`, was chosen by its writer (a direct upload). */
export type AssignedUuidRecord = KafkaRecord & { assignedUuid?: string };

export interface IngestResult {
  stored: number;
  duplicates: number;
  replayed: number;
  clashes: number;
}

interface Candidate {
  record: KafkaRecord;
  digest: Uint8Array;
  /** Unsigned CRC-32 of the value (0 for none), computed once: the index row and the match with other archivers. */
  messageCrc32: number;
  uuid: string;
  isClientUuid: boolean;
  clashOf: string | null;
}

interface Prepared {
  candidate: Candidate;
  row: IndexRow;
  /**
   * The object's bytes as pieces (the record's large fields are views of the record, not copies), written as they
   * are: objects waiting for a PUT slot, or being sent, cost no memory of their own.
   */
  pieces: Uint8Array[];
}

/** What `claim` decided for a run of records: the objects this process must write, and the duplicates. */
export interface Claimed {
  toPut: Prepared[];
  receipts: Receipt[];
  result: IngestResult;
}

/** Rows of the original archiver carry no content digest: there the value CRC is the only evidence available. */
function sameContent(owner: StoredRow, row: IndexRow): boolean {
  return owner.contentSha256 !== null
    ? owner.contentSha256 === row.contentSha256
    : owner.messageCrc32 === row.messageCrc32;
}

export function createIngest(options: IngestOptions) {
  const { store, index, log, metrics, signal } = options;
  const now = options.now ?? (() => BigInt(Date.now()));
  const putSlots = createLimiter(options.putConcurrency);
  const inflightBytes = createLimiter(options.maxInflightBytes);
  const retry = <T>(what: string, fn: () => Promise<T>) => withRetry(fn, { what, signal, log });

  function identify(record: KafkaRecord): Candidate {
    const digest = contentDigest(record);
    const client = clientUuid(record.headers);
    const messageCrc32 = record.value === null ? 0 : crc32(record.value);
    // A direct upload without `_id` carries the UUID `serve` derived for it (lib/serve/offload.ts).
    const assigned = (record as AssignedUuidRecord).assignedUuid;
    if (client === null && assigned !== undefined) {
      return { record, digest, messageCrc32, uuid: assigned, isClientUuid: false, clashOf: null };
    }
    return client !== null
      ? { record, digest, messageCrc32, uuid: client, isClientUuid: true, clashOf: null }
      : {
        record,
        digest,
        messageCrc32,
        uuid: legacyUuid(record.topic, record.timestamp, digest),
        isClientUuid: false,
        clashOf: null,
      };
  }

  function prepare(candidate: Candidate, stamp: ArchiveStamp): Prepared {
    const { record } = candidate;
    const pieces = encodeArchivePieces(
      record,
      {
        uuid: candidate.uuid,
        isClientUuid: candidate.isClientUuid,
        messageCrc32: candidate.messageCrc32,
        ...(candidate.clashOf !== null ? { clashOf: candidate.clashOf } : {}),
      },
      stamp,
      candidate.digest,
    );
    const row: IndexRow = {
      uuid: candidate.uuid,
      topic: record.topic,
      timestamp: record.timestamp,
      partition: record.partition,
      offset: record.offset,
      size: pieces.reduce((n, p) => n + p.length, 0),
      key: objectKey(options.keyLayout, record.topic, record.timestamp, candidate.uuid),
      bucket: store.bucket,
      crc32: crc32(...pieces),
      isClientUuid: candidate.isClientUuid,
      messageCrc32: candidate.messageCrc32,
      archivedAt: stamp.archivedAt,
      archiverVersion: stamp.archiverVersion,
      contentSha256: hex(candidate.digest),
      valueSize: record.value?.length ?? 0,
      sender: headerText(record.headers, "_sender"),
      format: headerText(record.headers, "_format"),
      isTest: record.headers.some((h) => h.key === "_test"),
      clashOf: candidate.clashOf,
      catalog: catalogOf(
        record.headers,
        options.isPublic?.(record.topic) ?? false,
        options.directUpload ?? false,
      ),
      text: options.indexText?.(record.topic) ? indexableText(record.headers, record.value) : null,
    };
    return { candidate, row, pieces };
  }

  function isOwnClaim(row: StoredRow, record: KafkaRecord): boolean {
    return row.topic === record.topic && row.partition === record.partition && row.offset === record.offset &&
      row.timestamp === record.timestamp;
  }

  async function put(p: Prepared): Promise<void> {
    await inflightBytes.run(p.row.size, () =>
      putSlots.run(1, async () => {
        const started = performance.now();
        // The pieces go out as they are (the store sends them one after the other), the value as the record's own
        // bytes: no joined copy of the object. The object's CRC-32 in the index was computed over the pieces, so
        // S3 checking it covers the wire and the order of the pieces.
        await retry(`PUT ${p.row.key}`, () => store.put(p.row.key, p.pieces, p.row.crc32));
        metrics.observe("put_seconds", (performance.now() - started) / 1000);
      }));
  }

  /**
   * Claims the rows of `prepared`, in order. A statement PostgreSQL refuses for what its rows hold (rowRefusal) is
   * split until the refused record is alone; that record is claimed with its quarantine row instead, which
   * replaces it in `prepared`: one record never stops its partition. Any other failure is thrown (retriable ones
   * after retrying), and so is a refusal of the quarantine row, which holds nothing of the record but its
   * identity, coordinates and sizes: that is not the record's doing.
   */
  async function claimRows(prepared: Prepared[], from = 0, to = prepared.length): Promise<boolean[]> {
    try {
      return await retry("index claim", () => index.claim(prepared.slice(from, to).map((p) => p.row)));
    } catch (e) {
      const reason = rowRefusal(e);
      if (reason === null) throw e;
      if (to - from > 1) {
        const half = from + Math.ceil((to - from) / 2);
        return [...await claimRows(prepared, from, half), ...await claimRows(prepared, half, to)];
      }
      const p = prepared[from]!;
      const row = quarantineRow(p.row, reason);
      const [won] = await retry("index claim of a quarantine row", () => index.claim([row]));
      prepared[from] = { ...p, row };
      if (won) {
        metrics.inc("quarantined_total", { topic: row.topic });
        log.warn(
          "record quarantined: the index refused its row; archived without its header-derived columns",
          {
            code: "INGEST_RECORD_QUARANTINED",
            reason,
            uuid: row.uuid,
            key: row.key,
            topic: row.topic,
            partition: row.partition,
            offset: row.offset,
          },
        );
      }
      return [won === true];
    }
  }

  /**
   * Takes out the records that another archiver (archive-core) already stored, recording each as a receipt of its
   * row: cutover from it stores nothing twice. It gave records without a client `_id` a random UUID, and a record
   * whose `_id` it had already seen on other content one too, so the UUID alone cannot find them.
   */
  async function withoutOriginals(candidates: Candidate[], receipts: Receipt[]): Promise<Candidate[]> {
    if (index.findOriginals === undefined) return candidates;
    const keys = candidates.map(({ record, messageCrc32 }) => ({
      topic: record.topic,
      timestamp: record.timestamp,
      messageCrc32,
    }));
    const found = await retry("index lookup of other archivers' rows", () => index.findOriginals!(keys));
    if (found.size === 0) return candidates;
    const matched = new Set<Candidate>();
    candidates.forEach((c, i) => {
      const uuid = found.get(i);
      if (uuid === undefined) return;
      matched.add(c);
      const { topic, partition, offset, timestamp } = c.record;
      receipts.push({ uuid, topic, partition, offset, timestamp });
    });
    return candidates.filter((c) => !matched.has(c));
  }

  /**
   * Step 1 of archiving `records` (consecutive records of one partition): claims their UUIDs in the index and
   * decides, for each, whether to write its object or record a receipt. Which of two records with one UUID wins
   * depends on the order of the claims, so the claim of a later run of records must not start before the claim of
   * an earlier one has finished; writing (step 2, `write`) may overlap freely.
   */
  async function claim(records: KafkaRecord[]): Promise<Claimed> {
    const result: IngestResult = { stored: 0, duplicates: 0, replayed: 0, clashes: 0 };
    const toPut: Prepared[] = [];
    const receipts: Receipt[] = [];
    if (records.length === 0) return { toPut, receipts, result };
    const stamp: ArchiveStamp = { archivedAt: now(), archiverVersion: options.archiverVersion };
    let pending = await withoutOriginals(records.map(identify), receipts);
    // Another round is needed for a client `_id` clash (a clash UUID is content-specific, so it cannot clash again)
    // or a claim that vanished before its lookup: a fourth means rows keep vanishing, or a bug.
    for (let round = 0; pending.length > 0; round++) {
      if (round > 2) {
        throw hkError("INGEST_UUID_LOOP", "UUID resolution did not converge: please report this bug");
      }
      const prepared = pending.map((c) => prepare(c, stamp));
      const started = performance.now();
      const won = await claimRows(prepared);
      metrics.observe("insert_seconds", (performance.now() - started) / 1000);
      const lost = prepared.filter((_, i) => !won[i]);
      prepared.forEach((p, i) => won[i] && toPut.push(p));
      result.stored += prepared.length - lost.length;
      if (lost.length === 0) break;
      const existing = await retry(
        "index lookup",
        () => index.lookup([...new Set(lost.map((p) => p.row.uuid))]),
      );
      pending = [];
      for (const p of lost) {
        const { candidate } = p;
        const { record } = candidate;
        const owner = existing.get(p.row.uuid);
        if (!owner) {
          // The claim that beat us vanished (only an operator deleting rows does that): try again.
          pending.push(candidate);
        } else if (isOwnClaim(owner, record) && owner.archivedAt !== null && owner.archiverVersion !== null) {
          // Our own earlier attempt (crash or rebalance before the commit): rewrite the object byte for byte.
          const again = prepare(candidate, {
            archivedAt: owner.archivedAt,
            archiverVersion: owner.archiverVersion,
          });
          if (again.row.crc32 !== owner.crc32 || again.row.key !== owner.key) {
            log.warn("replayed record encodes differently from its index row; rewriting the object", {
              uuid: owner.uuid,
              key: owner.key,
            });
          }
          toPut.push({ ...again, row: { ...again.row, key: owner.key } });
          result.replayed++;
        } else if (sameContent(owner, p.row)) {
          receipts.push({
            uuid: owner.uuid,
            topic: record.topic,
            partition: record.partition,
            offset: record.offset,
            timestamp: record.timestamp,
          });
        } else if (candidate.isClientUuid) {
          result.clashes++;
          log.warn("client _id reused by different content; archived under its own UUID", {
            clientUuid: candidate.uuid,
            topic: record.topic,
            partition: record.partition,
            offset: record.offset,
          });
          pending.push({
            ...candidate,
            uuid: clashUuid(candidate.uuid, candidate.digest),
            isClientUuid: false,
            clashOf: owner.uuid,
          });
        } else {
          throw hkError(
            "INGEST_UUID_COLLISION",
            `derived UUID ${p.row.uuid} already names different content; refusing to overwrite it (report this bug)`,
          );
        }
      }
    }
    return { toPut, receipts, result };
  }

  /**
   * Step 2: writes the objects `claim` assigned to this process and records the receipts. Resolves only when every
   * record of the run is durably in the store and the index (or recorded as a receipt): then, and only then, may
   * the caller commit past them.
   */
  async function write({ toPut, receipts, result }: Claimed): Promise<IngestResult> {
    await Promise.all(toPut.map(put));
    if (receipts.length > 0) {
      await retry("index receipts", () => index.recordReceipts(receipts));
      result.duplicates = receipts.length;
    }
    // Counted per topic, not per record: a run of records is mostly of one topic, and each count renders a label.
    const archived = new Map<string, { records: number; bytes: number }>();
    for (const { row } of toPut) {
      const sum = archived.get(row.topic) ??
        archived.set(row.topic, { records: 0, bytes: 0 }).get(row.topic)!;
      sum.records++;
      sum.bytes += row.valueSize;
    }
    for (const [topic, sum] of archived) {
      metrics.inc("records_archived_total", { topic }, sum.records);
      metrics.inc("bytes_archived_total", { topic }, sum.bytes);
    }
    for (const r of receipts) metrics.inc("duplicates_total", { topic: r.topic });
    return result;
  }

  /** Both steps for one run of records. */
  async function ingest(records: KafkaRecord[]): Promise<IngestResult> {
    return await write(await claim(records));
  }

  return { claim, write, ingest };
}

export type Ingest = ReturnType<typeof createIngest>;
