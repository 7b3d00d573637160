// Property-based suite for lib/format/bson_writer.ts (issue 21): random documents of every value type, with hostile
// names and text (NUL, lone surrogates, RTL overrides, "__proto__"), numbers at and beyond their ranges and large
// binaries. The writer must either give exactly js-bson's bytes for the same document (and the same bytes as pieces,
// wherever they are cut) or refuse with BSON_VALUE_INVALID; never anything else. Seeded: HK_FUZZ_SEED=S replays.
import assert from "node:assert/strict";
import { Binary, Int32, Long, serialize } from "bson";
import fc from "fast-check";
import {
  bsonArray,
  bsonBinary,
  bsonBool,
  bsonDocument,
  bsonInt32,
  bsonInt64,
  bsonNull,
  bsonString,
  type BsonValue,
  encodeBson,
  encodeBsonPieces,
} from "../../lib/format/bson_writer.ts";
import { isHkError } from "../../lib/runtime/errors.ts";
import { fuzz, pseudoBytes, showText } from "../support/fuzz_helpers.ts";

const LONE_SURROGATES = ["\ud800", "a\udfff", "\udc00\ud800"];
const text = fc.oneof(
  { arbitrary: fc.string({ unit: "binary", maxLength: 12 }), weight: 12 },
  { arbitrary: fc.constantFrom("", "\u202e", "__proto__", "constructor", "ключ", "🔑"), weight: 4 },
  { arbitrary: fc.constantFrom("\0", "a\0b"), weight: 1 },
  { arbitrary: fc.constantFrom(...LONE_SURROGATES), weight: 1 },
);
// Integer-like names would be reordered by a JavaScript object (js-bson's input), so they stay out of names.
const name = text.filter((n) => !/^(0|[1-9]\d*)$/.test(n));

const INT32_EDGES = [0, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1, 1.5, Number.NaN];
const INT64_EDGES = [0n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 63n, -(2n ** 63n) - 1n];

const leaf: fc.Arbitrary<BsonValue> = fc.oneof(
  fc.uint8Array({ maxLength: 40 }).map(bsonBinary),
  fc.record({ n: fc.integer({ min: 4096, max: 200_000 }), seed: fc.integer() })
    .map(({ n, seed }) => bsonBinary(pseudoBytes(n, seed))),
  text.map(bsonString),
  fc.oneof({ arbitrary: fc.integer(), weight: 6 }, { arbitrary: fc.constantFrom(...INT32_EDGES), weight: 1 })
    .map(bsonInt32),
  fc.oneof(
    { arbitrary: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), weight: 6 },
    { arbitrary: fc.constantFrom(...INT64_EDGES), weight: 1 },
  ).map(bsonInt64),
  fc.boolean().map(bsonBool),
  fc.constant(bsonNull),
);

const { fields } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    tie("fields").map((f) => bsonDocument(f as [string, BsonValue][])),
    fc.array(tie("value"), { maxLength: 4 }).map((items) => bsonArray(items as BsonValue[])),
  ),
  fields: fc.uniqueArray(fc.tuple(name, tie("value")), { maxLength: 5, selector: ([n]) => n }),
}));

type Fields = [string, BsonValue][];

/** Why the writer must refuse `value`, or null when it must encode it. */
function refusal(value: BsonValue): string | null {
  switch (value.type) {
    case "string":
      return value.text.isWellFormed() ? null : "lone surrogate";
    case "int32":
      return Number.isInteger(value.value) && value.value >= -(2 ** 31) && value.value < 2 ** 31
        ? null
        : "int32";
    case "int64":
      return BigInt.asIntN(64, value.value) === value.value ? null : "int64";
    case "document":
      for (const [n, v] of value.fields) {
        if (n.includes("\0")) return "NUL in a name";
        if (!n.isWellFormed()) return "lone surrogate in a name";
        const inner = refusal(v);
        if (inner !== null) return inner;
      }
      return null;
    case "array":
      return value.items.map(refusal).find((r) => r !== null) ?? null;
    default:
      return null;
  }
}

/** The same document as js-bson's own input: explicit wrappers for every type. */
function toJs(value: BsonValue): unknown {
  switch (value.type) {
    case "binary":
      return new Binary(value.bytes);
    case "string":
      return value.text;
    case "int32":
      return new Int32(value.value);
    case "int64":
      return Long.fromBigInt(value.value);
    case "bool":
      return value.value;
    case "null":
      return null;
    case "document":
      return Object.fromEntries(value.fields.map(([n, v]) => [n, toJs(v)]));
    case "array":
      return value.items.map(toJs);
  }
}

function describe([doc, viewFrom]: [Fields, number]): string {
  const show = (v: BsonValue): string =>
    v.type === "document"
      ? `{${v.fields.map(([n, x]) => `${showText(n, 20)}: ${show(x)}`).join(", ")}}`
      : v.type === "array"
      ? `[${v.items.map(show).join(", ")}]`
      : v.type === "binary"
      ? `bin(${v.bytes.length})`
      : v.type === "string"
      ? showText(v.text, 20)
      : v.type === "null"
      ? "null"
      : `${v.type}(${String(v.value)})`;
  return `${show(bsonDocument(doc))} pieces from ${viewFrom}`;
}

Deno.test("fuzz: the BSON writer gives js-bson's bytes or refuses with BSON_VALUE_INVALID", async () => {
  const seen = { encoded: 0, refused: 0 };
  await fuzz(
    fc.tuple(fields as fc.Arbitrary<Fields>, fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constant(4096))),
    { name: "BSON writer", numRuns: 1000, describe },
    ([doc, viewFrom]) => {
      const why = refusal(bsonDocument(doc));
      let ours: Uint8Array;
      try {
        ours = encodeBson(doc);
      } catch (e) {
        assert.ok(isHkError(e) && e.code === "BSON_VALUE_INVALID", `threw ${String(e)}`);
        assert.notEqual(why, null, `refused a valid document: ${String(e)}`);
        seen.refused++;
        return Promise.resolve();
      }
      assert.equal(why, null, `encoded a document it must refuse (${why})`);
      const theirs = serialize(toJs(bsonDocument(doc)) as Record<string, unknown>);
      assert.deepEqual(ours, new Uint8Array(theirs), "the bytes js-bson writes");
      const pieces = encodeBsonPieces(doc, viewFrom);
      const joined = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
      pieces.reduce((at, p) => (joined.set(p, at), at + p.length), 0);
      assert.deepEqual(joined, ours, "pieces join to the same bytes");
      seen.encoded++;
      return Promise.resolve();
    },
  );
  console.log(`fuzz: BSON writer: ${seen.encoded} encoded, ${seen.refused} refused`);
});
