// The hopauth REST API's /v1/multi as archive-api uses it beyond one topic's permissions: several named
// sub-requests (the credential's available permissions, the user's group memberships, a topic's owning group, the
// credential's name) authenticated by the caller's Authorization header, which is forwarded untouched. A SCRAM
// challenge is relayed; after success every answer must carry Authentication-Info (the client checks it).
import { errorMessage } from "../runtime/errors.ts";
import type { Logger } from "../runtime/log.ts";
import { textResponse } from "./hopauth.ts";

export interface SubAnswer {
  status: number;
  body: unknown;
}

export type MultiOutcome =
  | { ok: false; response: Response }
  | { ok: true; headers: Record<string, string>; answers: Record<string, SubAnswer> };

/** name -> API path below the root (e.g. "/v1/current_user"); the outcome per name. */
export type HopAuthMulti = (authorization: string, paths: Record<string, string>) => Promise<MultiOutcome>;

// An answer of the permissions service is small (permission lists); a larger one is not read.
const MAX_ANSWER_BYTES = 1 << 20;

async function boundedText(resp: Response): Promise<string | null> {
  if (Number(resp.headers.get("content-length") ?? "0") > MAX_ANSWER_BYTES) {
    await resp.body?.cancel();
    return null;
  }
  const reader = (resp.body ?? new ReadableStream<Uint8Array>()).getReader();
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
  return new TextDecoder().decode(out);
}

export function createHopAuthMulti(
  options: { url: string; log: Logger; timeoutMs?: number; fetch?: typeof fetch },
): HopAuthMulti {
  const base = options.url.replace(/\/+$/, "");
  const root = new URL(base).pathname.replace(/\/+$/, "");
  const shown = (() => {
    const u = new URL(base);
    return `${u.origin}${u.pathname}`;
  })();
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 10_000;
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
      options.log.warn("permissions service unreachable", {
        code: "HOPAUTH_FAILED",
        url: shown,
        error: errorMessage(e),
      });
      return { ok: false, response: unavailable() };
    }
    const challenge = resp.headers.get("www-authenticate");
    if (resp.status === 401 && challenge !== null) {
      const body = await boundedText(resp);
      return {
        ok: false,
        response: new Response(body ?? "", { status: 401, headers: { "www-authenticate": challenge } }),
      };
    }
    if (resp.status !== 200) {
      await resp.body?.cancel();
      if (resp.status === 403) return { ok: false, response: textResponse(403, "Forbidden") };
      options.log.warn("permissions service failed", {
        code: "HOPAUTH_FAILED",
        url: shown,
        status: resp.status,
      });
      // As lib/serve/hopauth.ts answers: a busy service is a 503 to retry, any other failure a 502.
      return {
        ok: false,
        response: resp.status === 429 || resp.status === 503
          ? unavailable()
          : textResponse(502, "Bad Gateway: the permissions service failed; try again later"),
      };
    }
    const headers: Record<string, string> = {};
    const info = resp.headers.get("authentication-info");
    if (info !== null) headers["authentication-info"] = info;
    const malformed = {
      ok: false as const,
      response: textResponse(502, "Bad Gateway: the permissions service failed; try again later", headers),
    };
    let parsed: unknown;
    try {
      const text = await boundedText(resp);
      if (text === null) return malformed;
      parsed = JSON.parse(text);
    } catch {
      return malformed;
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return malformed;
    const answers: Record<string, SubAnswer> = {};
    for (const name of Object.keys(paths)) {
      const sub = (parsed as Record<string, unknown>)[name] as
        | { status?: unknown; body?: unknown }
        | undefined;
      if (sub === null || typeof sub !== "object" || typeof sub.status !== "number") return malformed;
      answers[name] = { status: sub.status, body: sub.body };
    }
    return { ok: true, headers, answers };
  };
}

function unavailable(): Response {
  return textResponse(503, "Permissions service unreachable; try again later", { "retry-after": "5" });
}

/** A sub-answer's body field as a string, when the sub-request succeeded. */
export function answerString(answer: SubAnswer | undefined, field: string): string | null {
  if (answer?.status !== 200 || answer.body === null || typeof answer.body !== "object") return null;
  const v = (answer.body as Record<string, unknown>)[field];
  return typeof v === "string" ? v : null;
}
