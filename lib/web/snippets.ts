// Search results' snippets: for each hit, the text archive-core indexed for it (lib/text, from the stored object:
// message_ts keeps only the tsvector), cut by PostgreSQL's ts_headline around the query's matched words, which are
// marked. The markup is made safely: ts_headline marks words with two control characters that the text cannot hold
// (they are taken out of it first), the whole headline is escaped as any text is, and only then are the markers
// replaced with <mark></mark>. Everything here is bounded (objects fetched for the page's hits only, each up to
// MAX_SNIPPET_OBJECT_BYTES, all within SNIPPET_BUDGET_MS) and failure-free: a hit whose snippet cannot be made in
// time, or at all, is shown without one.
import { decodeArchiveObject } from "../format/record.ts";
import type { Headlines } from "../index/headline.ts";
import type { Logger } from "../runtime/log.ts";
import { errorMessage } from "../runtime/errors.ts";
import type { BlobStore } from "../store/types.ts";
import { indexableText } from "../text/extract.ts";
import { escapeHtml, raw, type Safe } from "./escape.ts";

/** Objects larger than this are not fetched for a snippet. */
export const MAX_SNIPPET_OBJECT_BYTES = 1 << 20;
/** Time the snippets of one page may take in all; after it, the page shows those it has. */
export const SNIPPET_BUDGET_MS = 1500;
/** Objects fetched at once. */
const FETCHES = 8;

export const START = "\u0001";
export const STOP = "\u0002";
// deno-lint-ignore no-control-regex -- the markers themselves
const MARKERS = /[\u0001\u0002]/g;

export interface SnippetHit {
  uuid: string;
  /** The stored object's key and size (the index's row). */
  key: string;
  size: number;
}

/**
 * Indexed texts already read, by object key (objects never change), newest use last: the newest messages are the
 * hits of most searches. Bounded by the characters held.
 */
export function createTextCache(maxChars: number) {
  const texts = new Map<string, string>();
  let chars = 0;
  return {
    get(key: string): string | undefined {
      const text = texts.get(key);
      if (text !== undefined) { // used: now the newest
        texts.delete(key);
        texts.set(key, text);
      }
      return text;
    },
    set(key: string, text: string): void {
      if (text.length > maxChars || texts.has(key)) return;
      texts.set(key, text);
      chars += text.length;
      for (const [oldest, old] of texts) {
        if (chars <= maxChars) break;
        texts.delete(oldest);
        chars -= old.length;
      }
    },
  };
}

export type TextCache = ReturnType<typeof createTextCache>;

/** Characters of indexed text a server keeps for snippets (archive-core's texts are at most 16 384 each). */
export const SNIPPET_CACHE_CHARS = 8 * 1024 * 1024;

export interface SnippetDeps {
  store: Pick<BlobStore, "get">;
  /** Texts read before (default: none kept). */
  cache?: TextCache;
  headlines: Headlines;
  log: Logger;
  /** Default SNIPPET_BUDGET_MS (tests). */
  budgetMs?: number;
}

/**
 * A headline as markup: every character escaped, the words between START and STOP inside <mark>. Markers are
 * paired as they come: a STOP without a START, or a START inside a mark, is dropped; a mark left open is closed.
 */
export function markHeadline(headline: string): Safe {
  let out = "";
  let open = false;
  // deno-lint-ignore no-control-regex -- the markers themselves
  for (const part of headline.split(/([\u0001\u0002])/)) {
    if (part === START) {
      if (!open) out += "<mark>";
      open = true;
    } else if (part === STOP) {
      if (open) out += "</mark>";
      open = false;
    } else out += escapeHtml(part);
  }
  return raw(open ? `${out}</mark>` : out);
}

/** The indexed text of a stored object, without the markers (archive-core's text never has them anyway). */
export function snippetSource(bytes: Uint8Array): string | null {
  const object = decodeArchiveObject(bytes);
  const text = indexableText(object.headers, object.value).text;
  return text.replace(MARKERS, " ");
}

/** Resolves with `p`'s value, or with null once `deadline` (ms since the epoch) has passed. */
function before<T>(p: Promise<T>, deadline: number): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), Math.max(0, deadline - Date.now()));
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** uuid -> snippet markup, for the hits that got one. */
export async function snippets(
  deps: SnippetDeps,
  hits: SnippetHit[],
  query: string,
): Promise<Map<string, Safe>> {
  const budget = deps.budgetMs ?? SNIPPET_BUDGET_MS;
  const deadline = Date.now() + budget;
  // Objects are read in the first part of the budget, so that one slow object leaves time to mark the others.
  const fetched = Date.now() + budget * 0.6;
  const sources = new Map<string, string>();
  const queue = hits.filter((h) => h.size <= MAX_SNIPPET_OBJECT_BYTES);
  async function worker() {
    for (let hit = queue.shift(); hit !== undefined && Date.now() < fetched; hit = queue.shift()) {
      try {
        const known = deps.cache?.get(hit.key);
        const bytes = known !== undefined ? null : await before(deps.store.get(hit.key, hit.size), fetched);
        const text = known ?? (bytes === null ? null : snippetSource(bytes));
        if (text !== null && known === undefined) deps.cache?.set(hit.key, text);
        if (text !== null && text.trim() !== "") sources.set(hit.uuid, text);
      } catch (e) {
        deps.log.debug("no snippet for a search hit", { uuid: hit.uuid, error: errorMessage(e) });
      }
    }
  }
  await before(Promise.all(Array.from({ length: FETCHES }, worker)), fetched);
  const uuids = [...sources.keys()];
  const shown = new Map<string, Safe>();
  if (uuids.length === 0 || Date.now() >= deadline) return shown;
  try {
    const headlines = await before(
      deps.headlines(uuids.map((u) => sources.get(u)!), query, {
        startSel: START,
        stopSel: STOP,
        maxWords: 30,
        minWords: 12,
        maxFragments: 2,
      }),
      deadline,
    );
    headlines?.forEach((h, i) => {
      if (h.trim() !== "") shown.set(uuids[i]!, markHeadline(h));
    });
  } catch (e) {
    deps.log.debug("no snippets for a search", { error: errorMessage(e) });
  }
  return shown;
}
