// The exact wire header list of each record, in both directions.
//
// Consuming: kafkajs folds a record's decoded header list into an object keyed by name, so interleaved duplicates
// lose their order. kafkajs_internals.ts replaces that fold with its own (linear) one and hangs the original list on
// the object under a non-enumerable symbol (keepWireList); `wireHeaders` reads it back. That object is what kafkajs
// hands to eachMessage/eachBatch as `message.headers`, so the list travels with the message.
//
// Producing: kafkajs's producer takes headers as an object, so it cannot write interleaved duplicate keys in wire
// order, and a null header value makes its size computation throw; it also stamps `timestamp || Date.now()`, so a
// record cannot carry timestamp 0. Messages built by `wireMessage` carry their record under a symbol, and a Produce
// request holding such messages is encoded by produce_encoder.ts from those records. restore and mock-hop both
// send through this one mechanism.
import { Buffer } from "node:buffer";
import { hkError } from "../runtime/errors.ts";
import type { WireHeader } from "../format/types.ts";

/**
 * One header as kafkajs's header decoder reads it (a Buffer value, or null), with the name's exact bytes when they
 * are not UTF-8 (kafkajs_internals.ts reads them).
 */
export interface DecodedHeader {
  key: string;
  value: Uint8Array | null;
  keyBytes?: Uint8Array;
}

const WIRE = Symbol.for("housekeeping.kafka.wireHeaders");

function toView(value: Uint8Array | null): Uint8Array | null {
  // A Uint8Array view of kafkajs's Buffer: no copy, and deepStrictEqual-comparable with plain byte arrays.
  return value === null ? null : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

/** Hangs `list`, the record's decoded header list, on `headers`: the object kafkajs folds it into. */
export function keepWireList(headers: object, list: readonly DecodedHeader[]): void {
  const wire: readonly WireHeader[] = Object.freeze(
    list.map(({ key, value, keyBytes }) =>
      Object.freeze(
        keyBytes === undefined
          ? { key, value: toView(value) }
          : { key, value: toView(value), keyBytes: toView(keyBytes)! },
      )
    ),
  );
  Object.defineProperty(headers, WIRE, { value: wire, enumerable: false });
}

/** The fields of a kafkajs message this module reads (kafkajs's KafkaMessage, loosely typed). */
export interface ConsumedMessage {
  headers?: unknown;
  magicByte?: number;
}

/**
 * The record's headers exactly as on the wire: order, duplicates, null (distinct from empty) values kept, and a
 * name that is not UTF-8 as its bytes too (`keyBytes`). Values are views of kafkajs's buffers (entries are
 * frozen). Throws KAFKA_WIRE_HEADERS_MISSING rather than guess from the object form if the message was decoded
 * without the hook.
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
        "client with createKafka() (or call installKafkajsPatches() before consuming) and do not copy message.headers",
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
   * key is sent as UTF-8 (a WireHeader's `keyBytes` when it has them), a byte key as is.
   */
  headers: ReadonlyArray<WireHeader | RawWireHeader>;
  /** Milliseconds, sent exactly (0 stays 0; -1 is Kafka's "no timestamp"). */
  timestamp: bigint;
}

const WIRE_RECORD = Symbol.for("housekeeping.kafka.wireRecord");

/** What `wireMessage` returns: a kafkajs message whose wire form is its WireRecord. */
export interface WireMessage {
  key: Buffer | null;
  value: Buffer | null;
  partition: number;
  timestamp: string;
  [WIRE_RECORD]: WireRecord;
}

/** A kafkajs message that may carry a WireRecord. */
export interface WireRecordCarrier {
  [WIRE_RECORD]?: WireRecord;
}

function toBuffer(bytes: Uint8Array | null): Buffer | null {
  return bytes === null ? null : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A kafkajs message (for `producer.send`) that is written exactly as `record`: header list, null header values
 * and timestamp included. Requires installKafkajsPatches (createKafka calls it). `key` and `value` are
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

/** The record of a message from `wireMessage`; throws for an ordinary kafkajs message. */
export function recordOf(message: WireRecordCarrier): WireRecord {
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

/** Whether a Produce request's arguments hold messages from `wireMessage`. */
export const carriesWireRecords = (
  args: { topicData: Array<{ partitions: Array<{ messages: WireRecordCarrier[] }> }> },
) =>
  args.topicData.some((t) => t.partitions.some((p) => p.messages.some((m) => m[WIRE_RECORD] !== undefined)));
