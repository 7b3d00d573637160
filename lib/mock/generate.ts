// Pure generation: seed + options + samples -> the stream of records, each with the identity the archive must give
// it. No I/O and no wall clock (unless --realtime supplies one), so the same inputs give the same records, byte for
// byte; record i does not depend on how many records follow, so a shorter run is a prefix of a longer one.
import { isUtf8 } from "node:buffer";
import { hex } from "../format/checksum.ts";
import { hkError } from "../runtime/errors.ts";
import { clashUuid, clientUuid, contentDigest, legacyUuid } from "../format/identity.ts";
import type { WireHeader } from "../format/types.ts";
import { caseByName, type CaseDef, FIXED_TIMESTAMPS } from "./cases.ts";
import { HEARTBEAT_TOPIC } from "./messages.ts";
import { createPrng, type Prng } from "./prng.ts";
import type { SampleSet } from "./samples.ts";
import type { CaseContext, Compression, Draft, Expectation, MockHeader, MockRecord } from "./types.ts";

export interface GeneratorOptions {
  seed: number;
  /** Case names (resolved by cases.resolveCases). */
  cases: readonly string[];
  topicPrefix: string;
  partitions: number;
  /** Timestamp of the first record, ms. */
  baseTime: bigint;
  /** Milliseconds between consecutive producer timestamps (>= 1). */
  timeStepMs: bigint;
  /** The wall clock for --realtime; absent: the deterministic clock baseTime + n * timeStepMs. */
  clock?: () => bigint;
  maxValueBytes: number;
  sender: string;
  compressions: readonly Compression[];
}

export interface Generator {
  next(): MockRecord;
}

/** Earlier records duplicates may copy: the most recent ones only, so memory stays bounded on long runs. */
const HISTORY = 256;
/** Identities remembered for duplicate detection; far larger than HISTORY, so every copy finds its original. */
const REMEMBERED = 8192;
/** Codec runs: short at first, so that every codec shows up early even in a small run. */
const FIRST_RUN_MAX = 8;
const RUN_MAX = 32;

const lossyUtf8 = new TextDecoder("utf-8");

/**
 * The headers as the archive receives them: a name is text, and a name that is not UTF-8 is that text with
 * U+FFFD plus its exact bytes (WireHeader.keyBytes), which the archive keeps.
 */
export function receivedHeaders(headers: readonly MockHeader[]): WireHeader[] {
  return headers.map((h) => {
    const key = lossyUtf8.decode(h.key);
    return isUtf8(h.key) ? { key, value: h.value } : { key, value: h.value, keyBytes: h.key };
  });
}

/** A Map that forgets its oldest entries beyond `limit` (insertion order). */
function boundedMap<V>(limit: number) {
  const map = new Map<string, V>();
  return {
    get: (key: string) => map.get(key),
    set(key: string, value: V) {
      map.set(key, value);
      if (map.size > limit) map.delete(map.keys().next().value!);
    },
  };
}

interface Owner {
  record: MockRecord;
  digest: string;
}

interface Resolved {
  expect: Expectation;
  /** The earlier record this one must follow in Kafka order (its original, or the owner of its `_id`). */
  after: MockRecord | null;
  /** Registers the placed record as the owner of its identity (null: it owns nothing new). */
  claim: ((record: MockRecord) => void) | null;
}

/**
 * Tracks identities exactly as lib/archive/ingest.ts resolves them: the first record with a client `_id` owns it; the same
 * content again is a duplicate; other content under that `_id` is a clash with a UUID of its own. Records without
 * one get a name-based UUID of topic, timestamp and content.
 */
function createIdentities() {
  const clients = boundedMap<Owner>(REMEMBERED);
  const derived = boundedMap<Owner>(REMEMBERED);
  // Fixed timestamps (-1, 0, far future) make legacy UUIDs collide across any distance: never forget those.
  const pinned = new Map<string, Owner>();

  return (draft: Draft, topic: string, vetoed: boolean): Resolved => {
    const received = receivedHeaders(draft.headers);
    const digestBytes = contentDigest({ key: draft.key, value: draft.value, headers: received });
    const digest = hex(digestBytes);
    const client = clientUuid(received);
    const resolved = (
      uuid: string,
      source: Expectation["source"],
      table: { get(key: string): Owner | undefined; set(key: string, owner: Owner): void } | null,
      extra: { clashOf?: string; owner?: MockRecord } = {},
    ): Resolved => {
      const earlier = table?.get(uuid);
      return {
        expect: {
          uuid,
          source,
          duplicateOf: earlier?.record ?? null,
          clashOf: extra.clashOf ?? null,
          vetoed,
          contentSha256: digest,
        },
        after: earlier?.record ?? extra.owner ?? null,
        claim: table === null || earlier !== undefined
          ? null
          : (record) => table.set(uuid, { record, digest }),
      };
    };
    // The archive never sees a vetoed record: it names nothing and duplicates nothing.
    if (vetoed) {
      return resolved(
        client ?? legacyUuid(topic, draft.timestamp, digestBytes),
        client ? "client" : "archive",
        null,
      );
    }
    if (client !== null) {
      const owner = clients.get(client);
      if (owner === undefined || owner.digest === digest) return resolved(client, "client", clients);
      return resolved(clashUuid(client, digestBytes), "clash", derived, {
        clashOf: client,
        owner: owner.record,
      });
    }
    const fixed = FIXED_TIMESTAMPS.has(draft.timestamp);
    return resolved(legacyUuid(topic, draft.timestamp, digestBytes), "archive", {
      get: (uuid) => pinned.get(uuid) ?? derived.get(uuid),
      set: (uuid, owner) => (fixed ? pinned : derived).set(uuid, owner),
    });
  };
}

function shuffled<T>(prng: Prng, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = prng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function validate(options: GeneratorOptions): CaseDef[] {
  const problems: string[] = [];
  if (!Number.isInteger(options.partitions) || options.partitions < 1) {
    problems.push("partitions must be >= 1");
  }
  if (options.compressions.length === 0) problems.push("at least one compression is needed");
  // A zero step would give every record one timestamp, so legacy UUIDs could collide at any distance.
  if (options.timeStepMs < 1n) problems.push("the time step must be at least 1 ms");
  if (!Number.isInteger(options.maxValueBytes) || options.maxValueBytes < 1) {
    problems.push("max value size must be >= 1");
  }
  const defs = options.cases.map((name) => {
    const def = caseByName(name);
    if (def === undefined) problems.push(`unknown case ${name}`);
    return def;
  }).filter((d): d is CaseDef => d !== undefined);
  if (defs.length === 0) problems.push("no cases selected");
  if (problems.length > 0) {
    throw hkError("MOCK_OPTIONS_INVALID", `invalid generator options: ${problems.join("; ")}`);
  }
  return defs;
}

/** The endless record stream for `options`. */
export function createGenerator(options: GeneratorOptions, samples: SampleSet): Generator {
  const defs = validate(options);
  const prng = createPrng(options.seed);
  // Cases asked for by name that are not in the default mix (weight 0) still need a share.
  const weights = defs.map((d) => (d.weight > 0 ? d.weight : 1));
  // Every case once first (originals before the duplicates that copy them), then the weighted mix.
  const firstPass = [
    ...shuffled(prng, defs.filter((d) => !d.dependent)),
    ...shuffled(prng, defs.filter((d) => d.dependent)),
  ];
  const identities = createIdentities();
  const history = { client: [] as MockRecord[], legacy: [] as MockRecord[] };
  const pending: Draft[] = [];
  const codecOrder = shuffled(prng, options.compressions);
  let codec: Compression = codecOrder[0]!;
  let codecRuns = 0;
  let runLeft = 0;
  let tick = 0n;
  let beats = 0;
  let seq = 0;

  const ctx: CaseContext = {
    prng,
    samples,
    sender: options.sender,
    maxValueBytes: options.maxValueBytes,
    now: options.clock ?? (() => options.baseTime + tick++ * options.timeStepMs),
    earlier: (kind) => (history[kind].length === 0 ? null : prng.pick(history[kind])),
    nextBeat: () => ++beats,
  };

  const nextCodec = (): Compression => {
    if (runLeft === 0) {
      const early = codecRuns < codecOrder.length;
      codec = early ? codecOrder[codecRuns]! : prng.pick(options.compressions);
      runLeft = prng.between(1, early ? FIRST_RUN_MAX : RUN_MAX);
      codecRuns++;
    }
    runLeft--;
    return codec;
  };

  const remember = (record: MockRecord) => {
    const { expect } = record;
    if (expect.vetoed || expect.duplicateOf !== null || expect.source === "clash") return;
    // Records with a header key that is not UTF-8 were once lossy and so never copied: they still are not, so that
    // every seed names the traffic it always named.
    if (record.headers.some((h) => !isUtf8(h.key))) return;
    const list = history[expect.source === "client" ? "client" : "legacy"];
    list.push(record);
    if (list.length > HISTORY) list.shift();
  };

  const place = (draft: Draft): MockRecord => {
    const topic = options.topicPrefix + draft.topic;
    const vetoed = draft.topic === HEARTBEAT_TOPIC;
    const { expect, after, claim } = identities(draft, topic, vetoed);
    // A copy or a clash goes to its original's partition: only there does Kafka order them, so only there is it
    // certain which of the two the archive sees first.
    const partition = after !== null ? after.partition : prng.int(options.partitions);
    const record: MockRecord = {
      ...draft,
      seq: seq++,
      topic,
      baseTopic: draft.topic,
      partition,
      compression: nextCodec(),
      expect,
    };
    claim?.(record);
    remember(record);
    return record;
  };

  return {
    next() {
      if (pending.length === 0) {
        const def = firstPass.shift() ?? defs[prng.weighted(weights)]!;
        pending.push(...def.build(ctx));
      }
      return place(pending.shift()!);
    },
  };
}

/** The first `count` records for `options` (tests, and runs that know their size). */
export function generateRecords(options: GeneratorOptions, samples: SampleSet, count: number): MockRecord[] {
  const generator = createGenerator(options, samples);
  return Array.from({ length: count }, () => generator.next());
}
