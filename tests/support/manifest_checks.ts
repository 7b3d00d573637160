// The checks of an archive against mock-hop's manifest, shared by every test that archives mock-hop traffic
// (over PLAINTEXT in mock_archive_test.ts, over TLS in tls_test.ts): every case must be in the index and the store
// exactly as the manifest says (duplicates stored once, as receipts; clashes under their own UUID; heartbeats
// vetoed), and every stored object must hold the bytes that were sent.
import assert from "node:assert/strict";
import type postgres from "postgres";
import { sha256Hex } from "../../lib/format/checksum.ts";
import { HEARTBEAT_TOPIC } from "../../lib/mock/messages.ts";
import { headersSha256, type ManifestLine } from "../../lib/mock/manifest.ts";
import { decodeArchiveObject } from "../../lib/format/record.ts";
import type { BlobStore } from "../../lib/store/types.ts";

const coordinates = (l: { topic: string; partition: number; offset: string }) =>
  `${l.topic}/${l.partition}/${l.offset}`;

interface MessageRow {
  uuid: string;
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
  key: string;
  is_client_uuid: boolean;
  content_sha256: string;
  clash_of: string | null;
}

interface ReceiptRow {
  uuid: string;
  topic: string;
  partition: number;
  offset: string;
}

/** Closes `store` when done. */
export async function assertArchiveMatchesManifest(
  manifest: ManifestLine[],
  { sql, schema, store }: { sql: postgres.Sql; schema: string; store: BlobStore },
): Promise<void> {
  const messages = await sql.unsafe<MessageRow[]>(
    `select uuid::text as uuid, topic, partition, "offset"::text as "offset", timestamp::text as timestamp, key,
    is_client_uuid, content_sha256, clash_of::text as clash_of from "${schema}".messages`,
  );
  const receipts = await sql.unsafe<ReceiptRow[]>(
    `select uuid::text as uuid, topic, partition, "offset"::text as "offset" from "${schema}".receipts`,
  );
  const byUuid = new Map(messages.map((m) => [m.uuid, m]));
  const receiptAt = new Map(receipts.map((r) => [coordinates(r), r]));

  const stored = manifest.filter((l) => !l.vetoed && l.duplicate_of === null);
  const copies = manifest.filter((l) => !l.vetoed && l.duplicate_of !== null);
  const vetoed = manifest.filter((l) => l.vetoed);
  assert.ok(copies.length > 0 && vetoed.length > 0 && stored.some((l) => l.uuid_source === "clash"));
  assert.equal(messages.length, stored.length, "index rows vs records the manifest says are stored");
  assert.equal(receipts.length, copies.length, "receipts vs duplicates in the manifest");

  try {
    for (const line of stored) {
      const where = `${line.case} #${line.seq} ${coordinates(line)}`;
      const row = byUuid.get(line.uuid);
      assert.ok(row !== undefined, `${where}: no index row for ${line.uuid} (${line.uuid_source})`);
      assert.equal(coordinates(row), coordinates(line), where);
      assert.equal(row.timestamp, line.timestamp, where);
      assert.equal(row.content_sha256, line.content_sha256, where);
      assert.equal(row.is_client_uuid, line.uuid_source === "client", where);
      assert.equal(row.clash_of, line.clash_of, where);
      await assertObject(line, (await store.get(row.key)) ?? undefined, where);
    }
  } finally {
    store.close();
  }
  for (const line of copies) {
    const where = `${line.case} #${line.seq} ${coordinates(line)}`;
    const receipt = receiptAt.get(coordinates(line));
    assert.ok(receipt !== undefined, `${where}: no receipt`);
    assert.equal(receipt.uuid, line.uuid, where);
    assert.equal(
      coordinates(byUuid.get(line.uuid)!),
      coordinates(line.duplicate_of!),
      `${where}: stored copy`,
    );
  }
  assert.ok(messages.every((m) => !m.topic.endsWith(HEARTBEAT_TOPIC)), "a heartbeat was archived");
}

/** The stored object holds the record as sent: value, key, headers, timestamp and coordinates. */
function assertObject(line: ManifestLine, bytes: Uint8Array | undefined, where: string): void {
  assert.ok(bytes !== undefined, `${where}: object missing from the store`);
  const object = decodeArchiveObject(bytes);
  assert.equal(object.uuid, line.uuid, where);
  assert.equal(object.topic, line.topic, where);
  assert.equal(object.partition, line.partition, where);
  assert.equal(object.offset?.toString(), line.offset, where);
  assert.equal(object.timestamp.toString(), line.timestamp, where);
  assert.equal(object.value === null ? null : sha256Hex(object.value), line.value_sha256, where);
  assert.equal(object.key === null ? null : sha256Hex(object.key), line.key_sha256, where);
  // Every header exactly, a name that is not UTF-8 too (opt-in case header-key-binary; con_header_keys).
  assert.equal(line.lossy, false, where);
  assert.equal(headersSha256(object.headers), line.headers_sha256, where);
  assert.equal(object.contentSha256, line.content_sha256, where);
}
