// Search snippets' markup and their failure modes: the headline's markers become <mark> only after everything else is
// escaped, stray markers cannot open or close markup, and a snippet that fails (store error, missing or unreadable
// object, hang, headline error) leaves its hit without one, never an error. ts_headline itself runs against
// PostgreSQL in tests/integration/web_pages_test.ts.
import assert from "node:assert/strict";
import { silentLogger } from "../../lib/runtime/log.ts";
import type { Headlines } from "../../lib/index/headline.ts";
import {
  createTextCache,
  markHeadline,
  snippets,
  snippetSource,
  START,
  STOP,
} from "../../lib/web/snippets.ts";
import { encodeArchiveObject } from "../../lib/format/record.ts";

const enc = new TextEncoder();

Deno.test("markHeadline: everything escaped, then <mark> only where the markers say", () => {
  assert.equal(
    markHeadline(`a ${START}GRB${STOP} <script>x</script> & "q" ${START}burst${STOP}`).__safe,
    `a <mark>GRB</mark> &lt;script&gt;x&lt;/script&gt; &amp; &quot;q&quot; <mark>burst</mark>`,
  );
  // Text that looks like the markup it becomes stays text.
  assert.equal(
    markHeadline(`</mark><mark>${START}x${STOP}`).__safe,
    `&lt;/mark&gt;&lt;mark&gt;<mark>x</mark>`,
  );
  // Stray and doubled markers: never an unbalanced or nested tag.
  assert.equal(
    markHeadline(`${STOP}a${START}${START}b${STOP}${STOP}c${START}d`).__safe,
    `a<mark>b</mark>c<mark>d</mark>`,
  );
  // Invisible and reordering characters shown, inside a mark too.
  assert.equal(
    markHeadline(`${START}x\u202e${STOP}`).__safe,
    `<mark>x<span class="ctl">U+202E</span></mark>`,
  );
});

function object(value: string): Uint8Array {
  return encodeArchiveObject(
    {
      topic: "t",
      partition: 0,
      offset: 0n,
      timestamp: 0n,
      key: null,
      value: enc.encode(value),
      headers: [{ key: "_format", value: enc.encode("json") }],
    },
    { uuid: crypto.randomUUID(), isClientUuid: false },
    { archivedAt: 0n, archiverVersion: "test" },
  );
}

Deno.test("snippetSource: the indexed text of the object, without the markers", () => {
  const text = snippetSource(object(JSON.stringify({ a: `x${START}y${STOP}z` })));
  assert.ok(text !== null && !text.includes(START) && !text.includes(STOP), text ?? "");
  assert.match(text!, /x y z/);
});

Deno.test("snippets: a failing store, object or headline leaves the hit without a snippet", async () => {
  const good = object(JSON.stringify({ text: "optical afterglow" }));
  const objects: Record<string, () => Promise<Uint8Array | null>> = {
    good: () => Promise.resolve(good),
    missing: () => Promise.resolve(null),
    broken: () => Promise.resolve(enc.encode("not BSON")),
    failing: () => Promise.reject(new Error("store down")),
    hanging: () => new Promise(() => {}),
  };
  const hits = Object.keys(objects).map((k) => ({ uuid: k, key: k, size: 100 }));
  const asked: string[][] = [];
  const headlines: Headlines = (texts) => {
    asked.push(texts);
    return Promise.resolve(texts.map((t) => t.replace("afterglow", `${START}afterglow${STOP}`)));
  };
  const store = { get: (key: string) => objects[key]!() };
  const shown = await snippets({ store, headlines, log: silentLogger, budgetMs: 300 }, hits, "afterglow");
  assert.deepEqual([...shown.keys()], ["good"]);
  assert.match(shown.get("good")!.__safe, /<mark>afterglow<\/mark>/);
  assert.equal(asked.length, 1, "one headline call for the page");

  const failing: Headlines = () => Promise.reject(new Error("database down"));
  const none = await snippets({ store, headlines: failing, log: silentLogger, budgetMs: 300 }, hits, "x");
  assert.equal(none.size, 0);
  // An object over the bound is not fetched at all.
  let fetched = 0;
  const counting = { get: () => (fetched++, Promise.resolve(good)) };
  await snippets({ store: counting, headlines, log: silentLogger }, [{
    uuid: "big",
    key: "k",
    size: 2 ** 21,
  }], "x");
  assert.equal(fetched, 0);
});

Deno.test("snippets: texts read once are kept (bounded by characters), oldest use dropped first", async () => {
  const cache = createTextCache(10);
  cache.set("a", "aaaa");
  cache.set("b", "bbbb");
  assert.equal(cache.get("a"), "aaaa"); // a is now the newest
  cache.set("c", "cccc"); // 12 > 10: b, the oldest use, goes
  assert.equal(cache.get("b"), undefined);
  assert.equal(cache.get("a"), "aaaa");
  cache.set("huge", "x".repeat(11));
  assert.equal(cache.get("huge"), undefined, "a text over the bound is not kept");

  let gets = 0;
  const good = object(JSON.stringify({ text: "optical afterglow" }));
  const store = { get: () => (gets++, Promise.resolve(good)) };
  const headlines: Headlines = (texts) => Promise.resolve(texts);
  const texts = createTextCache(1 << 20);
  const hits = [{ uuid: "u", key: "k", size: 100 }];
  await snippets({ store, headlines, log: silentLogger, cache: texts }, hits, "x");
  const again = await snippets({ store, headlines, log: silentLogger, cache: texts }, hits, "x");
  assert.equal(gets, 1, "the second page reads no object");
  assert.match(again.get("u")!.__safe, /optical afterglow/);
});
