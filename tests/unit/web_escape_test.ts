// The one escaping function of the web pages, and the `html` template that applies it to every interpolation.
import assert from "node:assert/strict";
import { escapeAttribute, escapeHtml, html, raw } from "../../lib/web/escape.ts";
import { HOSTILE_MARKUP } from "../../lib/mock/cases.ts";

Deno.test("escapeHtml: markup characters become entities; text reads the same", () => {
  assert.equal(
    escapeHtml(`<script>alert("x")</script>`),
    "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;",
  );
  assert.equal(escapeHtml(`a & b ' c`), "a &amp; b &#39; c");
  assert.equal(escapeHtml("&amp;"), "&amp;amp;", "an entity in the data is shown, not decoded");
  assert.equal(escapeHtml("plain text, café 🔭"), "plain text, café 🔭");
});

Deno.test("escapeHtml: NUL, controls and bidi overrides are shown as code points, never obeyed", () => {
  assert.equal(escapeHtml("a\u0000b"), `a<span class="ctl">U+0000</span>b`);
  assert.equal(escapeHtml("\u202etxt.exe"), `<span class="ctl">U+202E</span>txt.exe`);
  assert.equal(
    escapeHtml("\u2066x\u2069"),
    `<span class="ctl">U+2066</span>x<span class="ctl">U+2069</span>`,
  );
  assert.equal(escapeHtml("\u001b[2J"), `<span class="ctl">U+001B</span>[2J`);
  assert.equal(escapeHtml("tab\tnew\nline\r"), "tab\tnew\nline\r", "whitespace stays");
  assert.equal(escapeAttribute("a\u0000\u202e<"), "aU+0000U+202E&lt;", "no markup inside an attribute");
});

Deno.test("html: every interpolation is escaped unless it is html itself", () => {
  const evil = `"><img src=x onerror=alert(1)>`;
  assert.equal(
    html`<p title="${evil}">${evil}</p>`.__safe,
    `<p title="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;">&quot;&gt;&lt;img src=x onerror=alert(1)&gt;</p>`,
  );
  assert.equal(
    html`<ul>${["<a>", html`<li>${"<b>"}</li>`]}</ul>`.__safe,
    "<ul>&lt;a&gt;<li>&lt;b&gt;</li></ul>",
  );
  assert.equal(html`${null}${undefined}${false}${0}${12n}`.__safe, "012");
  assert.equal(html`${raw("<br>")}`.__safe, "<br>");
  // An attribute value made of several interpolations stays an attribute value.
  assert.equal(html`<a title="${"a\u0000"} ${"b\u202e"}">`.__safe, `<a title="aU+0000 bU+202E">`);
});

Deno.test("html: no hostile markup case survives as a tag, an attribute or a URL", () => {
  for (const m of HOSTILE_MARKUP) {
    const out = html`<div title="${m}"><a href="/web/message/${m}">${m}</a></div>`.__safe;
    const m1 = /^<div title="([^"<>]*)"><a href="([^"<>]*)">(.*)<\/a><\/div>$/s.exec(out);
    assert.ok(m1, `the only tags are ours: ${out}`);
    const content = m1[3]!.replace(/<span class="ctl">U\+[0-9A-F]{4}<\/span>/g, "");
    assert.doesNotMatch(content, /[<>"]/, m);
  }
});
