// The messages whose indexable text tests/unit/text_extract_test.ts compares with archive-core's: every sample payload
// of testdata/samples as hop-client sends it (and as older hop-clients and plain producers did), and hand-made
// cases for each rule of get_indexable_text (headers, limits, control characters, each format's edge cases and
// hostile inputs). Prints them as JSON; scripts/indexable_text_fixtures.sh feeds them to archive-core.
import avro from "avsc";
import { Buffer } from "node:buffer";
import { deflateRawSync } from "node:zlib";
import { defaultTestdataDir, loadSamples } from "../lib/mock/samples.ts";

interface Case {
  name: string;
  headers: [string, string | null][];
  value: string;
  limits?: { message?: number; text?: number };
}

const enc = new TextEncoder();
const b64 = (bytes: Uint8Array | string) =>
  Buffer.from(typeof bytes === "string" ? enc.encode(bytes) : bytes).toString("base64");
const ID = new Uint8Array([
  0x3f,
  0x1b,
  0x9e,
  0x20,
  0x77,
  0x41,
  0x4c,
  0x2b,
  0x9a,
  0x10,
  0x5c,
  0xe2,
  0x8f,
  0,
  1,
  2,
]);
const hop = (format: string): [string, string | null][] => [
  ["_id", b64(ID)],
  ["_sender", b64("alice-test")],
  ["_format", b64(format)],
];

function zigzag(n: number): number[] {
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  const out: number[] = [];
  while (z >= 0x80) {
    out.push((z % 0x80) | 0x80);
    z = Math.floor(z / 0x80);
  }
  out.push(z);
  return out;
}
const avroBytes = (b: Uint8Array) => [...zigzag(b.length), ...b];

/** An Avro object container file of `records`, one block, null or deflate codec. */
function container(schema: unknown, records: unknown[], codec = "null"): Uint8Array {
  const type = avro.Type.forSchema(schema as avro.Schema, { wrapUnions: true });
  const data = records.flatMap((r) => [...type.toBuffer(r)]);
  const block = codec === "deflate" ? [...deflateRawSync(new Uint8Array(data))] : data;
  const sync = Array.from({ length: 16 }, (_, i) => i * 7);
  return new Uint8Array([
    ...enc.encode("Obj\x01"),
    ...zigzag(2),
    ...avroBytes(enc.encode("avro.schema")),
    ...avroBytes(enc.encode(JSON.stringify(schema))),
    ...avroBytes(enc.encode("avro.codec")),
    ...avroBytes(enc.encode(codec)),
    0,
    ...sync,
    ...zigzag(records.length),
    ...avroBytes(new Uint8Array(block)),
    ...sync,
  ]);
}

const ALERT = {
  type: "record",
  name: "Alert",
  namespace: "test.hk",
  fields: [
    { name: "title", type: "string" },
    { name: "count", type: "int" },
    { name: "big", type: "long" },
    { name: "ratio", type: "float" },
    { name: "ra", type: "double" },
    { name: "ok", type: "boolean" },
    { name: "blob", type: "bytes" },
    { name: "digest", type: { type: "fixed", name: "Digest", size: 4 } },
    { name: "kind", type: { type: "enum", name: "Kind", symbols: ["GRB", "FRB"] } },
    { name: "maybe", type: ["null", "string"] },
    { name: "tags", type: { type: "array", items: "string" } },
    { name: "extra", type: { type: "map", values: "double" } },
    { name: "when", type: { type: "long", logicalType: "timestamp-millis" } },
    { name: "day", type: { type: "int", logicalType: "date" } },
    { name: "id", type: { type: "string", logicalType: "uuid" } },
    { name: "note", type: { type: "string", logicalType: "made-up" } },
    {
      name: "inner",
      type: { type: "record", name: "Inner", fields: [{ name: "text", type: "string" }] },
    },
  ],
};
const alert = (title: string) => ({
  title,
  count: 7,
  big: -4503599627370496,
  ratio: 0.1,
  ra: 1e16,
  ok: true,
  blob: Buffer.from([1, 2]),
  digest: Buffer.from([1, 2, 3, 4]),
  kind: "FRB",
  maybe: { string: "a union branch" },
  tags: ["tag one", "x".repeat(130)],
  extra: { "2": 1.5, "1": -0.0, "__proto__": 3 },
  when: 1700000000000,
  day: 19000,
  id: "3f1b9e20-7741-4c2b-9a10-5ce28f000102",
  note: "made-up logical types are their base type",
  inner: { text: "nested record text" },
});

function synthetic(): Case[] {
  const c = (
    name: string,
    headers: [string, string | null][],
    value: Uint8Array | string,
    limits?: Case["limits"],
  ) => ({
    name,
    headers,
    value: b64(value),
    ...(limits ? { limits } : {}),
  });
  const json = hop("json");
  const deep = (n: number, inner = '"deep text"') => "[".repeat(n) + inner + "]".repeat(n);
  const voe = (body: string, root = 'voe:VOEvent ivorn="ivo://test/1" role="test" version="2.0"') =>
    `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0">${body}</${
      root.split(" ")[0]
    }>`;
  return [
    c("headers: text, binary, null, reserved, sender", [
      ["title", b64("GRB 221009A afterglow")],
      ["_id", b64(ID)],
      ["_sender", b64("bob")],
      ["_private", b64("not indexed")],
      ["file_name", null],
      ["binary", b64(new Uint8Array([0xff, 0xfe, 0x00]))],
      ["bom", b64("\ufeffwith BOM")],
      ["", b64("empty name")],
      ["_format", b64("json")],
    ], '{"a": "b"}'),
    c("headers: last known _format wins, unknown ignored", [
      ["_format", b64("json")],
      ["_format", b64("nonsense")],
    ], '{"a": "b"}'),
    c("headers: blob format asks libmagic (json)", hop("blob"), '{"event": "GRB 230410A"}'),
    c("headers: blob format asks libmagic (text)", hop("blob"), "A plain message about GRB 230410A."),
    c("headers: blob format asks libmagic (binary)", hop("blob"), new Uint8Array([0, 1, 2, 3, 250, 9])),
    c("no headers: empty value", [], ""),
    c("no headers: one byte", [], "x"),
    c("no headers: ndjson", [], '{"a": 1}\n{"b": 2}\n'),
    c("no headers: xml", [], '<?xml version="1.0"?><a>x y</a>'),
    c("no headers: text with control characters", [], "tab\there\r\nbell\x07 esc\x1b end"),
    c("no headers: json with a BOM", [], '\ufeff{"a": "b c"}'),
    c("plain: not UTF-8", hop("blob"), new Uint8Array([0x41, 0x20, 0xe9, 0x20, 0x42])),
    c("plain: 127 characters without a space", [], "x".repeat(127)),
    c("plain: 128 characters without a space", [], "x".repeat(128)),
    c("plain: 128 code points, 256 units, no space", [], "\u{1F600}".repeat(128)),
    c("plain: 127 code points of 2 units and 2 ASCII", [], "\u{1F600}".repeat(127) + "ab"),
    c("plain: DEL and C1 characters", [], "del\x7f c1\u0085 nbsp\u00a0 end"),
    c("limits: message one byte under", [], "a message of exactly 32 bytes!!!", { message: 33 }),
    c("limits: message at the limit", [["title", b64("kept")]], "a message of exactly 32 bytes!!!", {
      message: 32,
    }),
    c("limits: text truncated", [["title", b64("header text")]], "0123456789 abcdefghij", { text: 20 }),
    c("limits: truncation after an astral character", [], "ab \u{1F600}\u{1F600} cd", { text: 4 }),
    c("limits: truncation then control characters", [], "a\tb\tc\td\te", { text: 6 }),
    c(
      "json: numbers",
      json,
      '{"i": 1, "f": 1.0, "e": 1e16, "s": 1e-05, "z": -0, "nz": -0.0, "big": ' +
        '123456789012345678901234567890, "inf": 1e400, "nan": NaN, "ninf": -Infinity, "pi": 3.14159, "h": 0.1}',
    ),
    c(
      "json: booleans, nulls, lists",
      json,
      '{"t": true, "f": false, "n": null, "l": [1, "two words", true, ' +
        '{"k": "v"}], "ll": [[["inner"]]]}',
    ),
    c(
      "json: duplicate and numeric keys keep Python's order",
      json,
      '{"b": 1, "2": "two", "a": 2, "1": "one", ' +
        '"b": 3, "__proto__": "p"}',
    ),
    c(
      "json: escapes, NUL, lone surrogate, astral",
      json,
      '{"a": "x\\u0000y\\ttab", "b": "\\ud800 lone", ' +
        '"c": "\\ud83d\\ude00 pair", "d": "caf\\u00e9"}',
    ),
    c("json: top-level string", json, '"just a string"'),
    c("json: top-level number", json, "42"),
    c("json: top-level long string without space", json, JSON.stringify("y".repeat(200))),
    c("json: invalid", json, '{"a": 1,}'),
    c("json: control character in a string", json, '{"a": "x\ty"}'),
    c("json: BOM", json, '\ufeff{"a": "b"}'),
    c("json: int of 4301 digits", json, '{"n": ' + "9".repeat(4301) + "}"),
    c("json: int of 4300 digits", json, '{"n": ' + "9".repeat(4300) + "}"),
    c("json: nested 900 deep", json, deep(900)),
    c("json: nested 2000 deep", json, deep(2000)),
    c("json: trailing whitespace, leading whitespace", json, ' \n{"a": "b"}\r\n\t'),
    c(
      "circular: header and body",
      hop("circular"),
      JSON.stringify({
        header: { title: "GCN CIRCULAR", number: "40000", subject: "GRB 250101A: detection" },
        body: "The afterglow of GRB 250101A\nwas seen.\x00",
      }),
    ),
    c("circular: number in header", hop("circular"), '{"header": {"number": 40000}, "body": "x"}'),
    c("circular: extra key", hop("circular"), '{"header": {}, "body": "x", "more": 1}'),
    c("circular: e-mail text", hop("circular"), "TITLE:   GCN CIRCULAR\nSUBJECT: x\n\nbody\n"),
    c("circular: body not a string", hop("circular"), '{"header": {}, "body": ["a"]}'),
    c(
      "notice: continuation, repeats, case, CRLF",
      hop("gcntextnotice"),
      "  TITLE:  GCN/AMON NOTICE\r\nSRC_RA: 103.78d (J2000),\r\n      104.11d (current)\r\nComments: first\r\n" +
        "COMMENTS:   second\r\nno colon line\r\nURL:http://x.y/z\r\n\u2028LAST: \u00a0end\u00a0\n\n",
    ),
    c("notice: not UTF-8", hop("gcntextnotice"), new Uint8Array([0x41, 0x3a, 0x20, 0xff])),
    c("notice: long value without space", hop("gcntextnotice"), "KEY: " + "z".repeat(200) + "\nOTHER: fine"),
    c(
      "voevent: attributes, text, repeats, CDATA, comments",
      hop("voevent"),
      voe(
        "<Who><AuthorIVORN>ivo://nasa.gsfc.gcn/SWIFT</AuthorIVORN><Date>2024-01-01T00:00:00</Date></Who>" +
          '<What><Param name="Trig_ID" value="123"/><Param name="Burst_Inten" value="4" unit="cts"/>' +
          '<Group name="g"><Param name="x" value="y"/>text in group</Group><!-- a comment -->' +
          "<Description><![CDATA[GRB 240101A, a <bright> one]]> &amp; more &#233;</Description></What>" +
          '<Why importance="0.9"><Inference probability="1"><Name>GRB 240101A</Name></Inference></Why>' +
          "<Citations/><How>   </How>",
      ),
    ),
    c(
      "voevent: default namespace attribute",
      hop("voevent"),
      voe("<Who/>", 'voe:VOEvent ivorn="x" xmlns="urn:y"'),
    ),
    c("voevent: no ivorn", hop("voevent"), voe("<Who>a b</Who>", 'voe:VOEvent role="test"')),
    c("voevent: unknown element", hop("voevent"), voe("<Who>a b</Who><Other>c</Other>")),
    c("voevent: root without prefix", hop("voevent"), '<VOEvent ivorn="x"><Who>a b</Who></VOEvent>'),
    c("voevent: malformed", hop("voevent"), voe("<Who>a b</Wh>")),
    c(
      "voevent: entity declaration (billion laughs)",
      hop("voevent"),
      '<?xml version="1.0"?>\n<!DOCTYPE voe:VOEvent [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>\n' +
        '<voe:VOEvent ivorn="x"><Who>&b;</Who></voe:VOEvent>',
    ),
    c("voevent: undefined entity", hop("voevent"), voe("<Who>&nope;</Who>")),
    c(
      "voevent: doctype without entities",
      hop("voevent"),
      '<?xml version="1.0"?>\n<!DOCTYPE voe:VOEvent>\n<voe:VOEvent ivorn="x"><Who>who text</Who></voe:VOEvent>',
    ),
    c(
      "voevent: nested 900 deep",
      hop("voevent"),
      voe(
        "<What>" + "<a>".repeat(900) + "x y" + "</a>".repeat(900) +
          "</What>",
      ),
    ),
    c(
      "voevent: nested 3000 deep",
      hop("voevent"),
      voe(
        "<What>" + "<a>".repeat(3000) + "x y" + "</a>".repeat(3000) +
          "</What>",
      ),
    ),
    c(
      "voevent: old JSON form",
      hop("voevent"),
      JSON.stringify({
        ivorn: "ivo://old/1",
        Who: { AuthorIVORN: "ivo://old author" },
        What: { Param: [{ name: "a", value: "1" }] },
      }),
    ),
    c(
      "voevent: ISO-8859-1",
      hop("voevent"),
      new Uint8Array([
        ...enc.encode('<?xml version="1.0" encoding="ISO-8859-1"?><voe:VOEvent ivorn="x"><Who>caf'),
        0xe9,
        ...enc.encode(" au lait</Who></voe:VOEvent>"),
      ]),
    ),
    c("avro: every type", hop("avro"), container(ALERT, [alert("GRB 221009A: the BOAT")])),
    c("avro: deflate", hop("avro"), container(ALERT, [alert("deflated alert")], "deflate")),
    c("avro: two records", hop("avro"), container(ALERT, [alert("one"), alert("two")])),
    c("avro: no records", hop("avro"), container(ALERT, [])),
    c("avro: truncated", hop("avro"), container(ALERT, [alert("cut")]).subarray(0, 300)),
    c(
      "avro: bad sync marker",
      hop("avro"),
      (() => {
        const b = container(ALERT, [alert("sync")]);
        b[b.length - 1] = b.at(-1)! ^ 0xff;
        return b;
      })(),
    ),
    c("avro: top-level string", hop("avro"), container("string", ["a top-level avro string"])),
    c("avro: not a container", hop("avro"), "Obj\x01 but nothing after"),
  ];
}

async function main() {
  const samples = await loadSamples(defaultTestdataDir());
  const cases: Case[] = [];
  for (const [format, list] of Object.entries(samples.byFormat)) {
    for (const s of list) {
      cases.push({ name: `${format}: ${s.name}`, headers: hop(format), value: b64(s.payload) });
      if (s.envelope !== null) {
        cases.push({ name: `envelope ${format}: ${s.name}`, headers: [], value: b64(s.envelope) });
      }
    }
  }
  for (const f of samples.files) {
    cases.push({ name: `file without headers: ${f.name}`, headers: [], value: b64(f.bytes) });
  }
  cases.push(...synthetic());
  console.log(JSON.stringify(cases, null, 1));
}

await main();
