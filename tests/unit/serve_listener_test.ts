// serve's own TCP listener (lib/serve/listener.ts) with keep-alive: requests one after the other on one
// connection, each framed by its Content-Length or chunked body (lib/serve/request_framing.ts), ambiguous framing
// refused with a 400 and the connection closed, and the header deadline applying to every request, not only the
// first. The handler echoes what Deno handed it, so a byte of one request read as part of another would show.
import assert from "node:assert/strict";
import { listen } from "../../lib/serve/listener.ts";
import { requestFraming } from "../../lib/serve/request_framing.ts";
import { silentLogger } from "../../lib/runtime/log.ts";

const enc = new TextEncoder();

async function readToEnd(conn: Deno.Conn): Promise<string> {
  const chunks: string[] = [];
  const buf = new Uint8Array(4096);
  for (;;) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) return chunks.join("");
    chunks.push(new TextDecoder().decode(buf.subarray(0, n)));
  }
}

async function withListener(run: (send: (bytes: string) => Promise<string>) => Promise<void>) {
  const seen: string[] = [];
  const listener = await listen({
    hostname: "127.0.0.1",
    port: 0,
    log: silentLogger,
    limits: { headerTimeoutMs: 300, idleTimeoutMs: 1_000 },
  }, async (req) => {
    const body = await req.text().catch(() => "(cut off)");
    seen.push(`${req.method} ${new URL(req.url).pathname} ${JSON.stringify(body)}`);
    return new Response(`${req.method} ${new URL(req.url).pathname} ${JSON.stringify(body)}`);
  });
  try {
    await run(async (bytes) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
      try {
        await conn.write(enc.encode(bytes));
        return await readToEnd(conn); // until the server closes: the header deadline after the last answer
      } finally {
        conn.close();
      }
    });
  } finally {
    await listener.shutdown();
  }
}

const bodies = (answer: string) => answer.split(/HTTP\/1\.1 \d+ [^\r]*\r\n(?:[^\r]+\r\n)*\r\n/).slice(1);

Deno.test("listener: pipelined requests on one connection, each framed by its own length", async () => {
  await withListener(async (send) => {
    const answer = await send(
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\n" +
        "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\nGET /x HTTP/" +
        "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n" +
        "GET /d HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert.deepEqual(bodies(answer), ['GET /a ""', 'POST /b "GET /x HTTP/"', 'POST /c "abcde"', 'GET /d ""']);
    assert.doesNotMatch(answer, /connection: close/i);
  });
});

Deno.test("listener: Connection: close and HTTP/1.0 end the connection after their answer", async () => {
  await withListener(async (send) => {
    const closing = await send(
      "GET /a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\nGET /never HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert.deepEqual(bodies(closing), ['GET /a ""']);
    const old = await send("GET /a HTTP/1.0\r\nHost: x\r\n\r\nGET /never HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal(old.match(/GET \/never/), null);
  });
});

Deno.test("listener: ambiguous framing is a 400 that closes the connection; nothing of it reaches Deno", async () => {
  const smuggles = [
    "Content-Length: 5\r\nTransfer-Encoding: chunked",
    "Transfer-Encoding: chunked\r\nContent-Length: 5",
    "Content-Length: 5\r\nContent-Length: 5",
    "Content-Length: 5\r\nContent-Length: 6",
    "Content-Length: +5",
    "Content-Length: 5, 5",
    "Content-Length : 5",
    "Transfer-Encoding: gzip, chunked",
    "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
    "Transfer-Encoding: xchunked",
    "Transfer-Encoding:\r\n chunked",
    "X: y\nContent-Length: 5",
    " Content-Length: 5",
  ];
  await withListener(async (send) => {
    for (const headers of smuggles) {
      const answer = await send(
        `POST /a HTTP/1.1\r\nHost: x\r\n${headers}\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n`,
      );
      assert.match(answer, /^HTTP\/1.1 400 /, JSON.stringify(headers));
      assert.match(answer, /connection: close/i);
      assert.doesNotMatch(answer, /smuggled|HTTP\/1.1 200/, JSON.stringify(headers));
    }
  });
});

Deno.test("listener: a chunked body that breaks the grammar closes the connection", async () => {
  await withListener(async (send) => {
    for (const body of ["5x\r\nabcde\r\n0\r\n\r\n", "3\r\nabcXY0\r\n\r\n", "3\nabc\r\n0\r\n\r\n", "-1\r\n"]) {
      const answer = await send(
        `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}GET /smuggled HTTP/1.1\r\n\r\n`,
      );
      assert.doesNotMatch(answer, /smuggled/, JSON.stringify(body));
    }
  });
});

Deno.test("listener: the header deadline applies to every request on a kept connection", async () => {
  await withListener(async (send) => {
    // The second head never ends: the connection closes at the header deadline after the first answer.
    const answer = await send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n");
    assert.deepEqual(bodies(answer), ['GET /a ""']);
  });
});

Deno.test("requestFraming: what it accepts and refuses", () => {
  const frame = (head: string) => requestFraming(enc.encode(head));
  assert.equal(frame("GET / HTTP/1.1\r\nHost: x\r\n\r\n").ok, true);
  const chunked = frame("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n");
  assert.ok(chunked.ok && !chunked.keepAlive);
  for (
    const bad of [
      "GET  / HTTP/1.1\r\n\r\n",
      "GET / HTTP/2.0\r\n\r\n",
      "GET / HTTP/1.1\r\nX\r\n\r\n",
      "GET /\x00 HTTP/1.1\r\n\r\n",
    ]
  ) {
    assert.equal(frame(bad).ok, false, JSON.stringify(bad));
  }
});

// ---- bodiless GET and HEAD, answered by the listener itself (lib/serve/answer.ts) ----

async function withHandler(
  handler: (req: Request) => Response | Promise<Response>,
  run: (port: number) => Promise<void>,
) {
  const listener = await listen({
    hostname: "127.0.0.1",
    port: 0,
    log: silentLogger,
    limits: { headerTimeoutMs: 300, idleTimeoutMs: 1_000 },
  }, handler);
  try {
    await run(listener.port);
  } finally {
    await listener.shutdown();
  }
}

async function exchangeRaw(port: number, bytes: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(Uint8Array.from(bytes, (c) => c.charCodeAt(0)));
    return await readToEnd(conn);
  } finally {
    conn.close();
  }
}

Deno.test("listener: pipelined GET and HEAD are answered in order; HEAD has the head only", async () => {
  const order: string[] = [];
  await withHandler(async (req) => {
    const path = new URL(req.url).pathname;
    order.push(`${req.method} ${path}`);
    // The first is the slowest: a later request must still wait for its turn.
    if (path === "/a") await new Promise((r) => setTimeout(r, 50));
    return new Response(`body of ${path}`, { headers: { "content-type": "application/octet-stream" } });
  }, async (port) => {
    const answer = await exchangeRaw(
      port,
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert.deepEqual(order, ["GET /a", "HEAD /b", "GET /c"]);
    const heads = answer.match(/HTTP\/1\.1 200 OK\r\n/g) ?? [];
    assert.equal(heads.length, 3);
    assert.match(answer, /content-length: 10\r\n(?:[^\r]+\r\n)*\r\nbody of \/aHTTP\/1\.1 200 OK\r\n/);
    // HEAD: the GET's length, no body: the next answer follows the blank line at once.
    assert.match(
      answer,
      /content-length: 10\r\n(?:[^\r]+\r\n)*\r\nHTTP\/1\.1 200 OK\r\n(?:[^\r]+\r\n)*\r\nbody of \/c$/,
    );
    assert.match(answer, /\r\ndate: /);
  });
});

Deno.test("listener: a Host that would move the path, control bytes in a value, two Hosts: 400", async () => {
  const seen: string[] = [];
  await withHandler((req) => {
    seen.push(req.url);
    return new Response("reached");
  }, async (port) => {
    for (
      const headers of [
        "Host: x/evil",
        "Host: user@x",
        "Host: x?q",
        "Host: x\r\nHost: y",
        "Host: x\r\nX-A: a\x01b",
        "Host: x\r\nX-A: a\x7fb",
      ]
    ) {
      const answer = await exchangeRaw(port, `GET /a HTTP/1.1\r\n${headers}\r\n\r\n`);
      assert.match(answer, /^HTTP\/1.1 400 /, JSON.stringify(headers));
      assert.match(answer, /connection: close/i);
    }
    assert.deepEqual(seen, []);
    // Latin-1 text and tabs in a value are fine, as are a bracketed IPv6 Host and none at all.
    for (const headers of ["Host: x\r\nX-A: caf\xe9\tok", "Host: [::1]:8080", ""]) {
      const answer = await exchangeRaw(port, `GET /a HTTP/1.1\r\n${headers}\r\nConnection: close\r\n\r\n`);
      assert.match(answer, /^HTTP\/1.1 200 /, JSON.stringify(headers));
    }
    assert.equal(seen.length, 3);
    assert.match(seen[2]!, /^http:\/\/localhost:\d+\/a$/);
  });
});

Deno.test("listener: a body longer than declared is cut there; one that fails leaves the answer unended", async () => {
  await withHandler((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/long") {
      return new Response("abcdefGET /smuggled HTTP/1.1\r\n\r\n", { headers: { "content-length": "3" } });
    }
    let sent = false;
    const failing = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent) return controller.error(new Error("stored bytes failed their check"));
        sent = true;
        controller.enqueue(enc.encode("part"));
      },
    });
    return new Response(failing, { headers: { "content-length": "100" } });
  }, async (port) => {
    const long = await exchangeRaw(
      port,
      "GET /long HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert.match(long, /\r\n\r\nabc$/);
    const failing = await exchangeRaw(
      port,
      "GET /fail HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert.match(failing, /^HTTP\/1.1 200 OK\r\n(?:[^\r]+\r\n)*\r\npart$/);
  });
});

Deno.test("listener: a client that goes away mid-answer cancels the body; a handler that throws is a 500", async () => {
  let cancelled!: () => void;
  const cancel = new Promise<void>((r) => cancelled = r);
  await withHandler((req) => {
    if (new URL(req.url).pathname === "/throw") throw new Error("boom");
    const endless = new ReadableStream<Uint8Array>({
      pull: (controller) => controller.enqueue(new Uint8Array(64 * 1024)),
      cancel: () => cancelled(),
    });
    return new Response(endless, { headers: { "content-type": "application/octet-stream" } });
  }, async (port) => {
    const thrown = await exchangeRaw(port, "GET /throw HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.match(thrown, /^HTTP\/1.1 500 /);
    assert.match(thrown, /connection: close/i);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(enc.encode("GET /endless HTTP/1.1\r\nHost: x\r\n\r\n"));
    await conn.read(new Uint8Array(1024));
    conn.close();
    await cancel; // never resolves (the test times out) if the body is left open
  });
});

Deno.test("listener: a body of unknown length: Content-Length when small, chunked when large", async () => {
  await withHandler((req) => {
    const size = new URL(req.url).pathname === "/small" ? 1000 : 300_000;
    return new Response(new Blob([new Uint8Array(size).fill(120)]).stream());
  }, async (port) => {
    const small = await fetch(`http://127.0.0.1:${port}/small`, { headers: { "accept-encoding": "gzip" } });
    assert.equal(small.headers.get("content-length"), "1000");
    assert.equal(small.headers.get("content-encoding"), null);
    assert.equal((await small.arrayBuffer()).byteLength, 1000);
    const large = await fetch(`http://127.0.0.1:${port}/large`);
    assert.equal(large.headers.get("transfer-encoding"), "chunked");
    assert.equal((await large.arrayBuffer()).byteLength, 300_000);
  });
});
