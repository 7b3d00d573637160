import assert from "node:assert/strict";
import { Binary, Int32, Long, serialize } from "bson";
import {
  bsonArray,
  bsonBinary,
  bsonBool,
  bsonDocument,
  bsonInt32,
  bsonInt64,
  bsonNull,
  bsonString,
  encodeBson,
  encodeBsonPieces,
} from "../../lib/format/bson_writer.ts";

const hasCode = (code: string) => (e: Error & { code?: string }) => e.code === code;

Deno.test("every value type encodes exactly as js-bson encodes its explicit wrapper", () => {
  const texts = ["", "ascii", "é", "€", "鍵", "🔑", "a\u0000b", "mixed ключ 🔑 €"];
  const ours = encodeBson([
    ["bin", bsonBinary(Uint8Array.of(0, 0xff))],
    ["empty", bsonBinary(new Uint8Array(0))],
    ...texts.map((t, i) => [`s${i}`, bsonString(t)] as const),
    ["i32", bsonInt32(-0x80000000)],
    ["i64", bsonInt64(-(2n ** 63n))],
    ["t", bsonBool(true)],
    ["f", bsonBool(false)],
    ["n", bsonNull],
    ["doc", bsonDocument([["🔑", bsonArray([bsonInt32(1), bsonArray([]), bsonDocument([])])]])],
  ]);
  const theirs = serialize({
    bin: new Binary(Uint8Array.of(0, 0xff)),
    empty: new Binary(new Uint8Array(0)),
    ...Object.fromEntries(texts.map((t, i) => [`s${i}`, t])),
    i32: new Int32(-0x80000000),
    i64: Long.fromBigInt(-(2n ** 63n)),
    t: true,
    f: false,
    n: null,
    doc: { "🔑": [new Int32(1), [], {}] },
  });
  assert.deepEqual(ours, Uint8Array.from(theirs));
});

Deno.test("values BSON cannot hold are refused with the element's path", () => {
  const cases: [Parameters<typeof encodeBson>[0], RegExp][] = [
    [[["a", bsonInt32(2 ** 31)]], /\$\.a as BSON: .*not an int32/],
    [[["a", bsonInt32(0.5)]], /\$\.a as BSON: .*not an int32/],
    [[["a", bsonInt64(2n ** 63n)]], /\$\.a as BSON: .*not an int64/],
    [[["a", bsonArray([bsonString("ok"), bsonString("\ud83d")])]], /\$\.a\.1 as BSON: .*surrogate/],
    [[["a\u0000", bsonNull]], /NUL/],
  ];
  for (const [fields, message] of cases) {
    assert.throws(() => encodeBson(fields), hasCode("BSON_VALUE_INVALID"));
    assert.throws(() => encodeBson(fields), message);
  }
});

Deno.test("encodeBsonPieces: the pieces concatenate to encodeBson's bytes; large binaries are not copied", () => {
  const big = Uint8Array.from({ length: 5000 }, (_, i) => i & 0xff);
  const small = Uint8Array.of(1, 2, 3);
  const fields = [
    ["first", bsonBinary(big)],
    [
      "doc",
      bsonDocument([["nested", bsonBinary(big)], ["s", bsonString("é")], ["small", bsonBinary(small)]]),
    ],
    ["list", bsonArray([bsonBinary(big), bsonNull])],
    ["empty", bsonBinary(new Uint8Array(0))],
  ] as const;
  const whole = encodeBson(fields);
  for (const viewFrom of [0, 1, 3, 4, 5000, 5001, Infinity]) {
    const pieces = encodeBsonPieces(fields, viewFrom);
    const joined = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
    pieces.reduce((at, p) => (joined.set(p, at), at + p.length), 0);
    assert.deepEqual(joined, whole, `viewFrom ${viewFrom}`);
    const views = pieces.filter((p) => p === big || p === small).length;
    assert.equal(views, viewFrom <= 3 ? 4 : viewFrom <= 5000 ? 3 : 0, `viewFrom ${viewFrom}: views`);
    assert.ok(pieces.every((p) => p.length > 0), "no empty pieces");
  }
});
