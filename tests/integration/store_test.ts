// One behaviour suite for every BlobStore backend (S3 against the real MinIO, and a directory), plus the few
// behaviours only one backend has (bucket and credential errors, the directory's atomic writes), plus openStore.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { randomFillSync } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { crc32, sha256 } from "../../lib/format/checksum.ts";
import { createFsStore } from "../../lib/store/fs.ts";
import { openStore } from "../../lib/store/open.ts";
import { createS3Store } from "../../lib/store/s3.ts";
import type { BlobStore } from "../../lib/store/types.ts";
import { HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { dropBucket } from "../support/archive_helpers.ts";
import { startSilentProxy } from "../support/silent_proxy.ts";
import { hasCode, serviceEnv, uniqueName } from "../support/helpers.ts";

interface Fixture {
  store: BlobStore;
  cleanup(): Promise<void>;
}

const MiB = 1 << 20;

function randomBytes(size: number): Uint8Array {
  const out = new Uint8Array(size);
  // getRandomValues fills at most 64 KiB per call; node's randomFillSync has no such limit.
  randomFillSync(out);
  return out;
}

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

async function putBytes(store: BlobStore, key: string, body: Uint8Array): Promise<void> {
  await store.put(key, body, crc32(body));
}

async function listAll(store: BlobStore, prefix?: string): Promise<{ key: string; size: number }[]> {
  const out = [];
  for await (const item of store.list(prefix)) out.push(item);
  return out;
}

function runStoreSuite(name: string, makeStore: () => Promise<Fixture>): void {
  const test = (what: string, body: (store: BlobStore) => Promise<void>) =>
    Deno.test(`${name}: ${what}`, async () => {
      const { store, cleanup } = await makeStore();
      try {
        await body(store);
      } finally {
        store.close();
        await cleanup();
      }
    });

  test("put/get round trip is byte-exact, from empty to 20 MiB", async (store) => {
    const bodies: [string, Uint8Array][] = [
      ["sizes/empty.bson", new Uint8Array(0)],
      ["sizes/one.bson", Uint8Array.of(0)],
      ["sizes/5mib.bson", randomBytes(5 * MiB + 3)],
      ["sizes/20mib.bson", randomBytes(20 * MiB + 1)],
    ];
    for (const [key, body] of bodies) await putBytes(store, key, body);
    for (const [key, body] of bodies) {
      const got = await store.get(key);
      assert.ok(got !== null, `${key} is missing`);
      assert.equal(got.byteLength, body.byteLength);
      assert.deepEqual(sha256(got), sha256(body), `${key} differs`);
      assert.deepEqual(await store.head(key), { size: body.byteLength });
    }
    // deepStrictEqual also proves the store returns a plain Uint8Array (not a Buffer).
    assert.deepStrictEqual(await store.get("sizes/one.bson"), Uint8Array.of(0));
  });

  test("getStream streams the stored bytes with their size; null for a missing key or a bare prefix", async (store) => {
    const body = randomBytes(5 * MiB + 7);
    await putBytes(store, "stream/a.bson", body);
    const got = await store.getStream("stream/a.bson");
    assert.ok(got !== null);
    assert.equal(got.size, body.byteLength);
    assert.deepEqual(sha256(new Uint8Array(await new Response(got.body).arrayBuffer())), sha256(body));
    assert.equal(await store.getStream("stream/missing.bson"), null);
    assert.equal(await store.getStream("stream"), null);
  });

  test("put is idempotent", async (store) => {
    const body = bytes("same bytes twice");
    await putBytes(store, "idem/a.bson", body);
    await putBytes(store, "idem/a.bson", body);
    await Promise.all([putBytes(store, "idem/a.bson", body), putBytes(store, "idem/a.bson", body)]);
    assert.deepStrictEqual(await store.get("idem/a.bson"), body);
    assert.deepEqual(await listAll(store, "idem/"), [{ key: "idem/a.bson", size: body.byteLength }]);
  });

  test("get and head of a missing key return null", async (store) => {
    assert.equal(await store.get("missing/x.bson"), null);
    assert.equal(await store.head("missing/x.bson"), null);
    await putBytes(store, "dir/inner.bson", bytes("x"));
    // A key that is only a prefix of stored keys is no object (the fs backend has a directory there).
    assert.equal(await store.get("dir"), null);
    assert.equal(await store.head("dir"), null);
    assert.deepEqual(await listAll(store, "missing/"), []);
  });

  test("list filters by prefix and returns keys in lexical byte order", async (store) => {
    // Chosen so that per-directory order differs from key order ('.' and '-' sort before '/'), plus a
    // non-ASCII key whose UTF-16 and UTF-8 orders differ from naive expectations.
    const keys = [
      "gcn.circular/2023/01/17/b.bson",
      "gcn.circular/2023/01/17/a.bson",
      "gcn.circular/2023/01/2.bson",
      "gcn.circular/2023/01/17.x",
      "gcn/z",
      "gcn-x/a",
      "gcn.circular.extra/a",
      "zz",
      "é/1",
      "\u{1F600}/1",
      "\uFFFD/1",
    ];
    for (const [i, key] of keys.entries()) await putBytes(store, key, new Uint8Array(i));
    const sizeOf = new Map(keys.map((k, i) => [k, i]));
    const expected = (prefix: string) =>
      keys
        .filter((k) => k.startsWith(prefix))
        .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
        .map((key) => ({ key, size: sizeOf.get(key) }));
    for (
      const prefix of ["", "gcn", "gcn.circular/", "gcn.circular/2023/01/1", "gcn.circular/2023/01/17/", "zz"]
    ) {
      assert.deepEqual(await listAll(store, prefix), expected(prefix), `prefix ${JSON.stringify(prefix)}`);
    }
    assert.deepEqual(await listAll(store), expected(""));
    assert.deepEqual(await listAll(store, "nothing-here"), []);
  });

  // The S3 backend checks nothing itself: STORE_CHECKSUM_MISMATCH there is the server refusing the body.
  test("a body that does not match its CRC-32 is rejected and not stored", async (store) => {
    const body = randomBytes(64 * 1024);
    const damaged = body.slice();
    damaged[1000]! ^= 0x01;
    // Every body below is sent with the CRC-32 of `body`: one bit flipped, another body, the empty body.
    for (
      const [key, sent] of [["bad/x.bson", damaged], ["bad/y.bson", bytes("else")], [
        "bad/z",
        new Uint8Array(0),
      ]]
    ) {
      await assert.rejects(
        store.put(key as string, sent as Uint8Array, crc32(body)),
        hasCode("STORE_CHECKSUM_MISMATCH"),
        key as string,
      );
      assert.equal(await store.head(key as string), null);
    }
    assert.deepEqual(await listAll(store, "bad/"), []);
    for (const invalid of [-1, 2 ** 32, 1.5, Number.NaN]) {
      await assert.rejects(store.put("bad/w.bson", body, invalid), hasCode("STORE_CHECKSUM_INVALID"));
    }
    await putBytes(store, "bad/ok.bson", body);
    assert.deepStrictEqual(await store.get("bad/ok.bson"), body);
  });

  test("unusable keys are refused the same way by every backend", async (store) => {
    for (
      const key of ["", "/abs", "a//b", "a/", "../up", "a/./b", "nul\0", "back\\slash", "x".repeat(1025)]
    ) {
      await assert.rejects(
        putBytes(store, key, bytes("x")),
        hasCode("STORE_KEY_INVALID"),
        JSON.stringify(key),
      );
      await assert.rejects(store.get(key), hasCode("STORE_KEY_INVALID"));
    }
  });
}

// ------------------------------------------------------------------------------------------------------- S3 (MinIO)

function s3Bucket(): string {
  return uniqueName("hk-store").toLowerCase();
}

runStoreSuite("s3", async () => {
  const bucket = s3Bucket();
  const store = await createS3Store({ bucket, endpoint: serviceEnv("S3_ENDPOINT"), createBucket: true });
  return { store, cleanup: () => dropBucket(bucket) };
});

Deno.test("s3: url and bucket name the bucket and nothing else", async () => {
  const bucket = s3Bucket();
  const store = await createS3Store({ bucket, endpoint: serviceEnv("S3_ENDPOINT"), createBucket: true });
  try {
    assert.equal(store.url, `s3://${bucket}`);
    assert.equal(store.bucket, bucket);
  } finally {
    store.close();
    await dropBucket(bucket);
  }
});

Deno.test("s3: a missing bucket is STORE_NO_BUCKET unless createBucket is set", async () => {
  const bucket = s3Bucket();
  await assert.rejects(
    createS3Store({ bucket, endpoint: serviceEnv("S3_ENDPOINT") }),
    (e: unknown) => hasCode("STORE_NO_BUCKET", false)(e) && (e as Error).message.includes(bucket),
  );
});

Deno.test("s3: an endpoint that is down is STORE_UNREACHABLE and retriable", async () => {
  await assert.rejects(
    createS3Store({ bucket: s3Bucket(), endpoint: "http://127.0.0.1:1" }),
    (e: unknown) => hasCode("STORE_UNREACHABLE", true)(e) && (e as Error).message.includes("S3_ENDPOINT"),
  );
});

Deno.test("s3: a server that stops answering costs a bounded STORE_UNREACHABLE, then the store recovers", async () => {
  const endpoint = new URL(serviceEnv("S3_ENDPOINT"));
  const proxy = startSilentProxy({ hostname: endpoint.hostname, port: Number(endpoint.port) });
  const bucket = s3Bucket();
  const store = await createS3Store({
    bucket,
    endpoint: `http://${proxy.address}`,
    createBucket: true,
    socketTimeoutMs: 500,
  });
  try {
    const body = new TextEncoder().encode("kept");
    await store.put("a/b", body, crc32(body));
    proxy.freeze();
    // More calls than the pool has sockets: each one's socket must be destroyed, not kept waiting.
    const failures = await Promise.allSettled(Array.from({ length: 8 }, () => store.get("a/b")));
    for (const f of failures) {
      assert.equal(f.status, "rejected");
      hasCode("STORE_UNREACHABLE", true)((f as PromiseRejectedResult).reason);
    }
    proxy.thaw();
    assert.deepEqual(await store.get("a/b"), body);
  } finally {
    store.close();
    await proxy.close();
    await dropBucket(bucket);
  }
});

Deno.test("s3: a request dropped as the server shuts down (MinIO's 499, with or without a body) is retriable", async () => {
  // What MinIO answers to PUTs in flight when it is stopped (the S3 outage of tests/integration/faults_test.ts once stopped the
  // archiver on it as a fatal error): reproduced by a loopback server that answers every PUT so.
  const disconnected = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ClientDisconnected</Code>' +
    "<Message>Client disconnected before response was ready</Message></Error>";
  for (const body of [disconnected, ""]) {
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => {
        await req.body?.cancel();
        return req.method === "PUT"
          ? new Response(body, { status: 499, headers: { "content-type": "application/xml" } })
          : new Response(null, { status: 200 });
      },
    );
    const store = await createS3Store({
      bucket: s3Bucket(),
      endpoint: `http://127.0.0.1:${server.addr.port}`,
    });
    try {
      await assert.rejects(putBytes(store, "k", bytes("v")), (e: unknown) => {
        hasCode("STORE_FAILED", true)(e);
        assert.match((e as Error).message, /failed: /);
        return true;
      });
    } finally {
      store.close();
      await server.shutdown();
    }
  }
});

Deno.test("s3: a GET whose body differs from the CRC-32 S3 stored fails, on both object paths", async () => {
  // What MinIO never does on its own: answer an object whose bytes changed after its checksum was kept. A loopback
  // server stands in for it; the lean path must check as the SDK's ChecksumMode did, for get and getStream alike.
  const body = bytes("the bytes as stored");
  const wrong = btoa(String.fromCharCode(0, 0, 0, 1));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    if (req.method === "HEAD" && new URL(req.url).pathname.split("/").length === 2) {
      return new Response(null, { status: 200 }); // HeadBucket
    }
    return new Response(body.slice(), {
      status: 200,
      headers: { "content-length": String(body.length), "x-amz-checksum-crc32": wrong },
    });
  });
  try {
    for (const objectPath of ["lean", "sdk"] as const) {
      const store = await createS3Store({
        bucket: s3Bucket(),
        endpoint: `http://127.0.0.1:${server.addr.port}`,
        objectPath,
      });
      try {
        await assert.rejects(store.get("k"), /checksum|CRC-32/i, `${objectPath}: get`);
        const stream = await store.getStream("k");
        await assert.rejects(
          new Response(stream!.body).arrayBuffer(),
          /checksum|CRC-32/i,
          `${objectPath}: stream`,
        );
      } finally {
        store.close();
      }
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("s3: wrong credentials are STORE_ACCESS_DENIED and the secret is not in the message", async () => {
  const saved = { id: Deno.env.get("AWS_ACCESS_KEY_ID"), secret: Deno.env.get("AWS_SECRET_ACCESS_KEY") };
  const secret = "not-the-real-secret-0123456789";
  // The store reads credentials only through the SDK's chain, so the test changes what the chain sees.
  Deno.env.set("AWS_ACCESS_KEY_ID", "hk-nobody");
  Deno.env.set("AWS_SECRET_ACCESS_KEY", secret);
  try {
    await assert.rejects(
      createS3Store({ bucket: s3Bucket(), endpoint: serviceEnv("S3_ENDPOINT") }),
      (e: unknown) => {
        hasCode("STORE_ACCESS_DENIED", false)(e);
        assert.ok(!(e as Error).message.includes(secret));
        assert.match((e as Error).message, /AWS credentials/);
        return true;
      },
    );
  } finally {
    for (const [name, value] of [["AWS_ACCESS_KEY_ID", saved.id], ["AWS_SECRET_ACCESS_KEY", saved.secret]]) {
      if (value === undefined) Deno.env.delete(name!);
      else Deno.env.set(name!, value);
    }
  }
});

Deno.test("s3: many concurrent PUTs share a small keep-alive socket pool", async () => {
  const bucket = s3Bucket();
  const store = await createS3Store({
    bucket,
    endpoint: serviceEnv("S3_ENDPOINT"),
    createBucket: true,
    maxSockets: 4,
  });
  try {
    const body = randomBytes(256 * 1024);
    await Promise.all(
      Array.from({ length: 64 }, (_, i) => putBytes(store, `c/${String(i).padStart(2, "0")}`, body)),
    );
    const listed = await listAll(store, "c/");
    assert.equal(listed.length, 64);
    assert.ok(listed.every((o) => o.size === body.byteLength));
  } finally {
    store.close();
    await dropBucket(bucket);
  }
});

Deno.test("s3: objects keep the CRC-32 the server checked; objects written with a SHA-256 still read back", async () => {
  const bucket = s3Bucket();
  const endpoint = serviceEnv("S3_ENDPOINT");
  const store = await createS3Store({ bucket, endpoint, createBucket: true });
  const raw = new S3Client({ endpoint, forcePathStyle: true, region: serviceEnv("AWS_REGION") });
  try {
    const body = randomBytes(MiB + 5);
    await putBytes(store, "new/a.bson", body);
    const head = await raw.send(
      new HeadObjectCommand({ Bucket: bucket, Key: "new/a.bson", ChecksumMode: "ENABLED" }),
    );
    const crc = crc32(body);
    const big = Uint8Array.of(crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff);
    assert.equal(
      head.ChecksumCRC32,
      btoa(String.fromCharCode(...big)),
      "the server keeps the CRC-32 it checked",
    );
    assert.equal(head.ChecksumSHA256, undefined);

    // An object of an earlier version: SHA-256 checksum, signed payload. GETs check it against that.
    const legacy = randomBytes(MiB + 3);
    await raw.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: "old/a.bson",
        Body: legacy,
        ChecksumSHA256: btoa(String.fromCharCode(...sha256(legacy))),
      }),
    );
    const old = await raw.send(
      new HeadObjectCommand({ Bucket: bucket, Key: "old/a.bson", ChecksumMode: "ENABLED" }),
    );
    assert.equal(old.ChecksumSHA256, btoa(String.fromCharCode(...sha256(legacy))));
    assert.deepStrictEqual(await store.get("old/a.bson"), legacy);
    const streamed = await store.getStream("old/a.bson");
    assert.deepEqual(new Uint8Array(await new Response(streamed!.body).arrayBuffer()), legacy);
  } finally {
    raw.destroy();
    store.close();
    await dropBucket(bucket);
  }
});

// --------------------------------------------------------------------------------------------------------- directory
runStoreSuite("fs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hk-store-" });
  const store = await createFsStore(dir);
  return { store, cleanup: () => Deno.remove(dir, { recursive: true }) };
});

Deno.test("fs: url and bucket are the directory's file URL; no temporary file survives a put", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hk-store-" });
  const store = await createFsStore(dir);
  try {
    assert.equal(store.url, new URL(`file://${dir}`).href);
    assert.equal(store.bucket, store.url);
    await putBytes(store, "a/b.bson", bytes("payload"));
    await assert.rejects(store.put("a/c.bson", bytes("payload"), crc32(bytes("other"))));
    assert.deepEqual(await readdir(join(dir, ".housekeeping-tmp")), []);
    assert.deepEqual(await readdir(join(dir, "a")), ["b.bson"]);
    assert.equal(new TextDecoder().decode(await Deno.readFile(join(dir, "a/b.bson"))), "payload");
    await assert.rejects(putBytes(store, ".housekeeping-tmp/x", bytes("x")), hasCode("STORE_KEY_INVALID"));
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

// --------------------------------------------------------------------------------------------------------- openStore
Deno.test("openStore: s3://, file:// and plain paths pick the backend; bad URLs are STORE_URL_INVALID", async () => {
  const bucket = s3Bucket();
  const s3 = await openStore(`s3://${bucket}`, { endpoint: serviceEnv("S3_ENDPOINT"), createBucket: true });
  s3.close();
  await dropBucket(bucket);
  assert.equal(s3.url, `s3://${bucket}`);

  const dir = await Deno.makeTempDir({ prefix: "hk-store-" });
  try {
    const viaUrl = await openStore(`file://${dir}/a%20b`);
    const viaPath = await openStore(`${dir}/a b`);
    assert.equal(viaUrl.url, viaPath.url);
    assert.equal(viaUrl.url, new URL(`file://${dir}/a b`).href);
    await putBytes(viaUrl, "k", bytes("v"));
    assert.deepStrictEqual(await viaPath.get("k"), bytes("v"));
    viaUrl.close();
    viaPath.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }

  for (const url of ["gs://bucket", "s3://Bad_Bucket", "s3://bucket/prefix", "s3:/bucket", "", "file://"]) {
    await assert.rejects(openStore(url), hasCode("STORE_URL_INVALID"), JSON.stringify(url));
  }
});
