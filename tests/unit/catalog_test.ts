// The catalogue columns archive-core 1.3.0 derived from headers, and the public-topics setting.
import assert from "node:assert/strict";
import {
  catalogOf,
  headerText,
  indexText,
  MAX_HEADER_TEXT_BYTES,
  mediaTypeOf,
} from "../../lib/index/catalog.ts";
import { parsePublicTopics } from "../../lib/topics/public_topics.ts";
import type { WireHeader } from "../../lib/format/types.ts";
import { hasCode } from "../support/helpers.ts";

const h = (key: string, value: string | Uint8Array | null): WireHeader => ({
  key,
  value: typeof value === "string" ? new TextEncoder().encode(value) : value,
});

Deno.test("media type: the last known _format wins; unknown, missing or binary formats are octet-stream", () => {
  assert.equal(mediaTypeOf([h("_format", "json")]), "application/json");
  assert.equal(
    mediaTypeOf([h("_format", "voevent"), h("_format", "circular")]),
    "application/x.gcn.circular",
  );
  assert.equal(
    mediaTypeOf([h("_format", "circular"), h("_format", "nonsense")]),
    "application/x.gcn.circular",
  );
  assert.equal(mediaTypeOf([h("_format", "gcntextnotice")]), "application/x.gcn.notice");
  assert.equal(mediaTypeOf([h("_format", "external")]), "message/x.hop.external+json");
  assert.equal(mediaTypeOf([h("_format", "avro")]), "application/avro");
  assert.equal(mediaTypeOf([h("_format", "constructor")]), "application/octet-stream");
  assert.equal(mediaTypeOf([h("_format", null), h("_format", "JSON")]), "application/octet-stream");
  assert.equal(mediaTypeOf([]), "application/octet-stream");
});

Deno.test("string headers: the first one that is UTF-8, else none", () => {
  const headers = [h("title", Uint8Array.of(0xff)), h("title", "GRB 250101A"), h("title", "later")];
  assert.equal(headerText(headers, "title"), "GRB 250101A");
  assert.equal(headerText([h("title", null), h("title", "x")], "title"), "x");
  assert.equal(headerText([h("title", null)], "title"), null);
  assert.equal(headerText([], "title"), null);
  // Encoded lone surrogates (CESU-8) are not UTF-8: skipped like any other undecodable value.
  assert.equal(headerText([h("_sender", Uint8Array.of(0xed, 0xa0, 0x80))], "_sender"), null);
  assert.deepEqual(
    catalogOf([h("file_name", "a.fits"), h("originator", "ligo"), h("_format", "blob")], true),
    {
      public: true,
      directUpload: false,
      title: "",
      mediaType: "application/octet-stream",
      fileName: "a.fits",
      originator: "ligo",
      retracted: false,
    },
  );
});

Deno.test("header text is cleaned for the index: no NUL or control bytes, at most 1 KiB, whole characters", () => {
  assert.equal(headerText([h("_format", "json\u0000")], "_format"), "json ");
  assert.equal(headerText([h("title", "a\tb\r\nc\u001b[31m\u007f")], "title"), "a b  c [31m ");
  // Not controls: C1, bidi overrides and non-characters are text; whoever displays them escapes them.
  assert.equal(indexText("\u0085\u202egnp.exe\uffff"), "\u0085\u202egnp.exe\uffff");
  assert.equal(indexText("x\ud800y\udfffz"), "x\ufffdy\ufffdz");
  const mib = "\u00e9".repeat(2 ** 19); // 1 MiB of 2-byte characters
  const cut = headerText([h("originator", mib)], "originator")!;
  assert.equal(new TextEncoder().encode(cut).length, MAX_HEADER_TEXT_BYTES);
  assert.equal(cut, "\u00e9".repeat(MAX_HEADER_TEXT_BYTES / 2));
  const astral = indexText("a" + "\u{1f680}".repeat(1000)); // 1 + 4 bytes each: the cut falls inside one
  assert.equal(astral, "a" + "\u{1f680}".repeat(255));
  assert.equal(indexText("x".repeat(MAX_HEADER_TEXT_BYTES)), "x".repeat(MAX_HEADER_TEXT_BYTES));
  assert.deepEqual(
    catalogOf([h("title", "\u0000".repeat(5)), h("file_name", "a/../\u0000b")], false).title,
    "     ",
  );
});

Deno.test("public topics: names match whole names, other entries are whole-name patterns", () => {
  const list = parsePublicTopics(" gcn.circular , lvk\\.(alert|test),igwn.gwalert-.* ,");
  assert.deepEqual(list.entries, ["gcn.circular", "lvk\\.(alert|test)", "igwn.gwalert-.*"]);
  for (const t of ["gcn.circular", "lvk.alert", "lvk.test", "igwn.gwalert-x", "gcn.circular+oversized"]) {
    assert.ok(list.isPublic(t), t);
  }
  for (const t of ["gcnXcircular", "gcn.circular.x", "xlvk.alert", "lvk.alerts", "igwn.gwalert"]) {
    assert.ok(!list.isPublic(t), t);
  }
  assert.ok(!parsePublicTopics(undefined).isPublic("gcn.circular"));
  assert.ok(!parsePublicTopics("").isPublic(""));
  assert.throws(() => parsePublicTopics("gcn.(circular"), hasCode("CONFIG_INVALID"));
});
