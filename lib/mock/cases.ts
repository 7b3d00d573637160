// The kinds of traffic mock-hop makes. Each case builds one or more records (drafts) from the seeded PRNG alone, so
// the same seed gives the same records; messages.ts writes each producer's messages.
import { hkError } from "../runtime/errors.ts";
import {
  anyMessage,
  copyable,
  copyOf,
  EVENT_KEYS,
  FORMAT_TOPICS,
  header,
  HEARTBEAT_TOPIC,
  hop05Message,
  hop06Message,
  hopMessage,
  isKey,
  legacyMessage,
  malformedId,
  otherPayload,
  plainMessage,
  userHeaders,
  utf8,
  uuid4Bytes,
} from "./messages.ts";
import type { HopFormat } from "./samples.ts";
import type { CaseContext, Draft } from "./types.ts";

export type CaseGroup = "current" | "legacy" | "duplicate" | "heartbeat" | "adversarial";

export interface CaseDef {
  name: string;
  group: CaseGroup;
  /** Share in the default mix; 0: only when asked for by name (or with `--cases all`). */
  weight: number;
  summary: string;
  /** Depends on earlier records (duplicates): scheduled after the cases that make originals. */
  dependent?: boolean;
  build(ctx: CaseContext): Draft[];
}

const FAR_FUTURE = 253402300799999n; // 9999-12-31T23:59:59.999Z, the last instant ISO-8601 years can write
/** Timestamps the timestamp-* cases use whatever the clock says: records with them can collide at any distance. */
export const FIXED_TIMESTAMPS: ReadonlySet<bigint> = new Set([-1n, 0n, FAR_FUTURE]);
const MIB = 1024 * 1024;

function currentCase(format: HopFormat, summary: string, weight: number): CaseDef {
  return build(
    `hop-${format}`,
    "current",
    weight,
    summary,
    (ctx, name) => [hopMessage(ctx, name, { format })],
  );
}

function withTimestamp(name: string, timestamp: bigint, summary: string): CaseDef {
  return build(name, "adversarial", 1, summary, (ctx) => [anyMessage(ctx, name, timestamp)]);
}

function build(
  name: string,
  group: CaseGroup,
  weight: number,
  summary: string,
  fn: (ctx: CaseContext, name: string) => Draft[],
  dependent = false,
): CaseDef {
  return { name, group, weight, summary, build: (ctx) => fn(ctx, name), ...(dependent ? { dependent } : {}) };
}

// The headers the index derives text columns from (lib/index/catalog.ts headerText).
const TEXT_HEADERS = ["_format", "title", "_sender", "originator", "file_name"] as const;
type TextHeader = (typeof TEXT_HEADERS)[number];

/** A hop-client message whose text headers are `value(field)`: user headers first, then hop-client's own. */
function withTextHeaders(ctx: CaseContext, name: string, value: (field: TextHeader) => Uint8Array): Draft {
  const draft = hopMessage(ctx, name, {
    user: (["title", "originator", "file_name"] as const).map((f) => header(f, value(f))),
  });
  const own = new Set<string>(["_format", "_sender"]);
  return {
    ...draft,
    headers: draft.headers.map((h) => {
      const key = TEXT_HEADERS.find((f) => own.has(f) && isKey(h, f));
      return key === undefined ? h : { ...h, value: value(key) };
    }),
  };
}

/** One of the byte strings that once stopped an archiver, or could: by field, from the PRNG. */
function poisonText(ctx: CaseContext, field: TextHeader): Uint8Array {
  const kinds: (() => Uint8Array)[] = [
    () => utf8(`${field}\u0000tail`), // NUL: PostgreSQL's text cannot hold it
    () => Uint8Array.of(0x6a, 0xc3, 0x28, 0xff, 0xfe), // invalid UTF-8
    () => Uint8Array.of(0xed, 0xa0, 0x80, 0x61), // an encoded lone surrogate (CESU-8): not UTF-8 either
    () => utf8(`a\tb\r\n\u001b[2J\u0007\u007f${field}`), // control bytes, a terminal escape
    () => utf8(`\u202e${field}.exe\u202c \u2066rtl\u2069`), // bidi overrides
    () => ctx.prng.bytes(ctx.prng.between(1, 24)), // anything
  ];
  return ctx.prng.pick(kinds)();
}

/** Markup that runs script if a page ever shows it unescaped: in element content, in an attribute, in a URL. */
export const HOSTILE_MARKUP = [
  `<script>alert("hk-xss")</script>`,
  `"><img src=x onerror=alert("hk-xss")>`,
  `'><svg onload=alert("hk-xss")>`,
  `</pre></textarea></title><script>alert("hk-xss")</script>`,
  `javascript:alert("hk-xss")`,
  `<a href="javascript:alert('hk-xss')">x</a>\u0000\u202egnp.exe\u202c`,
  `<style>*{display:none}</style><iframe src="javascript:alert('hk-xss')">`,
] as const;

/** Records whose key, title, user headers and value are hostile markup (and NUL, RTL overrides, a DTD). */
function markupDrafts(ctx: CaseContext, name: string): Draft[] {
  const markup = () => utf8(ctx.prng.pick(HOSTILE_MARKUP));
  const all = HOSTILE_MARKUP.join(" ");
  const user = [
    header("title", utf8(`${HOSTILE_MARKUP[0]} \u0000 \u202eevil\u202c`)),
    header("originator", markup()),
    header("file_name", utf8(`\u202etxt.exe${HOSTILE_MARKUP[1]}`)),
    header(`<b onmouseover=alert("hk-xss")>`, markup()),
  ];
  const json = hopMessage(ctx, name, { format: "json", user, key: utf8(`${HOSTILE_MARKUP[3]}\u0000`) });
  const xml = utf8(
    `<?xml version="1.0"?><!DOCTYPE v [<!ENTITY xxe SYSTEM "file:///etc/passwd"><!ENTITY b "${
      HOSTILE_MARKUP[0]
    }">]><voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0"><Who><Author>&xxe;&b;</Author>` +
      `<Description><![CDATA[${all}]]></Description></Who></voe:VOEvent>`,
  );
  return [
    { ...json, value: utf8(JSON.stringify({ markup: HOSTILE_MARKUP, nul: "a\u0000b", rtl: "\u202eabc" })) },
    { ...hopMessage(ctx, name, { format: "voevent", user: [header("title", markup())] }), value: xml },
    { ...hopMessage(ctx, name, { format: "blob", key: markup() }), value: utf8(`${all}\u0000${all}`) },
  ];
}

/** `size` bytes of printable text no compressor shrinks. */
function base64Text(ctx: CaseContext, size: number): Uint8Array {
  const alphabet = utf8("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
  return ctx.prng.bytes(size).map((b) => alphabet[b & 63]!);
}

/** Every case, in the order `--list-cases` shows them. */
export const CASES: readonly CaseDef[] = [
  currentCase("voevent", "VOEvent XML (LVK notice), hop-client >= 0.8 headers", 6),
  currentCase("gcntextnotice", "GCN text notice", 6),
  currentCase("circular", "GCN circular, hop-client's JSON of the e-mail", 6),
  currentCase("json", "JSON (GCN Kafka notices), re-serialized by Python's json.dumps", 14),
  currentCase("blob", "opaque bytes", 4),
  currentCase("avro", "Avro container file", 4),
  build("hop-user-headers", "current", 4, "user headers before hop-client's own", (ctx, name) => [
    hopMessage(ctx, name, { user: userHeaders(ctx, 1, 3) }),
  ]),
  build("hop-test", "current", 3, "test message (`_test: true` before `_format`)", (ctx, name) => [
    hopMessage(ctx, name, { test: true }),
  ]),
  build("hop-keyed", "current", 3, "message with a key (hop write_raw(key=...))", (ctx, name) => [
    hopMessage(ctx, name, { key: utf8(ctx.prng.pick(EVENT_KEYS)) }),
  ]),
  build(
    "hop-0.6",
    "legacy",
    5,
    "hop-client 0.6/0.7: `_format` (and `_test`), no `_id`/`_sender`",
    (ctx, name) => [
      hop06Message(ctx, name),
    ],
  ),
  build(
    "hop-0.5",
    "legacy",
    4,
    'hop-client < 0.6: JSON envelope {"format", "content"} as value, no headers',
    (ctx, name) => [
      hop05Message(ctx, name),
    ],
  ),
  build(
    "plain-kafka",
    "legacy",
    6,
    "plain Kafka producer: raw sample file, no headers, sometimes a key",
    (ctx, name) => [
      plainMessage(ctx, name),
    ],
  ),
  build(
    "dup-immediate",
    "duplicate",
    3,
    "a record sent twice in a row (producer retry): same bytes, same timestamp",
    (ctx, name) => {
      const original = ctx.prng.chance(0.7) ? hopMessage(ctx, name) : legacyMessage(ctx, name);
      return [original, { ...original }];
    },
  ),
  build(
    "dup-later",
    "duplicate",
    3,
    "an earlier hop-client record re-published later (same `_id` and bytes, new timestamp)",
    (ctx, name) => {
      const original = ctx.earlier("client");
      if (original !== null) return [copyOf(original, name, ctx.now())];
      const fresh = hopMessage(ctx, name);
      return [fresh, { ...fresh, timestamp: ctx.now() }];
    },
    true,
  ),
  build(
    "dup-legacy",
    "duplicate",
    2,
    "an earlier record without `_id` delivered again (mirror/replay: same bytes, same timestamp)",
    (ctx, name) => {
      const original = ctx.earlier("legacy");
      if (original !== null) return [copyOf(original, name, original.timestamp)];
      const fresh = legacyMessage(ctx, name);
      return [fresh, { ...fresh }];
    },
    true,
  ),
  build(
    "id-clash",
    "duplicate",
    2,
    "an earlier record's headers (same `_id`) on different content: a forwarded or copied header",
    (ctx, name) => {
      const found = ctx.earlier("client");
      const fresh = found === null ? [hopMessage(ctx, name)] : [];
      const original = found ?? copyable(fresh[0]!);
      return [...fresh, { ...copyOf(original, name, ctx.now()), value: otherPayload(ctx, original) }];
    },
    true,
  ),
  build(
    "heartbeat",
    "heartbeat",
    5,
    "heartbeat on <prefix>sys.heartbeat (vetoed by default)",
    (ctx, name) => {
      const timestamp = ctx.now();
      const beat = ctx.nextBeat();
      const draft = hopMessage(ctx, name, { format: "json", timestamp });
      const body = `{"timestamp": ${timestamp / 1000n}, "count": ${beat}, "beat": "LUB-dub"}`;
      return [{ ...draft, topic: HEARTBEAT_TOPIC, value: utf8(body) }];
    },
  ),
  build(
    "id-wrong-length",
    "adversarial",
    1.5,
    "`_id` of a length other than 16 (0, 1, 8, 15, 17, 32, or UUID text)",
    (ctx, name) => {
      const length = ctx.prng.pick([0, 1, 8, 15, 17, 32, 36]);
      const value = length === 36 ? utf8("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9") : ctx.prng.bytes(length);
      return [malformedId(ctx, name, value)];
    },
  ),
  build(
    "id-null",
    "adversarial",
    1,
    "`_id` header with a null value",
    (ctx, name) => [malformedId(ctx, name, null)],
  ),
  build(
    "id-several",
    "adversarial",
    1.5,
    "several `_id` headers: null, short, then two 16-byte ones (the first wins)",
    (ctx, name) => {
      const draft = hopMessage(ctx, name);
      const extra = ctx.prng.chance(0.5)
        ? [header("_id", null), header("_id", ctx.prng.bytes(15)), header("_id", uuid4Bytes(ctx.prng))]
        : [header("_id", uuid4Bytes(ctx.prng))]; // a user-supplied `_id` before hop-client's own
      return [{ ...draft, headers: [...extra, ...draft.headers] }];
    },
  ),
  build("value-null", "adversarial", 1, "null value (tombstone) with a key, no headers", (ctx, name) => [{
    case: name,
    topic: FORMAT_TOPICS.json,
    key: utf8(ctx.prng.pick(EVENT_KEYS)),
    value: null,
    headers: [],
    timestamp: ctx.now(),
  }]),
  build("key-value-null", "adversarial", 1, "null key and null value, no headers", (ctx, name) => [{
    case: name,
    topic: FORMAT_TOPICS.blob,
    key: null,
    value: null,
    headers: [],
    timestamp: ctx.now(),
  }]),
  build("value-empty", "adversarial", 1, "empty value: hop-client blob of zero bytes", (ctx, name) => [
    { ...hopMessage(ctx, name, { format: "blob" }), value: new Uint8Array(0) },
  ]),
  build("key-empty", "adversarial", 1, "empty (not null) key", (ctx, name) => [
    hopMessage(ctx, name, { key: new Uint8Array(0) }),
  ]),
  build(
    "header-value-binary",
    "adversarial",
    1,
    "non-UTF-8 header values (a user header, sometimes `_sender`)",
    (ctx, name) => {
      const binary = Uint8Array.from([0xff, 0xfe, 0x00, 0x80, ...ctx.prng.bytes(4)]);
      const draft = hopMessage(ctx, name, { user: [header("signature", binary)] });
      if (!ctx.prng.chance(0.3)) return [draft];
      const sender = Uint8Array.of(0xc3, 0x28, 0xa0, 0xa1); // invalid UTF-8 sequences
      return [{
        ...draft,
        headers: draft.headers.map((h) => (isKey(h, "_sender") ? { ...h, value: sender } : h)),
      }];
    },
  ),
  build(
    "header-key-binary",
    "adversarial",
    0,
    "a non-UTF-8 header KEY: text with U+FFFD to clients, archived byte for byte (opt-in only)",
    (ctx, name) => {
      const draft = hopMessage(ctx, name);
      return [{
        ...draft,
        headers: [{ key: Uint8Array.of(0x78, 0xff, 0xfe), value: utf8("x") }, ...draft.headers],
      }];
    },
  ),
  build(
    "headers-interleaved",
    "adversarial",
    1.5,
    "duplicate header keys interleaved (a, b, a, ..., a forwarder's trailer)",
    (ctx, name) => {
      const draft = hopMessage(ctx, name, {
        user: [
          header("via", utf8("relay-1")),
          header("hop", utf8("1")),
          header("via", utf8("relay-2")),
          header("hop", null),
        ],
      });
      return [{
        ...draft,
        headers: [...draft.headers, header("via", utf8("relay-3")), header("_format", utf8("blob"))],
      }];
    },
  ),
  build(
    "header-value-null",
    "adversarial",
    1.5,
    "user headers with null and with empty values",
    (ctx, name) => [
      hopMessage(ctx, name, {
        user: [header("note", null), header("empty", new Uint8Array(0)), header("note", utf8(""))],
      }),
    ],
  ),
  build("value-multi-mib", "adversarial", 0.5, "a multi-MiB blob (1 MiB .. --max-value-mib)", (ctx, name) => {
    const size = ctx.prng.between(Math.min(MIB, ctx.maxValueBytes), ctx.maxValueBytes);
    return [{ ...hopMessage(ctx, name, { format: "blob" }), value: ctx.prng.bytes(size) }];
  }),
  build(
    "header-text-poison",
    "adversarial",
    1.5,
    "NUL, invalid UTF-8, control bytes or an RTL override in `_format`, `title`, `_sender`, `originator`, `file_name`",
    (ctx, name) => [withTextHeaders(ctx, name, (field) => poisonText(ctx, field))],
  ),
  build(
    "markup-hostile",
    "adversarial",
    0,
    "HTML and script (<script>, event handlers, javascript: URLs, a DTD with entities) in keys, titles, " +
      "user headers and values, for the web pages (opt-in only)",
    markupDrafts,
  ),
  build(
    "header-text-huge",
    "adversarial",
    0.5,
    "a header the index derives text from (`_sender`, `title`, ...) of up to 1 MiB (--max-value-mib)",
    (ctx, name) => {
      const size = ctx.prng.between(Math.min(MIB, ctx.maxValueBytes) >> 1, Math.min(MIB, ctx.maxValueBytes));
      const field = ctx.prng.pick(TEXT_HEADERS);
      return [withTextHeaders(ctx, name, (f) => (f === field ? base64Text(ctx, size) : utf8(`${f} ok`)))];
    },
  ),
  build(
    "headers-2000",
    "adversarial",
    0.3,
    "2 000 headers on one record (user headers before hop-client's own)",
    (ctx, name) => {
      const user = Array.from(
        { length: 2000 },
        (_, i) => header(`h${i % 97}`, i % 11 === 0 ? null : utf8(`v${i}`)),
      );
      return [hopMessage(ctx, name, { user })];
    },
  ),
  withTimestamp("timestamp-none", -1n, 'timestamp -1 ("none"), as from producers before Kafka 0.10'),
  withTimestamp("timestamp-zero", 0n, "timestamp 0 (1970-01-01)"),
  withTimestamp("timestamp-far-future", FAR_FUTURE, "timestamp 9999-12-31T23:59:59.999Z"),
];

export const GROUPS: readonly CaseGroup[] = ["current", "legacy", "duplicate", "heartbeat", "adversarial"];

/** The case named `name`. */
export function caseByName(name: string): CaseDef | undefined {
  return CASES.find((c) => c.name === name);
}

/**
 * `--cases` -> case names: names, group names, `default` (every case with a weight) and `all`. Order and
 * repetitions in the list do not matter; the result follows the table's order.
 */
export function resolveCases(list: readonly string[]): string[] {
  const chosen = new Set<string>();
  for (const item of list) {
    if (item === "all") CASES.forEach((c) => chosen.add(c.name));
    else if (item === "default") CASES.filter((c) => c.weight > 0).forEach((c) => chosen.add(c.name));
    else if ((GROUPS as readonly string[]).includes(item)) {
      CASES.filter((c) => c.group === item && c.weight > 0).forEach((c) => chosen.add(c.name));
    } else if (caseByName(item)) chosen.add(item);
    else {
      throw hkError(
        "USAGE",
        `unknown case "${item}" in --cases; use case names from \`housekeeping mock-hop --list-cases\`, the groups ` +
          `${GROUPS.join(", ")}, or default / all`,
      );
    }
  }
  if (chosen.size === 0) {
    throw hkError("USAGE", "--cases is empty; name at least one case (see --list-cases)");
  }
  return CASES.filter((c) => chosen.has(c.name)).map((c) => c.name);
}
