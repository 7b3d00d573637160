// archive-api's listing, search and retraction routes under input no client should send: every value is bounded,
// bound as a parameter, or refused before a round trip; and HEAD, 405 and read-only as documented.
import assert from "node:assert/strict";
import { BSON } from "bson";
import { crc32 } from "../../lib/format/checksum.ts";
import { uniqueName } from "../support/helpers.ts";
import { idHeader, withServe } from "../support/serve_fixture.ts";

const enc = new TextEncoder();

async function get(url: string, init?: RequestInit) {
  const resp = await fetch(url, init);
  const body = new Uint8Array(await resp.arrayBuffer());
  return { status: resp.status, headers: resp.headers, body, text: new TextDecoder().decode(body) };
}

Deno.test("serve: hostile listing, search and retraction requests are refused or answered safely", async (t) => {
  const topic = uniqueName("api");
  await withServe({
    publicTopics: topic,
    auth: { users: { alice: "pw" }, permissions: { alice: { [topic]: ["All"] } } },
  }, async (f) => {
    const uuid = crypto.randomUUID();
    await f.archive([{
      topic,
      partition: 0,
      offset: 0n,
      timestamp: 1_750_000_000_000n,
      key: null,
      value: enc.encode("a supernova"),
      headers: [idHeader(uuid)],
    }]);
    const rows = async () => (await f.index.select({ topics: [topic] }, { limit: 10 })).length;

    await t.step("refused before any round trip", async () => {
      const calls = f.hopauth.calls.length;
      const many = Array.from({ length: 1001 }, (_, i) => `topic=t${i}`).join("&");
      const cases: [string, number, RegExp][] = [
        [`/messages?${many}`, 400, /Too many topics/],
        [`/messages/count?${many}`, 400, /Too many topics/],
        [`/messages?search_query=${"x".repeat(5000)}`, 400, /Query value too long/],
        [
          `/topic/${topic}?page=${encodeURIComponent(">i:1~i:1'; drop table messages; --")}`,
          400,
          /Invalid page bookmark/,
        ],
        [
          `/topic/${topic}?page=${encodeURIComponent("<i:99999999999999999999~i:1")}`,
          400,
          /Invalid page bookmark/,
        ],
        [`/messages?start_time=99999999999999999999`, 400, /Invalid time range/],
        [`/messages/count?end_time=-99999999999999999999`, 400, /Invalid time range/],
        [`/topic/${topic}?limit=abc`, 422, /int_parsing/],
        [`/messages?include_retracted=perhaps`, 422, /bool_parsing/],
      ];
      for (const [path, status, text] of cases) {
        const resp = await get(`${f.url}${path}`, { headers: { authorization: "SCRAM-SHA-512 data=eA==" } });
        assert.equal(resp.status, status, path.slice(0, 80));
        assert.match(resp.text, text, path.slice(0, 80));
      }
      assert.equal(f.hopauth.calls.length, calls, "no round trip to the permissions service");
    });

    // archive-api (Starlette behind uvicorn) decodes a path twice, so `%252B` reaches it as `+`; `serve` decodes
    // once, as RFC 3986 means: `%2B` is the `+` of `{topic}+oversized`, and `%252B` names `{topic}%2Boversized`,
    // which no topic can be. Decoding twice would let a second layer of escapes slip past whatever checked the
    // first (a proxy's path rules, say).
    await t.step(
      "a topic name encoded twice is decoded once: refused, never the topic it hides",
      async () => {
        const calls = f.hopauth.calls.length;
        const once = await get(`${f.url}/topic/${topic}%2Boversized?meta=true`);
        assert.equal(once.status, 200, once.text);
        assert.deepEqual(BSON.deserialize(once.body).messages, []);
        for (const method of ["GET", "POST"]) {
          const init: RequestInit = { method, headers: { authorization: "SCRAM-SHA-512 data=eA==" } };
          if (method === "POST") {
            init.body = Uint8Array.from(BSON.serialize({ message: new Uint8Array(1), headers: [] }));
          }
          const twice = await get(`${f.url}/topic/${topic}%252Boversized?meta=true`, init);
          assert.equal(twice.status, 400, `${method}: ${twice.text}`);
          assert.match(twice.text, /Invalid topic name/);
        }
        const listed = await get(`${f.url}/messages?meta=true&topic=${topic}%252Boversized`);
        assert.equal(listed.status, 200);
        assert.deepEqual(BSON.deserialize(listed.body).messages, []);
        assert.equal(f.hopauth.calls.length, calls, "no round trip to the permissions service");
        assert.equal(await rows(), 1);
      },
    );

    await t.step("search text and topic names reach PostgreSQL as values, not as SQL", async () => {
      for (const q of ["'); drop table messages; --", "\\", "a & | ! :* <->", "\u0000", "ü \ud83d\ude00"]) {
        const resp = await get(
          `${f.url}/messages/count?search_query=${encodeURIComponent(q)}&topic=${topic}`,
        );
        assert.equal(resp.status, q === "\u0000" ? 400 : 200, `${JSON.stringify(q)}: ${resp.text}`);
      }
      const odd = await get(`${f.url}/messages?meta=true&topic=${encodeURIComponent("x' or '1'='1")}`);
      assert.equal(odd.status, 200);
      assert.deepEqual(BSON.deserialize(odd.body).messages, []);
      assert.equal(await rows(), 1);
    });

    await t.step("HEAD is the GET without its body; wrong methods 405 with Allow", async () => {
      const head = await get(`${f.url}/msg/${uuid}`, { method: "HEAD" });
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
      assert.equal(head.headers.get("content-type"), "application/bson");
      const put = await get(`${f.url}/topics`, { method: "PUT", body: "x" });
      assert.equal(put.status, 405);
      assert.equal(put.headers.get("allow"), "GET");
      assert.deepEqual(JSON.parse(put.text), { detail: "Method Not Allowed" });
    });

    await t.step("a CORS origin that could split headers is never echoed", async () => {
      const resp = await get(`${f.url}/topics`, {
        method: "OPTIONS",
        headers: { origin: "https://a.example\u00ff", "access-control-request-method": "GET" },
      });
      assert.equal(resp.status, 400);
      assert.equal(resp.headers.get("access-control-allow-origin"), null);
    });

    await t.step("a full listing whose stored object changed is cut short, never completed", async () => {
      const whole = await get(`${f.url}/topic/${topic}`);
      assert.equal(whole.status, 200);
      assert.equal(BSON.deserialize(whole.body).messages.length, 1);
      const row = (await f.index.byUuid(uuid))!;
      const bytes = (await f.store.get(row.key))!;
      const bad = Uint8Array.from(bytes);
      bad[bad.length - 3] = bad[bad.length - 3]! ^ 0xff; // same length, another CRC-32
      await f.store.put(row.key, bad, crc32(bad));
      try {
        const resp = await fetch(`${f.url}/topic/${topic}`);
        assert.equal(resp.status, 200);
        await assert.rejects(resp.arrayBuffer(), "the body ends in an error, not in a whole wrong document");
      } finally {
        await f.store.put(row.key, bytes, crc32(bytes));
      }
    });

    await t.step("retraction without credentials is challenged; nothing changes", async () => {
      const resp = await get(`${f.url}/msg/${uuid}/retraction?retracted=true`, { method: "PUT" });
      assert.equal(resp.status, 401);
      assert.match(resp.headers.get("www-authenticate")!, /^SCRAM-SHA-512/);
      const row = await f.index.byUuid(uuid);
      assert.equal(row!.catalog?.retracted, false);
    });
  });
});
