// One error class: only our errors count as ours, and one rule says which foreign network failures are retriable.
// The foreign errors here are real ones: a connection refused by a port nothing listens on.
import assert from "node:assert/strict";
import { createConnection, createServer } from "node:net";
import {
  hkError,
  HousekeepingError,
  isHkError,
  isRetriable,
  NETWORK_ERROR_CODES,
  networkErrorCode,
} from "../../lib/runtime/errors.ts";
import { indexError } from "../../lib/index/database.ts";
import { translateKafkaError } from "../../lib/kafka/client.ts";
import { silentLogger } from "../../lib/runtime/log.ts";
import { withRetry } from "../../lib/runtime/retry.ts";

/** A port that was just free: connecting to it is refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The error node:net raises for a refused connection: an Error whose string `code` is ECONNREFUSED. */
async function refusedConnection(): Promise<Error & { code?: string }> {
  const port = await closedPort();
  return await new Promise((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.on("connect", () => reject(new Error(`port ${port} accepted a connection`)));
    socket.on("error", (error) => resolve(error));
  });
}

Deno.test("hkError makes a HousekeepingError with its code, retriability and cause", () => {
  const cause = new Error("underneath");
  const error = hkError("STORE_FAILED", "PUT failed; retry later", { retriable: true, cause });
  assert.ok(error instanceof HousekeepingError);
  assert.ok(error instanceof Error);
  assert.equal(error.code, "STORE_FAILED");
  assert.equal(error.retriable, true);
  assert.equal(error.cause, cause);
  assert.equal(hkError("USAGE", "bad flag").retriable, false);
  assert.equal(isHkError(error), true);
});

Deno.test("a raw ECONNREFUSED is not ours, and is retriable by the one network rule", async () => {
  const refused = await refusedConnection();
  assert.equal(refused.code, "ECONNREFUSED");
  assert.equal(isHkError(refused), false, "a foreign error with a string code must not pass as ours");
  assert.equal(isRetriable(refused), true);
  assert.equal(networkErrorCode(refused), "ECONNREFUSED");
  // Found through a chain of causes too (kafkajs wraps it as originalError).
  assert.equal(networkErrorCode(new Error("outer", { cause: refused })), "ECONNREFUSED");
  assert.equal(networkErrorCode({ originalError: { originalError: refused } }), "ECONNREFUSED");
  // Look-alikes stay what they are.
  assert.equal(isHkError(Object.assign(new Error("x"), { code: "USAGE", retriable: false })), false);
  assert.equal(isRetriable(Object.assign(new Error("x"), { code: "EACCES" })), false);
  assert.equal(isRetriable(new Error("plain")), false);
  assert.equal(isRetriable(hkError("STORE_FAILED", "x", { retriable: false, cause: refused })), false);
  for (const code of NETWORK_ERROR_CODES) assert.equal(networkErrorCode({ code }), code);
});

Deno.test("withRetry retries a raw network failure and gives up at once on a fatal error of ours", async () => {
  const refused = await refusedConnection();
  const options = {
    what: "test",
    signal: new AbortController().signal,
    log: silentLogger,
    initialDelayMs: 1,
  };
  let attempts = 0;
  const result = await withRetry(() => {
    if (++attempts < 3) return Promise.reject(refused);
    return Promise.resolve("done");
  }, options);
  assert.equal(result, "done");
  assert.equal(attempts, 3);
  attempts = 0;
  await assert.rejects(
    withRetry(() => {
      attempts++;
      return Promise.reject(hkError("ARCHIVE_RECORD_INVALID", "cannot represent"));
    }, options),
    { code: "ARCHIVE_RECORD_INVALID" },
  );
  assert.equal(attempts, 1);
});

Deno.test("the Kafka and PostgreSQL translations share the rule and keep our own errors as they are", async () => {
  const refused = await refusedConnection();
  const settings = { brokers: ["127.0.0.1:1"], clientId: "t", securityProtocol: "PLAINTEXT" as const };
  const kafka = translateKafkaError(
    { name: "KafkaJSConnectionError", message: "x", originalError: refused },
    settings,
  );
  assert.equal(kafka.code, "KAFKA_UNREACHABLE");
  const index = indexError(refused, "reading the index");
  assert.equal(index.code, "INDEX_UNREACHABLE");
  assert.equal(index.retriable, true);
  assert.match(index.message, /ECONNREFUSED/);
  const ours = hkError("STOPPING", "shutting down");
  assert.equal(translateKafkaError(ours, settings), ours);
  assert.equal(indexError(ours, "reading the index"), ours);
});
