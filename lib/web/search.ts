// The search box: a UUID opens that message; anything else finds the messages whose indexed text matches, best
// first (`textSearch`: websearch_to_tsquery over message_ts, as archive-core searches) or, when none does, the
// newest messages of that sender. Results are filtered to the topics the visitor may read, as every other page is.
import type { BrowseRow } from "../index/browse.ts";
import type { Index, SearchFilter } from "../index/types.ts";
import { isArchiveTopic } from "../topics/names.ts";
import { DAY_MS, dayText, parseDay } from "./chart.ts";
import { normaliseUuid } from "../serve/server.ts";
import { html, type Safe } from "./escape.ts";
import { snippets, type TextCache } from "./snippets.ts";
import { type Frame, htmlResponse, page } from "./layout.ts";
import { messageHref, messagesTable } from "./pages.ts";
import type { Session } from "./session.ts";
import type { AccessCheck, WebDeps } from "./handler.ts";

/** A text search's hit: a listing row, and where its object is (for its snippet). */
export type TextHit = BrowseRow & { key: string };

/** The index's text search (websearch_to_tsquery over message_ts), when it has one. */
export type TextSearch = (query: string, filter: SearchFilter, limit: number) => Promise<TextHit[]>;

export const SEARCH_ROWS = 50;

/**
 * The index's text search (Index.search: websearch_to_tsquery over message_ts, as archive-core searches), best
 * ts_rank first, then newest. Every topic is searched; the page keeps the rows the visitor may read.
 */
export function indexTextSearch(index: Pick<Index, "search">): TextSearch {
  return async (query, filter, limit) =>
    (await index.search(query, filter, limit)).map((r) => ({
      id: r.id,
      uuid: r.uuid,
      key: r.key,
      topic: r.topic,
      timestamp: r.timestamp,
      size: r.size,
      valueSize: r.valueSize,
      sender: r.sender,
      format: r.format,
      title: r.catalog?.title ?? "",
      retracted: r.catalog?.retracted ?? false,
    }));
}
const MAX_QUERY = 512;

export async function searchPage(
  deps: WebDeps,
  url: URL,
  session: Session | null,
  frame: (session: Session | null, title: string, query?: string) => Frame,
  may: AccessCheck,
  texts?: TextCache,
): Promise<Response> {
  const q = url.searchParams;
  const query = (q.get("q") ?? "").trim().slice(0, MAX_QUERY);
  // Narrowing: a topic, and days from and to (inclusive); anything unreadable is left out, not an error.
  const topic = (q.get("topic") ?? "").trim();
  const from = parseDay(q.get("from"));
  const to = parseDay(q.get("to"));
  const filter: SearchFilter = {
    ...(isArchiveTopic(topic) ? { topics: [topic] } : {}),
    ...(from !== null ? { since: from * DAY_MS } : {}),
    ...(to !== null ? { until: (to + 1n) * DAY_MS } : {}),
  };
  const form = html`
    <form class="range" method="get" action="/web/search">
      <input type="hidden" name="q" value="${query}">
      <label>Topic <input name="topic" value="${filter.topics?.[0] ?? ""}" maxlength="249"></label>
      <label>From <input type="date" name="from" value="${from === null ? "" : dayText(from)}"></label>
      <label>To <input type="date" name="to" value="${to === null ? "" : dayText(to)}"></label>
      <button type="submit">Narrow</button>
    </form>
  `;
  const shell = (body: ReturnType<typeof html>, status = 200) =>
    htmlResponse(page(frame(session, query === "" ? "Search" : `Search: ${query}`, query), body), status);
  if (query === "") {
    return shell(html`
      <h1>Search</h1>
      <p>Type words of a message (<code>GRB 250101A</code>, <code>"neutron star" -retraction</code>), a message's UUID or a sender.</p>
    `);
  }
  const uuid = normaliseUuid(query);
  if (uuid !== null) {
    const row = await deps.index.byUuid(uuid);
    if (row !== null && await may.one(row.topic) === "ok") {
      return new Response(null, { status: 303, headers: { location: messageHref(row.uuid) } });
    }
  }
  const visible = async <T extends BrowseRow>(found: T[]) => {
    const allowed = await may.all(found.map((r) => r.topic));
    return found.filter((_, i) => allowed[i] === "ok");
  };
  const hits = deps.textSearch === undefined
    ? []
    : await visible(await deps.textSearch(query, filter, SEARCH_ROWS));
  let rows: BrowseRow[] = hits;
  let how = "text";
  // Only the hits shown, and only those the visitor may read, have their objects read for a snippet.
  const shown = hits.length === 0 || deps.headlines === undefined ? new Map<string, Safe>() : await snippets(
    {
      store: deps.store,
      headlines: deps.headlines,
      log: deps.log,
      ...(texts !== undefined ? { cache: texts } : {}),
      ...(deps.snippetBudgetMs !== undefined ? { budgetMs: deps.snippetBudgetMs } : {}),
    },
    hits,
    query,
  );
  if (rows.length === 0) {
    const inWindow = (r: BrowseRow) =>
      (filter.since === undefined || r.timestamp >= filter.since) &&
      (filter.until === undefined || r.timestamp < filter.until);
    rows = (await visible(await deps.browse.bySender(query, filter.topics ?? null, SEARCH_ROWS))).filter(
      inWindow,
    );
    how = "sender";
  }
  return shell(html`<h1>Search: ${query}</h1>
<p class="muted">${rows.length} ${rows.length === 1 ? "message" : "messages"} whose ${how} matches${
    rows.length === SEARCH_ROWS ? `, the first ${SEARCH_ROWS}` : ""
  }.</p>
${form}
${messagesTable(rows, true, shown)}`);
}
