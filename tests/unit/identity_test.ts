import assert from "node:assert/strict";
import {
  clashUuid,
  clientUuid,
  contentDigest,
  HOUSEKEEPING_NAMESPACE,
  isUuidText,
  legacyUuid,
  uuidBytes,
  uuidText,
  uuidV5,
} from "../../lib/format/identity.ts";
import { hex, sha256 } from "../../lib/format/checksum.ts";
import type { WireHeader } from "../../lib/format/types.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);
const seq = (start: number) => Uint8Array.from({ length: 16 }, (_, i) => start + i);
const A = seq(0);
const B = seq(100);
const hasCode = (code: string) => (e: Error & { code?: string }) => e.code === code;

Deno.test("uuidText and uuidBytes are inverse; uuidBytes accepts upper case", () => {
  assert.equal(uuidText(A), "00010203-0405-0607-0809-0a0b0c0d0e0f");
  assert.deepEqual(uuidBytes("00010203-0405-0607-0809-0a0b0c0d0e0f"), A);
  assert.deepEqual(uuidBytes("00010203-0405-0607-0809-0A0B0C0D0E0F"), A);
  assert.equal(uuidText(uuidBytes(HOUSEKEEPING_NAMESPACE)), HOUSEKEEPING_NAMESPACE);
});

Deno.test("malformed UUIDs are refused with UUID_INVALID", () => {
  for (
    const bad of [
      "",
      "00010203-0405-0607-0809-0a0b0c0d0e0",
      "000102030405060708090a0b0c0d0e0f",
      "g".repeat(36),
    ]
  ) {
    assert.throws(() => uuidBytes(bad), hasCode("UUID_INVALID"), bad);
  }
  assert.throws(() => uuidText(new Uint8Array(15)), hasCode("UUID_INVALID"));
  assert.equal(isUuidText("00010203-0405-0607-0809-0A0B0C0D0E0F"), false, "only lower case is canonical");
});

Deno.test("uuidV5 matches RFC 9562's DNS example (python.org)", () => {
  assert.equal(
    uuidV5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", utf8("python.org")),
    "886313e1-3b8a-5372-9b90-0c9aee199e5d",
  );
});

Deno.test("the project namespace never changes (stored UUIDs and keys depend on it)", () => {
  assert.equal(HOUSEKEEPING_NAMESPACE, "c796379a-7b43-4c5a-81fb-09b212e96a79");
});

Deno.test("clientUuid: the first _id of exactly 16 bytes wins", () => {
  const headers: WireHeader[] = [
    { key: "_id", value: new Uint8Array(15) },
    { key: "_id", value: null },
    { key: "_ID", value: B },
    { key: "_id", value: new Uint8Array(17) },
    { key: "_id", value: A },
    { key: "_id", value: B },
  ];
  assert.equal(clientUuid(headers), uuidText(A));
  assert.equal(clientUuid(headers.slice(0, 4)), null, "wrong length, null and other names are ignored");
  assert.equal(clientUuid([]), null);
});

Deno.test("contentDigest follows the documented canonical encoding", () => {
  // Expected value: SHA-256, computed with Python's hashlib, of
  //   "housekeeping content v1\0" | key 01 u64(1) "k" | value 00 | u64(2) headers |
  //   u64(1) "a" 01 u64(0) | u64(2) "bb" 00          (u64 = 8-byte big-endian length)
  const digest = contentDigest({
    key: utf8("k"),
    value: null,
    headers: [{ key: "a", value: new Uint8Array(0) }, { key: "bb", value: null }],
  });
  assert.equal(hex(digest), "dcaf3d515cc92df3330a532a59b1b943248ec5e72ac24f62a5137d397d7426ed");
});

Deno.test("contentDigest tells apart everything a consumer could tell apart", () => {
  const base = {
    key: utf8("k"),
    value: utf8("v"),
    headers: [{ key: "a", value: utf8("1") }, { key: "b", value: utf8("2") }],
  };
  const variants = [
    base,
    { ...base, headers: [...base.headers].reverse() },
    { ...base, headers: [{ key: "a", value: utf8("1") }, { key: "b", value: null }] },
    { ...base, headers: [{ key: "a", value: utf8("1") }, { key: "b", value: new Uint8Array(0) }] },
    { ...base, headers: [{ key: "a1", value: null }, { key: "b", value: utf8("2") }] },
    { ...base, headers: [{ key: "a", value: utf8("1b") }, { key: "", value: utf8("2") }] },
    { ...base, headers: [...base.headers, base.headers[0]!] },
    { ...base, headers: [] },
    { ...base, key: null },
    { ...base, key: new Uint8Array(0) },
    { ...base, value: null },
    { ...base, value: new Uint8Array(0) },
    { ...base, key: utf8("v"), value: utf8("k") },
    { ...base, key: null, value: utf8("kv") },
  ];
  const digests = variants.map((v) => hex(contentDigest(v)));
  assert.equal(new Set(digests).size, variants.length);
  assert.equal(hex(contentDigest(structuredClone(base))), digests[0], "equal content, equal digest");
  assert.equal(contentDigest(base).length, 32);
});

Deno.test("contentDigest takes a record with 200 000 headers", () => {
  // Four hash chunks per header: spread into one call, 50 000 headers overflowed the stack (issue 21).
  const headers = Array.from(
    { length: 200_000 },
    (_, i) => ({ key: `h${i}`, value: i % 3 ? null : utf8("v") }),
  );
  const digest = contentDigest({ key: null, value: null, headers });
  assert.equal(digest.length, 32);
  assert.notEqual(hex(contentDigest({ key: null, value: null, headers: headers.slice(1) })), hex(digest));
});

const DIGEST = contentDigest({
  key: utf8("k"),
  value: null,
  headers: [{ key: "a", value: new Uint8Array(0) }, { key: "bb", value: null }],
});

Deno.test("legacyUuid is a reproducible v5 UUID of topic, timestamp and content", () => {
  // Expected values: Python's uuid.UUID(bytes=sha1(namespace + name)[:16], version=5) over the same name.
  assert.equal(legacyUuid("gcn.circular", 1674000000123n, DIGEST), "d416873a-cdd6-552a-bdea-fef08b9b54f8");
  assert.equal(legacyUuid("gcn.circular", -1n, DIGEST), "fbc3b8f9-2e2f-5ffe-a6e3-2ac19c62f94a");
  const u = legacyUuid("gcn.circular", 1674000000123n, DIGEST);
  assert.equal(legacyUuid("gcn.circular", 1674000000123n, Uint8Array.from(DIGEST)), u, "stable across calls");
  const others = [
    legacyUuid("gcn.circular2", 1674000000123n, DIGEST),
    legacyUuid("gcn.circula", 1674000000123n, DIGEST),
    legacyUuid("gcn.circular", 1674000000124n, DIGEST),
    legacyUuid("gcn.circular", 1674000000123n, contentDigest({ key: null, value: null, headers: [] })),
  ];
  assert.equal(new Set([u, ...others]).size, 5);
  for (const v of [u, ...others]) {
    assert.ok(isUuidText(v));
    assert.equal(v[14], "5", "version 5");
    assert.ok("89ab".includes(v[19]!), "RFC variant");
  }
});

Deno.test("clashUuid is reproducible and distinct per content and per client UUID", () => {
  const client = "12345678-1234-4678-9234-567812345678";
  assert.equal(clashUuid(client, DIGEST), "b0ffabc2-e274-51d6-be68-0c4f727b0405");
  assert.equal(clashUuid(client.toUpperCase(), DIGEST), clashUuid(client, DIGEST));
  const otherContent = contentDigest({ key: null, value: utf8("x"), headers: [] });
  const all = [
    clashUuid(client, DIGEST),
    clashUuid(client, otherContent),
    clashUuid(uuidText(A), DIGEST),
    client,
  ];
  assert.equal(new Set(all).size, all.length);
  assert.throws(() => clashUuid("not-a-uuid", DIGEST), hasCode("UUID_INVALID"));
});

Deno.test("contentDigest hashes exactly the documented encoding, whatever the fields' sizes", () => {
  // The encoding built as one array, hashed at once: what the field-by-field hash must equal.
  const u64 = (n: number) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(n));
    return b;
  };
  const field = (b: Uint8Array | null) =>
    b === null ? [Uint8Array.of(0)] : [Uint8Array.of(1), u64(b.length), b];
  const reference = (r: { key: Uint8Array | null; value: Uint8Array | null; headers: WireHeader[] }) => {
    const parts = [
      utf8("housekeeping content v1\0"),
      ...field(r.key),
      ...field(r.value),
      u64(r.headers.length),
    ];
    for (const h of r.headers) {
      parts.push(u64(h.keyBytes?.length ?? utf8(h.key).length), h.keyBytes ?? utf8(h.key), ...field(h.value));
    }
    return hex(sha256(...parts));
  };
  let seed = 7;
  const random = (n: number) => Math.floor(((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * n);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => random(256));
  // Sizes around the gathering threshold (1 KiB) and the gathering buffer (16 KiB), and well past both.
  const sizes = [0, 1, 1023, 1024, 1025, 16 * 1024 - 9, 16 * 1024, 16 * 1024 + 1, 70_000];
  for (let i = 0; i < 60; i++) {
    const pick = () => random(5) === 0 ? null : bytes(sizes[random(sizes.length)]!);
    const headers: WireHeader[] = Array.from({ length: random(40) }, (_, j) => ({
      key: j % 7 === 0 ? "_id" : `h${random(1000)}`.repeat(1 + random(3) * random(600)),
      value: pick(),
    }));
    const record = { key: pick(), value: pick(), headers };
    assert.equal(hex(contentDigest(record)), reference(record), `record ${i}`);
  }
});
