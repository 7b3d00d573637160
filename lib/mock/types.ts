// The records mock-hop makes, shared by the case table, the generator, the manifest and the sender.
import type { Prng } from "./prng.ts";
import type { SampleSet } from "./samples.ts";

/** A header as sent. The key is bytes so that a non-UTF-8 key (an adversarial case) can be represented. */
export interface MockHeader {
  key: Uint8Array;
  value: Uint8Array | null;
}

/** Compression of the record batch a record travels in. */
export const COMPRESSIONS = ["none", "gzip", "snappy", "lz4", "zstd"] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/** A record before the generator places it: what a case builds. */
export interface Draft {
  case: string;
  /** Topic name without the --topic-prefix. */
  topic: string;
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: MockHeader[];
  /** Milliseconds; -1 is Kafka's "no timestamp". */
  timestamp: bigint;
}

/** How the archive will name the record (docs/archive-format.md §2) and whether it stores it. */
export interface Expectation {
  uuid: string;
  /** client: the first 16-byte `_id`; archive: derived from the content (legacy); clash: `_id` already taken. */
  source: "client" | "archive" | "clash";
  /** The earlier record with the same identity and content: this one is only a receipt in the archive. */
  duplicateOf: MockRecord | null;
  /** For a clash: the client UUID that already named other content. */
  clashOf: string | null;
  /** A heartbeat: meant to be on the archive's veto list, so never archived. */
  vetoed: boolean;
  /** Hex of identity.contentDigest over what a Kafka consumer receives (the archive's con_content_sha256). */
  contentSha256: string;
}

export interface MockRecord extends Omit<Draft, "topic"> {
  /** Position in the stream, from 0. */
  seq: number;
  /** Full topic name, prefix included. */
  topic: string;
  /** Topic name without the prefix (what cases work with). */
  baseTopic: string;
  partition: number;
  compression: Compression;
  expect: Expectation;
}

/** What a case builds its records from: the seeded PRNG, the samples, the clock and the records sent so far. */
export interface CaseContext {
  prng: Prng;
  samples: SampleSet;
  /** `_sender` of current hop-client messages. */
  sender: string;
  maxValueBytes: number;
  /** The next producer timestamp (ms): the deterministic clock, or the wall clock with --realtime. */
  now(): bigint;
  /** A random earlier record this run may send again: one with a valid client `_id`, or one without. */
  earlier(kind: "client" | "legacy"): MockRecord | null;
  /** Counts heartbeats, which carry their sequence number. */
  nextBeat(): number;
}
