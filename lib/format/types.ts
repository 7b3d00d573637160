// The record shapes the format files share: kept below record.ts and identity.ts so neither imports the other.

/** One Kafka record header as on the wire: order and duplicates matter, and null differs from empty. */
export interface WireHeader {
  /** The name as text: the wire bytes decoded as UTF-8, with U+FFFD for what is not UTF-8 (as every client does). */
  key: string;
  value: Uint8Array | null;
  /**
   * The name's exact wire bytes, present only when they are not valid UTF-8 (`key` then differs from them): the
   * archive keeps them (docs/archive-format.md §1.1, `con_header_keys`) and restore sends them. Read with
   * headerKeyBytes.
   */
  keyBytes?: Uint8Array;
}

const utf8 = new TextEncoder();

/** The exact wire bytes of a header's name. */
export function headerKeyBytes(h: WireHeader): Uint8Array {
  return h.keyBytes ?? utf8.encode(h.key);
}

/**
 * What an object is checked against (object_check.ts): the index row that names it, as far as the format knows
 * it. The index's StoredRow is one; null where the original archiver recorded nothing.
 */
export interface ExpectedObject {
  key: string;
  uuid: string;
  topic: string;
  timestamp: bigint;
  partition: number | null;
  offset: bigint | null;
  /** Bytes and unsigned CRC-32 of the whole BSON object. */
  size: number;
  crc32: number;
  /** Unsigned CRC-32, size and SHA-256 (lowercase hex) of the record value. */
  messageCrc32: number;
  valueSize: number | null;
  contentSha256: string | null;
}
