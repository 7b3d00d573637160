// The web pages over real services (MinIO, PostgreSQL, the hopauth stand-in), without a browser: search results'
// snippets made by PostgreSQL's ts_headline from the stored objects, hostile text in them escaped; the topics page
// asking hopauth once per page for every private topic, with the API's per-topic decisions; the message page's
// hop-client snippet run by hop-client's own Python.
import assert from "node:assert/strict";
import type { KafkaRecord } from "../../lib/format/record.ts";
import { createHopAuth, READS_PER_CALL } from "../../lib/serve/hopauth.ts";
import { silentLogger } from "../../lib/runtime/log.ts";
import { indexableText } from "../../lib/text/extract.ts";
import { idHeader, type ServeFixture, withServe } from "../support/serve_fixture.ts";
import { pythonBin } from "../support/helpers.ts";

const enc = new TextEncoder();
const TOKEN = "c0ffee-web-pages-token";

function jsonRecord(
  topic: string,
  offset: number,
  doc: unknown,
  extra: Partial<KafkaRecord> = {},
): KafkaRecord {
  return {
    topic,
    partition: 0,
    offset: BigInt(offset),
    timestamp: BigInt(Date.now()) - BigInt(offset) * 60_000n,
    key: null,
    value: enc.encode(JSON.stringify(doc)),
    headers: [idHeader(crypto.randomUUID()), { key: "_format", value: enc.encode("json") }],
    ...extra,
  };
}

/** Archives `records` and indexes their text as `archive --index-text` would. */
async function archiveIndexed(f: ServeFixture, records: KafkaRecord[]): Promise<string[]> {
  const uuids = await f.archive(records);
  await f.index.addText(
    records.map((r, i) => ({ uuid: uuids[i]!, text: indexableText(r.headers, r.value) })),
  );
  return uuids;
}

const unescape = (s: string) =>
  s.replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&quot;", '"').replaceAll("&#39;", "'")
    .replaceAll("&amp;", "&");

/** The excerpt row after the hit row of `uuid`, or null. */
function excerptOf(page: string, uuid: string): string | null {
  const at = page.indexOf(`/web/message/${uuid}"`);
  if (at < 0) return null;
  const rowEnd = page.indexOf("</tr>", at) + "</tr>".length;
  const m = /^\s*<tr class="excerpt">\s*<td colspan="\d+">\s*<p>(.*?)<\/p>/s.exec(page.slice(rowEnd));
  return m ? m[1]! : null;
}

Deno.test("web search: snippets from the stored objects, matched words marked, hostile text escaped", async () => {
  const topic = `wp${crypto.randomUUID().slice(0, 6)}.alerts`;
  await withServe({
    publicTopics: topic,
    auth: { users: {}, permissions: {} },
    tweaks: { web: true },
  }, async (f) => {
    const hostile = [
      // Markup, the markers ts_headline is given (U+0001, U+0002), a closing </mark> and an entity in the text.
      jsonRecord(topic, 0, {
        text:
          `GRB 251206A: bright optical afterglow <script>alert("hk-xss")</script> \u0001afterglow\u0002 ` +
          `</mark><img src=x onerror=alert(1)> &amp; <b onmouseover="alert(2)">afterglow</b> seen by Swift`,
      }),
      jsonRecord(topic, 1, {
        text: "An afterglow\u202e]kram/[ was <mark>not</mark> detected; the afterglow faded",
      }),
      // Too large to be read for a snippet: listed, without one.
      jsonRecord(topic, 2, { text: `afterglow ${"x ".repeat(600_000)}` }),
    ];
    const [first, second, large] = await archiveIndexed(f, hostile);
    const resp = await fetch(`${f.url}/web/search?q=afterglow`);
    assert.equal(resp.status, 200);
    const page = await resp.text();
    for (const uuid of [first!, second!, large!]) assert.ok(page.includes(uuid), `hit ${uuid} listed`);

    const one = excerptOf(page, first!);
    const two = excerptOf(page, second!);
    assert.ok(one !== null && two !== null, "the readable hits have a snippet");
    assert.equal(excerptOf(page, large!), null, "an object over the bound gets no snippet");
    for (const excerpt of [one, two]) {
      // Only <mark> and the escaper's own control-character marks are markup; every <mark> holds a matched word.
      const tags = excerpt.match(/<[^>]*>/g) ?? [];
      assert.ok(tags.every((t) => /^<\/?mark>$|^<span class="ctl">$|^<\/span>$/.test(t)), tags.join(" "));
      const marked = [...excerpt.matchAll(/<mark>(.*?)<\/mark>/g)].map((m) => m[1]!.toLowerCase());
      assert.ok(marked.length > 0 && marked.every((w) => w === "afterglow"), marked.join(","));
      assert.equal(excerpt.match(/<mark>/g)!.length, excerpt.match(/<\/mark>/g)!.length);
      assert.ok(!excerpt.includes("\u0001") && !excerpt.includes("\u0002"), "no marker reaches the page");
    }
    assert.ok(unescape(one).includes("bright optical"), one);
    // The right-to-left override is shown as a code point, never obeyed.
    assert.match(two, /<span class="ctl">U\+202E<\/span>/);
    const live = page.match(/<(script|img)\b[^>]*>|<[a-z][^>]*\son\w+=[^>]*>/gi) ?? [];
    assert.deepEqual(live, [`<script src="/web/app.js" defer>`], "no tag or handler of the texts is live");
  });
});

Deno.test("web topics page: one hopauth call for every private topic, decided as the API decides", async () => {
  const prefix = `wp${crypto.randomUUID().slice(0, 6)}.`;
  const count = READS_PER_CALL + 20;
  const topics = Array.from({ length: count }, (_, i) => `${prefix}p${String(i).padStart(3, "0")}`);
  // Read, All, Write only, and (every fourth) nothing at all for this user.
  const grants = ["Read", "All", "Write"];
  const permissions = Object.fromEntries(
    topics.filter((_, i) => i % 4 !== 3).map((t, i) => [t, [grants[i % 3]!]]),
  );
  await withServe({
    publicTopics: `${prefix}open`,
    auth: { users: {}, permissions: { alice: permissions }, tokens: { [TOKEN]: "alice" } },
    tweaks: { web: true },
  }, async (f) => {
    await f.archive([...topics, `${prefix}open`].map((t) => jsonRecord(t, 0, { t })));
    const signIn = await fetch(`${f.url}/web/signin`, {
      method: "POST",
      headers: { origin: f.url, "content-type": "application/x-www-form-urlencoded" },
      body: `token=${TOKEN}`,
      redirect: "manual",
    });
    assert.equal(signIn.status, 303);
    await signIn.body?.cancel();
    const cookie = signIn.headers.get("set-cookie")!.split(";")[0]!;

    const before = f.hopauth.calls.length;
    const page = await (await fetch(`${f.url}/`, { headers: { cookie } })).text();
    const calls = f.hopauth.calls.length - before;
    assert.equal(calls, Math.ceil(count / READS_PER_CALL), `hopauth calls for ${count} private topics`);

    // The API's check, one topic at a time: the page shows exactly the topics it allows.
    const api = createHopAuth({ url: f.hopauth.url, realm: "tests", log: silentLogger });
    const allowed = new Set<string>();
    for (const t of topics) {
      const outcome = await api.authorize(`Token ${TOKEN}`, t, "Read");
      if (outcome.ok) allowed.add(t);
      else await outcome.response.body?.cancel();
    }
    assert.ok(allowed.size > 0 && allowed.size < count, "some topics readable, some not");
    const shown = new Set(topics.filter((t) => page.includes(`>${t}</a>`)));
    assert.deepEqual(shown, allowed);
    assert.ok(page.includes(`>${prefix}open</a>`), "the public topic is listed");

    // Without a session, no call at all: the public topic only.
    const anonymous = f.hopauth.calls.length;
    const open = await (await fetch(`${f.url}/`)).text();
    assert.equal(f.hopauth.calls.length, anonymous);
    assert.ok(open.includes(`>${prefix}open</a>`) && !topics.some((t) => open.includes(`>${t}</a>`)));
  });
});

/** The message page's hop-client snippet, as the page shows it (unescaped), run in `dir` by hop-client's Python. */
async function runSnippet(f: ServeFixture, uuid: string, env: Record<string, string>, cookie?: string) {
  const page = await (await fetch(`${f.url}/web/message/${uuid}`, cookie ? { headers: { cookie } } : {}))
    .text();
  const m = /<pre id="snippet" tabindex="0">(.*?)<\/pre>/s.exec(page);
  assert.ok(m, "the message page has the snippet");
  const code = unescape(m[1]!);
  assert.ok(code.includes(`url = "${f.url}/msg/${uuid}"`), code);
  const dir = env.DIR!;
  await Deno.writeTextFile(`${dir}/snippet.py`, code);
  const out = await new Deno.Command(pythonBin(), {
    args: ["snippet.py"],
    cwd: dir,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `the snippet runs:\n${code}\n${stderr}`);
  return new TextDecoder().decode(out.stdout);
}

Deno.test("web message page: its hop-client snippet fetches the message, public and with a hop credential", async () => {
  const prefix = `wp${crypto.randomUUID().slice(0, 6)}.`;
  await withServe({
    publicTopics: `${prefix}open`,
    auth: {
      users: { alice: "alice-password" },
      permissions: { alice: { [`${prefix}closed`]: ["Read"] } },
      tokens: { [TOKEN]: "alice" },
    },
    tweaks: { web: true },
  }, async (f) => {
    const records = [
      jsonRecord(`${prefix}open`, 0, { event: "GRB 251206A", ra: 12.5 }),
      jsonRecord(`${prefix}closed`, 0, { event: "S251206x", far: 1e-9 }),
    ];
    const [open, closed] = await f.archive(records);
    const home = await Deno.makeTempDir({ prefix: "hk-web-snippet-" });
    try {
      const env = {
        DIR: home,
        HOME: home,
        XDG_CONFIG_HOME: `${home}/.config`,
        PATH: Deno.env.get("PATH") ?? "",
      };
      const printed = await runSnippet(f, open!, env);
      assert.match(printed, /^JSONBlob/, "hop-client's Deserializer read it as `hop subscribe` would");
      assert.deepEqual(await Deno.readFile(`${home}/${open}.json`), records[0]!.value);

      // A private topic: the credential `hop auth add` keeps in auth.toml, spoken as SCRAM by hop-client.
      await Deno.mkdir(`${home}/.config/hop`, { recursive: true });
      await Deno.writeTextFile(
        `${home}/.config/hop/auth.toml`,
        `auth = [{ username = "alice", password = "alice-password", protocol = "SASL_PLAINTEXT", ` +
          `mechanism = "SCRAM_SHA_512" }]\n`,
        { mode: 0o600 },
      );
      const signIn = await fetch(`${f.url}/web/signin`, {
        method: "POST",
        headers: { origin: f.url, "content-type": "application/x-www-form-urlencoded" },
        body: `token=${TOKEN}`,
        redirect: "manual",
      });
      await signIn.body?.cancel();
      const cookie = signIn.headers.get("set-cookie")!.split(";")[0]!;
      const scramBefore = f.hopauth.calls.filter((c) => c.phase === "final" && c.status === 200).length;
      await runSnippet(f, closed!, env, cookie);
      assert.deepEqual(await Deno.readFile(`${home}/${closed}.json`), records[1]!.value);
      assert.ok(
        f.hopauth.calls.filter((c) => c.phase === "final" && c.status === 200).length > scramBefore,
        "the snippet authenticated with SCRAM",
      );
    } finally {
      await Deno.remove(home, { recursive: true });
    }
  });
});
