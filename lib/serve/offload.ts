// The offload write (`POST /topic/{topic}`, which hop-client uses as `{topic}+oversized` for messages too large
// for Kafka): the posted BSON `{message, headers, key}` becomes one archive object under the usual identity rules,
// through the archiver's own claim-then-put core, exactly once however often the client retries.
import { Binary, deserialize } from "bson";
import { hkError } from "../runtime/errors.ts";
import { clientUuid, contentDigest, HOUSEKEEPING_NAMESPACE, uuidV5 } from "../format/identity.ts";
import type { AssignedUuidRecord, Ingest } from "../archive/ingest.ts";
import type { Index, StoredRow } from "../index/types.ts";
import type { KafkaRecord } from "../format/record.ts";
import type { WireHeader } from "../format/types.ts";

/**
 * Kafka's "none" for partition and offset: the record never was on a Kafka partition. Every direct upload carries
 * it, which is also what tells a retried upload (replay it) from a Kafka record with the same content (a receipt).
 */
export const NO_PARTITION = -1;
export const NO_OFFSET = -1n;

function badUpload(message: string): Error {
  return hkError("UPLOAD_INVALID", message);
}

function bytesOf(value: unknown): Uint8Array | null {
  return value instanceof Binary ? value.buffer.subarray(0, value.position) : null;
}

function headerValue(value: unknown, key: string): Uint8Array | null {
  if (value === null) return null;
  const bytes = bytesOf(value);
  if (bytes === null) throw badUpload(`Header with key ${key} is not binary data`);
  return bytes;
}

function parseHeaders(value: unknown): WireHeader[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) {
    return value.map((pair, i) => {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string") {
        throw badUpload(`headers[${i}] is not a [string, binary] pair`);
      }
      return { key: pair[0], value: headerValue(pair[1], pair[0]) };
    });
  }
  if (typeof value === "object" && (value as { _bsontype?: unknown })._bsontype === undefined) {
    return Object.entries(value as Record<string, unknown>).map(([key, v]) => ({
      key,
      value: headerValue(v, key),
    }));
  }
  throw badUpload("headers must be an array of [string, binary] pairs or a document of binaries");
}

/**
 * Pure: the posted BSON -> the record to archive, at `timestamp` (the time of receipt, ms). Throws UPLOAD_INVALID
 * with a message for the client (answered as 400), in archive-api's words where it has them.
 */
export function parseUpload(topic: string, body: Uint8Array, timestamp: bigint): KafkaRecord {
  let doc: Record<string, unknown>;
  try {
    doc = deserialize(body, { promoteBuffers: false, promoteValues: true, bsonRegExp: true });
  } catch {
    throw badUpload("Request must be valid BSON");
  }
  for (const key of Object.keys(doc)) {
    if (key !== "message" && key !== "headers" && key !== "key") {
      throw badUpload(`Unsupported key in request body: ${key}`);
    }
  }
  if (!("message" in doc)) throw badUpload("Missing message key in request body");
  const value = bytesOf(doc.message);
  if (value === null) throw badUpload("message must be binary data");
  const headers = parseHeaders(doc.headers);
  let key: Uint8Array | null = null;
  if (doc.key !== undefined && doc.key !== null) {
    key = typeof doc.key === "string" ? new TextEncoder().encode(doc.key) : bytesOf(doc.key);
    if (key === null) throw badUpload("Message key is not binary or a string");
  }
  const record: AssignedUuidRecord = {
    topic,
    partition: NO_PARTITION,
    offset: NO_OFFSET,
    timestamp,
    // The time of receipt, set by the archive as a broker would set it for a LogAppendTime topic.
    timestampType: "LogAppendTime",
    key,
    value,
    headers,
  };
  // archive-api gives an upload without `_id` a random UUID; a random one would make a retried upload a second
  // message. This one is a function of topic and content (key, value, headers), so a retry lands on the same UUID
  // and is archived once; the same bytes meant as a new message need an `_id` of their own.
  if (clientUuid(headers) === null) record.assignedUuid = uploadUuid(topic, record);
  return record;
}

const UPLOAD_TAG = new TextEncoder().encode("direct upload without _id");

export function uploadUuid(topic: string, record: Pick<KafkaRecord, "key" | "value" | "headers">): string {
  const name = new TextEncoder().encode(topic);
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, name.length);
  return uuidV5(HOUSEKEEPING_NAMESPACE, UPLOAD_TAG, length, name, contentDigest(record));
}

function isDirectUpload(row: StoredRow, topic: string): boolean {
  return row.topic === topic && row.partition === NO_PARTITION && row.offset === NO_OFFSET;
}

export interface StoredUpload {
  uuid: string;
  key: string;
  size: number;
  timestamp: bigint;
  /** Whether the UUID is the client's `_id` (archive-api's is_client_uuid). */
  isClientUuid: boolean;
  /** A retry of an upload already archived: its object was written again, byte for byte. */
  replayed: boolean;
  /** The same content was already archived from Kafka: recorded as a receipt of that message. */
  duplicateOf: string | null;
}

/**
 * Archives one uploaded record exactly once. A retry arrives with a new receipt time, so on its own it would lose
 * the claim and become a duplicate receipt, leaving the object unwritten if the first attempt died between its
 * claim and its PUT. Instead a lost claim to an earlier upload of the same content adopts that upload's
 * timestamp and goes through the ingest core again, which then recognises its own claim and rewrites the object.
 */
export async function storeUpload(
  ingest: Pick<Ingest, "claim" | "write">,
  index: Pick<Index, "lookup">,
  record: KafkaRecord,
): Promise<StoredUpload> {
  let current = record;
  for (let attempt = 0; attempt < 3; attempt++) {
    const claimed = await ingest.claim([current]);
    const receipt = claimed.receipts[0];
    if (receipt !== undefined) {
      const owner = (await index.lookup([receipt.uuid])).get(receipt.uuid);
      if (owner !== undefined && isDirectUpload(owner, current.topic)) {
        current = { ...current, timestamp: owner.timestamp };
        continue;
      }
    }
    const result = await ingest.write(claimed);
    const put = claimed.toPut[0];
    if (put !== undefined) {
      return {
        uuid: put.row.uuid,
        key: put.row.key,
        size: put.row.size,
        timestamp: put.row.timestamp,
        isClientUuid: put.row.isClientUuid,
        replayed: result.replayed > 0,
        duplicateOf: null,
      };
    }
    if (receipt === undefined) break;
    const owner = (await index.lookup([receipt.uuid])).get(receipt.uuid)!;
    return {
      uuid: owner.uuid,
      key: owner.key,
      size: owner.size,
      timestamp: owner.timestamp,
      isClientUuid: owner.isClientUuid,
      replayed: false,
      duplicateOf: owner.uuid,
    };
  }
  throw hkError(
    "UPLOAD_UNRESOLVED",
    "the upload's claim did not settle after 3 attempts; please report this bug",
  );
}
