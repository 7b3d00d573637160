// The synchronous SigV4 signer of the S3 object path signs exactly as aws4fetch's own (which MinIO and AWS accept):
// same Authorization header for the same request, key encoding, credentials and clock.
import { deepEqual as assertEquals } from "node:assert/strict";
import { AwsV4Signer } from "aws4fetch";
import { SyncSigner } from "../../lib/store/s3_objects.ts";

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
