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
// request holding such messages is encoded here from those records (see installWireHeaderEncoding). restore and
// mock-hop both send through this one mechanism.
import { CompressionCodecs } from "kafkajs";
import compressionModule from "kafkajs/src/protocol/message/compression/index.js";
import { Buffer } from "node:buffer";
import DecoderModule from "kafkajs/src/protocol/decoder.js";
import EncoderModule from "kafkajs/src/protocol/encoder.js";
import HeaderDecoderModule from "kafkajs/src/protocol/recordBatch/header/v0/decoder.js";
import RecordBatchModule from "kafkajs/src/protocol/recordBatch/v0/index.js";
import RequestsModule from "kafkajs/src/protocol/requests/index.js";
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

function internalsError(what: string): Error {
  return hkError(
    "KAFKA_INTERNALS_MISMATCH",
    `cannot install the wire-header hook: ${what}. The kafkajs version in deno.json must stay npm:kafkajs@2.2.4 ` +
      "(the hook depends on its internals); if it was changed, restore it or update lib/kafka_headers.ts",
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

function checkSameInstance(): void {
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

interface KafkajsEncoder {
  writeInt8(value: number): KafkajsEncoder;
  writeInt16(value: number): KafkajsEncoder;
  writeInt32(value: number): KafkajsEncoder;
  writeString(value: string | null): KafkajsEncoder;
  writeArray(array: unknown[]): KafkajsEncoder;
  writeVarInt(value: number): KafkajsEncoder;
  writeVarLong(value: bigint): KafkajsEncoder;
  writeVarIntBytes(value: Buffer | null): KafkajsEncoder;
  writeEncoder(value: KafkajsEncoder): KafkajsEncoder;
  size(): number;
}

const Encoder = EncoderModule as unknown as { new (): KafkajsEncoder };
const { RecordBatch } = RecordBatchModule as unknown as {
  RecordBatch(options: Record<string, unknown>): Promise<KafkajsEncoder>;
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
type ProduceBuilder = (
  args: ProduceArgs,
) => { request: { encode(): Promise<KafkajsEncoder> }; response: unknown };
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

/** Record (magic 2): length, attributes, timestamp delta, offset delta, key, value, headers as a list. */
function encodeRecord(record: WireRecord, offsetDelta: number, firstTimestamp: bigint): KafkajsEncoder {
  const body = new Encoder()
    .writeInt8(0)
    .writeVarLong(record.timestamp - firstTimestamp)
    .writeVarInt(offsetDelta)
    .writeVarIntBytes(toBuffer(record.key))
    .writeVarIntBytes(toBuffer(record.value))
    .writeVarInt(record.headers.length);
  for (const header of record.headers) {
    const key = typeof header.key === "string" ? Buffer.from(utf8.encode(header.key)) : toBuffer(header.key);
    body.writeVarIntBytes(key).writeVarIntBytes(toBuffer(header.value));
  }
  return new Encoder().writeVarInt(body.size()).writeEncoder(body);
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

// kafkajs's own partition encoder (produce/v3/request.js) with the records built from their WireRecords, and the
// batch's first and max timestamps computed numerically (kafkajs sorts them as strings).
async function encodePartition(args: ProduceArgs, data: PartitionData): Promise<KafkajsEncoder> {
  const records = data.messages.map(recordOf);
  const stamps = records.map((r) => r.timestamp);
  const first = stamps.reduce((a, b) => (b < a ? b : a));
  const max = stamps.reduce((a, b) => (b > a ? b : a));
  const batch = await RecordBatch({
    compression: args.compression,
    records: records.map((r, i) => encodeRecord(r, i, first)),
    firstTimestamp: first,
    maxTimestamp: max,
    producerId: args.producerId,
    producerEpoch: args.producerEpoch,
    firstSequence: data.firstSequence,
    transactional: Boolean(args.transactionalId),
    lastOffsetDelta: records.length - 1,
  });
  return new Encoder().writeInt32(data.partition).writeInt32(batch.size()).writeEncoder(batch);
}

// Produce v3 to v7 share one request layout (later versions only add semantics); kafkajs implements up to v7.
async function encodeProduceRequest(args: ProduceArgs): Promise<KafkajsEncoder> {
  const topics: KafkajsEncoder[] = [];
  for (const { topic, partitions } of args.topicData) {
    const encoded: KafkajsEncoder[] = [];
    for (const data of partitions) encoded.push(await encodePartition(args, data));
    topics.push(new Encoder().writeString(topic).writeArray(encoded));
  }
  return new Encoder()
    .writeString(args.transactionalId ?? null)
    .writeInt16(args.acks)
    .writeInt32(args.timeout)
    .writeArray(topics);
}

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
    definition === undefined || typeof definition.protocol !== "function" || typeof RecordBatch !== "function"
  ) {
    throw internalsError("kafkajs's Produce request table or RecordBatch encoder is missing");
  }
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
      return { ...built, request: { ...built.request, encode: () => encodeProduceRequest(args) } };
    };
  };
  definition.protocol = Object.assign(patched, { [ENCODING_PATCHED]: true as const });
}
