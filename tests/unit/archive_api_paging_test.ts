// archive-api's bookmarks and paging (sqlakeyset's), its query-parameter reading (FastAPI's) and its CORS
// (Starlette's), without services: the conformance test checks them against the real archive-api end to end.
import assert from "node:assert/strict";
import { type Bookmark, type ListingRow, pageOf } from "../../lib/index/listing.ts";
import { formatBookmark, parseBookmark } from "../../lib/serve/bookmark.ts";
import { corsPolicy, unrouted, withCors } from "../../lib/serve/manners.ts";
import { createQueryReader } from "../../lib/serve/query.ts";

function row(id: number, timestamp: number): ListingRow {
  return { id: BigInt(id), timestamp: BigInt(timestamp) } as ListingRow;
}

Deno.test("bookmarks: sqlakeyset's text, both ways; anything else is refused", () => {
  const b: Bookmark = { backwards: false, timestamp: 1796534782731n, id: 2n };
  assert.equal(formatBookmark(b), ">i:1796534782731~i:2");
  assert.deepEqual(parseBookmark(">i:1796534782731~i:2"), b);
  assert.deepEqual(parseBookmark("<i:-5~i:9223372036854775807"), {
    backwards: true,
    timestamp: -5n,
    id: 2n ** 63n - 1n,
  });
  for (
    const bad of [
      "garbage",
      ">i:1~i:2~i:3",
      ">s:x~i:2",
      ">i:1",
      "i:1~i:2",
      ">i:9223372036854775808~i:1",
      ">i:1~i:2\n",
      "",
    ]
  ) {
    assert.equal(parseBookmark(bad), null, bad);
  }
});

Deno.test("pageOf: next and prev as sqlakeyset sets them, forwards and backwards", () => {
  const rows = [row(1, 10), row(2, 20), row(3, 30), row(4, 40)];
  // First page: no prev; an extra row means a next page.
  let page = pageOf(rows, 3, undefined);
  assert.deepEqual(page.rows.map((r) => r.id), [1n, 2n, 3n]);
  assert.deepEqual(page.next, { backwards: false, timestamp: 30n, id: 3n });
  assert.equal(page.prev, null);
  // A page reached by `next`: prev names its first row.
  page = pageOf([row(4, 40)], 3, { backwards: false, timestamp: 30n, id: 3n });
  assert.equal(page.next, null);
  assert.deepEqual(page.prev, { backwards: true, timestamp: 40n, id: 4n });
  // Backwards from row 4: rows arrive newest first and are turned round; next names the last shown.
  page = pageOf([row(3, 30), row(2, 20), row(1, 10)], 2, { backwards: true, timestamp: 40n, id: 4n });
  assert.deepEqual(page.rows.map((r) => r.id), [2n, 3n]);
  assert.deepEqual(page.next, { backwards: false, timestamp: 30n, id: 3n });
  assert.deepEqual(page.prev, { backwards: true, timestamp: 20n, id: 2n });
  // An empty first page has neither.
  assert.deepEqual(pageOf([], 5, undefined), { rows: [], next: null, prev: null });
});

Deno.test("query: pydantic's booleans and integers, last value wins, 422 details", async () => {
  const q = createQueryReader(new URLSearchParams("meta=on&asc=No&limit=1&limit=7&x=maybe&n=1.5"));
  assert.equal(q.bool("meta", false), true);
  assert.equal(q.bool("asc", true), false);
  assert.equal(q.int("limit"), 7n);
  assert.equal(q.failure(), null);
  q.bool("x", true);
  q.int("n");
  q.bool("missing", null);
  const resp = q.failure()!;
  assert.equal(resp.status, 422);
  assert.deepEqual((await resp.json()).detail.map((d: { type: string }) => d.type), [
    "bool_parsing",
    "int_parsing",
    "missing",
  ]);
});

Deno.test("CORS: listed origins and the regex, whole; preflight answered before any route", async () => {
  const policy = corsPolicy(["https://a.example"], "https://.*\\.b\\.example", "test");
  let called = 0;
  const handler = withCors(policy, () => {
    called++;
    return Promise.resolve(new Response("x"));
  });
  const get = (origin: string) => handler(new Request("http://h/topics", { headers: { origin } }));
  assert.equal(
    (await get("https://a.example")).headers.get("access-control-allow-origin"),
    "https://a.example",
  );
  assert.equal(
    (await get("https://x.b.example")).headers.get("access-control-allow-origin"),
    "https://x.b.example",
  );
  assert.equal((await get("https://x.b.example.evil")).headers.get("access-control-allow-origin"), null);
  const plain = await handler(new Request("http://h/topics"));
  assert.equal(plain.headers.get("vary"), "Origin");
  const pre = await handler(
    new Request("http://h/anything", {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "GET" },
    }),
  );
  assert.equal(pre.status, 400);
  assert.equal(await pre.text(), "Disallowed CORS origin");
  assert.equal(called, 4);
  assert.throws(() => corsPolicy([], "(", "--cors-origin-regex"), /not a valid regular expression/);
  assert.throws(() => corsPolicy(["https://a.example/path"], undefined, "x"), /not an origin/);
});

Deno.test("unrouted: FastAPI's 404 and 405 with Allow; HEAD goes with GET", () => {
  assert.equal(unrouted("GET", "/no/such")!.status, 404);
  assert.equal(unrouted("DELETE", "/msg/x")!.headers.get("allow"), "GET");
  assert.equal(unrouted("PUT", "/topic/x")!.headers.get("allow"), "GET");
  assert.equal(unrouted("GET", "/msg/x/retraction")!.headers.get("allow"), "PUT");
  assert.equal(unrouted("HEAD", "/topics"), null);
  assert.equal(unrouted("POST", "/topic/x"), null);
});
