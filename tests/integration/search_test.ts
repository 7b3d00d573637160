// `archive --index-text` then `search`, end to end: real GCN circulars produced by confluent-kafka, archived by the
// real `archive` child process, found by their words; the text stored is archive-core's own (its fixture).
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { parseSearchArgs } from "../../lib/commands/search.ts";
import { indexableText } from "../../lib/text/extract.ts";
import { hopHeaders, hopUuid, runInProcess, withArchive } from "../support/admin_fixture.ts";
import { runMain } from "../support/archive_helpers.ts";
import { startHopAuthStandIn } from "../support/hopauth_standin.ts";

interface Fixture {
  name: string;
  headers: [string, string | null][];
  value: string;
  text: string;
}

const FIXTURES = new URL("../testdata/indexable_text/fixtures.json", import.meta.url);
const { fixtures } = JSON.parse(await Deno.readTextFile(FIXTURES)) as { fixtures: Fixture[] };
const fixture = (name: string) => fixtures.find((f) => f.name === name)!;
const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, "base64"));
const T0 = Date.UTC(2024, 0, 17);

Deno.test("search: argument parsing", () => {
  const now = BigInt(T0);
  const o = parseSearchArgs(
    ["GRB", "221009A", "--topic", "a", "--since", "2024-01-17", "--limit", "5"],
    {},
    now,
  );
  assert.equal(o.query, "GRB 221009A");
  assert.deepEqual(o.filter, { topics: ["a"], since: now });
  assert.equal(o.limit, 5);
  assert.equal(parseSearchArgs(["x"], {}, now).limit, 20);
  const usage = (f: () => unknown) => assert.throws(f, (x: Error & { code?: string }) => x.code === "USAGE");
  usage(() => parseSearchArgs([], {}, now));
  usage(() => parseSearchArgs(["  "], {}, now));
  usage(() => parseSearchArgs(["x".repeat(1001)], {}, now));
  usage(() => parseSearchArgs(["x", "--since", "2024-01-18", "--until", "2024-01-17"], {}, now));
  usage(() => parseSearchArgs(["x", "--limit", "0"], {}, now));
});

Deno.test("archive --index-text then search: a circular's words find it; unindexed topics stay unfound", async () => {
  await withArchive("search", { backend: "fs", topics: ["circulars", "other"] }, async (a) => {
    const [circulars, other] = a.topics as [string, string];
    const gcn3 = fixture("circular: hop-client/example.gcn3");
    const grb = fixture("circular: gcn-notices/circulars.example.json");
    const notice = fixture("gcntextnotice: hop-client/example_gcn.txt");
    const own = gcn3.headers.map(([k, v]) =>
      [k, v === null ? null : bytes(v)] as [string, Uint8Array | null]
    );
    await a.produce(circulars, [
      // Exactly the record of archive-core's fixture: what it indexed is what we must index.
      { value: bytes(gcn3.value), headers: own, timestamp: T0 },
      { value: bytes(grb.value), headers: hopHeaders(2, "alice", "circular"), timestamp: T0 + 1000 },
      { value: bytes(notice.value), headers: hopHeaders(3, "alice", "gcntextnotice"), timestamp: T0 + 2000 },
    ]);
    // The same circular on a topic whose text is not indexed.
    await a.produce(other, [{
      value: bytes(gcn3.value),
      headers: hopHeaders(4, "bob", "circular"),
      timestamp: T0,
    }]);
    const archived = await runMain(["archive", "--until-end", ...a.flags, "--index-text", circulars], a.env);
    assert.equal(archived.code, 0, archived.stderr);

    const search = async (...argv: string[]) => {
      const r = await a.run(["search", ...argv, "--json"]);
      assert.equal(r.code, 0, r.stdout);
      return r.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l));
    };
    const gcn3Uuid = (await a.sql<{ uuid: string }[]>`
      select uuid::text as uuid from messages where topic = ${circulars} and timestamp = ${T0}`)[0]!.uuid;

    const hits = await search("S200129m");
    assert.deepEqual(hits.map((h) => [h.uuid, h.topic]), [[gcn3Uuid, circulars]]);
    assert.ok(hits[0].rank > 0);
    assert.deepEqual((await search('"GRB 230410A"')).map((h) => h.uuid), [hopUuid(2)]);
    // Both circulars say GBM; the notice does not; the copy on the other topic is not indexed.
    assert.deepEqual((await search("GBM")).map((h) => h.uuid).sort(), [gcn3Uuid, hopUuid(2)].sort());
    assert.deepEqual(await search("GBM", "--topic", other), []);
    assert.deepEqual((await search("GBM -S200129m")).map((h) => h.uuid), [hopUuid(2)]);
    assert.deepEqual((await search("IceCube")).map((h) => h.uuid), [hopUuid(3)], "a GCN text notice");
    assert.deepEqual((await search("GBM", "--limit", "1")).length, 1);
    assert.deepEqual(await search("GBM", "--since", String(T0 + 1500)), []);

    const table = await a.run(["search", "GBM"]);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /^ *RANK +TIME +TOPIC +UUID +TITLE \/ TYPE\n/);
    assert.match(table.stdout, /\n2 of 2 matching messages\n$/);
    assert.match((await a.run(["search", "nothing-like-this"])).stdout, /\n0 of 0 matching messages\n$/);

    // The stored vector is archive-core's: to_tsvector of its own get_indexable_text output for this record.
    const [same] = await a.sql<{ same: boolean; full: boolean }[]>`
      select text_data = to_tsvector(${gcn3.text}) as same, text_fully_indexed as full
      from message_ts where uuid = ${gcn3Uuid}::uuid`;
    assert.deepEqual({ ...same }, { same: true, full: true });
    const [rows] = await a.sql<{ n: bigint }[]>`select count(*) as n from message_ts`;
    assert.equal(Number(rows!.n), 3, "one text per indexed message, none for the other topic");
    assert.equal(
      indexableText(own.map(([key, value]) => ({ key, value })), bytes(gcn3.value)).text,
      gcn3.text,
    );
  });
});

Deno.test("db index-text fills message_ts of an archive made with indexing off; resumable, from the objects", async () => {
  await withArchive("backfill", { backend: "s3", topics: ["circulars", "other"] }, async (a) => {
    const [circulars, other] = a.topics as [string, string];
    const gcn3 = fixture("circular: hop-client/example.gcn3");
    const grb = fixture("circular: gcn-notices/circulars.example.json");
    const own = gcn3.headers.map(([k, v]) =>
      [k, v === null ? null : bytes(v)] as [string, Uint8Array | null]
    );
    await a.produce(circulars, [
      { value: bytes(gcn3.value), headers: own, timestamp: T0 },
      { value: bytes(grb.value), headers: hopHeaders(2, "alice", "circular"), timestamp: T0 + 1000 },
      { value: bytes(grb.value), headers: hopHeaders(3, "alice", "circular"), timestamp: T0 + 2000 },
    ]);
    await a.produce(other, [{
      value: bytes(gcn3.value),
      headers: hopHeaders(4, "bob", "circular"),
      timestamp: T0,
    }]);
    await a.archive(); // no --index-text
    const uuids = async (query: string) => {
      const r = await a.run(["search", query, "--json"]);
      assert.equal(r.code, 0, r.stdout);
      return r.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l).uuid).sort();
    };
    assert.deepEqual(await uuids("GBM"), [], "nothing indexed yet");

    const backfill = async (...argv: string[]) => {
      const r = await a.run(["db", "index-text", "--index-text", circulars, "--batch", "1", ...argv]);
      return { code: r.code, ...JSON.parse(r.stdout.trim()), progress: r.stderr };
    };
    // One object is gone: its row stays without text, and the run says so.
    const [lost] = await a.sql<{ key: string }[]>`select key from messages where uuid = ${hopUuid(3)}::uuid`;
    const kept = (await a.store.get(lost!.key))!;
    await a.removeObject(lost!.key);
    const first = await backfill();
    assert.deepEqual([first.code, first.topics, first.indexed, first.failed], [1, [circulars], 2, 1]);
    assert.match(first.progress, /"msg":"progress".*"total":3/);
    const gcn3Uuid = (await a.sql<{ uuid: string }[]>`
      select uuid::text as uuid from messages where topic = ${circulars} and timestamp = ${T0}`)[0]!.uuid;
    assert.deepEqual(await uuids("GBM"), [gcn3Uuid, hopUuid(2)].sort());
    // Resumed: only what is still missing is read again.
    await a.writeObject(lost!.key, kept);
    const second = await backfill();
    assert.deepEqual([second.code, second.indexed, second.failed], [0, 1, 0]);
    assert.deepEqual((await backfill()).indexed, 0, "nothing left");
    assert.deepEqual(await uuids("GBM"), [gcn3Uuid, hopUuid(2), hopUuid(3)].sort());
    assert.deepEqual(await uuids("S200129m"), [gcn3Uuid], "the other topic is not on the list");
    // The same text as archive-core's for the same record, as `archive --index-text` would have stored.
    const [same] = await a.sql<{ same: boolean }[]>`
      select text_data = to_tsvector(${gcn3.text}) as same from message_ts where uuid = ${gcn3Uuid}::uuid`;
    assert.equal(same?.same, true);
    const usage = await a.run(["db", "index-text"]);
    assert.equal(usage.code, 2);
    // As after migration 9 on a large archive: texts without the copies search pages by. --order-only needs no
    // policy, fills only those, and search answers the same.
    await a.sql`update message_ts set m_id = null, m_timestamp = null, m_topic = null, m_public = null`;
    const order = await a.run(["db", "index-text", "--order-only", "--batch", "1", "--quiet"]);
    assert.equal(order.code, 0, order.stderr);
    assert.deepEqual(JSON.parse(order.stdout.trim()), { ordered: 3 });
    const [unordered] = await a.sql<
      { n: number }[]
    >`select count(*)::int as n from message_ts where m_id is null`;
    assert.equal(unordered?.n, 0);
    assert.deepEqual(await uuids("GBM"), [gcn3Uuid, hopUuid(2), hopUuid(3)].sort());
  });
});

Deno.test("db index-text --hopauth-url: only the topics hopauth marks index_archived_text, as archive decides", async () => {
  await withArchive("backfill-hopauth", { backend: "fs", topics: ["circulars", "other"] }, async (a) => {
    const [circulars, other] = a.topics as [string, string];
    const grb = fixture("circular: gcn-notices/circulars.example.json");
    for (const [i, topic] of [circulars, other].entries()) {
      await a.produce(topic, [{
        value: bytes(grb.value),
        headers: hopHeaders(10 + i, "alice", "c"),
        timestamp: T0,
      }]);
    }
    await a.archive(); // no --index-text
    // archivable everywhere, text indexed only for `circulars`: hopauth's flag decides, --index-text is ignored.
    const hopauth = startHopAuthStandIn({
      users: { archiver: "hopauth-pw" },
      permissions: {},
      topics: {
        [circulars]: { archivable: true, index_archived_text: true },
        [other]: { archivable: true, index_archived_text: false },
      },
    });
    // The credential comes from a hop auth.toml, as hop-client keeps it (no HOPAUTH_PASSWORD).
    const auth = `${a.tmp}/auth.toml`;
    await Deno.writeTextFile(
      auth,
      '[[auth]]\nusername = "archiver"\npassword = "hopauth-pw"\nprotocol = "SASL_SSL"\nmechanism = "SCRAM-SHA-512"\n',
      { mode: 0o600 },
    );
    try {
      const argv = [
        "db",
        "index-text",
        "--hopauth-url",
        hopauth.url,
        "--hopauth-auth",
        auth,
        "--index-text",
        other,
      ];
      const r = await runInProcess([...argv, ...a.flags], a.env);
      assert.equal(r.code, 0, r.stderr + r.logs.join("\n"));
      const summary = JSON.parse(r.stdout.trim());
      assert.deepEqual([summary.policy, summary.topics, summary.indexed], ["hopauth", [circulars], 1]);
      assert.ok(hopauth.topicListings >= 1, "the policy came from hopauth over SCRAM");
      assert.ok(
        ![...r.logs, r.stderr, r.stdout].some((l) => l.includes("hopauth-pw")),
        "no password in logs",
      );
      const indexed = await a.sql<{ topic: string }[]>`
        select m.topic from message_ts t join messages m using (uuid) order by m.topic`;
      assert.deepEqual(indexed.map((row) => row.topic), [circulars]);
      // A refused credential is a coded error, never an empty policy that indexes nothing.
      const bad = await runInProcess([...argv, ...a.flags], {
        ...a.env,
        HOPAUTH_USERNAME: "archiver",
        HOPAUTH_PASSWORD: "wrong",
      });
      assert.equal(bad.code, 1, "a wrong password stops the backfill (HOPAUTH_AUTH)");
    } finally {
      await hopauth.close();
    }
  });
});
