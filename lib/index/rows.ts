// Index rows to and from their PostgreSQL columns, and the multi-row statements' chunking.
import { uuidBytes } from "../format/identity.ts";
import { catalogOf, indexText, NO_CATALOG } from "./catalog.ts";
import type { StoredRow } from "./types.ts";

// Column order of the multi-row INSERT; the row objects below use the same names.
export const MESSAGE_COLUMNS = [
  "uuid",
  "topic",
  "timestamp",
  "partition",
  "offset",
  "size",
  "key",
  "bucket",
  "crc32",
  "is_client_uuid",
  "message_crc32",
  "archived_at",
  "archiver_version",
  "content_sha256",
  "value_size",
  "sender",
  "format",
  "is_test",
  "clash_of",
  "public",
  "direct_upload",
  "title",
  "media_type",
  "file_name",
  "originator",
  "retracted",
  "quarantined",
  "quarantine_reason",
] as const;
export const RECEIPT_COLUMNS = ["uuid", "topic", "partition", "offset", "timestamp"] as const;
// PostgreSQL counts parameters in 16 bits; postgres.js refuses more than 65534.
export const MAX_PARAMETERS = 65534;

export type Int8 = bigint | string;
export interface DbRow {
  id: Int8;
  uuid: string;
  topic: string;
  timestamp: Int8;
  partition: number | null;
  offset: Int8 | null;
  size: number;
  key: string;
  bucket: string;
  crc32: Int8;
  is_client_uuid: boolean;
  message_crc32: Int8;
  archived_ms: Int8 | null;
  archiver_version: string | null;
  content_sha256: string | null;
  value_size: number | null;
  sender: string | null;
  format: string | null;
  is_test: boolean;
  clash_of: string | null;
  public: boolean;
  direct_upload: boolean;
  title: string;
  media_type: string;
  file_name: string;
  originator: string;
  retracted: boolean;
  quarantined: boolean;
  quarantine_reason: string | null;
}

export function chunks<T>(items: readonly T[], columns: number): T[][] {
  const size = Math.floor(MAX_PARAMETERS / columns);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

// The caller's client may or may not parse int8 (connectIndex makes it bigint; a plain postgres.js gives strings).
export function int8(value: Int8): bigint {
  return BigInt(value);
}

export function int8OrNull(value: Int8 | null): bigint | null {
  return value === null ? null : BigInt(value);
}

export function toDb(row: StoredRow) {
  const catalog = row.catalog ?? NO_CATALOG;
  return {
    uuid: row.uuid,
    topic: row.topic,
    timestamp: row.timestamp,
    partition: row.partition,
    offset: row.offset,
    size: row.size,
    key: row.key,
    bucket: row.bucket,
    crc32: row.crc32,
    is_client_uuid: row.isClientUuid,
    message_crc32: row.messageCrc32,
    archived_at: row.archivedAt === null ? null : new Date(Number(row.archivedAt)),
    archiver_version: row.archiverVersion,
    content_sha256: row.contentSha256,
    value_size: row.valueSize,
    // archive-core's column: '' when there is no sender.
    sender: row.sender ?? "",
    format: row.format,
    is_test: row.isTest,
    clash_of: row.clashOf,
    public: catalog.public,
    direct_upload: catalog.directUpload,
    title: catalog.title,
    media_type: catalog.mediaType,
    file_name: catalog.fileName,
    originator: catalog.originator,
    retracted: catalog.retracted,
    quarantined: row.quarantine != null,
    quarantine_reason: row.quarantine ?? null,
  };
}

export function fromDb(r: DbRow): StoredRow & { id: bigint } {
  return {
    id: int8(r.id),
    uuid: r.uuid,
    topic: r.topic,
    timestamp: int8(r.timestamp),
    partition: r.partition,
    offset: int8OrNull(r.offset),
    size: r.size,
    key: r.key,
    bucket: r.bucket,
    crc32: Number(r.crc32),
    isClientUuid: r.is_client_uuid,
    messageCrc32: Number(r.message_crc32),
    archivedAt: int8OrNull(r.archived_ms),
    archiverVersion: r.archiver_version,
    contentSha256: r.content_sha256,
    valueSize: r.value_size,
    sender: r.sender === "" ? null : r.sender,
    format: r.format,
    isTest: r.is_test,
    clashOf: r.clash_of,
    catalog: {
      public: r.public,
      directUpload: r.direct_upload,
      title: r.title,
      mediaType: r.media_type,
      fileName: r.file_name,
      originator: r.originator,
      retracted: r.retracted,
    },
    // Absent rather than null when not quarantined: what every writer but the quarantine gives.
    ...(r.quarantined ? { quarantine: r.quarantine_reason ?? "" } : {}),
  };
}

export function withoutId({ id: _id, ...row }: StoredRow & { id: bigint }): StoredRow {
  return row;
}

// Identity of a record in a claim: the uuid alone cannot tell two rows of one batch apart.
export function claimKey(
  r: { uuid: string; topic: string; partition: number | null; offset: Int8 | null; timestamp: Int8 },
): string {
  return JSON.stringify([r.uuid, r.topic, r.partition, String(r.offset), String(r.timestamp)]);
}

// Canonical text, so that map keys and comparisons match what PostgreSQL returns.
export function canonicalUuid(text: string): string {
  uuidBytes(text);
  return text.toLowerCase();
}

// SQLSTATE classes of a statement refused for the values its rows carry, which fails again however often it is
// sent: 22 data exception (an encoding error, a value out of range or with no equivalent in the database's
// encoding), 23 integrity constraint (a CHECK or NOT NULL an operator added), 54 program limit (an index entry too
// large). Lost connections (08), lost races (40) and resource shortages (53) are not among them: those are retried.
const REFUSED_CLASSES: readonly string[] = ["22", "23", "54"];

/**
 * PostgreSQL's reason when `e` says it refused rows for what they hold (the text a quarantined row records), else
 * null: every other failure (network, outage, a broken schema) is not the rows' doing.
 */
export function rowRefusal(e: unknown): string | null {
  let cause: unknown = e;
  for (let depth = 0; depth < 4 && cause instanceof Error; depth++) {
    const { name, code } = cause as Error & { code?: unknown };
    if (name === "PostgresError" && typeof code === "string") {
      return REFUSED_CLASSES.includes(code.slice(0, 2))
        ? indexText(`SQLSTATE ${code}: ${cause.message}`)
        : null;
    }
    cause = cause.cause;
  }
  return null;
}

/**
 * The row of a record whose full row PostgreSQL refused: identity, coordinates, sizes and checksums as before (so
 * that replays, receipts and `verify` treat it like any other), none of the text derived from its headers, and the
 * reason. Its object is the record's, byte for byte, at the usual key.
 */
export function quarantineRow<T extends StoredRow>(row: T, reason: string): T {
  const catalog = catalogOf([], row.catalog?.public ?? false, row.catalog?.directUpload ?? false);
  return { ...row, sender: null, format: null, catalog, quarantine: reason };
}
