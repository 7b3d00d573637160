// `archive --hopauth-url`: hopauth's per-topic flags (from the stand-in, real SCRAM-SHA-512) decide what is archived,
// made public and text-indexed, and an operator's switch applies while the archiver runs (real Kafka, MinIO and
// PostgreSQL). hopauth going away leaves the last policy in force: known topics go on being archived, and the
// logs and /metrics say the policy is stale. The refresh period is 1 s here; the assertions are on outcomes.
import assert from "node:assert/strict";
import { createIngest } from "../../lib/archive/ingest.ts";
import { connectIndex } from "../../lib/index/database.ts";
import { createIndex } from "../../lib/index/postgres.ts";
import { silentLogger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import { createS3Store } from "../../lib/store/s3.ts";
import { createHopauthPolicy } from "../../lib/topics/policy_hopauth.ts";
import { parseVeto } from "../../lib/topics/veto.ts";
import {
  dropBucket,
  peerProduce,
  runMain,
  schemaSql,
  spawnLogged,
  waitFor as waitForProbe,
  withArchiveScenario,
} from "../support/archive_helpers.ts";
import { startHopAuthStandIn } from "../support/hopauth_standin.ts";
import { serviceEnv, uniqueName } from "../support/helpers.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const USER = "archive-bot";
const PASSWORD = "policy-pw-9f2";
/** A JSON message hop-client would send: archive-core indexes its text. */
const jsonMessage = (text: string) => ({
  value: bytes(JSON.stringify({ title: text })),
  headers: [["_format", bytes("json")]] as [string, Uint8Array][],
});

interface Row {
  topic: string;
  public: boolean;
  indexed: boolean;
}

async function rows(schema: string): Promise<Row[]> {
  const sql = schemaSql(schema);
  try {
    return await sql<Row[]>`
      SELECT m.topic, m.public, EXISTS (SELECT 1 FROM message_ts ts WHERE ts.uuid = m.uuid) AS indexed
      FROM messages m ORDER BY m.id`;
  } catch {
    return []; // the archiver creates the schema at start
  } finally {
    await sql.end();
  }
}

Deno.test("archive --hopauth-url: switches in hopauth apply while it runs; hopauth stopped keeps archiving", async () => {
  await withArchiveScenario(
    "arch-policy",
    { topics: ["keep", "off", "pub", "never"], backend: "s3" },
    async (s) => {
      const [keep, off, pub, never] = s.topics as [string, string, string, string];
      const hopauth = startHopAuthStandIn({
        users: { [USER]: PASSWORD },
        permissions: {},
        topics: {
          [keep]: { archivable: true, publicly_readable: false, index_archived_text: false },
          [off]: { archivable: true, publicly_readable: false, index_archived_text: false },
          [pub]: { archivable: true, publicly_readable: false, index_archived_text: false },
          [never]: { archivable: false, publicly_readable: true, index_archived_text: true },
        },
      });
      let hopauthUp = true;
      const port = 20000 + Math.floor(Math.random() * 20000);
      const archiver = spawnLogged(
        [
          "archive",
          ...s.flags,
          "--topic-refresh",
          "1",
          "--policy-refresh",
          "1",
          "--http-port",
          String(port),
          "--hopauth-url",
          hopauth.url,
        ],
        { ...s.env, LOG_LEVEL: "info", HOPAUTH_USERNAME: USER, HOPAUTH_PASSWORD: PASSWORD },
      );
      const count = async (topic: string) => (await rows(s.schema)).filter((r) => r.topic === topic).length;
      // A wait that times out says what the archiver was doing.
      const waitFor = async <T>(what: string, probe: () => Promise<T | undefined>, seconds?: number) => {
        try {
          return await waitForProbe(what, probe, seconds);
        } catch (e) {
          throw new Error(
            `${(e as Error).message}; the archiver's last lines:\n${archiver.lines.slice(-60).join("\n")}`,
          );
        }
      };
      const metrics = async () => await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      try {
        await produceEach([keep, off, pub, never], "before");
        await waitFor("the archivable topics archived", async () => {
          const got = await Promise.all([keep, off, pub].map(count));
          return got.every((n) => n === 1) || undefined;
        }, 90);
        let all = await rows(s.schema);
        assert.equal(
          all.filter((r) => r.topic === never).length,
          0,
          "not archivable in hopauth: not archived",
        );
        assert.ok(all.every((r) => !r.public && !r.indexed), "nothing public or indexed yet");

        // The operator's switches, all at once (one answer of hopauth carries them all).
        hopauth.setTopic(off, { archivable: false });
        hopauth.setTopic(pub, { publicly_readable: true });
        hopauth.setTopic(keep, { index_archived_text: true });
        const resubscribed = (line: string) => {
          if (!line.includes("topic set changed; resubscribing")) return false;
          const topics = JSON.parse(line).topics as string[];
          return !topics.includes(off) && topics.includes(keep) && topics.includes(pub);
        };
        await waitFor(
          "the archiver to drop the topic switched off",
          () => Promise.resolve(archiver.lines.some(resubscribed) || undefined),
          90,
        );

        await produceEach([keep, off, pub], "after");
        await waitFor(
          "the records after the switch archived",
          async () => (await count(keep)) === 2 && (await count(pub)) === 2 || undefined,
          90,
        );
        all = await rows(s.schema);
        const [pubBefore, pubAfter] = all.filter((r) => r.topic === pub);
        assert.equal(pubBefore!.public, false, "rows archived before the switch keep their flag");
        assert.equal(pubAfter!.public, true, "publicly_readable on: new rows are public");
        const [keepBefore, keepAfter] = all.filter((r) => r.topic === keep);
        assert.deepEqual([keepBefore!.indexed, keepAfter!.indexed], [false, true], "index_archived_text on");
        assert.equal(await count(off), 1, "archivable off: the new record on that topic is not archived");
        const shown = await metrics();
        assert.ok(shown.includes(`topic="${pub}"`), "/metrics names the topic hopauth made public");
        assert.ok(!shown.includes(keep), "/metrics keeps a private topic's name out");

        // hopauth goes away: the last policy stays, known topics go on being archived, and it is said.
        await hopauth.close();
        hopauthUp = false;
        await waitFor(
          "/metrics to say the policy is stale",
          async () => /^housekeeping_policy_stale 1$/m.test(await metrics()) || undefined,
          60,
        );
        const text = await metrics();
        assert.match(text, /^housekeeping_policy_refresh_total\{outcome="unreachable"\} [1-9]\d*$/m);
        assert.match(text, /^housekeeping_policy_refresh_total\{outcome="ok"\} [1-9]\d*$/m);
        assert.match(text, /^housekeeping_policy_age_seconds [\d.]+$/m);
        assert.ok(
          archiver.lines.some((l) => l.includes('"level":"warn"') && l.includes("last one stays in force")),
          "a warning says the policy is stale",
        );
        await produceEach([keep, pub], "while hopauth is down");
        await waitFor(
          "known topics still archived while hopauth is down",
          async () => (await count(keep)) === 3 && (await count(pub)) === 3 || undefined,
          90,
        );
        all = await rows(s.schema);
        assert.equal(
          all.filter((r) => r.topic === pub).at(-1)!.public,
          true,
          "the last policy is still applied",
        );
        assert.equal(archiver.exited, false, archiver.lines.join("\n"));
        assert.ok(archiver.lines.every((l) => !l.includes(PASSWORD)), "the password never reaches the logs");

        archiver.kill("SIGTERM");
        assert.equal((await archiver.done).code, 0, archiver.lines.join("\n"));
      } finally {
        archiver.kill("SIGKILL");
        await archiver.done;
        if (hopauthUp) await hopauth.close();
      }
    },
  );
});

async function produceEach(topics: string[], label: string): Promise<void> {
  for (const topic of topics) await peerProduce(topic, [jsonMessage(`${label} ${topic} GRB 221009A`)]);
}

Deno.test("archive's write path: <topic>+oversized follows its topic's hopauth flags (public, text indexed)", async () => {
  const base = `${uniqueName("hk-offload")}.t`;
  const schema = uniqueName("hk_policy").replaceAll("-", "_");
  const bucket = uniqueName("hk-policy").toLowerCase().slice(0, 63);
  const hopauth = startHopAuthStandIn({
    users: { [USER]: PASSWORD },
    permissions: {},
    topics: { [base]: { archivable: true, publicly_readable: false, index_archived_text: false } },
  });
  const sql = await connectIndex(serviceEnv("DATABASE_URL"), { searchPath: schema, max: 2 });
  const store = await createS3Store({ bucket, endpoint: serviceEnv("S3_ENDPOINT"), createBucket: true });
  try {
    const index = createIndex(sql);
    await index.migrate();
    const policy = createHopauthPolicy({
      url: hopauth.url,
      credential: { username: USER, password: PASSWORD },
      veto: parseVeto("[]", "none"),
      refreshMs: 60_000,
      log: silentLogger,
    });
    assert.equal(await policy.refresh(), "ok");
    const ingest = createIngest({
      store,
      index,
      keyLayout: "hourly",
      archiverVersion: "test",
      log: silentLogger,
      metrics: createMetrics(),
      signal: new AbortController().signal,
      putConcurrency: 4,
      maxInflightBytes: 2 ** 24,
      isPublic: (t) => policy.decide(t).public,
      indexText: (t) => policy.decide(t).indexText,
      directUpload: true,
    });
    const offload = `${base}+oversized`;
    const upload = async (n: number) => {
      const { value, headers } = jsonMessage(`oversized upload ${n} GRB 221009A`);
      await ingest.ingest([{
        topic: offload,
        partition: 0,
        offset: BigInt(n),
        timestamp: 1_700_000_000_000n + BigInt(n),
        key: null,
        value,
        headers: headers.map(([key, v]) => ({ key, value: v })),
      }]);
    };
    const flags = async () =>
      (await sql<{ public: boolean; indexed: boolean }[]>`
        SELECT m.public, EXISTS (SELECT 1 FROM message_ts ts WHERE ts.uuid = m.uuid) AS indexed
        FROM messages m WHERE m.topic = ${offload} ORDER BY m.id`).map((r) => [r.public, r.indexed]);
    await upload(0);
    assert.deepEqual(await flags(), [[false, false]]);
    hopauth.setTopic(base, { publicly_readable: true, index_archived_text: true });
    assert.equal(await policy.refresh(), "ok");
    await upload(1);
    assert.deepEqual(await flags(), [[false, false], [true, true]], "the pseudo-topic follows its topic");
  } finally {
    await sql`drop schema if exists ${sql(schema)} cascade`;
    await sql.end();
    store.close();
    await dropBucket(bucket).catch(() => {});
    await hopauth.close();
  }
});

Deno.test("archive --hopauth-url: a credential hopauth refuses stops start-up with one coded line", async () => {
  await withArchiveScenario("arch-policy-auth", { topics: ["t"] }, async (s) => {
    const hopauth = startHopAuthStandIn({ users: { [USER]: PASSWORD }, permissions: {} });
    try {
      const run = await runMain(
        ["archive", "--until-end", ...s.flags, "--hopauth-url", hopauth.url],
        { ...s.env, HOPAUTH_USERNAME: USER, HOPAUTH_PASSWORD: "not-the-password-77" },
      );
      assert.equal(run.code, 1, run.stderr);
      const last = run.stderr.trim().split("\n").at(-1)!;
      assert.match(last, /SCRAM authentication failed.*HOPAUTH_PASSWORD.*\[HOPAUTH_AUTH\]$/);
      assert.ok(!run.stderr.includes("not-the-password-77"), run.stderr);
      assert.equal(hopauth.topicListings, 0);
    } finally {
      await hopauth.close();
    }
  });
});
