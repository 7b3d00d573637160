// restore and verify judge an archive object by one check (lib/format/object_check.ts): an object that disagrees with its
// index row is refused by both, whatever the disagreement. Before, restore's own check skipped the UUID in the
// row's key and the value size, so it published objects that verify reported.
import assert from "node:assert/strict";
import { contentDigest, legacyUuid } from "../../lib/format/identity.ts";
import type { StoredRow } from "../../lib/index/types.ts";
import { checkArchiveObject, verifyObject } from "../../lib/format/object_check.ts";
import { encodeArchiveObject } from "../../lib/format/record.ts";
import { runRestore } from "../../lib/restore/run.ts";
import { checkObject, rowFromObject } from "../../lib/verify/check.ts";
import { silentLogger } from "../../lib/runtime/log.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);

function archived(): { row: StoredRow; bytes: Uint8Array } {
  const record = {
    topic: "t.one",
    partition: 0,
    offset: 3n,
    timestamp: 1_705_449_600_000n,
    key: null,
    value: utf8("hello"),
    headers: [{ key: "_sender", value: utf8("bob") }],
  };
  const uuid = legacyUuid(record.topic, record.timestamp, contentDigest(record));
  const bytes = encodeArchiveObject(record, { uuid, isClientUuid: false }, {
    archivedAt: 1n,
    archiverVersion: "t",
  });
  const rebuilt = rowFromObject(`t.one/2024/01/17/${uuid}.bson`, bytes, "b");
  assert.ok("row" in rebuilt, "the row is rebuilt from the object itself");
  return { row: rebuilt.row, bytes };
}

/** Both commands' verdicts on one object: verify's problem kinds, and restore's (null: it would publish it). */
function verdicts(row: StoredRow, bytes: Uint8Array) {
  const restore = verifyObject(row, bytes);
  return {
    verify: checkObject(row, bytes, 0n, 0n).map((p) => p.kind),
    restore: "problem" in restore ? restore.problem : null,
  };
}

Deno.test("restore and verify both accept an object that matches its row", () => {
  const { row, bytes } = archived();
  assert.deepEqual(verdicts(row, bytes), { verify: [], restore: null });
  assert.deepEqual(checkArchiveObject(row, bytes).problems, []);
});

Deno.test("an object under a key naming another UUID than its row: both refuse it", () => {
  const { row, bytes } = archived();
  const other = "00000000-0000-4000-8000-000000000000";
  const { verify, restore } = verdicts({ ...row, key: `t.one/2024/01/17/${other}.bson` }, bytes);
  assert.deepEqual(verify, ["identity_mismatch"]);
  assert.match(restore ?? "", new RegExp(`key names UUID ${other}, the index says ${row.uuid}`));
});

Deno.test("an object whose UUID is not its row's: both refuse it", () => {
  const { row, bytes } = archived();
  const other = "00000000-0000-4000-8000-000000000001";
  const { verify, restore } = verdicts({ ...row, uuid: other }, bytes);
  assert.deepEqual(verify, ["identity_mismatch"]);
  assert.match(restore ?? "", /UUID/);
});

Deno.test("an object whose value size is not its row's: both refuse it", () => {
  const { row, bytes } = archived();
  const { verify, restore } = verdicts({ ...row, valueSize: 6 }, bytes);
  assert.deepEqual(verify, ["content_mismatch"]);
  assert.match(restore ?? "", /the object's value size is 5, the index says 6/);
});

Deno.test("restore publishes nothing of an object its check refuses", async () => {
  const { row, bytes } = archived();
  const published: unknown[] = [];
  const bad = { ...row, valueSize: 6, id: 1n };
  await assert.rejects(
    runRestore(
      {
        filter: {},
        naming: { renames: new Map(), prefix: undefined },
        targets: new Map([["t.one", { partitions: 1, maxMessageBytes: 1_000_000 }]]),
        start: { selection: "s", position: null, sent: 0, skipped: 0, bytes: 0, complete: false },
        onBadObject: "stop",
        fetchConcurrency: 1,
        maxInflightBytes: 2 ** 20,
      },
      {
        index: {
          selectInOrder: (_filter, page) => Promise.resolve(page.after === undefined ? [bad] : []),
        },
        store: { get: () => Promise.resolve(bytes) },
        log: silentLogger,
        signal: new AbortController().signal,
        progress: { tick() {}, done() {} },
        publish: (batch) => {
          published.push(batch);
          return Promise.resolve();
        },
        saveCheckpoint: () => Promise.resolve(),
      },
    ),
    (e: Error & { code?: string }) => e.code === "RESTORE_BAD_OBJECT" && /value size/.test(e.message),
  );
  assert.deepEqual(published, []);
});
