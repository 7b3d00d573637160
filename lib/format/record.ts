// The stored object (docs/archive-format.md §1): one BSON document per Kafka record, and the readers for it and for the
// original housekeeping layout.
import { Binary, deserialize, Int32, Long } from "bson";
import { Buffer, isUtf8 } from "node:buffer";
import {
  bsonArray,
  bsonBinary,
  bsonBool,
  bsonDocument,
  bsonInt32,
  bsonInt64,
  bsonNull,
  bsonString,
  type BsonValue,
  encodeBson,
  encodeBsonPieces,
} from "./bson_writer.ts";
import { crc32, hex } from "./checksum.ts";
import { errorMessage, hkError } from "../runtime/errors.ts";
import { contentDigest, isUuidText } from "./identity.ts";
import type { WireHeader } from "./types.ts";

export type TimestampType = "CreateTime" | "LogAppendTime";

export interface KafkaRecord {
  topic: string;
  partition: number;
  offset: bigint;
  /** Milliseconds since the epoch; -1 when the producer gave none. */
  timestamp: bigint;
  timestampType?: TimestampType;
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: WireHeader[];
}

export interface ArchiveAnnotations {
  /** -> con_text_uuid */
  uuid: string;
  /** -> con_is_client_uuid */
  isClientUuid: boolean;
  /** -> con_uuid_clash_of: UUID of the archived record that already carried this record's client `_id`. */
  clashOf?: string;
  /**
   * -> con_message_crc32: the value's CRC-32 (0 for a null value), for a caller that has it already, as the
   * archiver has from identifying the record; computed otherwise. Computing it once keeps a pass over every value
   * off the hot path.
   */
  messageCrc32?: number;
}

export interface ArchiveStamp {
  /** Milliseconds since the epoch. */
  archivedAt: bigint;
  archiverVersion: string;
}

export interface DecodedArchiveObject {
  /** "archive-core": `message` is the value itself (what we write); "housekeeping-v1": `{format, content}`. */
  layout: "archive-core" | "housekeeping-v1";
  topic: string;
  timestamp: bigint;
  partition: number | null;
  offset: bigint | null;
  timestampType: TimestampType | null;
  /** Byte fields are views into the decoded input, not copies. */
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: WireHeader[];
  /** `message.format` of the housekeeping-v1 layout. */
  legacyFormat: string | null;
  uuid: string | null;
  isClientUuid: boolean | null;
  messageCrc32: bigint | null;
  contentSha256: string | null;
  archivedAt: bigint | null;
  archiverVersion: string | null;
  clashOf: string | null;
}

const TIMESTAMP_TYPES: readonly TimestampType[] = ["CreateTime", "LogAppendTime"];
const lossyUtf8 = new TextDecoder("utf-8");

function recordError(problem: string): Error {
  return hkError("ARCHIVE_RECORD_INVALID", `cannot archive record: ${problem}`);
}

function bytesOrNull(bytes: Uint8Array | null): BsonValue {
  return bytes === null ? bsonNull : bsonBinary(bytes);
}

/**
 * The stored BSON object of a record. Layout (additions to archive-core's are marked +):
 * ```
 * { message: <binary: value> | null,
 *   metadata: { timestamp: int64, headers: [[string, binary | null], ...], key: binary | null, topic: string,
 *               + partition: int32, + offset: int64, + timestamp_type: "CreateTime" | "LogAppendTime" (if known),
 *               + archived_at: int64 ms, + archiver_version: string },
 *   annotations: { con_text_uuid: string, con_is_client_uuid: bool, con_message_crc32: int64 (0 for null value),
 *                  + con_content_sha256: hex of identity.contentDigest,
 *                  + con_uuid_clash_of: string (only for a record whose client _id was already taken),
 *                  + con_header_keys: [[int32, binary], ...] (only when a header name is not UTF-8) } }
 * ```
 * The bytes depend on the arguments only, so re-archiving a record after a crash rewrites the same object.
 * `digest` is the record's contentDigest, for a caller that has it already (it is computed otherwise).
 */
export function encodeArchiveObject(
  rec: KafkaRecord,
  ann: ArchiveAnnotations,
  stamp: ArchiveStamp,
  digest?: Uint8Array,
): Uint8Array {
  return encodeBson(archiveFields(rec, ann, stamp, digest));
}

// Values at least this long stay out of the copy encodeArchivePieces makes; shorter ones cost less to copy than a
// piece of their own.
const VIEW_FROM_BYTES = 4096;

/**
 * encodeArchiveObject's bytes as pieces to be concatenated, in which a large value (and key, and header values) is
 * the record's own bytes, not a copy: for sizing and checksumming an object long before it is written.
 */
export function encodeArchivePieces(
  rec: KafkaRecord,
  ann: ArchiveAnnotations,
  stamp: ArchiveStamp,
  digest?: Uint8Array,
): Uint8Array[] {
  return encodeBsonPieces(archiveFields(rec, ann, stamp, digest), VIEW_FROM_BYTES);
}

function archiveFields(
  rec: KafkaRecord,
  ann: ArchiveAnnotations,
  stamp: ArchiveStamp,
  digest = contentDigest(rec),
): [string, BsonValue][] {
  if (rec.timestampType !== undefined && !TIMESTAMP_TYPES.includes(rec.timestampType)) {
    throw recordError(`timestampType ${JSON.stringify(rec.timestampType)} is not one of ${TIMESTAMP_TYPES}`);
  }
  for (const [field, uuid] of [["uuid", ann.uuid], ["clashOf", ann.clashOf]] as const) {
    if (uuid !== undefined && !isUuidText(uuid)) {
      throw recordError(`annotation ${field} ${JSON.stringify(uuid)} is not a lowercase 8-4-4-4-12 UUID`);
    }
  }
  const metadata: [string, BsonValue][] = [
    ["timestamp", bsonInt64(rec.timestamp)],
    ["headers", bsonArray(rec.headers.map((h) => bsonArray([bsonString(h.key), bytesOrNull(h.value)])))],
    ["key", bytesOrNull(rec.key)],
    ["topic", bsonString(rec.topic)],
    ["partition", bsonInt32(rec.partition)],
    ["offset", bsonInt64(rec.offset)],
  ];
  if (rec.timestampType !== undefined) metadata.push(["timestamp_type", bsonString(rec.timestampType)]);
  metadata.push(["archived_at", bsonInt64(stamp.archivedAt)]);
  metadata.push(["archiver_version", bsonString(stamp.archiverVersion)]);

  const annotations: [string, BsonValue][] = [
    ["con_text_uuid", bsonString(ann.uuid)],
    ["con_is_client_uuid", bsonBool(ann.isClientUuid)],
    ["con_message_crc32", bsonInt64(BigInt(ann.messageCrc32 ?? (rec.value === null ? 0 : crc32(rec.value))))],
    ["con_content_sha256", bsonString(hex(digest))],
  ];
  if (ann.clashOf !== undefined) annotations.push(["con_uuid_clash_of", bsonString(ann.clashOf)]);
  const exactKeys = headerKeyPairs(rec.headers);
  if (exactKeys.length > 0) annotations.push(["con_header_keys", bsonArray(exactKeys)]);

  return [
    ["message", bytesOrNull(rec.value)],
    ["metadata", bsonDocument(metadata)],
    ["annotations", bsonDocument(annotations)],
  ];
}

/**
 * con_header_keys (docs/archive-format.md §1.1): [index int32, binary] for each header whose name is not UTF-8,
 * which metadata.headers can hold only as text with U+FFFD (hop-client requires a string there).
 */
function headerKeyPairs(headers: readonly WireHeader[]): BsonValue[] {
  const pairs: BsonValue[] = [];
  headers.forEach((h, i) => {
    if (h.keyBytes === undefined) return;
    if (isUtf8(h.keyBytes) || lossyUtf8.decode(h.keyBytes) !== h.key) {
      throw recordError(
        `header ${i}: keyBytes must be a name that is not UTF-8, and key its text with U+FFFD`,
      );
    }
    pairs.push(bsonArray([bsonInt32(i), bsonBinary(h.keyBytes)]));
  });
  return pairs;
}

// ---- reading ----

type Doc = Record<string, unknown>;

function objectError(path: string, problem: string, cause?: unknown): Error {
  return hkError(
    "ARCHIVE_OBJECT_INVALID",
    `invalid archive object: ${path}: ${problem} (the object is corrupt or was not written by ` +
      `housekeeping or archive-core; fetch it again or restore it from another bucket)`,
    { cause },
  );
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "nothing";
  if (value instanceof Binary) return `binary subtype ${value.sub_type}`;
  if (Array.isArray(value)) return "array";
  const bsonType = (value as { _bsontype?: unknown })._bsontype;
  if (typeof bsonType === "string") return bsonType;
  return typeof value === "object" ? "document" : typeof value;
}

function wrongType(path: string, expected: string, found: unknown): Error {
  return objectError(path, `expected ${expected}, found ${describe(found)}`);
}

function isDoc(value: unknown): value is Doc {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    (value as { _bsontype?: unknown })._bsontype === undefined;
}

function readDoc(value: unknown, path: string): Doc {
  if (!isDoc(value)) throw wrongType(path, "document", value);
  return value;
}

function readBytes(value: unknown, path: string): Uint8Array {
  if (!(value instanceof Binary) || value.sub_type !== Binary.SUBTYPE_DEFAULT) {
    throw wrongType(path, "binary subtype 0", value);
  }
  // A plain Uint8Array view (js-bson may hand out a Buffer) so results compare equal to caller-made arrays.
  return new Uint8Array(value.buffer.buffer, value.buffer.byteOffset, value.position);
}

function readBytesOrNull(value: unknown, path: string): Uint8Array | null {
  return value === null ? null : readBytes(value, path);
}

// Python writers (archive-core, the original housekeeping) store small integers as int32 and larger
// ones as int64, so readers accept both wherever an integer is expected.
function readInt(value: unknown, path: string): bigint {
  if (value instanceof Int32) return BigInt(value.value);
  if (value instanceof Long) return value.toBigInt();
  throw wrongType(path, "int32 or int64", value);
}

function readString(value: unknown, path: string): string {
  if (typeof value !== "string") throw wrongType(path, "string", value);
  return value;
}

type Reader<T> = (value: unknown, path: string) => T;

/** A reader of optional fields of `doc`: absent gives null, present must be valid. */
function optionalFields(doc: Doc, path: string) {
  return <T>(name: string, read: Reader<T>): T | null =>
    doc[name] === undefined ? null : read(doc[name], `${path}.${name}`);
}

function readHeader(value: unknown, path: string): WireHeader {
  if (!Array.isArray(value) || value.length !== 2) throw wrongType(path, "[key, value] pair", value);
  return { key: readString(value[0], `${path}[0]`), value: readBytesOrNull(value[1], `${path}[1]`) };
}

function readHeaders(value: unknown, path: string): WireHeader[] {
  // archive-core stores Python None when the record had no headers, which Kafka does not tell apart from [].
  if (value === null) return [];
  if (!Array.isArray(value)) throw wrongType(path, "array of headers", value);
  return value.map((header, i) => readHeader(header, `${path}[${i}]`));
}

/**
 * Puts con_header_keys's exact names on `headers`. Each must name a header in order, hold bytes that are not UTF-8,
 * and be what that header's text was decoded from: anything else is a corrupt (or forged) object.
 */
function readHeaderKeys(value: unknown, path: string, headers: WireHeader[]): WireHeader[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw wrongType(path, "non-empty array of [index, bytes]", value);
  }
  let last = -1;
  for (const [n, pair] of value.entries()) {
    const at = `${path}[${n}]`;
    if (!Array.isArray(pair) || pair.length !== 2) throw wrongType(at, "[index, bytes] pair", pair);
    const index = readInt(pair[0], `${at}[0]`);
    if (index <= BigInt(last) || index >= BigInt(headers.length)) {
      throw objectError(`${at}[0]`, `${index} is not the index of a later header (of ${headers.length})`);
    }
    last = Number(index);
    const keyBytes = readBytes(pair[1], `${at}[1]`);
    if (isUtf8(keyBytes) || lossyUtf8.decode(keyBytes) !== headers[last]!.key) {
      throw objectError(
        `${at}[1]`,
        `not the non-UTF-8 name of header ${last} (${JSON.stringify(headers[last]!.key)})`,
      );
    }
    headers[last] = { ...headers[last]!, keyBytes };
  }
  return headers;
}

function readPartition(value: unknown, path: string): number {
  const partition = readInt(value, path);
  if (partition < -0x80000000n || partition > 0x7fffffffn) {
    throw objectError(path, `${partition} is not an int32`);
  }
  return Number(partition);
}

function readTimestampType(value: unknown, path: string): TimestampType {
  const found = TIMESTAMP_TYPES.find((t) => t === value);
  if (found === undefined) throw wrongType(path, TIMESTAMP_TYPES.join(" or "), value);
  return found;
}

function readBool(value: unknown, path: string): boolean {
  if (typeof value !== "boolean") throw wrongType(path, "boolean", value);
  return value;
}

// archive-core tests store the key as a (Python str) string; its UTF-8 bytes are what the producer sent.
function readKey(value: unknown, path: string): Uint8Array | null {
  return typeof value === "string" ? new TextEncoder().encode(value) : readBytesOrNull(value, path);
}

function readMessage(message: unknown): Pick<DecodedArchiveObject, "layout" | "value" | "legacyFormat"> {
  if (message === null || message instanceof Binary) {
    return { layout: "archive-core", value: readBytesOrNull(message, "message"), legacyFormat: null };
  }
  if (isDoc(message)) {
    return {
      layout: "housekeeping-v1",
      value: readBytes(message["content"], "message.content"),
      legacyFormat: readString(message["format"], "message.format"),
    };
  }
  throw wrongType("message", "binary, null or {format, content} document", message);
}

/** Reads a stored object of either layout (docs/archive-format.md §1.3); throws ARCHIVE_OBJECT_INVALID naming the bad field. */
export function decodeArchiveObject(bytes: Uint8Array): DecodedArchiveObject {
  let root: Doc;
  try {
    // promoteValues: false keeps int32, int64 and double apart, so a double timestamp is caught.
    root = deserialize(bytes, { promoteValues: false, promoteBuffers: false, promoteLongs: false });
  } catch (e) {
    throw objectError("$", `not valid BSON (${errorMessage(e)})`, e);
  }
  const metadata = readDoc(root["metadata"], "metadata");
  const annotations = root["annotations"] === undefined ? {} : readDoc(root["annotations"], "annotations");
  const meta = optionalFields(metadata, "metadata");
  const note = optionalFields(annotations, "annotations");
  const headers = readHeaders(metadata["headers"], "metadata.headers");
  return {
    ...readMessage(root["message"]),
    topic: readString(metadata["topic"], "metadata.topic"),
    timestamp: readInt(metadata["timestamp"], "metadata.timestamp"),
    partition: meta("partition", readPartition),
    offset: meta("offset", readInt),
    timestampType: meta("timestamp_type", readTimestampType),
    key: meta("key", readKey),
    headers: annotations["con_header_keys"] === undefined
      ? headers
      : readHeaderKeys(annotations["con_header_keys"], "annotations.con_header_keys", headers),
    uuid: note("con_text_uuid", readString),
    isClientUuid: note("con_is_client_uuid", readBool),
    messageCrc32: note("con_message_crc32", readInt),
    contentSha256: note("con_content_sha256", readString),
    archivedAt: meta("archived_at", readInt),
    archiverVersion: meta("archiver_version", readString),
    clashOf: note("con_uuid_clash_of", readString),
  };
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Bytes for humans: the text when it is valid UTF-8, base64 otherwise. */
export function bytesToJson(bytes: Uint8Array | null): Json {
  if (bytes === null) return null;
  try {
    return { utf8: strictUtf8.decode(bytes) };
  } catch {
    return { base64: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64") };
  }
}

const bigintToJson = (n: bigint | null): Json => n === null ? null : n.toString();

/** A JSON-safe view of a decoded object for `inspect`: bytes via bytesToJson, int64s as decimal strings. */
export function toArchiveJson(d: DecodedArchiveObject): Json {
  return {
    layout: d.layout,
    topic: d.topic,
    partition: d.partition,
    offset: bigintToJson(d.offset),
    timestamp: d.timestamp.toString(),
    timestampType: d.timestampType,
    key: bytesToJson(d.key),
    // A name that is not UTF-8 as {base64}, like any other bytes.
    headers: d.headers.map((
      h,
    ) => [h.keyBytes === undefined ? h.key : bytesToJson(h.keyBytes), bytesToJson(h.value)]),
    value: bytesToJson(d.value),
    legacyFormat: d.legacyFormat,
    uuid: d.uuid,
    isClientUuid: d.isClientUuid,
    messageCrc32: bigintToJson(d.messageCrc32),
    contentSha256: d.contentSha256,
    archivedAt: bigintToJson(d.archivedAt),
    archiverVersion: d.archiverVersion,
    clashOf: d.clashOf,
  };
}
