// Text matches in page order at scale: the newest (or oldest) matches of a websearch_to_tsquery, in (timestamp, id)
// order, from message_ts alone. The GIN index finds a word's texts but not in time order, and a listing wants the
// first 65 of them: fetching every match to sort it costs a heap read per match (6 s for a word in 2 % of 2 M
// texts), walking the texts in time order costs a detoasted tsvector per text (minutes for a rare word). So the
// texts are read in windows, from the page's edge on: the next N texts in time order (enough for the page at the
// share of texts PostgreSQL's statistics expect to match, at least 2 000), then 8 N, 64 N, then all the rest.
// Each window is one query with its time bounds as values, so PostgreSQL sees how many texts it
// holds and picks per window and word: a walk of the window when the word is common (it stops at the limit), or
// the GIN index's matches ANDed with the window's texts (message_ts_order_idx) when it is not, reading only the rows
// in both. A common word ends in the first window, a rare one costs a few GIN lookups of few matches.
//
// Needs message_ts's m_* copies (migration 9); `unordered` says whether some rows still lack them (then callers
// answer by joining messages, as before).
import type postgres from "postgres";
import type { IndexSql } from "./database.ts";
import { type Lexeme, queryLexemes } from "./tsquery_lexemes.ts";

type Fragment = postgres.PendingQuery<postgres.Row[]>;
type Sql = IndexSql | postgres.TransactionSql<{ bigint: bigint }>;

/** Texts in each window, from the edge on, when the share of matching texts is unknown; then every text left. */
const WINDOWS = [2_000, 16_000, 128_000];

export interface OrderedMatch {
  id: bigint;
  timestamp: bigint;
}

export interface MatchScan {
  /** websearch_to_tsquery text. */
  query: string;
  /** Further conditions on message_ts `t` (its m_* columns), ANDed. */
  where: Fragment;
  ascending: boolean;
  /** Exclusive keyset edge in scan order: rows after it (ascending) or before it (descending). */
  after?: OrderedMatch;
  /** timestamp >= since */
  since?: bigint;
  /** timestamp < until */
  until?: bigint;
  limit: number;
  /** Texts per window (tests: small ones); default windowSizes. */
  windows?: readonly number[];
}

/** True while some message_ts rows lack their copies (a backfill not yet done); one probe of an empty index. */
export async function unordered(sql: Sql): Promise<boolean> {
  const [row] = await sql<{ some: boolean }[]>`
    select exists (select 1 from message_ts where m_id is null) as some`;
  return row?.some ?? false;
}

/** A lexeme in at least this share of the texts (PostgreSQL's statistics of message_ts) is common. */
const COMMON = 0.1;
/** At most this many texts found by a query's rare lexemes are checked one by one (see matchCondition). */
const PREFILTERED = 300;

/** How a window scan finds its texts: the condition, and the share of texts expected to match (undefined: unknown). */
interface Matching {
  match: Fragment;
  share?: number;
  /** The GIN index finds few texts (at most PREFILTERED): one query sorts them all, no window needed. */
  few?: boolean;
}

/**
 * The condition a text matches by. The GIN index answers an AND (or a phrase) in time that grows with the
 * commonest lexeme's texts, however rare the others: "GRB 221009A" read all of 'grb''s 2 M entries to find 11
 * texts. So when the query holds a common lexeme (by the statistics ANALYZE keeps) and requires a rarer one, the
 * index is asked for the texts holding the required rare ones, if they are few, and the query itself is checked
 * on those texts (ts_match_vq, the function behind @@, which the planner does not give to the index). The same
 * statistics estimate the share of texts that match, as PostgreSQL's planner does (a lexeme it has no figure for
 * is in half as many texts as its least common one), which sizes the first window.
 */
export async function matching(tx: Sql, query: string): Promise<Matching> {
  const whole = { match: tx`t.text_data @@ websearch_to_tsquery(${query})` };
  const [parsed] = await tx<{ printed: string }[]>`select websearch_to_tsquery(${query})::text as printed`;
  const lexemes = queryLexemes(parsed?.printed ?? "");
  if (lexemes === null || lexemes.required.length === 0) return whole;
  const stats = await tx<{ lexeme: string | null; share: number | null; least: number | null }[]>`
    select e.lexeme, e.share, s.most_common_elem_freqs[array_length(s.most_common_elems, 1) + 1] as least
    from pg_stats s left join lateral (
      select * from unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) as e(lexeme, share)
      where e.lexeme = any(${lexemes.all.map((l) => l.value)}::text[])) e on true
    where s.schemaname = current_schema() and s.tablename = 'message_ts' and s.attname = 'text_data'`;
  if (stats.length === 0) return whole;
  const shares = new Map(stats.flatMap((r) => r.lexeme === null ? [] : [[r.lexeme, r.share ?? 0]]));
  const shareOf = (l: Lexeme) => shares.get(l.value) ?? (stats[0]!.least ?? 0) / 2;
  const share = lexemes.required.reduce((p, l) => p * shareOf(l), 1);
  const common = (l: Lexeme) => (shares.get(l.value) ?? 0) >= COMMON;
  const rare = lexemes.required.filter((l) => !common(l));
  // Rare lexemes alone are asked too: a word in no text at all would otherwise reach the last window, where
  // PostgreSQL may walk every text in time order to find nothing (18 s at 800 000 texts).
  if (rare.length === 0) return { ...whole, share };
  const prefilter = [...new Set(rare.map((l) => l.token))].join(" & ");
  // Worth it only when the rare lexemes are rare indeed: each text they find is read whole to check the query.
  const [few] = await tx<{ n: number }[]>`
    select count(*)::int as n from (
      select 1 from message_ts t where t.text_data @@ ${prefilter}::tsquery limit ${PREFILTERED + 1}) found`;
  if ((few?.n ?? 0) > PREFILTERED) return { ...whole, share };
  return {
    match:
      tx`t.text_data @@ ${prefilter}::tsquery and ts_match_vq(t.text_data, websearch_to_tsquery(${query}))`,
    few: true,
  };
}

/** Texts per window: enough for `limit` matches at the expected share (four times over), growing eightfold. */
export function windowSizes(limit: number, share: number | undefined): number[] {
  if (share === undefined || !(share > 0)) return WINDOWS;
  const first = Math.min(Math.max(WINDOWS[0]!, Math.ceil((4 * limit) / share)), 1e12);
  return [first, first * 8, first * 64];
}

/**
 * Up to `limit` matches in scan order (ids and timestamps of messages). Runs in a transaction of its own with
 * custom plans only: a cached generic plan would not know a window's bounds, which is the point of them.
 */
export async function orderedMatches(sql: IndexSql, scan: MatchScan): Promise<OrderedMatch[]> {
  return await sql.begin(async (tx) => {
    await tx`set local plan_cache_mode = force_custom_plan`;
    const m = await matching(tx, scan.query);
    const windows = scan.windows ?? (m.few ? [] : windowSizes(scan.limit, m.share));
    return await scanWindows(tx, scan, m.match, windows);
  });
}

async function scanWindows(
  tx: Sql,
  scan: MatchScan,
  match: Fragment,
  windows: readonly number[],
): Promise<OrderedMatch[]> {
  const { ascending, limit } = scan;
  const order = ascending ? tx`t.m_timestamp, t.m_id` : tx`t.m_timestamp desc, t.m_id desc`;
  const far = ascending ? scan.until : scan.since;
  const found: OrderedMatch[] = [];
  // Where the next window starts: the keyset edge first, then the previous window's far bound.
  let edge = startEdge(tx, scan);
  for (let w = 0; w <= windows.length && found.length < limit; w++) {
    const size = windows[w];
    let bound = size === undefined ? undefined : await windowBound(tx, edge, order, size);
    // Reaching the far end of the time range: this window is the last.
    if (bound !== undefined && far !== undefined && (ascending ? bound + 1n >= far : bound <= far)) {
      bound = undefined;
    }
    const inWindow = bound === undefined
      ? tx``
      : ascending
      ? tx`and t.m_timestamp <= ${bound}`
      : tx`and t.m_timestamp >= ${bound}`;
    const rows = await tx<OrderedMatch[]>`
      select t.m_id as id, t.m_timestamp as timestamp from message_ts t
      where ${match} and ${scan.where} and ${edge} ${inWindow}
        ${timeRange(tx, scan)}
      order by ${order} limit ${limit - found.length}`;
    found.push(...rows);
    if (bound === undefined) break;
    edge = ascending ? tx`t.m_timestamp > ${bound}` : tx`t.m_timestamp < ${bound}`;
  }
  return found;
}

// The keyset edge and the near end of the time range: the first window starts there.
function startEdge(tx: Sql, scan: MatchScan): Fragment {
  const { after, ascending } = scan;
  const keyset = after === undefined
    ? tx`true`
    : ascending
    ? tx`(t.m_timestamp, t.m_id) > (${after.timestamp}, ${after.id})`
    : tx`(t.m_timestamp, t.m_id) < (${after.timestamp}, ${after.id})`;
  const near = ascending ? scan.since : scan.until;
  if (near === undefined) return keyset;
  return ascending ? tx`${keyset} and t.m_timestamp >= ${near}` : tx`${keyset} and t.m_timestamp < ${near}`;
}

function timeRange(tx: Sql, scan: MatchScan): Fragment {
  return tx`${scan.since !== undefined ? tx`and t.m_timestamp >= ${scan.since}` : tx``}
    ${scan.until !== undefined ? tx`and t.m_timestamp < ${scan.until}` : tx``}`;
}

// The timestamp of the size-th text past the edge (message_ts_order_idx, read for its keys only); undefined when
// fewer are left. Every text with that timestamp falls in the window, so that windows split on timestamps alone.
async function windowBound(
  tx: Sql,
  edge: Fragment,
  order: Fragment,
  size: number,
): Promise<bigint | undefined> {
  const [row] = await tx<{ timestamp: bigint }[]>`
    select t.m_timestamp as timestamp from message_ts t where ${edge} and t.m_timestamp is not null
    order by ${order} offset ${size - 1} limit 1`;
  return row?.timestamp;
}
