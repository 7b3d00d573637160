// `query`/`list` and `export` against a real archive: every selection flag, keyset paging, and the exported files.
import assert from "node:assert/strict";
import { exportMetadata, parseExportArgs } from "../../lib/commands/export.ts";
import { parseQueryArgs } from "../../lib/commands/query.ts";
import { sha256Hex } from "../../lib/format/checksum.ts";
import { hopHeaders, hopUuid, text, withArchive } from "../support/admin_fixture.ts";

const T0 = Date.UTC(2024, 0, 17);
const HOUR = 3_600_000;

Deno.test("query and export: argument parsing", () => {
  const now = BigInt(T0);
  const q = parseQueryArgs(["--topic", "t", "--sender", "alice", "--limit", "10", "--after", "42"], {}, now);
  assert.deepEqual(q.filter, { topics: ["t"], sender: "alice" });
  assert.equal(q.limit, 10);
  assert.equal(q.after, 42n);
  assert.deepEqual(
    parseQueryArgs(
      ["--since", "2024-01-17", "--until", "2024-01-17T06:00:00+02:00", "--partition", "3"],
      {},
      now,
    )
      .filter,
    { since: BigInt(T0), until: BigInt(T0 + 4 * HOUR), partition: 3 },
  );
  const e = parseExportArgs(["out", "--format", "voevent", "--concurrency", "2"], {}, now);
  assert.equal(e.dir, "out");
  assert.deepEqual(e.filter, { format: "voevent" });
  assert.equal(e.concurrency, 2);
  const usage = (f: () => unknown) => assert.throws(f, (x: Error & { code?: string }) => x.code === "USAGE");
  usage(() => parseQueryArgs(["--after", "abc"], {}, now));
  usage(() => parseQueryArgs(["--limit", "-1"], {}, now));
  usage(() => parseQueryArgs(["--partition", "x"], {}, now));
  usage(() => parseQueryArgs(["extra"], {}, now));
  usage(() => parseExportArgs([], {}, now));
  usage(() => parseExportArgs(["a", "--dir", "b"], {}, now));
});

Deno.test("exportMetadata: the value is described, not embedded", () => {
  const row = {
    uuid: hopUuid(1),
    topic: "t",
    timestamp: 5n,
    partition: 0,
    offset: 1n,
    size: 10,
    key: "k",
    bucket: "b",
    crc32: 1,
    isClientUuid: true,
    messageCrc32: 2,
    archivedAt: null,
    archiverVersion: null,
    contentSha256: null,
    valueSize: 3,
    sender: "s",
    format: "f",
    isTest: false,
    clashOf: null,
  };
  const decoded = {
    layout: "archive-core" as const,
    topic: "t",
    timestamp: 5n,
    partition: 0,
    offset: 1n,
    timestampType: null,
    key: null,
    value: text("abc"),
    headers: [],
    legacyFormat: null,
    uuid: hopUuid(1),
    isClientUuid: true,
    messageCrc32: null,
    contentSha256: null,
    archivedAt: null,
    archiverVersion: null,
    clashOf: null,
  };
  const meta = exportMetadata(row, decoded, "x.value");
  assert.equal("value" in meta, false);
  assert.equal(meta.valueFile, "x.value");
  assert.equal(meta.valueSha256, sha256Hex(text("abc")));
  assert.equal(meta.valueSize, 3);
  assert.equal((meta.index as { uuid: string }).uuid, hopUuid(1));
});

Deno.test("query, list and export select by topic, time, uuid, sender, format and partition", async () => {
  await withArchive("query", { backend: "s3", topics: ["circular", "voevent"], partitions: 2 }, async (a) => {
    const [circular, voevent] = a.topics as [string, string];
    await a.produce(
      circular,
      [1, 2, 3, 4].map((n) => ({
        value: text(`circular ${n}`),
        headers: hopHeaders(n, n <= 2 ? "alice" : "bob", "circular"),
        timestamp: T0 + n * HOUR,
        partition: n % 2,
      })),
    );
    await a.produce(voevent, [
      {
        value: text("<voe/>"),
        headers: hopHeaders(5, "alice", "voevent"),
        timestamp: T0 + 10 * HOUR,
        partition: 0,
      },
      { value: null, headers: hopHeaders(6, "alice", "voevent"), timestamp: T0 + 11 * HOUR, partition: 1 },
      { value: new Uint8Array([0xff, 0]), timestamp: T0 + 12 * HOUR, partition: 1 },
    ]);
    await a.archive();

    const query = async (...argv: string[]) => {
      const r = await a.run(["query", ...argv]);
      assert.equal(r.code, 0, r.stdout);
      return r.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l));
    };
    const uuids = async (...argv: string[]) => (await query(...argv)).map((r) => r.uuid).sort();

    const all = await query();
    assert.equal(all.length, 7);
    assert.ok(all.every((r, i) => i === 0 || BigInt(r.id) > BigInt(all[i - 1].id)), "index order");
    const first = all.find((r) => r.uuid === hopUuid(1));
    assert.equal(first.topic, circular);
    assert.equal(first.time, new Date(T0 + HOUR).toISOString());
    assert.equal(first.format, "circular");
    assert.match(first.key, new RegExp(`^${circular}/2024/01/17/${hopUuid(1)}\\.bson$`));

    assert.deepEqual(await uuids("--topic", circular), [1, 2, 3, 4].map(hopUuid));
    assert.deepEqual(await uuids("--sender", "alice"), [1, 2, 5, 6].map(hopUuid));
    assert.deepEqual(await uuids("--format", "voevent"), [5, 6].map(hopUuid));
    assert.deepEqual(await uuids("--sender", "alice", "--format", "circular"), [1, 2].map(hopUuid));
    assert.deepEqual(await uuids("--uuid", hopUuid(3), "--uuid", hopUuid(6)), [3, 6].map(hopUuid));
    assert.deepEqual(await uuids("--topic", circular, "--partition", "1"), [1, 3].map(hopUuid));
    assert.deepEqual(
      await uuids("--since", new Date(T0 + 2 * HOUR).toISOString(), "--until", String(T0 + 10 * HOUR)),
      [2, 3, 4].map(hopUuid),
    );
    assert.deepEqual(await query("--since", "1h"), [], "nothing archived has a recent record time");

    // Keyset paging: pages of 3 joined are the whole list.
    const pages: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await query("--limit", "3", ...(after ? ["--after", after] : []));
      pages.push(...page.map((r) => r.uuid));
      if (page.length < 3) break;
      after = page.at(-1).id;
    }
    assert.deepEqual(pages, all.map((r) => r.uuid));
    const list = await a.run(["list", "--limit", "3"]);
    assert.deepEqual(
      list.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l).uuid),
      pages.slice(0, 3),
    );

    // Export: value file + metadata file each; the tombstone has no value file.
    const out = `${a.tmp}/export`;
    const exported = await a.run(["export", "--dir", out, "--topic", voevent]);
    assert.equal(exported.code, 0, exported.stdout);
    const summary = JSON.parse(exported.stdout);
    assert.equal(summary.exported, 3);
    assert.equal(summary.failed, 0);
    const files = [...Deno.readDirSync(`${out}/${voevent}`)].map((e) => e.name).sort();
    const binary = all.find((r) => r.topic === voevent && r.sender === null).uuid;
    assert.deepEqual(
      files,
      [
        `${hopUuid(5)}.meta.json`,
        `${hopUuid(5)}.value`,
        `${hopUuid(6)}.meta.json`,
        `${binary}.meta.json`,
        `${binary}.value`,
      ].sort(),
    );
    assert.deepEqual(await Deno.readFile(`${out}/${voevent}/${hopUuid(5)}.value`), text("<voe/>"));
    assert.deepEqual(await Deno.readFile(`${out}/${voevent}/${binary}.value`), new Uint8Array([0xff, 0]));
    const meta = JSON.parse(await Deno.readTextFile(`${out}/${voevent}/${hopUuid(5)}.meta.json`));
    assert.equal(meta.uuid, hopUuid(5));
    assert.equal(meta.valueFile, `${hopUuid(5)}.value`);
    assert.equal(meta.valueSha256, sha256Hex(text("<voe/>")));
    assert.equal(meta.timestamp, String(T0 + 10 * HOUR));
    assert.equal(meta.format, "voevent");
    assert.deepEqual(meta.headers[1], ["_sender", { utf8: "alice" }]);
    assert.equal(meta.index.key, all.find((r) => r.uuid === hopUuid(5)).key);
    const tomb = JSON.parse(await Deno.readTextFile(`${out}/${voevent}/${hopUuid(6)}.meta.json`));
    assert.equal(tomb.valueFile, null);
    assert.equal(tomb.valueSize, null);

    // A missing object fails that message only; the others are exported and the exit status says so.
    await a.removeObject(first.key);
    const partial = await a.run(["export", `${a.tmp}/partial`, "--topic", circular]);
    assert.equal(partial.code, 1);
    assert.deepEqual([JSON.parse(partial.stdout).exported, JSON.parse(partial.stdout).failed], [3, 1]);
    assert.ok(partial.logs.some((l) => l.includes(hopUuid(1)) && l.includes("cannot export")));
  });
});
