// How mock-hop writes one message of each producer it imitates, from the seeded PRNG alone. Header layouts
// follow hop-client's history (scimma/hop-client, hop/io.py):
//   >= 0.8      user headers, `_id` (uuid4, 16 bytes), `_sender` (when authenticated), `_test` (test only), `_format`
//   0.6, 0.7    user headers, `_test`, `_format`                      (no `_id`, no `_sender`)
//   < 0.6       user headers only; value = json.dumps({"format": ..., "content": ...})
// Plain Kafka producers (GCN's own, kcat, scripts) send no headers at all.
import type { Prng } from "./prng.ts";
import { HOP_FORMATS, type HopFormat, type Sample } from "./samples.ts";
import type { CaseContext, Draft, MockHeader, MockRecord } from "./types.ts";

/** Topic (before --topic-prefix) of each format, after Hopskotch's own topics. */
export const FORMAT_TOPICS: Readonly<Record<HopFormat, string>> = {
  voevent: "gcn.notice",
  gcntextnotice: "gcn.notice",
  circular: "gcn.circular",
  json: "gcn.notices.json",
  blob: "hop.blob",
  avro: "igwn.gwalert",
};
/** Heartbeats land on `<prefix>sys.heartbeat`: with an empty prefix, the topic the default veto list names. */
export const HEARTBEAT_TOPIC = "sys.heartbeat";
/** Where plain producers' records of each file kind go. */
const FILE_TOPICS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\.xml$/, FORMAT_TOPICS.voevent],
  [/\.json$/, FORMAT_TOPICS.json],
  [/\.gcn3$/, FORMAT_TOPICS.circular],
  [/\.avro$/, FORMAT_TOPICS.avro],
  [/gcn[^/]*\.txt$/, FORMAT_TOPICS.gcntextnotice],
];

const encoder = new TextEncoder();
export const utf8 = (text: string) => encoder.encode(text);
export const header = (key: string, value: Uint8Array | null): MockHeader => ({ key: utf8(key), value });

// How often each format is picked where a case leaves it open; JSON notices dominate today's Hopskotch traffic.
const FORMAT_WEIGHTS: Readonly<Record<HopFormat, number>> = {
  voevent: 2,
  gcntextnotice: 2,
  circular: 2,
  json: 4,
  blob: 1,
  avro: 1,
};
export const EVENT_KEYS = [
  "S200302c",
  "GRB 230410A",
  "IceCube-240412A",
  "ZTF25acffkdr",
  "FRB20250101A",
  "EP240315a",
];
const USER_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ["schema", "gcn.nasa.gov/notices/v4"],
  ["pipeline", "ztf-alert-broker"],
  ["content-type", "application/json"],
  ["origin", "scimma-gcn-bridge"],
  ["priority", "1"],
];

/** 16 random bytes with the version and variant bits of a uuid4, like Python's uuid.uuid4().bytes. */
export function uuid4Bytes(prng: Prng): Uint8Array {
  const bytes = prng.bytes(16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return bytes;
}

function pickFormat(prng: Prng, formats: readonly HopFormat[] = HOP_FORMATS): HopFormat {
  return formats[prng.weighted(formats.map((f) => FORMAT_WEIGHTS[f]))]!;
}

function pickSample(ctx: CaseContext, format: HopFormat): Sample {
  return ctx.prng.pick(ctx.samples.byFormat[format]);
}

interface HopOptions {
  format?: HopFormat;
  user?: MockHeader[];
  test?: boolean;
  key?: Uint8Array | null;
  timestamp?: bigint;
}

/** A message exactly as hop-client >= 0.8 publishes it (hop.io.Producer.pack). */
export function hopMessage(ctx: CaseContext, name: string, options: HopOptions = {}): Draft {
  const format = options.format ?? pickFormat(ctx.prng);
  const sample = pickSample(ctx, format);
  const headers = [
    ...(options.user ?? []),
    header("_id", uuid4Bytes(ctx.prng)),
    header("_sender", utf8(ctx.sender)),
    ...(options.test ? [header("_test", utf8("true"))] : []),
    header("_format", utf8(format)),
  ];
  return {
    case: name,
    topic: FORMAT_TOPICS[format],
    key: options.key ?? null,
    value: sample.payload,
    headers,
    timestamp: options.timestamp ?? ctx.now(),
  };
}

/** hop-client 0.6 and 0.7: `_format` (and `_test`), no `_id`, no `_sender`. */
export function hop06Message(ctx: CaseContext, name: string, timestamp?: bigint): Draft {
  const format = pickFormat(ctx.prng, ["voevent", "circular", "json", "blob"]);
  const test = ctx.prng.chance(0.1);
  return {
    case: name,
    topic: FORMAT_TOPICS[format],
    key: null,
    value: pickSample(ctx, format).payload,
    headers: [...(test ? [header("_test", utf8("true"))] : []), header("_format", utf8(format))],
    timestamp: timestamp ?? ctx.now(),
  };
}

/** hop-client < 0.6: the JSON envelope as the value and no headers. */
export function hop05Message(ctx: CaseContext, name: string): Draft {
  const format = pickFormat(ctx.prng, ["circular", "json", "blob"]);
  const sample = pickSample(ctx, format);
  return {
    case: name,
    topic: FORMAT_TOPICS[format],
    key: null,
    value: sample.envelope ?? sample.payload,
    headers: [],
    timestamp: ctx.now(),
  };
}

/** A plain Kafka producer: a sample file's bytes, no headers, sometimes a key. */
export function plainMessage(ctx: CaseContext, name: string, timestamp?: bigint): Draft {
  const file = ctx.prng.pick(ctx.samples.files);
  const topic = FILE_TOPICS.find(([pattern]) => pattern.test(file.name))?.[1] ?? FORMAT_TOPICS.blob;
  return {
    case: name,
    topic,
    key: ctx.prng.chance(0.3) ? utf8(ctx.prng.pick(EVENT_KEYS)) : null,
    value: file.bytes,
    headers: [],
    timestamp: timestamp ?? ctx.now(),
  };
}

export function userHeaders(ctx: CaseContext, min: number, max: number): MockHeader[] {
  const count = ctx.prng.between(min, max);
  return Array.from({ length: count }, () => {
    const [key, value] = ctx.prng.pick(USER_HEADERS);
    return header(key, utf8(value));
  });
}

/** What a duplicate copies from its original. */
type Copyable = Pick<MockRecord, "baseTopic" | "key" | "value" | "headers">;

export const copyable = (draft: Draft): Copyable => ({ ...draft, baseTopic: draft.topic });

/** Same record again: same topic, key, value and headers (same `_id`). */
export function copyOf(original: Copyable, name: string, timestamp: bigint): Draft {
  return {
    case: name,
    topic: original.baseTopic,
    key: original.key,
    value: original.value,
    headers: original.headers,
    timestamp,
  };
}

/** A record some producer other than hop-client >= 0.8 wrote, i.e. without a usable `_id`. */
export function legacyMessage(ctx: CaseContext, name: string, timestamp?: bigint): Draft {
  const kind = ctx.prng.int(3);
  if (kind === 0) return hop06Message(ctx, name, timestamp);
  if (kind === 1 && timestamp === undefined) return hop05Message(ctx, name);
  return plainMessage(ctx, name, timestamp);
}

/** A message of a random producer generation with the given timestamp. */
export function anyMessage(ctx: CaseContext, name: string, timestamp: bigint): Draft {
  return ctx.prng.chance(0.5) ? hopMessage(ctx, name, { timestamp }) : legacyMessage(ctx, name, timestamp);
}

/** A different payload of the same format, so that the content (and digest) differ. */
export function otherPayload(ctx: CaseContext, original: Copyable): Uint8Array {
  const formatValue = original.headers.find((h) => isKey(h, "_format"))?.value;
  const format = HOP_FORMATS.find((f) => formatValue && isText(formatValue, f)) ?? "json";
  const others = ctx.samples.byFormat[format].map((s) => s.payload).filter((p) =>
    !sameBytes(p, original.value)
  );
  if (others.length > 0) return ctx.prng.pick(others);
  // Only one sample of this format: a forwarder that re-encodes would still change the bytes, e.g. a newline.
  return Uint8Array.from([...(original.value ?? []), 0x0a]);
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

export function malformedId(ctx: CaseContext, name: string, idValue: Uint8Array | null): Draft {
  const draft = hopMessage(ctx, name);
  return { ...draft, headers: draft.headers.map((h) => (isKey(h, "_id") ? { ...h, value: idValue } : h)) };
}

/** Whether `bytes` spell the ASCII `text`. */
function isText(bytes: Uint8Array, text: string): boolean {
  return bytes.length === text.length && bytes.every((b, i) => b === text.charCodeAt(i));
}

export const isKey = (h: MockHeader, key: string) => isText(h.key, key);
