// serve's public socket. Deno.serve (2.9) has no header-read or idle timeout: a client that connects and sends
// nothing, or half a request head, holds its connection for good, and a body nobody asked for (after a 401, a 413)
// is read to its end. So we accept TCP ourselves and enforce the deadlines before and while handing the bytes on
// to Deno.serve, which listens on a Unix socket in a private directory:
// - the request head must be complete within `headerTimeoutMs` of the connection opening;
// - afterwards, a connection on which no byte moves either way for `idleTimeoutMs` is closed;
// - one request per connection: once the final answer starts, what the client still sends is dropped (at most
//   DISCARD_BYTES), and the connection closes when the answer is sent (every answer says `connection: close`).
import type { Logger } from "../runtime/log.ts";
import { type AnswerFraming, answerFraming } from "./framing.ts";

export interface ListenerLimits {
  /** From accepting a connection to the end of its request head. */
  headerTimeoutMs: number;
  /** No byte either way for this long, once the head is in: closed. Above the handler's own deadlines. */
  idleTimeoutMs: number;
}

export const LISTENER_LIMITS: ListenerLimits = { headerTimeoutMs: 30_000, idleTimeoutMs: 120_000 };

const HEAD_END = new Uint8Array([13, 10, 13, 10]);
// Past this the head is Deno's to refuse (431); we only wait for its end.
const MAX_HEAD_SCAN = 64 * 1024;
const CHUNK = 64 * 1024;

function indexOfHeadEnd(buf: Uint8Array, from: number): number {
  outer: for (let i = Math.max(0, from - 3); i + 4 <= buf.length; i++) {
    for (let j = 0; j < 4; j++) if (buf[i + j] !== HEAD_END[j]) continue outer;
    return i + 4;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Reads until the end of the request head (or MAX_HEAD_SCAN bytes); null when the client closes first. */
async function readHead(conn: Deno.Conn): Promise<Uint8Array | null> {
  let buf: Uint8Array = new Uint8Array(0);
  const chunk = new Uint8Array(CHUNK);
  while (buf.length < MAX_HEAD_SCAN) {
    const n = await conn.read(chunk);
    if (n === null) return null;
    const from = buf.length;
    buf = concat(buf, chunk.subarray(0, n));
    if (indexOfHeadEnd(buf, from) >= 0) break;
  }
  return buf;
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
}

type Inner = { connect(): Promise<Deno.Conn> };

function relay(client: Deno.Conn, target: Inner, limits: ListenerLimits): Relay {
  let inner: Deno.Conn | null = null;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    for (const c of [client, inner]) {
      try {
        c?.close();
      } catch { /* already closed */ }
    }
  };
  let timer = setTimeout(close, limits.headerTimeoutMs);
  const touch = () => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(close, limits.idleTimeoutMs);
  };
  let framing: AnswerFraming | null = null;

  // The request's bytes to Deno until the answer starts; after that, dropped (a refused body), within a budget.
  async function upstream(conn: Deno.Conn, head: Uint8Array): Promise<void> {
    await writeAll(conn, head);
    const chunk = new Uint8Array(CHUNK);
    let dropped = 0;
    while (dropped <= DISCARD_BYTES) {
      const n = await client.read(chunk);
      if (n === null) return;
      if (framing?.started) {
        dropped += n;
        continue;
      }
      touch();
      await writeAll(conn, chunk.subarray(0, n));
    }
  }

  async function downstream(conn: Deno.Conn, answer: AnswerFraming): Promise<void> {
    const chunk = new Uint8Array(CHUNK);
    while (!answer.complete) {
      const n = await conn.read(chunk);
      if (n === null) return;
      touch();
      answer.feed(chunk.subarray(0, n));
      await writeAll(client, chunk.subarray(0, n));
    }
  }

  let busy = false;
  const done = (async () => {
    try {
      const head = await readHead(client);
      if (head === null || closed) return;
      busy = true;
      touch();
      framing = answerFraming(/^HEAD /.test(new TextDecoder().decode(head.subarray(0, 5))));
      inner = await target.connect();
      const up = upstream(inner, head).catch(() => {});
      await downstream(inner, framing);
      await client.closeWrite();
      clearTimeout(timer);
      await Promise.race([up, new Promise((r) => timer = setTimeout(r, LINGER_MS))]);
    } catch {
      // A reset or a closed peer: nothing to answer.
    } finally {
      close();
    }
  })();
  return { done, closeIfIdle: () => busy || close() };
}

export interface Listener {
  readonly port: number;
  readonly finished: Promise<void>;
  shutdown(): Promise<void>;
}

/** Deno.serve behind the deadlines above, on `hostname:port` (0: any free port). */
export async function listen(
  options: { hostname: string; port: number; signal?: AbortSignal; limits?: ListenerLimits; log: Logger },
  handler: (req: Request) => Response | Promise<Response>,
): Promise<Listener> {
  const limits = options.limits ?? LISTENER_LIMITS;
  // First, so that a port in use fails before anything else is set up (lib/runtime/http.ts's listenError).
  const socket = Deno.listen({ hostname: options.hostname, port: options.port });
  const closing = async (req: Request) => {
    const resp = await handler(req);
    try {
      resp.headers.set("connection", "close"); // so that clients do not count on reusing it
    } catch { /* immutable headers: the close tells them anyway */ }
    return resp;
  };
  // A Unix socket in a private directory: nobody else can reach Deno.serve around the deadlines. Where no directory
  // can be made (a read-only file system), loopback TCP on a free port.
  const dir = await Deno.makeTempDir({ prefix: "housekeeping-serve-" }).catch(() => null);
  const path = dir === null ? null : `${dir}/http.sock`;
  const inner = path !== null
    ? Deno.serve({ path, onListen: () => {} }, closing)
    : Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, closing);
  const target: Inner = path !== null
    ? { connect: () => Deno.connect({ transport: "unix", path }) }
    : { connect: () => Deno.connect({ hostname: "127.0.0.1", port: (inner.addr as Deno.NetAddr).port }) };
  const open = new Set<Relay>();
  const accepting = (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await socket.accept();
      } catch {
        return; // closed: shutting down
      }
      const r = relay(conn, target, limits);
      open.add(r);
      r.done.finally(() => open.delete(r));
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
