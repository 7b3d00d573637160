// The exactly-once core (lib/archive/ingest.ts) driven directly, without Kafka: one suite run over every pair of
// index (the real PostgreSQL, the embedded PGlite) and object store (the real MinIO, a directory). Each case gets
// its own schema and topic; "crashes" are a claim whose write never happens.
import assert from "node:assert/strict";
import { createIngest, type IngestIndex } from "../../lib/archive/ingest.ts";
import { crc32 } from "../../lib/format/checksum.ts";
import { clashUuid, contentDigest, legacyUuid, uuidBytes } from "../../lib/format/identity.ts";
import { connectIndex, type IndexSql } from "../../lib/index/database.ts";
import { startEmbeddedIndex } from "../../lib/index/embedded.ts";
import { createIndex } from "../../lib/index/postgres.ts";
import type { Index } from "../../lib/index/types.ts";
import { silentLogger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import { decodeArchiveObject, type KafkaRecord } from "../../lib/format/record.ts";
import { createFsStore } from "../../lib/store/fs.ts";
import { createS3Store } from "../../lib/store/s3.ts";
import type { BlobStore } from "../../lib/store/types.ts";
import { dropBucket } from "../support/archive_helpers.ts";
import { hasCode, serviceEnv, uniqueName } from "../support/helpers.ts";

interface Env {
  sql: IndexSql;
  index: Index;
  store: BlobStore;
  topic: string;
  /** A separate archiver process on the same index and store: its own clock and version. */
  archiver(stamp: { now: bigint; version?: string }, index?: IngestIndex): ReturnType<typeof createIngest>;
}

const utf8 = (text: string) => new TextEncoder().encode(text);
const T0 = 1_700_000_000_000n;

function record(
  topic: string,
  at: { partition: number; offset: bigint; timestamp?: bigint },
  value: string,
  clientId?: string,
): KafkaRecord {
  return {
    topic,
    partition: at.partition,
    offset: at.offset,
    timestamp: at.timestamp ?? T0 + at.offset,
    key: null,
    value: utf8(value),
    headers: clientId === undefined
      ? [{ key: "h", value: utf8("x") }]
      : [{ key: "_id", value: uuidBytes(clientId) }],
  };
}

async function stored(env: Env, uuid: string) {
  const row = await env.index.byUuid(uuid);
  assert.ok(row !== null, `no index row for ${uuid}`);
  const bytes = await env.store.get(row.key);
  assert.ok(bytes !== null, `no object at ${row.key}`);
  assert.equal(crc32(bytes), row.crc32, `object ${row.key} does not match its row's CRC`);
  return { row, bytes, object: decodeArchiveObject(bytes) };
}

const CLIENT_ID = "5f0c2b9e-3a41-4d7c-9b1e-0c8d7a6e5f43";

const CASES: { name: string; run(env: Env): Promise<void> }[] = [
  {
    name: "claim order, not write order, decides who owns a reused _id",
    async run(env) {
      const x = (topic: string) => record(topic, { partition: 0, offset: 0n }, "content x", CLIENT_ID);
      const y = (topic: string) => record(topic, { partition: 1, offset: 0n }, "content y", CLIENT_ID);
      for (const [firstName, order] of [["x", [x, y]], ["y", [y, x]]] as const) {
        const topic = `${env.topic}-${firstName}`;
        const [first, second] = order.map((make) => make(topic)) as [KafkaRecord, KafkaRecord];
        const a = env.archiver({ now: T0 + 1n });
        const b = env.archiver({ now: T0 + 2n });
        const claimedFirst = await a.claim([first]);
        const claimedSecond = await b.claim([second]);
        // The later claim's object is written first: ownership must not follow.
        assert.deepEqual(await b.write(claimedSecond), { stored: 1, duplicates: 0, replayed: 0, clashes: 1 });
        assert.deepEqual(await a.write(claimedFirst), { stored: 1, duplicates: 0, replayed: 0, clashes: 0 });
        const owner = await stored(env, CLIENT_ID);
        assert.equal(owner.row.topic, topic);
        assert.equal(owner.row.partition, first.partition);
        assert.equal(owner.row.isClientUuid, true);
        assert.deepEqual(owner.object.value, first.value);
        const clash = await stored(env, clashUuid(CLIENT_ID, contentDigest(second)));
        assert.equal(clash.row.partition, second.partition);
        assert.equal(clash.row.clashOf, CLIENT_ID);
        assert.deepEqual(clash.object.value, second.value);
        // The next round starts from an empty index.
        await env.sql`delete from messages`;
      }
    },
  },
  {
    name:
      "an _id reused on other content gets a v5 UUID with con_uuid_clash_of; the same content is a receipt",
    async run(env) {
      const original = record(env.topic, { partition: 0, offset: 0n }, "original", CLIENT_ID);
      const clashing = record(env.topic, { partition: 0, offset: 1n }, "other content", CLIENT_ID);
      const third = record(env.topic, { partition: 0, offset: 2n }, "third content", CLIENT_ID);
      const copy = record(env.topic, { partition: 0, offset: 3n }, "original", CLIENT_ID);
      const ingest = env.archiver({ now: T0 });
      assert.deepEqual(await ingest.ingest([original, clashing, third, copy]), {
        stored: 3,
        duplicates: 1,
        replayed: 0,
        clashes: 2,
      });
      for (const clashed of [clashing, third]) {
        const uuid = clashUuid(CLIENT_ID, contentDigest(clashed));
        assert.match(uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        const { row, object } = await stored(env, uuid);
        assert.equal(row.offset, clashed.offset);
        assert.equal(row.isClientUuid, false);
        assert.equal(row.clashOf, CLIENT_ID);
        assert.equal(object.uuid, uuid);
        assert.equal(object.isClientUuid, false);
        assert.equal(object.clashOf, CLIENT_ID);
      }
      const owner = await stored(env, CLIENT_ID);
      assert.equal(owner.object.clashOf, null);
      assert.deepEqual(await env.index.receipts([CLIENT_ID]), [
        { uuid: CLIENT_ID, topic: env.topic, partition: 0, offset: 3n, timestamp: copy.timestamp },
      ]);
      // The clash delivered again (a replay) lands on the same UUID: nothing new is stored.
      assert.deepEqual(await env.archiver({ now: T0 + 9n }).ingest([clashing]), {
        stored: 0,
        duplicates: 0,
        replayed: 1,
        clashes: 1,
      });
      assert.equal((await env.sql`select count(*)::int as n from messages`)[0]!.n, 3);
    },
  },
  {
    name: "a crash between claim and put: the replay rewrites each object byte for byte",
    async run(env) {
      const records = [0n, 1n, 2n].map((offset) =>
        record(
          env.topic,
          { partition: 0, offset },
          `payload ${offset}`,
          offset === 1n ? CLIENT_ID : undefined,
        )
      );
      const crashed = await env.archiver({ now: T0 + 100n, version: "1.0.0" }).claim(records);
      const expected = new Map<string, Uint8Array>();
      for (const p of crashed.toPut) expected.set(p.row.uuid, await new Blob(p.pieces as BlobPart[]).bytes());
      assert.equal(expected.size, 3);
      for (const p of crashed.toPut) assert.equal(await env.store.get(p.row.key), null);
      // A later process with another clock and another version replays the uncommitted records.
      const replay = env.archiver({ now: T0 + 999n, version: "2.0.0" });
      assert.deepEqual(await replay.ingest(records), { stored: 0, duplicates: 0, replayed: 3, clashes: 0 });
      for (const [uuid, bytes] of expected) {
        const got = await stored(env, uuid);
        assert.deepStrictEqual(got.bytes, bytes);
        assert.equal(got.object.archivedAt, T0 + 100n);
        assert.equal(got.object.archiverVersion, "1.0.0");
      }
      // A crash after the put but before the commit: replayed again, the objects stay exactly as they were.
      assert.equal((await env.archiver({ now: T0 + 5000n }).ingest(records)).replayed, 3);
      for (const [uuid, bytes] of expected) assert.deepStrictEqual((await stored(env, uuid)).bytes, bytes);
    },
  },
  {
    name:
      "a duplicate is receipted once per (topic, partition, offset, timestamp), however often it is replayed",
    async run(env) {
      const original = record(env.topic, { partition: 0, offset: 0n, timestamp: T0 }, "same content");
      const uuid = legacyUuid(env.topic, T0, contentDigest(original));
      // In the same claim as its original, and again in another partition.
      const sameChunk = record(env.topic, { partition: 0, offset: 1n, timestamp: T0 }, "same content");
      const elsewhere = record(env.topic, { partition: 2, offset: 7n, timestamp: T0 }, "same content");
      const ingest = env.archiver({ now: T0 });
      assert.deepEqual(await ingest.ingest([original, sameChunk]), {
        stored: 1,
        duplicates: 1,
        replayed: 0,
        clashes: 0,
      });
      for (let i = 0; i < 3; i++) {
        assert.equal((await env.archiver({ now: T0 + BigInt(i) }).ingest([elsewhere])).duplicates, 1);
      }
      assert.equal((await ingest.ingest([original, sameChunk])).replayed, 1);
      assert.deepEqual(await env.index.receipts([uuid]), [
        { uuid, topic: env.topic, partition: 0, offset: 1n, timestamp: T0 },
        { uuid, topic: env.topic, partition: 2, offset: 7n, timestamp: T0 },
      ]);
      assert.equal((await stored(env, uuid)).row.offset, 0n);
    },
  },
  {
    name:
      "a claim that vanished before its lookup is claimed again; one that keeps vanishing stops the archiver",
    async run(env) {
      const holder = record(env.topic, { partition: 0, offset: 0n, timestamp: T0 }, "content");
      const late = record(env.topic, { partition: 1, offset: 4n, timestamp: T0 }, "content");
      const uuid = legacyUuid(env.topic, T0, contentDigest(holder));
      // An operator deletes the row between our lost claim and our lookup of its owner.
      let deletions = 0;
      const deletingAfterClaim = (times: number): IngestIndex => ({
        async claim(rows) {
          // Another process claims the UUID (and has not written its object yet).
          if (deletions < times) await env.archiver({ now: T0 }).claim([holder]);
          const won = await env.index.claim(rows);
          if (deletions < times && !won[0]) {
            await env.sql`delete from messages where uuid = ${uuid}::uuid`;
            deletions++;
          }
          return won;
        },
        lookup: (uuids) => env.index.lookup(uuids),
        recordReceipts: (receipts) => env.index.recordReceipts(receipts),
      });
      assert.deepEqual(await env.archiver({ now: T0 + 1n }, deletingAfterClaim(1)).ingest([late]), {
        stored: 1,
        duplicates: 0,
        replayed: 0,
        clashes: 0,
      });
      assert.equal(deletions, 1);
      const { row, object } = await stored(env, uuid);
      assert.equal(row.partition, 1);
      assert.equal(row.offset, 4n);
      assert.equal(object.offset, 4n);
      assert.deepEqual(await env.index.receipts([uuid]), []);

      // Rows vanishing on every round: the claim gives up with a fatal error and writes nothing.
      await env.sql`delete from messages where uuid = ${uuid}::uuid`;
      deletions = 0;
      const objectsBefore = (await Array.fromAsync(env.store.list())).length;
      await assert.rejects(
        env.archiver({ now: T0 + 2n }, deletingAfterClaim(Infinity)).ingest([late]),
        hasCode("INGEST_UUID_LOOP", false),
      );
      assert.equal(deletions, 3);
      assert.equal((await Array.fromAsync(env.store.list())).length, objectsBefore);
    },
  },
];

interface Backend<T> {
  name: string;
  open(): Promise<T & { close(): Promise<void> }>;
}

const indexes: Backend<{ connect(schema: string): Promise<IndexSql> }>[] = [
  {
    name: "postgres",
    open: () =>
      Promise.resolve({
        connect: (schema) => connectIndex(serviceEnv("DATABASE_URL"), { searchPath: schema, max: 4 }),
        close: () => Promise.resolve(),
      }),
  },
  {
    name: "pglite",
    async open() {
      const dir = await Deno.makeTempDir({ prefix: "hk-ingest-pglite-" });
      const embedded = await startEmbeddedIndex(dir);
      return {
        connect: (schema) => connectIndex(embedded.url, { searchPath: schema, max: embedded.max }),
        async close() {
          await embedded.close();
          await Deno.remove(dir, { recursive: true });
        },
      };
    },
  },
];

const stores: Backend<{ store: BlobStore }>[] = [
  {
    name: "minio",
    async open() {
      const bucket = uniqueName("hk-ingest").toLowerCase();
      const store = await createS3Store({ bucket, endpoint: serviceEnv("S3_ENDPOINT"), createBucket: true });
      return {
        store,
        async close() {
          store.close();
          await dropBucket(bucket);
        },
      };
    },
  },
  {
    name: "fs",
    async open() {
      const dir = await Deno.makeTempDir({ prefix: "hk-ingest-fs-" });
      const store = await createFsStore(dir);
      return {
        store,
        async close() {
          store.close();
          await Deno.remove(dir, { recursive: true });
        },
      };
    },
  },
];

for (const indexBackend of indexes) {
  for (const storeBackend of stores) {
    Deno.test(`ingest on ${indexBackend.name} + ${storeBackend.name}`, async (t) => {
      const opened = await indexBackend.open();
      const { store, close: closeStore } = await storeBackend.open();
      try {
        for (const c of CASES) {
          await t.step(c.name, async () => {
            const schema = uniqueName("hk_ingest").replaceAll("-", "_");
            const sql = await opened.connect(schema);
            try {
              const index = createIndex(sql);
              await index.migrate();
              const topic = uniqueName("ingest");
              const archiver: Env["archiver"] = (stamp, ingestIndex = index) =>
                createIngest({
                  store,
                  index: ingestIndex,
                  keyLayout: "daily",
                  archiverVersion: stamp.version ?? "test",
                  log: silentLogger,
                  metrics: createMetrics(),
                  signal: new AbortController().signal,
                  putConcurrency: 4,
                  maxInflightBytes: 2 ** 20,
                  now: () => stamp.now,
                });
              await c.run({ sql, index, store, topic, archiver });
            } finally {
              await sql`drop schema if exists ${sql(schema)} cascade`;
              await sql.end();
            }
          });
        }
      } finally {
        await closeStore();
        await opened.close();
      }
    });
  }
}
