// The object path of the S3 store: GET, PUT and HEAD of one object, signed with SigV4 by aws4fetch and sent with
// Deno's own HTTP client. Through @aws-sdk/client-s3 each of these cost ~0.5 ms of CPU in its middleware stack
// (serialisers, retry and checksum plugins, node:http emulation), more than the request itself, and the bench put
// restore and serve at a third of what MinIO serves small objects at (issue 26). The SDK keeps what it does well:
// the credential chain (environment, profiles, ECS/EKS and instance roles) and region, bucket operations, listing.
// Failures are shaped as the SDK's (name = S3 error code, $metadata.httpStatusCode) so that s3.ts maps both alike.
import type { S3Client } from "@aws-sdk/client-s3";
import { AwsV4Signer } from "aws4fetch";
import { createHash } from "node:crypto";
import { crc32 as zlibCrc32 } from "node:zlib";
import type { HousekeepingError } from "../runtime/errors.ts";
import { sleep } from "../runtime/retry.ts";

export interface ObjectPathOptions {
  client: S3Client;
  bucket: string;
  /** S3-compatible endpoint URL; unset: AWS's regional endpoint. */
  endpoint: string | undefined;
  forcePathStyle: boolean;
  /** PEM of the CAs to trust instead of the system roots (AWS_CA_BUNDLE). */
  ca: string | undefined;
  maxSockets: number;
  /** A request on which nothing moves for this many ms fails. */
  socketTimeoutMs: number;
  /** The SDK-shaped failure of `action` as the store's coded error (retriable or not). */
  toError: (e: unknown, action: string) => HousekeepingError;
}

export interface ObjectPath {
  put(key: string, body: Uint8Array, crc32Base64: string): Promise<void>;
  /** The object's bytes, checksum checked (a failure while reading them is retried too); null when missing. */
  get(key: string): Promise<Uint8Array | null>;
  /** The object as a stream whose checksum is checked as it ends; null for a missing object. */
  getStream(key: string): Promise<{ size: number; body: ReadableStream<Uint8Array> } | null>;
  head(key: string): Promise<{ size: number } | null>;
  close(): void;
}

// As the SDK's standard retry mode: three attempts, exponential backoff with full jitter from 100 ms.
const MAX_ATTEMPTS = 3;
const BACKOFF_BASE_MS = 100;

type SdkShapedError = Error & { $metadata: { httpStatusCode: number } };

/** A failure as the SDK would have thrown it: its name is S3's error code from the XML body, or the status's. */
async function httpError(response: Response): Promise<SdkShapedError> {
  const text = response.body === null ? "" : await response.text().catch(() => "");
  const code = /<Code>([^<]{1,100})<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]{0,300})<\/Message>/.exec(text)?.[1];
  const name = code ??
    (response.status === 404 ? "NotFound" : response.status === 403 ? "Forbidden" : "Unknown");
  const error = new Error(message ?? `HTTP ${response.status}`) as SdkShapedError;
  error.name = name;
  error.$metadata = { httpStatusCode: response.status };
  return error;
}

// S3's URI encoding of a key: every byte but unreserved characters and '/', percent-encoded.
function encodeKey(key: string): string {
  return key.split("/").map((segment) =>
    encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  ).join("/");
}

export function createObjectPath(o: ObjectPathOptions): ObjectPath {
  const http = Deno.createHttpClient({
    ...(o.ca !== undefined ? { caCerts: [o.ca] } : {}),
    poolMaxIdlePerHost: o.maxSockets,
  });
  let closed = false;
  const signingKeys = new Map<string, ArrayBuffer>();
  let base: Promise<{ url: string; region: string }> | undefined;
  const resolveBase = () =>
    base ??= (async () => {
      const region = await o.client.config.region();
      const endpoint = o.endpoint?.replace(/\/+$/, "") ?? `https://s3.${region}.amazonaws.com`;
      if (o.forcePathStyle) return { url: `${endpoint}/${encodeURIComponent(o.bucket)}`, region };
      const url = new URL(endpoint);
      url.hostname = `${o.bucket}.${url.hostname}`;
      return { url: url.origin, region };
    })();

  /** One signed request, aborted when its answer does not begin within the idle bound. */
  async function send(method: string, key: string, headers: Record<string, string>, body?: Uint8Array) {
    const { url, region } = await resolveBase();
    const credentials = await o.client.config.credentials();
    const signed = await new AwsV4Signer({
      method,
      url: `${url}/${encodeKey(key)}`,
      // The payload is not hashed (UNSIGNED-PAYLOAD, aws4fetch's default for s3): a PUT carries its CRC-32 in a
      // signed header instead, which S3 checks (see unsignedPayloadWithCrc32 in s3.ts).
      headers,
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      ...(credentials.sessionToken !== undefined ? { sessionToken: credentials.sessionToken } : {}),
      service: "s3",
      region,
      cache: signingKeys,
    }).sign();
    // fetch does not tell connecting from waiting: the whole wait for the answer's head, connecting included, is
    // one wait on which nothing moves, bounded as the SDK bounds a silent socket.
    const waitMs = o.socketTimeoutMs;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(timeoutError(`${method} ${key}: no answer`, waitMs)), waitMs);
    try {
      return await fetch(signed.url, {
        method,
        headers: signed.headers,
        ...(body !== undefined ? { body: body as Uint8Array<ArrayBuffer> } : {}),
        client: http,
        signal: abort.signal,
      }).catch((e) => {
        throw e instanceof TypeError ? fetchFailure(e) : e;
      });
    } finally {
      clearTimeout(timer);
    }
  }

  async function open(key: string) {
    const response = await send("GET", key, { "x-amz-checksum-mode": "ENABLED" });
    if (response.status === 404) {
      const error = await httpError(response);
      if (error.name === "NoSuchKey" || error.name === "NotFound") return null;
      throw error;
    }
    if (!response.ok) throw await httpError(response);
    const size = Number(response.headers.get("content-length") ?? 0);
    const body = response.body ?? new Blob([]).stream();
    return { size, body: checked(body, response.headers, key, o.socketTimeoutMs) };
  }

  /** `attempt` up to MAX_ATTEMPTS times while its failure is retriable; the last failure as a coded error. */
  async function withRetries<T>(action: string, attempt: () => Promise<T>): Promise<T> {
    for (let n = 1;; n++) {
      try {
        return await attempt();
      } catch (e) {
        const coded = o.toError(e, action);
        if (!coded.retriable || n >= MAX_ATTEMPTS) throw coded;
        await sleep(Math.random() * BACKOFF_BASE_MS * 2 ** n);
      }
    }
  }

  return {
    put: (key, body, crc32Base64) =>
      withRetries(`PUT ${key}`, async () => {
        const response = await send("PUT", key, {
          "content-length": String(body.byteLength),
          "x-amz-checksum-crc32": crc32Base64,
          "x-amz-sdk-checksum-algorithm": "CRC32",
        }, body);
        if (!response.ok) throw await httpError(response);
        await response.body?.cancel();
      }),
    get: (key) =>
      withRetries(`GET ${key}`, async () => {
        const object = await open(key);
        return object === null ? null : new Uint8Array(await new Response(object.body).arrayBuffer());
      }),
    getStream: (key) => withRetries(`GET ${key}`, () => open(key)),
    head: (key) =>
      withRetries(`HEAD ${key}`, async () => {
        const response = await send("HEAD", key, {});
        if (response.status === 404) return null;
        if (!response.ok) throw await httpError(response);
        return { size: Number(response.headers.get("content-length") ?? 0) };
      }),
    close: () => {
      // Closing twice (a store closed by its owner and again on shutdown) must not throw.
      if (closed) return;
      closed = true;
      http.close();
    },
  };
}

// Deno's fetch reports every failure to send as a TypeError whose message holds hyper's and rustls's words; the
// store's error mapping (and lib/runtime/tls.ts) reads Node's codes, so the failure gets the code that matches.
const FETCH_FAILURES: [RegExp, string][] = [
  [/invalid peer certificate: (UnknownIssuer|BadSignature)/i, "UNABLE_TO_VERIFY_LEAF_SIGNATURE"],
  [/invalid peer certificate: (Expired|NotValidYet)/i, "CERT_HAS_EXPIRED"],
  [/invalid peer certificate: NotValidForName/i, "ERR_TLS_CERT_ALTNAME_INVALID"],
  [/connection refused/i, "ECONNREFUSED"],
  [/dns error|failed to lookup address/i, "ENOTFOUND"],
  [/connection reset|broken pipe|connection closed|IncompleteMessage|unexpected eof/i, "ECONNRESET"],
];

function fetchFailure(e: TypeError): Error {
  const code = FETCH_FAILURES.find(([pattern]) => pattern.test(e.message))?.[1];
  // A plain-HTTP server answering our ClientHello: rustls says "corrupt message", which is a failed handshake.
  const tls = /corrupt message|InvalidContentType/i.test(e.message) ? " (TLS handshake failed)" : "";
  const error = new Error(`${e.message}${tls}`, { cause: e });
  error.name = "FetchError";
  return code === undefined ? error : Object.assign(error, { code });
}

function timeoutError(what: string, ms: number): Error {
  const error = new Error(`${what} within ${ms} ms`);
  error.name = "TimeoutError";
  return error;
}

/**
 * `body` checked against the object's stored checksum as it ends (CRC-32, or the SHA-256 of objects written before
 * CRC-32s), as the SDK's ChecksumMode did: a mismatch errors the stream instead of ending it. Multipart
 * checksums (a "-N" suffix) cover parts, not the object, and are not checked, as the SDK skips them. A wait for
 * bytes longer than `idleMs` errors the stream too.
 */
function checked(
  body: ReadableStream<Uint8Array>,
  headers: Headers,
  key: string,
  idleMs: number,
): ReadableStream<Uint8Array> {
  const check = bodyCheck(headers);
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const idle = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(timeoutError(`GET ${key}: no bytes`, idleMs)), idleMs);
      });
      try {
        const { done, value } = await Promise.race([reader.read(), idle]);
        if (done) {
          const problem = check?.finish();
          if (problem) throw checksumError(key, problem);
          controller.close();
          return;
        }
        check?.update(value);
        controller.enqueue(value);
      } catch (e) {
        await reader.cancel().catch(() => {});
        throw e;
      } finally {
        clearTimeout(timer);
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

/** The running check of the stored checksum the response names, if any: update per chunk, finish at the end. */
function bodyCheck(headers: Headers) {
  const crcWanted = headers.get("x-amz-checksum-crc32");
  const shaWanted = headers.get("x-amz-checksum-sha256");
  if (crcWanted !== null && !crcWanted.includes("-")) {
    let crc = 0;
    return {
      update: (chunk: Uint8Array) => crc = zlibCrc32(chunk, crc),
      finish: () => {
        const bytes = [crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff];
        const got = btoa(String.fromCharCode(...bytes));
        return got === crcWanted ? undefined : `CRC-32 of the body is ${got}, S3 stored ${crcWanted}`;
      },
    };
  }
  if (shaWanted !== null && !shaWanted.includes("-")) {
    const hash = createHash("sha256");
    return {
      update: (chunk: Uint8Array) => hash.update(chunk),
      finish: () => {
        const got = hash.digest("base64");
        return got === shaWanted ? undefined : `SHA-256 of the body is ${got}, S3 stored ${shaWanted}`;
      },
    };
  }
  return undefined;
}

function checksumError(key: string, problem: string): Error {
  const error = new Error(`GET ${key}: ${problem}`);
  error.name = "ChecksumMismatch";
  return error;
}
