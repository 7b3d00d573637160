// The archive in a real browser (issue 25): Debian's Chromium opens `serve`'s pages over real MinIO, PostgreSQL
// and the hopauth stand-in, with mock-hop traffic (the default mix and the hostile-markup case). Any console
// error, page error or dialog fails the test; so does a script that runs. Set HK_WEB_SCREENSHOTS to a folder
// (docs/screenshots) to keep a light wide and a phone-width screenshot of each page.
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import type { KafkaRecord } from "../../lib/format/record.ts";
import { resolveCases } from "../../lib/mock/cases.ts";
import { generateRecords } from "../../lib/mock/generate.ts";
import { FORMAT_TOPICS } from "../../lib/mock/messages.ts";
import { defaultTestdataDir, loadSamples } from "../../lib/mock/samples.ts";
import { COMPRESSIONS } from "../../lib/mock/types.ts";
import { indexableText } from "../../lib/text/extract.ts";
import { idHeader, type ServeFixture, withServe } from "../support/serve_fixture.ts";
import { schemaSql } from "../support/archive_helpers.ts";
import { watch, type Watched, withBrowser } from "../support/browser.ts";

const enc = new TextEncoder();
const TOKEN = "a1b2c3d4e5f6-hop-token";
const SHOTS = Deno.env.get("HK_WEB_SCREENSHOTS");
/** Turns a hang into a failure; no test here waits on time otherwise. */
const GUARD_MS = 60_000;

interface Archive {
  prefix: string;
  publicTopics: string[];
  privateTopic: string;
  /** uuid -> the record archived under it. */
  records: Map<string, KafkaRecord>;
  /** Records of the hostile-markup case. */
  hostile: string[];
}

/** mock-hop's default mix and its hostile-markup case, plus a private topic; archived as `archive` would. */
async function archiveTraffic(f: ServeFixture, prefix: string): Promise<Archive> {
  const samples = await loadSamples(defaultTestdataDir());
  const base = {
    seed: 25,
    topicPrefix: prefix,
    partitions: 1,
    baseTime: BigInt(Date.now()) - 6n * 86_400_000n,
    timeStepMs: 3_000_000n,
    maxValueBytes: 64 * 1024,
    sender: "mock-hop.web",
    compressions: [...COMPRESSIONS],
  };
  const mixed = generateRecords({ ...base, cases: resolveCases(["default"]) }, samples, 160);
  const hostile = generateRecords({ ...base, seed: 26, cases: ["markup-hostile"] }, samples, 6);
  const offsets = new Map<string, bigint>();
  const toRecord = (m: (typeof mixed)[number]): KafkaRecord => {
    const offset = offsets.get(m.topic) ?? 0n;
    offsets.set(m.topic, offset + 1n);
    return {
      topic: m.topic,
      partition: 0,
      offset,
      timestamp: m.timestamp,
      key: m.key,
      value: m.value,
      headers: m.headers.map((h) => ({ key: new TextDecoder().decode(h.key), value: h.value })),
    };
  };
  const privateTopic = `${prefix}private.alerts`;
  const secret: KafkaRecord[] = Array.from({ length: 3 }, (_, i) => ({
    topic: privateTopic,
    partition: 0,
    offset: BigInt(i),
    timestamp: BigInt(Date.now()) - BigInt(i) * 3_600_000n,
    key: null,
    value: enc.encode(JSON.stringify({ secret: `private alert ${i}` })),
    headers: [idHeader(crypto.randomUUID()), { key: "_format", value: enc.encode("json") }],
  }));
  const all = [...mixed.map(toRecord), ...hostile.map(toRecord), ...secret];
  await f.ingest.write(await f.ingest.claim(all));
  const records = new Map<string, KafkaRecord>();
  const hostileUuids: string[] = [];
  const topics = [...new Set(all.map((r) => r.topic))];
  const rows = await f.index.select({ topics }, { limit: 10_000 });
  for (const row of rows) {
    const r = all.find((x) => x.topic === row.topic && x.offset === row.offset)!;
    records.set(row.uuid, r);
    if (hostile.some((h) => h.topic === r.topic && toOffset(hostile, h, mixed) === r.offset)) {
      hostileUuids.push(row.uuid);
    }
  }
  const publicTopics = [...new Set(Object.values(FORMAT_TOPICS))].map((t) => `${prefix}${t}`);
  return { prefix, publicTopics, privateTopic, records, hostile: hostileUuids };
}

/** The offset `h` (a hostile record) was given: after every mixed record of its topic, in order. */
function toOffset<T extends { topic: string }>(hostile: T[], h: T, mixed: { topic: string }[]): bigint {
  const before = mixed.filter((m) => m.topic === h.topic).length;
  return BigInt(before + hostile.filter((x) => x.topic === h.topic).indexOf(h));
}

/** Opens `url`; a refusal that was asked for (expectStatus) is the one console error Chromium may log. */
async function open(w: Watched, url: string, expectStatus = 200): Promise<void> {
  const resp = await w.page.goto(url, { waitUntil: "load", timeout: GUARD_MS });
  assert.equal(resp?.status(), expectStatus, `${url}: status`);
  if (expectStatus !== 200) {
    const expected =
      `console error: Failed to load resource: the server responded with a status of ${expectStatus}`;
    assert.ok(w.problems.every((p) => p.startsWith(expected)), w.problems.join("\n"));
    w.problems.splice(0);
  }
  await assertClean(w, url);
}

async function assertClean(w: Watched, where: string): Promise<void> {
  const ran = await w.page.evaluate(() =>
    (globalThis as unknown as { __hkScriptRan?: boolean }).__hkScriptRan
  );
  assert.equal(ran, undefined, `${where}: a script of the archived content ran`);
  assert.deepEqual(w.problems, [], `${where}: console errors, page errors or dialogs`);
}

async function shoot(w: Watched, name: string): Promise<void> {
  if (SHOTS === undefined) return;
  await Deno.mkdir(SHOTS, { recursive: true });
  await w.page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "light" }]);
  await w.page.setViewport({ width: 1280, height: 900 });
  await w.page.screenshot({ path: `${SHOTS}/${name}-wide.png` });
  await w.page.setViewport({ width: 390, height: 844 });
  await w.page.screenshot({ path: `${SHOTS}/${name}-phone.png` });
  await w.page.setViewport({ width: 1280, height: 900 });
}

async function text(page: Page): Promise<string> {
  return await page.evaluate("document.body.innerText") as string;
}

async function links(page: Page, selector: string): Promise<string[]> {
  return await page.$$eval(selector, (as) => as.map((a) => (a as unknown as { href: string }).href));
}

function serveWeb(fn: (f: ServeFixture, a: Archive) => Promise<void>) {
  const prefix = `w${crypto.randomUUID().slice(0, 6)}.`;
  const publicList = [...new Set(Object.values(FORMAT_TOPICS))].map((t) => `${prefix}${t}`).join(",");
  return withServe({
    publicTopics: publicList,
    auth: {
      users: {},
      permissions: { alice: { [`${prefix}private.alerts`]: ["Read"] } },
      tokens: { [TOKEN]: "alice" },
    },
    tweaks: { web: true },
  }, async (f) => await fn(f, await archiveTraffic(f, prefix)));
}

Deno.test("web: topics, a topic, a message, its raw value downloaded byte for byte, search, paging", async () => {
  await serveWeb(async (f, a) => {
    await withBrowser(async (browser) => {
      const w = await watch(browser);
      await open(w, `${f.url}/`);
      const topics = await text(w.page);
      for (const t of a.publicTopics.filter((t) => [...a.records.values()].some((r) => r.topic === t))) {
        assert.ok(topics.includes(t), `the topics page lists ${t}`);
      }
      assert.ok(
        !topics.includes(a.privateTopic),
        "a private topic is not listed to a visitor without a token",
      );
      assert.equal((await w.page.$$("figure.chart svg rect.bar")).length > 0, true, "the chart has bars");
      await shoot(w, "topics");

      // Follow the busiest public topic by its link, as a person would (keyboard: focus it and press Enter).
      const counts = new Map<string, number>();
      for (const r of a.records.values()) counts.set(r.topic, (counts.get(r.topic) ?? 0) + 1);
      const busiest = a.publicTopics.sort((x, y) => (counts.get(y) ?? 0) - (counts.get(x) ?? 0))[0]!;
      await w.page.focus(`a[href="/web/topic/${encodeURIComponent(busiest)}"]`);
      await Promise.all([w.page.waitForNavigation({ timeout: GUARD_MS }), w.page.keyboard.press("Enter")]);
      await assertClean(w, "topic page");
      assert.match(await w.page.title(), new RegExp(busiest.replaceAll(".", "\\.")));
      await shoot(w, "topic");

      // Paging: newest first, through every row of the topic once, by the Older links, then back by Newer.
      const seen: string[] = [];
      for (let pages = 0; pages < 20; pages++) {
        seen.push(...(await links(w.page, "td.uuid a")).map((h) => h.split("/").pop()!));
        const older = await w.page.$("a[rel=next]");
        if (older === null) break;
        await Promise.all([w.page.waitForNavigation({ timeout: GUARD_MS }), older.click()]);
        await assertClean(w, "older page");
      }
      const expected = [...a.records.entries()].filter(([, r]) => r.topic === busiest)
        .sort(([u1, r1], [u2, r2]) =>
          (r2.timestamp > r1.timestamp ? 1 : r2.timestamp < r1.timestamp ? -1 : 0) ||
          u1.localeCompare(u2)
        ).map(([u]) => u);
      assert.equal(seen.length, expected.length, "every message once");
      assert.deepEqual(new Set(seen), new Set(expected));
      assert.ok(counts.get(busiest)! > 50, "the topic has more than one page");
      const newer = await w.page.$("a[rel=prev]");
      assert.ok(newer !== null, "the last page links back to newer messages");
      await Promise.all([w.page.waitForNavigation({ timeout: GUARD_MS }), newer.click()]);
      await assertClean(w, "newer page");

      // A message with a JSON value: its page, then its raw value downloaded through the browser.
      const [uuid, record] = [...a.records.entries()].find(([, r]) =>
        a.publicTopics.includes(r.topic) && r.value !== null && r.value.length > 0 &&
        r.headers.some((h) => h.key === "_format" && new TextDecoder().decode(h.value!) === "json")
      )!;
      // Retracted (the index's flag, which archive-api's retraction route sets): the message page says so.
      await setRetracted(f, uuid);
      await open(w, `${f.url}/web/message/${uuid}`);
      const page = await text(w.page);
      assert.match(page, /Its sender retracted this message/);
      assert.ok(page.includes(uuid) && page.includes(record.topic));
      assert.ok(page.includes("Headers, in wire order"));
      await shoot(w, "message");
      const downloads = await Deno.makeTempDir({ prefix: "hk-web-dl-" });
      try {
        const cdp = await w.page.createCDPSession();
        await cdp.send("Browser.setDownloadBehavior", { behavior: "allow", downloadPath: downloads });
        await w.page.click("p.downloads a");
        const name = `${uuid}.json`;
        const got = await poll(async () => {
          try {
            return await Deno.readFile(`${downloads}/${name}`);
          } catch {
            return null;
          }
        });
        assert.deepEqual(got, record.value, "the downloaded raw value is the archived value, byte for byte");
      } finally {
        await Deno.remove(downloads, { recursive: true });
      }
      await assertClean(w, "download");

      // Search: the box on every page; a sender lists its messages, a UUID opens its message.
      await w.page.type("#q", "mock-hop.web");
      await Promise.all([w.page.waitForNavigation({ timeout: GUARD_MS }), w.page.keyboard.press("Enter")]);
      await assertClean(w, "search");
      assert.ok((await links(w.page, "td.uuid a")).length > 0, "the sender's messages are found");
      // Text search (websearch_to_tsquery over message_ts, as archive-api): the text of one message indexed here.
      const sql = schemaSql(f.schema);
      try {
        await sql`insert into message_ts (uuid, text_data, text_fully_indexed)
          values (${uuid}, to_tsvector('GRB 251206A: bright optical afterglow'), true)`;
      } finally {
        await sql.end();
      }
      await w.page.click("#q", { count: 3 });
      await w.page.type("#q", "optical afterglow -retraction");
      await Promise.all([w.page.waitForNavigation({ timeout: GUARD_MS }), w.page.keyboard.press("Enter")]);
      await assertClean(w, "text search");
      assert.deepEqual((await links(w.page, "td.uuid a")).map((h) => h.split("/").pop()), [uuid]);
      assert.match(await text(w.page), /1 message whose text matches/);
      // Every message's own text indexed (as `archive --index-text` does): hits with snippets, words marked.
      await indexTexts(f, a, [...a.records.keys()]);
      await w.page.click("#q", { count: 3 });
      await w.page.type("#q", "Fermi GBM");
      await Promise.all([w.page.waitForNavigation({ timeout: GUARD_MS }), w.page.keyboard.press("Enter")]);
      await assertClean(w, "search with snippets");
      assert.ok((await w.page.$$("tr.excerpt")).length > 0, "hits have snippets");
      const marked = await w.page.$$eval(
        "tr.excerpt mark",
        (m) => m.map((e) => e.textContent!.toLowerCase()),
      );
      assert.ok(marked.length > 0 && marked.every((m) => m === "fermi" || m === "gbm"), marked.join(","));
      await shoot(w, "search");
      // Narrowed to another topic, the same words find nothing (and the sender fallback neither).
      await w.page.type("form.range input[name=topic]", "some.other.topic");
      await Promise.all([w.page.waitForNavigation({ timeout: GUARD_MS }), w.page.keyboard.press("Enter")]);
      await assertClean(w, "narrowed search");
      assert.equal((await links(w.page, "td.uuid a")).length, 0);
      await w.page.click("#q", { count: 3 });
      await w.page.type("#q", uuid.toUpperCase());
      await Promise.all([w.page.waitForNavigation({ timeout: GUARD_MS }), w.page.keyboard.press("Enter")]);
      assert.ok(w.page.url().endsWith(`/web/message/${uuid}`), "a UUID opens its message");
      await assertClean(w, "search by uuid");
    });
  });
});

Deno.test("web: hostile markup in keys, titles, headers and values is shown as text; no script runs", async () => {
  await serveWeb(async (f, a) => {
    assert.ok(a.hostile.length >= 3, "the hostile-markup case was archived");
    await withBrowser(async (browser) => {
      const w = await watch(browser);
      for (const uuid of a.hostile) {
        await open(w, `${f.url}/web/message/${uuid}`);
        const shown = await text(w.page);
        assert.ok(shown.includes(`<script>alert("hk-xss")</script>`) || shown.includes("hk-xss"), uuid);
        assert.equal(
          await w.page.$$eval(
            "main script, main img, main svg:not(figure svg), main iframe, main style",
            (e) => e.length,
          ),
          0,
        );
      }
      await shoot(w, "hostile");
      const topic = a.records.get(a.hostile[0]!)!.topic;
      await open(w, `${f.url}/web/topic/${encodeURIComponent(topic)}`);
      await open(w, `${f.url}/web/search?q=${encodeURIComponent(`<script>alert("hk-xss")</script>`)}`);
      // Their texts indexed: hostile markup in the snippets of a search is text too.
      await indexTexts(f, a, a.hostile);
      await open(w, `${f.url}/web/search?q=${encodeURIComponent("alert hk-xss")}`);
      assert.ok((await w.page.$$("tr.excerpt")).length > 0, "the hostile messages' snippets are shown");
      assert.equal(await w.page.$$eval("tr.excerpt *:not(mark, span.ctl, p, td)", (e) => e.length), 0);
      await open(w, `${f.url}/web/topic/${encodeURIComponent(`<script>`)}`, 400);
    });
  });
});

Deno.test("web: a private topic needs a token; sign-in keeps it server-side; sign-out ends it", async () => {
  await serveWeb(async (f, a) => {
    const [uuid, record] = [...a.records.entries()].find(([, r]) => r.topic === a.privateTopic)!;
    await withBrowser(async (browser) => {
      const w = await watch(browser);
      const expectRefusal = (url: string, status: number) => open(w, url, status);
      await expectRefusal(`${f.url}/web/topic/${a.privateTopic}`, 401);
      assert.match(await text(w.page), /not public/);
      await expectRefusal(`${f.url}/web/message/${uuid}`, 401);
      await expectRefusal(`${f.url}/web/download/${uuid}/raw`, 401);

      // A wrong token is refused; the right one signs in.
      await open(w, `${f.url}/web/signin`);
      await shoot(w, "signin");
      await w.page.type("#token", "not-a-token");
      await Promise.all([w.page.waitForNavigation({ timeout: GUARD_MS }), w.page.keyboard.press("Enter")]);
      assert.match(await text(w.page), /does not know this token/);
      w.problems.splice(0); // the 401 of the refused sign-in
      await w.page.type("#token", TOKEN);
      await Promise.all([w.page.waitForNavigation({ timeout: GUARD_MS }), w.page.keyboard.press("Enter")]);
      await assertClean(w, "signed in");
      assert.ok((await text(w.page)).includes(a.privateTopic), "signed in, the private topic is listed");
      const cookies = await browser.cookies();
      const session = cookies.find((c) => c.name === "hk_session")!;
      assert.equal(session.httpOnly, true);
      assert.equal(session.sameSite, "Strict");
      assert.ok(!session.value.includes(TOKEN));
      assert.equal(await w.page.evaluate("document.cookie"), "", "no script can read the session");

      await open(w, `${f.url}/web/topic/${a.privateTopic}`);
      assert.match(await text(w.page), /private\.alerts/);
      await open(w, `${f.url}/web/message/${uuid}`);
      const html = await w.page.content();
      assert.ok(!html.includes(TOKEN), "the token is never in a page");
      assert.match(await text(w.page), /private alert/);
      // The download of a private message: serve's /msg route with the session's token, the cookie alone.
      const viaServer = await fetch(`${f.url}/web/download/${uuid}/raw`, {
        headers: { cookie: `hk_session=${session.value}` },
      });
      assert.equal(viaServer.status, 200);
      assert.deepEqual(new Uint8Array(await viaServer.arrayBuffer()), record.value);

      // Sign out: the session is gone on the server, not just in this browser.
      await open(w, `${f.url}/`);
      await Promise.all([
        w.page.waitForNavigation({ timeout: GUARD_MS }),
        w.page.click("form[action='/web/signout'] button"),
      ]);
      await assertClean(w, "signed out");
      assert.ok(!(await text(w.page)).includes(a.privateTopic));
      const stale = await fetch(`${f.url}/web/topic/${a.privateTopic}`, {
        headers: { cookie: `hk_session=${session.value}` },
      });
      assert.equal(stale.status, 401);
      await stale.body?.cancel();
      // A form posted from another site is refused (CSRF).
      const forged = await fetch(`${f.url}/web/signin`, {
        method: "POST",
        headers: { origin: "http://evil.example", "content-type": "application/x-www-form-urlencoded" },
        body: `token=${TOKEN}`,
        redirect: "manual",
      });
      assert.equal(forged.status, 403);
      assert.equal(forged.headers.get("set-cookie"), null);
      await forged.body?.cancel();
    });
  });
});

/** The messages' text indexed as `archive --index-text` would (rows that have text already are left as they are). */
async function indexTexts(f: ServeFixture, a: Archive, uuids: string[]): Promise<void> {
  await f.index.addText(uuids.map((uuid) => {
    const r = a.records.get(uuid)!;
    return { uuid, text: indexableText(r.headers, r.value) };
  }));
}

async function setRetracted(f: ServeFixture, uuid: string): Promise<void> {
  const sql = schemaSql(f.schema);
  try {
    await sql`update messages set retracted = true where uuid = ${uuid}`;
  } finally {
    await sql.end();
  }
}

async function poll<T>(fn: () => Promise<T | null>): Promise<T> {
  const until = Date.now() + GUARD_MS;
  while (Date.now() < until) {
    const got = await fn();
    if (got !== null) return got;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("gave up waiting (a hang, not a slow answer)");
}
