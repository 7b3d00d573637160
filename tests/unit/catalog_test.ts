// The catalogue columns archive-core 1.3.0 derived from headers, and the public-topics setting.
import assert from "node:assert/strict";
import { catalogOf, headerString, mediaTypeOf } from "../../lib/index/catalog.ts";
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

Deno.test("string headers: the first one that is UTF-8, else empty", () => {
  const headers = [h("title", Uint8Array.of(0xff)), h("title", "GRB 250101A"), h("title", "later")];
  assert.equal(headerString(headers, "title"), "GRB 250101A");
  assert.equal(headerString([h("title", null)], "title"), "");
  assert.equal(headerString([], "title"), "");
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
