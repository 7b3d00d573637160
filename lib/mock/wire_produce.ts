// Exact records through kafkajs's producer.
//
// kafkajs takes a message's headers as an object (so interleaved duplicate keys and integer-like key order are lost,
// and a null header value makes its size computation throw) and stamps `timestamp || Date.now()` (so a record
// cannot carry timestamp 0, and -1, "no timestamp", needs care). Hopskotch traffic has all of these, and mock-hop
// must send them byte for byte. So, for messages that carry an `ExactRecord` under the EXACT symbol only, the
// Produce request's record batch is encoded here from that record: headers as a list (raw key bytes, null values
// kept), timestamps as given. Everything else stays kafkajs's: partitioning, leader lookup, retries, idempotence
// (producer id, epoch and sequence numbers go into our batch unchanged), compression (its codec table, where
// lib/kafka_codecs.ts installs snappy/lz4/zstd) and response handling. Messages without the symbol are encoded by
// kafkajs itself, so a process that installs this hook behaves exactly as before for every other producer.
import { Buffer } from "node:buffer";
import EncoderModule from "kafkajs/src/protocol/encoder.js";
import RecordBatchModule from "kafkajs/src/protocol/recordBatch/v0/index.js";
import RequestsModule from "kafkajs/src/protocol/requests/index.js";
import { hkError } from "../errors.ts";

/** One record exactly as it must appear on the wire (magic 2). */
export interface ExactRecord {
  key: Uint8Array | null;
  value: Uint8Array | null;
  /** Keys as raw bytes, so that even a non-UTF-8 key (which a Kafka string cannot hold) can be sent. */
  headers: ReadonlyArray<{ key: Uint8Array; value: Uint8Array | null }>;
  /** Milliseconds; -1 is Kafka's "no timestamp". */
  timestamp: bigint;
}

/** The symbol under which a kafkajs message carries its ExactRecord. */
export const EXACT = Symbol.for("housekeeping.mock.exactRecord");
const PATCHED = Symbol.for("housekeeping.mock.exactProducePatch");

/** A kafkajs message whose wire form is `record`. kafkajs requires a `value` property: it never reaches the wire. */
export function exactMessage(record: ExactRecord, partition: number): {
  partition: number;
  value: Buffer | null;
  [EXACT]: ExactRecord;
} {
  return { partition, value: null, [EXACT]: record };
}

interface KafkajsEncoder {
  writeInt32(value: number): KafkajsEncoder;
  writeInt16(value: number): KafkajsEncoder;
  writeString(value: string | null): KafkajsEncoder;
  writeArray(array: unknown[]): KafkajsEncoder;
  writeVarInt(value: number): KafkajsEncoder;
  writeVarLong(value: bigint): KafkajsEncoder;
  writeInt8(value: number): KafkajsEncoder;
  writeVarIntBytes(value: Buffer | null): KafkajsEncoder;
  writeEncoder(value: KafkajsEncoder): KafkajsEncoder;
  size(): number;
}

const Encoder = EncoderModule as unknown as { new (): KafkajsEncoder };
const { RecordBatch } = RecordBatchModule as unknown as {
  RecordBatch(options: Record<string, unknown>): Promise<KafkajsEncoder>;
};

type ProtocolBuilder = (args: ProduceArgs) => { request: ProduceRequest; response: unknown };
interface ProduceDefinition {
  versions: string[];
  protocol: ((options: { version: number }) => ProtocolBuilder) & { [PATCHED]?: true };
}
interface ProduceRequest {
  apiKey: number;
  apiVersion: number;
  encode(): Promise<KafkajsEncoder>;
}
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
  messages: Array<{ [EXACT]?: ExactRecord }>;
}

const requests = (RequestsModule as unknown as { requests: { Produce: ProduceDefinition } }).requests;

function buffer(bytes: Uint8Array | null): Buffer | null {
  return bytes === null ? null : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Record (magic 2): length, attributes, timestamp delta, offset delta, key, value, headers. */
function encodeRecord(record: ExactRecord, offsetDelta: number, firstTimestamp: bigint): KafkajsEncoder {
  const body = new Encoder()
    .writeInt8(0)
    .writeVarLong(record.timestamp - firstTimestamp)
    .writeVarInt(offsetDelta)
    .writeVarIntBytes(buffer(record.key))
    .writeVarIntBytes(buffer(record.value))
    .writeVarInt(record.headers.length);
  for (const header of record.headers) {
    body.writeVarIntBytes(buffer(header.key)).writeVarIntBytes(buffer(header.value));
  }
  return new Encoder().writeVarInt(body.size()).writeEncoder(body);
}

function exactOf(message: { [EXACT]?: ExactRecord }): ExactRecord {
  const record = message[EXACT];
  if (record === undefined) {
    throw hkError(
      "MOCK_MIXED_BATCH",
      "a produce request mixes exact (mock-hop) messages with ordinary ones; send them in separate send() calls",
    );
  }
  return record;
}

async function encodePartition(args: ProduceArgs, data: PartitionData): Promise<KafkajsEncoder> {
  const exact = data.messages.map(exactOf);
  const stamps = exact.map((r) => r.timestamp);
  const first = stamps.reduce((a, b) => (b < a ? b : a));
  const max = stamps.reduce((a, b) => (b > a ? b : a));
  const batch = await RecordBatch({
    compression: args.compression ?? 0,
    records: exact.map((r, i) => encodeRecord(r, i, first)),
    firstTimestamp: first,
    maxTimestamp: max,
    ...(args.producerId === undefined ? {} : { producerId: args.producerId }),
    producerEpoch: args.producerEpoch ?? 0,
    firstSequence: data.firstSequence ?? 0,
    transactional: Boolean(args.transactionalId),
    lastOffsetDelta: exact.length - 1,
  });
  return new Encoder().writeInt32(data.partition).writeInt32(batch.size()).writeEncoder(batch);
}

// Produce v3..v7 share one request layout (later versions only add semantics); kafkajs implements up to v7.
async function encodeRequest(args: ProduceArgs): Promise<KafkajsEncoder> {
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

const carriesExact = (args: ProduceArgs) =>
  args.topicData.some((t) => t.partitions.some((p) => p.messages.some((m) => m[EXACT] !== undefined)));

/**
 * Makes kafkajs producers encode messages built by `exactMessage` byte for byte. Idempotent; affects no other
 * message. Throws KAFKA_INTERNALS_MISMATCH if kafkajs's Produce request table is not where it is expected.
 */
export function installExactProduce(): void {
  const definition = requests?.Produce;
  if (definition === undefined || typeof definition.protocol !== "function") {
    throw hkError(
      "KAFKA_INTERNALS_MISMATCH",
      "cannot install mock-hop's exact-record hook: kafkajs's Produce request table is missing. The kafkajs " +
        "version in deno.json must stay npm:kafkajs@2.2.4 (lib/mock/wire_produce.ts depends on its internals)",
    );
  }
  if (definition.protocol[PATCHED]) return;
  const original = definition.protocol;
  const patched = ({ version }: { version: number }): ProtocolBuilder => {
    const build = original({ version });
    return (args) => {
      const built = build(args);
      if (!carriesExact(args)) return built;
      if (version < 3) {
        throw hkError(
          "KAFKA_BROKER_TOO_OLD",
          `the broker accepts Produce v${version} at most; record headers need Produce v3 (Kafka 0.11) or newer`,
        );
      }
      return { ...built, request: { ...built.request, encode: () => encodeRequest(args) } };
    };
  };
  definition.protocol = Object.assign(patched, { [PATCHED]: true as const });
}
