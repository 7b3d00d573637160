// S3 (AWS or any S3-compatible service such as MinIO) behind the BlobStore interface. Credentials and region come
// from the SDK's standard chain only, so deployments configure them the way every AWS tool expects.
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import http from "node:http";
import https from "node:https";
import { concat } from "../runtime/bytes.ts";
import { hkError, type HousekeepingError, networkErrorCode } from "../runtime/errors.ts";
import { diagnoseTlsError, readCaFile, tlsError } from "../runtime/tls.ts";
import { createObjectPath } from "./s3_objects.ts";
import { type BlobStore, checkCrc32, checkKey } from "./types.ts";

export interface S3StoreOptions {
  bucket: string;
  /** S3-compatible endpoint URL (MinIO, ...); unset: AWS. */
  endpoint?: string;
  /** Unset: the SDK's chain (AWS_REGION, profile). */
  region?: string;
  /** Bucket in the path rather than the host name; default: true when `endpoint` is set (MinIO needs it). */
  forcePathStyle?: boolean;
  /** Keep-alive sockets per host; the archiver issues many PUTs at once. Default 64. */
  maxSockets?: number;
  /** Create the bucket when it does not exist (laptop defaults, tests). */
  createBucket?: boolean;
  /**
   * PEM file of the CA certificates to trust instead of the system roots: AWS_CA_BUNDLE, the name the AWS CLI and
   * the Python and Go SDKs read. The SDK for JavaScript v3 ignores that variable, so we hand the file to its agent.
   */
  caFile?: string;
  /** A connection not made within this many ms fails (retried by the SDK). Default STORE_TIMEOUTS. */
  connectionTimeoutMs?: number;
  /** A request on which nothing moves for this many ms fails and its socket is destroyed. Default STORE_TIMEOUTS. */
  socketTimeoutMs?: number;
  /**
   * Who sends object GET, PUT and HEAD: "lean" (default), SigV4 over our own HTTP/1.1 client (or over Deno's fetch
   * when a proxy is configured; lib/store/s3_objects.ts); "sdk", the SDK's own commands as before.
   */
  objectPath?: "lean" | "sdk";
}

const DEFAULT_MAX_SOCKETS = 64;

/**
 * Bounds on a silent S3: without them a server that accepts and never answers holds a request (and a socket of the
 * pool) for good. Thirty seconds without a byte is far beyond any answer S3 gives to a request in progress.
 */
export const STORE_TIMEOUTS = { connectionMs: 10_000, socketMs: 30_000 };

type SdkError = Error & { code?: string; $metadata?: { httpStatusCode?: number } };

// XAmzContentSHA256Mismatch: a signed payload hash differs (PUTs now send UNSIGNED-PAYLOAD and a CRC-32, see
// unsignedPayloadWithCrc32; kept for servers that check a hash anyway).
const CHECKSUM_ERRORS = new Set([
  "XAmzContentChecksumMismatch",
  "XAmzContentSHA256Mismatch",
  "BadDigest",
  "InvalidDigest",
]);
const DENIED_ERRORS = new Set([
  "AccessDenied",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "InvalidToken",
  "CredentialsProviderError",
]);
const NETWORK_NAMES = new Set(["TimeoutError", "RequestTimeout", "AbortError"]);

// The endpoint as shown in messages: user info (which could hold a secret) stripped.
function describeEndpoint(endpoint: string | undefined): string {
  if (endpoint === undefined) return "AWS S3";
  try {
    return new URL(endpoint).origin;
  } catch {
    return "the configured S3 endpoint";
  }
}

function endpointAddress(endpoint: string | undefined) {
  try {
    const url = new URL(endpoint ?? "");
    return { address: { hostname: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port || 443) } };
  } catch {
    return {}; // AWS itself: its certificates are not the problem
  }
}

function brief(e: SdkError): string {
  const text = `${e.name}: ${e.message}`;
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

/** Maps an SDK failure onto a coded error that says what to fix. */
function s3Error(e: unknown, action: string, bucket: string, where: string): HousekeepingError {
  if (!(e instanceof Error)) return hkError("STORE_FAILED", `${action} failed: ${String(e)}`);
  const err = e as SdkError;
  const status = err.$metadata?.httpStatusCode;
  return refusalError(err, status, action, bucket, where) ??
    transportError(err, status, action, where) ??
    otherError(err, status, action, where);
}

/** The server refused the request for a reason the operator can fix: checksum, bucket, credentials, region. */
function refusalError(
  err: SdkError,
  status: number | undefined,
  action: string,
  bucket: string,
  where: string,
): HousekeepingError | undefined {
  const opts = { cause: err };
  if (CHECKSUM_ERRORS.has(err.name)) {
    // The server computed a different checksum than the one sent: the bytes changed on the way. Sending them again
    // can succeed; a caller whose own digest is wrong gets the same answer every time and should stop retrying.
    return hkError(
      "STORE_CHECKSUM_MISMATCH",
      `${action}: ${where} rejected the upload because its checksum differs from the body (${err.name})`,
      { ...opts, retriable: true },
    );
  }
  if (err.name === "NoSuchBucket" || (action.startsWith("HeadBucket") && status === 404)) {
    return hkError(
      "STORE_NO_BUCKET",
      `bucket "${bucket}" does not exist at ${where}: create bucket ${bucket} or set S3_BUCKET to an existing one`,
      opts,
    );
  }
  if (DENIED_ERRORS.has(err.name) || status === 403) {
    return hkError(
      "STORE_ACCESS_DENIED",
      `${action}: access denied by ${where} (${brief(err)}); check AWS credentials (AWS_ACCESS_KEY_ID and ` +
        `AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the instance role) and that they may read and write bucket ${bucket}`,
      opts,
    );
  }
  if (err.message.includes("Region is missing")) {
    return hkError(
      "STORE_CONFIG_INVALID",
      "no AWS region configured: set AWS_REGION (any value, e.g. us-east-1, for MinIO)",
      opts,
    );
  }
  if (status === 301 || err.name === "PermanentRedirect" || err.name === "AuthorizationHeaderMalformed") {
    return hkError(
      "STORE_WRONG_REGION",
      `${action}: bucket ${bucket} is in another region than the one configured (${
        brief(err)
      }); set AWS_REGION ` +
        "to the bucket's region",
      opts,
    );
  }
  return undefined;
}

/** The request never had a proper answer: TLS, a scheme the endpoint does not speak, or no connection at all. */
function transportError(
  err: SdkError,
  status: number | undefined,
  action: string,
  where: string,
): HousekeepingError | undefined {
  const opts = { cause: err };
  const tls = status === undefined && tlsError(err, "STORE_TLS_FAILED", {
    peer: where,
    caSetting: "AWS_CA_BUNDLE",
    protocolHint: "check that S3_ENDPOINT's scheme (https:// or http://) is what the endpoint speaks",
  });
  if (tls) return tls;
  // An HTTPS-only server answers plain HTTP with a bare 400 that the SDK cannot parse.
  if (status === 400 && err.name === "Unknown" && where.startsWith("http:")) {
    return hkError(
      "STORE_FAILED",
      `${action}: ${where} answered 400 to plain HTTP; if it serves HTTPS, write S3_ENDPOINT with https://`,
      opts,
    );
  }
  if (
    status === undefined &&
    (networkErrorCode(err) !== undefined || NETWORK_NAMES.has(err.name) ||
      /socket hang up/i.test(err.message))
  ) {
    return hkError(
      "STORE_UNREACHABLE",
      `${action}: cannot reach ${where} (${
        err.code ?? err.name
      }); check S3_ENDPOINT and that the service is up`,
      { ...opts, retriable: true },
    );
  }
  return undefined;
}

/** Any other failure: retriable when the server may answer differently next time. */
function otherError(
  err: SdkError,
  status: number | undefined,
  action: string,
  where: string,
): HousekeepingError {
  // 499: the server dropped the request unfinished; MinIO answers it to requests in flight while it shuts down
  // (ClientDisconnected, often with a body the SDK cannot parse: "Unknown: UnknownError"). Nothing was stored.
  const transient = status === undefined || status >= 500 || status === 429 || status === 499 ||
    err.name === "SlowDown";
  return hkError("STORE_FAILED", `${action} at ${where} failed: ${brief(err)}`, {
    cause: err,
    retriable: transient,
  });
}

/**
 * SigV4 signs the SHA-256 of the payload unless told UNSIGNED-PAYLOAD, and the SDK would hash every body for that (a
 * full pass per object, and the server another to check it). A PUT that carries ChecksumCRC32 needs no such hash:
 * the CRC-32 header is signed with the request, and S3 (MinIO too) refuses to store a body whose CRC-32 differs, so
 * a corrupted upload fails as it did with the signed SHA-256. What a signed payload hash adds beyond that is
 * protection against deliberate tampering on the wire, which over https TLS already gives (a plain http endpoint
 * is for loopback or a trusted network, where responses were never protected either). The signer takes the
 * payload hash from the x-amz-content-sha256 header when there is one.
 */
function unsignedPayloadWithCrc32(client: S3Client): void {
  client.middlewareStack.add(
    (next) => (args) => {
      const checksum = (args.input as { ChecksumCRC32?: unknown }).ChecksumCRC32;
      const request = args.request as { headers?: Record<string, string> };
      if (typeof checksum === "string" && request.headers !== undefined) {
        request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
      }
      return next(args);
    },
    { step: "build", name: "housekeepingUnsignedPayloadWithCrc32" },
  );
}

/** S3's form of a CRC-32: base64 of its four bytes, big-endian. */
function crc32Base64(crc32: number): string {
  return btoa(String.fromCharCode(crc32 >>> 24, (crc32 >>> 16) & 0xff, (crc32 >>> 8) & 0xff, crc32 & 0xff));
}

// The SDK hands out Buffers; callers compare with deepStrictEqual, which tells a Buffer from a Uint8Array.
function plain(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function isMissing(e: unknown): boolean {
  const err = e as SdkError;
  return err.name === "NoSuchKey" || err.name === "NotFound";
}

/** Opens `bucket` (creating it when asked to) and fails early, with a coded error, when it cannot be used. */
export async function createS3Store(options: S3StoreOptions): Promise<BlobStore> {
  const { bucket, endpoint } = options;
  const where = describeEndpoint(endpoint);
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? DEFAULT_MAX_SOCKETS };
  const ca = options.caFile === undefined
    ? undefined
    : readCaFile(options.caFile, "STORE_CONFIG_INVALID", "AWS_CA_BUNDLE");
  const httpAgent = new http.Agent(agentOptions);
  const httpsAgent = new https.Agent(ca === undefined ? agentOptions : { ...agentOptions, ca });
  const client = new S3Client({
    ...(endpoint !== undefined ? { endpoint } : {}),
    ...(options.region !== undefined ? { region: options.region } : {}),
    forcePathStyle: options.forcePathStyle ?? endpoint !== undefined,
    requestHandler: {
      httpAgent,
      httpsAgent,
      connectionTimeout: options.connectionTimeoutMs ?? STORE_TIMEOUTS.connectionMs,
      socketTimeout: options.socketTimeoutMs ?? STORE_TIMEOUTS.socketMs,
    },
  });
  unsignedPayloadWithCrc32(client);
  const lean = options.objectPath === "sdk" ? undefined : createObjectPath({
    client,
    bucket,
    endpoint,
    forcePathStyle: options.forcePathStyle ?? endpoint !== undefined,
    ca,
    maxSockets: agentOptions.maxSockets,
    socketTimeoutMs: options.socketTimeoutMs ?? STORE_TIMEOUTS.socketMs,
    toError: (e, action) => s3Error(e, action, bucket, where),
  });
  const close = () => {
    lean?.close();
    client.destroy();
    httpAgent.destroy();
    httpsAgent.destroy();
  };

  async function call<T>(action: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      throw s3Error(e, action, bucket, where);
    }
  }

  async function ensureBucket(): Promise<void> {
    try {
      await call(`HeadBucket ${bucket}`, () => client.send(new HeadBucketCommand({ Bucket: bucket })));
    } catch (e) {
      if ((e as HousekeepingError).code !== "STORE_NO_BUCKET" || !options.createBucket) throw e;
      await call(`CreateBucket ${bucket}`, async () => {
        try {
          await client.send(new CreateBucketCommand({ Bucket: bucket }));
        } catch (err) {
          // Another process created it between our HEAD and CREATE: that is what we wanted.
          if ((err as Error).name !== "BucketAlreadyOwnedByYou") throw err;
        }
      });
    }
  }

  try {
    await ensureBucket();
  } catch (e) {
    close();
    throw await diagnoseTlsError(e, { ...endpointAddress(endpoint), ...(ca ? { ca } : {}) });
  }

  return {
    url: `s3://${bucket}`,
    bucket,
    async put(key, body, crc32) {
      checkKey(key);
      checkCrc32(crc32);
      if (lean !== undefined) return await lean.put(key, body, crc32Base64(crc32));
      const bytes = body instanceof Uint8Array ? body : concat(body);
      await call(`PUT ${key}`, () =>
        client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: bytes,
            ContentLength: bytes.byteLength,
            // With this header present the SDK computes no checksum of its own, and S3 refuses to store a body
            // whose CRC-32 differs: a corrupted upload fails instead of landing. S3 keeps it with the object, and
            // GETs with ChecksumMode check it (objects written before with a SHA-256 are checked against that).
            ChecksumCRC32: crc32Base64(crc32),
          }),
        ));
    },
    async get(key, expectedSize) {
      checkKey(key);
      if (lean !== undefined) return await lean.get(key, expectedSize);
      try {
        const out = await client.send(
          new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }),
        );
        if (out.Body === undefined) return new Uint8Array(0);
        return plain(await out.Body.transformToByteArray());
      } catch (e) {
        if (isMissing(e)) return null;
        throw s3Error(e, `GET ${key}`, bucket, where);
      }
    },
    async getStream(key) {
      checkKey(key);
      if (lean !== undefined) return await lean.getStream(key);
      try {
        // ChecksumMode makes the SDK check the object's stored checksum (CRC-32, or the SHA-256 of objects written
        // before) as the stream ends and error it on a mismatch.
        const out = await client.send(
          new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }),
        );
        const body = out.Body === undefined ? new Blob([]).stream() : out.Body.transformToWebStream();
        return { size: out.ContentLength ?? 0, body: body as ReadableStream<Uint8Array> };
      } catch (e) {
        if (isMissing(e)) return null;
        throw s3Error(e, `GET ${key}`, bucket, where);
      }
    },
    async head(key) {
      checkKey(key);
      if (lean !== undefined) return await lean.head(key);
      try {
        const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return { size: out.ContentLength ?? 0 };
      } catch (e) {
        if (isMissing(e)) return null;
        throw s3Error(e, `HEAD ${key}`, bucket, where);
      }
    },
    async *list(prefix = "") {
      let token: string | undefined;
      do {
        const page = await call(`LIST ${prefix}`, () =>
          client.send(
            new ListObjectsV2Command({
              Bucket: bucket,
              ...(prefix !== "" ? { Prefix: prefix } : {}),
              ...(token !== undefined ? { ContinuationToken: token } : {}),
            }),
          ));
        for (const item of page.Contents ?? []) {
          if (item.Key !== undefined) yield { key: item.Key, size: item.Size ?? 0 };
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
    },
    close,
  };
}
