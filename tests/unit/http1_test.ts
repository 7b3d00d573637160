// The store's own HTTP/1.1 client against a loopback server that answers exactly the bytes each test scripts:
// framing (length, chunked, close-delimited, HEAD), answers cut into single bytes, keep-alive reuse, a socket the
// server closed while idle, a silent server, and heads that are too long; a declared length no archive object
// has, refused unread, by the client and by the S3 store that uses it.
import { deepEqual, equal, rejects } from "node:assert/strict";
import { createHttp1Client, MAX_BODY_BYTES } from "../../lib/store/http1.ts";
import { createS3Store } from "../../lib/store/s3.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
// The test server reads heads byte for byte: one character per byte keeps its indexes those of the bytes.
const latin1 = new TextDecoder("latin1");

interface Script {
  /** Called for each request with its raw head and body; writes the answer. Returns false to close the socket. */
  answer(conn: Deno.Conn, head: string, body: Uint8Array): Promise<boolean>;
}

/** A server reading requests framed by content-length (as the client sends them) and running `script` per request. */
function serve(script: Script) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  let accepted = 0;
  (async () => {
    for await (const conn of listener) {
      accepted++;
      conns.push(conn);
      handle(conn).catch(() => {}).finally(() => {
        try {
          conn.close();
        } catch { /* closed */ }
      });
    }
  })().catch(() => {});
  async function handle(conn: Deno.Conn) {
    let buf = new Uint8Array(0);
    const more = async () => {
      const chunk = new Uint8Array(65536);
      const n = await conn.read(chunk);
      if (n === null) return false;
      const next = new Uint8Array(buf.length + n);
      next.set(buf);
      next.set(chunk.subarray(0, n), buf.length);
      buf = next;
      return true;
    };
    for (;;) {
      let end: number;
      while ((end = latin1.decode(buf).indexOf("\r\n\r\n")) < 0) if (!await more()) return;
      const head = latin1.decode(buf.subarray(0, end));
      const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
      while (buf.length < end + 4 + length) if (!await more()) return;
      const body = buf.slice(end + 4, end + 4 + length);
      buf = buf.slice(end + 4 + length);
      if (!await script.answer(conn, head, body)) return;
    }
  }
  const port = (listener.addr as Deno.NetAddr).port;
  return {
    client: (idleMs = 10_000) =>
      createHttp1Client({
        protocol: "http:",
        hostname: "127.0.0.1",
        port,
        ca: undefined,
        maxIdle: 4,
        idleMs,
      }),
    port,
    accepted: () => accepted,
    close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

async function write(conn: Deno.Conn, text: string | Uint8Array, byteByByte = false) {
  const bytes = typeof text === "string" ? encoder.encode(text) : text;
  if (!byteByByte) {
    for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
    return;
  }
  for (let i = 0; i < bytes.length; i++) await conn.write(bytes.subarray(i, i + 1));
}

Deno.test("answers cut into single bytes are read whole, and the socket is reused for the next request", async () => {
  const server = serve({
    async answer(conn, head) {
      if (!/^(GET|HEAD|PUT) \//.test(head)) throw new Error(`not a request: ${JSON.stringify(head)}`);
      const body = head.startsWith("HEAD") ? "" : `body of ${head.split(" ")[1]}`;
      await write(
        conn,
        `HTTP/1.1 200 OK\r\nContent-Length: ${body.length || 99}\r\nX-A: 1\r\n\r\n${body}`,
        true,
      );
      return true;
    },
  });
  const client = server.client();
  try {
    for (const target of ["/a", "/b", "/c"]) {
      const r = await client.request({ method: "GET", target, headers: [] });
      equal(r.status, 200);
      equal(decoder.decode(r.body), `body of ${target}`);
      equal(r.headers.get("x-a"), "1");
    }
    // HEAD: a content-length but no body; the socket stays usable.
    const head = await client.request({ method: "HEAD", target: "/h", headers: [] });
    equal(head.body.length, 0);
    equal(head.headers.get("content-length"), "99");
    const after = await client.request({ method: "GET", target: "/d", headers: [] });
    equal(decoder.decode(after.body), "body of /d");
    equal(server.accepted(), 1);
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("a PUT's pieces arrive in order with their total length; chunked and close-delimited answers parse", async () => {
  const received: Uint8Array[] = [];
  let n = 0;
  const server = serve({
    async answer(conn, _head, body) {
      received.push(body);
      n++;
      if (n === 1) {
        await write(
          conn,
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n",
        );
        return true;
      }
      await write(conn, "HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\n<Error>closed</Error>");
      return false;
    },
  });
  const client = server.client();
  try {
    const big = new Uint8Array(100_000).map((_, i) => i * 7);
    const pieces = [encoder.encode("pre"), big, encoder.encode("post")];
    const r = await client.request({
      method: "PUT",
      target: "/k",
      headers: [`content-length: ${3 + big.length + 4}`],
      body: pieces,
    });
    equal(decoder.decode(r.body), "hello world");
    deepEqual(received[0], new Uint8Array([...pieces[0]!, ...big, ...pieces[2]!]));
    const closed = await client.request({ method: "GET", target: "/e", headers: [] });
    equal(closed.status, 500);
    equal(decoder.decode(closed.body), "<Error>closed</Error>");
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("a head longer than the socket's buffer in bytes but not in characters is sent whole", async () => {
  // 20 000 two-byte characters: fewer characters than the 32 KiB head buffer, more bytes. Cut at the buffer, the
  // head would never end and the server would wait for the rest.
  const value = "\u00e9".repeat(20_000);
  let got = "";
  const server = serve({
    async answer(conn, head) {
      got = /x-long: (.*)/.exec(head)?.[1] ?? "";
      await write(conn, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
      return true;
    },
  });
  const client = server.client(2_000);
  try {
    const r = await client.request({ method: "GET", target: "/k", headers: [`x-long: ${value}`] });
    equal(r.status, 200);
    equal(got, latin1.decode(encoder.encode(value)));
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("a socket the server closed while idle costs one more connection, not a failure", async () => {
  const server = serve({
    async answer(conn) {
      await write(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      return false; // keep-alive announced, then closed: what a server's idle timeout does
    },
  });
  const client = server.client();
  try {
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 50));
      equal(decoder.decode((await client.request({ method: "GET", target: "/", headers: [] })).body), "ok");
    }
    equal(server.accepted(), 3);
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("a silent server is a TimeoutError; a too long head and bad framing are errors, not hangs", async () => {
  const answers: Record<string, string> = {
    "/silent": "",
    "/long": `HTTP/1.1 200 OK\r\nX: ${"a".repeat(70_000)}\r\n\r\n`,
    "/status": "HTTP/2 200\r\n\r\n",
    "/length": "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    "/short": "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
  };
  const server = serve({
    async answer(conn, head) {
      const target = head.split(" ")[1]!;
      if (answers[target] === "") return true;
      await write(conn, answers[target]!);
      return target !== "/short";
    },
  });
  const client = server.client(200);
  try {
    await rejects(client.request({ method: "GET", target: "/silent", headers: [] }), {
      name: "TimeoutError",
    });
    for (const target of ["/long", "/status", "/length", "/short"]) {
      await rejects(client.request({ method: "GET", target, headers: [] }), /malformed HTTP answer/, target);
    }
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("a header name with whitespace or no colon is malformed; a header is looked up as the map gave it", async () => {
  const answers: Record<string, string> = {
    // RFC 9112 section 5.1: whitespace between a field's name and its colon must be rejected, lest two readers
    // disagree on the framing (here: which Content-Length counts).
    "/space": "HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\nabc",
    "/fold": "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n x: y\r\n\r\nabc",
    "/colon": "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A\r\n\r\nabc",
    "/reason": "HTTP/1.1 200 O\rK\r\nContent-Length: 3\r\n\r\nabc",
    "/lower": "http/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
    "/ok": "HTTP/1.1 200 OK\nX-A: 1\r\nx-a:  2 \r\nX-Amz-Checksum-CRC32:\tAAAAAA==\r\nX-B: caf\xe9 \x80\r\n" +
      "CONTENT-LENGTH: 3\r\nX-Empty:\r\n\nabc",
  };
  const server = serve({
    async answer(conn, head) {
      const target = head.split(" ")[1]!;
      await write(conn, Uint8Array.from(answers[target]!, (c) => c.charCodeAt(0)));
      return true;
    },
  });
  const client = server.client();
  try {
    for (const target of ["/space", "/fold", "/colon", "/reason", "/lower"]) {
      await rejects(client.request({ method: "GET", target, headers: [] }), /malformed HTTP answer/, target);
    }
    const r = await client.request({ method: "GET", target: "/ok", headers: [] });
    equal(decoder.decode(r.body), "abc");
    equal(r.headers.get("x-a"), "2");
    equal(r.headers.get("x-amz-checksum-crc32"), "AAAAAA==");
    equal(r.headers.get("content-length"), "3");
    // As TextDecoder's latin1 (windows-1252) decodes it.
    equal(r.headers.get("x-b"), "caf\u00e9 \u20ac");
    equal(r.headers.get("x-empty"), "");
    equal(r.headers.get("X-A"), undefined);
    equal(r.headers.get("x"), undefined);
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("a request whose bytes keep moving outlives idleMs; one whose answer stops midway times out", async () => {
  const server = serve({
    async answer(conn, head) {
      const text = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello, world";
      const stop = head.startsWith("GET /stop") ? 30 : text.length;
      for (let i = 0; i < stop; i++) {
        await write(conn, text.slice(i, i + 1));
        await new Promise((resolve) => setTimeout(resolve, 40));
      }
      // Stopped midway, the socket stays open and silent.
      return true;
    },
  });
  // Each gap is far below idleMs while the whole answer takes several times it: the watchdog counts silence only.
  const client = server.client(400);
  try {
    const r = await client.request({ method: "GET", target: "/slow", headers: [] });
    equal(decoder.decode(r.body), "hello, world");
    await rejects(client.request({ method: "GET", target: "/stop", headers: [] }), { name: "TimeoutError" });
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("a streamed body is handed over as it arrives; read to its end the socket is reused, cancelled it is not", async () => {
  const server = serve({
    async answer(conn, head) {
      const target = head.split(" ")[1]!;
      const body = target === "/big" ? "x".repeat(200_000) : `streamed ${target}`;
      await write(conn, `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
      await write(conn, body, target !== "/big");
      return true;
    },
  });
  const client = server.client();
  try {
    const first = await client.request({ method: "GET", target: "/a", headers: [], stream: true });
    equal(first.body.length, 0);
    equal(await new Response(first.stream).text(), "streamed /a");
    const second = await client.request({ method: "GET", target: "/b", headers: [], stream: true });
    equal(await new Response(second.stream).text(), "streamed /b");
    equal(server.accepted(), 1);
    const big = await client.request({ method: "GET", target: "/big", headers: [], stream: true });
    const reader = big.stream!.getReader();
    const { value } = await reader.read();
    equal(value!.length > 0, true);
    await reader.cancel();
    const after = await client.request({ method: "GET", target: "/c", headers: [], stream: true });
    equal(await new Response(after.stream).text(), "streamed /c");
    equal(server.accepted(), 2);
  } finally {
    client.close();
    server.close();
  }
});

// 2^40 bytes: a tampered or broken endpoint's Content-Length. Allocating it would fail (or take the machine's
// memory); it must be refused before anything is allocated, with a coded error that is not retried.
const HUGE = 2 ** 40;

Deno.test("a declared length over the largest archive object, or not the expected one, is refused unread", async () => {
  const answers: Record<string, string> = {
    "/huge": `HTTP/1.1 200 OK\r\nContent-Length: ${HUGE}\r\n\r\nabc`,
    "/over": `HTTP/1.1 200 OK\r\nContent-Length: ${MAX_BODY_BYTES + 1}\r\n\r\nabc`,
    "/error": `HTTP/1.1 404 Not Found\r\nContent-Length: ${HUGE}\r\n\r\nabc`,
    "/five": "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfive!",
  };
  const server = serve({
    async answer(conn, head) {
      const target = head.split(" ")[1]!;
      await write(conn, answers[target]!);
      return true;
    },
  });
  const client = server.client();
  try {
    for (const target of ["/huge", "/over", "/error"]) {
      const declared = /Content-Length: (\d+)/.exec(answers[target]!)![1]!;
      await rejects(
        client.request({ method: "GET", target, headers: [] }),
        (e: Error & { code?: string }) => {
          equal(e.code, "STORE_ANSWER_INVALID", `${target}: ${e.message}`);
          equal(e.message.includes(`a body of ${declared} bytes`), true, e.message);
          return true;
        },
      );
    }
    await rejects(client.request({ method: "GET", target: "/five", headers: [], expectedLength: 4 }), {
      code: "STORE_ANSWER_INVALID",
      message: /GET \/five: .* declared a body of 5 bytes .*index says the object has 4/,
    });
    const right = await client.request({ method: "GET", target: "/five", headers: [], expectedLength: 5 });
    equal(decoder.decode(right.body), "five!");
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("the S3 store refuses a GET declaring 2^40 bytes at once, coded and not retried; the next GETs still work", async () => {
  const gets: string[] = [];
  const server = serve({
    async answer(conn, head) {
      const [method, target] = head.split(" ");
      // HeadBucket as the store opens: the bucket exists.
      if (method === "HEAD") await write(conn, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
      else {
        gets.push(target!);
        const declared = target!.endsWith("/huge") ? HUGE : 5;
        await write(conn, `HTTP/1.1 200 OK\r\nContent-Length: ${declared}\r\n\r\nsmall`);
      }
      return true;
    },
  });
  const endpoint = `http://127.0.0.1:${server.port}`;
  // The SDK's credential chain reads the environment; this server checks no signature, so any will do.
  const unset = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"].filter((name) => !Deno.env.get(name));
  for (const name of unset) Deno.env.set(name, "test");
  const store = await createS3Store({ bucket: "b", endpoint, region: "us-east-1" });
  try {
    const refused = (e: Error & { code?: string; retriable?: boolean }) => {
      equal(e.code, "STORE_ANSWER_INVALID", e.message);
      equal(e.retriable, false);
      return true;
    };
    await rejects(store.get("huge"), refused);
    await rejects(
      store.get("huge"),
      /GET \/b\/huge: 127\.0\.0\.1:\d+ declared a body of 1099511627776 bytes/,
    );
    deepEqual(gets, ["/b/huge", "/b/huge"], "one request per get: a refused length is not retried");
    // The index's size, when the caller gives it, is what the answer must declare.
    await rejects(store.get("small", 4), refused);
    equal(decoder.decode((await store.get("small", 5))!), "small");
    equal(decoder.decode((await store.get("small"))!), "small");
  } finally {
    store.close();
    server.close();
    for (const name of unset) Deno.env.delete(name);
  }
});
