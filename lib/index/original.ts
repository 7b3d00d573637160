// Records another archiver already stored under a UUID of its own: archive-core gave every record without a client
// `_id` a random UUID4, so when this archiver takes over its database and re-reads a topic, the UUID it derives for
// such a record names nothing, and the record would be stored twice. archive-core itself recognised a duplicate by
// (topic, timestamp, CRC-32 of the value); rows of other writers carry no content digest, so the same test decides
// here, and only against those rows (this archiver's own rows are matched by UUID and digest).
import type { IndexSql } from "./database.ts";

export interface OriginalKey {
  topic: string;
  timestamp: bigint;
  /** Unsigned CRC-32 of the value. */
  messageCrc32: number;
}

/** For each key that a row of another writer matches: key position -> that row's uuid (its first, by id). */
export async function findOriginals(
  sql: IndexSql,
  keys: readonly OriginalKey[],
): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  if (keys.length === 0) return out;
  const rows = await sql<{ i: bigint | string; uuid: string }[]>`
    select k.i, m.uuid::text as uuid
    from unnest(${keys.map((k) => k.topic)}::text[], ${keys.map((k) => String(k.timestamp))}::int8[],
      ${keys.map((k) => String(k.messageCrc32))}::int8[]) with ordinality as k(topic, timestamp, crc, i)
    join lateral (
      select uuid from messages m
      where m.topic = k.topic and m.timestamp = k.timestamp and m.message_crc32 = k.crc
        and m.content_sha256 is null
      order by m.id limit 1) m on true`;
  for (const r of rows) out.set(Number(r.i) - 1, r.uuid);
  return out;
}
