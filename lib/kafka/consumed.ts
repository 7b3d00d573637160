// A consumed record's offset and timestamp exactly as Java's consumer computes them.
//
// A record of a magic-2 batch carries its offset and timestamp as deltas from the batch's first offset and first
// timestamp (int64), and Java adds them as `long`s: two's-complement, wrapping at 2^63. kafkajs adds them as
// unbounded BigInts, so a batch whose timestamps lie more than 2^63 apart (-1 and 2^63-1: the broker accepts it,
// the producer's delta wrapped) gives the second record -2^63-1, which is no int64 at all: the index refused it
// and the archive stopped (issue 21). Java also keeps only the low 64 bits of a ten-byte varlong, where kafkajs
// keeps them all; both refuse a longer one. Here the delta kafkajs decoded is turned back into Java's, then added
// as Java does.
import type { KafkaMessage } from "kafkajs";

/** Kafka's LogAppendTime, as kafkajs's record decoder names it in the batch context. */
const LOG_APPEND_TIME = 1;

/** The batch fields kafkajs hangs on every magic-2 record (src/protocol/recordBatch/v0/decoder.js). */
interface BatchContext {
  firstOffset?: string;
  firstTimestamp?: string;
  maxTimestamp?: string;
  timestampType?: number;
}

type Consumed = Pick<KafkaMessage, "offset" | "timestamp"> & { batchContext?: BatchContext };

const int64 = (n: bigint) => BigInt.asIntN(64, n);

/**
 * Java's value of a zigzag varlong that kafkajs decoded as `decoded` without truncating the raw value to 64 bits:
 * kafkajs gives (raw >> 1) for an even raw and ~(raw >> 1) for an odd one, Java the same of raw's low 64 bits,
 * so only bits 0-62 of (raw >> 1) survive. The identity for every varlong of at most 64 bits.
 */
export function javaVarlong(decoded: bigint): bigint {
  return decoded >= 0n ? BigInt.asUintN(63, decoded) : ~BigInt.asUintN(63, ~decoded);
}

/**
 * The record's offset: the batch's first offset plus the record's offset delta, as a Java long. The delta is a
 * varint, an int32 in kafkajs as in Java, which kafkajs added to the first offset exactly; magic 0 and 1 carry each
 * message's offset whole.
 */
export function messageOffset(m: Consumed): bigint {
  return int64(BigInt(m.offset));
}

/**
 * The record's timestamp: for LogAppendTime the batch's max timestamp (the broker's append time), else the
 * batch's first timestamp plus the record's timestamp delta, both as Java longs. Magic 0 and 1 carry it whole.
 */
export function messageTimestamp(m: Consumed): bigint {
  const batch = m.batchContext;
  if (batch?.firstTimestamp === undefined) return int64(BigInt(m.timestamp));
  if (batch.timestampType === LOG_APPEND_TIME && batch.maxTimestamp !== undefined) {
    return BigInt(batch.maxTimestamp);
  }
  const first = BigInt(batch.firstTimestamp);
  // kafkajs formed m.timestamp as first + delta, exactly (BigInt), so the delta it decoded comes back whole.
  return int64(first + javaVarlong(BigInt(m.timestamp) - first));
}
