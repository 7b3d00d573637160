// The value's CRC-32 is computed once per record on the archiver's hot path: ingest has it from identifying the
// record and hands it to the encoder (ArchiveAnnotations.messageCrc32), which then does not pass over the value
// again. Without it, the encoder computes it itself.
import assert from "node:assert/strict";
import { crc32 } from "../../lib/format/checksum.ts";
import {
  type ArchiveStamp,
  decodeArchiveObject,
  encodeArchiveObject,
  encodeArchivePieces,
  type KafkaRecord,
} from "../../lib/format/record.ts";
import { concat } from "../../lib/runtime/bytes.ts";

const STAMP: ArchiveStamp = { archivedAt: 1700000000000n, archiverVersion: "housekeeping 0.1.0" };
const UUID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
const value = new TextEncoder().encode('{"a": 1}');
const rec: KafkaRecord = {
  topic: "gcn.circular",
  partition: 0,
  offset: 42n,
  timestamp: 1674000000123n,
  key: null,
  value,
  headers: [],
};

Deno.test("encode: without a CRC-32 given, con_message_crc32 is the value's (0 for a null value)", () => {
  const ann = { uuid: UUID, isClientUuid: false };
  assert.equal(decodeArchiveObject(encodeArchiveObject(rec, ann, STAMP)).messageCrc32, BigInt(crc32(value)));
  const tombstone = encodeArchiveObject({ ...rec, value: null }, ann, STAMP);
  assert.equal(decodeArchiveObject(tombstone).messageCrc32, 0n);
});

Deno.test("encode: a CRC-32 the caller has is written as given, not computed again", () => {
  // A value no CRC of `value` can be tells a written annotation from a recomputed one.
  const given = (crc32(value) ^ 0xffffffff) >>> 0;
  const ann = { uuid: UUID, isClientUuid: false, messageCrc32: given };
  assert.equal(decodeArchiveObject(encodeArchiveObject(rec, ann, STAMP)).messageCrc32, BigInt(given));
  assert.equal(decodeArchiveObject(concat(encodeArchivePieces(rec, ann, STAMP))).messageCrc32, BigInt(given));
  // And the right one gives the very bytes the encoder makes on its own.
  assert.deepEqual(
    encodeArchiveObject(rec, { ...ann, messageCrc32: crc32(value) }, STAMP),
    encodeArchiveObject(rec, { uuid: UUID, isClientUuid: false }, STAMP),
  );
});
