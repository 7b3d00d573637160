// Writing a handler's Response as HTTP/1.1 straight onto the client's connection (lib/serve/listener.ts answers
// bodiless GET and HEAD requests itself, without a second hop through Deno.serve). The framing is ours, so it is
// strict: a declared Content-Length is what the client gets, never a byte more; a body that fails (a CRC-32
// mismatch, the store cut off) or comes out short ends the connection without the answer's end, so the client
// sees a broken answer, never a complete wrong one; a client that goes away cancels the body (and with it the S3
// stream under it). As Deno.serve 2.9 does: a `date` header, and no compression.
import { STATUS_CODES } from "node:http";

const enc = new TextEncoder();
/** A body with no declared length is held up to this much, so that a small one is sent with a Content-Length. */
const HOLD_BYTES = 64 * 1024;

let dateSecond = 0;
let dateText = "";
function httpDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}

// Bodies a handler holds whole (a small object, read and checked before its answer): sent with the head in one
// write. Deno makes a ReadableStream of a byte body once `.body` is touched, and reading it back cost more per
// request than the rest of the answer; the Response keeps its body for whoever else sends it (Deno.serve).
const wholeBodies = new WeakMap<Response, Uint8Array>();

/**
 * A 200 answer of `bytes` with `headers`, which writeAnswer sends without going through its body stream. The
 * headers are set after the Response is made: given to its constructor they cost twice as much (Deno prepares
 * them for Deno.serve too).
 */
export function bytesResponse(bytes: Uint8Array<ArrayBuffer>, headers: Record<string, string>): Response {
  const resp = new Response(bytes);
  const own = resp.headers;
  for (const name in headers) own.set(name, headers[name]!);
  wholeBodies.set(resp, bytes);
  return resp;
}

export interface AnswerTarget {
  write(bytes: Uint8Array): Promise<void>;
}

export interface AnswerOptions {
  /** The request was HEAD: the head only, whatever the body. */
  head: boolean;
}

/** Why the connection cannot carry another request after this answer; null when it can. */
export type AnswerEnd = null | "closes" | "broken";

function headBytes(status: number, headers: Headers, framing: string, closes: boolean): Uint8Array {
  let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Unknown"}\r\n`;
  for (const [name, value] of headers) {
    if (name === "content-length" || name === "transfer-encoding" || name === "connection") continue;
    if (name === "keep-alive" || name === "date") continue;
    text += `${name}: ${value}\r\n`;
  }
  text += `${framing}date: ${httpDate()}\r\n${closes ? "connection: close\r\n" : ""}\r\n`;
  // Header values are ByteStrings (Latin-1): one byte per character, as Deno.serve sends them.
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

function joined(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Reads `reader` until it ends or more than HOLD_BYTES are in; the chunks read and whether it ended. */
async function hold(reader: ReadableStreamDefaultReader<Uint8Array>) {
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (total <= HOLD_BYTES) {
    const { done, value } = await reader.read();
    if (done) return { chunks, total, ended: true };
    chunks.push(value);
    total += value.length;
  }
  return { chunks, total, ended: false };
}

function chunkFrame(bytes: Uint8Array): Uint8Array {
  const size = enc.encode(`${bytes.length.toString(16)}\r\n`);
  const out = new Uint8Array(size.length + bytes.length + 2);
  out.set(size);
  out.set(bytes, size.length);
  out.set([13, 10], size.length + bytes.length);
  return out;
}

const LAST_CHUNK = enc.encode("0\r\n\r\n");

/**
 * Writes `resp` to `to`. `closes`: the connection ends after this answer whatever happens (the request said so).
 * Resolves to how the connection may go on ("broken": the answer is unended, the connection must close now);
 * rejects only when writing failed (the client went away), after cancelling the body.
 */
export async function writeAnswer(
  to: AnswerTarget,
  resp: Response,
  options: AnswerOptions,
  closes: boolean,
): Promise<AnswerEnd> {
  const headers = resp.headers;
  const closing = closes || /\bclose\b/i.test(headers.get("connection") ?? "");
  const end: AnswerEnd = closing ? "closes" : null;
  const status = resp.status;
  const whole = wholeBodies.get(resp);
  if (whole !== undefined && !options.head && status !== 204 && status !== 304) {
    const head = headBytes(status, headers, `content-length: ${whole.length}\r\n`, closing);
    await to.write(joined(head, whole));
    return end;
  }
  if (options.head || status === 204 || status === 304 || resp.body === null) {
    let declared = headers.get("content-length");
    // A HEAD answer built from a body says that body's length, as Deno.serve did, when the body is small.
    if (options.head && declared === null && resp.body !== null) {
      const reader = resp.body.getReader();
      const held = await hold(reader).catch(() => null);
      if (held?.ended) declared = String(held.total);
    }
    await resp.body?.cancel().catch(() => {});
    // A HEAD answer keeps the length the GET would have; an empty body says 0 (not for 204 and 304).
    const framing = options.head
      ? (declared !== null ? `content-length: ${declared}\r\n` : "")
      : status === 204 || status === 304
      ? ""
      : "content-length: 0\r\n";
    await to.write(headBytes(status, headers, framing, closing));
    return end;
  }
  const declared = headers.get("content-length");
  const length = declared !== null && /^\d{1,15}$/.test(declared) ? Number(declared) : null;
  return await writeBody(to, status, headers, resp.body, length, closing);
}

async function writeBody(
  to: AnswerTarget,
  status: number,
  headers: Headers,
  body: ReadableStream<Uint8Array>,
  length: number | null,
  closing: boolean,
): Promise<AnswerEnd> {
  const reader = body.getReader();
  let started = false;
  const out: AnswerTarget = {
    async write(bytes) {
      started = true;
      try {
        await to.write(bytes);
      } catch (e) {
        throw new WriteError(e);
      }
    },
  };
  try {
    if (length !== null) return await writeLength(out, reader, status, headers, length, closing);
    const held = await hold(reader);
    if (held.ended) {
      const head = headBytes(status, headers, `content-length: ${held.total}\r\n`, closing);
      await out.write(held.chunks.reduce(joined, head));
      return closing ? "closes" : null;
    }
    await out.write(headBytes(status, headers, framing(null), closing));
    for (const chunk of held.chunks) await out.write(chunkFrame(chunk));
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (value.length > 0) await out.write(chunkFrame(value));
    }
    await out.write(LAST_CHUNK);
    return closing ? "closes" : null;
  } catch (e) {
    reader.cancel().catch(() => {});
    if (e instanceof WriteError) throw e.cause;
    // The body failed: the answer stays unended (as Deno.serve's did: its head went first), so the client sees it
    // broken, never complete.
    if (!started) await out.write(headBytes(status, headers, framing(length), closing)).catch(() => {});
    return "broken";
  }
}

function framing(length: number | null): string {
  return length === null ? "transfer-encoding: chunked\r\n" : `content-length: ${length}\r\n`;
}

/** A Content-Length body: the first chunk goes with the head; more than declared, or less, breaks the answer. */
async function writeLength(
  out: AnswerTarget,
  reader: ReadableStreamDefaultReader<Uint8Array>,
  status: number,
  headers: Headers,
  length: number,
  closing: boolean,
): Promise<AnswerEnd> {
  let pending: Uint8Array | null = headBytes(status, headers, framing(length), closing);
  let sent = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const room = length - sent;
    const part = value.length > room ? value.subarray(0, room) : value;
    sent += part.length;
    if (pending !== null) {
      await out.write(joined(pending, part));
      pending = null;
    } else if (part.length > 0) await out.write(part);
    if (value.length > room) {
      reader.cancel().catch(() => {});
      return "broken";
    }
  }
  if (pending !== null) await out.write(pending);
  return sent === length ? (closing ? "closes" : null) : "broken";
}

/** Writing to the client failed: it went away. */
export class WriteError extends Error {
  constructor(override readonly cause: unknown) {
    super("writing the answer failed");
  }
}
