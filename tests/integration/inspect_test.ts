// `inspect` against a real archive: readable JSON with binary shown safely, --raw value bytes, --output BSON
// object, both object layouts, and clear failures.
import assert from "node:assert/strict";
import { parseInspectArgs } from "../../lib/commands/inspect.ts";
import { decodeArchiveObject } from "../../lib/format/record.ts";
import { hopHeaders, hopUuid, text, withArchive } from "../support/admin_fixture.ts";
import { LEGACY_OBJECT } from "../support/archive_helpers.ts";

const LEGACY_UUID = "12345678-1234-4678-9234-567812345678";
const T0 = Date.UTC(2024, 0, 17);

Deno.test("inspect: argument parsing", () => {
  const o = parseInspectArgs([hopUuid(1).toUpperCase(), "--raw", "-o", "x.bson"], {});
  assert.equal(o.uuid, hopUuid(1));
  assert.equal(o.raw, true);
  assert.equal(o.output, "x.bson");
  assert.equal(parseInspectArgs(["--key", "t/2024/01/17/x.bson"], {}).key, "t/2024/01/17/x.bson");
  for (const bad of [[], ["nope"], [hopUuid(1), hopUuid(2)], [hopUuid(1), "--key", "k"], ["--what"]]) {
    assert.throws(
      () => parseInspectArgs(bad, {}),
      (e: Error & { code?: string }) => e.code === "USAGE",
      bad.join(" "),
    );
  }
});

Deno.test("inspect: JSON, raw bytes and the BSON object of archived messages, in both layouts", async () => {
  await withArchive("inspect", { backend: "fs", topics: ["mixed"] }, async (a) => {
    const [topic] = a.topics as [string];
    const binary = new Uint8Array([0, 1, 2, 0xfe, 0xff, 0x80]);
    await a.produce(topic, [
      {
        value: text('{"event": "GRB 240117A"}'),
        headers: [["note", null], ...hopHeaders(1, "alice", "json")],
        timestamp: T0,
      },
      {
        value: binary,
        headers: [...hopHeaders(2, "bob", "blob"), ["bin", new Uint8Array([0xff])]],
        timestamp: T0,
      },
      { value: null, key: text("gone"), headers: hopHeaders(3), timestamp: T0 },
    ]);
    await a.archive();

    const shown = await a.run(["inspect", hopUuid(1)]);
    assert.equal(shown.code, 0, shown.stdout);
    const doc = JSON.parse(shown.stdout);
    assert.equal(doc.object.layout, "archive-core");
    assert.deepEqual(doc.object.value, { utf8: '{"event": "GRB 240117A"}' });
    assert.deepEqual(doc.object.headers[0], ["note", null], "a null header value stays null");
    assert.deepEqual(doc.object.headers[2], ["_sender", { utf8: "alice" }]);
    assert.equal(doc.object.topic, topic);
    assert.equal(doc.object.timestamp, String(T0));
    assert.equal(doc.index.uuid, hopUuid(1));
    assert.equal(doc.index.sender, "alice");
    assert.equal(doc.size, doc.index.size);

    const bin = JSON.parse((await a.run(["inspect", hopUuid(2)])).stdout);
    assert.deepEqual(bin.object.value, { base64: btoa(String.fromCharCode(...binary)) });
    assert.deepEqual(bin.object.headers.at(-1), ["bin", { base64: "/w==" }]);
    const raw = await a.run(["inspect", hopUuid(2), "--raw"]);
    assert.equal(raw.code, 0);
    assert.equal(raw.stdout, "", "--raw writes nothing but the value");
    assert.deepEqual(raw.bytes, binary);

    const saved = `${a.tmp}/saved.bson`;
    const out = await a.run(["inspect", hopUuid(2), "--output", saved]);
    assert.equal(out.code, 0);
    const row = JSON.parse(out.stdout).index;
    assert.deepEqual(await Deno.readFile(saved), await a.store.get(row.key));
    assert.deepEqual(decodeArchiveObject(await Deno.readFile(saved)).value, binary);

    const tombstone = await a.run(["inspect", hopUuid(3)]);
    assert.equal(JSON.parse(tombstone.stdout).object.value, null);
    assert.equal(
      (await a.run(["inspect", hopUuid(3), "--raw"])).code,
      1,
      "a tombstone has no bytes to write",
    );

    // The original housekeeping's layout, indexed by verify --repair from the object itself.
    const legacyKey = `gcn.circular/2023/01/18/${LEGACY_UUID}.bson`;
    await a.writeObject(legacyKey, await Deno.readFile(LEGACY_OBJECT));
    const byKey = JSON.parse((await a.run(["inspect", "--key", legacyKey])).stdout);
    assert.equal(byKey.index, null, "an orphan has no index row");
    assert.equal(byKey.object.layout, "housekeeping-v1");
    assert.equal((await a.run(["verify", "--repair"])).code, 0);
    const legacy = JSON.parse((await a.run(["inspect", LEGACY_UUID])).stdout);
    assert.equal(legacy.object.layout, "housekeeping-v1");
    assert.equal(legacy.object.legacyFormat, "json");
    assert.deepEqual(legacy.object.value, { utf8: '{"a": 1}' });
    assert.deepEqual(legacy.object.headers.at(-1), ["nullhdr", null]);
    assert.equal(legacy.object.partition, null);
    assert.equal(legacy.index.key, legacyKey);
    assert.deepEqual((await a.run(["inspect", LEGACY_UUID, "--raw"])).bytes, text('{"a": 1}'));

    // Failures: not indexed, object gone, object corrupt, not a UUID.
    assert.equal((await a.run(["inspect", hopUuid(9)])).code, 1);
    await a.writeObject(row.key, text("not bson at all"));
    const corrupt = await a.run(["inspect", hopUuid(2)]);
    assert.equal(corrupt.code, 1);
    assert.match(JSON.parse(corrupt.stdout).error, /not valid BSON|invalid archive object/);
    await a.removeObject(row.key);
    assert.equal((await a.run(["inspect", hopUuid(2)])).code, 1);
    assert.equal((await a.run(["inspect", "12345"])).code, 2);
  });
});
