// The Produce request (v3 to v7 share one layout) and its record batches (magic 2), written in one pass into one
// buffer of the exact size, as a pure function of kafkajs's produce arguments. kafkajs's Encoder grows a
// zero-filled buffer and copies everything written so far at every level of nesting (several copies of each
// value), and computes each batch's CRC-32C one byte per step: at MiB-sized records those were most of restore's
// CPU. kafkajs_internals.ts hooks this encoder into kafkajs's Produce request.
import { Buffer } from "node:buffer";
import { crc32c } from "./crc32c.ts";
import { recordOf, type WireRecordCarrier } from "./wire_headers.ts";
import {
  bytesSize,
  createWriter,
  stringSize,
  varintSize,
  varlongSize,
  type Writer,
  zigzag,
  zigzagDelta,
} from "./wire_writer.ts";
import type { WireRecord } from "./wire_headers.ts";

/** kafkajs's arguments to a Produce request (protocol/requests/produce), as far as the encoder reads them. */
export interface ProduceArgs {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  producerId?: unknown;
  producerEpoch?: number;
  compression?: number;
  topicData: Array<{ topic: string; partitions: PartitionData[] }>;
}
export interface PartitionData {
  partition: number;
  firstSequence?: number;
  messages: WireRecordCarrier[];
}

/** Compresses a batch's records with Kafka compression type `type` (kafkajs's codec table). */
export type Compress = (type: number, records: Buffer) => Promise<Uint8Array>;

export interface EncodeOptions {
  compress: Compress;
  /** A buffer of at least `bytes` bytes. */
  allocate(bytes: number): Buffer;
  /** Free bytes to leave in front of the body. */
  roomBytes: number;
}

export interface EncodedProduce {
  /** What `allocate` returned. */
  allocated: Buffer;
  /** The room, then the body. */
  whole: Buffer;
  body: Buffer;
}

const NO_COMPRESSION = 0;
const COMPRESSION_CODEC_MASK = 0x07;
const utf8 = new TextEncoder();

interface PlannedRecord {
  record: WireRecord;
  timestampDelta: number | bigint;
  /** Header keys as sent (a string key's keyBytes if it has them, else its UTF-8). */
  headerKeys: Uint8Array[];
  /** Bytes after the record's length prefix. */
  bodySize: number;
}

function planRecord(record: WireRecord, offsetDelta: number, firstTimestamp: bigint): PlannedRecord {
  const timestampDelta = zigzagDelta(record.timestamp - firstTimestamp);
  const headerKeys = record.headers.map((h) =>
    typeof h.key !== "string"
      ? h.key
      : "keyBytes" in h && h.keyBytes !== undefined
      ? h.keyBytes
      : utf8.encode(h.key)
  );
  let bodySize = 1 + varlongSize(timestampDelta) + varintSize(zigzag(offsetDelta)) + bytesSize(record.key) +
    bytesSize(record.value) + varintSize(zigzag(record.headers.length));
  for (let i = 0; i < headerKeys.length; i++) {
    bodySize += bytesSize(headerKeys[i]!) + bytesSize(record.headers[i]!.value);
  }
  return { record, timestampDelta, headerKeys, bodySize };
}

/** Record (magic 2): length, attributes, timestamp delta, offset delta, key, value, headers as a list. */
function writeRecord(w: Writer, r: PlannedRecord, offsetDelta: number): void {
  w.varint(zigzag(r.bodySize));
  w.int8(0);
  w.varlong(r.timestampDelta);
  w.varint(zigzag(offsetDelta));
  w.bytes(r.record.key);
  w.bytes(r.record.value);
  w.varint(zigzag(r.record.headers.length));
  for (let i = 0; i < r.headerKeys.length; i++) {
    w.bytes(r.headerKeys[i]!);
    w.bytes(r.record.headers[i]!.value);
  }
}

// Record batch v2: baseOffset int64, batchLength int32, partitionLeaderEpoch int32, magic int8, crc uint32, then
// (covered by the CRC) attributes int16, lastOffsetDelta int32, firstTimestamp int64, maxTimestamp int64,
// producerId int64, producerEpoch int16, baseSequence int32, record count int32, records.
const BATCH_HEADER = 61;
const CRC_AT = 17;
const CRC_FROM = 21;
const MAGIC = 2;
const TRANSACTIONAL = 0x10;

interface PlannedBatch {
  partition: number;
  attributes: number;
  firstTimestamp: bigint;
  maxTimestamp: bigint;
  producerId: bigint;
  producerEpoch: number;
  firstSequence: number;
  count: number;
  /** Uncompressed: the records, written straight into the request. */
  records: PlannedRecord[];
  /** Compressed: the codec's output for the records. */
  compressed: Uint8Array | null;
  /** The whole batch, from baseOffset to its end. */
  size: number;
}

function int64Of(value: unknown, fallback: bigint): bigint {
  if (value === undefined || value === null) return fallback;
  if (typeof value === "bigint") return value;
  if (typeof value === "number" || typeof value === "string") return BigInt(value);
  // kafkajs's Long (utils/long.js) wraps a bigint.
  const inner = (value as { value?: unknown }).value;
  if (typeof inner === "bigint") return inner;
  throw new Error(`cannot read ${String(value)} as a 64-bit integer`);
}

async function planBatch(args: ProduceArgs, data: PartitionData, compress: Compress): Promise<PlannedBatch> {
  const wireRecords = data.messages.map(recordOf);
  if (wireRecords.length === 0) throw new Error(`empty record batch for partition ${data.partition}`);
  // Numerically: kafkajs sorts the timestamps as strings.
  let first = wireRecords[0]!.timestamp;
  let max = first;
  for (const r of wireRecords) {
    if (r.timestamp < first) first = r.timestamp;
    if (r.timestamp > max) max = r.timestamp;
  }
  const records = wireRecords.map((r, i) => planRecord(r, i, first));
  const codec = args.compression ?? NO_COMPRESSION;
  let compressed: Uint8Array | null = null;
  let recordsSize = 0;
  for (const r of records) recordsSize += varintSize(zigzag(r.bodySize)) + r.bodySize;
  if (codec !== NO_COMPRESSION) {
    const w = createWriter(Buffer.allocUnsafe(recordsSize));
    records.forEach((r, i) => writeRecord(w, r, i));
    compressed = await compress(codec, w.buf);
    recordsSize = compressed.length;
  }
  return {
    partition: data.partition,
    attributes: (codec & COMPRESSION_CODEC_MASK) | (args.transactionalId ? TRANSACTIONAL : 0),
    firstTimestamp: first,
    maxTimestamp: max,
    producerId: int64Of(args.producerId, -1n),
    producerEpoch: args.producerEpoch ?? 0,
    firstSequence: data.firstSequence ?? 0,
    count: records.length,
    records: compressed === null ? records : [],
    compressed,
    size: BATCH_HEADER + recordsSize,
  };
}

function writeBatch(w: Writer, b: PlannedBatch): void {
  const start = w.at;
  w.int64(0n);
  w.int32(b.size - 12);
  w.int32(0);
  w.int8(MAGIC);
  w.int32(0); // the CRC, once the bytes it covers are written
  w.int16(b.attributes);
  w.int32(b.count - 1);
  w.int64(b.firstTimestamp);
  w.int64(b.maxTimestamp);
  w.int64(b.producerId);
  w.int16(b.producerEpoch);
  w.int32(b.firstSequence);
  w.int32(b.count);
  if (b.compressed !== null) w.raw(b.compressed);
  else b.records.forEach((r, i) => writeRecord(w, r, i));
  if (w.at - start !== b.size) throw new Error(`record batch is ${w.at - start} bytes, planned ${b.size}`);
  w.view.setUint32(start + CRC_AT, crc32c(w.buf.subarray(start + CRC_FROM, w.at)));
}

// Produce v3 to v7: transactional_id, acks, timeout, [topic, [partition, record_set]]; kafkajs implements up to v7.
/**
 * The Produce request body (v3 to v7) for `args`, whose messages must all come from `wireMessage`. The body is
 * written at `roomBytes` into one buffer from `allocate` (which may hand out unzeroed memory: every byte is
 * written), leaving the room in front free for the request framing.
 */
export async function encodeProduceRequest(
  args: ProduceArgs,
  options: EncodeOptions,
): Promise<EncodedProduce> {
  const transactionalId = args.transactionalId == null ? null : utf8.encode(args.transactionalId);
  let size = stringSize(transactionalId) + 2 + 4 + 4;
  const topics: { name: Uint8Array; batches: PlannedBatch[] }[] = [];
  for (const { topic, partitions } of args.topicData) {
    const batches: PlannedBatch[] = [];
    for (const data of partitions) batches.push(await planBatch(args, data, options.compress));
    const name = utf8.encode(topic);
    size += stringSize(name) + 4;
    for (const b of batches) size += 4 + 4 + b.size;
    topics.push({ name, batches });
  }
  const allocated = options.allocate(options.roomBytes + size);
  const whole = allocated.subarray(0, options.roomBytes + size);
  const w = createWriter(whole.subarray(options.roomBytes));
  w.string(transactionalId);
  w.int16(args.acks);
  w.int32(args.timeout);
  w.int32(topics.length);
  for (const { name, batches } of topics) {
    w.string(name);
    w.int32(batches.length);
    for (const b of batches) {
      w.int32(b.partition);
      w.int32(b.size);
      writeBatch(w, b);
    }
  }
  if (w.at !== size) throw new Error(`produce request is ${w.at} bytes, planned ${size}`);
  return { allocated, whole, body: w.buf };
}
