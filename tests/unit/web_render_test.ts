// How the web pages show values, charts and headers: exactly the bytes received, indented or dumped, never parsed
// into something else (numbers rounded, entities expanded) and never markup.
import assert from "node:assert/strict";
import { circularText, hexDump, indentJson, indentXml, renderValue } from "../../lib/web/render.ts";
import { dayChart, parseDay } from "../../lib/web/chart.ts";
import { headersTable, hopSnippet, messagesTable } from "../../lib/web/pages.ts";
import { createSessions } from "../../lib/web/session.ts";
import { page } from "../../lib/web/layout.ts";
import { html } from "../../lib/web/escape.ts";

const enc = new TextEncoder();

Deno.test("indentJson: only whitespace changes; big numbers, escapes and duplicate keys stay as sent", () => {
  const text = `{"n":12345678901234567890123,"s":"a\\"b,{[","d":1,"d":2,"e":[],"o":{}, "f":1.50e3}`;
  const out = indentJson(text)!;
  assert.equal(out.replace(/\s+/g, ""), text.replace(/\s+/g, ""));
  assert.match(out, /"n": 12345678901234567890123/);
  assert.match(out, /"s": "a\\"b,\{\["/);
  assert.match(out, /"e": \[\]/);
  assert.equal(out.split("\n")[1], `  "n": 12345678901234567890123,`);
  assert.equal(indentJson("{not json"), null);
});

Deno.test("indentXml: one tag a line, entities and DTDs left as text", () => {
  const xml =
    `<?xml version="1.0"?><!DOCTYPE v [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><a><b>&xxe;</b><c/></a>`;
  const out = indentXml(xml);
  assert.equal(
    out,
    [
      `<?xml version="1.0"?>`,
      `<!DOCTYPE v [<!ENTITY xxe SYSTEM "file:///etc/passwd">`,
      `]>`,
      `<a>`,
      `  <b>&xxe;</b>`,
      `  <c/>`,
      `</a>`,
    ]
      .join("\n"),
  );
  assert.ok(!out.includes("root:"), "nothing was read from a file");
});

Deno.test("renderValue: by format, hex when not text, and only the first 256 KiB", () => {
  assert.equal(renderValue(enc.encode(`{"a":1}`), "json").kind, "json");
  assert.equal(renderValue(enc.encode(`<?xml version="1.0"?><x/>`), "voevent").kind, "xml");
  assert.equal(renderValue(enc.encode("TITLE: GCN CIRCULAR\nNUMBER: 1"), "gcntextnotice").kind, "text");
  assert.equal(renderValue(Uint8Array.of(0, 1, 2, 0xff), "blob").kind, "hex");
  assert.equal(renderValue(enc.encode("Obj\u0001"), "avro").kind, "hex");
  const big = renderValue(new Uint8Array(300 * 1024).fill(0x41), "blob");
  assert.equal(big.omitted, 300 * 1024 - 256 * 1024);
  assert.equal(
    hexDump(enc.encode("<script>\u0000")),
    "00000000  3c 73 63 72 69 70 74 3e 00                       |<script>.|",
  );
});

Deno.test("circularText: hop-client's JSON of a GCN circular as the e-mail it was", () => {
  const json = JSON.stringify({
    header: { title: "GCN CIRCULAR", number: "26936" },
    body: "Line 1\n<b>Line 2</b>",
  });
  assert.equal(circularText(json), "TITLE: GCN CIRCULAR\nNUMBER: 26936\n\nLine 1\n<b>Line 2</b>");
  assert.equal(renderValue(enc.encode(json), "circular").kind, "circular");
  assert.equal(circularText(`{"no": "body"}`), null);
  assert.equal(renderValue(enc.encode(`{"no": "body"}`), "circular").kind, "json");
});

Deno.test("renderValue: an Avro container's records as JSON; a broken one as hex", async () => {
  const avro = await Deno.readFile(
    new URL("../../testdata/samples/hop-client/example_avro.avro", import.meta.url),
  );
  const shown = renderValue(avro, "avro");
  assert.equal(shown.kind, "avro");
  assert.match(shown.text, /^\{\n {2}"/);
  assert.equal(renderValue(avro.subarray(0, avro.length - 3), "avro").kind, "hex");
});

Deno.test("dayChart: bars for the days with messages, a text summary, no script or style", () => {
  const from = parseDay("2026-01-01")!;
  const svg = dayChart(new Map([[from, 3n], [from + 2n, 6n]]), from, from + 4n, `<b>"x"</b>`).__safe;
  assert.equal(svg.match(/<rect /g)?.length, 2);
  assert.match(svg, /2026-01-03: 6 messages/);
  assert.match(
    svg,
    /&lt;b&gt;&quot;x&quot;&lt;\/b&gt;: 9 messages from 2026-01-01 to 2026-01-05, at most 6 a day/,
  );
  assert.doesNotMatch(svg, /<script|style=|on\w+=/i);
  assert.equal(parseDay("2026-13-01"), null);
  assert.equal(parseDay("x"), null);
});

Deno.test("pages: hostile headers, titles and senders are text", () => {
  const evil = `<script>alert(1)</script>\u202e`;
  const table = headersTable([
    { key: `<b onclick=alert(1)>`, value: enc.encode(evil) },
    { key: "sig", value: Uint8Array.of(0xff, 0x00) },
    { key: "none", value: null },
    { key: "x\ufffd", keyBytes: Uint8Array.of(0x78, 0xff), value: null },
  ]).__safe;
  assert.match(table, /binary, hex<\/span>\s*<code>78 ff<\/code>/, "a key that is not UTF-8: its bytes");
  assert.doesNotMatch(table, /<script|<b /);
  assert.match(table, /&lt;b onclick=alert\(1\)&gt;/);
  assert.match(table, /binary, hex<\/span>\s*<code>ff 00<\/code>/);
  assert.match(table, /U\+202E/);
  const rows = messagesTable([{
    id: 1n,
    uuid: "00000000-0000-4000-8000-000000000001",
    topic: "t",
    timestamp: 0n,
    size: 1,
    valueSize: 1,
    sender: evil,
    format: `"><svg onload=alert(1)>`,
    title: evil,
    retracted: true,
  }], true).__safe;
  assert.doesNotMatch(rows, /<script|<svg/);
  assert.match(rows, /retracted/);
  const snippet = hopSnippet(`http://h"\n/msg/u`, `"x`, true);
  assert.ok(snippet.includes(`url = "http://h\\"\\n/msg/u"`), snippet);
  assert.ok(snippet.includes(`with open("\\"x", "wb")`), snippet);
});

Deno.test("layout: the page links its own style sheet and script; no inline script or style", () => {
  const out = page({ title: `<script>`, query: `"><script>`, csrf: `"x` }, html`<p>body</p>`);
  assert.equal(out.match(/<script/g)?.length, 1);
  assert.match(out, /<script src="\/web\/app\.js" defer><\/script>/);
  assert.doesNotMatch(out, /style=|<style/);
  assert.match(out, /value="&quot;&gt;&lt;script&gt;"/);
});

Deno.test("sessions: HttpOnly SameSite=Strict cookie; expiry and sign-out end a session", () => {
  let now = 1000;
  const sessions = createSessions({ ttlMs: 60_000, now: () => now });
  const s = sessions.open("Token abc");
  const cookie = sessions.cookie(s, false);
  assert.match(cookie, /^hk_session=[A-Za-z0-9_-]{43}; Max-Age=60; Path=\/; HttpOnly; SameSite=Strict$/);
  assert.match(sessions.cookie(s, true), /; Secure$/);
  assert.doesNotMatch(cookie, /abc/, "the token is never in the cookie");
  const req = new Request("http://x/", { headers: { cookie: `a=b; hk_session=${s.id}` } });
  assert.equal(sessions.of(req)?.authorization, "Token abc");
  now += 60_000;
  assert.equal(sessions.of(req), null, "expired");
  const t = sessions.open("Token def");
  sessions.close(t.id);
  assert.equal(sessions.of(new Request("http://x/", { headers: { cookie: `hk_session=${t.id}` } })), null);
  assert.match(sessions.cookie(null, false), /^hk_session=; Max-Age=0;/);
});
