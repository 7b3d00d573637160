// The element-by-element BSON builder (lib/format/bson_builder.ts) writes what js-bson writes for the same values,
// refuses what BSON cannot hold, and grows its buffer past any first guess.
import assert from "node:assert/strict";
import { Binary, Int32, Long, serialize } from "bson";
import { createBsonBuilder } from "../../lib/format/bson_builder.ts";
import { createPrng } from "../../lib/mock/prng.ts";

const hasCode = (code: string) => (e: Error & { code?: string }) => e.code === code;

Deno.test("every element type encodes exactly as js-bson encodes its explicit wrapper", () => {
  const texts = ["", "ascii", "é", "€", "鍵", "🔑", "a\u0000b", "mixed ключ 🔑 €", "ascii then é"];
  // A first buffer far too small: every write grows it at least once.
  const b = createBsonBuilder(1);
  b.binary("bin", Uint8Array.of(0, 0xff));
  b.binary("uuid", Uint8Array.from({ length: 16 }, (_, i) => i * 17), 4);
  b.binary("empty", new Uint8Array(0));
  texts.forEach((t, i) => b.string(`s${i}`, t));
  b.int32("i32", -0x80000000);
  b.int64("i64", -(2n ** 63n));
  b.bool("t", true);
  b.bool("f", false);
  b.null("n");
  const doc = b.openDocument("doc");
  const list = b.openArray("🔑");
  b.int32("0", 1);
  b.close(b.openArray("1"));
  b.close(b.openDocument("2"));
  b.close(list);
  b.close(doc);
  const theirs = serialize({
    bin: new Binary(Uint8Array.of(0, 0xff)),
    uuid: new Binary(Uint8Array.from({ length: 16 }, (_, i) => i * 17), Binary.SUBTYPE_UUID),
    empty: new Binary(new Uint8Array(0)),
    ...Object.fromEntries(texts.map((t, i) => [`s${i}`, t])),
    i32: new Int32(-0x80000000),
    i64: Long.fromBigInt(-(2n ** 63n)),
    t: true,
    f: false,
    n: null,
    doc: { "🔑": [new Int32(1), [], {}] },
  });
  assert.deepEqual(b.finish(), Uint8Array.from(theirs));
});

Deno.test("random documents of many records: the same bytes as js-bson", () => {
  const prng = createPrng(7);
  const alphabet = ["a", "Z", " ", "é", "€", "鍵", "🔑", "\u0000", "\u007f"];
  const text = () =>
    Array.from({ length: prng.int(40) }, () => alphabet[prng.int(alphabet.length)]!).join("");
  for (let round = 0; round < 20; round++) {
    const records = Array.from({ length: prng.int(300) }, () => ({
      s: text(),
      i: prng.int(2 ** 31) - 2 ** 30,
      l: BigInt(prng.int(2 ** 31)) * BigInt(prng.int(2 ** 31)) - 2n ** 60n,
      b: prng.int(2) === 1,
    }));
    const b = createBsonBuilder(16);
    const array = b.openArray("records");
    records.forEach((r, i) => {
      const doc = b.openDocument(String(i));
      b.string("s", r.s);
      b.int32("i", r.i);
      b.int64("l", r.l);
      b.bool("b", r.b);
      b.close(doc);
    });
    b.close(array);
    const theirs = serialize({
      records: records.map((r) => ({ s: r.s, i: new Int32(r.i), l: Long.fromBigInt(r.l), b: r.b })),
    });
    assert.deepEqual(b.finish(), Uint8Array.from(theirs), `round ${round}`);
  }
});

Deno.test("what BSON cannot hold, and documents closed out of order, are refused", () => {
  const refused: [string, (b: ReturnType<typeof createBsonBuilder>) => void, RegExp][] = [
    ["int32 too large", (b) => b.int32("a", 2 ** 31), /a as BSON: .*not an int32/],
    ["int32 fraction", (b) => b.int32("a", 0.5), /not an int32/],
    ["int64 too large", (b) => b.int64("a", 2n ** 63n), /not an int64/],
    ["lone surrogate", (b) => b.string("a", "ok \ud83d"), /surrogate/],
    ["NUL in a name", (b) => b.null("a\u0000"), /NUL/],
    ["binary subtype", (b) => b.binary("a", new Uint8Array(0), 256), /subtype/],
    ["outer closed first", (b) => {
      const outer = b.openDocument("o");
      b.openDocument("i");
      b.close(outer);
    }, /innermost/],
    ["left open", (b) => {
      b.openArray("o");
      b.finish();
    }, /left open/],
  ];
  for (const [what, write, message] of refused) {
    assert.throws(() => write(createBsonBuilder()), hasCode("BSON_VALUE_INVALID"), what);
    assert.throws(() => write(createBsonBuilder()), message, what);
  }
});
