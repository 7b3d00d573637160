// The search box: a UUID opens that message; anything else finds the messages whose indexed text matches, best
// first (`textSearch`: websearch_to_tsquery over message_ts, as archive-core searches) or, when none does, the
// newest messages of that sender. Results are filtered to the topics the visitor may read, as every other page is.
import type { BrowseRow } from "../index/browse.ts";
import type { Index } from "../index/types.ts";
import { normaliseUuid } from "../serve/server.ts";
import { html } from "./escape.ts";
import { type Frame, htmlResponse, page } from "./layout.ts";
import { messageHref, messagesTable } from "./pages.ts";
import type { Session } from "./session.ts";
import type { Access, WebDeps } from "./handler.ts";

/** The index's text search (websearch_to_tsquery over message_ts), when it has one. */
export type TextSearch = (query: string, limit: number) => Promise<BrowseRow[]>;

export const SEARCH_ROWS = 50;

/**
 * The index's text search (Index.search: websearch_to_tsquery over message_ts, as archive-core searches), best
 * ts_rank first, then newest. Every topic is searched; the page keeps the rows the visitor may read.
 */
export function indexTextSearch(index: Pick<Index, "search">): TextSearch {
  return async (query, limit) =>
    (await index.search(query, {}, limit)).map((r) => ({
      id: r.id,
      uuid: r.uuid,
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
  may: (topic: string) => Promise<Access>,
): Promise<Response> {
  const query = (url.searchParams.get("q") ?? "").trim().slice(0, MAX_QUERY);
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
    if (row !== null && await may(row.topic) === "ok") {
      return new Response(null, { status: 303, headers: { location: messageHref(row.uuid) } });
    }
  }
  const visible = async (found: BrowseRow[]) => {
    const allowed = await Promise.all(found.map((r) => may(r.topic)));
    return found.filter((_, i) => allowed[i] === "ok");
  };
  let rows = deps.textSearch === undefined ? [] : await visible(await deps.textSearch(query, SEARCH_ROWS));
  let how = "text";
  if (rows.length === 0) {
    rows = await visible(await deps.browse.bySender(query, null, SEARCH_ROWS));
    how = "sender";
  }
  return shell(html`<h1>Search: ${query}</h1>
<p class="muted">${rows.length} ${rows.length === 1 ? "message" : "messages"} whose ${how} matches${
    rows.length === SEARCH_ROWS ? `, the first ${SEARCH_ROWS}` : ""
  }.</p>
${messagesTable(rows, true)}`);
}
