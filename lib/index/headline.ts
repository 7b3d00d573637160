// ts_headline for search results: the part of each text that best shows why it matched a query, with the matched
// words between the caller's markers. Parsed by PostgreSQL's own text search (the database's default configuration,
// as message_ts was filled and as search reads it), so the words marked are exactly the ones that matched.
import { hkError } from "../runtime/errors.ts";
import type { IndexSql } from "./database.ts";

export interface HeadlineOptions {
  /** Put before and after each matched word; what the caller can tell apart from any text (control characters). */
  startSel: string;
  stopSel: string;
  /** Words in a fragment, at most and at least. */
  maxWords: number;
  minWords: number;
  /** Fragments shown at most, joined by " … ". */
  maxFragments: number;
}

/** texts[i]'s headline for `query` (websearch_to_tsquery), in order. */
export type Headlines = (texts: string[], query: string, options: HeadlineOptions) => Promise<string[]>;

// ts_headline's options are "name=value" pairs split at commas and blanks; a value is quoted when it holds either.
function optionValue(value: string): string {
  if (value === "" || /["\\]/.test(value)) {
    throw hkError(
      "INDEX_QUERY_INVALID",
      "a headline marker must be non-empty, without quotes or backslashes",
    );
  }
  return `"${value}"`;
}

export function createHeadlines(sql: IndexSql): Headlines {
  return async (texts, query, o) => {
    if (texts.length === 0) return [];
    const options = [
      `StartSel=${optionValue(o.startSel)}`,
      `StopSel=${optionValue(o.stopSel)}`,
      `MaxWords=${Math.trunc(o.maxWords)}`,
      `MinWords=${Math.trunc(o.minWords)}`,
      `MaxFragments=${Math.trunc(o.maxFragments)}`,
      `FragmentDelimiter=" … "`,
    ].join(", ");
    const rows = await sql<{ headline: string }[]>`
      select ts_headline(t.text, websearch_to_tsquery(${query}), ${options}) as headline
      from unnest(${texts}::text[]) with ordinality as t(text, n)
      order by t.n`;
    return rows.map((r) => r.headline);
  };
}
