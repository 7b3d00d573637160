// Authorisation as scimma/archive-api does it: the caller's Authorization header (HTTP SCRAM, RFC 7804, or a token)
// is forwarded untouched to a hopauth-compatible REST API (scimma-admin's /v1/multi), which authenticates it and
// answers with the credential's permissions on the topic. This process never sees a password and keeps no SCRAM
// state: a SCRAM challenge (401 + WWW-Authenticate) is relayed to the client, and the server's final message
// (Authentication-Info) is relayed on the eventual answer, which the client checks.
import { offloadedFrom } from "../topics/names.ts";
import { errorMessage } from "../runtime/errors.ts";
import type { Logger } from "../runtime/log.ts";

export type Operation = "Read" | "Write";

/** Either the caller may go on (with headers every later answer must carry), or the answer to send instead. */
export type AuthOutcome =
  | { ok: true; headers: Record<string, string>; user: string | null; credential: string | null }
  | { ok: false; response: Response };

export interface HopAuthOptions {
  /** Base URL of the API, e.g. https://admin.dev.hop.scimma.org/hopauth/api (no trailing slash needed). */
  url: string;
  /** Realm named in the WWW-Authenticate challenge sent to anonymous callers. */
  realm: string;
  log: Logger;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export function textResponse(status: number, text: string, headers: Record<string, string> = {}): Response {
  return new Response(text, { status, headers: { "content-type": "text/plain; charset=utf-8", ...headers } });
}

interface SubAnswer {
  status?: unknown;
  body?: unknown;
}

function record(value: unknown): Record<string, unknown> | null {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? value as Record<string, unknown>
    : null;
}

function stringField(answer: SubAnswer | undefined, field: string): string | null {
  if (answer?.status !== 200) return null;
  const v = record(answer.body)?.[field];
  return typeof v === "string" ? v : null;
}

// An answer of the permissions service is small (a few permission lists); a larger one is not read.
const MAX_ANSWER_BYTES = 1 << 20;

async function boundedBody(resp: Response): Promise<Uint8Array<ArrayBuffer> | null> {
  const declared = Number(resp.headers.get("content-length") ?? "0");
  if (declared > MAX_ANSWER_BYTES || resp.body === null) {
    await resp.body?.cancel();
    return resp.body === null ? new Uint8Array(0) : null;
  }
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

export function createHopAuth(options: HopAuthOptions) {
  const base = options.url.replace(/\/+$/, "");
  const root = new URL(base).pathname.replace(/\/+$/, "");
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const { log } = options;

  function challenge(): Response {
    return new Response(JSON.stringify({ message: "Authentication required" }), {
      status: 401,
      headers: {
        "content-type": "application/json",
        "www-authenticate": `SCRAM-SHA-512 realm="${options.realm}"`,
      },
    });
  }

  // Its URL as logged: user info (a secret, perhaps) left out.
  const shown = (() => {
    const u = new URL(base);
    return `${u.origin}${u.pathname}`;
  })();

  function unavailable(headers: Record<string, string> = {}): Response {
    return textResponse(503, "Permissions service unreachable; try again later", {
      ...headers,
      "retry-after": "5",
    });
  }

  // The permissions service answered something this archive cannot act on: the caller is told the service failed
  // (502, or 503 when it says it is busy), and the log says what it answered.
  function failed(status: number, why: string, headers: Record<string, string> = {}): Response {
    log.warn("permissions service failed", { code: "HOPAUTH_FAILED", url: shown, status, why });
    if (status === 429 || status === 503) return unavailable(headers);
    return textResponse(502, "Bad Gateway: the permissions service failed; try again later", headers);
  }

  function subRequest(path: string) {
    return { method: "get", path: `${root}${path}`, headers: { Authorization: "Inherit" } };
  }

  // The answer to the client when the service did not answer 200: its SCRAM challenge relayed, a 403, or a
  // mapped failure; null for a 200.
  async function refusal(resp: Response): Promise<Response | null> {
    const wwwAuthenticate = resp.headers.get("www-authenticate");
    if (resp.status === 401 && wwwAuthenticate !== null) {
      // The SCRAM challenge, relayed; its body is small (bounded all the same) and read under the fetch's timeout.
      const body = await boundedBody(resp);
      if (body === null) return failed(resp.status, "challenge unreadable");
      return new Response(body, { status: 401, headers: { "www-authenticate": wwwAuthenticate } });
    }
    if (resp.status === 200) return null;
    await resp.body?.cancel();
    return resp.status === 403 ? textResponse(403, "Forbidden") : failed(resp.status, "unexpected status");
  }

  async function authorize(authorization: string | null, topic: string, op: Operation): Promise<AuthOutcome> {
    if (authorization === null) return { ok: false, response: challenge() };
    // The pseudo-topic hop-client posts oversized messages to has the permissions of the topic it extends.
    const name = encodeURIComponent(offloadedFrom(topic));
    const requests: Record<string, ReturnType<typeof subRequest>> = {
      ops: subRequest(`/v1/current_credential/permissions/topic/${name}`),
      whoami: subRequest("/v1/current_user"),
    };
    if (op === "Write") {
      requests.topic = subRequest(`/v1/topics/${name}`);
      requests.cred = subRequest("/v1/current_credential");
    }
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
    const refused = await refusal(resp);
    if (refused !== null) return { ok: false, response: refused };
    // From here on the client may be waiting for the SCRAM server-final message: every answer carries it.
    const headers: Record<string, string> = {};
    const info = resp.headers.get("authentication-info");
    if (info !== null) headers["authentication-info"] = info;
    let answers: Record<string, unknown> | null;
    try {
      const body = await boundedBody(resp);
      answers = body === null ? null : record(JSON.parse(new TextDecoder().decode(body)));
    } catch {
      answers = null;
    }
    const malformed = () => ({ ok: false as const, response: failed(200, "malformed answer", headers) });
    if (answers === null) return malformed();
    const sub = (key: string) => record(answers![key]) as SubAnswer | null;
    const ops = sub("ops");
    if (ops === null || typeof ops.status !== "number") return malformed();
    for (const key of op === "Write" ? ["ops", "topic"] : ["ops"]) {
      const status = sub(key)?.status;
      if (typeof status !== "number") return malformed();
      if (status === 200) continue;
      if (status >= 400 && status <= 499) {
        return {
          ok: false,
          response: textResponse(
            status,
            `permissions service ${key} sub-request failed (${status})`,
            headers,
          ),
        };
      }
      return { ok: false, response: failed(status, `${key} sub-request failed`, headers) };
    }
    const allowed = record(ops.body)?.allowed_operations;
    if (!Array.isArray(allowed)) return malformed();
    if (!allowed.includes(op) && !allowed.includes("All")) {
      return { ok: false, response: textResponse(403, "Operation not permitted", headers) };
    }
    return {
      ok: true,
      headers,
      user: stringField(sub("whoami") ?? undefined, "username"),
      credential: stringField(sub("cred") ?? undefined, "username"),
    };
  }

  /** For /health_check: whether the API answers at all. */
  async function reachable(): Promise<boolean> {
    try {
      const resp = await doFetch(`${base}/version`, { signal: AbortSignal.timeout(timeoutMs) });
      await resp.body?.cancel();
      return resp.status === 200;
    } catch {
      return false;
    }
  }

  return { authorize, reachable };
}

export type HopAuth = ReturnType<typeof createHopAuth>;
