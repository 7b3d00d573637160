// The object path of the S3 store: GET, PUT and HEAD of one object, signed with SigV4 (lib/store/sigv4.ts) and
// sent over our own HTTP/1.1 client (lib/store/http1.ts); Deno's fetch, signed by aws4fetch's signer, serves
// streamed GETs, and everything when a proxy is configured. Through @aws-sdk/client-s3 each of these cost ~0.5 ms
// of CPU in its middleware stack (serialisers, retry and checksum plugins, node:http emulation), more than the
// request itself, and the bench put restore and serve at a third of what MinIO serves small objects at (issue 26).
// The SDK keeps what it does well: the credential chain (environment, profiles, ECS/EKS and instance roles) and
// region, bucket operations, listing. Failures are shaped as the SDK's (name = S3 error code,
// $metadata.httpStatusCode) so that s3.ts maps both alike.
import type { S3Client } from "@aws-sdk/client-s3";
import { AwsV4Signer } from "aws4fetch";
import { createHash, createHmac } from "node:crypto";
import { crc32 as zlibCrc32 } from "node:zlib";
import { concat } from "../runtime/bytes.ts";
import { type HousekeepingError, isHkError } from "../runtime/errors.ts";
import { sleep } from "../runtime/retry.ts";
import { createHttp1Client, type Http1Request, type Http1Response } from "./http1.ts";
import { createSigV4, encodeS3Path } from "./sigv4.ts";

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
  /** `body` may be pieces, sent one after the other: an object is never joined into one array to be sent. */
  put(key: string, body: Uint8Array | readonly Uint8Array[], crc32Base64: string): Promise<void>;
  /**
   * The object's bytes, checksum checked (a failure while reading them is retried too); null when missing. An
   * answer declaring more than http1's MAX_BODY_BYTES, or other than `expectedSize` when given, is refused unread.
   */
  get(key: string, expectedSize?: number): Promise<Uint8Array | null>;
  /** The object as a stream whose checksum is checked as it ends; null for a missing object. */
  getStream(key: string): Promise<{ size: number; body: ReadableStream<Uint8Array> } | null>;
  head(key: string): Promise<{ size: number } | null>;
  close(): void;
}

// As the SDK's standard retry mode: three attempts, exponential backoff with full jitter from 100 ms.
const MAX_ATTEMPTS = 3;
const BACKOFF_BASE_MS = 100;

type SdkShapedError = Error & { $metadata: { httpStatusCode: number } };

type Http1Client = ReturnType<typeof createHttp1Client>;

interface Base {
  /** Where fetch sends: origin and, path-style, the bucket. */
  url: string;
  /** The Host header's value. */
  host: string;
  /** The encoded path before the key: "/bucket" path-style, "" otherwise. */
  prefix: string;
  region: string;
  /** Our own HTTP/1.1 client; undefined when a proxy is configured, which only fetch honours. */
  raw: Http1Client | undefined;
}

const CREDENTIALS_MARGIN_MS = 5 * 60_000;
// A GET asks S3 for the object's stored checksum, which the body is then checked against.
const CHECKSUM_MODE = { "x-amz-checksum-mode": "ENABLED" };

const PROXY_VARIABLES = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"];

/** rawRequest's failure shaped as httpError's. */
function rawHttpError(response: Http1Response): SdkShapedError {
  const text = new TextDecoder().decode(response.body.subarray(0, 64 * 1024));
  return shapedError(response.status, text);
}

/** A failure as the SDK would have thrown it: its name is S3's error code from the XML body, or the status's. */
async function httpError(response: Response): Promise<SdkShapedError> {
  const text = response.body === null ? "" : await response.text().catch(() => "");
  return shapedError(response.status, text);
}

function shapedError(status: number, text: string): SdkShapedError {
  const code = /<Code>([^<]{1,100})<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]{0,300})<\/Message>/.exec(text)?.[1];
  const name = code ??
    (status === 404 ? "NotFound" : status === 403 ? "Forbidden" : "Unknown");
  const error = new Error(message ?? `HTTP ${status}`) as SdkShapedError;
  error.name = name;
  error.$metadata = { httpStatusCode: status };
  return error;
}

/**
 * aws4fetch's SigV4 signer with its hashes computed by node:crypto, synchronously: aws4fetch computes them with
 * WebCrypto, whose every call is an asynchronous op (a digest, an importKey and a sign per request), and the
 * profile of archive and restore put 0.15-0.33 ms of CPU per request in them, more than the rest of the signing.
 * The canonical request (what is signed, and how a key is encoded) stays aws4fetch's own.
 */
export class SyncSigner extends AwsV4Signer {
  override stringToSign(): Promise<string> {
    return this.canonicalString().then((canonical) =>
      `AWS4-HMAC-SHA256\n${this.datetime}\n${this.credentialString}\n${
        createHash("sha256").update(canonical).digest("hex")
      }`
    );
  }

  override async signature(): Promise<string> {
    const date = this.datetime.slice(0, 8);
    const cacheKey = [this.secretAccessKey, date, this.region, this.service].join();
    let key = this.cache.get(cacheKey);
    if (key === undefined) {
      const kDate = createHmac("sha256", `AWS4${this.secretAccessKey}`).update(date).digest();
      const kRegion = createHmac("sha256", kDate).update(this.region).digest();
      const kService = createHmac("sha256", kRegion).update(this.service).digest();
      const kSigning = createHmac("sha256", kService).update("aws4_request").digest();
      key = kSigning.buffer.slice(
        kSigning.byteOffset,
        kSigning.byteOffset + kSigning.byteLength,
      ) as ArrayBuffer;
      this.cache.set(cacheKey, key);
    }
    return createHmac("sha256", new Uint8Array(key)).update(await this.stringToSign()).digest("hex");
  }
}

export function createObjectPath(o: ObjectPathOptions): ObjectPath {
  const http = Deno.createHttpClient({
    ...(o.ca !== undefined ? { caCerts: [o.ca] } : {}),
    poolMaxIdlePerHost: o.maxSockets,
  });
  let closed = false;
  const signingKeys = new Map<string, ArrayBuffer>();
  const sign = createSigV4();
  let base: Promise<Base> | undefined;
  const resolveBase = () =>
    base ??= (async () => {
      const region = await o.client.config.region();
      const endpoint = o.endpoint?.replace(/\/+$/, "") ?? `https://s3.${region}.amazonaws.com`;
      const url = new URL(endpoint);
      if (!o.forcePathStyle) url.hostname = `${o.bucket}.${url.hostname}`;
      const prefix = o.forcePathStyle ? `${url.pathname.replace(/\/+$/, "")}/${encodeS3Path(o.bucket)}` : "";
      // A proxy in the environment is honoured by fetch only: then every request takes fetch.
      const raw = PROXY_VARIABLES.some((name) => (Deno.env.get(name) ?? "") !== "")
        ? undefined
        : createHttp1Client({
          protocol: url.protocol,
          hostname: url.hostname,
          port: Number(url.port || (url.protocol === "https:" ? 443 : 80)),
          ca: o.ca,
          maxIdle: o.maxSockets,
          idleMs: o.socketTimeoutMs,
        });
      if (closed) raw?.close();
      return { url: `${url.origin}${prefix}`, host: url.host, prefix, region, raw };
    })();

  // The SDK's chain, asked again only when what it gave expires within five minutes (a role's credentials do;
  // static ones never): asking it per request cost a chain of promises per object.
  let credentials: Awaited<ReturnType<typeof o.client.config.credentials>> | undefined;
  async function currentCredentials() {
    const expiration = credentials?.expiration?.getTime() ?? Infinity;
    if (credentials === undefined || expiration - Date.now() < CREDENTIALS_MARGIN_MS) {
      credentials = await o.client.config.credentials();
    }
    return credentials;
  }

  /** One request on our own HTTP/1.1 client, signed; non-2xx answers other than a GET's or HEAD's 404 throw. */
  async function rawRequest(
    b: Base & { raw: Http1Client },
    method: "GET" | "PUT" | "HEAD",
    key: string,
    headers: Record<string, string>,
    extra: Pick<Http1Request, "body" | "stream" | "expectedLength"> = {},
  ): Promise<Http1Response> {
    const credentials = await currentCredentials();
    const path = `${b.prefix}/${encodeS3Path(key)}`;
    const lines = sign({ method, host: b.host, path, headers, region: b.region }, credentials);
    const response = await b.raw
      .request({ method, target: path, headers: lines, ...extra })
      .catch((e) => {
        throw e instanceof Error && e.name !== "TimeoutError" ? socketFailure(e) : e;
      });
    if (response.status >= 200 && response.status < 300) return response;
    if (response.status === 404 && method !== "PUT") {
      const error = rawHttpError(response);
      if (error.name === "NoSuchKey" || error.name === "NotFound") return response;
      throw error;
    }
    throw rawHttpError(response);
  }

  /** One signed request, aborted when its answer does not begin within the idle bound. */
  async function send(method: string, key: string, headers: Record<string, string>, body?: Uint8Array) {
    const { url, region } = await resolveBase();
    const credentials = await o.client.config.credentials();
    const signed = await new SyncSigner({
      method,
      url: `${url}/${encodeS3Path(key)}`,
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
    const b = await resolveBase();
    if (b.raw !== undefined) {
      const response = await rawRequest({ ...b, raw: b.raw }, "GET", key, CHECKSUM_MODE, { stream: true });
      if (response.status === 404) return null;
      const header = (name: string) => response.headers.get(name) ?? null;
      const size = Number(header("content-length") ?? response.body.length);
      const body = response.stream ?? new Blob([response.body as Uint8Array<ArrayBuffer>]).stream();
      return { size, body: checked(body, header, key, o.socketTimeoutMs) };
    }
    const response = await send("GET", key, CHECKSUM_MODE);
    if (response.status === 404) {
      const error = await httpError(response);
      if (error.name === "NoSuchKey" || error.name === "NotFound") return null;
      throw error;
    }
    if (!response.ok) throw await httpError(response);
    const size = Number(response.headers.get("content-length") ?? 0);
    const body = response.body ?? new Blob([]).stream();
    return { size, body: checked(body, (name) => response.headers.get(name), key, o.socketTimeoutMs) };
  }

  /** `attempt` up to MAX_ATTEMPTS times while its failure is retriable; the last failure as a coded error. */
  async function withRetries<T>(action: string, attempt: () => Promise<T>): Promise<T> {
    for (let n = 1;; n++) {
      try {
        return await attempt();
      } catch (e) {
        // The HTTP client's own coded refusals (a declared length it will not read) are final as they are.
        const coded = isHkError(e) ? e : o.toError(e, action);
        if (!coded.retriable || n >= MAX_ATTEMPTS) throw coded;
        await sleep(Math.random() * BACKOFF_BASE_MS * 2 ** n);
      }
    }
  }

  async function put(key: string, body: readonly Uint8Array[], crc32Base64: string): Promise<void> {
    const length = body.reduce((n, piece) => n + piece.byteLength, 0);
    const headers = {
      "content-length": String(length),
      "x-amz-checksum-crc32": crc32Base64,
      "x-amz-sdk-checksum-algorithm": "CRC32",
    };
    const b = await resolveBase();
    if (b.raw !== undefined) {
      await rawRequest({ ...b, raw: b.raw }, "PUT", key, headers, { body });
      return;
    }
    const response = await send("PUT", key, headers, concat(body));
    if (!response.ok) throw await httpError(response);
    await response.body?.cancel();
  }

  async function get(key: string, expectedSize: number | undefined): Promise<Uint8Array | null> {
    const b = await resolveBase();
    if (b.raw === undefined) {
      const object = await open(key);
      return object === null ? null : new Uint8Array(await new Response(object.body).arrayBuffer());
    }
    const response = await rawRequest({ ...b, raw: b.raw }, "GET", key, CHECKSUM_MODE, {
      ...(expectedSize !== undefined ? { expectedLength: expectedSize } : {}),
    });
    if (response.status === 404) return null;
    const check = bodyCheck((name) => response.headers.get(name) ?? null);
    check?.update(response.body);
    const problem = check?.finish();
    if (problem) throw checksumError(key, problem);
    return response.body;
  }

  async function head(key: string): Promise<{ size: number } | null> {
    const b = await resolveBase();
    if (b.raw !== undefined) {
      const response = await rawRequest({ ...b, raw: b.raw }, "HEAD", key, {});
      return response.status === 404 ? null : { size: Number(response.headers.get("content-length") ?? 0) };
    }
    const response = await send("HEAD", key, {});
    if (response.status === 404) return null;
    if (!response.ok) throw await httpError(response);
    return { size: Number(response.headers.get("content-length") ?? 0) };
  }

  return {
    put: (key, body, crc32Base64) =>
      withRetries(`PUT ${key}`, () => put(key, body instanceof Uint8Array ? [body] : body, crc32Base64)),
    get: (key, expectedSize) => withRetries(`GET ${key}`, () => get(key, expectedSize)),
    getStream: (key) => withRetries(`GET ${key}`, () => open(key)),
    head: (key) => withRetries(`HEAD ${key}`, () => head(key)),
    close: () => {
      // Closing twice (a store closed by its owner and again on shutdown) must not throw.
      if (closed) return;
      closed = true;
      http.close();
      base?.then((b) => b.raw?.close(), () => {});
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

/** A failure of our own HTTP/1.1 client's socket, with the code fetchFailure would give (TLS words included). */
function socketFailure(e: Error): Error {
  if (typeof (e as { code?: unknown }).code === "string") return e;
  return fetchFailure(e);
}

function fetchFailure(e: Error): Error {
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
  header: (name: string) => string | null,
  key: string,
  idleMs: number,
): ReadableStream<Uint8Array> {
  const check = bodyCheck(header);
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
function bodyCheck(header: (name: string) => string | null) {
  const crcWanted = header("x-amz-checksum-crc32");
  const shaWanted = header("x-amz-checksum-sha256");
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
