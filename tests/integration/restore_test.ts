// `restore` against the real services: records archived from librdkafka (confluent-kafka) and hop-client peers are
// re-published by the real CLI and read back by an independent confluent-kafka consumer, which must find every
// record identical in value, key, header list, timestamp, partition and order. The pure parts (argument parsing,
// naming, partition fallback, rate limiter, progress, checkpoint, object checks) are tested directly.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { ConfigResourceTypes } from "kafkajs";
import { parseRestoreArgs, targetSettings } from "../../lib/restore/args.ts";
import type { ResolvedSettings } from "../../lib/cli/config.ts";
import { connectIndex } from "../../lib/index/database.ts";
import { createIndex } from "../../lib/index/postgres.ts";
import { type OrderPosition, orderPositionOf, type StoredRow } from "../../lib/index/types.ts";
import { createIngest } from "../../lib/archive/ingest.ts";
import { silentLogger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import { decodeArchiveObject, encodeArchiveObject, type KafkaRecord } from "../../lib/format/record.ts";
import {
  type Checkpoint,
  checkResumable,
  readCheckpoint,
  writeCheckpoint,
} from "../../lib/restore/checkpoint.ts";
import {
  loopingTargets,
  parseUuidFile,
  sameBrokers,
  selectionKey,
  targetPartition,
  targetTopic,
} from "../../lib/restore/plan.ts";
import {
  landedMatcher,
  mergeEnds,
  readbackGroup,
  sameRecord,
  spansBeyond,
} from "../../lib/restore/landed.ts";
import { createRateLimiter, createRecordLimiter } from "../../lib/restore/rate.ts";
import { verifyObject } from "../../lib/format/object_check.ts";
import { recordBytes, runRestore } from "../../lib/restore/run.ts";
import { openStore } from "../../lib/store/open.ts";
import { parseVeto } from "../../lib/topics/veto.ts";
import {
  adminKafka,
  archiveEnv,
  createTopics,
  dropSchema,
  LEGACY_OBJECT,
  peerProduce,
  type PeerRecord,
  ROOT,
  runMain,
  SAMPLES,
  schemaSql,
  testIds,
  waitFor,
} from "../support/archive_helpers.ts";
import { runPython, serviceEnv } from "../support/helpers.ts";

const utf8 = (text: string) => new TextEncoder().encode(text);
const b64 = (bytes: Uint8Array | null) => (bytes === null ? null : Buffer.from(bytes).toString("base64"));

// ---------------------------------------------------------------------------------------------- pure parts

const noFile = (path: string): string => {
  throw new Error(`unexpected read of ${path}`);
};

Deno.test("parseRestoreArgs: every selection, target and operation flag", () => {
  const files: Record<string, string> = {
    "ids.txt":
      "# lost alerts\n0D5F7C5E-1111-4222-8333-444455556666\n\n  1d5f7c5e-1111-4222-8333-444455556666 # ok\n",
  };
  const o = parseRestoreArgs(
    [
      "--topic",
      "gcn.circular",
      "--topic",
      "gcn.notice",
      "--topic-regex",
      "^lvk\\.",
      "--since",
      "2024-05-01",
      "--until",
      "1714600000000",
      "--uuid",
      "2d5f7c5e-1111-4222-8333-444455556666",
      "--uuid-file",
      "ids.txt",
      "3D5F7C5E-1111-4222-8333-444455556666",
      "--partition",
      "2",
      "--from-offset",
      "10",
      "--to-offset",
      "20",
      "--rename",
      "gcn.circular=replay.circular",
      "--to-prefix",
      "restored.",
      "--create-topics",
      "--dry-run",
      "--max-rate",
      "250",
      "--max-bytes-rate",
      "1000000.5",
      "--checkpoint",
      "cp.json",
      "--on-bad-object",
      "skip",
      "--fetch-concurrency",
      "8",
      "--max-inflight-mib",
      "16",
      "--progress",
      "json",
    ],
    {},
    (path) => files[path] ?? noFile(path),
  );
  assert.deepEqual(o.filter, {
    topics: ["gcn.circular", "gcn.notice"],
    topicRegex: "^lvk\\.",
    since: 1714521600000n,
    until: 1714600000000n,
    uuids: [
      "2d5f7c5e-1111-4222-8333-444455556666",
      "3d5f7c5e-1111-4222-8333-444455556666",
      "0d5f7c5e-1111-4222-8333-444455556666",
      "1d5f7c5e-1111-4222-8333-444455556666",
    ],
    partition: 2,
    fromOffset: 10n,
    toOffset: 20n,
  });
  assert.deepEqual([...o.naming.renames], [["gcn.circular", "replay.circular"]]);
  assert.equal(o.naming.prefix, "restored.");
  assert.equal(o.createTopics, true);
  assert.equal(o.dryRun, true);
  assert.equal(o.allowLoop, false);
  assert.equal(o.maxRate, 250);
  assert.equal(o.maxBytesRate, 1000000.5);
  assert.equal(o.checkpoint, "cp.json");
  assert.equal(o.onBadObject, "skip");
  assert.equal(o.fetchConcurrency, 8);
  assert.equal(o.maxInflightBytes, 16 * 2 ** 20);
  assert.equal(o.progress, "json");

  // The selection flags shared with query/export/verify: ages, sender, format.
  const shared = parseRestoreArgs(
    ["--topic", "t", "--since", "1h", "--sender", "alice", "--format", "circular"],
    {},
    noFile,
    10_000_000n,
  );
  assert.deepEqual(shared.filter, { topics: ["t"], since: 6_400_000n, sender: "alice", format: "circular" });
});

Deno.test("parseRestoreArgs: defaults, and refusals that say what to do", () => {
  const o = parseRestoreArgs(["--topic", "t"], {}, noFile);
  assert.deepEqual(o.filter, { topics: ["t"] });
  assert.equal(o.onBadObject, "stop");
  assert.equal(o.progress, "auto");
  assert.equal(o.maxRate, undefined);
  assert.equal(o.checkpoint, undefined);
  assert.equal(o.fetchConcurrency, 16);

  const usage = (argv: string[], pattern: RegExp) =>
    assert.throws(() => parseRestoreArgs(argv, {}, noFile), (e: Error & { code?: string }) => {
      assert.equal(e.code, "USAGE");
      assert.match(e.message, pattern);
      return true;
    });
  usage([], /needs a selection.*--topic-regex '\.\*'/);
  usage(["--topic", "bad topic"], /not a valid Kafka topic name/);
  usage(["--topic", "t", "--since", "yesterday"], /is not a time/);
  usage(["--topic", "t", "--since", "2024-06-01", "--until", "2024-05-01"], /must be before --until/);
  usage(["--uuid", "not-a-uuid"], /not a UUID/);
  usage(["--topic", "t", "--rename", "a"], /FROM=TO/);
  usage(["--topic", "t", "--rename", "a=b", "--rename", "a=c"], /two targets/);
  usage(["--topic", "t", "--to-prefix", "bad/"], /--to-prefix/);
  usage(["--topic", "t", "--max-rate", "0"], /--max-rate must be a number from 0.001 to/);
  usage(["--topic", "t", "--from-offset", "5", "--to-offset", "5"], /must be below/);
  usage(["--topic", "t", "--on-bad-object", "ignore"], /stop, skip/);
  usage(["--topic", "t", "--no-such-flag"], /restore --help/);
});

function settingsFor(values: Record<string, string>): ResolvedSettings {
  return parseRestoreArgs(
    ["--topic", "t", ...Object.entries(values).flatMap(([k, v]) => [`--${k}`, v])],
    {},
    noFile,
  ).settings;
}

Deno.test("target connection: --target-X > RESTORE_* > the source's setting; credentials go in pairs", () => {
  const source = settingsFor({
    brokers: "src:9092",
    username: "alice",
    password: "pw",
    "security-protocol": "SASL_SSL",
  });
  const inherited = targetSettings(source, {}, {});
  assert.equal(inherited.brokers.value, "src:9092");
  assert.equal(inherited.username.value, "alice");
  assert.equal(inherited.password.value, "pw");

  const mixed = targetSettings(source, { "target-security-protocol": "SASL_PLAINTEXT" }, {
    RESTORE_KAFKA_BROKERS: "dst:9092",
    RESTORE_KAFKA_SECURITY_PROTOCOL: "SSL",
    RESTORE_KAFKA_USERNAME: "bob",
  });
  assert.equal(mixed.brokers.value, "dst:9092");
  assert.equal(mixed["security-protocol"].value, "SASL_PLAINTEXT", "the flag beats the variable");
  assert.equal(mixed.username.value, "bob");
  assert.equal(mixed.password.value, undefined, "bob must not get alice's password");
  assert.equal(source.brokers.value, "src:9092", "the source settings are not modified");

  const parsed = parseRestoreArgs(["--topic", "t", "--target-brokers", "x:1"], {}, noFile);
  assert.equal(parsed.target.brokers.value, "x:1");
  assert.equal(parsed.settings.brokers.value, "kafka.scimma.org:9092");
});

Deno.test("naming, partition fallback and UUID files", () => {
  const naming = { renames: new Map([["a", "z"]]), prefix: "r." };
  assert.equal(targetTopic(naming, "a"), "z");
  assert.equal(targetTopic(naming, "b"), "r.b");
  assert.equal(targetTopic({ renames: new Map(), prefix: undefined }, "b"), "b");

  assert.deepEqual(targetPartition(2, 3), { partition: 2, fallback: false });
  assert.deepEqual(targetPartition(5, 3), { partition: 2, fallback: true });
  assert.deepEqual(targetPartition(null, 3), { partition: 0, fallback: true });

  assert.deepEqual(parseUuidFile("\n# c\nAAAAAAAA-1111-4222-8333-444455556666\n", "f"), [
    "aaaaaaaa-1111-4222-8333-444455556666",
  ]);
  assert.throws(() => parseUuidFile("x\n", "f.txt"), /f\.txt:1/);
});

Deno.test("loop guard: same cluster by address, and only targets the archiver would archive", () => {
  assert.equal(sameBrokers(["Kafka.scimma.org:9092"], ["b:1", "kafka.scimma.org:9092"]), true);
  assert.equal(sameBrokers(["a:1"], ["b:1"]), false);
  const veto = parseVeto("topics: [sys.heartbeat]\npatterns: ['restored\\..*']\n", "test");
  assert.deepEqual(loopingTargets(["restored.gcn", "gcn", "sys.heartbeat", "__consumer_offsets"], veto), [
    "gcn",
  ]);
});

Deno.test("selectionKey ignores the order of repeated flags and changes with the target", () => {
  const naming = { renames: new Map([["a", "b"], ["c", "d"]]), prefix: undefined };
  const reordered = { renames: new Map([["c", "d"], ["a", "b"]]), prefix: undefined };
  const one = selectionKey({ topics: ["x", "y"], since: 5n }, naming, ["h:1"]);
  assert.equal(one, selectionKey({ topics: ["y", "x"], since: 5n }, reordered, ["H:1"]));
  assert.notEqual(one, selectionKey({ topics: ["x", "y"], since: 6n }, naming, ["h:1"]));
  assert.notEqual(one, selectionKey({ topics: ["x", "y"], since: 5n }, naming, ["h:2"]));
});

Deno.test("rate limiter: one second of burst, then reservations wait their turn", () => {
  let now = 0;
  const limiter = createRateLimiter(10, () => now);
  const waits = Array.from({ length: 13 }, () => limiter.reserve(1));
  assert.deepEqual(waits.slice(0, 10), Array(10).fill(0));
  assert.deepEqual(waits.slice(10).map(Math.round), [100, 200, 300]);
  now = 300; // the debt of three is paid off: the next one waits its own 100 ms
  assert.equal(Math.round(limiter.reserve(1)), 100);
  now = 5000; // idle time refills the burst, no more
  assert.deepEqual(Array.from({ length: 11 }, () => Math.round(limiter.reserve(1))), [
    ...Array(10).fill(0),
    100,
  ]);

  now = 0;
  const bytes = createRecordLimiter({ bytesPerSecond: 1000 }, () => now);
  assert.equal(bytes.reserve(1000), 0);
  assert.equal(
    Math.round(bytes.reserve(5000)),
    5000,
    "a record larger than the burst is paid for by waiting",
  );
  const both = createRecordLimiter({ recordsPerSecond: 1, bytesPerSecond: 1_000_000 }, () => now);
  assert.equal(both.reserve(10), 0);
  assert.equal(Math.round(both.reserve(10)), 1000, "the stricter limit decides");
  assert.throws(() => createRateLimiter(0), RangeError);
});

Deno.test("checkpoint: atomic replace, round trip, and refusal to resume another restore", async () => {
  const dir = await Deno.makeTempDir({ prefix: "restore-cp-" });
  try {
    const path = `${dir}/cp.json`;
    assert.equal(await readCheckpoint(path), null);
    const selection = selectionKey({ topics: ["t"] }, { renames: new Map(), prefix: "r." }, ["h:1"]);
    const cp = {
      selection,
      position: { legacy: false as const, topic: "t", partition: 2, offset: 2n ** 62n, id: 7n },
      sent: 3,
      skipped: 1,
      bytes: 99,
      complete: false,
    };
    await writeCheckpoint(path, cp);
    await writeCheckpoint(path, { ...cp, sent: 4 });
    assert.deepEqual(await readCheckpoint(path), { ...cp, sent: 4 });
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["cp.json"], "no temporary file is left");
    const targetEnds = { "r.t": { "0": "12", "1": "0" } };
    await writeCheckpoint(path, { ...cp, targetEnds });
    assert.deepEqual(await readCheckpoint(path), { ...cp, targetEnds });
    const v1 = { ...JSON.parse(await Deno.readTextFile(path)), version: 1 };
    delete v1.targetEnds;
    await Deno.writeTextFile(path, JSON.stringify(v1));
    assert.deepEqual(await readCheckpoint(path), cp, "a version 1 checkpoint (no end offsets) is still read");
    await Deno.writeTextFile(
      path,
      JSON.stringify({ ...v1, version: 2, targetEnds: { "r.t": { "0": "-1" } } }),
    );
    await assert.rejects(readCheckpoint(path), { code: "RESTORE_CHECKPOINT_INVALID" });
    const legacy = { legacy: true as const, topic: "gcn.circular", timestamp: -1n, id: 1n };
    await writeCheckpoint(path, { ...cp, position: legacy });
    assert.deepEqual((await readCheckpoint(path))?.position, legacy);

    checkResumable(path, cp, selection);
    const other = selectionKey({ topics: ["t"] }, { renames: new Map(), prefix: "x." }, ["h:1"]);
    assert.throws(() => checkResumable(path, cp, other), (e: Error & { code?: string }) => {
      assert.equal(e.code, "RESTORE_CHECKPOINT_MISMATCH");
      assert.match(e.message, /differs in: prefix/);
      return true;
    });
    await Deno.writeTextFile(path, "{");
    await assert.rejects(readCheckpoint(path), { code: "RESTORE_CHECKPOINT_INVALID" });
    await assert.rejects(
      writeCheckpoint(`${dir}/missing/cp.json`, cp),
      { code: "RESTORE_CHECKPOINT_FAILED" },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("landed records: found in order per partition, other producers' stepped over", () => {
  const rec = (
    n: number,
    headers: { key: string; value: Uint8Array | null; keyBytes?: Uint8Array }[] = [],
  ) => ({
    key: null,
    value: new Uint8Array([n]),
    headers,
    timestamp: BigInt(n),
  });
  const foreign = { ...rec(99), key: new Uint8Array([1]) };
  const h = [{ key: "_id", value: new Uint8Array([7]) }, { key: "a", value: null }];
  const found = new Map([["t", new Map([[0, [rec(1), foreign, rec(2, h)]], [1, [rec(5)]]])]]);
  const landed = landedMatcher(found);
  assert.equal(landed.unmatched, 4);
  assert.equal(landed.take("t", 0, rec(1)), true);
  assert.equal(landed.take("t", 1, rec(4)), false, "not there: nothing after it in partition 1 can be");
  assert.equal(landed.take("t", 1, rec(5)), false);
  assert.equal(landed.take("t", 0, rec(2)), false, "headers differ");
  assert.equal(landed.take("t", 0, rec(3)), false);
  assert.equal(landed.unmatched, 0);

  const again = landedMatcher(found);
  assert.equal(again.take("t", 0, rec(1)), true);
  assert.equal(
    again.take("t", 0, rec(2, [{ key: "_id", value: new Uint8Array([7]) }, { key: "a", value: null }])),
    true,
  );
  assert.equal(again.take("other", 0, rec(1)), false);
  assert.equal(again.take("t", 1, rec(5)), true);
  assert.equal(again.unmatched, 0);

  assert.equal(sameRecord(rec(1), { ...rec(1), timestamp: 2n }), false);
  assert.equal(
    sameRecord(rec(1, [{ key: "a", value: null }]), rec(1, [{ key: "a", value: new Uint8Array() }])),
    false,
  );
  assert.equal(
    sameRecord(
      { ...rec(1), headers: [{ key: new TextEncoder().encode("k"), value: null }] },
      rec(1, [{ key: "k", value: null }]),
    ),
    true,
    "a header key sent as bytes is the string kafkajs reads back",
  );
  // Keys that are not UTF-8 compare as bytes: ff and fe read as the same text (U+FFFD), and are not the same.
  const raw = (b: number) => ({ key: "\ufffd", keyBytes: Uint8Array.of(b), value: null });
  assert.equal(sameRecord(rec(1, [raw(0xff)]), rec(1, [raw(0xfe)])), false, "ff is not fe");
  assert.equal(
    sameRecord(rec(1, [raw(0xff)]), { ...rec(1), headers: [{ key: Uint8Array.of(0xff), value: null }] }),
    true,
  );
  assert.deepEqual(
    spansBeyond({ t: { "0": "3", "1": "5" }, gone: { "0": "1" } }, { t: { "0": "3", "1": "9", "2": "4" } }),
    [{ topic: "t", partition: 1, from: 5n, to: 9n }],
  );
  assert.deepEqual(
    mergeEnds({ t: { "0": "3" } }, { t: { "0": "8", "1": "2" }, u: { "0": "1" } }),
    { t: { "0": "3", "1": "2" }, u: { "0": "1" } },
    "recorded ends win; partitions and topics without one start from their current end",
  );
  assert.match(
    readbackGroup("alice"),
    /^alice-restore-readback-[0-9a-f-]{36}$/,
    "Hopskotch groups: <username>-...",
  );
  assert.match(readbackGroup(undefined), /^housekeeping-restore-readback-/);
});

function legacyRow(bytes: Uint8Array, key: string, bucket: string): StoredRow {
  const d = decodeArchiveObject(bytes);
  return {
    uuid: d.uuid!,
    topic: d.topic,
    timestamp: d.timestamp,
    partition: null,
    offset: null,
    size: bytes.length,
    key,
    bucket,
    crc32: 3285559954,
    isClientUuid: true,
    messageCrc32: 4221669015,
    archivedAt: null,
    archiverVersion: null,
    contentSha256: null,
    valueSize: null,
    sender: "alice",
    format: "json",
    isTest: false,
    clashOf: null,
  };
}

Deno.test("verifyObject: accepts both layouts, names every kind of damage", () => {
  const legacy = Deno.readFileSync(LEGACY_OBJECT);
  const row = legacyRow(legacy, "gcn.circular/2023/1/18/0/x.bson", "b");
  const ok = verifyObject(row, legacy);
  assert.ok("decoded" in ok);
  assert.equal(new TextDecoder().decode(ok.decoded.value!), '{"a": 1}');
  assert.equal(ok.decoded.headers.at(-1)!.value, null);

  const problem = (r: StoredRow, bytes: Uint8Array | null) => {
    const v = verifyObject(r, bytes);
    assert.ok("problem" in v, "expected a problem");
    return v.problem;
  };
  assert.match(problem(row, null), /missing/);
  assert.match(problem({ ...row, size: 405 }, legacy), /404 bytes, the index says 405/);
  const flipped = legacy.slice();
  flipped[200]! ^= 0x01;
  assert.match(problem(row, flipped), /CRC-32/);
  assert.match(problem({ ...row, topic: "other" }, legacy), /topic/);
  assert.match(problem({ ...row, messageCrc32: 1 }, legacy), /value CRC-32/);

  const record: KafkaRecord = {
    topic: "t",
    partition: 1,
    offset: 5n,
    timestamp: 0n,
    key: null,
    value: null,
    headers: [{ key: "a", value: null }, { key: "a", value: new Uint8Array(0) }],
  };
  const uuid = "0d5f7c5e-1111-4222-8333-444455556666";
  const bytes = encodeArchiveObject(record, { uuid, isClientUuid: false }, {
    archivedAt: 1n,
    archiverVersion: "t",
  });
  const current = decodeArchiveObject(bytes);
  const currentRow: StoredRow = {
    ...row,
    uuid,
    topic: "t",
    timestamp: 0n,
    partition: 1,
    offset: 5n,
    size: bytes.length,
    crc32: crc32Of(bytes),
    messageCrc32: 0,
    contentSha256: current.contentSha256,
  };
  assert.ok("decoded" in verifyObject(currentRow, bytes), "a tombstone with null headers verifies");
  assert.match(problem({ ...currentRow, offset: 6n }, bytes), /offset is 5, the index says 6/);
  assert.match(problem({ ...currentRow, contentSha256: "00" }, bytes), /content SHA-256/);
  assert.equal(
    recordBytes({ key: utf8("k"), value: null, headers: [{ key: "ключ", value: utf8("v") }] }),
    10,
  );
  // A key that is not UTF-8 counts its wire bytes (1), not its text's (3 for U+FFFD).
  assert.equal(
    recordBytes({
      key: null,
      value: null,
      headers: [{ key: "\ufffd", keyBytes: Uint8Array.of(0xff), value: null }],
    }),
    1,
  );
});

function crc32Of(bytes: Uint8Array): number {
  // Independent of lib/format/checksum.ts: the reference table-driven IEEE CRC-32.
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** Archive objects and their index rows, for the restore loop without services. */
function archivedRows(
  count: number,
  partitions: number,
): { rows: (StoredRow & { id: bigint })[]; objects: Map<string, Uint8Array> } {
  const objects = new Map<string, Uint8Array>();
  const rows = Array.from({ length: count }, (_, i) => {
    const partition = i % partitions;
    const record: KafkaRecord = {
      topic: "t",
      partition,
      offset: BigInt(Math.floor(i / partitions)),
      timestamp: 1_700_000_000_000n + BigInt(i),
      key: null,
      value: new Uint8Array(1000).fill(i & 0xff),
      headers: [{ key: "n", value: utf8(String(i)) }],
    };
    const uuid = `0d5f7c5e-1111-4222-8333-${String(i).padStart(12, "0")}`;
    const bytes = encodeArchiveObject(record, { uuid, isClientUuid: false }, {
      archivedAt: 1n,
      archiverVersion: "t",
    });
    const key = `t/${uuid}.bson`;
    objects.set(key, bytes);
    return {
      uuid,
      topic: "t",
      timestamp: record.timestamp,
      partition,
      offset: record.offset,
      size: bytes.length,
      key,
      bucket: "b",
      crc32: crc32Of(bytes),
      isClientUuid: false,
      messageCrc32: crc32Of(record.value!),
      archivedAt: 1n,
      archiverVersion: "t",
      contentSha256: decodeArchiveObject(bytes).contentSha256,
      valueSize: 1000,
      sender: null,
      format: null,
      isTest: false,
      clashOf: null,
      id: BigInt(i + 1),
    };
  });
  // Restore order: by partition and offset.
  rows.sort((a, b) => a.partition - b.partition || Number(a.offset - b.offset));
  return { rows, objects };
}

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("restore loop: up to requestsInFlight requests in flight, the next prepared meanwhile; checkpoints only what was acknowledged, in request order", async () => {
  const { rows, objects } = archivedRows(60, 2);
  const index = {
    selectInOrder: (_filter: unknown, { after, limit }: { after?: OrderPosition; limit: number }) => {
      const from = after === undefined ? 0 : rows.findIndex((r) => r.id === after.id) + 1;
      return Promise.resolve(rows.slice(from, from + limit));
    },
  };
  const inFlight = 3;
  let getting = 0;
  let mostGetting = 0;
  let publishing = 0;
  let mostPublishing = 0;
  let startedWhilePublishing = 0;
  // Objects arrive out of order (random delays), so the window must hold some back and keep fetching behind them.
  const store = {
    get: async (key: string) => {
      mostGetting = Math.max(mostGetting, ++getting);
      if (publishing > 0) startedWhilePublishing++;
      await tick(Math.random() * 4);
      getting--;
      return objects.get(key)!;
    },
  };
  const run = (failAt: number | null) => {
    const published: string[][] = [];
    const acknowledged = new Set<number>();
    const applied: number[] = [];
    const saved: Checkpoint[] = [];
    const result = runRestore(
      {
        filter: { topics: ["t"] },
        naming: { renames: new Map(), prefix: "x." },
        // About four records per partition per request: many requests.
        targets: new Map([["x.t", { partitions: 2, maxMessageBytes: 128 + 4 * 1100 }]]),
        start: { selection: "s", position: null, sent: 0, skipped: 0, bytes: 0, complete: false },
        onBadObject: "stop",
        fetchConcurrency: 4,
        maxInflightBytes: 2 ** 20,
        pageRows: 7,
        requestsInFlight: inFlight,
      },
      {
        index,
        store,
        log: silentLogger,
        signal: new AbortController().signal,
        publish: async (batch) => {
          mostPublishing = Math.max(mostPublishing, ++publishing);
          assert.ok(publishing <= inFlight, `at most ${inFlight} requests in flight (${publishing})`);
          const request = published.length;
          published.push(
            batch.flatMap((b) => b.messages.map((m) => m.value!.toString("latin1").slice(0, 1))),
          );
          // Answers arrive in any order.
          await tick(1 + Math.random() * 6);
          publishing--;
          if (request + 1 === failAt) throw new Error("refused");
          acknowledged.add(request);
          return () => {
            applied.push(request);
          };
        },
        progress: { tick() {}, done() {} },
        saveCheckpoint: (cp) => {
          // Saved right after its own request's acknowledgement was applied, with every earlier one: the checkpoint
          // counts exactly the records of the requests acknowledged so far in order.
          const through = applied.length;
          assert.deepEqual(applied, [...Array(through).keys()], "acknowledgements applied in request order");
          for (let r = 0; r < through; r++) assert.ok(acknowledged.has(r));
          const records = published.slice(0, through).reduce((n, values) => n + values.length, 0);
          assert.equal(cp.sent, records, "the checkpoint counts exactly the acknowledged records");
          if (!cp.complete) assert.equal(cp.position!.id, rows[records - 1]!.id);
          saved.push(structuredClone(cp));
          return Promise.resolve();
        },
      },
    );
    return { result, published, saved };
  };

  const ok = run(null);
  const result = await ok.result;
  assert.equal(result.sent, rows.length);
  // Every record once, in restore order (the first byte of each value is its number), requests in order.
  assert.deepEqual(ok.published.flat(), rows.map((r) => String.fromCharCode(Number(r.id - 1n) & 0xff)));
  assert.ok(ok.published.length >= 8, `many requests (${ok.published.length})`);
  assert.equal(ok.saved.at(-1)!.complete, true);
  assert.equal(ok.saved.length, ok.published.length + 1, "a checkpoint per request, and one at the end");
  assert.ok(mostGetting <= 4, `at most --fetch-concurrency objects fetched at once (${mostGetting})`);
  assert.equal(mostGetting, 4, "and that many while objects wait their turn");
  assert.ok(startedWhilePublishing > 0, "the following records are fetched while a request is in flight");
  assert.ok(mostPublishing > 1, `more than one request in flight (${mostPublishing})`);

  const failing = run(3);
  await assert.rejects(failing.result, /refused/);
  assert.ok(
    failing.published.length <= 3 + inFlight - 1,
    `at most ${inFlight - 1} requests sent after a request that failed (${failing.published.length})`,
  );
  const last = failing.saved.at(-1)!;
  assert.equal(
    last.sent,
    failing.published[0]!.length + failing.published[1]!.length,
    "nothing after it checkpointed",
  );
  assert.equal(last.complete, false);
});

// ---------------------------------------------------------------------------------------- real services

interface PeerMessage {
  partition: number;
  offset: number;
  key: string | null;
  value: string | null;
  headers: [string, string | null][];
  timestampType: string | null;
  timestamp: number;
}

/** Everything in `topic`, read by confluent-kafka, ordered by (partition, offset). */
async function consume(topic: string, count: number): Promise<PeerMessage[]> {
  if (count === 0) return [];
  return JSON.parse(await runPython("peer_consume.py", [serviceEnv("KAFKA_BROKERS"), topic, String(count)]));
}

/** The record without its offset: what must survive a restore into a topic that numbers offsets afresh. */
const content = ({ offset: _offset, ...rest }: PeerMessage) => rest;

async function withAdmin<T>(fn: (admin: ReturnType<ReturnType<typeof adminKafka>["admin"]>) => Promise<T>) {
  const admin = adminKafka().admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

/** End offsets per partition: proves nothing was sent twice (peer_consume stops at the count it was given). */
async function endOffsets(topic: string): Promise<number[]> {
  return await withAdmin(async (admin) =>
    (await admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition).map((p) =>
      Number(p.high)
    )
  );
}

async function topicExists(topic: string): Promise<boolean> {
  return await withAdmin(async (admin) => (await admin.listTopics()).includes(topic));
}

// The corpus holds far-future and 1970 timestamps: the shared helper allows the one and keeps the other.
const createTopic = (topic: string, partitions: number) => createTopics([topic], partitions);

/** Deletes every topic and consumer group of this test (all are named after `id`). */
async function cleanKafka(id: string): Promise<void> {
  await withAdmin(async (admin) => {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(id));
    const { groups } = await admin.listGroups();
    const mine = groups.map((g) => g.groupId).filter((g) => g.includes(id));
    if (mine.length > 0) await admin.deleteGroups(mine).catch(() => {});
    if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => {});
  });
}

/** Adversarial records for `partitions` partitions: every header, key, value and timestamp oddity librdkafka sends. */
function adversarialCorpus(partitions: number): PeerRecord[] {
  const records: PeerRecord[] = [];
  const clientId = (i: number) => Uint8Array.from({ length: 16 }, (_, k) => (k * 17 + i) & 0xff);
  for (let i = 0; i < 45; i++) {
    const tag = utf8(`record ${i}`);
    const headerSets: [string, Uint8Array | null][][] = [
      [],
      [["dup", utf8("first")], ["other", new Uint8Array(0)], ["dup", null], [
        "dup",
        Uint8Array.of(0xff, 0xfe, 0),
      ]],
      [["_id", clientId(i)], ["_sender", utf8("alice")], ["_format", utf8("blob")], ["n", null]],
      [["ключ", utf8("значение")], ["empty", new Uint8Array(0)], ["bin", Uint8Array.of(0x80, 0xc0, 0xf5)]],
      [["a", tag], ["a", tag], ["a", null], ["b", utf8("x")], ["a", utf8("again")]],
    ];
    const values: (Uint8Array | null)[] = [
      tag,
      null,
      new Uint8Array(0),
      Uint8Array.from([0xff, 0x00, ...tag, 0xfe]),
      utf8(`{"i": ${i}, "text": "ünïcødé"}`),
    ];
    const keys: (Uint8Array | null)[] = [
      null,
      new Uint8Array(0),
      utf8(`key-${i}`),
      Uint8Array.of(0, 0xff, i),
    ];
    // Timestamps (unique, so that no two records share an archive identity): near the smallest librdkafka can send
    // (0 means "now" to it), far future, and out of offset order.
    const timestamps = [1 + i, 32503680000000 + i, 1700000000000 - i * 1000, 1600000000000 + i];
    records.push({
      value: values[i % values.length]!,
      key: keys[i % keys.length]!,
      headers: headerSets[i % headerSets.length]!,
      partition: i % partitions,
      timestamp: timestamps[i % timestamps.length]!,
    });
  }
  // One record larger than a default produce request budget of several records.
  records.push({
    value: Uint8Array.from({ length: 1_500_000 }, (_, k) => (k * 31) & 0xff),
    key: utf8("big"),
    headers: [["size", utf8("1.5MB")]],
    partition: 1,
    timestamp: 1700000000500,
  });
  return records;
}

Deno.test("restore: librdkafka and hop-client traffic comes back identical; every path of the command", async (t) => {
  const { id, group, schema } = testIds("rst");
  const dir = await Deno.makeTempDir({ prefix: "restore-" });
  const store = `file://${dir}/store`;
  const veto = `${dir}/veto.yaml`;
  // This test's archiver archives only its own source topics; everything else (targets included) is vetoed.
  await Deno.writeTextFile(veto, `patterns:\n  - "(?!${id}-src-).*"\n`);
  const adv = `${id}-src-adv`;
  const hop = `${id}-src-hop`;
  const base = ["--store", store, "--db-schema", schema, "--veto", veto];
  const restore = async (args: string[], env: Record<string, string> = {}) => {
    const run = await runMain(["restore", ...base, "--progress", "none", ...args], archiveEnv(env));
    const summary = run.stdout.trim() === "" ? null : JSON.parse(run.stdout);
    return { ...run, summary };
  };
  /** The corpus topic restored into `target` (created), resumable with `checkpoint`. */
  const checkpointed = (
    target: string,
    checkpoint: string,
  ) => ["--topic", adv, "--rename", `${adv}=${target}`, "--create-topics", "--checkpoint", checkpoint];
  /** `restore args` at 8 records/s, stopped with SIGTERM once its checkpoint counts a few acknowledged records. */
  const restoreUntilSigterm = async (args: string[], checkpoint: string) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${ROOT}main.ts`,
        "restore",
        ...base,
        "--progress",
        "none",
        ...args,
        "--max-rate",
        "8",
      ],
      env: archiveEnv(),
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    await waitFor(
      "a few acknowledged records",
      async () => ((await readCheckpoint(checkpoint).catch(() => null))?.sent ?? 0) >= 5 ? true : undefined,
    );
    child.kill("SIGTERM");
    const out = await child.output();
    return { code: out.code, summary: JSON.parse(new TextDecoder().decode(out.stdout)) };
  };
  try {
    await createTopic(adv, 3);
    await createTopic(hop, 1);
    const corpus = adversarialCorpus(3);
    await peerProduce(adv, corpus);
    const hopOut = await runPython("hop_publish.py", [
      serviceEnv("KAFKA_BROKERS"),
      hop,
      `${SAMPLES}hop-client`,
    ]);
    const hopCount = hopOut.trim().split("\n").length;
    const archived = await runMain(
      ["archive", "--until-end", "--group", group, ...base],
      archiveEnv(),
    );
    assert.equal(archived.code, 0, archived.stderr);
    const source = await consume(adv, corpus.length);
    const hopSource = await consume(hop, hopCount);
    assert.equal(source.length, corpus.length);
    assert.ok(hopSource.some((m) => m.headers.some(([k]) => k === "_format")), "hop-client headers present");
    const sql = schemaSql(schema);
    const rows = await sql<
      { uuid: string; partition: number; offset: bigint; timestamp: bigint; key: string }[]
    >`
      select uuid::text as uuid, partition, "offset", timestamp, key from messages where topic = ${adv}
      order by partition, "offset"`;
    await sql.end();
    assert.equal(rows.length, corpus.length, "every record archived once");
    const sourceAt = (p: number, o: number) => source.find((m) => m.partition === p && m.offset === o)!;

    await t.step("--dry-run counts per topic and partition, sends and creates nothing", async () => {
      const run = await restore(["--topic-regex", `^${id}-src-`, "--to-prefix", `${id}-out-`, "--dry-run"]);
      assert.equal(run.code, 0, run.stderr);
      const report = run.summary;
      assert.equal(report.dryRun, true);
      assert.equal(report.records, corpus.length + hopCount);
      assert.ok(report.bytes > 1_500_000);
      const advPlan = report.topics.find((x: { source: string }) => x.source === adv);
      assert.equal(advPlan.target, `${id}-out-${adv}`);
      assert.deepEqual(
        advPlan.partitions.map((p: { partition: number; records: number }) => [p.partition, p.records]),
        [0, 1, 2].map((p) => [p, source.filter((m) => m.partition === p).length]),
      );
      const stamps = source.map((m) => m.timestamp);
      assert.equal(advPlan.timeSpan.from, Math.min(...stamps));
      assert.equal(advPlan.timeSpan.to, Math.max(...stamps));
      assert.equal(await topicExists(`${id}-out-${adv}`), false);
    });

    await t.step("everything, into new prefixed topics: identical, in order, nothing twice", async () => {
      const args = [
        "--topic-regex",
        `^${id}-src-`,
        "--to-prefix",
        `${id}-out-`,
        "--create-topics",
        "--checkpoint",
        `${dir}/all.json`,
      ];
      const run = await restore(args);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.summary.sent, corpus.length + hopCount);
      assert.equal(run.summary.complete, true);
      const created = await withAdmin((admin) =>
        admin.describeConfigs({
          resources: [{ type: ConfigResourceTypes.TOPIC, name: `${id}-out-${adv}` }],
          includeSynonyms: false,
        })
      );
      const config = new Map(created.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
      assert.equal(config.get("message.timestamp.type"), "CreateTime");
      assert.equal(config.get("retention.ms"), "-1", "old records are not deleted by time-based retention");
      assert.deepEqual(await consume(`${id}-out-${adv}`, corpus.length), source);
      assert.deepEqual(await consume(`${id}-out-${hop}`, hopCount), hopSource);
      assert.deepEqual(
        await endOffsets(`${id}-out-${adv}`),
        await endOffsets(adv),
        "same partitions and counts",
      );

      const again = await restore(args);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.summary.alreadyComplete, true);
      assert.deepEqual(
        await endOffsets(`${id}-out-${adv}`),
        await endOffsets(adv),
        "a finished restore sends nothing",
      );
    });

    await t.step("--rename and rate limits", async () => {
      const target = `${id}-ren-hop`;
      const run = await restore([
        "--topic",
        hop,
        "--rename",
        `${hop}=${target}`,
        "--create-topics",
        "--max-rate",
        String(Math.max(1, Math.floor(hopCount / 2))),
        "--max-bytes-rate",
        "1000000",
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.ok(run.summary.throttle.waits > 0, "the record rate limit made the restore wait");
      assert.deepEqual(await consume(target, hopCount), hopSource);
    });

    await t.step("selection by partition and offset range", async () => {
      const target = `${id}-sel-part`;
      const run = await restore([
        "--topic",
        adv,
        "--partition",
        "1",
        "--from-offset",
        "2",
        "--to-offset",
        "5",
        "--rename",
        `${adv}=${target}`,
        "--create-topics",
      ]);
      assert.equal(run.code, 0, run.stderr);
      const got = await consume(target, 3);
      assert.deepEqual(got.map(content), [2, 3, 4].map((o) => content(sourceAt(1, o))));
      assert.deepEqual(await endOffsets(target), [0, 3, 0]);
    });

    await t.step("selection by UUIDs (arguments, --uuid, --uuid-file) and by time", async () => {
      const picked = [rows[0]!, rows[7]!, rows[20]!];
      await Deno.writeTextFile(`${dir}/uuids.txt`, `# picked\n${picked[1]!.uuid.toUpperCase()}\n`);
      const target = `${id}-sel-uuid`;
      const run = await restore([
        picked[0]!.uuid,
        "--uuid",
        picked[2]!.uuid,
        "--uuid-file",
        `${dir}/uuids.txt`,
        "--rename",
        `${adv}=${target}`,
        "--create-topics",
      ]);
      assert.equal(run.code, 0, run.stderr);
      const expected = picked.map((r) => sourceAt(r.partition, Number(r.offset)));
      assert.deepEqual((await consume(target, 3)).map(content), expected.map(content));

      const since = 1600000000000;
      const until = 1600000000040;
      const inRange = source.filter((m) => m.timestamp >= since && m.timestamp < until);
      assert.ok(inRange.length > 3);
      const timed = `${id}-sel-time`;
      const byTime = await restore([
        "--topic",
        adv,
        "--since",
        new Date(since).toISOString(),
        "--until",
        String(until),
        "--rename",
        `${adv}=${timed}`,
        "--create-topics",
      ]);
      assert.equal(byTime.code, 0, byTime.stderr);
      assert.deepEqual((await consume(timed, inRange.length)).map(content), inRange.map(content));
    });

    await t.step("the loop guard refuses a target the archiver would archive, and says why", async () => {
      const looping = `${id}-src-copy`;
      const run = await restore(["--topic", adv, "--rename", `${adv}=${looping}`, "--create-topics"]);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /RESTORE_LOOP/);
      assert.match(run.stderr, /archived a second time.*--allow-loop/);
      assert.equal(await topicExists(looping), false);
      const allowed = await restore([
        "--topic",
        adv,
        "--rename",
        `${adv}=${looping}`,
        "--allow-loop",
        "--dry-run",
      ]);
      assert.equal(allowed.code, 0, allowed.stderr);
    });

    await t.step(
      "a target cluster with its own connection; the loop guard also knows it by cluster id",
      async () => {
        // The same broker through its SASL listener: another address, another credential, the same cluster.
        const sasl = {
          RESTORE_KAFKA_BROKERS: serviceEnv("KAFKA_SASL_BROKERS"),
          RESTORE_KAFKA_USERNAME: serviceEnv("KAFKA_USERNAME"),
          RESTORE_KAFKA_PASSWORD: serviceEnv("KAFKA_PASSWORD"),
          RESTORE_KAFKA_SECURITY_PROTOCOL: "SASL_PLAINTEXT",
        };
        const looping = await restore([
          "--topic",
          hop,
          "--rename",
          `${hop}=${id}-src-viasasl`,
          "--create-topics",
        ], sasl);
        assert.equal(looping.code, 1);
        assert.match(looping.stderr, /RESTORE_LOOP/);
        assert.equal(await topicExists(`${id}-src-viasasl`), false);

        const target = `${id}-sasl`;
        const run = await restore(["--topic", hop, "--rename", `${hop}=${target}`, "--create-topics"], sasl);
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(await consume(target, hopCount), hopSource);
        const wrong = await restore(["--topic", hop, "--rename", `${hop}=${target}`, "--dry-run"], {
          ...sasl,
          RESTORE_KAFKA_PASSWORD: "wrong",
        });
        assert.equal(wrong.code, 0, "a dry run does not connect to the target");
        const refused = await restore(["--topic", hop, "--rename", `${hop}=${target}`], {
          ...sasl,
          RESTORE_KAFKA_PASSWORD: "wrong",
        });
        assert.equal(refused.code, 1);
        assert.match(refused.stderr, /KAFKA_AUTH_FAILED/);
        assert.doesNotMatch(refused.stderr, /hk-test-secret|"wrong"/);
      },
    );

    const victim = rows.find((r) => r.partition === 1 && r.offset === 1n)!;
    const victimPath = `${dir}/store/${victim.key}`;
    const original = await Deno.readFile(victimPath);
    const damaged = original.slice();
    damaged[damaged.length - 20]! ^= 0x40;

    await t.step("a damaged object stops the restore; the checkpoint resumes it once repaired", async () => {
      const target = `${id}-resume`;
      const checkpoint = `${dir}/resume.json`;
      const args = checkpointed(target, checkpoint);
      await Deno.writeFile(victimPath, damaged);
      const stopped = await restore(args);
      assert.equal(stopped.code, 1);
      assert.match(stopped.stderr, /RESTORE_BAD_OBJECT/);
      assert.match(stopped.stderr, new RegExp(victim.uuid));
      const before = source.filter((m) => m.partition === 0).length + 1;
      assert.equal((await readCheckpoint(checkpoint))?.sent, before);
      assert.deepEqual(await endOffsets(target), [before - 1, 1, 0], "nothing after the bad object was sent");

      await Deno.writeFile(victimPath, original);
      const resumed = await restore(args);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.equal(resumed.summary.sent, corpus.length - before);
      assert.equal(resumed.summary.totals.sent, corpus.length);
      assert.deepEqual(await consume(target, corpus.length), source);
      assert.deepEqual(await endOffsets(target), await endOffsets(adv));

      const other = await restore([
        "--topic",
        hop,
        "--rename",
        `${hop}=${target}`,
        "--checkpoint",
        checkpoint,
      ]);
      assert.equal(other.code, 1);
      assert.match(other.stderr, /RESTORE_CHECKPOINT_MISMATCH/);
    });

    await t.step(
      "an existing target that would delete old records by retention.ms is named in a warning",
      async () => {
        const target = `${id}-short`;
        await withAdmin((admin) =>
          admin.createTopics({
            topics: [{
              topic: target,
              numPartitions: 3,
              configEntries: [
                { name: "message.timestamp.after.max.ms", value: "9223372036854775807" },
                { name: "retention.ms", value: "3600000" },
              ],
            }],
            waitForLeaders: true,
          })
        );
        const run = await restore(["--topic", adv, "--rename", `${adv}=${target}`]);
        assert.equal(run.code, 0, run.stderr);
        const warning = run.stderr.split("\n").find((l) =>
          l.includes("deletes records older than its retention.ms")
        );
        assert.ok(warning, `no retention warning in:\n${run.stderr.slice(-2000)}`);
        assert.equal(JSON.parse(warning).topic, target);
        assert.match(JSON.parse(warning).fix, /retention\.ms=-1/);
        const kept = await restore(["--topic", adv, "--rename", `${adv}=${id}-long`, "--create-topics"]);
        assert.equal(kept.code, 0, kept.stderr);
        assert.doesNotMatch(kept.stderr, /deletes records older/, "a topic restore creates keeps everything");
      },
    );

    await t.step("--on-bad-object skip reports missing and damaged objects and sends the rest", async () => {
      const missing = rows.find((r) => r.partition === 2 && r.offset === 0n)!;
      const missingPath = `${dir}/store/${missing.key}`;
      const missingBytes = await Deno.readFile(missingPath);
      await Deno.writeFile(victimPath, damaged);
      await Deno.remove(missingPath);
      try {
        const target = `${id}-skip`;
        const run = await restore([
          "--topic",
          adv,
          "--rename",
          `${adv}=${target}`,
          "--create-topics",
          "--on-bad-object",
          "skip",
        ]);
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.summary.skipped, 2);
        assert.deepEqual(
          run.summary.badObjects.map((
            b: { uuid: string; problem: string },
          ) => [b.uuid, b.problem.split(" ")[1]]),
          [[victim.uuid, "object's"], [missing.uuid, "object"]],
        );
        assert.match(run.summary.badObjects[1].problem, /missing/);
        const expected = source.filter((m) =>
          !(m.partition === 1 && m.offset === 1) && !(m.partition === 2 && m.offset === 0)
        );
        assert.deepEqual((await consume(target, expected.length)).map(content), expected.map(content));
      } finally {
        await Deno.writeFile(victimPath, original);
        await Deno.writeFile(missingPath, missingBytes);
      }
    });

    await t.step("SIGTERM stops after the request in flight; the same command continues", async () => {
      const target = `${id}-sig`;
      const checkpoint = `${dir}/sig.json`;
      const args = checkpointed(target, checkpoint);
      const out = await restoreUntilSigterm(args, checkpoint);
      const summary = out.summary;
      assert.equal(out.code, 1, "an interrupted restore does not report success");
      assert.equal(summary.interrupted, true);
      const done = (await readCheckpoint(checkpoint))!;
      assert.equal(done.complete, false);
      assert.equal(
        (await endOffsets(target)).reduce((a, b) => a + b, 0),
        done.sent,
        "the checkpoint counts exactly what the target holds",
      );
      const rest = await restore(args);
      assert.equal(rest.code, 0, rest.stderr);
      assert.equal(rest.summary.sent, corpus.length - done.sent);
      assert.equal(rest.summary.alreadyInTarget, 0);
      assert.deepEqual(await consume(target, corpus.length), source);
      assert.deepEqual(await endOffsets(target), await endOffsets(adv));
    });

    await t.step(
      "a kill between acknowledgement and checkpoint: the resumed run finds those records",
      async () => {
        // A SIGTERM leaves a prefix of the records in the target and a checkpoint that counts them. Resuming from the
        // checkpoint the run wrote before its first request instead is exactly what a kill -9 after the target
        // acknowledged those requests, and before the checkpoint recorded them, leaves behind.
        const target = `${id}-kill`;
        const checkpoint = `${dir}/kill.json`;
        const args = checkpointed(target, checkpoint);
        await restoreUntilSigterm(args, checkpoint);
        const stopped = (await readCheckpoint(checkpoint))!;
        const landed = (await endOffsets(target)).reduce((a, b) => a + b, 0);
        assert.equal(landed, stopped.sent);
        assert.deepEqual(
          stopped.targetEnds,
          { [target]: Object.fromEntries((await endOffsets(target)).map((n, p) => [String(p), String(n)])) },
          "the checkpoint records the target's end offsets",
        );
        // Another producer's record between ours: it is stepped over, not taken for one of ours.
        const foreign = adminKafka().producer();
        await foreign.connect();
        await foreign.send({
          topic: target,
          messages: [{ partition: 0, key: "another producer", value: "x" }],
        });
        await foreign.disconnect();

        const beforeFirstRequest: Checkpoint = {
          ...stopped,
          position: null,
          sent: 0,
          skipped: 0,
          bytes: 0,
          targetEnds: { [target]: { "0": "0", "1": "0", "2": "0" } },
        };
        await writeCheckpoint(`${dir}/kill-start.json`, beforeFirstRequest);
        const resumed = await restore([...args.slice(0, -1), `${dir}/kill-start.json`]);
        assert.equal(resumed.code, 0, resumed.stderr);
        assert.equal(resumed.summary.sent, corpus.length, "counted as sent: found in the target or sent now");
        assert.equal(resumed.summary.alreadyInTarget, landed);
        const ours = (m: PeerMessage) => m.key !== btoa("another producer");
        const restored = await consume(target, corpus.length + 1);
        assert.deepEqual(
          restored.filter(ours).map(content),
          source.map(content),
          "each record once, in order",
        );
        assert.equal(restored.filter((m) => !ours(m)).length, 1);

        // The killed run's own checkpoint now lies before everything the other run sent: all of it is found.
        const again = await restore(args);
        assert.equal(again.code, 0, again.stderr);
        assert.equal(again.summary.sent, corpus.length - stopped.sent);
        assert.equal(again.summary.alreadyInTarget, corpus.length - stopped.sent);
        assert.equal(
          (await endOffsets(target)).reduce((a, b) => a + b, 0),
          corpus.length + 1,
          "nothing sent twice",
        );
      },
    );
  } finally {
    await cleanKafka(id);
    await dropSchema(schema);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("restore: original-layout objects, timestamps librdkafka cannot send, partition fallback", async () => {
  const { id, schema } = testIds("rstl");
  const dir = await Deno.makeTempDir({ prefix: "restore-legacy-" });
  const veto = `${dir}/veto.yaml`;
  await Deno.writeTextFile(veto, `patterns:\n  - "(?!${id}-none-).*"\n`);
  const edge = `${id}-edge`;
  const sql = await connectIndex(serviceEnv("DATABASE_URL"), { searchPath: schema });
  const store = await openStore(`file://${dir}/store`);
  try {
    const index = createIndex(sql);
    await index.migrate();
    const legacy = Deno.readFileSync(LEGACY_OBJECT);
    const legacyKey = "gcn.circular/2023/1/18/0/12345678-1234-4678-9234-567812345678.bson";
    await store.put(legacyKey, legacy, crc32Of(legacy));
    assert.equal(await index.insertRepaired(legacyRow(legacy, legacyKey, store.bucket)), true);

    // Archived through the archiver's own core: records no librdkafka producer can make (timestamps 0 and -1).
    const stamps = [0n, -1n, 1n, 4102444800000n];
    const records: KafkaRecord[] = stamps.map((timestamp, i) => ({
      topic: edge,
      partition: 2,
      offset: BigInt(i),
      timestamp,
      key: i === 0 ? null : utf8(`k${i}`),
      value: utf8(`edge ${i}`),
      headers: [{ key: "h", value: null }, { key: "h", value: utf8(String(i)) }],
    }));
    const ingest = createIngest({
      store,
      index,
      keyLayout: "daily",
      archiverVersion: "test",
      log: silentLogger,
      metrics: createMetrics(),
      signal: new AbortController().signal,
      putConcurrency: 4,
      maxInflightBytes: 2 ** 20,
    });
    assert.equal((await ingest.ingest(records)).stored, stamps.length);

    // The restore order through the index, page by page (2 rows a page): rows without Kafka coordinates first.
    const filter = { topics: ["gcn.circular", edge] };
    const seen: string[] = [];
    let after: OrderPosition | undefined;
    for (;;) {
      const page = await index.selectInOrder(filter, { ...(after ? { after } : {}), limit: 2 });
      if (page.length === 0) break;
      seen.push(...page.map((r) => `${r.topic}:${r.partition}:${r.offset}`));
      after = orderPositionOf(page.at(-1)!);
    }
    assert.deepEqual(seen, ["gcn.circular:null:null", ...stamps.map((_, i) => `${edge}:2:${i}`)]);
    const firstEdge = (await index.selectInOrder(filter, { limit: 2 }))[1]!;
    assert.deepEqual(
      (await index.summarize(filter, orderPositionOf(firstEdge))).map((
        p,
      ) => [p.topic, p.partition, p.records]),
      [[edge, 2, 3n]],
    );
    assert.deepEqual(
      (await index.summarize(filter)).map((p) => [p.topic, p.partition, p.records, p.earliest, p.latest]),
      [["gcn.circular", null, 1n, 1674000000123n, 1674000000123n], [edge, 2, 4n, -1n, 4102444800000n]],
    );

    // The loop itself with small pages, a small fetch window and a one-record request budget, in-process.
    const published: { topic: string; partition: number; timestamp: string }[][] = [];
    const saved: Checkpoint[] = [];
    const result = await runRestore(
      {
        filter,
        naming: { renames: new Map(), prefix: "x." },
        targets: new Map([
          ["x.gcn.circular", { partitions: 1, maxMessageBytes: 1_000_000 }],
          [`x.${edge}`, { partitions: 3, maxMessageBytes: 200 }],
        ]),
        start: { selection: "s", position: null, sent: 0, skipped: 0, bytes: 0, complete: false },
        onBadObject: "stop",
        fetchConcurrency: 2,
        maxInflightBytes: 1000,
        pageRows: 2,
      },
      {
        index,
        store,
        log: silentLogger,
        signal: new AbortController().signal,
        publish: (batch) => {
          published.push(
            batch.flatMap((b) => b.messages.map((m) => ({ topic: b.topic, ...m }))).map((m) => ({
              topic: m.topic,
              partition: m.partition,
              timestamp: m.timestamp,
            })),
          );
          return Promise.resolve();
        },
        progress: { tick() {}, done() {} },
        saveCheckpoint: (cp) => {
          saved.push(structuredClone(cp));
          return Promise.resolve();
        },
      },
    );
    assert.equal(result.sent, 5);
    assert.equal(result.partitionFallbacks, 1, "only the record without a partition");
    assert.deepEqual(published.flat(), [
      { topic: "x.gcn.circular", partition: 0, timestamp: "1674000000123" },
      ...stamps.map((t) => ({ topic: `x.${edge}`, partition: 2, timestamp: t.toString() })),
    ]);
    // The first request carries both topics; then the 200-byte topic takes one record per request.
    assert.deepEqual(published.map((b) => b.length), [2, 1, 1, 1]);
    assert.deepEqual(
      saved.map((c) => c.sent),
      [2, 3, 4, 5, 5],
      "a checkpoint per request, and one at the end",
    );
    assert.equal(saved.at(-1)!.complete, true);

    // The target has one partition: records of source partition 2 fall back to partition 2 mod 1 = 0.
    const edgeOut = `${id}-edge-out`;
    await createTopic(edgeOut, 1);
    const legacyOut = `${id}-legacy`;
    const run = await runMain(
      [
        "restore",
        "--store",
        `file://${dir}/store`,
        "--db-schema",
        schema,
        "--veto",
        veto,
        "--topic",
        "gcn.circular",
        "--topic",
        edge,
        "--rename",
        `gcn.circular=${legacyOut}`,
        "--rename",
        `${edge}=${edgeOut}`,
        "--create-topics",
        "--progress",
        "json",
      ],
      archiveEnv(),
    );
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout);
    assert.equal(summary.sent, 5);
    assert.equal(summary.partitionFallbacks, 5, "4 from partition 2, 1 without a partition");
    assert.match(run.stderr, /"msg":"progress","label":"restore"/);
    assert.match(run.stderr, /source partition missing on the target/);

    const [restored] = await consume(legacyOut, 1);
    const original = decodeArchiveObject(legacy);
    assert.deepEqual(restored, {
      partition: 0,
      offset: 0,
      key: null,
      value: b64(original.value),
      headers: original.headers.map((h) => [h.key, b64(h.value)]),
      timestampType: "CreateTime",
      timestamp: 1674000000123,
    });
    assert.equal(restored!.headers.at(-1)![1], null, "the null header value stays null");

    const edges = await consume(edgeOut, records.length);
    assert.deepEqual(
      edges,
      records.map((r, i) => ({
        partition: 0,
        offset: i,
        key: b64(r.key),
        value: b64(r.value),
        headers: r.headers.map((h) => [h.key, b64(h.value)]),
        timestampType: "CreateTime",
        timestamp: Number(r.timestamp),
      })),
    );

    // A message hop-client offloaded through `serve` lives under `<topic>+oversized`, a name Kafka refuses: a
    // selection that matches it restores the rest and reports it; --rename publishes it under a name of Kafka's.
    const offloaded = `${edge}+oversized`;
    assert.equal(
      (await ingest.ingest([{ ...records[1]!, topic: offloaded, partition: -1, offset: -1n }])).stored,
      1,
    );
    const dryRun = (...args: string[]) =>
      runMain(
        [
          "restore",
          "--store",
          `file://${dir}/store`,
          "--db-schema",
          schema,
          "--veto",
          veto,
          "--dry-run",
          ...args,
        ],
        archiveEnv(),
      );
    const matched = await dryRun("--topic-regex", `^${edge}`, "--to-prefix", "again.");
    assert.equal(matched.code, 0, matched.stderr);
    const report = JSON.parse(matched.stdout);
    assert.deepEqual(report.topics.map((t: { source: string }) => t.source), [edge]);
    assert.equal(report.records, records.length);
    assert.deepEqual(
      report.notRestored.map((n: { topic: string; records: number }) => [n.topic, n.records]),
      [
        [offloaded, 1],
      ],
    );
    assert.match(report.notRestored[0].reason, /--rename/);
    assert.match(matched.stderr, /not restoring offloaded messages/);
    const renamed = await dryRun("--topic", offloaded, "--rename", `${offloaded}=${id}-big`);
    assert.equal(renamed.code, 0, renamed.stderr);
    const named = JSON.parse(renamed.stdout);
    assert.deepEqual(named.topics.map((t: { target: string }) => t.target), [`${id}-big`]);
    assert.equal(named.records, 1);
    assert.equal(named.notRestored, undefined);
  } finally {
    store.close();
    await sql.end();
    await cleanKafka(id);
    await dropSchema(schema);
    await Deno.remove(dir, { recursive: true });
  }
});
