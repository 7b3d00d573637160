// The topic policy from hopauth (scimma-admin's REST API), fetched as archive-core fetches it: `GET /v1/topics`
// with HTTP SCRAM-SHA-512, again every refresh period, and at once when a record of a topic hopauth did not list
// arrives with a timestamp newer than the last fetch (the topic may have been created since: decision_api.py's
// _metadata_for_topic). When hopauth cannot be reached the last policy stays in force, so topics already known go
// on being archived; the logs and /metrics say the policy is stale.
import { errorMessage, hkError, isHkError } from "../runtime/errors.ts";
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";
import { sleep } from "../runtime/retry.ts";
import { type ScramCredential, scramFetcher, shownUrl } from "../hopauth/scram.ts";
import { isTopicName, offloadedFrom } from "./names.ts";
import {
  decideByHopauth,
  decisionCache,
  type HopauthTopicFlags,
  type PolicyStatus,
  type TopicPolicy,
} from "./policy.ts";
import type { VetoList } from "./veto.ts";

/** archive-core's Decider re-reads hopauth's topics every 300 s (topic_metadata_check_period). */
export const DEFAULT_POLICY_REFRESH_SECONDS = 300;
/** Hopskotch has hundreds of topics (~300 bytes each): 32 MiB is far above any real answer, and bounds memory. */
const MAX_ANSWER_BYTES = 32 * 2 ** 20;
/** Records of an unlisted topic stamped in the future would otherwise refresh on every batch. */
const MIN_UNKNOWN_REFRESH_MS = 5_000;

export type RefreshOutcome = "ok" | "unreachable" | "http_error" | "auth_failed" | "invalid";

export interface HopauthPolicyOptions {
  /** The API root, e.g. https://admin.hop.scimma.org/hopauth/api (as HOPAUTH_API_URL for archive-core). */
  url: string;
  credential: ScramCredential;
  veto: VetoList;
  refreshMs: number;
  log: Logger;
  metrics?: Metrics;
  timeoutMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

export interface HopauthPolicy extends TopicPolicy {
  /** One fetch now (concurrent callers share it): its outcome. */
  refresh(): Promise<RefreshOutcome>;
  /** archive-core's rule for records: an unlisted topic with a message newer than the last fetch refreshes now. */
  observe(topic: string, timestampMs: number): Promise<void>;
  /** The first fetch: retried while hopauth is unreachable; refused credentials stop start-up (a coded error). */
  initial(signal: AbortSignal): Promise<void>;
  /** Refreshes every period and keeps the age gauge current, until `signal` aborts. */
  run(signal: AbortSignal): Promise<void>;
}

export function isHopauthPolicy(policy: TopicPolicy): policy is HopauthPolicy {
  return policy.source === "hopauth" && "observe" in policy;
}

/** The answer's topics; entries without a valid topic name are left out and counted. Pure. */
export function parseTopicsAnswer(body: unknown): { flags: Map<string, HopauthTopicFlags>; skipped: number } {
  if (!Array.isArray(body)) {
    throw hkError("HOPAUTH_ANSWER_INVALID", "hopauth's /v1/topics answer is not a JSON list of topics");
  }
  const flags = new Map<string, HopauthTopicFlags>();
  let skipped = 0;
  for (const entry of body) {
    const e = entry !== null && typeof entry === "object" ? entry as Record<string, unknown> : {};
    if (typeof e.name !== "string" || !isTopicName(e.name)) {
      skipped++;
      continue;
    }
    // Only a JSON true switches a flag on: anything else (absent, "yes", 1) leaves the safe default of off.
    flags.set(e.name, {
      archivable: e.archivable === true,
      publicly_readable: e.publicly_readable === true,
      index_archived_text: e.index_archived_text === true,
    });
  }
  return { flags, skipped };
}

async function boundedText(resp: Response, limit: number): Promise<string> {
  const declared = Number(resp.headers.get("content-length") ?? "0");
  if (declared > limit) {
    await resp.body?.cancel();
    throw hkError("HOPAUTH_ANSWER_INVALID", `hopauth's /v1/topics answer is larger than ${limit} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of resp.body ?? []) {
    size += chunk.length;
    if (size > limit) {
      throw hkError("HOPAUTH_ANSWER_INVALID", `hopauth's /v1/topics answer is larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) all.set(c, (at += c.length) - c.length);
  return new TextDecoder().decode(all);
}

function outcomeOf(e: unknown): RefreshOutcome {
  if (!isHkError(e)) return "unreachable"; // fetch's TypeError (refused, reset, DNS) or the timeout
  if (e.code === "HOPAUTH_AUTH") return "auth_failed";
  if (e.code === "HOPAUTH_ANSWER_INVALID") return "invalid";
  return "http_error";
}

/** One GET /v1/topics through SCRAM: hopauth's flags by topic. */
async function fetchTopicFlags(
  scramFetch: ReturnType<typeof scramFetcher>,
  base: string,
  timeoutMs: number,
  log: Logger,
): Promise<Map<string, HopauthTopicFlags>> {
  const resp = await scramFetch(`${base}/v1/topics`, {
    headers: { accept: "application/json" },
    // A redirect would carry the SCRAM exchange elsewhere: hopauth's API root is configured, never discovered.
    redirect: "manual",
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!resp.ok) {
    await resp.body?.cancel();
    throw hkError("HOPAUTH_FAILED", `hopauth's /v1/topics answered status ${resp.status}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(await boundedText(resp, MAX_ANSWER_BYTES));
  } catch (e) {
    if (isHkError(e)) throw e;
    throw hkError("HOPAUTH_ANSWER_INVALID", `hopauth's /v1/topics answer is not JSON: ${errorMessage(e)}`);
  }
  const parsed = parseTopicsAnswer(body);
  if (parsed.skipped > 0) {
    log.warn("hopauth listed topics without a valid name; ignored", { skipped: parsed.skipped });
  }
  return parsed.flags;
}

function sameFlags(a: Map<string, HopauthTopicFlags>, b: Map<string, HopauthTopicFlags>): boolean {
  return a.size === b.size && [...a].every(([name, f]) => {
    const old = b.get(name);
    return old !== undefined && old.archivable === f.archivable &&
      old.publicly_readable === f.publicly_readable && old.index_archived_text === f.index_archived_text;
  });
}

export function createHopauthPolicy(options: HopauthPolicyOptions): HopauthPolicy {
  const { veto, log, metrics } = options;
  // Userinfo in the URL is no credential of ours (fetch refuses it, logs must not show it): SCRAM is.
  const base = shownUrl(options.url).replace(/\/+$/, "");
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const scramFetch = scramFetcher(options.credential, options.fetch ?? fetch);
  let flags = new Map<string, HopauthTopicFlags>();
  let fetchedAt: number | undefined;
  let lastError: string | undefined;
  let failures = 0;
  let version = 0;
  let inFlight: Promise<RefreshOutcome> | undefined;
  let lastUnknownRefresh = 0;
  let lastAttempt = 0;

  function adopt(fresh: Map<string, HopauthTopicFlags>): void {
    const same = sameFlags(fresh, flags);
    if (!same) {
      version++;
      log.info("topic policy from hopauth", {
        topics: fresh.size,
        archivable: [...fresh.values()].filter((f) => f.archivable).length,
      });
    }
    flags = fresh;
    fetchedAt = now();
  }

  async function refreshOnce(): Promise<RefreshOutcome> {
    let outcome: RefreshOutcome = "ok";
    lastAttempt = now();
    try {
      adopt(await fetchTopicFlags(scramFetch, base, timeoutMs, log));
      if (failures > 0) log.info("hopauth reachable again; the topic policy is current", { failures });
      failures = 0;
      lastError = undefined;
    } catch (e) {
      outcome = outcomeOf(e);
      failures++;
      lastError = errorMessage(e);
      log.warn(
        fetchedAt === undefined
          ? "cannot fetch the topic policy from hopauth; until it answers, no topic is archived, public or indexed"
          : "cannot refresh the topic policy from hopauth; the last one stays in force, topics already known " +
            "go on being archived",
        { outcome, error: lastError, policyAgeSeconds: ageSeconds() },
      );
    }
    metrics?.inc("policy_refresh_total", { outcome });
    decisions.clear(); // new flags, or the same ones now (or no longer) stale
    updateGauges();
    return outcome;
  }

  const ageSeconds = () => fetchedAt === undefined ? null : Math.round((now() - fetchedAt) / 1000);

  function updateGauges(): void {
    if (metrics === undefined) return;
    metrics.set("policy_age_seconds", {}, fetchedAt === undefined ? -1 : (now() - fetchedAt) / 1000);
    metrics.set("policy_stale", {}, lastError === undefined ? 0 : 1);
  }

  function refresh(): Promise<RefreshOutcome> {
    inFlight ??= refreshOnce().finally(() => inFlight = undefined);
    return inFlight;
  }

  const stale = () => lastError !== undefined;
  const decisions = decisionCache((topic, readable) =>
    decideByHopauth(topic, readable, veto, flags, stale() ? "hopauth (stale)" : "hopauth")
  );
  const status = (): PolicyStatus => ({
    source: "hopauth",
    ...(fetchedAt !== undefined ? { fetchedAt } : {}),
    stale: stale(),
    ...(lastError !== undefined ? { lastError } : {}),
  });

  return {
    source: "hopauth",
    get version() {
      return version;
    },
    named: () => [...flags.keys()],
    status,
    decide: decisions.decide,
    refresh,
    async observe(topic, timestampMs) {
      // Never fetched (serve starts without waiting for hopauth): every topic is unknown, so try now.
      if (fetchedAt !== undefined && (flags.has(offloadedFrom(topic)) || timestampMs <= fetchedAt)) return;
      if (now() - lastUnknownRefresh < MIN_UNKNOWN_REFRESH_MS) return;
      lastUnknownRefresh = now();
      await refresh();
    },
    async initial(signal) {
      for (let wait = 1000; !signal.aborted; wait = Math.min(wait * 2, 30_000)) {
        const outcome = await refresh();
        if (outcome === "ok") return;
        // Refused credentials are a configuration error: waiting would not fix them.
        if (outcome === "auth_failed") {
          throw hkError(
            "HOPAUTH_AUTH",
            `${lastError} (--hopauth-url; HOPAUTH_USERNAME and HOPAUTH_PASSWORD, or the auth.toml entry)`,
          );
        }
        await sleep(Math.min(wait, options.refreshMs), signal);
      }
    },
    async run(signal) {
      while (!signal.aborted) {
        await sleep(Math.min(1000, options.refreshMs), signal);
        if (signal.aborted) break;
        // A refresh for an unlisted topic counts: the period runs from the latest attempt of either kind.
        if (now() >= lastAttempt + options.refreshMs) await refresh();
        updateGauges();
      }
    },
  };
}
