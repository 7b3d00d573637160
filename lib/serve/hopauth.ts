// Authorisation as scimma/archive-api does it: the caller's Authorization header (HTTP SCRAM, RFC 7804, or a token)
// is forwarded untouched to a hopauth-compatible REST API (scimma-admin's /v1/multi), which authenticates it and
// answers with the credential's permissions on the topic. This process never sees a password and keeps no SCRAM
// state: a SCRAM challenge (401 + WWW-Authenticate) is relayed to the client, and the server's final message
// (Authentication-Info) is relayed on the eventual answer, which the client checks.
import { offloadedFrom } from "../topics/names.ts";
import type { Logger } from "../runtime/log.ts";
import { createHopAuthMulti, type SubAnswer, textResponse } from "./hopauth_multi.ts";

export { textResponse };

export type Operation = "Read" | "Write";

/** Topics asked about in one call to hopauth by authorizeReads. */
export const READS_PER_CALL = 100;

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
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const { log } = options;
  const multi = createHopAuthMulti(options);
  const shown = (() => {
    const u = new URL(base);
    return `${u.origin}${u.pathname}`;
  })();

  function challenge(): Response {
    return new Response(JSON.stringify({ message: "Authentication required" }), {
      status: 401,
      headers: {
        "content-type": "application/json",
        "www-authenticate": `SCRAM-SHA-512 realm="${options.realm}"`,
      },
    });
  }

  function malformed(headers: Record<string, string>): AuthOutcome {
    log.warn("permissions service failed", {
      code: "HOPAUTH_FAILED",
      url: shown,
      status: 200,
      why: "malformed answer",
    });
    return {
      ok: false,
      response: textResponse(502, "Bad Gateway: the permissions service failed; try again later", headers),
    };
  }

  /** A sub-request's answer that stops the caller (as the answer to send), or null: it succeeded. */
  function refusal(key: string, status: number, headers: Record<string, string>): AuthOutcome | null {
    if (status === 200) return null;
    if (status >= 400 && status <= 499) {
      return {
        ok: false,
        response: textResponse(status, `permissions service ${key} sub-request failed (${status})`, headers),
      };
    }
    log.warn("permissions service failed", {
      code: "HOPAUTH_FAILED",
      url: shown,
      status,
      why: `${key} sub-request failed`,
    });
    return {
      ok: false,
      response: status === 429 || status === 503
        ? textResponse(503, "Permissions service unreachable; try again later", {
          ...headers,
          "retry-after": "5",
        })
        : textResponse(502, "Bad Gateway: the permissions service failed; try again later", headers),
    };
  }

  /** Whether a permissions answer (CurrentCredentialPermissionsForTopic) allows `op`; null: malformed. */
  function allows(body: unknown, op: Operation): boolean | null {
    const allowed = record(body)?.allowed_operations;
    if (!Array.isArray(allowed)) return null;
    return allowed.includes(op) || allowed.includes("All");
  }

  function forbidden(headers: Record<string, string>): AuthOutcome {
    return { ok: false, response: textResponse(403, "Operation not permitted", headers) };
  }

  async function authorize(authorization: string | null, topic: string, op: Operation): Promise<AuthOutcome> {
    if (authorization === null) return { ok: false, response: challenge() };
    // The pseudo-topic hop-client posts oversized messages to has the permissions of the topic it extends.
    const name = encodeURIComponent(offloadedFrom(topic));
    const paths: Record<string, string> = {
      ops: `/v1/current_credential/permissions/topic/${name}`,
      whoami: "/v1/current_user",
    };
    if (op === "Write") {
      paths.topic = `/v1/topics/${name}`;
      paths.cred = "/v1/current_credential";
    }
    const got = await multi(authorization, paths);
    if (!got.ok) return got;
    const { headers, answers } = got;
    for (const key of op === "Write" ? ["ops", "topic"] : ["ops"]) {
      const refused = refusal(key, answers[key]!.status, headers);
      if (refused !== null) return refused;
    }
    const allowed = allows(answers.ops!.body, op);
    if (allowed === null) return malformed(headers);
    if (!allowed) return forbidden(headers);
    return {
      ok: true,
      headers,
      user: stringField(answers.whoami, "username"),
      credential: stringField(answers.cred, "username"),
    };
  }

  /**
   * Read access to many topics in one call to hopauth (one /v1/multi, one permissions sub-request per topic, the
   * one `authorize` sends): each topic's outcome is the one `authorize(authorization, topic, "Read")` gives, but
   * for `user`, which is not asked for (null).
   * Topics are asked for in calls of at most READS_PER_CALL.
   */
  async function authorizeReads(
    authorization: string | null,
    topics: string[],
  ): Promise<Map<string, AuthOutcome>> {
    const unique = [...new Set(topics)];
    const outcomes = new Map<string, AuthOutcome>();
    if (authorization === null) {
      for (const t of unique) outcomes.set(t, { ok: false, response: challenge() });
      return outcomes;
    }
    const calls: Promise<void>[] = [];
    for (let at = 0; at < unique.length; at += READS_PER_CALL) {
      calls.push(readsOnce(authorization, unique.slice(at, at + READS_PER_CALL), outcomes));
    }
    await Promise.all(calls);
    return outcomes;
  }

  async function readsOnce(authorization: string, topics: string[], into: Map<string, AuthOutcome>) {
    const paths: Record<string, string> = {};
    topics.forEach((t, i) => {
      paths[`ops${i}`] = `/v1/current_credential/permissions/topic/${encodeURIComponent(offloadedFrom(t))}`;
    });
    const got = await multi(authorization, paths);
    topics.forEach((topic, i) => {
      if (!got.ok) {
        // One answer for every topic; each gets its own copy (a body is read once).
        into.set(topic, { ok: false, response: got.response.clone() });
        return;
      }
      const { headers, answers } = got;
      const answer = answers[`ops${i}`]!;
      const refused = refusal("ops", answer.status, headers);
      const allowed = refused === null ? allows(answer.body, "Read") : null;
      into.set(
        topic,
        refused ?? (allowed === null ? malformed(headers) : !allowed ? forbidden(headers) : {
          ok: true,
          headers,
          user: null, // not asked: a page needs only the decision
          credential: null,
        }),
      );
    });
    if (!got.ok) await got.response.body?.cancel().catch(() => {});
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

  return { authorize, authorizeReads, reachable };
}

export type HopAuth = ReturnType<typeof createHopAuth>;
