// The manifest: one JSON line per record sent, saying what an archive of this traffic must contain. Written by
// mock-hop (--manifest FILE), read by tests and by `verify`.
import { hex, sha256Hex, sha256Of } from "../format/checksum.ts";
import { hkError } from "../runtime/errors.ts";
import type { Compression, MockRecord } from "./types.ts";

export interface ManifestCoordinates {
  topic: string;
  partition: number;
  /** Decimal int64. */
  offset: string;
}

export interface ManifestLine extends ManifestCoordinates {
  /** Position in the generated stream (0-based). */
  seq: number;
  /** Record timestamp, ms, decimal int64 (-1: none). */
  timestamp: string;
  case: string;
  compression: Compression;
  /** The UUID the archive must file the record under. */
  uuid: string;
  /**
   * client: the record's first 16-byte `_id`; archive: supplied by the archive (derived from topic, timestamp and
   * content, identity.legacyUuid); clash: the `_id` already named other content (identity.clashUuid).
   */
  uuid_source: "client" | "archive" | "clash";
  /** The first send of the same record: the archive keeps that one and a receipt for this one. */
  duplicate_of: ManifestCoordinates | null;
  /** For a clash: the client UUID whose record the archive already holds. */
  clash_of: string | null;
  /** A heartbeat: the archive's veto list should exclude its topic, so it is never archived. */
  vetoed: boolean;
  /**
   * Always false now: the archive keeps a header name that is not UTF-8 byte for byte (con_header_keys). True in
   * manifests of mock-hop before that, for records with such a name, whose headers `verify` does not compare.
   */
  lossy: boolean;
  /** identity.contentDigest of the record as received (the archive's con_content_sha256). */
  content_sha256: string;
  value_sha256: string | null;
  value_size: number | null;
  key_sha256: string | null;
  /** SHA-256 of the header list in wire order; see headersSha256. */
  headers_sha256: string;
}

const TAG = new TextEncoder().encode("housekeeping mock headers v1\0");
const encoder = new TextEncoder();

function u64(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

/**
 * SHA-256 naming a header list: the tag "housekeeping mock headers v1\0", the count (u64 big-endian), then per
 * header its key (u64 length + bytes; a string key is taken as its keyBytes if any, else UTF-8) and its value (0x00 for null, else 0x01,
 * u64 length, bytes). Order and duplicates count; null and empty differ.
 */
export function headersSha256(
  headers: ReadonlyArray<{ key: Uint8Array | string; value: Uint8Array | null; keyBytes?: Uint8Array }>,
): string {
  const chunks: Uint8Array[] = [TAG, u64(headers.length)];
  for (const { key, value, keyBytes: exact } of headers) {
    const keyBytes = typeof key === "string" ? exact ?? encoder.encode(key) : key;
    chunks.push(u64(keyBytes.length), keyBytes);
    chunks.push(...(value === null ? [Uint8Array.of(0)] : [Uint8Array.of(1), u64(value.length), value]));
  }
  return hex(sha256Of(chunks));
}

const hashOrNull = (bytes: Uint8Array | null) => (bytes === null ? null : sha256Hex(bytes));

/** The manifest line of a sent record; `offsetOf` knows the offsets of this and earlier records. */
export function manifestLine(
  record: MockRecord,
  offsetOf: (record: MockRecord) => bigint | undefined,
): ManifestLine {
  const coordinates = (r: MockRecord): ManifestCoordinates => {
    const offset = offsetOf(r);
    if (offset === undefined) {
      throw hkError(
        "MOCK_INTERNAL",
        `no offset known for record ${r.seq} (${r.case}); please report this bug`,
      );
    }
    return { topic: r.topic, partition: r.partition, offset: offset.toString() };
  };
  const { expect } = record;
  return {
    seq: record.seq,
    ...coordinates(record),
    timestamp: record.timestamp.toString(),
    case: record.case,
    compression: record.compression,
    uuid: expect.uuid,
    uuid_source: expect.source,
    duplicate_of: expect.duplicateOf === null ? null : coordinates(expect.duplicateOf),
    clash_of: expect.clashOf,
    vetoed: expect.vetoed,
    lossy: false,
    content_sha256: expect.contentSha256,
    value_sha256: hashOrNull(record.value),
    value_size: record.value?.length ?? null,
    key_sha256: hashOrNull(record.key),
    headers_sha256: headersSha256(record.headers),
  };
}

/** Parses manifest text (JSON lines); blank lines are skipped. */
export function parseManifest(text: string, source = "manifest"): ManifestLine[] {
  return text.split("\n").flatMap((line, i) => {
    if (line.trim() === "") return [];
    try {
      return [JSON.parse(line) as ManifestLine];
    } catch (e) {
      throw hkError(
        "MANIFEST_INVALID",
        `${source}:${i + 1} is not JSON (${(e as Error).message}); was it truncated?`,
      );
    }
  });
}
