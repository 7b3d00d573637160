// Identity rules (docs/archive-format.md §2): which UUID names a record, and what "the same content" means.
import { type FieldHash, hex, sha1, sha256Fields } from "./checksum.ts";
import { hkError } from "../runtime/errors.ts";
import { headerKeyBytes, type WireHeader } from "./types.ts";

/**
 * Namespace of every name-based UUID this project derives. Generated once at random (uuid4) for
 * housekeeping; it must never change, or re-deliveries of old records would get new UUIDs and keys.
 */
export const HOUSEKEEPING_NAMESPACE = "c796379a-7b43-4c5a-81fb-09b212e96a79";

/** Canonical text form, as written to objects, keys and the index: lowercase 8-4-4-4-12. */
export const UUID_PATTERN = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const UUID_TEXT = new RegExp(`^${UUID_PATTERN}$`);

// Tags that separate the name spaces of the two derivations, so a legacy UUID can never equal a clash UUID.
const LEGACY_TAG = new TextEncoder().encode("housekeeping legacy uuid v1\0");
const CLASH_TAG = new TextEncoder().encode("housekeeping clash uuid v1\0");
// Prefix of the content digest. Stored digests depend on it: changing it means a new tag, not an edit.
const CONTENT_TAG = new TextEncoder().encode("housekeeping content v1\0");

const NULL_MARK = 0;
const BYTES_MARK = 1;

function uuidError(text: unknown): Error {
  const example = HOUSEKEEPING_NAMESPACE;
  return hkError(
    "UUID_INVALID",
    `not a UUID: ${JSON.stringify(text)}; expected 32 hex digits grouped 8-4-4-4-12 (e.g. ${example})`,
  );
}

/** True for the canonical lowercase 8-4-4-4-12 form only. */
export function isUuidText(text: string): boolean {
  return UUID_TEXT.test(text);
}

/** The 16 bytes of a UUID given as 8-4-4-4-12 text (either case). */
export function uuidBytes(text: string): Uint8Array {
  const lower = text.toLowerCase();
  if (!UUID_TEXT.test(lower)) throw uuidError(text);
  // Digit by digit from the character codes: a listing page converts 1024 of them.
  const digit = (at: number) => {
    const c = lower.charCodeAt(at);
    return c <= 0x39 ? c - 0x30 : c - 0x57;
  };
  const out = new Uint8Array(16);
  for (let i = 0, at = 0; i < 16; i++, at += 2) {
    if (at === 8 || at === 13 || at === 18 || at === 23) at++;
    out[i] = (digit(at) << 4) | digit(at + 1);
  }
  return out;
}

/** Canonical text of 16 UUID bytes. */
export function uuidText(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw uuidError(`<${bytes.length} bytes>`);
  const h = hex(bytes);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** RFC 9562 version-5 UUID of `name` (given as chunks to hash in order) under `namespace`. */
export function uuidV5(namespace: string, ...name: Uint8Array[]): string {
  const bytes = sha1(uuidBytes(namespace), ...name).slice(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return uuidText(bytes);
}

/**
 * The UUID hop-client put in the record: the first `_id` header that is exactly 16 bytes. hop-client
 * appends its `_id` after the user's headers, but a user header named `_id` of another length cannot be
 * a UUID, so it is skipped rather than trusted.
 */
export function clientUuid(headers: readonly WireHeader[]): string | null {
  for (const { key, value } of headers) {
    if (key === "_id" && value !== null && value.length === 16) return uuidText(value);
  }
  return null;
}

function lengthPrefix(length: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(length));
  return out;
}

function nullableField(hash: FieldHash, bytes: Uint8Array | null): void {
  if (bytes === null) return hash.byte(NULL_MARK);
  hash.byte(BYTES_MARK);
  hash.u64(bytes.length);
  hash.bytes(bytes);
}

/**
 * SHA-256 naming a record's content: key, value and headers in wire order, names as their wire bytes. Every field
 * is length-prefixed and null is marked apart from empty, so no two different records share an encoding. Topic
 * and timestamp stay out: a re-publish of the same message is the same content.
 */
export function contentDigest(
  r: { key: Uint8Array | null; value: Uint8Array | null; headers: readonly WireHeader[] },
): Uint8Array {
  // Each field appended as it is read: no list of chunks, no array per length prefix (hashed per record archived
  // and restored). The bytes hashed are those of the encoding above, unchanged.
  const hash = sha256Fields();
  hash.bytes(CONTENT_TAG);
  nullableField(hash, r.key);
  nullableField(hash, r.value);
  hash.u64(r.headers.length);
  for (const header of r.headers) {
    // A name's wire bytes: two names that are not UTF-8 may decode to the same text (U+FFFD) and still differ.
    const keyBytes = headerKeyBytes(header);
    hash.u64(keyBytes.length);
    hash.bytes(keyBytes);
    nullableField(hash, header.value);
  }
  return hash.digest();
}

/**
 * UUID for a record without a client `_id`: a function of topic, timestamp and content only, so a
 * record delivered twice (or replayed from another cluster) lands on the same UUID and object key.
 */
export function legacyUuid(topic: string, timestamp: bigint, digest: Uint8Array): string {
  const topicBytes = new TextEncoder().encode(topic);
  const stamp = new Uint8Array(8);
  new DataView(stamp.buffer).setBigInt64(0, timestamp);
  return uuidV5(
    HOUSEKEEPING_NAMESPACE,
    LEGACY_TAG,
    lengthPrefix(topicBytes.length),
    topicBytes,
    stamp,
    digest,
  );
}

/**
 * UUID for a record whose client `_id` already names different content. Derived from both, so the
 * same clash re-delivered gets the same UUID while each distinct clashing content gets its own.
 */
export function clashUuid(clientUuid: string, digest: Uint8Array): string {
  return uuidV5(HOUSEKEEPING_NAMESPACE, CLASH_TAG, uuidBytes(clientUuid), digest);
}
