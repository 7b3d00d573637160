// CRC-32C against the published check values and against kafkajs's own byte-at-a-time implementation.
import assert from "node:assert/strict";
import { crc32c } from "../../lib/kafka/crc32c.ts";
import { kafkajsModules } from "../../lib/kafka/kafkajs_internals.ts";

const reference = kafkajsModules.crc32c as (bytes: Uint8Array) => number;

Deno.test("RFC 3720 (iSCSI) B.4 vectors and the CRC catalogue's check value", () => {
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
  assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
});

function random(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(length, i + 65536)));
  }
  return out;
}

Deno.test("equals kafkajs's crc32C at every length and alignment", () => {
  const data = random(4096 + 64);
  // Every offset modulo 4 and lengths around the 16-byte blocks exercise the byte loops on both sides.
  for (let offset = 0; offset < 8; offset++) {
    for (let length = 0; length <= 70; length++) {
      const view = data.subarray(offset, offset + length);
      assert.equal(crc32c(view), reference(view), `offset ${offset}, length ${length}`);
    }
  }
  for (const length of [1000, 4096, 4097]) {
    const view = data.subarray(3, 3 + length);
    assert.equal(crc32c(view), reference(view), `length ${length}`);
  }
});

Deno.test("equals kafkajs's crc32C on MiB-sized random data, including views into a larger buffer", () => {
  const data = random(3 * 2 ** 20 + 11);
  assert.equal(crc32c(data), reference(data));
  const view = data.subarray(5, data.length - 3);
  assert.equal(crc32c(view), reference(view));
});

Deno.test("continues a CRC over consecutive pieces", () => {
  const data = random(10_000);
  for (const cut of [0, 1, 15, 16, 17, 4999, 10_000]) {
    assert.equal(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut))), crc32c(data), `cut at ${cut}`);
  }
});
