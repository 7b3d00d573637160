// Output for people and for machines, shared by every admin command: tables on a terminal, JSON elsewhere. One
// JSON form of an index row, so `query`, `inspect` and `export` agree on field names and follow-on services can
// rely on them.
import type { StoredRow } from "../index/types.ts";

export interface Column {
  title: string;
  align?: "left" | "right";
}

/** Pure: a plain-text table with a header rule; cells are padded to the widest entry of their column. */
export function renderTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((c, i) => Math.max(c.title.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    columns
      .map((c, i) => {
        const cell = cells[i] ?? "";
        return c.align === "right" ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!);
      })
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.title)), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)]
    .join("\n") + "\n";
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** 1536 -> "1.5 KiB"; exact below 1 KiB. */
export function formatBytes(n: number | bigint): string {
  let value = Number(n);
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** 1234567 -> "1,234,567": counts stay readable in tables. */
export function formatCount(n: number | bigint): string {
  return BigInt(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** 65_000 -> "1:05"; 3_725_000 -> "1:02:05". */
export function formatDuration(ms: number): string {
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

const LAST_DATE_MS = 8.64e15; // the largest time a JS Date can hold
const NO_TIMESTAMP = -1n; // Kafka's timestamp of a record that has none

/** Record timestamps for people: ISO 8601 UTC to the ms; "-" for none, the raw number when not a date (-1). */
export function formatTime(ms: bigint | null): string {
  if (ms === null) return "-";
  if (ms < 0n || Number(ms) > LAST_DATE_MS) return ms.toString();
  return new Date(Number(ms)).toISOString();
}

/**
 * Record timestamps in tables: to the second, "2024-01-17 12:00:00Z"; "none" for Kafka's "no timestamp" (-1),
 * which a reader of a table would otherwise take for a number of something.
 */
export function formatTimeShort(ms: bigint | null): string {
  if (ms === NO_TIMESTAMP) return "none";
  const full = formatTime(ms);
  return /^\d{4}-/.test(full) ? full.replace("T", " ").replace(/\.\d{3}Z$/, "Z") : full;
}

/** JSON text where int64 values (bigint) are decimal strings: JSON numbers lose precision above 2^53. */
export function toJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, (_k, v) => typeof v === "bigint" ? v.toString() : v, indent);
}

/**
 * The JSON form of an index row. Column names as in the table (docs/archive-format.md §4: `key` is the object key, `size` and
 * `crc32` describe the BSON object, `message_crc32` the value); int64 as decimal strings; `time` is `timestamp`
 * rendered as ISO 8601 for people. `id` is the keyset cursor: pass it to `query --after` for the next page.
 */
export function rowToJson(row: StoredRow & { id?: bigint }): Record<string, unknown> {
  return {
    ...(row.id !== undefined ? { id: row.id.toString() } : {}),
    uuid: row.uuid,
    topic: row.topic,
    partition: row.partition,
    offset: row.offset?.toString() ?? null,
    timestamp: row.timestamp.toString(),
    time: row.timestamp >= 0n ? formatTime(row.timestamp) : null,
    key: row.key,
    bucket: row.bucket,
    size: row.size,
    crc32: row.crc32,
    is_client_uuid: row.isClientUuid,
    message_crc32: row.messageCrc32,
    value_size: row.valueSize,
    content_sha256: row.contentSha256,
    sender: row.sender,
    format: row.format,
    is_test: row.isTest,
    clash_of: row.clashOf,
    archived_at: row.archivedAt === null ? null : formatTime(row.archivedAt),
    archiver_version: row.archiverVersion,
    // archive-core's catalogue columns (lib/index/catalog.ts), under its names.
    ...(row.catalog
      ? {
        public: row.catalog.public,
        media_type: row.catalog.mediaType,
        title: row.catalog.title,
        file_name: row.catalog.fileName,
        originator: row.catalog.originator,
        direct_upload: row.catalog.directUpload,
        retracted: row.catalog.retracted,
      }
      : {}),
  };
}
