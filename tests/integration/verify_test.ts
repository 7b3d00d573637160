// `verify` against real archives: a directory store and MinIO, PostgreSQL, Kafka records produced by
// confluent-kafka and archived by the real `archive` command; damage planted by hand, then found and (orphans only)
// repaired. Also `--manifest` against real mock-hop traffic.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { sha256Hex } from "../../lib/format/checksum.ts";
import { parseVerifyArgs } from "../../lib/commands/verify.ts";
import { contentDigest, legacyUuid } from "../../lib/format/identity.ts";
import type { IndexSql } from "../../lib/index/database.ts";
import { createIndex } from "../../lib/index/postgres.ts";
import type { StoredRow } from "../../lib/index/types.ts";
import { HEARTBEAT_TOPIC } from "../../lib/mock/messages.ts";
import { headersSha256, type ManifestLine, parseManifest } from "../../lib/mock/manifest.ts";
import { defaultTestdataDir } from "../../lib/mock/samples.ts";
import { decodeArchiveObject, encodeArchiveObject } from "../../lib/format/record.ts";
import { checkObject, objectInSelection, type Problem, rowFromObject } from "../../lib/verify/check.ts";
import { checkGroup } from "../../lib/verify/manifest.ts";
import {
  type AdminArchive,
  hopHeaders,
  hopUuid,
  runInProcess,
  text,
  withArchive,
} from "../support/admin_fixture.ts";
import { LEGACY_OBJECT, writeMockHopVeto } from "../support/archive_helpers.ts";

const LEGACY_UUID = "12345678-1234-4678-9234-567812345678";
const T0 = Date.UTC(2024, 0, 17, 0, 0, 0);
const HOUR = 3_600_000;

interface Report {
  problems: Problem[];
  summary: Record<string, unknown> & {
    problems: Record<string, number>;
    repaired: number;
    rowsChecked: number;
  };
}

function parseReport(stdout: string): Report {
  const lines = stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const last = lines.pop();
  assert.ok(last?.summary, `no summary line in:\n${stdout}`);
  return { problems: lines, summary: last.summary };
}

const kinds = (r: Report, key: string) => r.problems.filter((p) => p.key === key).map((p) => p.kind).sort();

function indexOf(a: AdminArchive) {
  return createIndex(a.sql as unknown as IndexSql);
}

async function rowsOf(a: AdminArchive): Promise<(StoredRow & { id: bigint })[]> {
  return await indexOf(a).select({}, { limit: 1000 });
}

// ------------------------------------------------------------------------------------------------ pure parts
Deno.test("verify: argument parsing", () => {
  const now = BigInt(T0);
  const o = parseVerifyArgs(
    ["--topic", "a", "--topic", "b", "--since", "24h", "--sample", "5", "--repair", "--grace", "0"],
    {},
    now,
  );
  assert.deepEqual(o.filter, { topics: ["a", "b"], since: now - 86_400_000n });
  assert.equal(o.sample, 5);
  assert.equal(o.repair, true);
  assert.equal(o.graceMs, 0n);
  assert.equal(o.orphans, true);
  assert.equal(o.concurrency, 16);
  assert.equal(parseVerifyArgs([], {}, now).graceMs, 300_000n);
  const usage = (argv: string[]) =>
    assert.throws(() => parseVerifyArgs(argv, {}, now), (e: Error & { code?: string }) => e.code === "USAGE");
  usage(["--sample", "0"]);
  usage(["--sample", "x"]);
  usage(["--repair", "--skip-orphans"]);
  usage(["--quick", "--manifest", "m.jsonl"]);
  usage(["--since", "yesterday"]);
  usage(["--since", "2024-02-01", "--until", "2024-01-01"]);
  usage(["--uuid", "not-a-uuid"]);
  usage(["--bogus"]);
});

Deno.test("verify: checkObject and rowFromObject judge objects by their bytes", () => {
  const record = {
    topic: "t.one",
    partition: 2,
    offset: 7n,
    timestamp: BigInt(T0),
    key: null,
    value: text("hello"),
    headers: [{ key: "_sender", value: text("bob") }, { key: "_format", value: text("json") }],
  };
  const uuid = legacyUuid(record.topic, record.timestamp, contentDigest(record));
  const bytes = encodeArchiveObject(record, { uuid, isClientUuid: false }, {
    archivedAt: 1n,
    archiverVersion: "t",
  });
  const key = `t.one/2024/01/17/${uuid}.bson`;
  const rebuilt = rowFromObject(key, bytes, "b");
  assert.ok("row" in rebuilt);
  const row = rebuilt.row;
  assert.equal(row.uuid, uuid);
  assert.equal(row.isClientUuid, false);
  assert.equal(row.sender, "bob");
  assert.equal(row.format, "json");
  assert.equal(row.partition, 2);
  assert.equal(row.offset, 7n);
  assert.deepEqual(checkObject(row, bytes, 0n, 0n), [], "an object agrees with the row rebuilt from it");

  // A flipped value byte: the object's CRC and its own content annotations disagree.
  const flipped = bytes.slice();
  const at = Buffer.from(flipped).indexOf("hello");
  flipped[at] = "j".charCodeAt(0);
  assert.deepEqual(checkObject(row, flipped, 0n, 0n).map((p) => p.kind), [
    "checksum_mismatch",
    "content_mismatch",
  ]);
  const refused = rowFromObject(key, flipped, "b");
  assert.ok("refused" in refused && /corrupt/.test(refused.refused));

  assert.deepEqual(
    checkObject(row, bytes.slice(0, 20), 0n, 0n).map((p) => p.kind),
    ["size_mismatch", "checksum_mismatch", "undecodable"],
  );
  const missing = checkObject(row, null, 100n, 50n);
  assert.equal(missing[0]!.kind, "missing");
  assert.equal(missing[0]!.inFlight, false);
  assert.equal(checkObject({ ...row, archivedAt: 90n }, null, 100n, 50n)[0]!.inFlight, true);

  const other = "00000000-0000-4000-8000-000000000000";
  const wrongKey = rowFromObject(`t.one/2024/01/17/${other}.bson`, bytes, "b");
  assert.ok("refused" in wrongKey && wrongKey.refused.includes(other));
  assert.ok("refused" in rowFromObject(`t.two/2024/01/17/${uuid}.bson`, bytes, "b"));

  const d = decodeArchiveObject(bytes);
  assert.equal(objectInSelection({ topics: ["t.one"], since: BigInt(T0) }, uuid, d), true);
  assert.equal(objectInSelection({ until: BigInt(T0) }, uuid, d), false);
  assert.equal(objectInSelection({ sender: "alice" }, uuid, d), false);
  assert.equal(objectInSelection({ format: "json", partition: 2 }, uuid, d), true);
});

Deno.test("verify: the original housekeeping layout is repairable with its coordinates left unknown", async () => {
  const bytes = await Deno.readFile(LEGACY_OBJECT);
  const rebuilt = rowFromObject(`gcn.circular/2023/1/18/0/${LEGACY_UUID}.bson`, bytes, "b");
  assert.ok("row" in rebuilt, "refused" in rebuilt ? rebuilt.refused : "");
  assert.equal(rebuilt.row.partition, null);
  assert.equal(rebuilt.row.offset, null);
  assert.equal(rebuilt.row.archivedAt, null);
  assert.equal(rebuilt.row.isClientUuid, true);
  assert.equal(rebuilt.row.messageCrc32, 4221669015);
  assert.equal(rebuilt.row.sender, "alice");
  assert.equal(rebuilt.row.format, "json");
});

Deno.test("verify: manifest groups accept the row at any member's coordinates and need receipts for the rest", () => {
  const line = (offset: string, duplicate: boolean): ManifestLine => ({
    seq: Number(offset),
    topic: "t",
    partition: 0,
    offset,
    timestamp: "5",
    case: "c",
    compression: "none",
    uuid: hopUuid(1),
    uuid_source: "client",
    duplicate_of: duplicate ? { topic: "t", partition: 0, offset: "1" } : null,
    clash_of: null,
    vetoed: false,
    lossy: false,
    content_sha256: "aa",
    value_sha256: null,
    value_size: null,
    key_sha256: null,
    headers_sha256: "",
  });
  const group = [line("1", false), line("4", true)];
  const row = {
    uuid: hopUuid(1),
    topic: "t",
    partition: 0,
    offset: 1n,
    timestamp: 5n,
    isClientUuid: true,
    contentSha256: "aa",
    clashOf: null,
    key: "k",
  } as StoredRow;
  const receipt = { uuid: hopUuid(1), topic: "t", partition: 0, offset: 4n, timestamp: 5n };
  assert.deepEqual(checkGroup(hopUuid(1), group, row, [receipt]), []);
  assert.deepEqual(checkGroup(hopUuid(1), group, row, []).map((p) => p.kind), ["manifest_receipt_missing"]);
  assert.deepEqual(checkGroup(hopUuid(1), group, undefined, []).map((p) => p.kind), ["manifest_missing"]);
  assert.deepEqual(
    checkGroup(hopUuid(1), group, { ...row, offset: 9n }, [receipt]).map((p) => p.kind),
    ["manifest_coordinates", "manifest_receipt_missing"],
  );
  assert.deepEqual(
    checkGroup(hopUuid(1), group, { ...row, isClientUuid: false, contentSha256: "bb" }, [receipt]).map((p) =>
      p.kind
    ),
    ["manifest_identity", "manifest_content"],
  );
});

// ------------------------------------------------------------------------------------------------ real services
const CIRCULARS = [1, 2, 3, 4, 5, 6].map((n) => ({
  value: text(`{"circular": ${n}, "body": "GRB 240117A: observations ${"x".repeat(n * 10)}"}`),
  headers: hopHeaders(n, n % 2 === 0 ? "alice" : "bob", "circular"),
  timestamp: T0 + n * HOUR,
}));
const NOTICES = [1, 2, 3].map((n) => ({
  value: text(`<voe:VOEvent ivorn="ivo://nasa.gsfc.gcn/test#${n}"/>`),
  key: text(`k${n}`),
  timestamp: T0 + 24 * HOUR + n * HOUR,
}));

Deno.test("verify: finds a removed object, a planted orphan and corrupted objects; --repair indexes the orphans", async () => {
  await withArchive("verify-fs", { backend: "fs", topics: ["circular", "notice"] }, async (a) => {
    const [circular, notice] = a.topics as [string, string];
    await a.produce(circular, CIRCULARS);
    await a.produce(notice, NOTICES);
    await a.archive();

    const clean = await a.run(["verify", "--json"]);
    assert.equal(clean.code, 0, clean.stdout);
    const cleanReport = parseReport(clean.stdout);
    assert.deepEqual(cleanReport.problems, []);
    assert.equal(cleanReport.summary.rowsChecked, 9);
    assert.equal(cleanReport.summary.objectsListed, 9);
    const progress = clean.stderr.trim().split("\n").map((l) => JSON.parse(l));
    assert.ok(
      progress.some((p) => p.msg === "progress" && p.label === "verify index" && p.finished && p.done === 9),
    );
    const text0 = await a.run(["verify"]);
    assert.equal(text0.code, 0);
    assert.match(text0.stdout, /^OK$/m);

    const rows = await rowsOf(a);
    const byUuid = new Map(rows.map((r) => [r.uuid, r]));
    const removed = byUuid.get(hopUuid(1))!;
    const orphaned = byUuid.get(hopUuid(2))!;
    const corrupted = byUuid.get(hopUuid(3))!;
    const copied = byUuid.get(hopUuid(4))!;
    const truncated = rows.find((r) => r.topic === notice)!;

    await a.removeObject(removed.key);
    await a.sql`delete from messages where uuid = ${orphaned.uuid}::uuid`;
    const good = (await a.store.get(corrupted.key))!;
    const bad = good.slice();
    bad[Buffer.from(bad).indexOf("GRB")] = "X".charCodeAt(0);
    await a.writeObject(corrupted.key, bad);
    const notice1 = (await a.store.get(truncated.key))!;
    await a.writeObject(truncated.key, notice1.slice(0, notice1.length - 9));
    const legacyKey = `gcn.circular/2023/01/18/${LEGACY_UUID}.bson`;
    await a.writeObject(legacyKey, await Deno.readFile(LEGACY_OBJECT));
    // A copy of a valid object under a uuid the object does not confirm: reported, never indexed.
    const strangerKey = copied.key.replace(copied.uuid, "0badc0de-0000-4000-8000-000000000000");
    await a.writeObject(strangerKey, (await a.store.get(copied.key))!);

    const found = await a.run(["verify", "--json"]);
    assert.equal(found.code, 1, found.stdout);
    const report = parseReport(found.stdout);
    assert.deepEqual(kinds(report, removed.key), ["missing"]);
    assert.equal(report.problems.find((p) => p.key === removed.key)!.inFlight, true, "archived seconds ago");
    assert.deepEqual(kinds(report, orphaned.key), ["orphan"]);
    assert.deepEqual(kinds(report, corrupted.key), ["checksum_mismatch", "content_mismatch"]);
    assert.deepEqual(kinds(report, truncated.key), ["checksum_mismatch", "size_mismatch", "undecodable"]);
    assert.deepEqual(kinds(report, legacyKey), ["orphan"]);
    assert.deepEqual(kinds(report, strangerKey), ["orphan"]);
    assert.match(report.problems.find((p) => p.key === strangerKey)!.detail, /not repairable/);
    assert.equal(report.problems.length, 9);
    assert.equal(report.summary.rowsChecked, 8);
    assert.equal(report.summary.repaired, 0);
    assert.equal((await rowsOf(a)).length, 8, "verify without --repair changes nothing");

    const aged = await a.run(["verify", "--json", "--grace", "0", "--skip-orphans"]);
    assert.equal(parseReport(aged.stdout).problems.find((p) => p.key === removed.key)!.inFlight, false);

    const repair = await a.run(["verify", "--repair", "--json"]);
    assert.equal(repair.code, 1, "the missing and corrupt objects remain");
    const repaired = parseReport(repair.stdout);
    assert.equal(repaired.summary.repaired, 2);
    assert.deepEqual(
      repaired.problems.filter((p) => p.kind === "orphan").map((p) => [p.key, p.repaired]).sort(),
      [[legacyKey, true], [orphaned.key, true], [strangerKey, false]].sort(),
    );
    const after = await rowsOf(a);
    assert.equal(after.length, 10);
    const { id: _old, ...original } = orphaned;
    const { id: _new, ...rebuilt } = after.find((r) => r.uuid === orphaned.uuid)!;
    assert.deepEqual(rebuilt, original, "the repaired row equals the row the archiver wrote");
    const legacy = after.find((r) => r.uuid === LEGACY_UUID)!;
    assert.equal(legacy.topic, "gcn.circular");
    assert.equal(legacy.partition, null);
    assert.equal(legacy.key, legacyKey);

    const again = parseReport((await a.run(["verify", "--json"])).stdout);
    assert.deepEqual(
      again.problems.filter((p) => p.kind === "orphan").map((p) => p.key),
      [strangerKey],
      "repaired orphans are indexed now",
    );

    // Scope: one topic; a time range; a sample; HEAD only.
    const onlyNotice = parseReport((await a.run(["verify", "--json", "--topic", notice])).stdout);
    assert.deepEqual(onlyNotice.problems.map((p) => p.key).sort(), [
      truncated.key,
      truncated.key,
      truncated.key,
    ]);
    const firstHours = parseReport(
      (await a.run([
        "verify",
        "--json",
        "--since",
        new Date(T0).toISOString(),
        "--until",
        new Date(T0 + 2 * HOUR + 1).toISOString(),
      ])).stdout,
    );
    assert.deepEqual(firstHours.problems.map((p) => p.key), [removed.key], "records 1 and 2 only");
    assert.equal(firstHours.summary.rowsChecked, 2);
    const sample = await a.run(["verify", "--json", "--sample", "3", "--skip-orphans"]);
    assert.equal(parseReport(sample.stdout).summary.rowsChecked, 3);
    const quick = parseReport((await a.run(["verify", "--json", "--quick", "--skip-orphans"])).stdout);
    assert.deepEqual(
      quick.problems.map((p) => p.kind).sort(),
      ["missing", "size_mismatch"],
      "HEAD sees absence and size, not content",
    );
  });
});

Deno.test("verify on MinIO: a deleted object is missing, an orphan is repaired", async () => {
  await withArchive("verify-s3", { backend: "s3", topics: ["circular"] }, async (a) => {
    const [topic] = a.topics as [string];
    await a.produce(topic, CIRCULARS.slice(0, 3));
    await a.archive();
    assert.equal((await a.run(["verify"])).code, 0);
    const rows = await rowsOf(a);
    await a.removeObject(rows[0]!.key);
    await a.sql`delete from messages where uuid = ${rows[1]!.uuid}::uuid`;
    const found = parseReport((await a.run(["verify", "--json", "--repair"])).stdout);
    assert.deepEqual(
      found.problems.map((p) => [p.kind, p.key, p.repaired ?? null]).sort(),
      [["missing", rows[0]!.key, null], ["orphan", rows[1]!.key, true]].sort(),
    );
    const after = await a.run(["verify", "--json", "--topic", topic]);
    assert.equal(after.code, 1);
    assert.deepEqual(parseReport(after.stdout).problems.map((p) => p.kind), ["missing"]);
  });
});

Deno.test("verify --manifest: mock-hop traffic archived by `archive` matches; tampering is found", async () => {
  await withArchive("verify-mf", { backend: "fs", topics: [] }, async (a) => {
    const prefix = `${a.id}.`;
    const manifestPath = `${a.tmp}/manifest.jsonl`;
    const veto = `${a.tmp}/mock-veto.yaml`;
    await writeMockHopVeto(veto, prefix);
    const env = { ...a.env, HOUSEKEEPING_TESTDATA: defaultTestdataDir() };
    const mock = await runInProcess([
      "mock-hop",
      "--count",
      "80",
      "--seed",
      "7",
      "--max-value-mib",
      "1",
      "--topic-prefix",
      prefix,
      "--manifest",
      manifestPath,
    ], env);
    assert.equal(mock.code, 0, mock.stdout + mock.logs.join("\n"));
    const flags = (f: string[]) => f.map((x, i) => (f[i - 1] === "--veto" ? veto : x));
    const archived = await runInProcess(["archive", "--until-end", ...flags(a.flags)], env);
    assert.equal(archived.code, 0, archived.logs.join("\n"));
    const verify = (path: string) =>
      runInProcess(["verify", "--json", "--manifest", path, ...flags(a.flags)], env);

    const ok = await verify(manifestPath);
    const okReport = parseReport(ok.stdout);
    assert.deepEqual(okReport.problems, []);
    assert.equal(ok.code, 0);
    const lines = parseManifest(await Deno.readTextFile(manifestPath));
    const summary = okReport.summary.manifest as { lines: number; receipts: number; vetoed: number };
    assert.equal(summary.lines, lines.length);
    assert.ok(summary.receipts > 0 && summary.vetoed > 0, "the mix has duplicates and heartbeats");

    // Tamper: a changed value digest, a record never sent, a dropped line, a heartbeat claimed archivable.
    const once = (uuid: string) => lines.filter((l) => l.uuid === uuid).length === 1;
    const stored = lines.filter((l) =>
      !l.vetoed && l.duplicate_of === null && l.value_sha256 !== null && once(l.uuid)
    );
    const changed = stored[0]!;
    const dropped = stored[1]!;
    const tampered = lines
      .filter((l) => l !== dropped)
      .map((l) => (l === changed ? { ...l, value_sha256: sha256Hex(text("something else")) } : l));
    tampered.push({ ...changed, uuid: hopUuid(0xee), offset: "999999", duplicate_of: null });
    const vetoedLine = lines.find((l) => l.vetoed)!;
    tampered.push({ ...stored[2]!, vetoed: true, topic: stored[2]!.topic });
    const bad = `${a.tmp}/tampered.jsonl`;
    await Deno.writeTextFile(bad, tampered.map((l) => JSON.stringify(l)).join("\n") + "\n");
    const found = await verify(bad);
    assert.equal(found.code, 1);
    const problems = parseReport(found.stdout).problems.map((p) => [p.kind, p.uuid]);
    assert.deepEqual(
      problems.sort(),
      [
        ["manifest_content", changed.uuid],
        ["manifest_missing", hopUuid(0xee)],
        ["manifest_unexpected", dropped.uuid],
        ["manifest_vetoed_archived", stored[2]!.uuid],
      ].sort(),
    );
    assert.ok(vetoedLine.topic.endsWith(HEARTBEAT_TOPIC));
    // A receipt the archive lost.
    const copy = lines.find((l) => !l.vetoed && l.duplicate_of !== null)!;
    await a.sql`delete from receipts where topic = ${copy.topic} and partition = ${copy.partition}
        and "offset" = ${copy.offset}`;
    const lost = parseReport((await verify(manifestPath)).stdout);
    assert.deepEqual(lost.problems.map((p) => p.kind), ["manifest_receipt_missing"]);
    assert.equal(headersSha256([]).length, 64);
  });
});
