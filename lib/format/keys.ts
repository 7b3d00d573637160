// Object key layout (docs/archive-format.md §3): where a record's BSON object lives in the bucket.
import { hkError } from "../runtime/errors.ts";
import { isUuidText, UUID_PATTERN } from "./identity.ts";

/**
 * "daily":  `<topic>/<YYYY>/<MM>/<DD>/<uuid>.bson`, zero-padded so listing order is time order (default).
 * "hourly": `<topic>/<Y>/<M>/<D>/<H>/<uuid>.bson`, unpadded: the key layout of the production archive.
 */
export type KeyLayout = "daily" | "hourly";

export const KEY_LAYOUTS: readonly KeyLayout[] = ["daily", "hourly"];

/**
 * Records are filed by their UTC date only while the timestamp lies in 1970-01-01 .. 9999-12-31: within
 * that span a 4-digit year keeps listing order equal to time order. Anything else (-1 = unknown, other
 * negatives, the far future) goes under the all-zero date `0000/00/00` (hourly: `0/0/0/0`), which no real
 * date produces (months and days start at 1) and which lists before every real date.
 */
const LAST_DATED_MS = 253402300799999n; // 9999-12-31T23:59:59.999Z

// The topic part of a key (docs/archive-format.md §3): Kafka's legal topic characters, which contain no "/" and so
// keep keys parseable, or the offload pseudo-topic `<topic>+oversized` ('+' is illegal in Kafka names). The format
// owns this grammar; lib/topics/names.ts builds Kafka's full naming rules on it.
export const TOPIC_PATTERN = "[A-Za-z0-9._-]{1,249}";
export const ARCHIVE_TOPIC_PATTERN = `${TOPIC_PATTERN}(?:\\+oversized)?`;

const ARCHIVE_TOPIC = new RegExp(`^${ARCHIVE_TOPIC_PATTERN}$`);
const DAILY_DATE = "\\d{4}/\\d{2}/\\d{2}";
const HOURLY_DATE = "\\d{1,4}/\\d{1,2}/\\d{1,2}/\\d{1,2}";
const OBJECT_KEY = new RegExp(
  `^(${ARCHIVE_TOPIC_PATTERN})/(?:${DAILY_DATE}|${HOURLY_DATE})/(${UUID_PATTERN})\\.bson$`,
);

/** The layout named by `s` (configuration text). */
export function parseKeyLayout(s: string): KeyLayout {
  const layout = KEY_LAYOUTS.find((l) => l === s);
  if (layout === undefined) {
    throw hkError(
      "KEY_LAYOUT_INVALID",
      `unknown key layout ${JSON.stringify(s)}; use one of: ${KEY_LAYOUTS.join(", ")}`,
    );
  }
  return layout;
}

function datePath(layout: KeyLayout, timestampMs: bigint): string {
  if (timestampMs < 0n || timestampMs > LAST_DATED_MS) return layout === "daily" ? "0000/00/00" : "0/0/0/0";
  const d = new Date(Number(timestampMs));
  const day = [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()];
  if (layout === "hourly") return [...day, d.getUTCHours()].join("/");
  // Years in the dated span already have 4 digits; months and days need the padding.
  return day.map((n) => String(n).padStart(2, "0")).join("/");
}

/** The object key of a record, from its topic, record timestamp (not archive time) and UUID. */
export function objectKey(layout: KeyLayout, topic: string, timestampMs: bigint, uuid: string): string {
  if (!ARCHIVE_TOPIC.test(topic)) {
    throw hkError(
      "KEY_TOPIC_INVALID",
      `topic ${JSON.stringify(topic)} cannot name an object: Kafka topics are 1-249 of [A-Za-z0-9._-] ` +
        "(with +oversized for offloaded messages)",
    );
  }
  if (!isUuidText(uuid)) {
    throw hkError("KEY_UUID_INVALID", `uuid ${JSON.stringify(uuid)} must be lowercase 8-4-4-4-12 hex`);
  }
  return `${topic}/${datePath(layout, timestampMs)}/${uuid}.bson`;
}

/** Topic and UUID of a key written by `objectKey` in either layout; null for anything else in the bucket. */
export function parseObjectKey(key: string): { topic: string; uuid: string } | null {
  const match = OBJECT_KEY.exec(key);
  if (match === null) return null;
  return { topic: match[1]!, uuid: match[2]! };
}
