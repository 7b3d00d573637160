import assert from "node:assert/strict";
import { headersSha256 } from "../../lib/mock/manifest.ts";
import { hex, sha256 } from "../../lib/format/checksum.ts";

Deno.test("headersSha256: 60 000 headers hash without spreading them into one call", () => {
  const many = Array.from({ length: 60_000 }, (_, i) => ({
    key: `k${i}`,
    value: i % 3 === 0 ? null : Uint8Array.of(i & 255),
  }));
  assert.equal(headersSha256(many).length, 64);
});

Deno.test("headersSha256: the digest of a short list is unchanged (tag, count, then length-prefixed pairs)", () => {
  const u64 = (n: number) => {
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, BigInt(n));
    return out;
  };
  const tag = new TextEncoder().encode("housekeeping mock headers v1\0");
  const expected = hex(
    sha256(
      tag,
      u64(2),
      u64(1),
      Uint8Array.of(97),
      Uint8Array.of(1),
      u64(1),
      Uint8Array.of(7),
      u64(1),
      Uint8Array.of(98),
      Uint8Array.of(0),
    ),
  );
  assert.equal(headersSha256([{ key: "a", value: Uint8Array.of(7) }, { key: "b", value: null }]), expected);
});
