// Cutover from the archiver that runs Hopskotch's archive today (archive-ingest on archive-core 1.3.0) to this one,
// on its real output (testdata/original, see its README): its database and bucket are rebuilt from the fixture, its
// records are re-published with their original partitions and timestamps, and then `db migrate`, `verify`,
// `restore` and `archive` run on them as an operator would. The fixture's topic names (S1.t0, S1.t1) are fixed by
// its objects and rows, so this test owns those two topics; everything else it makes has a unique name.
import { PutObjectCommand } from "@aws-sdk/client-s3";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import postgres from "postgres";
import { crc32 } from "../../lib/format/checksum.ts";
import { MIGRATIONS } from "../../lib/index/migrations.ts";
import { objectKey } from "../../lib/format/keys.ts";
import { hopHeaders, hopUuid, runInProcess } from "../support/admin_fixture.ts";
import {
  adminKafka,
  archiveEnv,
  createBucket,
  createTopics,
  deleteTopics,
  deleteTopicsUnder,
  dropBucket,
  peerProduce,
  type PeerRecord,
  runMain,
  s3Client,
} from "../support/archive_helpers.ts";
import { runPython, serviceEnv, uniqueName } from "../support/helpers.ts";

const FIXTURE = new URL("../../testdata/original/", import.meta.url).pathname;
const TOPICS = ["S1.t0", "S1.t1"];
const PARTITIONS = 4;

interface SentRecord {
  topic: string;
  partition: number;
  offset: number;
  ts: number;
  key: string | null;
  value: string;
  headers: [string, string][];
}

const bytes = (b64: string | null) => (b64 === null ? null : new Uint8Array(Buffer.from(b64, "base64")));

function sentRecords(): SentRecord[] {
  return Deno.readTextFileSync(`${FIXTURE}sent.jsonl`).trim().split("\n").map((l) => JSON.parse(l));
}

// pg_dump output minus psql's meta-commands (\restrict): plain SQL.
function dumpSql(name: string): string {
  return Deno.readTextFileSync(`${FIXTURE}${name}`).split("\n").filter((l) => !l.startsWith("\\")).join("\n");
}

/** The original's database: its schema, then its rows with its trigger off, as pg_restore --disable-triggers. */
async function loadDatabase(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(dumpSql("schema.sql")).simple();
    await sql.unsafe(
      `ALTER TABLE public.messages DISABLE TRIGGER trigger_update_topics;\n${dumpSql("data.sql")}\n` +
        `ALTER TABLE public.messages ENABLE TRIGGER trigger_update_topics;`,
    ).simple();
  } finally {
    await sql.end();
  }
}

/** The original's bucket, key for key. */
async function loadBucket(bucket: string): Promise<number> {
  const s3 = s3Client();
  let n = 0;
  try {
    const walk = async (dir: string, prefix: string): Promise<void> => {
      for await (const e of Deno.readDir(dir)) {
        const path = `${dir}/${e.name}`;
        if (e.isDirectory) await walk(path, `${prefix}${e.name}/`);
        else {
          await s3.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: `${prefix}${e.name}`,
              Body: Deno.readFileSync(path),
            }),
          );
          n++;
        }
      }
    };
    await walk(`${FIXTURE}objects`, "");
  } finally {
    s3.destroy();
  }
  return n;
}

interface PeerMessage {
  partition: number;
  offset: number;
  key: string | null;
  value: string | null;
  headers: [string, string | null][];
  timestamp: number;
}

async function consume(topic: string, count: number): Promise<PeerMessage[]> {
  return JSON.parse(await runPython("peer_consume.py", [serviceEnv("KAFKA_BROKERS"), topic, String(count)]));
}

/** The archiver's groups and the read-back groups of restore and peer_consume.py. */
async function deleteGroupsNaming(id: string): Promise<void> {
  const admin = adminKafka().admin();
  await admin.connect();
  try {
    const { groups } = await admin.listGroups();
    const mine = groups.map((g) => g.groupId).filter((g) => g.includes(id));
    if (mine.length > 0) await admin.deleteGroups(mine).catch(() => {});
  } finally {
    await admin.disconnect();
  }
}

const identity = (
  r: { key: string | null; value: string | null; headers: [string, string | null][]; ts: number },
) => JSON.stringify([r.key, r.value, r.headers, r.ts]);

Deno.test("cutover from archive-core 1.3.0: migrate, verify, restore bit for bit, archive on without duplicates", async () => {
  const id = uniqueName("hkorig");
  const database = id.replace(/[^a-z0-9]/gi, "_").toLowerCase();
  const bucket = id.toLowerCase().replace(/[^a-z0-9-]/g, "-").slice(0, 63);
  const shared = serviceEnv("DATABASE_URL");
  const url = shared.replace(/\/[^/?]*(\?|$)/, `/${database}$1`);
  const admin = postgres(shared, { max: 1, onnotice: () => {} });
  const dir = await Deno.makeTempDir({ prefix: "hk-orig-" });
  const veto = `${dir}/veto.yaml`;
  // Only the fixture's topics are archived; restore's targets (under `id`) are vetoed, as restore requires.
  await Deno.writeTextFile(veto, JSON.stringify({ patterns: ["(?!S1\\.t[01]$).*"] }));
  const flags = (group: string) => [
    "--database-url",
    url,
    "--store",
    `s3://${bucket}`,
    "--group",
    group,
    "--veto",
    veto,
    "--security-protocol",
    "PLAINTEXT",
  ];
  const env = archiveEnv();
  const sql = postgres(url, { max: 2, onnotice: () => {}, types: { bigint: postgres.BigInt } });
  try {
    await deleteTopics(TOPICS);
    await admin.unsafe(`CREATE DATABASE ${database}`);
    await loadDatabase(url);
    await createBucket(bucket);
    assert.equal(await loadBucket(bucket), 40);
    await createTopics(TOPICS, PARTITIONS);
    // Re-published as first sent: each record at its partition and offset, with its timestamp.
    const sent = sentRecords();
    for (const topic of TOPICS) {
      const mine = sent.filter((r) => r.topic === topic).sort((a, b) =>
        a.partition - b.partition || a.offset - b.offset
      );
      const placed = await peerProduce(
        topic,
        mine.map((r): PeerRecord => ({
          value: bytes(r.value),
          key: bytes(r.key),
          headers: r.headers.map(([k, v]) => [k, bytes(v)]),
          partition: r.partition,
          timestamp: r.ts,
        })),
      );
      assert.deepEqual(placed, mine.map((r) => ({ partition: r.partition, offset: r.offset })));
    }
    const [before] = await sql<
      { n: bigint; sum: bigint }[]
    >`select count(*) as n, sum(crc32) as sum from messages`;

    // 1. Migrate: nothing lost, every value kept.
    const migrated = await runInProcess(["db", "migrate", ...flags("unused")], env);
    assert.equal(migrated.code, 0, migrated.stderr + migrated.stdout);
    const versions = await sql<{ version: number }[]>`select version from schema_migrations order by version`;
    assert.deepEqual(versions.map((v) => v.version), MIGRATIONS.map((m) => m.version));
    const [after] = await sql<
      { n: bigint; sum: bigint }[]
    >`select count(*) as n, sum(crc32) as sum from messages`;
    assert.deepEqual(after, before);
    const theirs = await sql`select public, direct_upload, media_type, sender, title, retracted, partition
      from messages where id = 1`;
    assert.deepEqual([...theirs], [{
      public: false,
      direct_upload: false,
      media_type: "application/octet-stream",
      sender: "",
      title: "",
      retracted: false,
      partition: null,
    }]);

    // 2. verify: clean.
    const verified = await runInProcess(["verify", "--json", ...flags("unused")], env);
    assert.equal(verified.code, 0, verified.stdout);
    assert.match(verified.stdout, /"rowsChecked":40/);

    // 3. restore: every record back, identical in key, value, headers and timestamp (the original kept no
    // partitions: they all go to partition 0, in timestamp order).
    // Created here with their leaders elected: restore's --create-topics raced the election under load
    // (NOT_LEADER_FOR_PARTITION from its first ListOffsets).
    await createTopics(TOPICS.map((t) => `${id}.${t}`), PARTITIONS);
    const restored = await runInProcess(
      [
        "restore",
        "--topic-regex",
        "^S1\\.t[01]$",
        "--to-prefix",
        `${id}.`,
        ...flags("unused"),
      ],
      env,
    );
    assert.equal(restored.code, 0, restored.stderr + restored.stdout);
    for (const topic of TOPICS) {
      const back = await consume(`${id}.${topic}`, 20);
      const want = sent.filter((r) => r.topic === topic);
      assert.deepEqual(
        back.map((m) => identity({ ...m, ts: m.timestamp })).sort(),
        want.map((r) => identity(r)).sort(),
      );
    }

    // 4. archive: new traffic next to the old, read from the beginning by a group of its own (the worst case: it
    // re-reads all the original archived).
    const old = sent.find((r) => r.headers.length === 0)!; // archive-core gave it a random UUID
    const now = Date.now();
    const fresh: (PeerRecord & { topic: string })[] = [
      ...[1, 2, 3].map((n) => ({
        topic: "S1.t1",
        value: new TextEncoder().encode(`{"n": ${n}}`),
        headers: hopHeaders(0xa0 + n, "carol", n === 1 ? "json" : "voevent"),
        timestamp: now + n,
      })),
      { topic: "S1.t0", value: new TextEncoder().encode("plain new"), timestamp: now },
      // Same value as an archived record, at another time: a new message.
      { topic: old.topic, value: bytes(old.value), timestamp: now + 10, partition: old.partition },
      // Same time as an archived record, other value: a new message too.
      {
        topic: old.topic,
        value: new TextEncoder().encode("same time"),
        timestamp: old.ts,
        partition: old.partition,
      },
    ];
    for (const topic of TOPICS) await peerProduce(topic, fresh.filter((r) => r.topic === topic));
    const archiveOnce = async (group: string) => {
      const run = await runMain(
        ["archive", "--until-end", "--key-layout", "hourly", "--public-topics", "S1.t1", ...flags(group)],
        env,
      );
      assert.equal(run.code, 0, run.stderr);
    };
    await archiveOnce(`${id}-new`);
    // And once more from the beginning with yet another group: still nothing twice.
    await archiveOnce(`${id}-again`);

    const rows = await sql<
      {
        uuid: string;
        topic: string;
        timestamp: bigint;
        key: string;
        partition: number | null;
        public: boolean;
        media_type: string;
        sender: string;
        message_crc32: bigint;
      }[]
    >`select uuid::text as uuid, topic, timestamp, key, partition, public, media_type, sender, message_crc32
      from messages order by id`;
    assert.equal(rows.length, 40 + fresh.length, "each new record once, no old one again");
    const added = rows.slice(40);
    for (const r of fresh) {
      const crc = BigInt(crc32(r.value!));
      const row = added.find((a) =>
        a.topic === r.topic && a.timestamp === BigInt(r.timestamp!) && a.message_crc32 === crc
      );
      assert.ok(row, `new record ${r.topic}@${r.timestamp} archived`);
      // Next to the original's keys: <topic>/<Y>/<M>/<D>/<H>/, unpadded.
      assert.equal(row.key, objectKey("hourly", r.topic, BigInt(r.timestamp!), row.uuid));
      assert.equal(row.public, r.topic === "S1.t1");
      const format = r.headers?.find(([k]) => k === "_format")?.[1];
      const mediaType = format === undefined
        ? "application/octet-stream"
        : { json: "application/json", voevent: "application/x.voevent" }[new TextDecoder().decode(format!)];
      assert.equal(row.media_type, mediaType);
      assert.equal(row.sender, r.headers ? "carol" : "");
    }
    assert.deepEqual(
      added.filter((a) => a.sender === "carol").map((a) => a.uuid).sort(),
      [1, 2, 3].map((n) => hopUuid(0xa0 + n)).sort(),
    );
    // The old records read again are receipts of the original's rows, once per (partition, offset).
    const receipts = await sql<{ n: bigint; rows: bigint }[]>`
      select count(*) as n, count(distinct r.uuid) as rows from receipts r join messages m on m.uuid = r.uuid
      where m.partition is null`;
    assert.deepEqual(receipts[0], { n: 40n, rows: 40n });
    const topics = await sql`select topic, n_messages from topics order by topic`;
    assert.deepEqual([...topics], [{ topic: "S1.t0", n_messages: 21n }, { topic: "S1.t1", n_messages: 25n }]);

    const clean = await runInProcess(["verify", "--json", ...flags("unused")], env);
    assert.equal(clean.code, 0, clean.stdout);
    assert.match(clean.stdout, /"rowsChecked":46/);
    const status = await runInProcess(["status", "--json", ...flags(`${id}-new`)], env);
    assert.equal(status.code, 0, status.stderr + status.stdout);

    // archive-api's queries (archive-core's database_api.py) on the result: public messages by time, with the
    // (timestamp, id) paging it uses; the topic summary it plans with; one message by uuid, every column filled.
    const page =
      await sql`select id, topic, timestamp from messages where public = true and timestamp >= ${now}
      order by timestamp, id limit 2`;
    assert.deepEqual(page.map((r) => r.topic), ["S1.t1", "S1.t1"]);
    const [paging] = await sql`select indexdef from pg_indexes where indexname = 'messages_timestamp_id_idx'`;
    assert.match(String(paging?.indexdef), /\("timestamp", id\) INCLUDE \(topic, public\)/);
    const publicTopics = await sql`select distinct topic from messages where public = true`;
    assert.deepEqual(publicTopics.map((r) => r.topic), ["S1.t1"]);
    const counts = await sql`select sum(n_messages)::int8 as n from topics where topic in ('S1.t1')
      union all select sum(n_messages)::int8 from topics`;
    assert.deepEqual(counts.map((r) => r.n).sort(), [25n, 46n]);
    const [one] = await sql`select * from messages where uuid = ${hopUuid(0xa1)}::uuid`;
    for (const column of ["topic", "timestamp", "uuid", "size", "key", "bucket", "crc32", "is_client_uuid"]) {
      assert.notEqual(one?.[column], null, column);
    }
    assert.equal(one?.title, "");
    assert.equal(one?.file_name, "");
    assert.equal(one?.originator, "");

    // 5. An error that stops the archiver ends as one coded line, not an unhandled rejection with a stack.
    // DDL takes no parameters: the bound is a number of the test's own.
    const bound = now + 100;
    await sql.unsafe(
      `alter table messages add constraint refuse check (topic <> 'S1.t0' or timestamp < ${bound})`,
    );
    await peerProduce("S1.t0", [{ value: new TextEncoder().encode("refused"), timestamp: now + 200 }]);
    const refused = await runMain(["archive", "--until-end", ...flags(`${id}-new`)], env);
    assert.equal(refused.code, 1);
    assert.doesNotMatch(refused.stderr, /Uncaught|^ {4}at /m);
    assert.match(refused.stderr, /^housekeeping archive: .*SQLSTATE 23514.* \[INDEX_QUERY_FAILED\]$/m);
  } finally {
    await sql.end();
    await deleteTopics(TOPICS);
    await deleteTopicsUnder(`${id}.`);
    await deleteGroupsNaming(id);
    await dropBucket(bucket).catch(() => {});
    await admin.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
    await Deno.remove(dir, { recursive: true });
  }
});
