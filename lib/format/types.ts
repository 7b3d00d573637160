// The record shapes the format files share: kept below record.ts and identity.ts so neither imports the other.

/** One Kafka record header as on the wire: order and duplicates matter, and null differs from empty. */
export interface WireHeader {
  key: string;
  value: Uint8Array | null;
}
