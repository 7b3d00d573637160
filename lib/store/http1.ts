// A small HTTP/1.1 client over Deno's own sockets, for the store's object GET, PUT and HEAD (lib/store/s3_objects.ts).
// Through fetch, a request cost ~0.2-0.4 ms of the JS thread's CPU of its own (Request, Headers, abort signals,
// body streams, a copy of every Uint8Array body) and its copies of 64 KiB bodies were a fifth of the archiver's
// CPU in GC (issue 26). Here a request is one write of its head, one write per body piece (an archive object is
// sent as it was encoded: prefix, the record's own value bytes, suffix; never joined) and reads straight into the
// array the caller gets. Keep-alive sockets are pooled; a request that finds its idle socket closed by the server
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
  /** Lower-case names; a repeated header keeps its last value (S3 repeats none that we read). */
  headers: Map<string, string>;
  body: Uint8Array;
  /** A streamed GET's body (Http1Request.stream), in place of `body`; whoever gets it must read or cancel it. */
  stream?: ReadableStream<Uint8Array>;
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
  /** Set by every read or write that moved bytes; the request's watchdog clears it. */
  moved: boolean;
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
    return { conn, buf: new Uint8Array(READ_CHUNK), start: 0, end: 0, moved: false };
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

  /** The answer's head (status line, header lines), decoded in one piece once its empty line has arrived. */
  async function headLines(s: Socket): Promise<string[]> {
    for (let searched = 0;;) {
      const end = headEnd(s.buf, s.start + Math.max(0, searched - 2), s.end);
      if (end !== null) {
        const text = latin1.decode(s.buf.subarray(s.start, end.head));
        s.start = end.next;
        return text.split(/\r?\n/);
      }
      searched = s.end - s.start;
      if (searched > MAX_HEAD_BYTES) throw protocolError(`a head longer than ${MAX_HEAD_BYTES} bytes`);
      if (!await fill(s)) throw protocolError("the connection closed within the answer's head");
    }
  }

  async function readHead(
    s: Socket,
  ): Promise<{ status: number; headers: Map<string, string>; http10: boolean }> {
    for (;;) {
      const [statusLine, ...lines] = await headLines(s);
      const m = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(statusLine!);
      if (m === null) throw protocolError(`status line ${JSON.stringify(statusLine!.slice(0, 80))}`);
      const headers = new Map<string, string>();
      for (const text of lines) {
        const colon = text.indexOf(":");
        if (colon <= 0) throw protocolError(`header line ${JSON.stringify(text.slice(0, 80))}`);
        headers.set(text.slice(0, colon).trim().toLowerCase(), text.slice(colon + 1).trim());
      }
      const status = Number(m[2]);
      // 1xx answers (100 Continue, which we never ask for) precede the real one.
      if (status >= 200 || status === 101) return { status, headers, http10: m[1] === "0" };
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

  async function readBody(s: Socket, req: Http1Request, status: number, headers: Map<string, string>) {
    if (req.method === "HEAD" || status === 204 || status === 304) {
      return { body: new Uint8Array(0), reusable: true };
    }
    if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) {
      return { body: await readChunked(s), reusable: true };
    }
    const length = headers.get("content-length");
    if (length === undefined) {
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
      return { body: concat(chunks), reusable: false };
    }
    if (!/^\d{1,15}$/.test(length)) {
      throw protocolError(`content-length ${JSON.stringify(length.slice(0, 40))}`);
    }
    const body = new Uint8Array(checkedLength(req, status, Number(length)));
    await readInto(s, body, 0, body.length);
    return { body, reusable: true };
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

  async function send(s: Socket, req: Http1Request): Promise<void> {
    const head = encoder.encode(
      `${[`${req.method} ${req.target} HTTP/1.1`, hostHeader, ...req.headers].join("\r\n")}\r\n\r\n`,
    );
    // Small pieces ride with the head or with each other (one write, one op, one packet); large ones go out as
    // they are, never copied.
    let pending: Uint8Array[] = [head];
    const flush = async () => {
      if (pending.length === 0) return;
      await writeAll(s, concat(pending));
      pending = [];
    };
    for (const piece of req.body ?? []) {
      if (piece.length >= COALESCE_BELOW) {
        await flush();
        await writeAll(s, piece);
      } else {
        pending.push(piece);
      }
    }
    await flush();
  }

  async function writeAll(s: Socket, bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length;) {
      at += await s.conn.write(at === 0 ? bytes : bytes.subarray(at));
      s.moved = true;
    }
  }

  /** One exchange on `s`; `fresh` says whether a failure before any answer may be a stale keep-alive socket. */
  async function exchange(s: Socket, req: Http1Request): Promise<Http1Response> {
    await send(s, req);
    const { status, headers, http10 } = await readHead(s);
    const keep = () => !http10 && !/close/i.test(headers.get("connection") ?? "");
    const length = headers.get("content-length");
    if (
      req.stream && status >= 200 && status < 300 && length !== undefined && /^\d{1,15}$/.test(length) &&
      !/chunked/i.test(headers.get("transfer-encoding") ?? "")
    ) {
      return { status, headers, body: new Uint8Array(0), stream: bodyStream(s, Number(length), keep()) };
    }
    const { body, reusable } = await readBody(s, req, status, headers);
    release(s, reusable && keep() && s.start === s.end);
    return { status, headers, body };
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

  /** Runs `work` on `s`, failing it when nothing moves on the socket for `idleMs` (the socket is closed then). */
  async function watched<T>(s: Socket | null, work: (s: Socket) => Promise<T>, what: string): Promise<T> {
    let socket = s;
    let timedOut = false;
    const timer = setInterval(() => {
      if (socket === null) return;
      if (socket.moved) {
        socket.moved = false;
        return;
      }
      timedOut = true;
      try {
        socket.conn.close();
      } catch { /* closed already */ }
    }, o.idleMs);
    try {
      socket ??= await connectWithin(o.idleMs, what);
      socket.moved = false;
      return await work(socket);
    } catch (e) {
      if (socket !== null) {
        try {
          socket.conn.close();
        } catch { /* closed already */ }
      }
      if (timedOut) throw timeoutError(`${what}: no answer`, o.idleMs);
      throw e;
    } finally {
      clearInterval(timer);
    }
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
      const what = `${req.method} ${req.target}`;
      const reused = idle.pop();
      if (reused !== undefined) {
        try {
          return await watched(reused, (s) => exchange(s, req), what);
        } catch (e) {
          // The server may have closed the idle socket as we took it: one more try on a new one.
          if (!isStale(e)) throw e;
        }
      }
      return await watched(null, (s) => exchange(s, req), what);
    },
    close() {
      closed = true;
      for (const s of idle.splice(0)) {
        try {
          s.conn.close();
        } catch { /* closed already */ }
      }
    },
  };
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
 * Where the head in buf[from, to) ends: `head`, the end of its last line (before that line's CRLF), and `next`, the
 * first byte after the empty line. A bare LF is taken for a CRLF, as RFC 9112 allows. Null until the empty line.
 */
function headEnd(buf: Uint8Array, from: number, to: number): { head: number; next: number } | null {
  for (let i = buf.subarray(from, to).indexOf(0x0a); i >= 0; i = buf.subarray(from, to).indexOf(0x0a)) {
    const lf = from + i;
    const after = buf[lf + 1] === 0x0d ? lf + 2 : lf + 1;
    if (after >= to) return null;
    if (buf[after] === 0x0a) return { head: buf[lf - 1] === 0x0d ? lf - 1 : lf, next: after + 1 };
    from = lf + 1;
  }
  return null;
}
