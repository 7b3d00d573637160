import assert from "node:assert/strict";
import { crc32, hex, sha1, sha256, sha256Hex } from "../../lib/format/checksum.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);

Deno.test("crc32 is the unsigned IEEE CRC-32 of Python's zlib.crc32", () => {
  assert.equal(crc32(new Uint8Array(0)), 0);
  assert.equal(crc32(utf8("123456789")), 0xcbf43926);
  assert.equal(crc32(utf8("1234"), new Uint8Array(0), utf8("56789")), 0xcbf43926, "of the concatenation");
  // Above 2^31: must stay positive (the original archive stored it as a non-negative int64).
  assert.equal(crc32(utf8('{"a": 1}')), 4221669015);
});

Deno.test("sha256 and sha1 hash the concatenation of their chunks", () => {
  const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  assert.equal(sha256Hex(utf8("abc")), abc);
  assert.equal(sha256Hex(utf8("a"), new Uint8Array(0), utf8("bc")), abc);
  assert.equal(hex(sha256(utf8("abc"))), abc);
  assert.equal(Object.getPrototypeOf(sha256(utf8("abc"))), Uint8Array.prototype, "a plain Uint8Array");
  assert.equal(hex(sha1(utf8("ab"), utf8("c"))), "a9993e364706816aba3e25717850c26c9cd0d89d");
});

Deno.test("sha256 of many small and large chunks equals the hash of their concatenation", async () => {
  // Small chunks are gathered into one update (up to a scratch buffer's size), large ones pass through: every mix
  // and order must hash the same bytes in the same order.
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) >>> 0);
  for (
    const sizes of [[1, 2, 3], [5000, 1, 20_000, 3], Array.from({ length: 60 }, () => next() % 1500), [
      1023,
      1024,
      1025,
    ]]
  ) {
    const chunks = sizes.map((n) => Uint8Array.from({ length: n }, () => next() & 0xff));
    const whole = new Uint8Array(sizes.reduce((a, b) => a + b, 0));
    chunks.reduce((at, c) => (whole.set(c, at), at + c.length), 0);
    const expected = new Uint8Array(await crypto.subtle.digest("SHA-256", whole));
    assert.deepEqual(sha256(...chunks), expected, `sizes ${sizes.slice(0, 5)}...`);
  }
});

Deno.test("hex is lowercase and zero-padded", () => {
  assert.equal(hex(Uint8Array.of(0, 0x0a, 0xff)), "000aff");
});
