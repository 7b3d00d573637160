// lib/text/ against archive-core's own get_indexable_text: every fixture (made by scripts/indexable_text_fixtures.sh
// from testdata/samples and hand-made cases) must give the same text and text_fully_indexed, byte for byte.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createPrng } from "../../lib/mock/prng.ts";
import type { WireHeader } from "../../lib/format/types.ts";
import { ARCHIVE_CORE_LIMITS, dataFormat, indexableText } from "../../lib/text/extract.ts";

interface Fixture {
  name: string;
  headers: [string, string | null][];
  value: string;
  limits?: { message?: number; text?: number };
  media_type: string;
  text: string;
  text_fully_indexed: boolean;
  error?: string;
}

const EXTRACTED = new Set([
  "application/avro",
  "application/json",
  "text/plain",
  "application/x.gcn.circular",
  "application/x.gcn.notice",
  "application/x.voevent",
]);

const file = new URL("../testdata/indexable_text/fixtures.json", import.meta.url);
const { fixtures } = JSON.parse(await Deno.readTextFile(file)) as { fixtures: Fixture[] };
const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, "base64"));
const headersOf = (f: Fixture): WireHeader[] =>
  f.headers.map(([key, value]) => ({ key, value: value === null ? null : bytes(value) }));

Deno.test(`indexable text: all ${fixtures.length} archive-core fixtures`, () => {
  const wrong: string[] = [];
  for (const f of fixtures) {
    const headers = headersOf(f);
    const value = bytes(f.value);
    const limits = {
      messageBytes: f.limits?.message ?? ARCHIVE_CORE_LIMITS.messageBytes,
      textChars: f.limits?.text ?? ARCHIVE_CORE_LIMITS.textChars,
    };
    const got = indexableText(headers, value, limits);
    if (got.text !== f.text) {
      wrong.push(
        `${f.name}: text\n  want ${JSON.stringify(f.text).slice(0, 400)}\n  got  ${
          JSON.stringify(got.text).slice(0, 400)
        }`,
      );
    }
    if (got.fullyIndexed !== f.text_fully_indexed) {
      wrong.push(`${f.name}: text_fully_indexed want ${f.text_fully_indexed} got ${got.fullyIndexed}`);
    }
    // libmagic's other types need not match, as long as the same messages go to the same extractor.
    const format = dataFormat(headers, value);
    if ((EXTRACTED.has(format) || EXTRACTED.has(f.media_type)) && format !== f.media_type) {
      wrong.push(`${f.name}: media type want ${f.media_type} got ${format}`);
    }
  }
  assert.deepEqual(wrong, []);
});

const enc = new TextEncoder();
const h = (key: string, value: string): WireHeader => ({ key, value: enc.encode(value) });
const FORMATS = ["json", "avro", "voevent", "circular", "gcntextnotice", "blob", "nonsense"];

Deno.test("indexable text: hostile nesting is refused, not recursed into", () => {
  const deepJson = enc.encode("[".repeat(200_000) + "]".repeat(200_000));
  assert.deepEqual(indexableText([h("_format", "json"), h("title", "t")], deepJson), {
    text: "title t",
    fullyIndexed: false,
  });
  const deepXml = enc.encode(
    `<voe:VOEvent ivorn="x"><What>${"<a>".repeat(100_000)}${"</a>".repeat(100_000)}</What></voe:VOEvent>`,
  );
  assert.equal(indexableText([h("_format", "voevent")], deepXml).fullyIndexed, false);
  // The same, within the depth Python manages, is read.
  const ok = enc.encode(`{"a": ${"[".repeat(900)}"deep words"${"]".repeat(900)}}`);
  assert.deepEqual(indexableText([h("_format", "json")], ok), { text: "deep words", fullyIndexed: true });
});

Deno.test("indexable text: XML entities are never expanded", () => {
  const laughs = ['<?xml version="1.0"?>', '<!DOCTYPE voe:VOEvent [<!ENTITY a "aaaaaaaaaa">'];
  for (let i = 1; i < 10; i++) {
    laughs.push(`<!ENTITY ${"a".repeat(i + 1)} "${`&${"a".repeat(i)};`.repeat(10)}">`);
  }
  laughs.push(']><voe:VOEvent ivorn="x"><Who>&aaaaaaaaaa;</Who></voe:VOEvent>');
  assert.deepEqual(indexableText([h("_format", "voevent")], enc.encode(laughs.join("\n"))), {
    text: "",
    fullyIndexed: false,
  });
  const external = '<?xml version="1.0"?><!DOCTYPE v [<!ENTITY x SYSTEM "file:///etc/passwd">]>' +
    '<voe:VOEvent ivorn="x"><Who>&x;</Who></voe:VOEvent>';
  assert.equal(indexableText([h("_format", "voevent")], enc.encode(external)).text, "");
});

Deno.test("indexable text: Avro counts larger than the data are refused at once", () => {
  // An array of nulls takes no bytes per item: a claimed 2^50 of them must not be looped over.
  const schema = enc.encode(JSON.stringify({ type: "array", items: "null" }));
  const zig = (n: number) => {
    const out: number[] = [];
    let z = n * 2;
    while (z >= 0x80) {
      out.push((z % 0x80) | 0x80);
      z = Math.floor(z / 0x80);
    }
    out.push(z);
    return out;
  };
  const record = [...zig(2 ** 50), 0];
  const sync = new Array(16).fill(7);
  const value = new Uint8Array([
    ...enc.encode("Obj\x01"),
    ...zig(1),
    ...zig(11),
    ...enc.encode("avro.schema"),
    ...zig(schema.length),
    ...schema,
    0,
    ...sync,
    ...zig(1),
    ...zig(record.length),
    ...record,
    ...sync,
  ]);
  assert.deepEqual(indexableText([h("_format", "avro")], value), { text: "", fullyIndexed: false });
});

Deno.test("indexable text: any bytes under any format give text without control characters, never a throw", () => {
  const prng = createPrng(24);
  for (let i = 0; i < 600; i++) {
    // Random bytes, and real payloads with random bytes changed.
    const base = bytes(prng.pick(fixtures).value);
    const value = prng.chance(0.5)
      ? prng.bytes(prng.int(600))
      : base.map((b) => (prng.chance(0.02) ? prng.int(256) : b));
    const headers = [h("_format", prng.pick(FORMATS)), { key: "title", value: prng.bytes(prng.int(20)) }];
    const { text } = indexableText(headers, value);
    // deno-lint-ignore no-control-regex -- what must never be left
    assert.equal(/[\x00-\x1f\x7f]/.test(text), false);
    assert.ok([...text].length <= ARCHIVE_CORE_LIMITS.textChars);
  }
});

Deno.test("indexable text: limits; a message at the size limit has only its headers read", () => {
  const big = enc.encode(`${"word ".repeat(5000)}`);
  const cut = indexableText([h("_format", "blob")], big);
  assert.equal([...cut.text].length, 16384);
  assert.equal(cut.fullyIndexed, true);
  const limits = { messageBytes: big.length, textChars: 16384 };
  assert.deepEqual(indexableText([h("_format", "blob"), h("title", "kept")], big, limits), {
    text: "title kept",
    fullyIndexed: false,
  });
  // A Kafka record without a value: libmagic's application/x-empty, nothing to read.
  assert.deepEqual(indexableText([h("title", "only")], null), { text: "title only", fullyIndexed: false });
});
