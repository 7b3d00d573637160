// Secrets never reach what we print: --print-config, log lines (whatever field holds them) and error lines. The
// hopauth client is the real one, its warning the one an operator saw with the password in it (issue 21).
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { createLogger } from "../../lib/runtime/log.ts";
import { maskSecrets } from "../../lib/runtime/secrets.ts";
import { createHopAuth } from "../../lib/serve/hopauth.ts";
import { main } from "../../main.ts";

const PASSWORD = "hunter2-s3cr3t";

/** A port that was just free: connecting to it is refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

Deno.test("maskSecrets: URL passwords and secret parameters, nothing else", () => {
  const cases: [string, string][] = [
    [`https://user:${PASSWORD}@admin.example/hopauth/api`, "https://user:***@admin.example/hopauth/api"],
    [
      `postgres://hk:${PASSWORD}@db:5432/hk?sslmode=verify-full`,
      "postgres://hk:***@db:5432/hk?sslmode=verify-full",
    ],
    [
      `cannot reach "http://a:${PASSWORD}@h:9000" (ECONNREFUSED)`,
      `cannot reach "http://a:***@h:9000" (ECONNREFUSED)`,
    ],
    [`postgres://u:p@ss${PASSWORD}@db/x`, "postgres://u:***@db/x"],
    [
      `https://b.s3/k?X-Amz-Credential=AKIA1&X-Amz-Signature=${PASSWORD}`,
      "https://b.s3/k?X-Amz-Credential=***&X-Amz-Signature=***",
    ],
    [`host=db user=hk password=${PASSWORD} dbname=x`, "host=db user=hk password=*** dbname=x"],
    [`postgres://db/x?password=${PASSWORD}&sslmode=require`, "postgres://db/x?password=***&sslmode=require"],
    [`https://api/?token=${PASSWORD}`, "https://api/?token=***"],
  ];
  for (const [text, masked] of cases) assert.equal(maskSecrets(text), masked);
  for (
    const plain of [
      "postgres://hk@db:5432/hk",
      "http://127.0.0.1:9000/bucket",
      "kafka.scimma.org:9092,b2:9092",
      "topic=gcn.circular partition=0 offset=12",
      "user@example.org",
      "key_layout=daily",
    ]
  ) {
    assert.equal(maskSecrets(plain), plain);
  }
});

Deno.test("log lines: a password in any field is masked, the rest of the line kept", () => {
  const lines: string[] = [];
  const log = createLogger({ sink: (line) => lines.push(line) });
  log.warn(`connecting to https://u:${PASSWORD}@h`, {
    url: `https://u:${PASSWORD}@h/api`,
    error: new Error(`fetch https://u:${PASSWORD}@h failed`),
    nested: { dsn: `postgres://x:${PASSWORD}@db/x` },
  });
  assert.equal(lines.length, 1);
  assert.ok(!lines[0]!.includes(PASSWORD), lines[0]);
  const parsed = JSON.parse(lines[0]!);
  assert.equal(parsed.url, "https://u:***@h/api");
  assert.equal(parsed.nested.dsn, "postgres://x:***@db/x");
});

Deno.test("the 'permissions service unreachable' warning shows the hopauth URL without its password", async () => {
  const lines: string[] = [];
  const url = `http://archive:${PASSWORD}@127.0.0.1:${await closedPort()}/hopauth/api`;
  const hopAuth = createHopAuth({ url, realm: "r", log: createLogger({ sink: (line) => lines.push(line) }) });
  const outcome = await hopAuth.authorize("SCRAM-SHA-512 data=x", "t", "Read");
  assert.equal(outcome.ok, false);
  const warning = lines.find((line) => line.includes("permissions service"));
  assert.ok(warning, lines.join("\n"));
  assert.ok(!warning.includes(PASSWORD), warning);
  // serve logs where it went without the userinfo; the logger would mask a password that slipped through.
  assert.match(warning, /http:\/\/(archive:\*\*\*@)?127\.0\.0\.1:\d+\/hopauth\/api/);
});

Deno.test("--print-config: no password of any URL setting or option", async () => {
  let printed = "";
  const env = {
    HOPAUTH_API_URL: `https://archive:${PASSWORD}@admin.example/hopauth/api`,
    S3_ENDPOINT: `http://minio:${PASSWORD}@127.0.0.1:9000`,
    DATABASE_URL: `postgres://hk:${PASSWORD}@db:5432/hk`,
    KAFKA_PASSWORD: PASSWORD,
  };
  const code = await main(["serve", "--print-config"], {
    env,
    stdout: (text) => printed += text,
    stdoutBytes: () => Promise.resolve(),
    isTerminal: false,
    shutdown: AbortSignal.abort(),
  });
  assert.equal(code, 0);
  assert.ok(!printed.includes(PASSWORD), printed);
  const config = JSON.parse(printed);
  assert.equal(config.options["hopauth-url"], "https://archive:***@admin.example/hopauth/api");
  assert.equal(config.settings["s3-endpoint"].value, "http://minio:***@127.0.0.1:9000");
  assert.equal(config.settings["database-url"].value, "postgres://hk:***@db:5432/hk");
});

Deno.test("error lines: a password quoted in an error message is masked by main", async () => {
  let stderr = "";
  const printError = console.error;
  console.error = (...parts: unknown[]) => stderr += `${parts.join(" ")}\n`;
  try {
    const code = await main(["serve", "--hopauth-url", `ftp://archive:${PASSWORD}@admin.example/api`], {
      env: {},
      stdout: () => {},
      stdoutBytes: () => Promise.resolve(),
      isTerminal: false,
      shutdown: AbortSignal.abort(),
    });
    assert.equal(code, 2);
  } finally {
    console.error = printError;
  }
  assert.ok(!stderr.includes(PASSWORD), stderr);
  assert.match(stderr, /ftp:\/\/archive:\*\*\*@admin\.example\/api.*\[USAGE\]/);
});
