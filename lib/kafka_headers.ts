// The exact wire header list of each consumed record.
//
// kafkajs's record decoder (src/protocol/recordBatch/record/v0/decoder.js) folds the decoded header list into
// an object keyed by name, so interleaved duplicates lose their order. The list itself is still produced by
// `decoder.readVarIntArray(HeaderDecoder)`: we wrap that one method so that, for the header reader only, the
// returned array's `reduce` hangs the original list on its result under a non-enumerable symbol. That object is
// what kafkajs hands to eachMessage/eachBatch as `message.headers`, so the list travels with the message.
// Nothing else in kafkajs changes behaviour: the wrapper calls the original method and the original reduce.
import { CompressionCodecs } from "kafkajs";
import compressionModule from "kafkajs/src/protocol/message/compression/index.js";
import DecoderModule from "kafkajs/src/protocol/decoder.js";
import HeaderDecoderModule from "kafkajs/src/protocol/recordBatch/header/v0/decoder.js";
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

/**
 * Makes kafkajs keep every record's wire header list (read it with `wireHeaders`). Idempotent; createKafka
 * calls it. Throws KAFKA_INTERNALS_MISMATCH if the kafkajs modules imported here are not the ones kafkajs
 * itself runs (the hook would then silently do nothing).
 */
export function installWireHeaders(): void {
  // kafkajs's public CompressionCodecs is the `Codecs` export of this very module: identical objects prove that
  // our deep imports resolve to the module instances kafkajs loaded, not to fresh copies.
  if ((compressionModule as { Codecs?: unknown }).Codecs !== CompressionCodecs) {
    throw internalsError("kafkajs internal modules resolve to a different instance than kafkajs's own");
  }
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
