// The synchronous SigV4 signer of the S3 object path signs exactly as aws4fetch's own (which MinIO and AWS accept):
// same Authorization header for the same request, key encoding, credentials and clock.
import { deepEqual as assertEquals } from "node:assert/strict";
import { AwsV4Signer } from "aws4fetch";
import { SyncSigner } from "../../lib/store/s3_objects.ts";
import { createSigV4, encodeS3Path } from "../../lib/store/sigv4.ts";

const CASES = [
  {
    method: "PUT",
    key: "topic/2026/12/06/c796379a-7b43-4c5a-81fb-09b212e96a79.bson",
    sessionToken: undefined,
  },
  { method: "GET", key: "a b/ü+%!'()*/x", sessionToken: "token/with+chars=" },
  { method: "HEAD", key: "k", sessionToken: undefined },
];

Deno.test("SyncSigner signs as aws4fetch's AwsV4Signer does", async () => {
  for (const { method, key, sessionToken } of CASES) {
    for (const region of ["us-east-1", "eu-west-3"]) {
      const options = {
        method,
        url: `http://127.0.0.1:19000/bucket/${encodeURIComponent(key).replaceAll("%2F", "/")}`,
        headers: { "x-amz-checksum-crc32": "AAAAAA==", "content-length": "5" },
        accessKeyId: "AKIDEXAMPLE",
        secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        ...(sessionToken !== undefined ? { sessionToken } : {}),
        service: "s3",
        region,
        datetime: "20261206T085500Z",
      };
      const ours = await new SyncSigner({ ...options, cache: new Map() }).sign();
      const theirs = await new AwsV4Signer({ ...options, cache: new Map() }).sign();
      assertEquals(ours.url.href, theirs.url.href);
      assertEquals([...ours.headers], [...theirs.headers]);
    }
  }
});

Deno.test("SyncSigner's cached signing key gives the same signature as a fresh one", async () => {
  const cache = new Map<string, ArrayBuffer>();
  const options = {
    method: "GET",
    url: "http://127.0.0.1:19000/bucket/k",
    accessKeyId: "AKIDEXAMPLE",
    secretAccessKey: "secret",
    service: "s3",
    region: "us-east-1",
    datetime: "20261206T085500Z",
    cache,
  };
  const first = await new SyncSigner(options).sign();
  const second = await new SyncSigner(options).sign();
  assertEquals(cache.size, 1);
  assertEquals(second.headers.get("authorization"), first.headers.get("authorization"));
  const fresh = await new AwsV4Signer({ ...options, cache: new Map() }).sign();
  assertEquals(second.headers.get("authorization"), fresh.headers.get("authorization"));
});

Deno.test("createSigV4 gives the Authorization, date and token aws4fetch gives, content-length unsigned", async () => {
  const sign = createSigV4();
  for (const { method, key, sessionToken } of CASES) {
    for (const region of ["us-east-1", "eu-west-3"]) {
      const headers = method === "PUT"
        ? {
          "content-length": "5",
          "x-amz-checksum-crc32": "AAAAAA==",
          "x-amz-sdk-checksum-algorithm": "CRC32",
        }
        : { "x-amz-checksum-mode": "ENABLED" };
      const credentials = {
        accessKeyId: "AKIDEXAMPLE",
        secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        ...(sessionToken !== undefined ? { sessionToken } : {}),
      };
      const datetime = "20261206T085500Z";
      const path = `/bucket/${encodeS3Path(key)}`;
      const ours = sign({ method, host: "127.0.0.1:19000", path, headers, region, datetime }, credentials);
      const theirs = await new AwsV4Signer({
        method,
        url: `http://127.0.0.1:19000${path}`,
        headers,
        ...credentials,
        service: "s3",
        region,
        datetime,
        cache: new Map(),
      }).sign();
      const expected = [...theirs.headers].map(([name, value]) => `${name}: ${value}`).sort();
      assertEquals(ours.slice().sort(), expected);
    }
  }
});

Deno.test("encodeS3Path encodes as aws4fetch encodes a path for s3", async () => {
  const key = "a b/ü+%!'()*~._-/x";
  const signed = await new AwsV4Signer({
    method: "GET",
    url: `http://h/bucket/${encodeURIComponent(key).replaceAll("%2F", "/")}`,
    accessKeyId: "a",
    secretAccessKey: "b",
    service: "s3",
    region: "us-east-1",
  }).sign();
  const canonical = await new AwsV4Signer({
    method: "GET",
    url: signed.url.href,
    accessKeyId: "a",
    secretAccessKey: "b",
    service: "s3",
    region: "us-east-1",
  }).canonicalString();
  assertEquals(canonical.split("\n")[1], `/bucket/${encodeS3Path(key)}`);
});
