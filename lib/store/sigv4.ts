// SigV4 for the object requests of lib/store/http1.ts: header lines signed as aws4fetch signs them for service s3
// (tests/unit/sigv4_test.ts compares the Authorization it gives), without aws4fetch's URL and Headers objects,
// whose construction per request cost more than the two HMACs and the hash it needs once its signing key is cached.
import { createHash, createHmac } from "node:crypto";

export interface SigV4Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

export interface SigV4Request {
  method: string;
  /** Host header's value: host name, and ":port" when it is not the scheme's default. */
  host: string;
  /** The path as sent: every segment already encoded by S3's rules (encodeS3Path). */
  path: string;
  /** Headers to sign and send, lower-case names; content-length is sent but never signed. */
  headers: Record<string, string>;
  region: string;
  /** "YYYYMMDDTHHMMSSZ"; default: now. */
  datetime?: string;
}

/** S3's URI encoding of a key or bucket: every byte but unreserved characters and '/', percent-encoded. */
export function encodeS3Path(path: string): string {
  return path.split("/").map((segment) =>
    encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  ).join("/");
}

let lastSecond = -1;
let lastDate = "";

/** SigV4's "YYYYMMDDTHHMMSSZ" of now (computed once a second: every request asks for it). */
export function amzDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    lastDate = new Date(second * 1000).toISOString().replace(/[:-]|\.\d{3}/g, "");
  }
  return lastDate;
}

/**
 * A signer whose signing key (four HMACs, valid a day) is cached per secret, day and region. Returns the request's
 * header lines ("name: value"), Host excluded, Authorization included.
 */
export function createSigV4() {
  let cached: { id: string; key: Buffer } | undefined;

  function signingKey(secret: string, date: string, region: string): Buffer {
    const id = `${secret}\n${date}\n${region}`;
    if (cached?.id === id) return cached.key;
    const kDate = createHmac("sha256", `AWS4${secret}`).update(date).digest();
    const kRegion = createHmac("sha256", kDate).update(region).digest();
    const kService = createHmac("sha256", kRegion).update("s3").digest();
    const key = createHmac("sha256", kService).update("aws4_request").digest();
    cached = { id, key };
    return key;
  }

  return function sign(req: SigV4Request, credentials: SigV4Credentials): string[] {
    const datetime = req.datetime ?? amzDate();
    const headers: Record<string, string> = {
      ...req.headers,
      "x-amz-content-sha256": req.headers["x-amz-content-sha256"] ?? "UNSIGNED-PAYLOAD",
      "x-amz-date": datetime,
    };
    if (credentials.sessionToken) headers["x-amz-security-token"] = credentials.sessionToken;
    const names = ["host", ...Object.keys(headers).filter((n) => n !== "content-length")].sort();
    let canonicalHeaders = "";
    for (const name of names) {
      canonicalHeaders += `${name}:${name === "host" ? req.host : headers[name]!.replace(/\s+/g, " ")}\n`;
    }
    const signedHeaders = names.join(";");
    const canonical = `${req.method}\n${req.path}\n\n${canonicalHeaders}\n${signedHeaders}\n${
      headers["x-amz-content-sha256"]
    }`;
    const date = datetime.slice(0, 8);
    const scope = `${date}/${req.region}/s3/aws4_request`;
    const toSign = `AWS4-HMAC-SHA256\n${datetime}\n${scope}\n${
      createHash("sha256").update(canonical).digest("hex")
    }`;
    const signature = createHmac("sha256", signingKey(credentials.secretAccessKey, date, req.region))
      .update(toSign).digest("hex");
    const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
    lines.push(
      `authorization: AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    );
    return lines;
  };
}
