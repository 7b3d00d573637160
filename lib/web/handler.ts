// The archive in a browser: server-rendered pages under `/` and `/web/...`, beside archive-api's routes. Access is
// the API's: public topics (--public-topics) for anyone; others for a visitor signed in with a hop token, checked
// through hopauth on every request, as the API checks its callers.
import { decodeArchiveObject, type DecodedArchiveObject } from "../format/record.ts";
import type { Browse, Place } from "../index/browse.ts";
import type { Headlines } from "../index/headline.ts";
import type { Index, StoredRow } from "../index/types.ts";
import type { Logger } from "../runtime/log.ts";
import type { BlobStore } from "../store/types.ts";
import type { PublicTopics } from "../topics/public_topics.ts";
import { isArchiveTopic } from "../topics/names.ts";
import type { AuthOutcome, HopAuth } from "../serve/hopauth.ts";
import { normaliseUuid, readLimited } from "../serve/server.ts";
import { APP_JS, ICON_SVG, STYLE_CSS } from "./assets.ts";
import { DAY_MS, dayChart, parseDay } from "./chart.ts";
import { html, type Safe } from "./escape.ts";
import { type Frame, htmlResponse, page, PAGE_HEADERS } from "./layout.ts";
import {
  copyable,
  headersTable,
  hopSnippet,
  messageFacts,
  messagesTable,
  pagingLinks,
  rangeForm,
  rawName,
  topicHref,
  topicsTable,
  valueBlock,
} from "./pages.ts";
import { createSessions, sameText, type Session, type Sessions } from "./session.ts";
import { searchPage, type TextSearch } from "./search.ts";
import { createTextCache, SNIPPET_CACHE_CHARS } from "./snippets.ts";

export interface WebDeps {
  index: Pick<Index, "byUuid" | "topicStats">;
  browse: Browse;
  store: Pick<BlobStore, "get">;
  hopAuth: Pick<HopAuth, "authorize" | "authorizeReads">;
  publicTopics: PublicTopics;
  log: Logger;
  /** The index's text search, once it has one; absent: search by UUID and sender. */
  textSearch?: TextSearch;
  /** ts_headline over the hits' indexed text (lib/index/headline.ts); absent: results without snippets. */
  headlines?: Headlines;
  /** Time the snippets of a search page may take (default SNIPPET_BUDGET_MS; tests on a loaded machine: more). */
  snippetBudgetMs?: number;
  sessions?: Sessions;
  /** ms since the epoch (tests). */
  now?: () => number;
}

/** serve's own routes, for the downloads of a signed-in visitor (the /msg routes, with the session's token). */
export type ApiHandler = (req: Request) => Promise<Response>;

export type WebPages = (req: Request, url: URL, api: ApiHandler) => Promise<Response | null>;

/** Rows a topic page shows; objects larger than this are not decoded for the message page (downloads only). */
export const PAGE_ROWS = 50;
export const MAX_SHOWN_OBJECT_BYTES = 16 * 1024 * 1024;
const MAX_RANGE_DAYS = 3660n;
const MAX_TOKEN_LENGTH = 4096;
const DEFAULT_DAYS = 30n;

export type Access = "ok" | "signin" | "forbidden" | "unavailable";

/** What a request may read: `one` topic, or `all` of many (hopauth asked once for them, not once each). */
export interface AccessCheck {
  one(topic: string): Promise<Access>;
  all(topics: string[]): Promise<Access[]>;
}

function accessOf(outcome: AuthOutcome | undefined): Access {
  if (outcome === undefined) return "unavailable";
  if (outcome.ok) return "ok";
  void outcome.response.body?.cancel().catch(() => {});
  const status = outcome.response.status;
  // Another 4xx is a sub-request hopauth refused for this credential (a topic it does not know: 404).
  return status === 401 ? "signin" : status < 500 ? "forbidden" : "unavailable";
}

/**
 * What a request may read, decided as the API decides it (hopauth's permissions for the topic, per request), with
 * the private topics of a page asked for together (one call to hopauth per READS_PER_CALL topics) and each topic at
 * most once per request.
 */
export function accessFor(
  deps: Pick<WebDeps, "hopAuth" | "publicTopics">,
  session: Session | null,
): AccessCheck {
  const known = new Map<string, Promise<Access>>();
  function ask(topics: string[]): void {
    const asked = [...new Set(topics)].filter((t) => !known.has(t));
    const hidden: string[] = [];
    for (const t of asked) {
      if (deps.publicTopics.isPublic(t)) known.set(t, Promise.resolve("ok"));
      else if (session === null) known.set(t, Promise.resolve("signin"));
      else hidden.push(t);
    }
    if (hidden.length === 0 || session === null) return;
    const answers = deps.hopAuth.authorizeReads(session.authorization, hidden);
    for (const t of hidden) known.set(t, answers.then((m) => accessOf(m.get(t)), () => "unavailable"));
  }
  return {
    one: (topic) => {
      ask([topic]);
      return known.get(topic)!;
    },
    all: (topics) => {
      ask(topics);
      return Promise.all(topics.map((t) => known.get(t)!));
    },
  };
}

function parsePlace(text: string | null): Place | undefined | null {
  if (text === null) return undefined;
  const m = /^(-?\d{1,19})_(\d{1,19})$/.exec(text);
  return m ? { timestamp: BigInt(m[1]!), id: BigInt(m[2]!) } : null;
}

/**
 * A day range from `from`/`to` (YYYY-MM-DD), defaulting to the DEFAULT_DAYS up to `lastDay` (the last day with
 * messages, not after today); null: invalid.
 */
function dayRange(q: URLSearchParams, lastDay: bigint): { from: bigint; to: bigint } | null {
  const to = q.get("to") === null || q.get("to") === "" ? lastDay : parseDay(q.get("to"));
  const from = q.get("from") === null || q.get("from") === ""
    ? (to ?? lastDay) - DEFAULT_DAYS + 1n
    : parseDay(q.get("from"));
  if (from === null || to === null || from > to || to - from >= MAX_RANGE_DAYS) return null;
  return { from, to };
}

export function createWebPages(deps: WebDeps): WebPages {
  const sessions = deps.sessions ?? createSessions();
  const snippetTexts = createTextCache(SNIPPET_CACHE_CHARS);
  const now = deps.now ?? Date.now;
  const today = () => BigInt(now()) / DAY_MS;
  // Default charts end on the last day with messages: an archive read back later, or the demo's fixed-clock
  // traffic, would otherwise open on an empty month.
  const lastDay = async (topics: string[]) => await deps.browse.lastDay(topics, today()) ?? today();

  function frame(session: Session | null, title: string, query?: string): Frame {
    return { title, csrf: session?.csrf ?? null, ...(query !== undefined ? { query } : {}) };
  }

  function problem(session: Session | null, status: number, title: string, text: Safe | string): Response {
    return htmlResponse(
      page(
        frame(session, title),
        html`
          <h1>${title}</h1>
          <p class="notice">${text}</p>
        `,
      ),
      status,
    );
  }

  function refused(session: Session | null, access: Access, what: string): Response {
    if (access === "signin") {
      return problem(
        session,
        401,
        "Sign-in needed",
        html`${what} is not public. <a href="/web/signin">Sign in with a hop token</a> to read it.`,
      );
    }
    if (access === "forbidden") {
      return problem(session, 403, "Not permitted", `Your token may not read ${what}.`);
    }
    return problem(
      session,
      503,
      "Permissions service unavailable",
      "The permissions service did not answer; try again later.",
    );
  }

  async function topicsPage(req: Request, url: URL, session: Session | null): Promise<Response> {
    const all = await deps.index.topicStats();
    const decisions = await accessFor(deps, session).all(all.map((s) => s.topic));
    const stats = all.filter((_, i) => decisions[i] === "ok");
    const range = dayRange(url.searchParams, await lastDay(stats.map((s) => s.topic)));
    if (range === null) {
      return problem(
        session,
        400,
        "Invalid range",
        "Give from and to as YYYY-MM-DD, from before to, at most ten years apart.",
      );
    }
    const days = await deps.browse.days(stats.map((s) => s.topic), range.from, range.to);
    const perDay = new Map<bigint, bigint>();
    const perTopic = new Map<string, bigint>();
    for (const d of days) {
      perDay.set(d.day, (perDay.get(d.day) ?? 0n) + d.messages);
      perTopic.set(d.topic, (perTopic.get(d.topic) ?? 0n) + d.messages);
    }
    const hidden = all.length - stats.length;
    const body = html`<h1>Topics</h1>
${rangeForm("/", range.from, range.to, "Show")}
${dayChart(perDay, range.from, range.to, "Messages per day, all topics shown")}
${topicsTable(stats, perTopic, range)}
${
      hidden > 0 && session === null
        ? html`
          <p
            class="muted">${hidden} more topics are not public: <a href="/web/signin">sign in</a> to see those your token may read.</p>
        `
        : ""
    }`;
    void req;
    return htmlResponse(page(frame(session, "Topics"), body));
  }

  async function topicPage(url: URL, topic: string, session: Session | null): Promise<Response> {
    if (!isArchiveTopic(topic)) {
      return problem(session, 400, "Invalid topic name", "Topic names are 1 to 249 of A-Z a-z 0-9 . _ -.");
    }
    const access = await accessFor(deps, session).one(topic);
    if (access !== "ok") return refused(session, access, `The topic ${topic}`);
    const q = url.searchParams;
    const windowGiven = (q.get("from") ?? "") !== "" || (q.get("to") ?? "") !== "";
    const range = dayRange(q, await lastDay([topic]));
    const older = parsePlace(q.get("older"));
    const newer = parsePlace(q.get("newer"));
    if (range === null || older === null || newer === null) {
      return problem(
        session,
        400,
        "Invalid parameters",
        "from and to are YYYY-MM-DD; older and newer are the links' bookmarks.",
      );
    }
    const [listing, days] = await Promise.all([
      deps.browse.page(topic, {
        ...(windowGiven ? { since: range.from * DAY_MS, until: (range.to + 1n) * DAY_MS } : {}),
        ...(older !== undefined ? { older } : newer !== undefined ? { newer } : {}),
        limit: PAGE_ROWS,
      }),
      deps.browse.days([topic], range.from, range.to),
    ]);
    const counts = new Map(days.map((d) => [d.day, d.messages]));
    const keep = new URLSearchParams();
    if (windowGiven) { for (const k of ["from", "to"]) if (q.get(k)) keep.set(k, q.get(k)!); }
    const href = topicHref(topic);
    const body = html`<h1>${topic}</h1>
${rangeForm(href, range.from, range.to, "Window")}
${dayChart(counts, range.from, range.to, `Messages per day on ${topic}`)}
<h2>Messages, newest first${windowGiven ? " in the window" : ""}</h2>
${messagesTable(listing.rows, false)}
${pagingLinks(keep, href, listing)}`;
    return htmlResponse(page(frame(session, topic), body));
  }

  async function messagePage(req: Request, url: URL, id: string, session: Session | null): Promise<Response> {
    const uuid = normaliseUuid(id);
    if (uuid === null) return problem(session, 400, "Invalid message ID", "A message ID is a UUID.");
    const row = await deps.index.byUuid(uuid);
    if (row === null) {
      return problem(session, 404, "Message not found", `No archived message has the UUID ${uuid}.`);
    }
    const access = await accessFor(deps, session).one(row.topic);
    if (access !== "ok") return refused(session, access, `The topic ${row.topic}`);
    let object: DecodedArchiveObject | null = null;
    if (row.size <= MAX_SHOWN_OBJECT_BYTES) {
      const bytes = await deps.store.get(row.key, row.size);
      if (bytes === null) {
        return problem(
          session,
          500,
          "Object missing",
          "The index names an object the store does not hold; run `housekeeping verify`.",
        );
      }
      object = decodeArchiveObject(bytes);
    }
    return htmlResponse(
      page(frame(session, `Message ${uuid}`), messageBody(visibleOrigin(req, url), row, object)),
    );
  }

  function messageBody(origin: string, row: StoredRow, object: DecodedArchiveObject | null): Safe {
    const isPublic = deps.publicTopics.isPublic(row.topic);
    const name = rawName(row.uuid, row.format);
    const rawPath = `/msg/${row.uuid}/raw_file/${encodeURIComponent(name)}`;
    const raw = isPublic ? rawPath : `/web/download/${row.uuid}/raw`;
    const bson = isPublic ? `/msg/${row.uuid}` : `/web/download/${row.uuid}/bson`;
    const title = object?.headers.find((h) => h.key === "title")?.value;
    const titleText = title ? new TextDecoder().decode(title) : null;
    return html`<h1>Message <code>${row.uuid}</code></h1>
${
      row.catalog?.retracted
        ? html`<p class="notice"><span class="badge retracted">retracted</span> Its sender retracted this message.</p>`
        : ""
    }
${messageFacts(row, object, titleText)}
<h2>Download</h2>
<p class="downloads"><a href="${raw}" download="${name}">Raw value (${name})</a>
<a href="${bson}" download="${row.uuid}.bson">Archived BSON object</a></p>
<h2>Fetch it with hop-client</h2>
${copyable("snippet", hopSnippet(`${origin}/msg/${row.uuid}`, name, isPublic))}
<h2>Headers, in wire order</h2>
${
      object === null
        ? html`<p class="muted">The object is too large to show here; download it.</p>`
        : headersTable(object.headers)
    }
<h2>Value</h2>
${object === null ? html`<p class="muted">Download it.</p>` : valueBlock(object.value, row.format)}`;
  }

  /** The /msg routes for a signed-in visitor: the session's token as the Authorization header. */
  async function download(req: Request, id: string, what: string, session: Session | null, api: ApiHandler) {
    const uuid = normaliseUuid(id);
    if (uuid === null || (what !== "raw" && what !== "bson")) {
      return problem(session, 404, "Not found", "No such download.");
    }
    const row = await deps.index.byUuid(uuid);
    const target = what === "bson"
      ? `/msg/${uuid}`
      : `/msg/${uuid}/raw_file/${encodeURIComponent(rawName(uuid, row?.format ?? null))}`;
    const headers = new Headers();
    if (session !== null) headers.set("authorization", session.authorization);
    const resp = await api(new Request(new URL(target, req.url), { headers }));
    if (resp.status === 401 || resp.status === 403) {
      await resp.body?.cancel().catch(() => {});
      return refused(session, resp.status === 401 ? "signin" : "forbidden", "This message");
    }
    if (what === "bson" && resp.ok) {
      resp.headers.set("content-disposition", `attachment; filename="${uuid}.bson"`);
    }
    return resp;
  }

  return async (req, url, api) => {
    const path = url.pathname;
    if (path !== "/" && !path.startsWith("/web/")) return null;
    const read = req.method === "GET" || req.method === "HEAD";
    if (read && path === "/web/style.css") return asset(STYLE_CSS, "text/css");
    if (read && path === "/web/app.js") return asset(APP_JS, "text/javascript");
    if (read && path === "/web/icon.svg") return asset(ICON_SVG, "image/svg+xml");
    const session = sessions.of(req);
    if (path === "/web/signin" || path === "/web/signout") return await signing(req, url, path, session);
    if (!read) {
      return problem(session, 405, "Method not allowed", "These pages are read with GET.");
    }
    const parts = path.split("/").slice(1);
    const part = (i: number) => {
      try {
        return decodeURIComponent(parts[i] ?? "");
      } catch {
        return null;
      }
    };
    if (path === "/") return await topicsPage(req, url, session);
    if (parts[1] === "topic" && parts.length === 3 && part(2) !== null) {
      return await topicPage(url, part(2)!, session);
    }
    if (parts[1] === "message" && parts.length === 3) {
      return await messagePage(req, url, part(2) ?? "", session);
    }
    if (parts[1] === "download" && parts.length === 4) {
      return await download(req, part(2) ?? "", parts[3]!, session, api);
    }
    if (path === "/web/search") {
      return await searchPage(deps, url, session, frame, accessFor(deps, session), snippetTexts);
    }
    return problem(session, 404, "Not found", html`No page here. <a href="/">See the topics</a>.`);
  };

  async function signing(req: Request, url: URL, path: string, session: Session | null): Promise<Response> {
    if (req.method === "GET" && path === "/web/signin") return signInForm(session, null, 200);
    if (req.method !== "POST") {
      return problem(session, 405, "Method not allowed", "Sign in and out with the forms.");
    }
    if (!sameOrigin(req, url)) {
      return problem(session, 403, "Refused", "A form of another site cannot sign you in or out.");
    }
    const form = await readForm(req);
    if (form === null) return problem(session, 400, "Invalid form", "The form could not be read.");
    if (path === "/web/signout") {
      if (session !== null && sameCsrf(form.get("csrf"), session.csrf)) sessions.close(session.id);
      else if (session !== null) {
        return problem(session, 403, "Refused", "The sign-out form is stale; reload and try again.");
      }
      return redirect("/", sessions.cookie(null, visibleOrigin(req, url).startsWith("https:")));
    }
    const token = (form.get("token") ?? "").trim();
    if (token === "" || token.length > MAX_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(token)) {
      return signInForm(session, "A hop token is printable ASCII without spaces.", 400);
    }
    const authorization = `Token ${token}`;
    // hopauth has no "who am I" alone in what serve asks it: a topic check answers 401 for an unknown token and
    // 200 or 403 for a known one.
    const check = await deps.hopAuth.authorize(authorization, "housekeeping.signin-check", "Read");
    if (!check.ok) {
      await check.response.body?.cancel().catch(() => {});
      const status = check.response.status;
      if (status === 401) {
        return signInForm(session, "The permissions service does not know this token.", 401);
      }
      // 403, or a 404 for a topic hopauth does not know, still means it authenticated the token.
      if (status >= 500) {
        return signInForm(session, "The permissions service did not answer; try again later.", 503);
      }
    }
    if (session !== null) sessions.close(session.id);
    const opened = sessions.open(authorization);
    return redirect("/", sessions.cookie(opened, visibleOrigin(req, url).startsWith("https:")));
  }

  function signInForm(session: Session | null, error: string | null, status: number): Response {
    const body = html`
      <h1>Sign in</h1>
      ${error !== null ? html`<p class="notice" role="alert">${error}</p>` : ""}
      <p>Paste a hop token to read the topics it may read. It is kept by this server, for this browser's session only,
      and never shown again; signing out forgets it.</p>
      <form method="post" action="/web/signin">
        <p><label for="token">Hop token</label><br><input id="token" name="token" type="password" autocomplete="off" required maxlength="${MAX_TOKEN_LENGTH}"></p>
        <p><button type="submit">Sign in</button></p>
      </form>
    `;
    return htmlResponse(page(frame(session, "Sign in"), body), status);
  }
}

function asset(text: string, type: string): Response {
  return new Response(text, {
    headers: {
      ...PAGE_HEADERS,
      "content-type": `${type}; charset=utf-8`,
      "cache-control": "public, max-age=300",
    },
  });
}

function redirect(location: string, cookie: string): Response {
  return new Response(null, { status: 303, headers: { ...PAGE_HEADERS, location, "set-cookie": cookie } });
}

/**
 * The origin the visitor sees: serve's listener hands requests on over a Unix socket, so the URL's host is not the
 * one the browser used; its Host header is. A TLS proxy in front says so with X-Forwarded-Proto.
 */
export function visibleOrigin(req: Request, url: URL): string {
  const https = url.protocol === "https:" || req.headers.get("x-forwarded-proto") === "https";
  return `${https ? "https" : "http"}://${req.headers.get("host") ?? url.host}`;
}

/** A form post from one of these pages: the browser says where it comes from (Origin, or Sec-Fetch-Site). */
function sameOrigin(req: Request, url: URL): boolean {
  const origin = req.headers.get("origin");
  if (origin !== null) return origin === visibleOrigin(req, url);
  return req.headers.get("sec-fetch-site") === "same-origin";
}

function sameCsrf(given: string | null, expected: string): boolean {
  return given !== null && sameText(given, expected);
}

const MAX_FORM_BYTES = 16 * 1024;
const FORM_TIMEOUT_MS = 10_000;

async function readForm(req: Request): Promise<URLSearchParams | null> {
  if (!(req.headers.get("content-type") ?? "").startsWith("application/x-www-form-urlencoded")) {
    await req.body?.cancel().catch(() => {});
    return null;
  }
  const body = await readLimited(req, MAX_FORM_BYTES, FORM_TIMEOUT_MS);
  return typeof body === "string" ? null : new URLSearchParams(new TextDecoder().decode(body));
}
