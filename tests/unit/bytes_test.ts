// The one `concat` (lib/runtime/bytes.ts) that the Kafka codecs, ingest and serve's request bodies share.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { concat } from "../../lib/runtime/bytes.ts";

Deno.test("concat joins pieces in order into a plain Uint8Array", () => {
  const joined = concat([Uint8Array.of(1, 2), new Uint8Array(0), Buffer.from([3]), Uint8Array.of(4, 5, 6)]);
  assert.deepStrictEqual(joined, Uint8Array.of(1, 2, 3, 4, 5, 6));
  assert.deepStrictEqual(concat([]), new Uint8Array(0));
});

Deno.test("concat hands back a single piece as it is, without a copy", () => {
  const piece = Uint8Array.of(7, 8);
  assert.equal(concat([piece]), piece);
});
