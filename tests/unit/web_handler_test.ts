// The web pages' access rules and forms, against stand-ins for the index and hopauth: what a visitor without a
// token, with an unknown one and with a known one gets; CSRF refusals; sign-out ending the session.
import assert from "node:assert/strict";
import type { Browse, BrowseRow } from "../../lib/index/browse.ts";
import { silentLogger } from "../../lib/runtime/log.ts";
import { parsePublicTopics } from "../../lib/topics/public_topics.ts";
import { createWebPages } from "../../lib/web/handler.ts";
import type { AuthOutcome } from "../../lib/serve/hopauth.ts";

const BASE = "http://archive.test";

const outcome = (status: number): AuthOutcome =>
  status === 200
    ? { ok: true, headers: {}, user: "u", credential: null }
    : { ok: false, response: new Response("no", { status }) };

function pages(answer: (authorization: string, topic: string) => number, hits: BrowseRow[] = []) {
  const asked: string[] = [];
  const browse: Browse = {
    days: () => Promise.resolve([]),
    lastDay: () => Promise.resolve(null),
    page: () => Promise.resolve({ rows: [], older: null, newer: null }),
    bySender: () => Promise.resolve([]),
  };
  const web = createWebPages({
    index: { byUuid: () => Promise.resolve(null), topicStats: () => Promise.resolve([]) },
    browse,
    store: { get: () => Promise.resolve(null) },
    hopAuth: {
      authorize: (authorization, topic): Promise<AuthOutcome> => {
        asked.push(`${authorization} ${topic}`);
        return Promise.resolve(outcome(answer(authorization!, topic)));
      },
      authorizeReads: (authorization, topics) => {
        asked.push(`${authorization} ${topics.join(",")}`);
        return Promise.resolve(new Map(topics.map((t) => [t, outcome(answer(authorization!, t))])));
      },
    },
    publicTopics: parsePublicTopics("pub"),
    log: silentLogger,
    textSearch: () => Promise.resolve(hits.map((h) => ({ ...h, key: `k/${h.uuid}` }))),
  });
  const call = async (path: string, init: RequestInit = {}) => {
    const req = new Request(`${BASE}${path}`, {
      ...init,
      headers: { host: "archive.test", ...init.headers },
    });
    return (await web(req, new URL(req.url), () => Promise.reject(new Error("no API call"))))!;
  };
  const signIn = (token: string, headers: Record<string, string> = { origin: BASE }) =>
    call("/web/signin", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: `token=${encodeURIComponent(token)}`,
    });
  return { call, signIn, asked };
}

const cookieOf = (resp: Response) => resp.headers.get("set-cookie")!.split(";")[0]!;

Deno.test("web: a private topic needs a token; a known one reads what hopauth allows", async () => {
  const p = pages((auth, topic) => auth !== "Token good" ? 401 : topic === "mine" ? 200 : 404);
  assert.equal((await p.call("/web/topic/pub")).status, 200, "public: no token, no hopauth call");
  assert.equal(p.asked.length, 0);
  assert.equal((await p.call("/web/topic/mine")).status, 401);
  assert.equal((await p.signIn("bad")).status, 401, "an unknown token is refused");
  // hopauth answers a sub-request about its check topic with 404 (a topic it does not know): the token is known.
  const ok = await p.signIn("good");
  assert.equal(ok.status, 303);
  assert.match(ok.headers.get("set-cookie")!, /HttpOnly; SameSite=Strict/);
  const cookie = cookieOf(ok);
  assert.equal((await p.call("/web/topic/mine", { headers: { cookie } })).status, 200);
  assert.equal((await p.call("/web/topic/theirs", { headers: { cookie } })).status, 403);
  assert.ok(p.asked.every((a) => a.startsWith("Token ")), "hopauth sees the token as REST auth");
});

Deno.test("web: search results from many private topics: hopauth asked once, unreadable hits left out", async () => {
  const hit = (topic: string, i: number): BrowseRow => ({
    id: BigInt(i),
    uuid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    topic,
    timestamp: 0n,
    size: 10,
    valueSize: 10,
    sender: "s",
    format: "json",
    title: `hit ${i}`,
    retracted: false,
  });
  const topics = ["pub", "a", "b", "c", "a", "b", "secret"];
  const p = pages((_, topic) => topic === "secret" ? 403 : 200, topics.map(hit));
  const cookie = cookieOf(await p.signIn("good"));
  const before = p.asked.length;
  const page = await (await p.call("/web/search?q=word", { headers: { cookie } })).text();
  assert.deepEqual(
    p.asked.slice(before),
    ["Token good a,b,c,secret"],
    "one question for every private topic",
  );
  assert.match(page, /6 messages whose text matches/);
  assert.doesNotMatch(page, /hit 6/);
});

Deno.test("web: forms of another site are refused; sign-out needs the page's CSRF token", async () => {
  const p = pages(() => 403);
  assert.equal((await p.signIn("good", { origin: "http://evil.test" })).status, 403);
  assert.equal((await p.signIn("good", {})).status, 403, "no Origin and no Sec-Fetch-Site: refused");
  assert.equal((await p.signIn("good", { "sec-fetch-site": "same-origin" })).status, 303);
  const cookie = cookieOf(await p.signIn("good"));
  const page = await (await p.call("/", { headers: { cookie } })).text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
  const signOut = (body: string) =>
    p.call("/web/signout", {
      method: "POST",
      headers: { cookie, origin: BASE, "content-type": "application/x-www-form-urlencoded" },
      body,
    });
  assert.equal((await signOut("csrf=wrong")).status, 403);
  assert.equal((await p.call("/web/topic/x", { headers: { cookie } })).status, 403, "still signed in");
  assert.equal((await signOut(`csrf=${csrf}`)).status, 303);
  assert.equal((await p.call("/web/topic/x", { headers: { cookie } })).status, 401, "the session is gone");
});

Deno.test("web: pages are inert: CSP on every answer, hostile paths escaped", async () => {
  const p = pages(() => 401);
  for (
    const path of [
      "/",
      "/web/search?q=%3Cscript%3E",
      "/web/topic/%3Cscript%3E",
      "/web/message/x",
      "/web/nope",
    ]
  ) {
    const resp = await p.call(path);
    assert.match(resp.headers.get("content-security-policy")!, /script-src 'self'/, path);
    assert.equal(resp.headers.get("x-content-type-options"), "nosniff", path);
    assert.doesNotMatch(await resp.text(), /<script>/, path);
  }
  assert.equal(await p.call("/msg/x"), null, "API paths are not the pages'");
  assert.equal((await p.call("/web/topic/a", { method: "DELETE" })).status, 405);
});
