// The one transport to the hopauth REST API (scimma-admin's /v1/multi), for every question archive-api asks it: one
// topic's permissions (lib/serve/hopauth.ts), the credential's available permissions, the user's group
// memberships, a topic's owning group, the credential's name. The caller's Authorization header is forwarded
// untouched; a SCRAM challenge is relayed; after success every answer must carry Authentication-Info (the client
// checks it). Answers are read up to MAX_ANSWER_BYTES, and whatever the service answers that cannot be acted on
// becomes 502 (503 when it says it is busy), logged with what it answered.
import { errorMessage } from "../runtime/errors.ts";
import type { Logger } from "../runtime/log.ts";

export interface SubAnswer {
  status: number;
  body: unknown;
}

export type MultiOutcome =
  | { ok: false; response: Response }
  | { ok: true; headers: Record<string, string>; answers: Record<string, SubAnswer> };

/** name -> API path below the root (e.g. "/v1/current_user"); the outcome per name. */
export type HopAuthMulti = (authorization: string, paths: Record<string, string>) => Promise<MultiOutcome>;

export interface HopAuthMultiOptions {
  /** Base URL of the API, e.g. https://admin.dev.hop.scimma.org/hopauth/api (no trailing slash needed). */
  url: string;
  log: Logger;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export function textResponse(status: number, text: string, headers: Record<string, string> = {}): Response {
  return new Response(text, { status, headers: { "content-type": "text/plain; charset=utf-8", ...headers } });
}

// An answer of the permissions service is small (permission lists); a larger one is not read.
const MAX_ANSWER_BYTES = 1 << 20;

async function boundedBody(resp: Response): Promise<Uint8Array<ArrayBuffer> | null> {
  if (Number(resp.headers.get("content-length") ?? "0") > MAX_ANSWER_BYTES) {
    await resp.body?.cancel();
    return null;
  }
  if (resp.body === null) return new Uint8Array(0);
  const reader = resp.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > MAX_ANSWER_BYTES) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function unavailable(headers: Record<string, string> = {}): Response {
  return textResponse(503, "Permissions service unreachable; try again later", {
    ...headers,
    "retry-after": "5",
  });
}

/** The named sub-answers of a /v1/multi answer; null when one is missing or has no numeric status. */
function subAnswers(body: Uint8Array, names: string[]): Record<string, SubAnswer> | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return null;
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return null;
  const answers: Record<string, SubAnswer> = {};
  for (const name of names) {
    const sub = (parsed as Record<string, unknown>)[name] as { status?: unknown; body?: unknown } | undefined;
    if (sub === null || typeof sub !== "object" || typeof sub.status !== "number") return null;
    answers[name] = { status: sub.status, body: sub.body };
  }
  return answers;
}

export function createHopAuthMulti(options: HopAuthMultiOptions): HopAuthMulti {
  const base = options.url.replace(/\/+$/, "");
  const root = new URL(base).pathname.replace(/\/+$/, "");
  // Its URL as logged: user info (a secret, perhaps) left out.
  const shown = (() => {
    const u = new URL(base);
    return `${u.origin}${u.pathname}`;
  })();
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const { log } = options;

  // The permissions service answered something this archive cannot act on: the caller is told the service failed
  // (502, or 503 when it says it is busy), and the log says what it answered.
  function failed(status: number, why: string, headers: Record<string, string> = {}): MultiOutcome {
    log.warn("permissions service failed", { code: "HOPAUTH_FAILED", url: shown, status, why });
    if (status === 429 || status === 503) return { ok: false, response: unavailable(headers) };
    return {
      ok: false,
      response: textResponse(502, "Bad Gateway: the permissions service failed; try again later", headers),
    };
  }

  return async (authorization, paths) => {
    const requests = Object.fromEntries(
      Object.entries(paths).map(([name, path]) => [
        name,
        { method: "get", path: `${root}${path}`, headers: { Authorization: "Inherit" } },
      ]),
    );
    let resp: Response;
    try {
      resp = await doFetch(`${base}/v1/multi`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization },
        body: JSON.stringify(requests),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      log.warn("permissions service unreachable", {
        code: "HOPAUTH_FAILED",
        url: shown,
        error: errorMessage(e),
      });
      return { ok: false, response: unavailable() };
    }
    const challenge = resp.headers.get("www-authenticate");
    if (resp.status === 401 && challenge !== null) {
      // The SCRAM challenge, relayed; its body is small (bounded all the same) and read under the fetch's timeout.
      const body = await boundedBody(resp);
      if (body === null) return failed(resp.status, "challenge unreadable");
      return {
        ok: false,
        response: new Response(body, { status: 401, headers: { "www-authenticate": challenge } }),
      };
    }
    if (resp.status !== 200) {
      await resp.body?.cancel();
      if (resp.status === 403) return { ok: false, response: textResponse(403, "Forbidden") };
      return failed(resp.status, "unexpected status");
    }
    // From here on the client may be waiting for the SCRAM server-final message: every answer carries it.
    const headers: Record<string, string> = {};
    const info = resp.headers.get("authentication-info");
    if (info !== null) headers["authentication-info"] = info;
    const body = await boundedBody(resp).catch(() => null);
    const answers = body === null ? null : subAnswers(body, Object.keys(paths));
    if (answers === null) return failed(200, "malformed answer", headers);
    return { ok: true, headers, answers };
  };
}

/** A sub-answer's body field as a string, when the sub-request succeeded. */
export function answerString(answer: SubAnswer | undefined, field: string): string | null {
  if (answer?.status !== 200 || answer.body === null || typeof answer.body !== "object") return null;
  const v = (answer.body as Record<string, unknown>)[field];
  return typeof v === "string" ? v : null;
}
