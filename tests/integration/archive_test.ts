// The archive service end to end: real Kafka (confluent-kafka and hop-client as producers), MinIO or a directory,
// PostgreSQL; objects read back with hop-client's own BSON codec.
import assert from "node:assert/strict";
import { crc32 } from "../../lib/format/checksum.ts";
import { uuidText } from "../../lib/format/identity.ts";
import { createFsStore } from "../../lib/store/fs.ts";
import { openStore } from "../../lib/store/open.ts";
import type { BlobStore } from "../../lib/store/types.ts";
import { decodeArchiveObject } from "../../lib/format/record.ts";
import type { WireHeader } from "../../lib/format/types.ts";
import {
  archiveEnv,
  createTopics,
  dropSchema,
  peerProduce,
  type PeerRecord,
  runMain,
  SAMPLES,
  schemaSql,
  spawnMain,
  testIds,
  waitFor,
  withArchiveScenario,
} from "../support/archive_helpers.ts";
import { runPython, serviceEnv } from "../support/helpers.ts";

const enc = new TextEncoder();
const bytes = (s: string) => enc.encode(s);
const id16 = (n: number) => new Uint8Array(16).fill(n);

interface Row {
  uuid: string;
  topic: string;
  partition: number;
  offset: bigint;
  timestamp: bigint;
  key: string;
  size: number;
  crc32: bigint;
  message_crc32: bigint;
  is_client_uuid: boolean;
  sender: string | null;
  format: string | null;
  is_test: boolean;
  clash_of: string | null;
}

async function rows(schema: string): Promise<Row[]> {
  const sql = schemaSql(schema);
  try {
    return await sql<Row[]>`SELECT * FROM messages ORDER BY topic, partition, "offset"`;
  } finally {
    await sql.end();
  }
}

async function receipts(schema: string) {
  const sql = schemaSql(schema);
  try {
    return await sql<{ uuid: string; topic: string; partition: number; offset: bigint }[]>`
      SELECT uuid, topic, partition, "offset" FROM receipts ORDER BY topic, partition, "offset"`;
  } finally {
    await sql.end();
  }
}

function adversarialCorpus(tag: number): PeerRecord[] {
  const big = new Uint8Array(3 * 2 ** 20).map((_, i) => (i * 31 + tag) & 0xff);
  return [
    {
      value: bytes("plain"),
      headers: [["_id", id16(tag)], ["_sender", bytes("alice")], ["_format", bytes("blob")]],
    },
    {
      value: bytes("interleaved"),
      key: new Uint8Array([0, 1, 2, 255]),
      headers: [["a", bytes("1")], ["b", null], ["a", new Uint8Array(0)], [
        "b",
        new Uint8Array([0xff, 0xfe]),
      ]],
    },
    { value: null, key: bytes("tombstone-key") },
    { value: new Uint8Array(0), key: new Uint8Array(0) },
    {
      value: bytes("bad id"),
      headers: [["_id", new Uint8Array(5)], ["_id", null], ["_id", id16(tag + 100)]],
    },
    { value: bytes("epoch"), timestamp: 1 }, // librdkafka reads 0 as "now"; mock-hop covers 0 and -1
    { value: bytes("far future"), timestamp: 253402300799000 },
    { value: big, headers: [["_id", id16(tag + 50)]] },
    {
      value: bytes("many headers"),
      headers: Array.from({ length: 120 }, (_, i) => [`h${i % 7}`, i % 5 === 0 ? null : bytes(`v${i}`)]),
    },
  ];
}

async function sharedPayloads(): Promise<PeerRecord[]> {
  const out: PeerRecord[] = [];
  for (const dir of ["hop-client", "gcn-notices"]) {
    for await (const entry of Deno.readDir(`${SAMPLES}${dir}`)) {
      const value = await Deno.readFile(`${SAMPLES}${dir}/${entry.name}`);
      const id = crypto.getRandomValues(new Uint8Array(16));
      out.push({ value, headers: [["_id", id], ["_sender", bytes("gcn")], ["_format", bytes("json")]] });
    }
  }
  return out;
}

function sameBytes(actual: Uint8Array | null, expected: Uint8Array | null | undefined, what: string) {
  assert.deepEqual(actual === null ? null : [...actual], expected == null ? null : [...expected], what);
}

function expectHeaders(
  actual: WireHeader[],
  expected: [string, Uint8Array | null][] | undefined,
  what: string,
) {
  assert.deepEqual(
    actual.map((h) => [h.key, h.value === null ? null : [...h.value]]),
    (expected ?? []).map(([k, v]) => [k, v === null ? null : [...v]]),
    what,
  );
}

/** hop-client's own codec reads every object; returns its view keyed by file name. */
async function hopView(store: BlobStore, keys: string[]): Promise<Map<string, Record<string, unknown>>> {
  const dir = await Deno.makeTempDir();
  try {
    const files: string[] = [];
    for (const [i, key] of keys.entries()) {
      const body = await store.get(key);
      assert.ok(body, `object ${key} missing`);
      files.push(`${dir}/${i}.bson`);
      await Deno.writeFile(files[i]!, body);
    }
    const out = JSON.parse(await runPython("read_archive.py", files)) as Record<string, unknown>[];
    return new Map(keys.map((k, i) => [k, out[i]!]));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const b64bytes = (v: unknown) =>
  v === null ? null : Uint8Array.from(atob((v as { b64: string }).b64), (c) => c.charCodeAt(0));

Deno.test("archive: every codec, adversarial records, shared payloads and genuine hop-client traffic, byte-exact in MinIO + PostgreSQL", async () => {
  const codecs = ["none", "gzip", "snappy", "lz4", "zstd"];
  const options = { topics: [...codecs, "hop"], partitions: 2, backend: "s3" } as const;
  await withArchiveScenario("arch-corpus", options, async (scenario) => {
    const { id, group, schema, bucket, topic, storeUrl, env } = scenario;
    const topics = codecs.map((c) => topic(c));
    const hopTopic = topic("hop");
    const sent: { topic: string; partition: number; offset: number; record: PeerRecord }[] = [];
    const shared = await sharedPayloads();
    for (const [i, codec] of codecs.entries()) {
      const corpus = [...adversarialCorpus(i + 1), ...(i === 0 ? shared : [])];
      const placed = await peerProduce(topics[i]!, corpus, codec);
      placed.forEach((p, j) => sent.push({ topic: topics[i]!, ...p, record: corpus[j]! }));
    }
    const hop = (await runPython("hop_publish.py", [
      serviceEnv("KAFKA_SASL_BROKERS"),
      hopTopic,
      `${SAMPLES}hop-client`,
      serviceEnv("KAFKA_USERNAME"),
      serviceEnv("KAFKA_PASSWORD"),
    ])).trim().split("\n").map((l) => JSON.parse(l) as { case: string; partition: number; offset: number });

    const run = await runMain(
      ["archive", "--until-end", "--group", group, "--bucket", bucket, "--db-schema", schema],
      { ...env, LOG_LEVEL: "info" },
    );
    assert.equal(run.code, 0, run.stderr);
    // The memory settings the process applied are in its start-up line (lib/runtime/memory.ts).
    const started = run.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
      .find((l) => l.msg === "archiving");
    assert.deepEqual(started?.memory, {
      malloc: Deno.build.os === "linux" ? "applied" : "unavailable",
      targetMiB: 256,
    });

    const all = (await rows(schema)).filter((r) => r.topic.startsWith(id));
    assert.equal(all.length, sent.length + hop.length, "one row per record");
    const byPos = new Map(all.map((r) => [`${r.topic}:${r.partition}:${r.offset}`, r]));
    const store = await openStore(storeUrl, { endpoint: serviceEnv("S3_ENDPOINT") });
    try {
      const view = await hopView(store, all.map((r) => r.key));
      for (const s of sent) {
        const row = byPos.get(`${s.topic}:${s.partition}:${s.offset}`);
        assert.ok(row, `no row for ${s.topic}:${s.partition}:${s.offset}`);
        const object = (await store.get(row.key))!;
        assert.equal(row.size, object.length, "index size is the object's");
        assert.equal(Number(row.crc32), crc32(object), "index crc32 is the object's");
        const d = decodeArchiveObject(object);
        sameBytes(d.value, s.record.value, `value of ${row.key}`);
        sameBytes(d.key, s.record.key ?? null, `key of ${row.key}`);
        expectHeaders(d.headers, s.record.headers, `headers of ${row.key}`);
        assert.equal(Number(row.message_crc32), s.record.value ? crc32(s.record.value) : 0);
        if (s.record.timestamp !== undefined) assert.equal(d.timestamp, BigInt(s.record.timestamp));
        assert.equal(d.topic, s.topic);
        assert.equal(d.partition, s.partition);
        assert.equal(d.offset, BigInt(s.offset));
        // hop-client's reading of the same object.
        const h = view.get(row.key)!;
        const meta = h.metadata as Record<string, unknown>;
        sameBytes(b64bytes(h.message), s.record.value, `hop-client value of ${row.key}`);
        assert.deepEqual(
          (meta.headers as [string, unknown][]).map(([k, v]) => [k, v === null ? null : [...b64bytes(v)!]]),
          (s.record.headers ?? []).map(([k, v]) => [k, v === null ? null : [...v]]),
          `hop-client headers of ${row.key}`,
        );
        assert.equal(meta.topic, s.topic);
        assert.equal((meta.timestamp as { int: string }).int, d.timestamp.toString());
        const nullHeader = (s.record.headers ?? []).some(([, v]) => v === null);
        if (!nullHeader && s.record.value !== null) {
          assert.equal(h.check, null, `hop-client structure check: ${h.check}`);
        }
      }
      // Identity: the first 16-byte _id wins; malformed ones are ignored.
      const badId = sent.find((s) =>
        s.topic === topics[0] && s.record.value !== null &&
        new TextDecoder().decode(s.record.value) === "bad id"
      )!;
      assert.equal(
        byPos.get(`${badId.topic}:${badId.partition}:${badId.offset}`)!.uuid,
        uuidText(id16(101)),
      );
      const noId = sent.find((s) =>
        s.topic === topics[0] && s.record.headers === undefined && s.record.value !== null
      )!;
      assert.equal(byPos.get(`${noId.topic}:${noId.partition}:${noId.offset}`)!.is_client_uuid, false);
      // Genuine hop-client messages: its _id is the UUID, _sender and _format are indexed, _test is archived.
      for (const m of hop) {
        const row = byPos.get(`${hopTopic}:${m.partition}:${m.offset}`)!;
        assert.ok(row, `hop-client message ${m.case} archived`);
        const d = decodeArchiveObject((await store.get(row.key))!);
        assert.deepEqual(d.headers.filter((x) => x.key.startsWith("_")).map((x) => x.key).slice(0, 2), [
          "_id",
          "_sender",
        ]);
        assert.equal(row.uuid, uuidText(d.headers.find((x) => x.key === "_id")!.value!));
        assert.equal(row.is_client_uuid, true);
        assert.equal(row.sender, serviceEnv("KAFKA_USERNAME"));
        assert.equal(row.is_test, m.case === "test");
        assert.ok(row.format, `format of ${m.case}`);
        assert.equal(view.get(row.key)!.check, null, `hop-client accepts the archived ${m.case} message`);
      }
      assert.deepEqual(
        [...new Set(hop.map((m) => byPos.get(`${hopTopic}:${m.partition}:${m.offset}`)!.format))].sort(),
        ["avro", "blob", "circular", "json", "voevent", "gcntextnotice"].sort(),
      );
    } finally {
      store.close();
    }
  });
});

Deno.test("archive: duplicates are stored once and receipted; a reused _id on other content gets its own UUID; re-reading changes nothing", async () => {
  await withArchiveScenario("arch-dup", { topics: ["dups"] }, async (s) => {
    const { group, schema } = s;
    const [topic] = s.topics as [string];
    const X = id16(7);
    const records: PeerRecord[] = [
      { value: bytes("first"), headers: [["_id", X], ["_sender", bytes("a")]] },
      { value: bytes("first"), headers: [["_id", X], ["_sender", bytes("a")]] }, // producer retry / re-publish
      { value: bytes("other content"), headers: [["_id", X], ["_sender", bytes("b")]] }, // copied header
      { value: bytes("legacy"), timestamp: 1_700_000_000_000 },
      { value: bytes("legacy"), timestamp: 1_700_000_000_000 }, // legacy duplicate
      { value: bytes("legacy"), timestamp: 1_700_000_000_001 }, // same bytes, another time: a new message
      { value: bytes("test message"), headers: [["_id", id16(8)], ["_test", bytes("true")]] },
    ];
    await peerProduce(topic, records);
    const args = ["archive", "--until-end", "--store", s.storeUrl, "--db-schema", schema];
    const first = await runMain([...args, "--group", group], s.env);
    assert.equal(first.code, 0, first.stderr);
    const check = async () => {
      const r = await rows(schema);
      assert.equal(r.length, 5);
      const clash = r.find((x) => x.clash_of !== null)!;
      assert.equal(clash.clash_of, uuidText(X));
      assert.equal(clash.offset, 2n);
      assert.equal(clash.is_client_uuid, false);
      assert.ok(r.find((x) => x.uuid === uuidText(id16(8)))!.is_test);
      const rc = await receipts(schema);
      assert.deepEqual(rc.map((x) => [x.uuid === uuidText(X), Number(x.offset)]), [[true, 1], [false, 4]]);
      assert.equal(rc[1]!.uuid, r.find((x) => x.offset === 3n)!.uuid, "legacy duplicate points at the first");
      const keys: string[] = [];
      for await (const o of (await createFsStore(s.storeDir)).list()) keys.push(o.key);
      assert.deepEqual(keys.sort(), r.map((x) => x.key).sort(), "one object per row, no orphans");
    };
    await check();
    // A new consumer group re-reads everything: every record finds its own claim or receipt.
    const again = await runMain([...args, "--group", `${group}-again`], s.env);
    assert.equal(again.code, 0, again.stderr);
    await check();
  });
});

const esc = (s: string) => s.replace(/[.-]/g, "\\$&");

Deno.test("archive: vetoed topics (names and patterns) are not archived", async () => {
  await withArchiveScenario("arch-veto", { topics: ["keep", "named", "pat.x"] }, async (s) => {
    const { id, schema } = s;
    const [keep, named, patterned] = s.topics as [string, string, string];
    const veto = `${s.dir}/veto.yaml`;
    await Deno.writeTextFile(
      veto,
      `topics: [${named}]\npatterns: ['${esc(id)}\\.pat\\..*', '(?!${esc(id)}).*']\n`,
    );
    for (const t of [keep, named, patterned]) await peerProduce(t, [{ value: bytes(t) }]);
    const run = await runMain(["archive", "--until-end", ...s.flags, "--veto", veto], archiveEnv());
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((await rows(schema)).filter((r) => r.topic.startsWith(id)).map((r) => r.topic), [keep]);
  });
});

Deno.test("archive: a topic created while running is archived; /healthz and /metrics answer; SIGTERM stops cleanly", async () => {
  await withArchiveScenario("arch-live", { topics: ["first"] }, async (s) => {
    const { schema } = s;
    const [first] = s.topics as [string];
    const later = s.topic("later");
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = spawnMain(
      ["archive", ...s.flags, "--topic-refresh", "1", "--http-port", String(port)],
      // /metrics names public topics only (the others are summed under "(private)").
      { ...s.env, PUBLIC_TOPICS: later },
    );
    try {
      await peerProduce(first, [{ value: bytes("one") }]);
      const count = async (topic: string) =>
        (await rows(schema).catch(() => [])).filter((r) => r.topic === topic).length;
      await waitFor("first topic archived", async () => (await count(first)) === 1 ? true : undefined);
      await createTopics([later]);
      await peerProduce(later, [{ value: bytes("two") }, { value: bytes("three") }]);
      await waitFor(
        "new topic archived without restart",
        async () => (await count(later)) === 2 ? true : undefined,
      );
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(health.status, 200);
      await health.body?.cancel();
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(
        metrics,
        new RegExp(`housekeeping_records_archived_total\\{topic="${later.replace(/\./g, "\\.")}"\\} 2`),
      );
      assert.match(metrics, /housekeeping_records_archived_total\{topic="\(private\)"\} 1/);
      assert.ok(!metrics.includes(first), "a private topic's name is not in /metrics");
      assert.match(metrics, /housekeeping_put_seconds_count \d+/);
      const rss = Number(/^housekeeping_resident_memory_bytes (\d+)$/m.exec(metrics)?.[1]);
      assert.ok(rss > 16 * 2 ** 20 && rss < 2 ** 32, `resident_memory_bytes ${rss}`);
      assert.match(metrics, /^housekeeping_memory_collections_total \d+$/m, "what the memory target costs");
      assert.match(metrics, /^housekeeping_memory_collection_seconds_total [\d.e-]+$/m);
      child.kill("SIGTERM");
      const status = await child.status;
      const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
      assert.equal(status.code, 0, stderr);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
    }
  });
});

Deno.test("archive: works through the SASL_PLAINTEXT SCRAM-SHA-512 listener; a wrong password fails clearly without leaking it", async () => {
  await withArchiveScenario("arch-scram", { topics: ["t"] }, async (s) => {
    const [topic] = s.topics as [string];
    await peerProduce(topic, [{ value: bytes("secret-free") }]);
    const sasl = {
      KAFKA_BROKERS: serviceEnv("KAFKA_SASL_BROKERS"),
      KAFKA_SECURITY_PROTOCOL: "SASL_PLAINTEXT",
      KAFKA_USERNAME: serviceEnv("KAFKA_USERNAME"),
      KAFKA_PASSWORD: serviceEnv("KAFKA_PASSWORD"),
    };
    const args = ["archive", "--until-end", ...s.flags];
    const ok = await runMain(args, { ...s.env, ...sasl });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((await rows(s.schema)).filter((r) => r.topic === topic).length, 1);
    const wrong = "definitely-Wrong-pw-42";
    const bad = await runMain(args, { ...s.env, ...sasl, KAFKA_PASSWORD: wrong });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /KAFKA_AUTH_FAILED/);
    assert.ok(!bad.stderr.includes(wrong), "password must not appear in the output");
  });
});

Deno.test("archive: kill -9 at random moments, then restart: every record exactly once, no orphans", async () => {
  await withArchiveScenario("arch-kill", { topics: ["t"], partitions: 3 }, async (s) => {
    const { schema } = s;
    const [topic] = s.topics as [string];
    const total = 3000;
    const records: PeerRecord[] = Array.from({ length: total }, (_, i) => ({
      value: new Uint8Array(2048 + (i % 7) * 1000).fill(i & 0xff),
      headers: i % 3 === 0 ? [] : [["_id", crypto.getRandomValues(new Uint8Array(16))]],
      partition: i % 3,
    }));
    await peerProduce(topic, records, "lz4");
    const args = ["archive", ...s.flags, "--put-concurrency", "4"];
    for (let round = 0; round < 3; round++) {
      const child = spawnMain(args, s.env);
      const before = (await rows(schema).catch(() => [])).length;
      await waitFor("some progress", async () => {
        const n = (await rows(schema).catch(() => [])).length;
        return n > before + 100 || n >= total ? true : undefined;
      }, 120);
      await new Promise((r) => setTimeout(r, Math.random() * 300));
      child.kill("SIGKILL");
      await child.status;
      await child.stderr.cancel();
    }
    const finish = await runMain([...args, "--until-end"], s.env);
    assert.equal(finish.code, 0, finish.stderr);
    const r = await rows(schema);
    assert.equal(r.length, total, "every record archived once");
    assert.equal(new Set(r.map((x) => `${x.partition}:${x.offset}`)).size, total);
    assert.equal((await receipts(schema)).length, 0, "replays are not duplicates");
    const store = await createFsStore(s.storeDir);
    const keys = new Map<string, number>();
    for await (const o of store.list()) keys.set(o.key, o.size);
    assert.equal(keys.size, total, "no orphans, no missing objects");
    for (const row of r) assert.equal(keys.get(row.key), row.size, `object ${row.key} is complete`);
  });
});

Deno.test("archive: with no S3 and no database it uses a directory store and the embedded PostgreSQL", async () => {
  await withArchiveScenario("arch-embedded", { topics: ["t"] }, async (s) => {
    const [topic] = s.topics as [string];
    await peerProduce(topic, [{ value: bytes("laptop"), headers: [["_id", id16(42)]] }]);
    const env: Record<string, string> = { ...s.env, HOUSEKEEPING_DATA_DIR: s.dir };
    for (const k of ["DATABASE_URL", "S3_BUCKET", "S3_ENDPOINT", "PGHOST"]) delete env[k];
    const run = await runMain(["archive", "--until-end", "--group", s.group], env);
    assert.equal(run.code, 0, run.stderr);
    const store = await createFsStore(s.storeDir);
    const keys: string[] = [];
    for await (const o of store.list(`${topic}/`)) keys.push(o.key);
    assert.equal(keys.length, 1);
    assert.ok(keys[0]!.endsWith(`${uuidText(id16(42))}.bson`));
    const print = await runMain(["archive", "--print-config"], env);
    assert.match(print.stdout, /"data-dir"/);
    assert.ok((await Deno.stat(`${s.dir}/index`)).isDirectory, "embedded index directory created");
  });
});

Deno.test("archive: unreachable services and bad configuration stop start-up with a message naming what to fix", async () => {
  const dir = await Deno.makeTempDir();
  // Its own schema: whatever state the shared PostgreSQL is in must not decide this test.
  const { schema } = testIds("unreachable");
  try {
    const base = ["archive", "--until-end", "--store", `file://${dir}`, "--db-schema", schema];
    const kafka = await runMain([...base, "--brokers", "127.0.0.1:1"], archiveEnv());
    assert.equal(kafka.code, 1);
    assert.match(kafka.stderr, /KAFKA_UNREACHABLE/);
    const pgPassword = "pg-Secret-xyz";
    const pg = await runMain(
      [...base],
      archiveEnv({ DATABASE_URL: `postgres://u:${pgPassword}@127.0.0.1:1/db` }),
    );
    assert.equal(pg.code, 1);
    assert.match(pg.stderr, /INDEX_UNREACHABLE/);
    assert.ok(!pg.stderr.includes(pgPassword));
    const s3 = await runMain([
      "archive",
      "--until-end",
      "--bucket",
      "unreachable-bucket",
      "--s3-endpoint",
      "http://127.0.0.1:1",
      "--db-schema",
      schema,
    ], archiveEnv());
    assert.equal(s3.code, 1);
    assert.match(s3.stderr, /STORE_UNREACHABLE/);
    await Deno.writeTextFile(`${dir}/bad.yaml`, "kafka:\n  brokerz: x\n");
    const cfg = await runMain([...base, "--config", `${dir}/bad.yaml`], archiveEnv());
    assert.equal(cfg.code, 1);
    assert.match(cfg.stderr, /unknown setting "kafka\.brokerz"/);
    const flag = await runMain(["archive", "--no-such-flag"], archiveEnv());
    assert.equal(flag.code, 2);
    const masked = await runMain(
      ["archive", "--print-config"],
      archiveEnv({ KAFKA_PASSWORD: "hunter2-secret", KAFKA_USERNAME: "u" }),
    );
    assert.equal(masked.code, 0);
    assert.ok(!masked.stdout.includes("hunter2-secret"));
    assert.match(masked.stdout, /"password": \{\s*"value": "\*\*\*",\s*"source": "env"/);
  } finally {
    await dropSchema(schema);
    await Deno.remove(dir, { recursive: true });
  }
});
