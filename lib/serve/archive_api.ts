// archive-api's listing, search and retraction routes (scimma/archive-api scripts/archive_api.py), on this
// archive's index: GET /topic/{t}, GET /topics, GET /messages, GET /messages/count, PUT /msg/{id}/retraction.
// Same parameters, defaults, caps, permission rules and body shapes (BSON); where archive-api fails on bad input
// (500 for a garbage bookmark or a topic without rows) or grants what it should not (its topic listing lets a
// credential without Read see private rows), `serve` answers as the README's "deliberate differences" say.
import type { ListedObject, Listing, ListingFilter, ListingPage } from "../index/listing.ts";
import type { Index } from "../index/types.ts";
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";
import type { BlobStore } from "../store/types.ts";
import { offloadedFrom } from "../topics/names.ts";
import type { PublicTopics } from "../topics/public_topics.ts";
import { formatBookmark, parseBookmark } from "./bookmark.ts";
import { textResponse } from "./hopauth.ts";
import { answerString, type HopAuthMulti } from "./hopauth_multi.ts";
import { fullDocument, metaDocument, pyInt } from "./listing_bson.ts";
import { createQueryReader, isInt64 } from "./query.ts";
import { BSON } from "bson";

export interface ArchiveApiDeps {
  listing: Listing;
  index: Pick<Index, "byUuid">;
  store: Pick<BlobStore, "getStream">;
  /** null: no permissions service; only public data can be read and nothing retracted. */
  multi: HopAuthMulti | null;
  publicTopics: PublicTopics;
  /** Realm of the challenge sent to an anonymous caller where credentials are required. */
  realm: string;
  /** Retraction is a write: refused with 501. */
  readOnly: boolean;
  log: Logger;
  metrics: Metrics;
}

const LIMITS = { full: 64, meta: 1024 };
/** More topics than this in one request are refused: each one is a bound parameter of the query. */
export const MAX_TOPICS_PER_REQUEST = 1000;

/** Topics read in full (any row) and topics read public rows only; both null: public rows of every topic. */
interface Access {
  headers: Record<string, string>;
  topicsPublic: string[] | null;
  topicsFull: string[] | null;
}

function bson(doc: Uint8Array, headers: Record<string, string>, status = 200): Response {
  return new Response(Uint8Array.from(doc), {
    status,
    headers: { ...headers, "content-type": "application/bson" },
  });
}

const isRead = (op: unknown) => op === "Read" || op === "All";

export function createArchiveApi(deps: ArchiveApiDeps) {
  const { listing, log, metrics } = deps;

  function challenge(): Response {
    return Response.json({ message: "Authentication required" }, {
      status: 401,
      headers: { "www-authenticate": `SCRAM-SHA-512 realm="${deps.realm}"` },
    });
  }

  /** /topic/{t}: public rows for anyone; every row for a credential with Read (or All) on the topic. */
  async function topicAccess(req: Request, topic: string): Promise<Access | Response> {
    if (deps.publicTopics.isPublic(topic)) return { headers: {}, topicsPublic: null, topicsFull: [topic] };
    const authorization = req.headers.get("authorization");
    if (authorization === null || deps.multi === null) {
      return { headers: {}, topicsPublic: [topic], topicsFull: null };
    }
    const name = encodeURIComponent(offloadedFrom(topic));
    const got = await deps.multi(authorization, {
      ops: `/v1/current_credential/permissions/topic/${name}`,
      whoami: "/v1/current_user",
    });
    if (!got.ok) return got.response;
    const ops = got.answers.ops!;
    const allowed = ops.status === 200
      ? (ops.body as { allowed_operations?: unknown } | null)?.allowed_operations
      : null;
    if (!Array.isArray(allowed)) return textResponse(500, "Internal Error", got.headers);
    return allowed.some(isRead)
      ? { headers: got.headers, topicsPublic: null, topicsFull: [topic] }
      : { headers: got.headers, topicsPublic: [topic], topicsFull: null };
  }

  /** archive-api's authorize_multi_topic_access: the credential's readable topics in full, others public only. */
  async function topicsAccess(req: Request, topics: string[]): Promise<Access | Response> {
    const authorization = req.headers.get("authorization");
    const configured = topics.filter((t) => deps.publicTopics.isPublic(t));
    if (authorization === null || deps.multi === null) {
      if (topics.length === 0) return { headers: {}, topicsPublic: null, topicsFull: null };
      const rest = topics.filter((t) => !deps.publicTopics.isPublic(t));
      return {
        headers: {},
        topicsPublic: rest.length > 0 ? rest : null,
        topicsFull: configured.length > 0 ? configured : null,
      };
    }
    const got = await deps.multi(authorization, {
      perms: "/v1/current_user/available_permissions",
      whoami: "/v1/current_user",
    });
    if (!got.ok) return got.response;
    const perms = got.answers.perms!;
    if (perms.status !== 200 || !Array.isArray(perms.body) || got.answers.whoami!.status !== 200) {
      return textResponse(500, "Internal Error: Malformed/failed response from hop_auth API", got.headers);
    }
    const readable = new Set<string>(configured);
    for (const p of perms.body as unknown[]) {
      const perm = p as { topic?: unknown; operation?: unknown } | null;
      if (perm !== null && typeof perm.topic === "string" && isRead(perm.operation)) readable.add(perm.topic);
    }
    let full: string[];
    let pub: string[];
    if (topics.length === 0) {
      full = [...readable];
      pub = (await listing.topicsWithPublicMessages()).filter((t) => !readable.has(t));
    } else {
      full = topics.filter((t) => readable.has(t));
      pub = topics.filter((t) => !readable.has(t));
    }
    return {
      headers: got.headers,
      topicsPublic: pub.length > 0 ? pub : null,
      topicsFull: full.length > 0 ? full : null,
    };
  }

  const marks = (page: ListingPage) => ({
    next: page.next === null ? null : formatBookmark(page.next),
    prev: page.prev === null ? null : formatBookmark(page.prev),
  });

  function metaAnswer(page: ListingPage, headers: Record<string, string>): Response {
    const { next, prev } = marks(page);
    return bson(metaDocument(page.rows, next, prev), headers);
  }

  function fullAnswer(page: ListingPage<ListedObject>, headers: Record<string, string>): Response {
    const { next, prev } = marks(page);
    const mismatch = (row: ListedObject, why: string) => {
      log.error("stored object failed its check while being listed", { uuid: row.uuid, key: row.key, why });
      metrics.inc("errors_total", { op: "serve_check" });
    };
    const open = async (row: ListedObject) => (await deps.store.getStream(row.key))?.body ?? null;
    const doc = fullDocument(page.rows, next, prev, open, mismatch);
    return new Response(doc.body, {
      headers: { ...headers, "content-type": "application/bson", "content-length": String(doc.length) },
    });
  }

  /** GET /topic/{topic} (`topic` given) and GET /messages (`topic` null: the `topic` parameters, search). */
  async function list(req: Request, topic: string | null, params: URLSearchParams): Promise<Response> {
    const q = createQueryReader(params);
    const topics = topic === null ? q.list("topic") : [];
    const since = q.int("start_time");
    const until = q.int("end_time");
    const search = topic === null ? q.str("search_query") : undefined;
    const pageText = q.str("page");
    const limit = q.int("limit") ?? 64n;
    const ascending = q.bool("asc", true);
    const includeRetracted = q.bool("include_retracted", true);
    const meta = q.bool("meta", false);
    const invalid = q.failure();
    if (invalid !== null) return invalid;
    const outOfRange = (n: bigint | undefined) => n !== undefined && !isInt64(n);
    if (
      outOfRange(since) || outOfRange(until) || (since !== undefined && until !== undefined && until < since)
    ) {
      return textResponse(400, "Invalid time range");
    }
    // A limit beyond int64 is refused (archive-api would cap it): no number that large is meant.
    if (limit <= 0n || !isInt64(limit)) return textResponse(400, "Invalid message count limit");
    if (topics.length > MAX_TOPICS_PER_REQUEST) {
      return textResponse(400, `Too many topics: at most ${MAX_TOPICS_PER_REQUEST} per request`);
    }
    const bookmark = pageText === undefined ? undefined : parseBookmark(pageText);
    if (bookmark === null) return textResponse(400, "Invalid page bookmark");
    const max = meta ? LIMITS.meta : LIMITS.full;
    const size = limit > BigInt(max) ? max : Number(limit);
    const access = topic === null ? await topicsAccess(req, topics) : await topicAccess(req, topic);
    if (access instanceof Response) return access;
    const filter: ListingFilter = {
      topicsPublic: access.topicsPublic,
      topicsFull: access.topicsFull,
      includeRetracted,
      ...(since !== undefined ? { since } : {}),
      ...(until !== undefined ? { until } : {}),
      ...(search !== undefined ? { search } : {}),
    };
    const options = { ascending, limit: size, ...(bookmark ? { bookmark } : {}) };
    return meta
      ? metaAnswer(await listing.page(filter, options), access.headers)
      : fullAnswer(await listing.pageWithObjects(filter, options), access.headers);
  }

  async function count(req: Request, params: URLSearchParams): Promise<Response> {
    const q = createQueryReader(params);
    const topics = q.list("topic");
    const since = q.int("start_time");
    const until = q.int("end_time");
    const search = q.str("search_query");
    const includeRetracted = q.bool("include_retracted", true);
    const invalid = q.failure();
    if (invalid !== null) return invalid;
    if ((since !== undefined && !isInt64(since)) || (until !== undefined && !isInt64(until))) {
      return textResponse(400, "Invalid time range");
    }
    if (topics.length > MAX_TOPICS_PER_REQUEST) {
      return textResponse(400, `Too many topics: at most ${MAX_TOPICS_PER_REQUEST} per request`);
    }
    const access = await topicsAccess(req, topics);
    if (access instanceof Response) return access;
    const n = await listing.count({
      topicsPublic: access.topicsPublic,
      topicsFull: access.topicsFull,
      includeRetracted,
      ...(since !== undefined ? { since } : {}),
      ...(until !== undefined ? { until } : {}),
      ...(search !== undefined ? { search } : {}),
    });
    return bson(BSON.serialize({ count: pyInt(n) }), access.headers);
  }

  /** GET /topics: topics with public rows, and those the credential may Read. */
  async function topicNames(req: Request): Promise<Response> {
    const names = new Set(await listing.topicsWithPublicMessages());
    let headers: Record<string, string> = {};
    const authorization = req.headers.get("authorization");
    if (authorization !== null && deps.multi !== null) {
      const got = await deps.multi(authorization, {
        perms: "/v1/current_user/available_permissions",
        whoami: "/v1/current_user",
      });
      if (!got.ok) return got.response;
      headers = got.headers;
      const perms = got.answers.perms!;
      if (perms.status !== 200 || !Array.isArray(perms.body)) {
        return textResponse(500, "Internal Error", headers);
      }
      for (const p of perms.body as unknown[]) {
        const perm = p as { topic?: unknown; operation?: unknown } | null;
        if (perm !== null && typeof perm.topic === "string" && isRead(perm.operation)) names.add(perm.topic);
      }
    }
    return bson(BSON.serialize({ topics: [...names].sort() }), headers);
  }

  return { list, count, topicNames, retract: createRetraction(deps, challenge) };
}

/**
 * PUT /msg/{id}/retraction?retracted=BOOL, archive-api's rule: an Owner of the group that owns the message's topic,
 * or the credential whose name is the message's recorded sender (`_sender`), may set the flag.
 */
function createRetraction(deps: ArchiveApiDeps, challenge: () => Response) {
  return async (req: Request, uuid: string | null, params: URLSearchParams): Promise<Response> => {
    const q = createQueryReader(params);
    const retracted = q.bool("retracted", null);
    const invalid = q.failure();
    if (invalid !== null || retracted === null) return invalid!;
    if (deps.readOnly) {
      return textResponse(501, "Server is configured as read-only; write operations are not supported");
    }
    if (uuid === null) return textResponse(400, "Invalid Message ID");
    const row = await deps.index.byUuid(uuid);
    if (row === null) return textResponse(404, "Message not found");
    const authorization = req.headers.get("authorization");
    if (authorization === null) return challenge();
    if (deps.multi === null) {
      return textResponse(403, "Operation not permitted: this archive has no permissions service");
    }
    const topic = encodeURIComponent(offloadedFrom(row.topic));
    const got = await deps.multi(authorization, {
      roles: "/v1/current_user/memberships",
      topic: `/v1/topics/${topic}`,
      whoami: "/v1/current_user",
      cred: "/v1/current_credential",
    });
    if (!got.ok) return got.response;
    const { headers, answers } = got;
    const owningGroup = answers.topic!.status === 200
      ? (answers.topic!.body as { owning_group?: unknown } | null)?.owning_group
      : undefined;
    if (owningGroup === undefined) {
      const status = answers.topic!.status;
      return status !== 200
        ? textResponse(
          status < 500 && status >= 400 ? status : 500,
          status < 500 ? "Operation not permitted" : "Internal Error",
          headers,
        )
        : textResponse(500, "Internal Error", headers);
    }
    const roles = answers.roles!;
    if (roles.status !== 200 || !Array.isArray(roles.body)) {
      return textResponse(500, "Internal Error", headers);
    }
    const owner = (roles.body as unknown[]).some((m) => {
      const membership = m as { group?: unknown; status?: unknown } | null;
      return membership !== null && membership.group === owningGroup && membership.status === "Owner";
    });
    const credential = answerString(answers.cred, "username");
    const sender = row.sender ?? "";
    if (!owner && !(credential !== null && credential !== "" && credential === sender)) {
      return textResponse(403, "Operation not permitted", headers);
    }
    await deps.listing.setRetracted(row.uuid, retracted);
    deps.log.info("message retraction set", { uuid: row.uuid, retracted, credential });
    return bson(BSON.serialize({}), headers);
  };
}

export type ArchiveApi = ReturnType<typeof createArchiveApi>;
