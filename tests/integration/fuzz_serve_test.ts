// HTTP fuzz suite for `serve` (issue 21): a real `housekeeping serve` process on real MinIO, PostgreSQL and the
// hopauth stand-in (real SCRAM-SHA-512) gets seeded random requests over raw TCP: every route and method, paths with
// percent-encoded control bytes, NUL, RTL overrides and overlong names, query values out of every range, hostile
// Authorization and If-None-Match headers, Content-Length lies, and bodies of random and BSON-ish bytes, from
// anonymous and from authenticated (SCRAM) clients, some of which hang up mid-answer. Asserted: no 5xx except
// deadlines (503, 504); the process never exits; afterwards nothing leaked (more reads of a 1 MiB object than the S3
// client has sockets all answer, /healthz answers 200) and its memory did not grow without bound.
import assert from "node:assert/strict";
import { Binary, BSON } from "bson";
import fc from "fast-check";
import { archiveEnv, spawnLogged, waitFor } from "../support/archive_helpers.ts";
import { fuzz, pseudoBytes, showText } from "../support/fuzz_helpers.ts";
import { serviceEnv } from "../support/helpers.ts";
import { scramClient } from "../support/scram_client.ts";
import { idHeader, type ServeFixture, withServe } from "../support/serve_fixture.ts";
import { hex } from "../../lib/format/checksum.ts";
import { contentDigest } from "../../lib/format/identity.ts";
import { decodeArchiveObject, type KafkaRecord } from "../../lib/format/record.ts";
import { parseUpload } from "../../lib/serve/offload.ts";

const utf8 = (text: string) => new TextEncoder().encode(text);

// ---- raw HTTP/1.1 over TCP: Content-Length lies and bytes fetch() would refuse to send ----

type Framing =
  | "exact"
  | "none"
  | "overclaim"
  | "underclaim"
  | "chunked"
  | "badchunked"
  | "negative"
  | "conflicting";

interface FuzzRequest {
  method: string;
  /** The request target as sent, one character per byte. */
  target: string;
  /** Header values as sent, one character per byte (never CR or LF: smuggling is not this suite's subject). */
  headers: [string, string][];
  auth: { kind: "none" } | { kind: "scram" } | { kind: "hostile"; value: string };
  body: Uint8Array;
  framing: Framing;
  /** Hang up once the status line is in, in the middle of a streamed answer. */
  hangUp: boolean;
}

/** Framings a server may refuse by closing the connection without an answer (not valid HTTP/1.1). */
const INVALID_FRAMING: ReadonlySet<Framing> = new Set(["badchunked", "negative", "conflicting"]);

const latin1 = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);

function framingHeaders(framing: Framing, length: number): string[] {
  switch (framing) {
    case "exact":
      return [`Content-Length: ${length}`];
    case "none":
      return [];
    case "overclaim":
      return [`Content-Length: ${length + 1 + (length % 1000)}`];
    case "underclaim":
      return [`Content-Length: ${Math.floor(length / 2)}`];
    case "chunked":
    case "badchunked":
      return ["Transfer-Encoding: chunked"];
    case "negative":
      return ["Content-Length: -1"];
    case "conflicting":
      return [`Content-Length: ${length}`, `Content-Length: ${length + 7}`];
  }
}

function framedBody(framing: Framing, body: Uint8Array): Uint8Array {
  if (framing === "chunked") {
    return body.length === 0
      ? latin1("0\r\n\r\n")
      : concat(latin1(`${body.length.toString(16)}\r\n`), body, latin1("\r\n0\r\n\r\n"));
  }
  if (framing === "badchunked") return concat(latin1("zz\r\n"), body);
  return body;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// Not a timing assertion: a request that is never answered is the hang issue 21 is about, and must fail the test
// rather than stall it. Generous, so that a slow CI machine never trips it.
const NO_ANSWER_MS = 60_000;

/** Reads one answer on `conn` (to its end when `whole`): its status, or null when the connection closed first. */
async function readAnswer(conn: Deno.Conn, whole: boolean, head: boolean): Promise<number | null> {
  const buf = new Uint8Array(64 * 1024);
  let text = "";
  let status: number | null = null;
  let bodyLeft: number | null = null;
  let chunkedTail: string | null = null;
  for (;;) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) return status;
    const chunk = String.fromCharCode(...buf.subarray(0, n));
    if (status !== null) {
      if (bodyLeft !== null && (bodyLeft -= n) <= 0) return status;
      if (chunkedTail !== null && (chunkedTail = (chunkedTail + chunk).slice(-5)) === "0\r\n\r\n") {
        return status;
      }
      continue;
    }
    text += chunk;
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) continue;
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
    if (m === null) return null;
    status = Number(m[1]);
    if (!whole || head || status === 304 || status === 204) return status;
    const fields = text.slice(0, end);
    const length = /\r\ncontent-length: *(\d+)/i.exec(fields);
    if (length !== null) {
      bodyLeft = Number(length[1]) - (text.length - end - 4);
      if (bodyLeft <= 0) return status;
    } else if (/\r\ntransfer-encoding: *chunked/i.test(fields)) {
      chunkedTail = text.slice(-5);
      if (chunkedTail === "0\r\n\r\n") return status;
    }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

/** Sends `bytes` and reads the answer's status (null: the connection closed without one). */
async function exchange(
  port: number,
  bytes: Uint8Array,
  hangUp: boolean,
  head: boolean,
): Promise<number | null> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch { /* closed already */ }
  }, NO_ANSWER_MS);
  // The server may answer (and close) before it has read the whole body: a failed write is no failure.
  const writing = writeAll(conn, bytes).catch(() => {});
  try {
    const status = await readAnswer(conn, !hangUp, head);
    if (timedOut) throw new Error(`no answer within ${NO_ANSWER_MS / 1000} s: serve hangs`);
    return status;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed already */ }
    await writing;
  }
}

async function send(port: number, req: FuzzRequest, scram: () => Promise<string>): Promise<number | null> {
  const headers = [`Host: 127.0.0.1:${port}`, "Connection: close"];
  if (req.auth.kind === "scram") headers.push(`Authorization: ${await scram()}`);
  if (req.auth.kind === "hostile") headers.push(`Authorization: ${req.auth.value}`);
  for (const [name, value] of req.headers) headers.push(`${name}: ${value}`);
  headers.push(...framingHeaders(req.framing, req.body.length));
  const head = latin1(`${req.method} ${req.target} HTTP/1.1\r\n${headers.join("\r\n")}\r\n\r\n`);
  return await exchange(
    port,
    concat(head, framedBody(req.framing, req.body)),
    req.hangUp,
    req.method === "HEAD",
  );
}

// ---- generators ----

interface Fixture {
  pub: string;
  priv: string;
  /** UUIDs of archived messages: a 1 MiB public value, a small one, a tombstone, a private one. */
  big: string;
  small: string;
  tomb: string;
  secret: string;
  /** ETags `serve` gives the big message's object and value. */
  etags: string[];
}

const percentBytes = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => `%${b.toString(16).padStart(2, "0").toUpperCase()}`).join("");

// File names: control bytes, NUL, RTL override, quotes, CRLF, malformed escapes, overlong, non-ByteString text.
const fileName = fc.oneof(
  fc.constantFrom(
    "alert.bin",
    "a%01b",
    "%1b",
    "%7f",
    "%00",
    "%E2%80%AE",
    "%E2%80%AEnib.exe",
    "%C0%AF",
    "%",
    "%zz",
    "%FF%FE",
    "a%0D%0ASet-Cookie:%20x=1",
    "%22%5C%22",
    "..%2F..%2Fetc%2Fpasswd",
    "%F0%9F%98%80",
    "%ED%A0%80",
    "x".repeat(10_000),
    "%C3%A9t%C3%A9.txt",
    "",
  ),
  fc.string({ unit: "binary", maxLength: 40 }).map(encodeURIComponent),
  fc.uint8Array({ minLength: 1, maxLength: 24 }).map(percentBytes),
);

const numberText = fc.oneof(
  fc.constantFrom(
    "99999999999999999999",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "-1",
    "0",
    "1",
    "1024",
    "1025",
    "abc",
    "1e3",
    "0x10",
    " 1",
    "1.5",
    "",
    "%00",
    "NaN",
    "Infinity",
    "9".repeat(400),
    "-0",
  ),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
);

const queryString = fc.array(
  fc.tuple(
    fc.constantFrom("start_time", "end_time", "limit", "page", "offset", "start_time", "page"),
    numberText,
  ),
  { maxLength: 5 },
).map((pairs) =>
  pairs.length === 0 ? "" : `?${pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&")}`
);

const METHODS = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "FOO"];

/** Mostly the methods a route answers, now and then any other. */
const methodOf = (...usual: string[]) =>
  fc.oneof({ arbitrary: fc.constantFrom(...usual), weight: 6 }, {
    arbitrary: fc.constantFrom(...METHODS),
    weight: 1,
  });

type Line = { method: string; target: string };
const line = (method: fc.Arbitrary<string>, target: fc.Arbitrary<string>): fc.Arbitrary<Line> =>
  fc.record({ method, target });

function targets(f: Fixture): fc.Arbitrary<Line> {
  const id = fc.oneof(
    fc.constantFrom(f.big, f.small, f.tomb, f.secret, f.big, f.secret),
    fc.constantFrom(
      f.big.toUpperCase(),
      `urn:uuid:${f.big}`,
      `%7B${f.big}%7D`,
      `${f.big}%00`,
      f.big.replaceAll("-", ""),
      "not-a-uuid",
      "%00",
      "..",
      "%2e%2e",
      "",
      "0".repeat(5000),
    ),
    fc.uuid(),
  );
  const topic = fc.oneof(
    fc.constantFrom(f.pub, f.priv, `${f.pub}+oversized`, `${f.priv}+oversized`, `${f.priv}%2Boversized`),
    fc.constantFrom(
      "x%00",
      `${f.pub}%00`,
      "a%2Fb",
      "t".repeat(300),
      "..",
      ".",
      "%E2%80%AE",
      "%D0%BA%D0%BB%D1%8E%D1%87",
      "+oversized",
      "%FF",
      "__consumer_offsets",
    ),
    fc.string({ unit: "binary", maxLength: 30 }).map(encodeURIComponent),
  );
  const segment = fc.oneof(fc.constantFrom("msg", "topic", "raw_file", "healthz", "", "%00"), fileName);
  const get = methodOf("GET");
  return fc.oneof(
    { arbitrary: line(get, id.map((i) => `/msg/${i}`)), weight: 3 },
    { arbitrary: line(get, fc.tuple(id, fileName).map(([i, n]) => `/msg/${i}/raw_file/${n}`)), weight: 6 },
    {
      arbitrary: line(
        methodOf("GET", "POST"),
        fc.tuple(topic, queryString).map(([t, q]) => `/topic/${t}${q}`),
      ),
      weight: 5,
    },
    {
      arbitrary: line(get, fc.constantFrom("/health_check", "/healthz", "/metrics", "/health_check?x=%00")),
      weight: 1,
    },
    { arbitrary: line(get, fc.tuple(id, queryString).map(([i, q]) => `/msg/${i}/raw_file${q}`)), weight: 1 },
    { arbitrary: line(get, fc.array(segment, { maxLength: 6 }).map((s) => `/${s.join("/")}`)), weight: 1 },
    {
      arbitrary: line(
        fc.constantFrom(...METHODS),
        fc.constantFrom("*", "//msg//x", "/msg/../healthz", "http://evil.example/healthz"),
      ),
      weight: 1,
    },
  );
}

// Header values as bytes: mostly what HTTP allows (visible ASCII, space, tab, obs-text 0x80-0xff), now and then
// any byte but CR, LF and NUL (which the HTTP parser refuses before `serve` sees the request).
const allowedHeaderByte = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }),
  fc.integer({ min: 0x80, max: 0xff }),
);
const headerBytes = fc.oneof(
  { arbitrary: fc.array(allowedHeaderByte, { maxLength: 60 }), weight: 6 },
  { arbitrary: fc.array(fc.integer({ min: 1, max: 255 }), { maxLength: 60 }), weight: 1 },
).map((b) => String.fromCharCode(...b.filter((x) => x !== 0x0d && x !== 0x0a)));

const hostileAuthorization = fc.oneof(
  fc.constantFrom(
    "",
    "SCRAM-SHA-512",
    "SCRAM-SHA-512 data=",
    "SCRAM-SHA-512 sid=x, data=!!!",
    `SCRAM-SHA-512 data=${btoa("n,,n=alice,r=abc")}`,
    `SCRAM-SHA-512 data=${btoa("y,a=admin,n=alice,r=abc")}`,
    `SCRAM-SHA-512 data=${btoa("n,,n=nobody,r=abc")}`,
    `SCRAM-SHA-512 sid=${crypto.randomUUID()}, data=${btoa("c=biws,r=abc,p=AAAA")}`,
    "Basic YWxpY2U6YWxpY2Utc2VjcmV0",
    `Bearer ${"A".repeat(6000)}`,
    "Token \u00ff\u00fe\u0080",
    "SCRAM-SHA-512 data=\u00e9\u00e9",
    "scram-sha-512 data=bm9uZQ==, data=eA==, sid=, sid=",
  ),
  headerBytes,
);

function extraHeaders(f: Fixture): fc.Arbitrary<[string, string][]> {
  const one = fc.oneof(
    fc.tuple(
      fc.constant("If-None-Match"),
      fc.oneof(fc.constantFrom(...f.etags, "*", '""', "W/x"), headerBytes),
    ),
    fc.tuple(fc.constant("If-None-Match"), fc.constant(`"${"e".repeat(7000)}"`)),
    fc.tuple(
      fc.constantFrom("Range", "Accept-Encoding", "Content-Type", "Expect", "X-Forwarded-For"),
      headerBytes,
    ),
    fc.tuple(
      fc.constant("Content-Type"),
      fc.constantFrom("application/bson", "multipart/form-data; boundary=x"),
    ),
  );
  return fc.array(one, { maxLength: 2 });
}

/** An upload document: hop-client's shape, with hostile headers, key and value. */
const uploadDoc = fc.record({
  value: fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.constant(new Uint8Array(0))),
  headers: fc.array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom("_format", "title", "_sender", "file_name", "originator", "", "\0"),
        fc.string(),
      ),
      fc.oneof(
        fc.uint8Array({ maxLength: 40 }),
        fc.constantFrom(...["blob\0", "\u202e", "\x1b[2J", "json"].map(utf8)),
        fc.constant(null),
      ),
    ),
    { maxLength: 6 },
  ),
  id: fc.oneof(fc.uuid(), fc.constant(null)),
  key: fc.oneof(fc.constant(undefined), fc.string(), fc.uint8Array({ maxLength: 20 })),
}).map(({ value, headers, id, key }) => {
  const pairs: [string, Binary | null][] = headers.map(([k, v]) => [k, v === null ? null : new Binary(v)]);
  if (id !== null) pairs.push(["_id", new Binary(idHeader(id).value!)]);
  const doc: Record<string, unknown> = { message: new Binary(value), headers: pairs };
  if (key !== undefined) doc.key = typeof key === "string" ? key : new Binary(key);
  return BSON.serialize(doc);
});

const body: fc.Arbitrary<Uint8Array> = fc.oneof(
  { arbitrary: fc.constant(new Uint8Array(0)), weight: 3 },
  { arbitrary: fc.uint8Array({ maxLength: 2048 }), weight: 2 },
  { arbitrary: uploadDoc, weight: 4 },
  {
    // A valid upload cut short or with a byte changed: BSON that lies about its own lengths.
    arbitrary: fc.tuple(uploadDoc, fc.nat(), fc.integer({ min: 1, max: 255 })).map(([doc, at, flip]) => {
      const copy = doc.slice(0, 1 + (at % doc.length));
      copy[at % copy.length]! ^= flip;
      return copy;
    }),
    weight: 2,
  },
  {
    arbitrary: fc.anything({ maxDepth: 2 }).map((v) => {
      try {
        return BSON.serialize({ message: v } as Record<string, unknown>);
      } catch {
        return utf8(String(v));
      }
    }),
    weight: 1,
  },
  { arbitrary: fc.integer().map((seed) => pseudoBytes(3 * 2 ** 20, seed)), weight: 1 },
);

function requests(f: Fixture): fc.Arbitrary<FuzzRequest> {
  const any = fc.record({
    line: targets(f),
    headers: extraHeaders(f),
    auth: fc.oneof(
      { arbitrary: fc.constant({ kind: "none" as const }), weight: 3 },
      { arbitrary: fc.constant({ kind: "scram" as const }), weight: 3 },
      { arbitrary: hostileAuthorization.map((value) => ({ kind: "hostile" as const, value })), weight: 2 },
    ),
    body: fc.oneof({ arbitrary: fc.constant(new Uint8Array(0)), weight: 1 }, { arbitrary: body, weight: 1 }),
    framing: fc.oneof(
      { arbitrary: fc.constant<Framing>("exact"), weight: 12 },
      { arbitrary: fc.constantFrom<Framing>("none", "overclaim", "underclaim", "chunked"), weight: 4 },
      { arbitrary: fc.constantFrom<Framing>("badchunked", "negative", "conflicting"), weight: 1 },
    ),
    hangUp: fc.boolean(),
  }).map(({ line, ...rest }) => ({ ...line, ...rest }));
  // Authorised uploads of hostile documents get past the permission check, into parsing, the index and the store.
  const upload = fc.record({
    method: fc.constant("POST"),
    target: fc.constantFrom(`/topic/${f.priv}+oversized`, `/topic/${f.pub}+oversized`, `/topic/${f.priv}`),
    headers: fc.constant<[string, string][]>([]),
    auth: fc.constant({ kind: "scram" as const }),
    body,
    framing: fc.constantFrom<Framing>("exact", "exact", "exact", "chunked"),
    hangUp: fc.boolean(),
  });
  return fc.oneof({ arbitrary: any, weight: 5 }, { arbitrary: upload, weight: 1 });
}

/** The reproductions of issue 21, tried first on every run. */
function knownHostile(f: Fixture): FuzzRequest[] {
  const plain = {
    headers: [],
    auth: { kind: "none" as const },
    body: new Uint8Array(0),
    framing: "exact" as const,
  };
  const get = (target: string, more: Partial<FuzzRequest> = {}): FuzzRequest => ({
    ...plain,
    method: "GET",
    target,
    hangUp: false,
    ...more,
  });
  const upload = BSON.serialize({
    message: new Binary(utf8("v")),
    headers: [["title", new Binary(utf8("a\0b"))], ["_format", new Binary(utf8("blob\0"))], [
      "_id",
      new Binary(idHeader(crypto.randomUUID()).value!),
    ]],
  });
  return [
    // Control bytes in the download name crashed the process (Content-Disposition).
    ...["a%01b", "%1b", "%7f", "%00"].map((name) => get(`/msg/${f.big}/raw_file/${name}`)),
    // A name that is no ByteString answered 500 and left the S3 stream open: 64 of them hung serve for good.
    ...Array.from(
      { length: 70 },
      (_, i) => get(`/msg/${f.big}/raw_file/%E2%80%AE${i}`, { hangUp: i % 2 === 0 }),
    ),
    get(`/topic/x%00`),
    get(`/topic/${f.pub}?start_time=99999999999999999999`),
    get(`/topic/${f.pub}?page=9223372036854775808`),
    get(`/topic/a%2Fb`, { method: "POST", auth: { kind: "scram" }, body: upload }),
    // NUL in `title`/`_format` of an upload failed the index row: 500.
    get(`/topic/${f.priv}+oversized`, { method: "POST", auth: { kind: "scram" }, body: upload }),
  ];
}

function describe(req: FuzzRequest): string {
  const auth = req.auth.kind === "hostile" ? `hostile ${showText(req.auth.value, 40)}` : req.auth.kind;
  const headers = req.headers.map(([n, v]) => `${n}: ${showText(v, 40)}`).join("; ");
  return `${req.method} ${showText(req.target, 160)} auth ${auth} [${headers}] body ${req.body.length} B ` +
    `framing ${req.framing}${req.hangUp ? " hang-up" : ""}`;
}

// ---- the run ----

function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

function record(topic: string, offset: number, value: Uint8Array | null, uuid: string): KafkaRecord {
  return {
    topic,
    partition: 0,
    offset: BigInt(offset),
    timestamp: 1_750_000_000_000n + BigInt(offset),
    key: utf8(`k${offset}`),
    value,
    headers: [{ key: "_format", value: utf8("blob") }, idHeader(uuid)],
  };
}

/** An upload answered 201 is in the archive byte for byte: value, key and header list as posted. */
async function assertUploadStored(f: ServeFixture, req: FuzzRequest): Promise<void> {
  const topic = decodeURIComponent(req.target.split("?")[0]!.split("/")[2]!);
  const rec = parseUpload(topic, req.body, 0n);
  const digest = hex(contentDigest(rec));
  const base = topic.replace(/\+oversized$/, "");
  const rows = await f.index.select({ topics: [base, `${base}+oversized`] }, { limit: 1000 });
  const row = rows.find((r) => r.contentSha256 === digest);
  assert.ok(row !== undefined, "an upload answered 201 has a row with its content");
  if (Object.entries(row).some(([name, v]) => /quarantin/i.test(name) && v !== null && v !== false)) return;
  const back = decodeArchiveObject((await f.store.get(row.key))!);
  // js-bson hands out Buffers, the archive's reader plain Uint8Arrays: compare the bytes.
  const plain = (b: Uint8Array | null) => b === null ? null : Uint8Array.from(b);
  assert.deepEqual(back.value, plain(rec.value), "uploaded value");
  assert.deepEqual(back.key, plain(rec.key), "uploaded key");
  assert.deepEqual(
    back.headers,
    rec.headers.map((h) => ({ key: h.key, value: plain(h.value) })),
    "uploaded headers",
  );
}

/** More reads than the S3 client has sockets (64): all answer only if no failed request kept one. */
const FOLLOW_UP_READS = 80;

Deno.test("fuzz: serve answers hostile requests on every route without 5xx, crash or leak", async () => {
  const pub = `fzpub-${crypto.randomUUID().slice(0, 8)}`;
  const priv = `fzpriv-${crypto.randomUUID().slice(0, 8)}`;
  const alice = { user: "alice", password: "alice-secret" };
  await withServe({
    publicTopics: pub,
    auth: {
      users: { [alice.user]: alice.password },
      permissions: { alice: { [pub]: ["Read", "Write"], [priv]: ["Read", "Write"] } },
    },
  }, async (f) => {
    const bigValue = pseudoBytes(2 ** 20, 42);
    const ids = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    await f.archive([
      record(pub, 0, bigValue, ids[0]!),
      record(pub, 1, utf8("small"), ids[1]!),
      record(pub, 2, null, ids[2]!),
      record(priv, 0, utf8("private"), ids[3]!),
    ]);
    const row = (await f.index.byUuid(ids[0]!))!;
    const hex32 = (n: number) => n.toString(16).padStart(8, "0");
    const fixture: Fixture = {
      pub,
      priv,
      big: ids[0]!,
      small: ids[1]!,
      tomb: ids[2]!,
      secret: ids[3]!,
      etags: [`"${row.uuid}-${hex32(row.crc32)}"`, `"${row.uuid}-v${hex32(row.messageCrc32)}"`],
    };
    const child = spawnLogged(
      ["serve", "--http-port", "0", "--http-host", "127.0.0.1"],
      archiveEnv({
        S3_BUCKET: f.bucket,
        S3_ENDPOINT: serviceEnv("S3_ENDPOINT"),
        DATABASE_URL: serviceEnv("DATABASE_URL"),
        HOUSEKEEPING_DB_SCHEMA: f.schema,
        PUBLIC_TOPICS: pub,
        HOPAUTH_API_URL: f.hopauth.url,
        MAX_UPLOAD_MIB: "2",
        UPLOAD_TIMEOUT_SECONDS: "3",
        LOG_LEVEL: "info",
      }),
    );
    const alive = () => assert.ok(!child.exited, `serve exited:\n${child.lines.slice(-20).join("\n")}`);
    try {
      const port = await waitFor("serve to listen", () => {
        const line = child.lines.find((l) => l.includes("serve listening"));
        return Promise.resolve(line === undefined ? undefined : JSON.parse(line).port as number);
      });
      const base = `http://127.0.0.1:${port}`;
      const scram = scramClient(f.hopauth.url, alice.user, alice.password);
      // Alternately the value (cut out of the object as it streams) and the whole object, both from S3.
      const readBig = async (i: number) => {
        const path = i % 2 === 0 ? `/msg/${fixture.big}/raw_file/v.bin` : `/msg/${fixture.big}`;
        const resp = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(NO_ANSWER_MS) });
        const length = (await resp.arrayBuffer()).byteLength;
        return { status: resp.status, big: length >= bigValue.length };
      };
      // Warm up (code paths compiled, pools filled) before the memory baseline.
      for (let i = 0; i < 10; i++) {
        assert.deepEqual(await readBig(i), { status: 200, big: true });
      }
      const rssBefore = rssMiB(child.child.pid);

      const statuses = new Map<string, number>();
      await fuzz(requests(fixture), {
        name: "serve requests",
        numRuns: 800,
        describe,
        examples: knownHostile(fixture),
      }, async (req) => {
        const status = await send(port, req, scram);
        alive();
        const key = status === null ? "none" : String(status);
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
        if (Deno.env.get("HK_FUZZ_DEBUG")) console.log(key, describe(req));
        if (status === null) {
          // A process that crashed may still be exiting: give it the moment to show, for the report's sake.
          await Promise.race([child.done, new Promise((r) => setTimeout(r, 500))]);
          alive();
          assert.ok(INVALID_FRAMING.has(req.framing), "a valid HTTP/1.1 request got no answer");
          return;
        }
        assert.ok(status < 500 || status === 503 || status === 504, `answered ${status}`);
        if (status === 201 && !req.hangUp) await assertUploadStored(f, req);
      });
      console.log(`fuzz: serve statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);

      // No leak: every socket and stream the failed requests opened was given back.
      for (let i = 0; i < FOLLOW_UP_READS; i++) {
        assert.deepEqual(await readBig(i), { status: 200, big: true }, `follow-up read ${i}`);
      }
      const healthz = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(NO_ANSWER_MS) });
      assert.equal(healthz.status, 200);
      await healthz.body?.cancel();
      const check = await fetch(`${base}/health_check`, { signal: AbortSignal.timeout(NO_ANSWER_MS) });
      assert.deepEqual(await check.json(), { DatabaseOK: true, ObjectStoreOK: true, HopAuthOK: true });
      alive();
      const rssAfter = rssMiB(child.child.pid);
      console.log(`fuzz: serve RSS ${rssBefore.toFixed(0)} MiB before, ${rssAfter.toFixed(0)} MiB after`);
      // A resource bound, not a timing one: 800 requests must not keep hundreds of MiB.
      assert.ok(rssAfter < rssBefore + 256, `RSS grew from ${rssBefore} to ${rssAfter} MiB`);
    } finally {
      child.kill("SIGTERM");
      await child.done;
    }
  });
});
