// serve's public socket. Deno.serve (2.9) has no header-read or idle timeout: a client that connects and sends
// nothing, or half a request head, holds its connection for good, and a body nobody asked for (after a 401, a 413)
// is read to its end. So we accept TCP ourselves and enforce the deadlines:
// - each request head must be complete within `headerTimeoutMs` of the connection opening, or of the previous
//   answer's end;
// - while a request is under way, a connection on which no byte moves either way for `idleTimeoutMs` is closed;
// - requests are framed here (lib/serve/request_framing.ts; ambiguous framing is a 400 and the connection
//   closes) and handled one at a time, in the order they came, so that the client may send the next request on the
//   same connection (keep-alive, pipelining) and no byte of one request can be read as part of another;
// - a bodiless HTTP/1.1 GET or HEAD (every read: messages, listings, pages) is answered here directly: the handler
//   gets a Request built from the framed head and its Response is written with our own framing
//   (lib/serve/answer.ts). A second hop through Deno.serve cost more than the index lookup and the store GET
//   together;
// - anything else (a request with a body, HTTP/1.0, another method) goes to Deno.serve, which listens on a Unix
//   socket in a private directory, over a fresh connection per request; once its final answer starts, what the
//   client still sends of an unfinished body is dropped (at most DISCARD_BYTES), and the connection closes when
//   the answer is sent.
import { concat } from "../runtime/bytes.ts";
import type { Logger } from "../runtime/log.ts";
import { type AnswerFraming, answerFraming } from "./framing.ts";
import { type BodyFraming, type RequestFraming, requestFraming } from "./request_framing.ts";
import { type AnswerEnd, writeAnswer } from "./answer.ts";

export interface ListenerLimits {
  /** From accepting a connection to the end of its request head. */
  headerTimeoutMs: number;
  /** No byte either way for this long, once the head is in: closed. Above the handler's own deadlines. */
  idleTimeoutMs: number;
}

export const LISTENER_LIMITS: ListenerLimits = { headerTimeoutMs: 30_000, idleTimeoutMs: 120_000 };

const HEAD_END = new Uint8Array([13, 10, 13, 10]);
// A longer head is refused (431).
const MAX_HEAD_SCAN = 64 * 1024;
const CHUNK = 64 * 1024;

function indexOfHeadEnd(buf: Uint8Array, from: number): number {
  outer: for (let i = Math.max(0, from - 3); i + 4 <= buf.length; i++) {
    for (let j = 0; j < 4; j++) if (buf[i + j] !== HEAD_END[j]) continue outer;
    return i + 4;
  }
  return -1;
}

/** The head (through its blank line) and the bytes read past it; null when the client closes first. */
async function readHead(
  conn: Deno.Conn,
  pending: Uint8Array,
  chunk: Uint8Array,
): Promise<{ head: Uint8Array; rest: Uint8Array } | "too_large" | null> {
  let buf: Uint8Array = pending;
  let end = indexOfHeadEnd(buf, 0);
  while (end < 0) {
    if (buf.length >= MAX_HEAD_SCAN) return "too_large";
    const n = await conn.read(chunk);
    if (n === null) return null;
    const from = buf.length;
    buf = concat([buf, chunk.subarray(0, n)]);
    end = indexOfHeadEnd(buf, from);
  }
  return { head: buf.subarray(0, end), rest: buf.slice(end) };
}

function refusal(status: string, why: string): Uint8Array {
  const body = `${status}: ${why}\n`;
  return new TextEncoder().encode(
    `HTTP/1.1 ${status}\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n` +
      `content-length: ${body.length}\r\n\r\n${body}`,
  );
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

// After the answer: the client's side is half-closed (it sees the end of the answer) and what it still sends is
// read and dropped for a moment, so that closing does not reset the connection under the answer's last bytes.
const LINGER_MS = 2_000;
// What a refused body may cost us: this much is read and dropped, then nothing more.
const DISCARD_BYTES = 1 << 20;

interface Relay {
  done: Promise<void>;
  /** Closes the connection unless a request is in progress on it (shutdown: idle ones need not wait). */
  closeIfIdle(): void;
  /** Closes the connection if its deadline (performance.now()) is past. */
  sweep(now: number): void;
}

type Inner = { connect(): Promise<Deno.Conn> };
type Handler = (req: Request) => Response | Promise<Response>;
type Framed = Extract<RequestFraming, { ok: true }>;

// A Host a URL can carry as its authority and nothing else: no `/`, `@`, `?` or `#` that would move the path.
const HOST =
  /^(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*(?::\d{0,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{0,5})?$/;

/** The Request the handler gets for a framed head, as Deno.serve would build it; null: not a valid target. */
function toRequest(request: Framed, ownHost: string): Request | null {
  const host = request.fields.find(([name]) => name.length === 4 && name.toLowerCase() === "host")?.[1];
  if (host !== undefined && !HOST.test(host)) return null;
  const target = request.target;
  const url = target.startsWith("/")
    ? `http://${host ?? ownHost}${target}`
    : /^https?:\/\//i.test(target)
    ? target
    : null;
  if (url === null) return null;
  try {
    return new Request(url, { method: request.method, headers: request.fields });
  } catch {
    return null;
  }
}

/** Answered here, not by Deno.serve: nothing follows the head, and `new Request` keeps the method as sent. */
function direct(request: Framed): boolean {
  return request.bodyless && request.http11 && (request.method === "GET" || request.method === "HEAD");
}

function serverError(): Response {
  return new Response("Internal Server Error\n", {
    status: 500,
    headers: { "content-type": "text/plain; charset=utf-8", connection: "close" },
  });
}

function relay(
  client: Deno.Conn,
  target: Inner,
  limits: ListenerLimits,
  handler: Handler,
  ownHost: string,
): Relay {
  let inner: Deno.Conn | null = null;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    clearTimeout(lingering);
    for (const c of [client, inner]) {
      try {
        c?.close();
      } catch { /* already closed */ }
    }
  };
  // The deadlines are times, checked by the listener's sweep (see `listen`): a timer set and cleared two or three
  // times per request cost more than the framing. Infinity: none (lingering has its own timer).
  let deadline = performance.now() + limits.headerTimeoutMs;
  let lingering: ReturnType<typeof setTimeout> | undefined;
  const touch = () => {
    deadline = performance.now() + limits.idleTimeoutMs;
  };
  // Bytes the client sent past the current request: the start of its next one, held until this one is answered.
  let pending: Uint8Array = new Uint8Array(0);
  let busy = false;
  // Shutting down: the request under way is answered, then the connection closes.
  let draining = false;
  // One buffer each way for the connection's life, not two per request.
  const fromClient = new Uint8Array(CHUNK);
  const fromDeno = new Uint8Array(CHUNK);

  // The request's body to Deno, as far as its framing says and no further. Once the final answer starts on an
  // unfinished body, the rest is dropped (a refused body), within a budget. True when the whole body went.
  async function upstream(
    conn: Deno.Conn,
    body: BodyFraming,
    rest: Uint8Array,
    answer: AnswerFraming,
  ): Promise<boolean> {
    const chunk = fromClient;
    let buf = rest;
    for (;;) {
      if (buf.length > 0) {
        const end = body.feed(buf, 0);
        if (body.broken) return false;
        await writeAll(conn, buf.subarray(0, end));
        if (body.complete) {
          pending = buf.slice(end);
          return true;
        }
      } else if (body.complete) return true;
      if (answer.started) break;
      const n = await client.read(chunk);
      if (n === null) return false;
      touch();
      buf = chunk.subarray(0, n);
    }
    for (let dropped = 0; dropped <= DISCARD_BYTES;) {
      const n = await client.read(chunk);
      if (n === null) break;
      dropped += n;
    }
    return false;
  }

  async function downstream(conn: Deno.Conn, answer: AnswerFraming): Promise<void> {
    const chunk = fromDeno;
    while (!answer.complete) {
      const n = await conn.read(chunk);
      if (n === null) return;
      touch();
      answer.feed(chunk.subarray(0, n));
      await writeAll(client, chunk.subarray(0, n));
    }
  }

  // Reads and drops what the client still sends, for a moment and up to DISCARD_BYTES, after our side closed.
  async function linger(): Promise<void> {
    await client.closeWrite();
    deadline = Infinity;
    const drop = (async () => {
      for (let dropped = 0; dropped <= DISCARD_BYTES;) {
        const n = await client.read(fromClient);
        if (n === null) return;
        dropped += n;
      }
    })().catch(() => {});
    await Promise.race([drop, new Promise((r) => lingering = setTimeout(r, LINGER_MS))]);
  }

  // A bodiless request answered here; what the client sent past its head is the next request. True: keep going.
  async function answerHere(request: Framed, rest: Uint8Array): Promise<boolean> {
    pending = rest;
    const req = toRequest(request, ownHost);
    if (req === null) {
      await writeAll(client, refusal("400 Bad Request", "malformed request target or Host"));
      return false;
    }
    let resp: Response;
    try {
      resp = await handler(req);
    } catch {
      resp = serverError();
    }
    const sink = {
      write: async (bytes: Uint8Array) => {
        await writeAll(client, bytes);
        touch();
      },
    };
    const options = { head: request.head };
    let end: AnswerEnd;
    try {
      end = await writeAnswer(sink, resp, options, !request.keepAlive);
    } catch {
      return false; // the client went away
    }
    if (end === null) return true;
    if (end === "closes") await linger();
    return false;
  }

  // One request and its answer; true when the connection may carry the next request.
  async function exchange(head: Uint8Array, rest: Uint8Array): Promise<boolean> {
    const request = requestFraming(head);
    if (!request.ok) {
      await writeAll(client, refusal("400 Bad Request", request.reason));
      return false;
    }
    if (direct(request)) return await answerHere(request, rest);
    const answer = answerFraming(request.head);
    inner = await target.connect();
    await writeAll(inner, head);
    let sent = false;
    const up = upstream(inner, request.body, rest, answer).then((whole) => sent = whole, () => {});
    await downstream(inner, answer);
    if (sent && answer.complete && request.keepAlive && !answer.closes) {
      inner.close();
      inner = null;
      return true;
    }
    await client.closeWrite();
    deadline = Infinity;
    await Promise.race([up, new Promise((r) => lingering = setTimeout(r, LINGER_MS))]);
    return false;
  }

  const done = (async () => {
    try {
      for (;;) {
        const got = await readHead(client, pending, fromClient);
        pending = new Uint8Array(0); // now in got.rest
        if (got === null || closed) return;
        busy = true;
        touch();
        if (got === "too_large") {
          await writeAll(
            client,
            refusal("431 Request Header Fields Too Large", "the request head is too long"),
          );
          return;
        }
        if (!await exchange(got.head, got.rest) || draining) return;
        busy = false;
        deadline = performance.now() + limits.headerTimeoutMs;
      }
    } catch {
      // A reset or a closed peer: nothing to answer.
    } finally {
      close();
    }
  })();
  return {
    done,
    closeIfIdle: () => {
      draining = true;
      if (!busy) close();
    },
    sweep: (now) => {
      if (now >= deadline) close();
    },
  };
}

export interface Listener {
  readonly port: number;
  readonly finished: Promise<void>;
  shutdown(): Promise<void>;
}

/** `handler` behind the deadlines above, on `hostname:port` (0: any free port). */
export async function listen(
  options: { hostname: string; port: number; signal?: AbortSignal; limits?: ListenerLimits; log: Logger },
  handler: Handler,
): Promise<Listener> {
  const limits = options.limits ?? LISTENER_LIMITS;
  // First, so that a port in use fails before anything else is set up (lib/runtime/http.ts's listenError).
  const socket = Deno.listen({ hostname: options.hostname, port: options.port });
  // A Unix socket in a private directory: nobody else can reach Deno.serve around the deadlines. Where no directory
  // can be made (a read-only file system), loopback TCP on a free port.
  const dir = await Deno.makeTempDir({ prefix: "housekeeping-serve-" }).catch(() => null);
  const path = dir === null ? null : `${dir}/http.sock`;
  const inner = path !== null
    ? Deno.serve({ path, onListen: () => {} }, handler)
    : Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  const target: Inner = path !== null
    ? { connect: () => Deno.connect({ transport: "unix", path }) }
    : { connect: () => Deno.connect({ hostname: "127.0.0.1", port: (inner.addr as Deno.NetAddr).port }) };
  const open = new Set<Relay>();
  // One timer for every connection's deadline while any is open, a twentieth of the shorter limit apart: a
  // connection is closed at most that late, never early.
  const tick = Math.max(10, Math.min(limits.headerTimeoutMs, limits.idleTimeoutMs) / 20);
  let sweeper: ReturnType<typeof setInterval> | undefined;
  const sweep = () => {
    const now = performance.now();
    for (const r of open) r.sweep(now);
  };
  // Deno.serve's choice for a request without a Host (HTTP/1.1 requires one).
  const ownHost = `localhost:${(socket.addr as Deno.NetAddr).port}`;
  const accepting = (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await socket.accept();
      } catch {
        return; // closed: shutting down
      }
      (conn as Deno.TcpConn).setNoDelay(true);
      const r = relay(conn, target, limits, handler, ownHost);
      open.add(r);
      sweeper ??= setInterval(sweep, tick);
      r.done.finally(() => {
        open.delete(r);
        if (open.size === 0 && sweeper !== undefined) {
          clearInterval(sweeper);
          sweeper = undefined;
        }
      });
    }
  })();
  let stopping: Promise<void> | null = null;
  // Requests in progress are answered; connections that have not sent a request yet are closed.
  const shutdown = () =>
    stopping ??= (async () => {
      socket.close();
      await accepting;
      for (const r of open) r.closeIfIdle();
      await Promise.allSettled([...open].map((r) => r.done));
      await inner.shutdown();
      if (dir !== null) await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();
  let finish: () => void;
  const finished = new Promise<void>((resolve) => finish = resolve);
  options.signal?.addEventListener("abort", () => void shutdown().then(finish), { once: true });
  options.log.info("serve listening", {
    hostname: options.hostname,
    port: (socket.addr as Deno.NetAddr).port,
  });
  return {
    port: (socket.addr as Deno.NetAddr).port,
    finished,
    shutdown: () => shutdown().then(finish),
  };
}
