// The one file that reaches into kafkajs's internals (`kafkajs/src/...`): every patch of kafkajs lives here,
// behind one entry point (installKafkajsPatches, which createKafka calls). Each patch depends on the internals
// of exactly the kafkajs version below, so the version kafkajs reports is checked before anything is patched,
// and each patch checks that what it replaces is where it expects it.
import { Buffer, isUtf8 } from "node:buffer";
import { CompressionCodecs } from "kafkajs";
import kafkajsPackage from "kafkajs/package.json" with { type: "json" };
import type { Kafka, Logger as KafkajsLogger } from "kafkajs";
import ConnectionModule from "kafkajs/src/network/connection.js";
import RequestQueueModule from "kafkajs/src/network/requestQueue/index.js";
import createEosManager from "kafkajs/src/producer/eosManager/index.js";
import compressionModule from "kafkajs/src/protocol/message/compression/index.js";
import DecoderModule from "kafkajs/src/protocol/decoder.js";
import EncoderModule from "kafkajs/src/protocol/encoder.js";
import HeaderDecoderModule from "kafkajs/src/protocol/recordBatch/header/v0/decoder.js";
import RecordDecoderModule from "kafkajs/src/protocol/recordBatch/record/v0/decoder.js";
import RecordBatchDecoderModule from "kafkajs/src/protocol/recordBatch/v0/decoder.js";
import crc32CModule from "kafkajs/src/protocol/recordBatch/crc32C/crc32C.js";
import RequestsModule from "kafkajs/src/protocol/requests/index.js";
import CreateRequestModule from "kafkajs/src/protocol/request.js";
import ProtocolErrorModule from "kafkajs/src/protocol/error.js";
import { hkError, type HousekeepingError } from "../runtime/errors.ts";
import { encodeProduceRequest, type ProduceArgs } from "./produce_encoder.ts";
import { giveBack, leaseBuffer } from "./request_buffers.ts";
import { carriesWireRecords, type DecodedHeader, keepWireList, wireHeaders } from "./wire_headers.ts";

/** The kafkajs version whose internals the patches below were written for (deno.json pins it). */
export const KAFKAJS_VERSION = "2.2.4";

type Reader = (decoder: unknown) => unknown;
type ReadVarIntArray = ((this: unknown, reader: Reader) => unknown[]) & { [PATCHED]?: true };

const Decoder = DecoderModule as {
  new (buffer: Buffer): unknown;
  prototype: { readVarIntArray: ReadVarIntArray };
};
const HeaderDecoder = HeaderDecoderModule as Reader;
const PATCHED = Symbol.for("housekeeping.kafka.wireHeadersPatch");
const ENCODING_PATCHED = Symbol.for("housekeeping.kafka.wireEncodingPatch");
const Encoder = EncoderModule as unknown as { new (): KafkajsEncoder; prototype: KafkajsEncoder };
const RequestQueue = RequestQueueModule as unknown as {
  prototype: { scheduleCheckPendingRequests?: Schedule };
};

/**
 * kafkajs's own modules, for tests that check our encoders and patches against kafkajs's decoders (the module
 * instances kafkajs runs).
 */
export const kafkajsModules = {
  Decoder: DecoderModule as unknown,
  decodeRecord: RecordDecoderModule as unknown,
  decodeRecordBatch: RecordBatchDecoderModule as unknown,
  requests: RequestsModule as unknown,
  createRequest: CreateRequestModule as unknown,
  crc32c: crc32CModule as unknown,
  RequestQueue: RequestQueueModule as unknown,
  Connection: ConnectionModule as unknown,
};

/**
 * The messages of the Kafka protocol errors kafkajs retries (its table in src/protocol/error.js), which is how its
 * connection log names the error of a failed response: "The coordinator is loading ...", "There is no leader ...".
 */
export const retriableProtocolMessages: ReadonlySet<string> = new Set(
  ((ProtocolErrorModule as { errorCodes?: Array<{ retriable?: unknown; message?: unknown }> }).errorCodes ??
    [])
    .filter((e) => e.retriable === true && typeof e.message === "string")
    .map((e) => e.message as string),
);

function internalsError(what: string, hook = "the wire-header hook"): HousekeepingError {
  return hkError(
    "KAFKA_INTERNALS_MISMATCH",
    `cannot install ${hook}: ${what}. The kafkajs version in deno.json must stay npm:kafkajs@${KAFKAJS_VERSION} ` +
      "(the hook depends on its internals); if it was changed, restore it or update lib/kafka/kafkajs_internals.ts",
  );
}

/** Throws KAFKA_INTERNALS_MISMATCH unless `version` is the kafkajs version the patches were written for. */
export function checkKafkajsVersion(version: unknown = kafkajsPackage.version): void {
  if (version !== KAFKAJS_VERSION) {
    throw internalsError(
      `kafkajs is version ${String(version)}, not ${KAFKAJS_VERSION}`,
      "the kafkajs patches",
    );
  }
}

function checkSameInstance(): void {
  // kafkajs's public CompressionCodecs is the `Codecs` export of this very module: identical objects prove that
  // our deep imports resolve to the module instances kafkajs loaded, not to fresh copies.
  if ((compressionModule as { Codecs?: unknown }).Codecs !== CompressionCodecs) {
    throw internalsError("kafkajs internal modules resolve to a different instance than kafkajs's own");
  }
}

/**
 * Installs every kafkajs patch: record headers folded in linear time and their wire list kept on consumed
 * messages, `wireMessage` records encoded exactly on produce, idle connections that do not poll, and responses
 * that arrive whole taken without a copy.
 * Idempotent; createKafka calls it. Throws KAFKA_INTERNALS_MISMATCH if kafkajs is not the version the patches
 * were written for, its internals are not the module instances kafkajs itself runs (the patches would then
 * silently do nothing), or its record decoder does not fold headers where the fold hook expects.
 */
export function installKafkajsPatches(): void {
  checkKafkajsVersion();
  checkSameInstance();
  installWireHeaders();
  installWireHeaderEncoding();
  installIdleRequestQueue();
  installWholeResponses();
}

// ---- consuming: kafkajs's record decoder (src/protocol/recordBatch/record/v0/decoder.js) folds the header list
// read by `decoder.readVarIntArray(HeaderDecoder)` into an object, with `.reduce((obj, h) => ({ ...obj, [h.key]:
// ... }), {})`: each header copies every key before it, and repeated keys grow by `concat`. Quadratic: 5 000
// distinct keys took 3.5 s, 20 000 took 87 s, longer than the consumer's session, so the archiver lost its group
// and decoded the same batch again, never committing it (issue 21). The wrapper below gives that list (and no
// other) a `reduce` of its own, which builds the same object in one pass (foldHeaders) without ever calling
// kafkajs's fold, and hangs the wire list on it (keepWireList).

/** kafkajs's record decoder (src/protocol/recordBatch/record/v0/decoder.js). */
type DecodeRecord = (decoder: unknown, batchContext: object) => { headers?: unknown };

// A record body (after its length) with the headers a="1", a=null, <ff>=empty: attributes 0, timestamp and offset
// deltas 0, key and value null (zigzag -1), 3 headers (zigzag 6), each a zigzag length and bytes (null: -1).
const PROBE_RECORD = [0, 0, 0, 1, 1, 6, 2, 0x61, 2, 0x31, 2, 0x61, 1, 2, 0xff, 0];

/** What is wrong with how `decodeRecord` folds PROBE_RECORD's headers, or null if it went through the hook. */
function headerFoldProblem(decodeRecord: DecodeRecord): string | null {
  try {
    const record = decodeRecord(new Decoder(Buffer.from(PROBE_RECORD)), {
      firstOffset: "0",
      firstTimestamp: "0",
    });
    const [first, second, third] = wireHeaders({ headers: record.headers, magicByte: 2 });
    const folded = (record.headers as { a?: unknown }).a;
    const exact = first?.key === "a" && first.value?.[0] === 0x31 && first.keyBytes === undefined &&
      second?.key === "a" && second.value === null && third?.key === "\ufffd" &&
      third.keyBytes?.length === 1 &&
      third.keyBytes[0] === 0xff && third.value?.length === 0;
    return exact && Array.isArray(folded) && folded.length === 2
      ? null
      : "the probe record's headers came out wrong";
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/**
 * Throws KAFKA_INTERNALS_MISMATCH unless `decodeRecord`, with the hook installed, folds a record's headers through
 * the hook: kafkajs's own fold (or another) would otherwise run, unseen. Decodes one small record rather than
 * reading kafkajs's source, which a bundler may rewrite.
 */
export function checkHeaderFold(decodeRecord = RecordDecoderModule as unknown as DecodeRecord): void {
  const problem = headerFoldProblem(decodeRecord);
  if (problem !== null) {
    throw internalsError(`kafkajs's record decoder does not fold headers through the hook: ${problem}`);
  }
}

function defineHeader(headers: Record<string, unknown>, key: string, value: unknown): void {
  // Defined, not assigned: a header named "__proto__" becomes a property, as in kafkajs, never the prototype.
  Object.defineProperty(headers, key, { value, writable: true, enumerable: true, configurable: true });
}

/**
 * kafkajs's header object, built into `headers` in one pass: each key once, in first-seen order, with its value,
 * or the array of its values if it repeats. The same object as kafkajs's fold makes, quirks included: a key is
 * looked up through the prototype as kafkajs does (a lone "constructor" header becomes [Object, value] there too).
 * An array is grown in place only if this fold made it (an own property), so nothing inherited is ever changed.
 */
function foldHeaders(
  list: readonly DecodedHeader[],
  headers: Record<string, unknown>,
): Record<string, unknown> {
  for (const { key, value } of list) {
    const previous = headers[key];
    if (previous === undefined) defineHeader(headers, key, value);
    else if (!Array.isArray(previous)) defineHeader(headers, key, [previous, value]);
    else if (Object.hasOwn(headers, key)) previous.push(value);
    else defineHeader(headers, key, previous.concat([value]));
  }
  return headers;
}

/** kafkajs's `reduce(fold, {})` on the header list: foldHeaders into the `{}` it passes, never its fold. */
function linearReduce(
  this: DecodedHeader[],
  _kafkajsFold: unknown,
  initial: Record<string, unknown>,
): Record<string, unknown> {
  const headers = foldHeaders(this, initial);
  keepWireList(headers, this);
  return headers;
}

/** What readExactHeader needs of kafkajs's Decoder (src/protocol/decoder.js). */
interface HeaderSource {
  readVarIntBytes(): Buffer | null;
}

/**
 * kafkajs's header decoder (src/protocol/recordBatch/header/v0/decoder.js), which reads the name with
 * `readVarIntString` (bytes decoded as UTF-8, U+FFFD for what is not), plus the name's exact bytes when they are not
 * UTF-8, so that such a name is archived and restored unchanged. The same string as kafkajs's for every name; the
 * bytes are a view of the record, not a copy, and only a name that decoded to a U+FFFD is checked.
 */
function readExactHeader(decoder: unknown): DecodedHeader {
  const source = decoder as HeaderSource;
  const name = source.readVarIntBytes();
  const value = source.readVarIntBytes();
  // A null name (length -1: Java's brokers refuse it) stays kafkajs's null.
  if (name === null) return { key: null as unknown as string, value };
  const key = name.toString("utf8");
  return key.includes("\ufffd") && !isUtf8(name) ? { key, value, keyBytes: name } : { key, value };
}

/**
 * Makes kafkajs fold record headers in linear time and keep every record's wire header list (read it with
 * `wireHeaders`). Idempotent.
 */
function installWireHeaders(): void {
  const prototype = Decoder.prototype;
  const original = prototype.readVarIntArray;
  if (typeof original !== "function" || typeof HeaderDecoder !== "function") {
    throw internalsError("Decoder.readVarIntArray or the record header decoder is missing");
  }
  if (original[PATCHED]) return;
  const patched: ReadVarIntArray = function (this: unknown, reader: Reader) {
    if (reader !== HeaderDecoder) return original.call(this, reader);
    const list = original.call(this, readExactHeader);
    // Configurable so that tests can watch what kafkajs calls it with (tests/unit/kafka_headers_test.ts).
    Object.defineProperty(list, "reduce", { value: linearReduce, configurable: true });
    return list;
  };
  patched[PATCHED] = true;
  prototype.readVarIntArray = patched;
  checkHeaderFold();
}

// ---- producing: Produce requests carrying `wireMessage` records are encoded by produce_encoder.ts.

/** What kafkajs's request code (protocol/request.js) needs from an encoded request body. */
interface EncodedRequest {
  buf: Buffer;
  readonly buffer: Buffer;
  size(): number;
  [ROOM]?: Room;
}

const compression = compressionModule as unknown as {
  lookupCodec(type: number): { compress(encoder: KafkajsEncoder): Promise<Buffer> } | null;
};

function compressWithKafkajs(type: number, records: Buffer): Promise<Buffer> {
  const compressor = compression.lookupCodec(type);
  if (compressor === null) throw new Error(`kafkajs has no codec for compression type ${type}`);
  return compressor.compress(new Encoder().writeBuffer(records));
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

interface KafkajsEncoder {
  buf: Buffer;
  offset: number;
  writeBuffer(value: Buffer): KafkajsEncoder;
  writeEncoder(value: unknown): KafkajsEncoder;
  readonly buffer: Buffer;
  [ROOM]?: Room;
}

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

/**
 * Makes kafkajs producers write messages built by `wireMessage` exactly. Only Produce requests carrying such
 * messages are encoded here; the rest of kafkajs stays in charge (partition leaders, retries, the idempotent
 * producer's id, epoch and sequence numbers, compression codecs, responses). Idempotent.
 */
function installWireHeaderEncoding(): void {
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
        const { allocated, whole, body } = await encodeProduceRequest(args, {
          compress: compressWithKafkajs,
          allocate: leaseBuffer,
          roomBytes: ROOM_BYTES,
        });
        lease = ++encodings === 1 ? allocated : undefined;
        (args.topicData as { [PRODUCE_ENCODED]?: () => void })[PRODUCE_ENCODED]?.();
        const encoded: EncodedRequest = {
          buf: body,
          buffer: body,
          size: () => body.length,
          [ROOM]: { whole, start: ROOM_BYTES, view: body, used: false },
        };
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

// ---- idle connections

// kafkajs 2.2.4 keeps every broker connection polling once a millisecond for as long as it is open: its request
// queue re-arms a timer after each check even when nothing is pending, and the delay it computes is negative
// (`throttledUntil` starts at -1), which node clamps to 1 ms (the TimeoutNegativeWarning on stderr): CPU burnt on
// every open connection, on a machine whose CPU Kafka, S3 and PostgreSQL share (docs/kafka-client.md has the figures).
// Upstream: tulios/kafkajs#1704, #1751 (open, unreleased).
// The hook skips the timer when no request waits and the broker does not throttle us; every other case keeps
// kafkajs's own scheduling, and a request queued later still arms the timer itself (push() schedules it).

interface RequestQueueState {
  pending: unknown[];
  throttledUntil: number;
}
type Schedule = ((this: RequestQueueState) => void) & { [IDLE_PATCHED]?: true };

const IDLE_PATCHED = Symbol.for("housekeeping.kafka.idleRequestQueuePatch");

/** Stops kafkajs's idle connections from polling every millisecond. Idempotent. */
function installIdleRequestQueue(): void {
  const prototype = RequestQueue?.prototype;
  const original = prototype?.scheduleCheckPendingRequests;
  if (typeof original !== "function") {
    throw internalsError(
      "RequestQueue.scheduleCheckPendingRequests is missing",
      "the idle request-queue fix",
    );
  }
  if (original[IDLE_PATCHED]) return;
  const patched: Schedule = function (this: RequestQueueState) {
    if (this.pending.length === 0 && !(this.throttledUntil > Date.now())) return;
    original.call(this);
  };
  patched[IDLE_PATCHED] = true;
  prototype!.scheduleCheckPendingRequests = patched;
}

// ---- responses read whole (socket_frames.ts)

// kafkajs's processData keeps what follows a complete response as `chunks = [remainder]`, an empty Buffer when the
// response ended with the chunk, and joins `chunks` whenever it holds more than one: the next response, even one
// arriving whole in a single chunk (as socket_frames.ts hands them over), is then copied by Buffer.concat([empty,
// response]). Dropping the empty leftovers first leaves such a response as it came (no copy, no fresh memory);
// otherwise kafkajs's framing is untouched.

interface ConnectionState {
  chunks: Buffer[];
  bytesBuffered: number;
}
type ProcessData = ((this: ConnectionState, data: Buffer) => unknown) & { [WHOLE_PATCHED]?: true };

const WHOLE_PATCHED = Symbol.for("housekeeping.kafka.wholeResponsesPatch");
const Connection = ConnectionModule as unknown as { prototype: { processData?: ProcessData } };

/** Makes kafkajs take a response that arrives in one chunk without copying it. Idempotent. */
function installWholeResponses(): void {
  const prototype = Connection?.prototype;
  const original = prototype?.processData;
  if (typeof original !== "function") {
    throw internalsError("Connection.processData is missing", "the whole-response fix");
  }
  if (original[WHOLE_PATCHED]) return;
  const patched: ProcessData = function (this: ConnectionState, data: Buffer) {
    if (this.bytesBuffered === 0 && this.chunks.length > 0) this.chunks = [];
    return original.call(this, data);
  };
  patched[WHOLE_PATCHED] = true;
  prototype!.processData = patched;
}

// ---- the pipelined producer's cluster (lib/restore/producer.ts)

/**
 * A function kept under this key on a Produce request's `topicData` array is called once the request is encoded:
 * from there to its place in the connection's request queue, kafkajs only takes microtasks (see
 * lib/restore/producer.ts, which dispatches requests strictly in order).
 */
export const PRODUCE_ENCODED = Symbol.for("housekeeping.kafka.produceEncoded");

export interface Broker {
  nodeId: number;
  produce(args: unknown): Promise<{ topics: { topicName: string; partitions: PartitionResponse[] }[] }>;
}
export interface PartitionResponse {
  partition: number;
  errorCode: number;
  baseOffset: string;
}
export interface Cluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  isConnected(): boolean;
  addMultipleTargetTopics(topics: string[]): Promise<void>;
  refreshMetadata(): Promise<void>;
  refreshMetadataIfNecessary(): Promise<void>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(args: { nodeId: string }): Promise<Broker>;
  removeBroker(args: { host: string; port: number }): void;
}
export interface EosManager {
  initProducerId(): Promise<void>;
  getProducerId(): unknown;
  getProducerEpoch(): number;
}

/**
 * A cluster of `kafka`'s own (its connections, SASL and metadata) without kafkajs's producer on top, and the
 * manager that obtains an idempotent producer id on it: what kafkajs's producer uses, minus its lock per broker.
 */
export function createProducerCluster(kafka: Kafka): { cluster: Cluster; eos: EosManager } {
  const key = Object.getOwnPropertySymbols(kafka).find((s) =>
    s.description === "private:Kafka:createCluster"
  );
  const create = key === undefined ? undefined : (kafka as unknown as Record<symbol, unknown>)[key];
  if (typeof create !== "function") {
    throw internalsError("Kafka's private createCluster is missing", "the pipelined producer");
  }
  const cluster = create({ allowAutoTopicCreation: false, maxInFlightRequests: null }) as Cluster;
  const eos = (createEosManager as unknown as (args: unknown) => EosManager)({
    logger: kafka.logger() as KafkajsLogger,
    cluster,
    transactional: false,
  });
  return { cluster, eos };
}
