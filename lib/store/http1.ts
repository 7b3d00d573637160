// A small HTTP/1.1 client over Deno's own sockets, for the store's object GET, PUT and HEAD (lib/store/s3_objects.ts).
// Through fetch, a request cost ~0.2-0.4 ms of the JS thread's CPU of its own (Request, Headers, abort signals,
// body streams, a copy of every Uint8Array body) and its copies of 64 KiB bodies were a fifth of the archiver's
// CPU in GC (issue 26). Here a request is one write of its head with its small body pieces, one write per large
// piece (an archive object is sent as it was encoded: prefix, the record's own value bytes, suffix; never joined)
// and reads straight into the array the caller gets; its answer's head is parsed from the bytes, and one sweep per
// client, not a timer per request, fails a request on which nothing moves. Keep-alive sockets are pooled; a request that finds its idle socket closed by the server
// is sent again once on a new one (GET, PUT and HEAD of an object are idempotent). Every byte of an answer is
// bounded: a head of at most MAX_HEAD_BYTES, a declared length or chunked framing that parses strictly, and a
// whole body read into memory of at most the largest object an archive holds (or exactly the caller's expected
// length): a server that declares more is refused before anything is allocated.
import { concat } from "../runtime/bytes.ts";
import { hkError } from "../runtime/errors.ts";

export interface Http1Options {
  /** "http:" or "https:". */
  protocol: string;
  hostname: string;
  port: number;
  /** PEM of the CAs to trust instead of the system roots. */
  ca: string | undefined;
  /** Idle keep-alive sockets kept. */
  maxIdle: number;
  /** A request on which nothing moves (connecting, sending, waiting, reading) for this many ms fails. */
  idleMs: number;
}

export interface Http1Response {
  status: number;
  /** Looked up by lower-case name; a repeated header gives its last value (S3 repeats none that we read). */
  headers: HeaderLookup;
  body: Uint8Array;
  /** A streamed GET's body (Http1Request.stream), in place of `body`; whoever gets it must read or cancel it. */
  stream?: ReadableStream<Uint8Array>;
}

export interface HeaderLookup {
  get(name: string): string | undefined;
}

export interface Http1Request {
  method: "GET" | "PUT" | "HEAD";
  /** The request target: path (already percent-encoded) and query. */
  target: string;
  /** Header lines, each "name: value", without the Host header. */
  headers: readonly string[];
  body?: readonly Uint8Array[];
  /** A successful answer with a declared length is handed over as a stream rather than read whole. */
  stream?: boolean;
  /**
   * The body's length when the caller knows it (the index's size of an object): a successful answer that declares
   * another length is refused before its body is read.
   */
  expectedLength?: number;
}

const MAX_HEAD_BYTES = 64 * 1024;
const READ_CHUNK = 16 * 1024;
const COALESCE_BELOW = 16 * 1024;
const STREAM_CHUNK = 64 * 1024;
// Chunked answers come from S3 for errors only; a body of this size in chunks is not an S3 answer. Nor is an error
// answer that declares more.
const MAX_CHUNKED_BYTES = 16 * 1024 * 1024;
/**
 * The most a successful whole-body read allocates: an archive object is one BSON document, whose length is a
 * signed int32 (lib/format/bson_writer.ts), so no object the archive holds is larger. A declared length above it
 * is a broken or tampered endpoint, and allocating it (up to 10^15 bytes parse) would fail or take the memory.
 */
export const MAX_BODY_BYTES = 2 ** 31 - 1;
const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/** A socket's failure as Node and the store's error mapping name it (lib/store/s3_objects.ts reads `code`). */
function socketError(message: string, code: string, cause?: unknown): Error {
  const error = new Error(message, cause === undefined ? undefined : { cause });
  error.name = "FetchError";
  return Object.assign(error, { code });
}

/**
 * A declared length the client refuses to read: not retriable, as the same server declares the same length again
 * (an object whose size differs from the index's stays so). Nothing is allocated or read of its body.
 */
function lengthRefused(
  req: Http1Request,
  host: string,
  declared: number,
  problem: string,
  fix: string,
): Error {
  return hkError(
    "STORE_ANSWER_INVALID",
    `${req.method} ${req.target}: ${host} declared a body of ${declared} bytes (Content-Length), ${problem}; ` +
      `refused unread: ${fix}`,
  );
}

function protocolError(problem: string): Error {
  // A server that does not speak HTTP/1.1 as S3 does, or bytes cut short: the next attempt may do better.
  return socketError(`malformed HTTP answer: ${problem}`, "ECONNRESET");
}

interface Socket {
  conn: Deno.Conn;
  buf: Uint8Array;
  start: number;
  end: number;
  /** Where a request's head and its small body pieces are put together for one write; the socket's own. */
  out: Uint8Array;
  /** Set by every read or write that moved bytes; the client's sweep clears it. */
  moved: boolean;
  /** When a sweep last saw the socket move or its request new (performance.now()); -1 until a sweep has. */
  quietSince: number;
  /** Set by the sweep when it closed the socket for its silence. */
  timedOut: boolean;
}

/** An answer's head: what framing needs, read from its bytes; its header lines, copied, for `headers`. */
interface Head {
  status: number;
  http10: boolean;
  /** The last Content-Length: its value, -1 when absent, -2 when not 1-15 digits. */
  length: number;
  chunked: boolean;
  close: boolean;
  /** Header lines (without the status line), copied out of the socket's buffer for `headers`. */
  lines: Uint8Array;
}

export function createHttp1Client(o: Http1Options) {
  const idle: Socket[] = [];
  let closed = false;
  const hostHeader = `host: ${hostAndPort(o)}`;
  const tls = o.protocol === "https:";

  async function connect(): Promise<Socket> {
    const hostname = o.hostname.replace(/^\[|\]$/g, "");
    const conn = tls
      ? await Deno.connectTls({ hostname, port: o.port, ...(o.ca !== undefined ? { caCerts: [o.ca] } : {}) })
      : await Deno.connect({ hostname, port: o.port });
    // Head and body go out in separate writes: Nagle's algorithm would hold the last one for a delayed ACK.
    if (!tls) (conn as Deno.TcpConn).setNoDelay(true);
    return {
      conn,
      buf: new Uint8Array(READ_CHUNK),
      start: 0,
      end: 0,
      out: new Uint8Array(OUT_BYTES),
      moved: false,
      quietSince: 0,
      timedOut: false,
    };
  }

  async function fill(s: Socket): Promise<boolean> {
    if (s.start === s.end) s.start = s.end = 0;
    if (s.end === s.buf.length) {
      if (s.start > 0) {
        s.buf.copyWithin(0, s.start, s.end);
        s.end -= s.start;
        s.start = 0;
      } else {
        if (s.buf.length >= MAX_HEAD_BYTES) throw protocolError(`a line longer than ${MAX_HEAD_BYTES} bytes`);
        const bigger = new Uint8Array(s.buf.length * 2);
        bigger.set(s.buf.subarray(0, s.end));
        s.buf = bigger;
      }
    }
    const n = await s.conn.read(s.buf.subarray(s.end));
    if (n === null) return false;
    s.end += n;
    s.moved = true;
    return true;
  }

  /** The next line (CRLF-terminated) as latin1 text, without its CRLF. */
  async function line(s: Socket): Promise<string> {
    // Bytes already searched, counted from s.start: fill may move the buffered bytes to the front.
    for (let searched = 0;;) {
      const at = s.buf.subarray(s.start + searched, s.end).indexOf(0x0a);
      if (at >= 0) {
        const end = s.start + searched + at;
        const text = latin1.decode(
          s.buf.subarray(s.start, end > s.start && s.buf[end - 1] === 0x0d ? end - 1 : end),
        );
        s.start = end + 1;
        return text;
      }
      searched = s.end - s.start;
      if (!await fill(s)) throw protocolError("the connection closed within the answer's head");
    }
  }

  /** The answer's head (1xx answers skipped), read from its bytes once its empty line has arrived. */
  async function readHead(s: Socket): Promise<Head> {
    for (;;) {
      let next: number;
      for (let searched = 0; (next = headEnd(s.buf, s.start + Math.max(0, searched - 2), s.end)) < 0;) {
        searched = s.end - s.start;
        if (searched > MAX_HEAD_BYTES) throw protocolError(`a head longer than ${MAX_HEAD_BYTES} bytes`);
        if (!await fill(s)) throw protocolError("the connection closed within the answer's head");
      }
      const head = parseHead(s.buf, s.start);
      s.start = next;
      // 1xx answers (100 Continue, which we never ask for) precede the real one.
      if (head.status >= 200 || head.status === 101) return head;
    }
  }

  /** Exactly `n` bytes of the answer into `out` from `at`, buffered bytes first, then straight from the socket. */
  async function readInto(s: Socket, out: Uint8Array, at: number, n: number): Promise<void> {
    const buffered = Math.min(n, s.end - s.start);
    out.set(s.buf.subarray(s.start, s.start + buffered), at);
    s.start += buffered;
    let done = buffered;
    while (done < n) {
      const got = await s.conn.read(out.subarray(at + done, at + n));
      if (got === null) throw protocolError(`the connection closed ${n - done} bytes before the body's end`);
      s.moved = true;
      done += got;
    }
  }

  /** A body declared by Content-Length that is already in the socket's buffer, whole. */
  function buffered(s: Socket, req: Http1Request, head: Head): Uint8Array {
    const body = new Uint8Array(checkedLength(req, head.status, head.length));
    body.set(s.buf.subarray(s.start, s.start + body.length));
    s.start += body.length;
    return body;
  }

  async function readChunked(s: Socket): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const sizeLine = await line(s);
      const m = /^([0-9a-fA-F]{1,8})(?:;.*)?$/.exec(sizeLine);
      if (m === null) throw protocolError(`chunk size ${JSON.stringify(sizeLine.slice(0, 40))}`);
      const size = parseInt(m[1]!, 16);
      if (size === 0) break;
      total += size;
      if (total > MAX_CHUNKED_BYTES) throw protocolError(`a chunked body over ${MAX_CHUNKED_BYTES} bytes`);
      const chunk = new Uint8Array(size);
      await readInto(s, chunk, 0, size);
      chunks.push(chunk);
      if (await line(s) !== "") throw protocolError("a chunk not followed by CRLF");
    }
    while (await line(s) !== ""); // trailers
    return concat(chunks);
  }

  async function readBody(s: Socket, req: Http1Request, head: Head): Promise<Uint8Array> {
    if (bodiless(req, head)) return EMPTY;
    if (head.chunked) return await readChunked(s);
    if (head.length === -1) {
      // Delimited by the connection's close (HTTP/1.0 style): only error answers do that, so bound it.
      const chunks: Uint8Array[] = [s.buf.slice(s.start, s.end)];
      s.start = s.end;
      let total = chunks[0]!.length;
      while (await fill(s)) {
        total += s.end - s.start;
        if (total > MAX_CHUNKED_BYTES) {
          throw protocolError(`an unframed body over ${MAX_CHUNKED_BYTES} bytes`);
        }
        chunks.push(s.buf.slice(s.start, s.end));
        s.start = s.end;
      }
      return concat(chunks);
    }
    if (head.length < 0) {
      const length = lookup(head.lines).get("content-length") ?? "";
      throw protocolError(`content-length ${JSON.stringify(length.slice(0, 40))}`);
    }
    const body = new Uint8Array(checkedLength(req, head.status, head.length));
    await readInto(s, body, 0, body.length);
    return body;
  }

  /** `declared`, unless it is more than a whole-body read may allocate or not the length the caller expects. */
  function checkedLength(req: Http1Request, status: number, declared: number): number {
    const ok = status >= 200 && status < 300;
    if (ok && req.expectedLength !== undefined && declared !== req.expectedLength) {
      throw lengthRefused(
        req,
        hostAndPort(o),
        declared,
        `but the index says the object has ${req.expectedLength}`,
        "the object under this key is not the one indexed; run `housekeeping verify`",
      );
    }
    const limit = ok ? MAX_BODY_BYTES : MAX_CHUNKED_BYTES;
    if (declared > limit) {
      const what = ok ? "the largest object an archive holds" : "any error answer of S3";
      throw lengthRefused(
        req,
        hostAndPort(o),
        declared,
        `more than ${what} (${limit} bytes)`,
        "check that S3_ENDPOINT is S3 itself and that nothing between rewrites its answers",
      );
    }
    return declared;
  }

  /**
   * The request's head, then its body: small pieces ride with the head or with each other in `s.out` (one write,
   * one op, one packet); large ones go out as they are, never copied.
   */
  async function send(s: Socket, req: Http1Request): Promise<void> {
    let text = req.method + " " + req.target + " HTTP/1.1\r\n" + hostHeader;
    for (const header of req.headers) text += "\r\n" + header;
    text += "\r\n\r\n";
    let encoded = encoder.encodeInto(text, s.out);
    // Whether all of it went in is told by the characters read: a head with multi-byte characters writes more
    // bytes than it has characters even when it was cut short.
    if (encoded.read < text.length) {
      // Longer than the socket's buffer: a head this long is rare enough to get its own array.
      s.out = new Uint8Array(Math.max(OUT_BYTES, text.length * 3));
      encoded = encoder.encodeInto(text, s.out);
    }
    let written = encoded.written;
    if (req.body !== undefined) {
      for (const piece of req.body) {
        if (piece.length >= COALESCE_BELOW) {
          if (written > 0) await writeAll(s, s.out.subarray(0, written));
          written = 0;
          await writeAll(s, piece);
          continue;
        }
        if (written + piece.length > s.out.length) {
          await writeAll(s, s.out.subarray(0, written));
          written = 0;
        }
        s.out.set(piece, written);
        written += piece.length;
      }
    }
    if (written === 0) return;
    // Most often the only write of the request, and whole at once: no further async frame for it.
    const sent = await s.conn.write(s.out.subarray(0, written));
    s.moved = true;
    if (sent < written) await writeAll(s, s.out.subarray(sent, written));
  }

  async function writeAll(s: Socket, bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length;) {
      at += await s.conn.write(at === 0 ? bytes : bytes.subarray(at));
      s.moved = true;
    }
  }

  /** One exchange on `s`, watched until its answer is whole or handed over as a stream. */
  async function exchange(s: Socket, req: Http1Request): Promise<Http1Response> {
    watch(s);
    try {
      await send(s, req);
      const head = await readHead(s);
      const keep = !head.http10 && !head.close;
      if (req.stream && head.status >= 200 && head.status < 300 && head.length >= 0 && !head.chunked) {
        watching.delete(s);
        return answer(head, EMPTY, bodyStream(s, head.length, keep));
      }
      // A small body has most often arrived with its head: taken without another await.
      const whole = head.length >= 0 && !head.chunked && !bodiless(req, head) &&
        s.end - s.start >= head.length;
      const body = whole ? buffered(s, req, head) : await readBody(s, req, head);
      // Unwatched before it is pooled: the next request on it watches it again.
      watching.delete(s);
      // A body delimited by the connection's close leaves nothing to reuse.
      release(s, keep && s.start === s.end && (head.length !== -1 || head.chunked || bodiless(req, head)));
      return answer(head, body, undefined);
    } catch (e) {
      watching.delete(s);
      try {
        s.conn.close();
      } catch { /* closed already */ }
      if (s.timedOut) throw timeoutError(`${req.method} ${req.target}: no answer`, o.idleMs);
      throw e;
    }
  }

  function release(s: Socket, reusable: boolean): void {
    if (reusable && !closed && idle.length < o.maxIdle) idle.push(s);
    else s.conn.close();
  }

  /**
   * The next `length` bytes of `s` as a stream, in chunks of at most STREAM_CHUNK: the socket is the stream's
   * until its last byte (then pooled again) or until it is cancelled or fails (then closed). Its reader bounds the
   * waits (lib/store/s3_objects.ts's `checked`).
   */
  function bodyStream(s: Socket, length: number, reusable: boolean): ReadableStream<Uint8Array> {
    let left = length;
    let done = false;
    const finish = (pooled: boolean) => {
      if (done) return;
      done = true;
      if (pooled) release(s, reusable && s.start === s.end);
      else {
        try {
          s.conn.close();
        } catch { /* closed already */ }
      }
    };
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          if (left > 0 && s.end > s.start) {
            const n = Math.min(left, s.end - s.start);
            controller.enqueue(s.buf.slice(s.start, s.start + n));
            s.start += n;
            left -= n;
          } else if (left > 0) {
            const chunk = new Uint8Array(Math.min(left, STREAM_CHUNK));
            const got = await s.conn.read(chunk);
            if (got === null) {
              throw protocolError(`the connection closed ${left} bytes before the body's end`);
            }
            left -= got;
            controller.enqueue(got === chunk.length ? chunk : chunk.subarray(0, got));
          }
          if (left === 0) {
            finish(true);
            controller.close();
          }
        } catch (e) {
          finish(false);
          throw e;
        }
      },
      cancel: () => finish(false),
    });
  }

  // The sockets of requests under way, checked by one sweep every tick (a tenth of idleMs) rather than a timer set
  // and cleared per request: a socket silent for idleMs since a sweep last saw it move (or saw its request new) is
  // closed, which fails its request. The silence is counted from that sweep, after the bytes moved or the request
  // began: never early, at most two ticks late. The sweep stops itself once it finds nothing to watch, so
  // sequential requests do not set it again each.
  const watching = new Set<Socket>();
  const tick = Math.max(5, o.idleMs / 10);
  let sweeper: ReturnType<typeof setInterval> | undefined;

  function watch(s: Socket): void {
    s.moved = false;
    s.timedOut = false;
    // No clock read per request: the first sweep that sees the request counts its silence from then.
    s.quietSince = -1;
    watching.add(s);
    if (sweeper === undefined) {
      sweeper = setInterval(sweep, tick);
      // A process whose work is done does not wait for the sweep's last tick.
      Deno.unrefTimer(sweeper);
    }
  }

  function sweep(): void {
    if (watching.size === 0) return stopSweep();
    const now = performance.now();
    for (const s of watching) {
      if (s.moved || s.quietSince < 0) {
        s.moved = false;
        s.quietSince = now;
      } else if (now - s.quietSince >= o.idleMs) {
        s.timedOut = true;
        watching.delete(s);
        try {
          s.conn.close();
        } catch { /* closed already */ }
      }
    }
  }

  function stopSweep(): void {
    clearInterval(sweeper);
    sweeper = undefined;
  }

  async function connectWithin(ms: number, what: string): Promise<Socket> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const connecting = connect();
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timeoutError(`${what}: no connection`, ms)), ms);
    });
    try {
      return await Promise.race([connecting, late]);
    } catch (e) {
      connecting.then((s) => s.conn.close(), () => {});
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    async request(req: Http1Request): Promise<Http1Response> {
      if (closed) throw socketError("the store is closed", "ECONNRESET");
      const reused = idle.pop();
      if (reused !== undefined) {
        try {
          return await exchange(reused, req);
        } catch (e) {
          // The server may have closed the idle socket as we took it: one more try on a new one.
          if (!isStale(e)) throw e;
        }
      }
      return await exchange(await connectWithin(o.idleMs, `${req.method} ${req.target}`), req);
    },
    close() {
      closed = true;
      if (sweeper !== undefined) stopSweep();
      for (const s of idle.splice(0)) {
        try {
          s.conn.close();
        } catch { /* closed already */ }
      }
    },
  };
}

const EMPTY = new Uint8Array(0);
/** A socket's own buffer for a request's head and the small body pieces written with it. */
const OUT_BYTES = 2 * COALESCE_BELOW;

/** Whether an answer has no body whatever its head declares (RFC 9112 section 6.3). */
function bodiless(req: Http1Request, head: Head): boolean {
  return req.method === "HEAD" || head.status === 204 || head.status === 304;
}

function answer(head: Head, body: Uint8Array, stream: ReadableStream<Uint8Array> | undefined): Http1Response {
  const a: Http1Response = { status: head.status, headers: lookup(head.lines), body };
  if (stream !== undefined) a.stream = stream;
  return a;
}

// A header is looked up in the head's lines (copied out of the socket's buffer) when a caller asks for it, and
// only its value is made a string: a map of every header cost more than the rest of reading the head, and the
// callers read two or three headers (a PUT's none).
const lookupShape = {
  get(this: { lines: Uint8Array }, name: string): string | undefined {
    const buf = this.lines;
    let value: string | undefined;
    for (let at = 0; at < buf.length;) {
      let lf = at;
      while (lf < buf.length && buf[lf] !== 0x0a) lf++;
      const end = lf > at && buf[lf - 1] === 0x0d ? lf - 1 : lf;
      if (buf[at + name.length] === 0x3a && named(buf, at, name)) {
        value = valueOf(buf, at + name.length + 1, end);
      }
      at = lf + 1;
    }
    return value;
  },
};

function lookup(lines: Uint8Array): HeaderLookup {
  const l = Object.create(lookupShape) as { lines: Uint8Array } & HeaderLookup;
  l.lines = lines;
  return l;
}

/** buf[from, to) without the whitespace String.prototype.trim takes off, as latin1 text. */
function valueOf(buf: Uint8Array, from: number, to: number): string {
  while (from < to && isSpace(buf[from]!)) from++;
  while (to > from && isSpace(buf[to - 1]!)) to--;
  let text = "";
  for (let i = from; i < to; i++) {
    // TextDecoder's latin1 is windows-1252 (0x80-0x9f differ), and long values are cheaper decoded in one piece.
    if (buf[i]! >= 0x80 || to - from > 64) return latin1.decode(buf.subarray(from, to));
    text += String.fromCharCode(buf[i]!);
  }
  return text;
}

function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0;
}

/** RFC 9110's tchar: the bytes a header's name may have (no whitespace before its colon, RFC 9112 section 5.1). */
const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TOKEN[c.charCodeAt(0)] = 1;
}

/**
 * The head that begins at buf[from] and whose empty line headEnd found: its status line and header lines checked,
 * and what framing needs read from the bytes (the last Content-Length, Transfer-Encoding and Connection), with no
 * string made of them.
 */
function parseHead(buf: Uint8Array, from: number): Head {
  let lf = from;
  while (buf[lf] !== 0x0a) lf++;
  const status = statusOf(buf, from, lf > from && buf[lf - 1] === 0x0d ? lf - 1 : lf);
  const head: Head = {
    status,
    http10: buf[from + 7] === 0x30,
    length: -1,
    chunked: false,
    close: false,
    lines: EMPTY,
  };
  const first = lf + 1;
  let last = first;
  for (let at = first;; at = lf + 1) {
    lf = at;
    let colon = -1;
    for (let c = buf[lf]; c !== 0x0a; c = buf[++lf]) if (c === 0x3a && colon < 0) colon = lf;
    const end = lf > at && buf[lf - 1] === 0x0d ? lf - 1 : lf;
    if (end === at) break;
    if (colon <= at || colon >= end || !token(buf, at, colon)) {
      throw protocolError(`header line ${JSON.stringify(latin1.decode(buf.subarray(at, end)).slice(0, 80))}`);
    }
    let v = colon + 1;
    let w = end;
    while (v < w && isSpace(buf[v]!)) v++;
    while (w > v && isSpace(buf[w - 1]!)) w--;
    const n = colon - at;
    if (n === 14 && named(buf, at, "content-length")) head.length = digits(buf, v, w);
    else if (n === 17 && named(buf, at, "transfer-encoding")) head.chunked = holds(buf, v, w, "chunked");
    else if (n === 10 && named(buf, at, "connection")) head.close = holds(buf, v, w, "close");
    last = end;
  }
  if (last > first) head.lines = buf.slice(first, last);
  return head;
}

/** The status of a line `HTTP/1.x NNN[ reason]`; anything else is a protocol error. */
function statusOf(buf: Uint8Array, from: number, to: number): number {
  let cr = from;
  while (cr < to && buf[cr] !== 0x0d) cr++;
  const ok = to - from >= 12 && exactly(buf, from, HTTP1) &&
    (buf[from + 7] === 0x30 || buf[from + 7] === 0x31) && buf[from + 8] === 0x20 && isDigit(buf[from + 9]!) &&
    isDigit(buf[from + 10]!) && isDigit(buf[from + 11]!) &&
    // A reason phrase after a space, without a CR of its own (as the line regex of before took it).
    (to - from === 12 || buf[from + 12] === 0x20) && cr === to;
  if (!ok) {
    throw protocolError(`status line ${JSON.stringify(latin1.decode(buf.subarray(from, to)).slice(0, 80))}`);
  }
  return (buf[from + 9]! - 0x30) * 100 + (buf[from + 10]! - 0x30) * 10 + buf[from + 11]! - 0x30;
}

const HTTP1 = "HTTP/1.";

function exactly(buf: Uint8Array, at: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) if (buf[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function token(buf: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (TOKEN[buf[i]!] === 0) return false;
  return true;
}

/** Whether buf[at..] begins with `lower` (ASCII letters, digits and punctuation), letters in either case. */
function named(buf: Uint8Array, at: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    const c = buf[at + i]!;
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** buf[from, to) as a decimal of 1-15 digits; -2 when it is not one. */
function digits(buf: Uint8Array, from: number, to: number): number {
  if (to <= from || to - from > 15) return -2;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = buf[i]!;
    if (!isDigit(c)) return -2;
    n = n * 10 + c - 0x30;
  }
  return n;
}

/** Whether buf[from, to) holds `lower` anywhere, in either case. */
function holds(buf: Uint8Array, from: number, to: number, lower: string): boolean {
  for (let i = from; i + lower.length <= to; i++) if (named(buf, i, lower)) return true;
  return false;
}

function isStale(e: unknown): boolean {
  if (!(e instanceof Error) || e.name === "TimeoutError") return false;
  return e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.BrokenPipe ||
    e instanceof Deno.errors.UnexpectedEof || e instanceof Deno.errors.BadResource ||
    (e as { code?: string }).code === "ECONNRESET";
}

function hostAndPort(o: Http1Options): string {
  const standard = o.protocol === "https:" ? 443 : 80;
  return o.port === standard ? o.hostname : `${o.hostname}:${o.port}`;
}

function timeoutError(what: string, ms: number): Error {
  const error = new Error(`${what} within ${ms} ms`);
  error.name = "TimeoutError";
  return error;
}

/**
 * Where the head in buf[from, to) ends: the first byte after its empty line (a bare LF is taken for a CRLF, as
 * RFC 9112 allows); -1 until the empty line has arrived.
 */
function headEnd(buf: Uint8Array, from: number, to: number): number {
  for (let lf = from; lf < to; lf++) {
    if (buf[lf] !== 0x0a) continue;
    const after = buf[lf + 1] === 0x0d ? lf + 2 : lf + 1;
    if (after >= to) return -1;
    if (buf[after] === 0x0a) return after + 1;
  }
  return -1;
}
