// Where an HTTP/1.1 request ends, so that lib/serve/listener.ts can pass one request at a time to Deno and keep
// the client's connection for the next one. Anything whose end two parsers could read differently is refused
// (RFC 9112 §6.3, request smuggling): Transfer-Encoding with Content-Length, a coding other than a lone
// `chunked`, Content-Length twice or not a plain number, folded or malformed header lines, bare CR or LF, and
// chunk sizes or chunk ends that are not exactly as written in the RFC.

const CR = 13;
const LF = 10;
/** Longest chunk-size line (with extensions) and trailer section we read: more is refused. */
const MAX_LINE = 4096;
const MAX_TRAILERS = 16 * 1024;

export interface BodyFraming {
  /** Takes bytes of the body from `at`; returns where the body ended in `bytes`, or bytes.length if not yet. */
  feed(bytes: Uint8Array, at: number): number;
  readonly complete: boolean;
  /** The body broke the chunked grammar: the connection must close. */
  readonly broken: boolean;
}

export type RequestFraming =
  | {
    ok: true;
    body: BodyFraming;
    keepAlive: boolean;
    head: boolean;
    method: string;
    target: string;
    /** HTTP/1.1 (not 1.0). */
    http11: boolean;
    /** Header fields as sent (Latin-1, one character per byte), values without surrounding white space. */
    fields: [string, string][];
    /** No Content-Length above 0 and no Transfer-Encoding: nothing follows the head. */
    bodyless: boolean;
  }
  | { ok: false; reason: string };

function lengthBody(length: number): BodyFraming {
  let left = length;
  return {
    feed(bytes, at) {
      const n = Math.min(left, bytes.length - at);
      left -= n;
      return at + n;
    },
    get complete() {
      return left === 0;
    },
    broken: false,
  };
}

type Chunked =
  | { at: "size"; line: string }
  | { at: "data"; left: number }
  | { at: "cr" }
  | { at: "lf" }
  | { at: "trailer"; line: string; total: number }
  | { at: "done" }
  | { at: "broken" };

const CHUNK_SIZE = /^([0-9A-Fa-f]{1,12})(;[\t !#-~]*)?$/;

function chunkedBody(): BodyFraming {
  let s: Chunked = { at: "size", line: "" };
  // A line ends with CRLF exactly; a bare CR or LF in it breaks the body.
  function lineStep(line: string, c: number): string | null | "end" {
    if (c === LF) return line.endsWith("\r") ? "end" : null;
    if (line.endsWith("\r")) return null;
    return line.length >= MAX_LINE ? null : line + String.fromCharCode(c);
  }
  function step(bytes: Uint8Array, i: number): number {
    switch (s.at) {
      case "size": {
        const next = lineStep(s.line, bytes[i]!);
        if (next === null) s = { at: "broken" };
        else if (next !== "end") s.line = next;
        else {
          const m = CHUNK_SIZE.exec(s.line.slice(0, -1));
          const size = m === null ? NaN : parseInt(m[1]!, 16);
          s = Number.isSafeInteger(size)
            ? size === 0 ? { at: "trailer", line: "", total: 0 } : { at: "data", left: size }
            : { at: "broken" };
        }
        return i + 1;
      }
      case "data": {
        const n = Math.min(s.left, bytes.length - i);
        s.left -= n;
        if (s.left === 0) s = { at: "cr" };
        return i + n;
      }
      case "cr":
        s = bytes[i] === CR ? { at: "lf" } : { at: "broken" };
        return i + 1;
      case "lf":
        s = bytes[i] === LF ? { at: "size", line: "" } : { at: "broken" };
        return i + 1;
      case "trailer": {
        const next = lineStep(s.line, bytes[i]!);
        if (next === null || s.total >= MAX_TRAILERS) s = { at: "broken" };
        else if (next !== "end") {
          s.line = next;
          s.total++;
        } else if (s.line === "\r") s = { at: "done" };
        else if (/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:/.test(s.line)) {
          s = { at: "trailer", line: "", total: s.total };
        } else s = { at: "broken" };
        return i + 1;
      }
      default:
        return bytes.length;
    }
  }
  return {
    feed(bytes, at) {
      let i = at;
      while (i < bytes.length && s.at !== "done" && s.at !== "broken") i = step(bytes, i);
      return s.at === "done" ? i : bytes.length;
    },
    get complete() {
      return s.at === "done";
    },
    get broken() {
      return s.at === "broken";
    },
  };
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// A field value's bytes (RFC 9110 §5.5): tab, space, visible ASCII and obs-text; no other control byte.
// deno-lint-ignore no-control-regex -- the control bytes a field value may not hold
const BAD_VALUE_BYTE = /[\x00-\x08\x0a-\x1f\x7f]/;
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) [!-~]+ HTTP\/1\.([01])$/;

/** The framing of a request from its head (the bytes up to and including the blank line). */
export function requestFraming(head: Uint8Array): RequestFraming {
  // Latin-1: one character per byte, so that no byte is lost or merged before the checks below.
  let text = "";
  for (let at = 0; at < head.length; at += 8192) {
    text += String.fromCharCode.apply(null, head.subarray(at, at + 8192) as unknown as number[]);
  }
  if (!text.endsWith("\r\n\r\n")) return { ok: false, reason: "request head not ended by CRLF CRLF" };
  const lines = text.slice(0, -4).split("\r\n");
  if (lines.some((l) => l.includes("\r") || l.includes("\n"))) return { ok: false, reason: "bare CR or LF" };
  const request = REQUEST_LINE.exec(lines[0]!);
  if (request === null) return { ok: false, reason: "malformed request line" };
  let lengths: string[] = [];
  let codings: string[] = [];
  let connection = "";
  let hosts = 0;
  const fields: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    const name = colon < 0 ? "" : line.slice(0, colon);
    // No name, a space before the colon, or a folded line (leading space): parsers disagree on these.
    if (!TOKEN.test(name)) return { ok: false, reason: "malformed header line" };
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (BAD_VALUE_BYTE.test(value)) return { ok: false, reason: "control byte in a header value" };
    fields.push([name, value]);
    const lower = name.toLowerCase();
    if (lower === "host" && ++hosts > 1) return { ok: false, reason: "more than one Host" };
    if (lower === "content-length") lengths = [...lengths, value];
    else if (lower === "transfer-encoding") codings = [...codings, ...value.split(",").map((v) => v.trim())];
    else if (lower === "connection") connection += `,${value.toLowerCase()}`;
  }
  if (codings.length > 0 && lengths.length > 0) {
    return { ok: false, reason: "both Transfer-Encoding and Content-Length" };
  }
  const http11 = request[2] === "1";
  const keepAlive = http11 && !connection.split(",").some((t) => t.trim() === "close");
  const method = request[1]!;
  const common = {
    keepAlive,
    head: method === "HEAD",
    method,
    target: lines[0]!.split(" ")[1]!,
    http11,
    fields,
  };
  if (codings.length > 0) {
    if (codings.length !== 1 || codings[0]!.toLowerCase() !== "chunked") {
      return { ok: false, reason: "a transfer coding other than chunked alone" };
    }
    return { ok: true, body: chunkedBody(), bodyless: false, ...common };
  }
  if (lengths.length > 1) return { ok: false, reason: "more than one Content-Length" };
  if (lengths.length === 1) {
    const length = /^\d{1,15}$/.test(lengths[0]!) ? Number(lengths[0]) : NaN;
    if (!Number.isSafeInteger(length)) return { ok: false, reason: "malformed Content-Length" };
    return { ok: true, body: lengthBody(length), bodyless: length === 0, ...common };
  }
  return { ok: true, body: lengthBody(0), bodyless: true, ...common };
}
