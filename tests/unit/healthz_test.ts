// `housekeeping healthz`, the container health check: exit 0 only for a 200 from /healthz.
import assert from "node:assert/strict";
import { main } from "../../main.ts";
import { parseHealthzArgs } from "../../lib/commands/healthz.ts";

async function healthz(
  argv: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string }> {
  let out = "";
  const code = await main(["healthz", ...argv], {
    env,
    stdout: (text) => out += text,
    stdoutBytes: () => Promise.resolve(),
    isTerminal: false,
    shutdown: new AbortController().signal,
  });
  return { code, out };
}

/** A stand-in for the archiver's endpoint (lib/runtime/http.ts) answering /healthz with `status`. */
function endpoint(status: number) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    if (new URL(req.url).pathname !== "/healthz") return new Response("not found\n", { status: 404 });
    return new Response(status === 200 ? "ok\n" : "not consuming\n", { status });
  });
  return { port: server.addr.port, close: () => server.shutdown() };
}

Deno.test("healthz: 200 from HTTP_PORT's /healthz exits 0", async () => {
  const ep = endpoint(200);
  try {
    const r = await healthz([], { HTTP_PORT: String(ep.port) });
    assert.equal(r.code, 0);
    assert.equal(r.out, `http://127.0.0.1:${ep.port}/healthz: 200 ok\n`);
  } finally {
    await ep.close();
  }
});

Deno.test("healthz: 503 (not consuming) exits 1 and says so", async () => {
  const ep = endpoint(503);
  try {
    const r = await healthz(["--url", `http://127.0.0.1:${ep.port}/healthz`]);
    assert.equal(r.code, 1);
    assert.match(r.out, /: 503 not consuming\n$/);
  } finally {
    await ep.close();
  }
});

Deno.test("healthz: nothing listening exits 1", async () => {
  const ep = endpoint(200);
  const port = ep.port;
  await ep.close();
  const r = await healthz(["--url", `http://127.0.0.1:${port}/healthz`, "--timeout", "2"]);
  assert.equal(r.code, 1);
  assert.match(r.out, /no answer/);
});

Deno.test("healthz: a hung endpoint times out", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) accepted.push(conn); // accept, never answer
  })();
  try {
    const started = Date.now();
    const r = await healthz(["--url", `http://127.0.0.1:${listener.addr.port}/healthz`, "--timeout", "1"]);
    assert.equal(r.code, 1);
    assert.ok(Date.now() - started < 5000);
  } finally {
    listener.close();
    await accepting.catch(() => {});
    for (const c of accepted) c.close();
  }
});

Deno.test("healthz: usage errors exit 2", async () => {
  assert.equal((await healthz([])).code, 2, "no HTTP_PORT and no --url");
  assert.equal((await healthz(["--url", "not a url"])).code, 2);
  assert.equal((await healthz(["--bogus"])).code, 2);
});

Deno.test("healthz: parse", () => {
  assert.deepEqual(parseHealthzArgs([], { HTTP_PORT: "8080" }), {
    url: "http://127.0.0.1:8080/healthz",
    timeoutMs: 5000,
  });
  assert.deepEqual(parseHealthzArgs(["--url", "http://archiver:9/healthz", "--timeout", "2"], {}), {
    url: "http://archiver:9/healthz",
    timeoutMs: 2000,
  });
  assert.throws(
    () => parseHealthzArgs([], { HTTP_PORT: "eighty" }),
    /http-port must be an integer from 1 to 65535/,
  );
});

Deno.test("healthz --help", async () => {
  const r = await healthz(["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.out, /^Usage: housekeeping healthz/);
});

Deno.test("healthz: a password in --url is not printed", async () => {
  const ep = endpoint(200);
  try {
    const r = await healthz(["--url", `http://probe:hunter2-s3cr3t@127.0.0.1:${ep.port}/healthz`]);
    assert.ok(!r.out.includes("hunter2-s3cr3t"), r.out);
    assert.match(r.out, /^http:\/\/probe:\*\*\*@127\.0\.0\.1:\d+\/healthz: /);
  } finally {
    await ep.close();
  }
});
