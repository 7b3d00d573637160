// The search box: a UUID opens that message; anything else finds the newest messages of that sender, or, once the
// index has text search (`textSearch`), the messages whose text matches, newest best first. Results are filtered to
// the topics the visitor may read, as every other page is.
import type { BrowseRow } from "../index/browse.ts";
import { normaliseUuid } from "../serve/server.ts";
import { html } from "./escape.ts";
import { type Frame, htmlResponse, page } from "./layout.ts";
import { messageHref, messagesTable } from "./pages.ts";
import type { Session } from "./session.ts";
import type { Access, WebDeps } from "./handler.ts";

/** The index's text search (websearch_to_tsquery over message_ts), when it has one. */
export type TextSearch = (query: string, limit: number) => Promise<BrowseRow[]>;

export const SEARCH_ROWS = 50;
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
      <p>Type a message's UUID or a sender (e.g. <code>alice-producer</code>).</p>
    `);
  }
  const uuid = normaliseUuid(query);
  if (uuid !== null) {
    const row = await deps.index.byUuid(uuid);
    if (row !== null && await may(row.topic) === "ok") {
      return new Response(null, { status: 303, headers: { location: messageHref(row.uuid) } });
    }
  }
  const found = deps.textSearch !== undefined
    ? await deps.textSearch(query, SEARCH_ROWS)
    : await deps.browse.bySender(query, null, SEARCH_ROWS);
  const allowed = await Promise.all(found.map((r) => may(r.topic)));
  const rows = found.filter((_, i) => allowed[i] === "ok");
  const how = deps.textSearch !== undefined ? "text" : "sender";
  return shell(html`<h1>Search: ${query}</h1>
<p class="muted">${rows.length} messages whose ${how} matches${
    rows.length === SEARCH_ROWS ? `, the newest ${SEARCH_ROWS}` : ""
  }.</p>
${messagesTable(rows, true)}`);
}
