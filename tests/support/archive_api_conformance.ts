// The archive-api conformance table: one data set, archived by our ingest core into a fresh schema and bucket, and a
// list of requests whose answers scripts/archive_api_conformance.ts records from the real archive-api (into
// tests/testdata/archive_api/) and tests/integration/archive_api_conformance_test.ts replays against `serve`.
// Everything here is deterministic (UUIDs, timestamps, archive time, row ids of a fresh schema), so both servers see
// the same rows, objects and bookmarks.
import { Buffer } from "node:buffer";
import { BSON, EJSON } from "bson";
import { createIngest } from "../../lib/archive/ingest.ts";
import type { KafkaRecord } from "../../lib/format/record.ts";
import type { WireHeader } from "../../lib/format/types.ts";
import type { IndexSql } from "../../lib/index/database.ts";
import type { Index } from "../../lib/index/types.ts";
import { silentLogger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import type { BlobStore } from "../../lib/store/types.ts";
import { runPython } from "./helpers.ts";
import type { StandInOptions } from "./hopauth_standin.ts";

export const PUBLIC_TOPIC = "cf.pub";
export const PRIVATE_TOPIC = "cf.priv";
export const UPLOAD_TOPIC = "cf.up";
/** Record time of the first record; the others follow a second apart (two share one, to test the id tie-break). */
export const T0 = 1_796_534_780_000n;
const ARCHIVED_AT = 1_796_600_000_000n;

export const USERS: Record<string, string> = {
  reader: "reader-pw",
  writer: "writer-pw",
  owner: "owner-pw",
  carol: "carol-pw",
  nobody: "nobody-pw",
};

export const AUTH: Omit<StandInOptions, "root"> = {
  users: USERS,
  permissions: {
    reader: { [PRIVATE_TOPIC]: ["Read"] },
    writer: { [PRIVATE_TOPIC]: ["Write"], [UPLOAD_TOPIC]: ["Write"] },
    owner: { [PRIVATE_TOPIC]: ["All"], [UPLOAD_TOPIC]: ["All"] },
    carol: { [PUBLIC_TOPIC]: ["Read"] },
    nobody: {},
  },
  owners: { owner: ["tests"] },
};

export const CORS = { origins: ["https://allowed.example"], regex: "https://.*\\.regex\\.example" };

const enc = new TextEncoder();

/** A fixed, valid version-4 UUID per (topic number, record number). */
export function uuidOf(topicNo: number, n: number): string {
  const hex = (topicNo * 1000 + n).toString(16).padStart(12, "0");
  return `5e1f0000-0000-4000-8000-${hex}`;
}

function idHeader(uuid: string): WireHeader {
  return { key: "_id", value: Uint8Array.from(Buffer.from(uuid.replaceAll("-", ""), "hex")) };
}

function valueText(topicNo: number, n: number): string {
  const word = n % 7 === 3 ? "supernova candidate" : n % 5 === 0 ? "neutrino alert" : "routine notice";
  return JSON.stringify({ topic: topicNo, n, text: `${word} number ${n}` });
}

function records(topic: string, topicNo: number, count: number): KafkaRecord[] {
  return Array.from({ length: count }, (_, n) => {
    const headers: WireHeader[] = [
      idHeader(uuidOf(topicNo, n)),
      { key: "_format", value: enc.encode("json") },
    ];
    // carol sent one private message: archive-api lets the sender retract it.
    if (topicNo === 2 && n === 3) headers.push({ key: "_sender", value: enc.encode("carol") });
    return {
      topic,
      partition: 0,
      offset: BigInt(n),
      // Records 4 and 5 share a timestamp: order and bookmarks then rest on the row id.
      timestamp: T0 + BigInt(topicNo) * 500n + BigInt(n === 5 ? 4 : n) * 1000n,
      key: enc.encode(`key-${n}`),
      value: enc.encode(valueText(topicNo, n)),
      headers,
    };
  });
}

/** A public binary value of 1024 bytes (archive-api's raw_file cuts such a value short). */
export const BIG_VALUE_UUID = uuidOf(3, 0);
const BIG_RECORD: KafkaRecord = {
  topic: PUBLIC_TOPIC,
  partition: 0,
  offset: 10n,
  timestamp: T0 + 20_000n,
  key: null,
  value: Uint8Array.from({ length: 1024 }, (_, i) => (i * 7 + 3) % 256),
  headers: [idHeader(BIG_VALUE_UUID), { key: "_format", value: enc.encode("blob") }],
};

export const PUBLIC_RECORDS = [...records(PUBLIC_TOPIC, 1, 10), BIG_RECORD];
export const PRIVATE_RECORDS = records(PRIVATE_TOPIC, 2, 70);

/**
 * Archives the data set into an empty schema and bucket with our ingest core, and fills message_ts (to_tsvector of
 * the value text, as archive-core indexes a JSON value) for rows that have none yet.
 */
export async function seed(index: Index, store: BlobStore, sql: IndexSql): Promise<void> {
  const stop = new AbortController();
  const ingest = createIngest({
    store,
    index,
    keyLayout: "daily",
    archiverVersion: "conformance",
    log: silentLogger,
    metrics: createMetrics(),
    signal: stop.signal,
    putConcurrency: 8,
    maxInflightBytes: 16 * 2 ** 20,
    now: () => ARCHIVED_AT,
    isPublic: (topic) => topic === PUBLIC_TOPIC,
  });
  try {
    for (const batch of [PUBLIC_RECORDS, PRIVATE_RECORDS]) {
      await ingest.write(await ingest.claim(batch));
    }
  } finally {
    stop.abort();
  }
  for (const [topicNo, count] of [[1, 10], [2, PRIVATE_RECORDS.length]] as const) {
    for (let n = 0; n < count; n++) {
      const uuid = uuidOf(topicNo, n);
      await sql`insert into message_ts (uuid, text_data, text_fully_indexed)
        select ${uuid}::uuid, to_tsvector(${valueText(topicNo, n)}), true
        where not exists (select 1 from message_ts where uuid = ${uuid}::uuid)`;
    }
  }
}

export interface ConformanceRequest {
  name: string;
  method: string;
  /** Path and query; `{prev:NAME.next}` and `{prev:NAME.prev}` take a bookmark from an earlier answer. */
  path: string;
  /** Authenticated through hop-client's SCRAM client as this user (USERS). */
  user?: string;
  headers?: Record<string, string>;
  /** BSON document to send (EJSON canonical), or raw bytes (base64). */
  body?: { bson: Record<string, unknown> } | { raw: string };
  /** "shape": the answer holds generated values (a fresh UUID, a time): compare status and the body's keys. */
  compare?: "exact" | "shape";
}

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body:
    | { kind: "empty" }
    | { kind: "bson"; doc: unknown }
    | { kind: "json"; value: unknown }
    | { kind: "text"; text: string }
    | { kind: "bytes"; base64: string };
}

const q = encodeURIComponent;
const pub = (n: number) => uuidOf(1, n);
const priv = (n: number) => uuidOf(2, n);
const t = (n: number) => (T0 + BigInt(n) * 1000n).toString();

/** Bytes of a BSON document built from EJSON canonical text (so the table stays plain JSON). */
function bsonBody(doc: Record<string, unknown>): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(
    BSON.serialize(EJSON.deserialize(doc, { relaxed: false }) as Record<string, unknown>),
  );
}

function binary(bytes: Uint8Array, subType = "00") {
  return { $binary: { base64: Buffer.from(bytes).toString("base64"), subType } };
}

const UPLOAD_ID = "5e1f0000-0000-4000-8000-00000000aaaa";

export const REQUESTS: ConformanceRequest[] = [
  // Reads by UUID (already alike before issue 23; kept as regression).
  { name: "msg_public", method: "GET", path: `/msg/${pub(0)}` },
  { name: "msg_private_anon", method: "GET", path: `/msg/${priv(0)}` },
  { name: "msg_private_reader", method: "GET", path: `/msg/${priv(0)}`, user: "reader" },
  { name: "msg_private_nobody", method: "GET", path: `/msg/${priv(0)}`, user: "nobody" },
  { name: "msg_bad_uuid", method: "GET", path: "/msg/not-a-uuid" },
  { name: "msg_unknown", method: "GET", path: "/msg/5e1f0000-0000-4000-8000-ffffffffffff" },
  { name: "msg_uppercase_braces", method: "GET", path: `/msg/{${pub(1).toUpperCase()}}` },
  { name: "raw_public", method: "GET", path: `/msg/${pub(2)}/raw_file/x.json` },
  { name: "raw_1024", method: "GET", path: `/msg/${BIG_VALUE_UUID}/raw_file/x.bin` },
  // Topic listings.
  { name: "topic_pub_full", method: "GET", path: `/topic/${PUBLIC_TOPIC}` },
  { name: "topic_pub_meta", method: "GET", path: `/topic/${PUBLIC_TOPIC}?meta=true` },
  { name: "topic_pub_meta_desc", method: "GET", path: `/topic/${PUBLIC_TOPIC}?meta=true&asc=false` },
  { name: "topic_pub_meta_p1", method: "GET", path: `/topic/${PUBLIC_TOPIC}?meta=true&limit=3` },
  {
    name: "topic_pub_meta_p2",
    method: "GET",
    path: `/topic/${PUBLIC_TOPIC}?meta=true&limit=3&page={prev:topic_pub_meta_p1.next}`,
  },
  {
    name: "topic_pub_meta_p3",
    method: "GET",
    path: `/topic/${PUBLIC_TOPIC}?meta=true&limit=3&page={prev:topic_pub_meta_p2.next}`,
  },
  {
    name: "topic_pub_meta_back",
    method: "GET",
    path: `/topic/${PUBLIC_TOPIC}?meta=true&limit=3&page={prev:topic_pub_meta_p3.prev}`,
  },
  {
    name: "topic_pub_meta_back2",
    method: "GET",
    path: `/topic/${PUBLIC_TOPIC}?meta=true&limit=3&page={prev:topic_pub_meta_back.prev}`,
  },
  {
    name: "topic_pub_desc_p1",
    method: "GET",
    path: `/topic/${PUBLIC_TOPIC}?meta=true&asc=false&limit=4`,
  },
  {
    name: "topic_pub_desc_p2",
    method: "GET",
    path: `/topic/${PUBLIC_TOPIC}?meta=true&asc=false&limit=4&page={prev:topic_pub_desc_p1.next}`,
  },
  {
    name: "topic_pub_full_p1",
    method: "GET",
    path: `/topic/${PUBLIC_TOPIC}?limit=4`,
  },
  {
    name: "topic_pub_full_p2",
    method: "GET",
    path: `/topic/${PUBLIC_TOPIC}?limit=4&page={prev:topic_pub_full_p1.next}`,
  },
  {
    name: "topic_pub_window",
    method: "GET",
    path: `/topic/${PUBLIC_TOPIC}?meta=true&start_time=${t(2)}&end_time=${t(6)}`,
  },
  {
    name: "topic_pub_start_only",
    method: "GET",
    path: `/topic/${PUBLIC_TOPIC}?meta=true&start_time=${t(8)}`,
  },
  {
    name: "topic_bad_range",
    method: "GET",
    path: `/topic/${PUBLIC_TOPIC}?start_time=${t(6)}&end_time=${t(2)}`,
  },
  { name: "topic_limit_zero", method: "GET", path: `/topic/${PUBLIC_TOPIC}?limit=0` },
  { name: "topic_limit_negative", method: "GET", path: `/topic/${PUBLIC_TOPIC}?meta=true&limit=-5` },
  { name: "topic_limit_text", method: "GET", path: `/topic/${PUBLIC_TOPIC}?limit=abc` },
  { name: "topic_meta_text", method: "GET", path: `/topic/${PUBLIC_TOPIC}?meta=maybe` },
  { name: "topic_meta_spellings", method: "GET", path: `/topic/${PUBLIC_TOPIC}?meta=on&asc=0&limit=2` },
  { name: "topic_bad_bookmark", method: "GET", path: `/topic/${PUBLIC_TOPIC}?meta=true&page=garbage` },
  { name: "topic_empty", method: "GET", path: `/topic/cf.none?meta=true` },
  { name: "topic_priv_anon", method: "GET", path: `/topic/${PRIVATE_TOPIC}?meta=true` },
  {
    name: "topic_priv_reader",
    method: "GET",
    path: `/topic/${PRIVATE_TOPIC}?meta=true&limit=5`,
    user: "reader",
  },
  {
    name: "topic_priv_writer",
    method: "GET",
    path: `/topic/${PRIVATE_TOPIC}?meta=true&limit=5`,
    user: "writer",
  },
  {
    name: "topic_priv_meta_all",
    method: "GET",
    path: `/topic/${PRIVATE_TOPIC}?meta=true&limit=5000`,
    user: "writer",
  },
  { name: "topic_priv_full_cap", method: "GET", path: `/topic/${PRIVATE_TOPIC}?limit=500`, user: "writer" },
  // Lists over topics.
  { name: "topics_anon", method: "GET", path: "/topics" },
  { name: "topics_reader", method: "GET", path: "/topics", user: "reader" },
  { name: "messages_anon_meta", method: "GET", path: "/messages?meta=true" },
  { name: "messages_anon_full", method: "GET", path: "/messages?limit=2" },
  {
    name: "messages_reader_both",
    method: "GET",
    path: `/messages?meta=true&topic=${PUBLIC_TOPIC}&topic=${PRIVATE_TOPIC}&limit=12&asc=false`,
    user: "reader",
  },
  {
    name: "messages_reader_p2",
    method: "GET",
    path: `/messages?meta=true&topic=${PUBLIC_TOPIC}&topic=${PRIVATE_TOPIC}&limit=12&asc=false` +
      `&page={prev:messages_reader_both.next}`,
    user: "reader",
  },
  { name: "messages_reader_all", method: "GET", path: "/messages?meta=true&limit=3", user: "reader" },
  { name: "messages_search_anon", method: "GET", path: `/messages?meta=true&search_query=${q("supernova")}` },
  {
    name: "messages_search_reader",
    method: "GET",
    path: `/messages?meta=true&search_query=${q('"supernova candidate" -neutrino')}&topic=${PRIVATE_TOPIC}`,
    user: "reader",
  },
  {
    name: "messages_search_window",
    method: "GET",
    path:
      `/messages?meta=true&search_query=${q("neutrino or supernova")}&start_time=${t(0)}&end_time=${t(30)}` +
      `&topic=${PRIVATE_TOPIC}&asc=false&limit=4`,
    user: "reader",
  },
  { name: "count_anon", method: "GET", path: "/messages/count" },
  { name: "count_priv_anon", method: "GET", path: `/messages/count?topic=${PRIVATE_TOPIC}` },
  { name: "count_reader", method: "GET", path: "/messages/count", user: "reader" },
  {
    name: "count_window",
    method: "GET",
    path: `/messages/count?topic=${PRIVATE_TOPIC}&start_time=${t(10)}&end_time=${t(20)}`,
    user: "reader",
  },
  {
    name: "count_search",
    method: "GET",
    path: `/messages/count?topic=${PRIVATE_TOPIC}&search_query=supernova`,
    user: "reader",
  },
  // Methods, CORS and the API description.
  { name: "head_topics", method: "HEAD", path: "/topics" },
  { name: "options_topics", method: "OPTIONS", path: "/topics" },
  { name: "delete_msg", method: "DELETE", path: `/msg/${pub(0)}` },
  { name: "post_msg", method: "POST", path: `/msg/${pub(0)}` },
  { name: "get_unknown", method: "GET", path: "/no/such/route" },
  { name: "cors_simple", method: "GET", path: "/topics", headers: { origin: "https://allowed.example" } },
  { name: "cors_regex", method: "GET", path: "/topics", headers: { origin: "https://a.regex.example" } },
  { name: "cors_other", method: "GET", path: "/topics", headers: { origin: "https://evil.example" } },
  {
    name: "cors_preflight",
    method: "OPTIONS",
    path: "/topics",
    headers: {
      origin: "https://allowed.example",
      "access-control-request-method": "GET",
      "access-control-request-headers": "authorization",
    },
  },
  {
    name: "cors_preflight_bad",
    method: "OPTIONS",
    path: "/topics",
    headers: { origin: "https://evil.example", "access-control-request-method": "GET" },
  },
  { name: "openapi", method: "GET", path: "/openapi.json", compare: "shape" },
  { name: "docs", method: "GET", path: "/docs", compare: "shape" },
  // Retraction (changes state: listings after this see it).
  { name: "retract_anon", method: "PUT", path: `/msg/${priv(1)}/retraction?retracted=true` },
  { name: "retract_bad_uuid", method: "PUT", path: "/msg/nope/retraction?retracted=true", user: "owner" },
  {
    name: "retract_unknown",
    method: "PUT",
    path: "/msg/5e1f0000-0000-4000-8000-ffffffffffff/retraction?retracted=true",
    user: "owner",
  },
  { name: "retract_missing_flag", method: "PUT", path: `/msg/${priv(1)}/retraction`, user: "owner" },
  {
    name: "retract_nobody",
    method: "PUT",
    path: `/msg/${priv(1)}/retraction?retracted=true`,
    user: "nobody",
  },
  {
    name: "retract_reader",
    method: "PUT",
    path: `/msg/${priv(1)}/retraction?retracted=true`,
    user: "reader",
  },
  { name: "retract_owner", method: "PUT", path: `/msg/${priv(1)}/retraction?retracted=true`, user: "owner" },
  { name: "retract_sender", method: "PUT", path: `/msg/${priv(3)}/retraction?retracted=true`, user: "carol" },
  { name: "retract_owner_2", method: "PUT", path: `/msg/${priv(2)}/retraction?retracted=1`, user: "owner" },
  {
    name: "unretract_owner",
    method: "PUT",
    path: `/msg/${priv(2)}/retraction?retracted=false`,
    user: "owner",
  },
  {
    name: "after_retract_meta",
    method: "GET",
    path: `/topic/${PRIVATE_TOPIC}?meta=true&limit=5`,
    user: "writer",
  },
  {
    name: "after_retract_excluded",
    method: "GET",
    path: `/topic/${PRIVATE_TOPIC}?meta=true&limit=5&include_retracted=false`,
    user: "writer",
  },
  {
    name: "after_retract_messages",
    method: "GET",
    path: `/messages?meta=true&limit=5&topic=${PRIVATE_TOPIC}`,
    user: "reader",
  },
  {
    name: "after_retract_messages_excluded",
    method: "GET",
    path: `/messages?meta=true&limit=5&topic=${PRIVATE_TOPIC}&include_retracted=false`,
    user: "reader",
  },
  {
    name: "after_retract_full",
    method: "GET",
    path: `/messages?limit=3&topic=${PRIVATE_TOPIC}&include_retracted=false&asc=false`,
    user: "reader",
  },
  {
    name: "after_retract_count",
    method: "GET",
    path: `/messages/count?topic=${PRIVATE_TOPIC}&include_retracted=false`,
    user: "reader",
  },
  // Uploads (to a topic of their own, last: they add rows at the current time).
  {
    name: "upload_anon",
    method: "POST",
    path: `/topic/${UPLOAD_TOPIC}`,
    body: { bson: { message: binary(enc.encode("x")) } },
  },
  {
    name: "upload_reader",
    method: "POST",
    path: `/topic/${PRIVATE_TOPIC}`,
    user: "reader",
    body: { bson: { message: binary(enc.encode("x")) } },
  },
  {
    name: "upload_not_bson",
    method: "POST",
    path: `/topic/${UPLOAD_TOPIC}`,
    user: "writer",
    body: { raw: Buffer.from("not bson at all").toString("base64") },
  },
  {
    name: "upload_extra_key",
    method: "POST",
    path: `/topic/${UPLOAD_TOPIC}`,
    user: "writer",
    body: { bson: { message: binary(enc.encode("x")), colour: "blue" } },
  },
  {
    name: "upload_no_message",
    method: "POST",
    path: `/topic/${UPLOAD_TOPIC}`,
    user: "writer",
    body: { bson: { headers: [] } },
  },
  {
    name: "upload_header_not_binary",
    method: "POST",
    path: `/topic/${UPLOAD_TOPIC}`,
    user: "writer",
    body: { bson: { message: binary(enc.encode("x")), headers: [["a", "text"]] } },
  },
  {
    name: "upload_with_id",
    method: "POST",
    path: `/topic/${UPLOAD_TOPIC}`,
    user: "writer",
    body: {
      bson: {
        message: binary(enc.encode("uploaded with an id")),
        headers: [["_id", binary(idHeader(UPLOAD_ID).value!)]],
        key: "k",
      },
    },
  },
  {
    name: "upload_with_id_again",
    method: "POST",
    path: `/topic/${UPLOAD_TOPIC}`,
    user: "writer",
    body: {
      bson: {
        message: binary(enc.encode("uploaded with an id")),
        headers: [["_id", binary(idHeader(UPLOAD_ID).value!)]],
        key: "k",
      },
    },
  },
  {
    name: "upload_without_id",
    method: "POST",
    path: `/topic/${UPLOAD_TOPIC}`,
    user: "writer",
    body: {
      bson: {
        message: binary(enc.encode("uploaded without an id")),
        headers: { title: binary(enc.encode("T")) },
      },
    },
    compare: "shape",
  },
  {
    name: "upload_string_message",
    method: "POST",
    path: `/topic/${UPLOAD_TOPIC}`,
    user: "writer",
    body: { bson: { message: "a string message" } },
    compare: "shape",
  },
  { name: "upload_read_back", method: "GET", path: `/msg/${UPLOAD_ID}/raw_file/up.bin`, user: "owner" },
];

/** Answer headers worth recording: what a client reads. */
const KEPT_HEADERS = [
  "content-type",
  "content-disposition",
  "allow",
  "www-authenticate",
  "authentication-info",
  "vary",
  "access-control-allow-origin",
  "access-control-allow-credentials",
  "access-control-allow-methods",
  "access-control-allow-headers",
  "access-control-expose-headers",
  "access-control-max-age",
];

function keptHeaders(all: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const value = all[name];
    if (value === undefined) continue;
    // A SCRAM server-final message or a challenge holds a fresh nonce: its presence and scheme are what matter.
    out[name] = name === "authentication-info"
      ? "(present)"
      : name === "www-authenticate" && value.includes("sid=")
      ? "(SCRAM round)"
      : value;
  }
  return out;
}

function decodeBody(bytes: Uint8Array, contentType: string | undefined): Answer["body"] {
  if (bytes.length === 0) return { kind: "empty" };
  const declared = bytes.length >= 5 ? new DataView(bytes.buffer, bytes.byteOffset).getInt32(0, true) : -1;
  if (declared === bytes.length && bytes[bytes.length - 1] === 0) {
    try {
      const doc = BSON.deserialize(bytes, {
        promoteValues: false,
        promoteBuffers: false,
        promoteLongs: false,
      });
      return { kind: "bson", doc: JSON.parse(EJSON.stringify(doc, { relaxed: false })) };
    } catch { /* not BSON after all */ }
  }
  const text = new TextDecoder("utf-8", { fatal: true });
  try {
    const s = text.decode(bytes);
    if (contentType?.includes("json")) {
      try {
        return { kind: "json", value: JSON.parse(s) };
      } catch { /* fall through */ }
    }
    return { kind: "text", text: s };
  } catch {
    return { kind: "bytes", base64: Buffer.from(bytes).toString("base64") };
  }
}

function resolvePath(path: string, earlier: Map<string, Answer>): string {
  return path.replaceAll(/\{prev:([a-z0-9_]+)\.(next|prev)\}/g, (_, name: string, field: string) => {
    const body = earlier.get(name)?.body;
    const mark = body?.kind === "bson" ? (body.doc as Record<string, unknown>)[field] : undefined;
    if (typeof mark !== "string") throw new Error(`request ${name} gave no ${field} bookmark`);
    return encodeURIComponent(mark);
  });
}

/** Sends one table request to the server at `base` and returns its answer, normalised for comparison. */
export async function perform(
  base: string,
  req: ConformanceRequest,
  earlier: Map<string, Answer>,
): Promise<Answer> {
  const url = base + resolvePath(req.path, earlier);
  const body = req.body === undefined
    ? undefined
    : "bson" in req.body
    ? bsonBody(req.body.bson)
    : Uint8Array.from(Buffer.from(req.body.raw, "base64"));
  let status: number;
  let headers: Record<string, string>;
  let bytes: Uint8Array;
  if (req.user !== undefined) {
    const args = {
      method: req.method,
      url,
      username: req.user,
      password: USERS[req.user],
      ...(body ? { body: Buffer.from(body).toString("base64") } : {}),
    };
    const out = JSON.parse(await runPython("serve_peer.py", ["http"], enc.encode(JSON.stringify(args))));
    if (out.status === null) throw new Error(`${req.name}: hop-client's SCRAM client gave up: ${out.error}`);
    status = out.status;
    headers = out.headers;
    bytes = Uint8Array.from(Buffer.from(out.body, "base64"));
  } else {
    const resp = await fetch(url, {
      method: req.method,
      headers: req.headers ?? {},
      ...(body ? { body } : {}),
    });
    status = resp.status;
    headers = Object.fromEntries(resp.headers);
    bytes = new Uint8Array(await resp.arrayBuffer());
  }
  return { status, headers: keptHeaders(headers), body: decodeBody(bytes, headers["content-type"]) };
}

/** The keys (and their value types) of a body: what a "shape" comparison looks at. */
export function shapeOf(body: Answer["body"]): unknown {
  if (body.kind === "bson") {
    return Object.fromEntries(
      Object.entries(body.doc as Record<string, unknown>).map(([k, v]) => [
        k,
        v !== null && typeof v === "object" ? Object.keys(v as object).join(",") : typeof v,
      ]),
    );
  }
  if (body.kind === "json") return typeof body.value;
  return body.kind;
}

export const FIXTURE_DIR = new URL("../testdata/archive_api/", import.meta.url).pathname;
