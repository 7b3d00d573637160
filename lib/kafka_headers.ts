// The exact wire header list of each record, in both directions.
//
// Consuming: kafkajs's record decoder (src/protocol/recordBatch/record/v0/decoder.js) folds the decoded header list
// into an object keyed by name, so interleaved duplicates lose their order. The list itself is still produced by
// `decoder.readVarIntArray(HeaderDecoder)`: we wrap that one method so that, for the header reader only, the
// returned array's `reduce` hangs the original list on its result under a non-enumerable symbol. That object is
// what kafkajs hands to eachMessage/eachBatch as `message.headers`, so the list travels with the message.
// Nothing else in kafkajs changes behaviour: the wrapper calls the original method and the original reduce.
//
// Producing: kafkajs's producer takes headers as an object, so it cannot write interleaved duplicate keys in wire
// order, and a null header value makes its size computation throw; it also stamps `timestamp || Date.now()`, so a
// record cannot carry timestamp 0. Messages built by `wireMessage` carry their record under a symbol, and a Produce
// request holding such messages is encoded here from those records (see installWireHeaderEncoding), with a fast
// CRC-32C and without kafkajs's copies; kafkajs's Encoder.writeEncoder is wrapped so that framing such a request
// does not copy it either (it behaves as before for everything else). restore and mock-hop both send through this
// one mechanism.
import { CompressionCodecs } from "kafkajs";
import compressionModule from "kafkajs/src/protocol/message/compression/index.js";
import { Buffer } from "node:buffer";
import DecoderModule from "kafkajs/src/protocol/decoder.js";
import EncoderModule from "kafkajs/src/protocol/encoder.js";
import HeaderDecoderModule from "kafkajs/src/protocol/recordBatch/header/v0/decoder.js";
import RequestsModule from "kafkajs/src/protocol/requests/index.js";
import { crc32c } from "./crc32c.ts";
import { hkError } from "./errors.ts";
import type { WireHeader } from "./record.ts";

type Reader = (decoder: unknown) => unknown;
type ReadVarIntArray = ((this: unknown, reader: Reader) => unknown[]) & { [PATCHED]?: true };
interface DecodedHeader {
  key: string;
  value: Uint8Array | null;
}

const Decoder = DecoderModule as { prototype: { readVarIntArray: ReadVarIntArray } };
const HeaderDecoder = HeaderDecoderModule as Reader;
const WIRE = Symbol.for("housekeeping.kafka.wireHeaders");
const PATCHED = Symbol.for("housekeeping.kafka.wireHeadersPatch");

/** For every hook into kafkajs's internals (this file, lib/kafka_request_queue.ts). */
export function internalsError(
  what: string,
  hook = "the wire-header hook",
  file = "lib/kafka_headers.ts",
): Error {
  return hkError(
    "KAFKA_INTERNALS_MISMATCH",
    `cannot install ${hook}: ${what}. The kafkajs version in deno.json must stay npm:kafkajs@2.2.4 ` +
      `(the hook depends on its internals); if it was changed, restore it or update ${file}`,
  );
}

function toView(value: Uint8Array | null): Uint8Array | null {
  // A Uint8Array view of kafkajs's Buffer: no copy, and deepStrictEqual-comparable with plain byte arrays.
  return value === null ? null : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

function keepWireList(list: DecodedHeader[]): DecodedHeader[] {
  const wire: readonly WireHeader[] = Object.freeze(
    list.map(({ key, value }) => Object.freeze({ key, value: toView(value) })),
  );
  Object.defineProperty(list, "reduce", {
    enumerable: false,
    value(this: DecodedHeader[], ...args: Parameters<DecodedHeader[]["reduce"]>) {
      const result = Array.prototype.reduce.apply(this, args) as object;
      Object.defineProperty(result, WIRE, { value: wire, enumerable: false });
      return result;
    },
  });
  return list;
}

export function checkSameInstance(): void {
  // kafkajs's public CompressionCodecs is the `Codecs` export of this very module: identical objects prove that
  // our deep imports resolve to the module instances kafkajs loaded, not to fresh copies.
  if ((compressionModule as { Codecs?: unknown }).Codecs !== CompressionCodecs) {
    throw internalsError("kafkajs internal modules resolve to a different instance than kafkajs's own");
  }
}

/**
 * Makes kafkajs keep every record's wire header list (read it with `wireHeaders`). Idempotent; createKafka
 * calls it. Throws KAFKA_INTERNALS_MISMATCH if the kafkajs modules imported here are not the ones kafkajs
 * itself runs (the hook would then silently do nothing).
 */
export function installWireHeaders(): void {
  checkSameInstance();
  const prototype = Decoder.prototype;
  const original = prototype.readVarIntArray;
  if (typeof original !== "function" || typeof HeaderDecoder !== "function") {
    throw internalsError("Decoder.readVarIntArray or the record header decoder is missing");
  }
  if (original[PATCHED]) return;
  const patched: ReadVarIntArray = function (this: unknown, reader: Reader) {
    const list = original.call(this, reader);
    return reader === HeaderDecoder ? keepWireList(list as DecodedHeader[]) : list;
  };
  patched[PATCHED] = true;
  prototype.readVarIntArray = patched;
}

/** The fields of a kafkajs message this module reads (kafkajs's KafkaMessage, loosely typed). */
export interface ConsumedMessage {
  headers?: unknown;
  magicByte?: number;
}

/**
 * The record's headers exactly as on the wire: order, duplicates, null (distinct from empty) values kept.
 * Values are views of kafkajs's buffers (entries are frozen). Throws KAFKA_WIRE_HEADERS_MISSING rather than guess from the
 * object form if the message was decoded without the hook.
 */
export function wireHeaders(message: ConsumedMessage): WireHeader[] {
  const headers = message.headers;
  // Messages in the pre-0.11 formats (magic 0 and 1) have no headers field at all.
  if (headers === undefined && message.magicByte !== undefined && message.magicByte < 2) return [];
  const wire = typeof headers === "object" && headers !== null
    ? (headers as { [WIRE]?: readonly WireHeader[] })[WIRE]
    : undefined;
  if (wire === undefined) {
    throw hkError(
      "KAFKA_WIRE_HEADERS_MISSING",
      "this Kafka message carries no wire header list, so header order and duplicates are unknown; create the " +
        "client with createKafka() (or call installWireHeaders() before consuming) and do not copy message.headers",
    );
  }
  // A fresh array per call, so a caller that edits its copy cannot change what the next caller sees.
  return wire.slice();
}

// ---- producing ----

/**
 * A header to send whose key is given as raw bytes, sent unchanged: even a non-UTF-8 key (which a Kafka string,
 * and so a WireHeader, cannot hold) can be sent this way (mock-hop's adversarial cases do).
 */
export interface RawWireHeader {
  key: Uint8Array;
  value: Uint8Array | null;
}

/** One record as it must appear on the wire (record batch magic 2), for `wireMessage`. */
export interface WireRecord {
  key: Uint8Array | null;
  value: Uint8Array | null;
  /**
   * Sent in this order; duplicates kept; a null value is sent as null (length -1), distinct from empty. A string
   * key is sent as UTF-8, a byte key as is.
   */
  headers: ReadonlyArray<WireHeader | RawWireHeader>;
  /** Milliseconds, sent exactly (0 stays 0; -1 is Kafka's "no timestamp"). */
  timestamp: bigint;
}

const WIRE_RECORD = Symbol.for("housekeeping.kafka.wireRecord");
const ENCODING_PATCHED = Symbol.for("housekeeping.kafka.wireEncodingPatch");

/** What `wireMessage` returns: a kafkajs message whose wire form is its WireRecord. */
export interface WireMessage {
  key: Buffer | null;
  value: Buffer | null;
  partition: number;
  timestamp: string;
  [WIRE_RECORD]: WireRecord;
}

// The Produce request (v3 to v7 share one layout) and its record batches (magic 2) are written here in one pass into
// one buffer of the exact size. kafkajs's Encoder grows a zero-filled buffer and copies everything written so far
// at every level of nesting (several copies of each value), and computes each batch's CRC-32C one byte per step:
// at MiB-sized records those were most of restore's CPU.

/** What kafkajs's request code (protocol/request.js) needs from an encoded request body. */
interface EncodedRequest {
  buf: Buffer;
  readonly buffer: Buffer;
  size(): number;
  [ROOM]?: Room;
  [LEASE]?: Buffer;
}

interface KafkajsEncoder {
  buf: Buffer;
  offset: number;
  writeBuffer(value: Buffer): KafkajsEncoder;
  writeEncoder(value: unknown): KafkajsEncoder;
  readonly buffer: Buffer;
  [ROOM]?: Room;
}

const Encoder = EncoderModule as unknown as { new (): KafkajsEncoder; prototype: KafkajsEncoder };

// kafkajs frames every request (protocol/request.js) by writing the header and then the encoded body into a fresh
// Encoder, and the size and that into another: two more zero-filled allocations and copies of the whole request.
// A body encoded here leaves ROOM_BYTES free in front of itself, and Encoder.writeEncoder is wrapped so that
// appending such a body (or an Encoder built that way) to a short Encoder moves those few bytes into the room
// instead, leaving the body where it is. Anything else takes kafkajs's own path.
const ROOM = Symbol.for("housekeeping.kafka.encoderRoom");
const ROOM_PATCHED = Symbol.for("housekeeping.kafka.encoderRoomPatch");
const ROOM_BYTES = 256;

interface Room {
  /** The buffer holding the free room and then the bytes. */
  whole: Buffer;
  /** Where the bytes start in `whole`: the room is whole[0, start). */
  start: number;
  /** The view whose bytes these are: the room is used only while nothing replaced or extended it. */
  view: Buffer;
  used: boolean;
}

type WriteEncoder = ((this: KafkajsEncoder, value: unknown) => KafkajsEncoder) & { [ROOM_PATCHED]?: true };

function roomOf(value: unknown): Room | undefined {
  const room = (value as { [ROOM]?: Room } | null)?.[ROOM];
  if (room === undefined || room.used) return undefined;
  const holder = value as { buf?: unknown; offset?: unknown };
  const whole = holder.buf === room.view &&
    (holder.offset === undefined || holder.offset === room.view.length);
  return whole ? room : undefined;
}

function installEncoderRoom(): void {
  const original: WriteEncoder = Encoder.prototype.writeEncoder;
  if (original[ROOM_PATCHED]) return;
  const patched: WriteEncoder = function (this: KafkajsEncoder, value: unknown) {
    const room = roomOf(value);
    if (room === undefined || this.offset > room.start) return original.call(this, value);
    // Used once: a second append of the same body must not overwrite the bytes the first one put in front.
    room.used = true;
    const start = room.start - this.offset;
    this.buf.copy(room.whole, start, 0, this.offset);
    const view = room.whole.subarray(start, room.start + room.view.length);
    this.buf = view;
    this.offset = view.length;
    this[ROOM] = { whole: room.whole, start, view, used: false };
    return this;
  };
  patched[ROOM_PATCHED] = true;
  Encoder.prototype.writeEncoder = patched;
}

const compression = compressionModule as unknown as {
  Types: { None: number };
  COMPRESSION_CODEC_MASK: number;
  lookupCodec(type: number): { compress(encoder: KafkajsEncoder): Promise<Buffer> } | null;
};

interface ProduceArgs {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  producerId?: unknown;
  producerEpoch?: number;
  compression?: number;
  topicData: Array<{ topic: string; partitions: PartitionData[] }>;
}
interface PartitionData {
  partition: number;
  firstSequence?: number;
  messages: Array<{ [WIRE_RECORD]?: WireRecord }>;
}
interface KafkajsResponse {
  decode(payload: unknown): Promise<unknown>;
}
type ProduceBuilder = (
  args: ProduceArgs,
) => { request: { encode(): Promise<EncodedRequest> }; response: KafkajsResponse };
interface ProduceDefinition {
  versions: string[];
  protocol: ((options: { version: number }) => ProduceBuilder) & { [ENCODING_PATCHED]?: true };
}

const requests = (RequestsModule as unknown as { requests?: { Produce?: ProduceDefinition } }).requests;

function toBuffer(bytes: Uint8Array | null): Buffer | null {
  return bytes === null ? null : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const utf8 = new TextEncoder();

/**
 * A kafkajs message (for `producer.send`) that is written exactly as `record`: header list, null header values
 * and timestamp included. Requires installWireHeaderEncoding (createKafka installs it). `key` and `value` are
 * also set in kafkajs's form, so its partitioner and size checks see the real bytes; `partition` is explicit.
 */
export function wireMessage(record: WireRecord, partition: number): WireMessage {
  if (!Number.isInteger(partition) || partition < 0) {
    throw hkError("KAFKA_WIRE_RECORD_INVALID", `partition must be a non-negative integer, got ${partition}`);
  }
  for (const { key } of record.headers) {
    // A lone surrogate would silently become U+FFFD on the wire: refuse rather than send something else.
    if (typeof key === "string" && !key.isWellFormed()) {
      throw hkError(
        "KAFKA_WIRE_RECORD_INVALID",
        `header key ${JSON.stringify(key)} is not well-formed Unicode and cannot be sent as UTF-8 unchanged`,
      );
    }
  }
  return {
    key: toBuffer(record.key),
    value: toBuffer(record.value),
    partition,
    timestamp: record.timestamp.toString(),
    [WIRE_RECORD]: record,
  };
}

function recordOf(message: { [WIRE_RECORD]?: WireRecord }): WireRecord {
  const record = message[WIRE_RECORD];
  if (record === undefined) {
    throw hkError(
      "KAFKA_WIRE_MIXED_BATCH",
      "one produce request mixes wireMessage() messages with ordinary kafkajs messages; use a separate producer " +
        "for each kind",
    );
  }
  return record;
}

// Zigzag varints (Kafka's record fields). Numbers stay exact up to 2^53, far beyond any length or offset delta;
// only a timestamp delta can exceed that, and takes the bigint path.
const zigzag = (n: number) => (n >= 0 ? n * 2 : -n * 2 - 1);

function varintSize(zigzagged: number): number {
  let size = 1;
  for (let z = zigzagged; z >= 0x80; z = Math.floor(z / 0x80)) size++;
  return size;
}

const SAFE_DELTA = 2n ** 52n;

/** A timestamp delta, zigzagged as Kafka's varlong (int64, wrapping like Java's long arithmetic). */
function zigzagDelta(delta: bigint): number | bigint {
  if (delta > -SAFE_DELTA && delta < SAFE_DELTA) return zigzag(Number(delta));
  const wrapped = BigInt.asIntN(64, delta);
  return BigInt.asUintN(64, (wrapped << 1n) ^ (wrapped >> 63n));
}

function varlongSize(zigzagged: number | bigint): number {
  if (typeof zigzagged === "number") return varintSize(zigzagged);
  let size = 1;
  for (let z = zigzagged; z >= 0x80n; z >>= 7n) size++;
  return size;
}

const bytesSize = (bytes: Uint8Array | null) =>
  bytes === null ? 1 : varintSize(zigzag(bytes.length)) + bytes.length;

/** Sequential big-endian writes into one buffer whose size was computed beforehand. */
interface Writer {
  readonly buf: Buffer;
  readonly view: DataView;
  /** Bytes written so far: where the next write goes. */
  readonly at: number;
  int8(n: number): void;
  int16(n: number): void;
  int32(n: number): void;
  int64(n: bigint): void;
  raw(bytes: Uint8Array): void;
  varint(zigzagged: number): void;
  varlong(zigzagged: number | bigint): void;
  /** Varint length (-1 for null), then the bytes. */
  bytes(bytes: Uint8Array | null): void;
  /** int16 length (-1 for null), then UTF-8: Kafka's (nullable) string. */
  string(text: Uint8Array | null): void;
}

function createWriter(buf: Buffer): Writer {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = 0;
  const raw = (bytes: Uint8Array) => {
    buf.set(bytes, at);
    at += bytes.length;
  };
  const int16 = (n: number) => {
    view.setInt16(at, n);
    at += 2;
  };
  const varint = (zigzagged: number) => {
    let z = zigzagged;
    while (z >= 0x80) {
      buf[at++] = (z % 0x80) | 0x80;
      z = Math.floor(z / 0x80);
    }
    buf[at++] = z;
  };
  return {
    buf,
    view,
    get at() {
      return at;
    },
    int8(n) {
      view.setInt8(at, n);
      at += 1;
    },
    int16,
    int32(n) {
      view.setInt32(at, n);
      at += 4;
    },
    int64(n) {
      view.setBigInt64(at, n);
      at += 8;
    },
    raw,
    varint,
    varlong(zigzagged) {
      if (typeof zigzagged === "number") return varint(zigzagged);
      let z = zigzagged;
      while (z >= 0x80n) {
        buf[at++] = Number(z & 0x7fn) | 0x80;
        z >>= 7n;
      }
      buf[at++] = Number(z);
    },
    bytes(bytes) {
      if (bytes === null) return varint(1);
      varint(zigzag(bytes.length));
      raw(bytes);
    },
    string(text) {
      if (text === null) return int16(-1);
      int16(text.length);
      raw(text);
    },
  };
}

interface PlannedRecord {
  record: WireRecord;
  timestampDelta: number | bigint;
  /** Header keys as sent (UTF-8 of a string key). */
  headerKeys: Uint8Array[];
  /** Bytes after the record's length prefix. */
  bodySize: number;
}

function planRecord(record: WireRecord, offsetDelta: number, firstTimestamp: bigint): PlannedRecord {
  const timestampDelta = zigzagDelta(record.timestamp - firstTimestamp);
  const headerKeys = record.headers.map((h) => (typeof h.key === "string" ? utf8.encode(h.key) : h.key));
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

async function planBatch(args: ProduceArgs, data: PartitionData): Promise<PlannedBatch> {
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
  const codec = args.compression ?? compression.Types.None;
  let compressed: Uint8Array | null = null;
  let recordsSize = 0;
  for (const r of records) recordsSize += varintSize(zigzag(r.bodySize)) + r.bodySize;
  if (codec !== compression.Types.None) {
    const compressor = compression.lookupCodec(codec);
    if (compressor === null) throw new Error(`kafkajs has no codec for compression type ${codec}`);
    const w = createWriter(Buffer.allocUnsafe(recordsSize));
    records.forEach((r, i) => writeRecord(w, r, i));
    compressed = await compressor.compress(new Encoder().writeBuffer(w.buf));
    recordsSize = compressed.length;
  }
  return {
    partition: data.partition,
    attributes: (codec & compression.COMPRESSION_CODEC_MASK) | (args.transactionalId ? TRANSACTIONAL : 0),
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

const stringSize = (text: Uint8Array | null) => 2 + (text?.length ?? 0);

// Produce v3 to v7: transactional_id, acks, timeout, [topic, [partition, record_set]]; kafkajs implements up to v7.
async function encodeProduceRequest(args: ProduceArgs): Promise<EncodedRequest> {
  const transactionalId = args.transactionalId == null ? null : utf8.encode(args.transactionalId);
  let size = stringSize(transactionalId) + 2 + 4 + 4;
  const topics: { name: Uint8Array; batches: PlannedBatch[] }[] = [];
  for (const { topic, partitions } of args.topicData) {
    const batches: PlannedBatch[] = [];
    for (const data of partitions) batches.push(await planBatch(args, data));
    const name = utf8.encode(topic);
    size += stringSize(name) + 4;
    for (const b of batches) size += 4 + 4 + b.size;
    topics.push({ name, batches });
  }
  // Every byte is written below (checked against the plan), so the buffer need not be zero-filled first.
  const lease = leaseBuffer(ROOM_BYTES + size);
  const whole = lease.subarray(0, ROOM_BYTES + size);
  const w = createWriter(whole.subarray(ROOM_BYTES));
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
  const buf = w.buf;
  return {
    buf,
    buffer: buf,
    size: () => buf.length,
    [ROOM]: { whole, start: ROOM_BYTES, view: buf, used: false },
    [LEASE]: lease,
  };
}

// A request's bytes go to the socket from the buffer they were encoded into, so that buffer must stay untouched
// until they are sent. The broker answers a request only after reading all of it: once that request's response is
// decoded, its buffer is free and becomes the spare the next request is encoded into (a fresh multi-MiB buffer per
// request costs page faults, zeroing and garbage collection). A request that gets no answer (a timeout, a lost
// connection, acks=0) never gives its buffer back.
const LEASE = Symbol.for("housekeeping.kafka.requestBuffer");
const MiB = 2 ** 20;
const SPARE_FROM = 64 * 1024;
const SPARE_UP_TO = 16 * MiB;
let spare: Buffer | null = null;

function leaseBuffer(bytes: number): Buffer {
  if (bytes < SPARE_FROM) return Buffer.allocUnsafe(bytes);
  if (spare !== null && spare.length >= bytes) {
    const taken = spare;
    spare = null;
    return taken;
  }
  return Buffer.allocUnsafe(Math.ceil(bytes / MiB) * MiB);
}

function giveBack(buffer: Buffer): void {
  if (buffer.length < SPARE_FROM || buffer.length > SPARE_UP_TO) return;
  if (spare === null || spare.length < buffer.length) spare = buffer;
}

/**
 * A function kept under this key on a Produce request's `topicData` array is called once the request is encoded:
 * from there to its place in the connection's request queue, kafkajs only takes microtasks (see
 * lib/restore/producer.ts, which dispatches requests strictly in order).
 */
export const ENCODED = Symbol.for("housekeeping.kafka.produceEncoded");

const carriesWireRecords = (args: ProduceArgs) =>
  args.topicData.some((t) => t.partitions.some((p) => p.messages.some((m) => m[WIRE_RECORD] !== undefined)));

/**
 * Makes kafkajs producers write messages built by `wireMessage` exactly. Only Produce requests carrying such
 * messages are encoded here; the rest of kafkajs stays in charge (partition leaders, retries, the idempotent
 * producer's id, epoch and sequence numbers, compression codecs, responses). Idempotent; createKafka calls it.
 * Throws KAFKA_INTERNALS_MISMATCH if kafkajs's Produce request table is not where this kafkajs version keeps it.
 */
export function installWireHeaderEncoding(): void {
  checkSameInstance();
  const definition = requests?.Produce;
  if (
    definition === undefined || typeof definition.protocol !== "function" ||
    typeof compression.lookupCodec !== "function" || typeof Encoder.prototype?.writeEncoder !== "function"
  ) {
    throw internalsError("kafkajs's Produce request table, codec lookup or Encoder is missing");
  }
  installEncoderRoom();
  if (definition.protocol[ENCODING_PATCHED]) return;
  const original = definition.protocol;
  const patched = ({ version }: { version: number }): ProduceBuilder => {
    const build = original({ version });
    return (args) => {
      const built = build(args);
      if (!carriesWireRecords(args)) return built;
      if (version < 3) {
        throw hkError(
          "KAFKA_BROKER_TOO_OLD",
          `the broker accepts Produce v${version} at most; record headers need Produce v3 (Kafka 0.11) or newer`,
        );
      }
      // The buffer of this request, given back when its response arrives (see leaseBuffer); never if it was
      // encoded twice, as it is then unknown which encoding the response answers.
      let lease: Buffer | undefined;
      let encodings = 0;
      const encode = async () => {
        const encoded = await encodeProduceRequest(args);
        lease = ++encodings === 1 ? encoded[LEASE] : undefined;
        (args.topicData as { [ENCODED]?: () => void })[ENCODED]?.();
        return encoded;
      };
      const decode = (payload: unknown) => {
        if (lease !== undefined) giveBack(lease);
        lease = undefined;
        return built.response.decode(payload);
      };
      return { ...built, request: { ...built.request, encode }, response: { ...built.response, decode } };
    };
  };
  definition.protocol = Object.assign(patched, { [ENCODING_PATCHED]: true as const });
}
