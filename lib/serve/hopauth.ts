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

  function subRequest(path: string) {
    return { method: "get", path: `${root}${path}`, headers: { Authorization: "Inherit" } };
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
      log.warn("permissions service unreachable", { url: base, error: errorMessage(e) });
      return { ok: false, response: textResponse(503, "Permissions service unreachable; try again later") };
    }
    const wwwAuthenticate = resp.headers.get("www-authenticate");
    if (resp.status === 401 && wwwAuthenticate !== null) {
      return {
        ok: false,
        response: new Response(await resp.arrayBuffer(), {
          status: 401,
          headers: { "www-authenticate": wwwAuthenticate },
        }),
      };
    }
    if (resp.status === 403) {
      await resp.body?.cancel();
      return { ok: false, response: textResponse(403, "Forbidden") };
    }
    if (resp.status !== 200) {
      log.warn("permissions service failed", { url: base, status: resp.status });
      await resp.body?.cancel();
      return { ok: false, response: textResponse(500, "Internal Error: permissions service request failed") };
    }
    // From here on the client may be waiting for the SCRAM server-final message: every answer carries it.
    const headers: Record<string, string> = {};
    const info = resp.headers.get("authentication-info");
    if (info !== null) headers["authentication-info"] = info;
    let answers: Record<string, unknown> | null;
    try {
      answers = record(await resp.json());
    } catch {
      answers = null;
    }
    const malformed = () => ({
      ok: false as const,
      response: textResponse(500, "Internal Error: malformed answer from the permissions service", headers),
    });
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
      return {
        ok: false,
        response: textResponse(500, "Internal Error: permissions service sub-request failed", headers),
      };
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
