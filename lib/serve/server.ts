// `serve`: the archive over HTTP in scimma/archive-api's dialect, which hop-client and archive-api's users speak.
// Reads are byte-exact and streamed (the object as stored; the value without re-encoding) and checked against the
// index's CRC-32 as they pass: a mismatch aborts the response rather than completing it with wrong bytes.
import { crc32 as zlibCrc32 } from "node:zlib";
import { decodeArchiveObject } from "../format/record.ts";
import { errorMessage, isHkError } from "../runtime/errors.ts";
import { orchestratorResponse } from "../runtime/http.ts";
import { isArchiveTopic } from "../topics/names.ts";
import type { Index, StoredRow } from "../index/types.ts";
import type { Ingest } from "../archive/ingest.ts";
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";
import type { BlobStore } from "../store/types.ts";
import { openMessageElement } from "./bson_stream.ts";
import { type AuthOutcome, type HopAuth, type Operation, textResponse } from "./hopauth.ts";
import { parseUpload, storeUpload } from "./offload.ts";
import type { PublicTopics } from "../topics/public_topics.ts";
import { contentDisposition, isSafeHeaderValue, unsafeHeader } from "./headers.ts";
import { bounded, isDeadlineError, SERVE_DEADLINE_MS, within } from "./deadline.ts";
import { listen, type Listener, type ListenerLimits } from "./listener.ts";
import { unreadableQuery } from "./query.ts";
import { BSON } from "bson";
import { concat } from "../runtime/bytes.ts";
import type { Listing } from "../index/listing.ts";
import { createArchiveApi } from "./archive_api.ts";
import type { HopAuthMulti } from "./hopauth_multi.ts";
import { type CorsPolicy, headOf, unrouted, withCors } from "./manners.ts";
import { docsResponse, openApiResponse } from "./openapi.ts";

export interface ServeDeps {
  index: Index;
  store: BlobStore;
  ingest: Pick<Ingest, "claim" | "write">;
  hopAuth: HopAuth;
  /** archive-api's listings, counts, search and retraction read and write the index through this. */
  listing: Listing;
  /** The permissions service's /v1/multi for those routes; null: none configured (public data only). */
  multi: HopAuthMulti | null;
  /** Realm of the challenge sent where credentials are required; default "housekeeping". */
  realm?: string;
  /** archive-api's cors_origins and cors_origin_regex; default: no origin allowed. */
  cors?: CorsPolicy;
  /** Retractions are refused (501) as uploads are. */
  readOnly?: boolean;
  publicTopics: PublicTopics;
  metrics: Metrics;
  log: Logger;
  maxUploadBytes: number;
  /** How long a POST body may take to arrive; default UPLOAD_TIMEOUT_MS. */
  uploadTimeoutMs?: number;
  /** Bound on each call to the index, the store, the permissions service; default SERVE_DEADLINE_MS. */
  deadlineMs?: number;
  now?: () => bigint;
  /**
   * Pages for people (lib/web/) under paths no API route uses: a Response, or null for a path they do not own.
   * `api` is this handler, for a page that serves an API answer (a download) with the visitor's credentials.
   */
  web?: (req: Request, url: URL, api: (req: Request) => Promise<Response>) => Promise<Response | null>;
}

/** A client that stalls or trickles its upload holds a connection and up to maxUploadBytes of memory. */
export const UPLOAD_TIMEOUT_MS = 120_000;

const ZERO_UUID = "00000000-0000-0000-0000-000000000000";

/** Python's uuid.UUID accepts these spellings (archive-api's check); null for anything else. */
export function normaliseUuid(text: string): string | null {
  const digits = text.trim().toLowerCase().replace(/^urn:uuid:/, "").replace(/^\{(.*)\}$/, "$1").replaceAll(
    "-",
    "",
  );
  if (!/^[0-9a-f]{32}$/.test(digits)) return null;
  return `${digits.slice(0, 8)}-${digits.slice(8, 12)}-${digits.slice(12, 16)}-${digits.slice(16, 20)}-${
    digits.slice(20)
  }`;
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, "0");
}

/**
 * Passes bytes through, then fails the stream (aborting the response) unless length and CRC-32 match. The last
 * chunk is held back until the check, so a client never receives all Content-Length bytes of a bad object. A
 * pulling stream, not a TransformStream: pipeThrough's pipe cost more per request than the rest of the handler.
 */
function checked(
  body: ReadableStream<Uint8Array>,
  expect: { size: number; crc32: number },
  onMismatch: (why: string) => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let crc = 0;
  let size = 0;
  let held: Uint8Array | null = null;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await reader.read();
        } catch (e) {
          reader.cancel().catch(() => {});
          throw e;
        }
        if (next.done) {
          const why = size !== expect.size
            ? `${size} bytes instead of ${expect.size}`
            : (crc >>> 0) !== expect.crc32
            ? "CRC-32 differs from the index"
            : null;
          if (why !== null) {
            onMismatch(why);
            controller.error(new Error(`stored bytes failed their check: ${why}`));
            return;
          }
          if (held !== null) controller.enqueue(held);
          controller.close();
          return;
        }
        crc = zlibCrc32(next.value, crc);
        size += next.value.length;
        const out = held;
        held = next.value;
        if (out !== null) {
          controller.enqueue(out);
          return;
        }
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

/** A response streaming `body`; when none can be built, `body` is cancelled (its connection freed) and the error thrown. */
async function streamed(body: ReadableStream<Uint8Array>, init: ResponseInit): Promise<Response> {
  try {
    return new Response(body, init);
  } catch (e) {
    await body.cancel().catch(() => {});
    throw e;
  }
}

const INVALID_TOPIC =
  "Invalid topic name: 1 to 249 of A-Z a-z 0-9 . _ - (Kafka's rule), optionally +oversized";
const UNAVAILABLE = new Set(["INDEX_UNREACHABLE", "STORE_UNREACHABLE", "SERVE_UNAVAILABLE"]);

function safeHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([, v]) => isSafeHeaderValue(v)));
}

/**
 * `resp` for a request whose body will not be read (refused, or failed before reading it): the body is cancelled
 * and the connection closed after the answer, so that a client cannot make the server read (and drop) a body
 * nobody asked for.
 */
export function refuseBody(req: Request, resp: Response): Response {
  if (req.body === null || req.bodyUsed) return resp;
  req.body.cancel().catch(() => {});
  resp.headers.set("connection", "close");
  return resp;
}

/**
 * The request body, or why not: larger than `max` bytes, not complete within `timeoutMs`, or not a body at all
 * (broken chunked framing, a connection cut mid-body: the HTTP server's read fails).
 */
export async function readLimited(
  req: Request,
  max: number,
  timeoutMs: number,
): Promise<Uint8Array | "too_large" | "timeout" | "malformed"> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > max) {
    await req.body?.cancel();
    return "too_large";
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = (req.body ?? new ReadableStream<Uint8Array>()).getReader();
  let timedOut = false;
  // Cancelling ends the pending read (done), whatever the client does next.
  const timer = setTimeout(() => {
    timedOut = true;
    reader.cancel().catch(() => {});
  }, timeoutMs);
  try {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch {
        if (timedOut) return "timeout";
        reader.cancel().catch(() => {});
        return "malformed";
      }
      const { done, value } = next;
      if (timedOut) return "timeout";
      if (done) break;
      total += value.length;
      if (total > max) {
        await reader.cancel();
        return "too_large";
      }
      chunks.push(value);
    }
  } finally {
    clearTimeout(timer);
  }
  return concat(chunks);
}

export function createHandler(deps: ServeDeps): (req: Request) => Promise<Response> {
  const { publicTopics, metrics, log } = deps;
  const now = deps.now ?? (() => BigInt(Date.now()));
  const uploadTimeoutMs = deps.uploadTimeoutMs ?? UPLOAD_TIMEOUT_MS;
  const deadlineMs = deps.deadlineMs ?? SERVE_DEADLINE_MS;
  const index = bounded(deps.index, deadlineMs, "the index");
  const store = bounded(deps.store, deadlineMs, "the object store");
  const hopAuth = bounded(deps.hopAuth, deadlineMs, "the permissions service");
  // Storing an upload moves up to MAX_UPLOAD_MIB to the store: it gets as long as the upload itself may take.
  const ingest = bounded(deps.ingest, Math.max(deadlineMs, uploadTimeoutMs), "archiving the upload");
  const multi = deps.multi;
  const api = createArchiveApi({
    listing: bounded(deps.listing, deadlineMs, "the index"),
    index,
    store,
    multi: multi === null
      ? null
      : (authorization, paths) =>
        within(multi(authorization, paths), deadlineMs, "the permissions service (multi)"),
    publicTopics,
    realm: deps.realm ?? "housekeeping",
    readOnly: deps.readOnly ?? false,
    log,
    metrics,
  });

  async function health(withHopAuth: boolean) {
    const [database, objectStore, hop] = await Promise.all([
      index.byUuid(ZERO_UUID).then(() => true, () => false),
      store.head("not/a/valid/object/key").then(() => true, () => false),
      withHopAuth ? hopAuth.reachable() : Promise.resolve(true),
    ]);
    return { DatabaseOK: database, ObjectStoreOK: objectStore, HopAuthOK: hop };
  }

  // Headers every answer to a request must carry once it is authenticated (the SCRAM server-final message, which
  // hop-client checks even on an error), so that a failure after authorisation still carries them.
  const authHeaders = new WeakMap<Request, Record<string, string>>();

  async function authorized(req: Request, topic: string, op: Operation): Promise<AuthOutcome> {
    if (op === "Read" && publicTopics.isPublic(topic)) {
      return { ok: true, headers: {}, user: null, credential: null };
    }
    const outcome = await hopAuth.authorize(req.headers.get("authorization"), topic, op);
    if (outcome.ok) authHeaders.set(req, outcome.headers);
    return outcome;
  }

  async function message(req: Request, id: string, rawName: string | null): Promise<Response> {
    const uuid = normaliseUuid(id);
    if (uuid === null) return textResponse(400, "Invalid Message ID");
    const row = await index.byUuid(uuid);
    if (row === null) return textResponse(404, "Message not found");
    const auth = await authorized(req, row.topic, "Read");
    if (!auth.ok) return auth.response;
    const etag = rawName === null
      ? `"${row.uuid}-${hex32(row.crc32)}"`
      : `"${row.uuid}-v${hex32(row.messageCrc32)}"`;
    const headers: Record<string, string> = { ...auth.headers, etag };
    if (req.headers.get("if-none-match") === etag) return new Response(null, { status: 304, headers });
    if (rawName !== null) {
      headers["content-disposition"] = contentDisposition(rawName);
      headers["content-type"] = "application/octet-stream";
    }
    const object = await store.getStream(row.key);
    if (object === null) {
      log.error("indexed object missing from the store", { uuid: row.uuid, key: row.key });
      return textResponse(
        500,
        "Internal Error: the message's object is missing; run `housekeeping verify`",
        headers,
      );
    }
    const mismatch = (why: string) => {
      log.error("stored object failed its check while being served", { uuid: row.uuid, key: row.key, why });
      metrics.inc("errors_total", { op: "serve_check" });
    };
    // Every way out of here either hands the stream to the response or cancels it: a stream left open keeps one of
    // the store client's sockets, and when they are all taken every request waits for good.
    try {
      if (rawName !== null) return await rawValue(row, object.body, headers, mismatch);
      const body = checked(object.body, { size: row.size, crc32: row.crc32 }, mismatch);
      return await streamed(body, {
        headers: { ...headers, "content-type": "application/bson", "content-length": String(row.size) },
      });
    } catch (e) {
      // Locked: a reader took it over and cancelled it on its own failure (openMessageElement, streamed).
      if (!object.body.locked) await object.body.cancel().catch(() => {});
      throw e;
    }
  }

  async function rawValue(
    row: StoredRow,
    object: ReadableStream<Uint8Array>,
    headers: Record<string, string>,
    mismatch: (why: string) => void,
  ): Promise<Response> {
    const element = await openMessageElement(object);
    if (element.kind === "binary") {
      const body = checked(element.body, { size: element.length, crc32: row.messageCrc32 }, mismatch);
      return await streamed(body, { headers: { ...headers, "content-length": String(element.length) } });
    }
    if (element.kind === "null") return new Response(new Uint8Array(0), { headers });
    // The original housekeeping layout nests the value in a document: such objects are small, decode them whole.
    const bytes = await store.get(row.key, row.size);
    const value = bytes === null ? null : decodeArchiveObject(bytes).value;
    return new Response(value === null ? null : Uint8Array.from(value), { headers });
  }

  async function upload(req: Request, topic: string): Promise<Response> {
    // Authorise before reading the body: hop-client's first SCRAM round carries none.
    const auth = await authorized(req, topic, "Write");
    if (!auth.ok) return refuseBody(req, auth.response);
    const body = await readLimited(req, deps.maxUploadBytes, uploadTimeoutMs);
    if (body === "timeout") {
      metrics.inc("offloads_total", { outcome: "timeout" });
      return textResponse(
        408,
        `Message not received within ${uploadTimeoutMs / 1000} s`,
        auth.headers,
      );
    }
    if (body === "malformed") {
      metrics.inc("offloads_total", { outcome: "malformed" });
      return textResponse(
        400,
        "Request body malformed (check its Content-Length or chunked framing)",
        auth.headers,
      );
    }
    if (body === "too_large") {
      metrics.inc("offloads_total", { outcome: "too_large" });
      return textResponse(
        413,
        `Message larger than this archive accepts (${deps.maxUploadBytes} bytes)`,
        auth.headers,
      );
    }
    let stored;
    try {
      stored = await storeUpload(ingest, index, parseUpload(topic, body, now()));
    } catch (e) {
      if (isHkError(e) && e.code === "UPLOAD_INVALID") {
        metrics.inc("offloads_total", { outcome: "invalid" });
        return textResponse(400, e.message, auth.headers);
      }
      throw e;
    }
    const outcome = stored.replayed ? "replayed" : stored.duplicateOf !== null ? "duplicate" : "stored";
    metrics.inc("offloads_total", { outcome });
    log.info("offloaded message archived", {
      topic,
      uuid: stored.uuid,
      outcome,
      bytes: body.length,
      user: auth.user,
      credential: auth.credential,
    });
    // archive-api's answer, exactly; what happened (stored, replayed, duplicate) is in a header of ours.
    const answer = BSON.serialize({ archive_uuid: stored.uuid, is_client_uuid: stored.isClientUuid });
    return new Response(Uint8Array.from(answer), {
      status: 201,
      headers: { ...auth.headers, "content-type": "application/bson", "x-housekeeping-outcome": outcome },
    });
  }

  async function route(req: Request, url: URL): Promise<[string, Response]> {
    const path = url.pathname;
    // The pages for people own `/` and `/web/...`, which no archive-api route uses.
    const page = deps.web === undefined ? null : await deps.web(req, url, handle);
    if (page !== null) return ["web", page];
    // archive-api's framework answers 404 and 405 (with Allow) before any route runs.
    const refused = unrouted(req.method, path);
    if (refused !== null) return ["other", refuseBody(req, refused)];
    if (req.method === "HEAD") {
      const [name, resp] = await route(new Request(req.url, { headers: req.headers }), url);
      return [name, await headOf(resp)];
    }
    const parts = path.split("/").slice(1).map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return null;
      }
    });
    if (parts.includes(null)) return ["other", refuseBody(req, textResponse(400, "Malformed path"))];
    const unreadable = unreadableQuery(url.searchParams);
    if (unreadable !== null) return ["other", refuseBody(req, textResponse(400, unreadable))];
    const [first, second, third, fourth] = parts as string[];
    const params = url.searchParams;
    switch (path) {
      case "/healthz":
      case "/metrics": {
        // Healthy: the index and the store answer (the permissions service only limits what may be read).
        const h = path === "/healthz" ? await health(false) : null;
        const up = h === null || (h.DatabaseOK && h.ObjectStoreOK);
        return [
          first!,
          orchestratorResponse(path, metrics, () => up, "index or object store unreachable\n")!,
        ];
      }
      case "/health_check":
        return ["health_check", Response.json(await health(true))];
      case "/topics":
        return ["topics", await api.topicNames(req)];
      case "/messages":
        return ["messages", await api.list(req, null, params)];
      case "/messages/count":
        return ["messages_count", await api.count(req, params)];
      case "/openapi.json":
        return ["openapi", openApiResponse()];
      case "/docs":
        return ["docs", docsResponse()];
    }
    if (first === "msg" && parts.length === 2) return ["msg", await message(req, second!, null)];
    if (first === "msg" && third === "raw_file") return ["raw_file", await message(req, second!, fourth!)];
    if (first === "msg" && third === "retraction") {
      return ["retraction", refuseBody(req, await api.retract(req, normaliseUuid(second!), params))];
    }
    // /topic/{topic}
    const name = req.method === "GET" ? "topic_list" : "topic_write";
    // Before any round trip: a name no topic can have is the client's mistake, not the index's or hopauth's.
    if (!isArchiveTopic(second!)) return [name, refuseBody(req, textResponse(400, INVALID_TOPIC))];
    if (req.method === "GET") return [name, await api.list(req, second!, params)];
    return [name, await upload(req, second!)];
  }

  // The answer to a request that failed: a service that is down or silent is a 503 or 504 the client may retry,
  // anything else a 500; each with a coded log line. An unread body is refused, not drained.
  function failure(req: Request, e: unknown): Response {
    const code = isHkError(e) ? e.code : undefined;
    const fields = { code, method: req.method, url: req.url, error: errorMessage(e) };
    const headers = safeHeaders(authHeaders.get(req) ?? {});
    if (isDeadlineError(e) || (code !== undefined && UNAVAILABLE.has(code))) {
      log.warn("request failed: a service is down or not answering", fields);
      metrics.inc("errors_total", { op: "serve_unavailable" });
      const status = isDeadlineError(e) ? 504 : 503;
      const text = status === 504
        ? "Gateway Timeout: the archive's storage did not answer in time; try again later"
        : "Service Unavailable: the archive's storage is unreachable; try again later";
      return refuseBody(req, textResponse(status, text, { ...headers, "retry-after": "5" }));
    }
    log.error("request failed", fields);
    metrics.inc("errors_total", { op: "serve" });
    return refuseBody(req, textResponse(500, "Internal Error", headers));
  }

  // The last check before Deno sends an answer: a header value it cannot send would panic the process.
  function sendable(req: Request, resp: Response): Response {
    const header = unsafeHeader(resp);
    if (header === null) return resp;
    resp.body?.cancel().catch(() => {});
    log.error("response header not sendable; answered 500 instead", {
      code: "SERVE_RESPONSE_UNSAFE",
      header,
      method: req.method,
      url: req.url,
    });
    metrics.inc("errors_total", { op: "serve" });
    return refuseBody(req, textResponse(500, "Internal Error", safeHeaders(authHeaders.get(req) ?? {})));
  }

  const handle = withCors(deps.cors ?? { origins: [], regex: null }, async (req: Request) => {
    const started = performance.now();
    let name = "other";
    let resp: Response;
    try {
      [name, resp] = await route(req, new URL(req.url));
    } catch (e) {
      resp = failure(req, e);
    }
    resp = sendable(req, resp);
    metrics.inc("http_requests_total", { route: name, status: resp.status });
    metrics.observe("http_request_seconds", (performance.now() - started) / 1000);
    const length = Number(resp.headers.get("content-length") ?? "0");
    if (length > 0) metrics.inc("http_bytes_sent_total", { route: name }, length);
    return resp;
  });
  return handle;
}

export interface ListenOptions {
  hostname: string;
  port: number;
  signal?: AbortSignal;
  /** Header-read and idle deadlines of the listener; default LISTENER_LIMITS. */
  limits?: ListenerLimits;
}

/** Starts the server; `port` 0 picks a free one (tests), reported in the result and the log. */
export async function startServer(deps: ServeDeps, options: ListenOptions): Promise<Listener> {
  return await listen({ ...options, log: deps.log }, createHandler(deps));
}
