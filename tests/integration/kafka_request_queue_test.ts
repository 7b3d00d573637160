// The idle request-queue fix (lib/kafka/kafkajs_internals.ts): kafkajs's own RequestQueue class, then real connections.
import assert from "node:assert/strict";
import { createKafka } from "../../lib/kafka/client.ts";
import { installKafkajsPatches, kafkajsModules } from "../../lib/kafka/kafkajs_internals.ts";
import { silentLogger } from "../../lib/runtime/log.ts";
import { serviceEnv } from "../support/helpers.ts";

interface Queue {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: ReturnType<typeof setTimeout> | null;
  checkPendingRequests(): void;
  canSendSocketRequestImmediately(): boolean;
}
const RequestQueue = kafkajsModules.RequestQueue as {
  new (options: Record<string, unknown>): Queue;
  prototype: Queue;
};

function queue(): Queue {
  return new RequestQueue({
    maxInFlightRequests: 1,
    requestTimeout: 30_000,
    enforceRequestTimeout: true,
    clientId: "request-queue-test",
    broker: "127.0.0.1:1",
    logger: silentLogger,
  });
}
function disarm(q: Queue) {
  if (q.throttleCheckTimeoutId !== null) clearTimeout(q.throttleCheckTimeoutId);
  q.throttleCheckTimeoutId = null;
}

Deno.test("request queue: idle, nothing is scheduled; waiting or throttled, kafkajs's own timer is kept", () => {
  installKafkajsPatches();
  installKafkajsPatches(); // idempotent: one wrapper, not two

  const idle = queue();
  idle.checkPendingRequests();
  assert.equal(idle.throttleCheckTimeoutId, null, "an idle queue re-armed its 1 ms check");

  // A request that cannot go yet (one in flight at most) must still be retried by the timer.
  const waiting = queue();
  waiting.canSendSocketRequestImmediately = () => false;
  waiting.pending.push({});
  waiting.checkPendingRequests();
  assert.notEqual(waiting.throttleCheckTimeoutId, null, "a waiting request lost its retry");
  disarm(waiting);

  // Throttled by the broker, nothing pending: kafkajs checks again when the throttle ends.
  const throttled = queue();
  throttled.throttledUntil = Date.now() + 60_000;
  throttled.checkPendingRequests();
  assert.notEqual(throttled.throttleCheckTimeoutId, null, "the end of a throttle is no longer checked");
  disarm(throttled);
});

Deno.test("request queue: real connections after their requests keep no timer polling", async () => {
  // Every queue that checks its pending requests is recorded, so the test sees the connections kafkajs made.
  const seen = new Set<Queue>();
  const check = RequestQueue.prototype.checkPendingRequests;
  RequestQueue.prototype.checkPendingRequests = function (this: Queue) {
    seen.add(this);
    check.call(this);
  };
  const kafka = createKafka(
    { brokers: [serviceEnv("KAFKA_BROKERS")], clientId: "request-queue-test", securityProtocol: "PLAINTEXT" },
    silentLogger,
  );
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.listTopics();
    await admin.describeCluster();
    await new Promise((resolve) => setTimeout(resolve, 50)); // a few of kafkajs's 1 ms checks, were they armed
    assert.ok(seen.size > 0, "no request queue checked its requests: the spy is not on kafkajs's class");
    for (const q of seen) {
      assert.equal(q.pending.length, 0);
      assert.equal(q.throttleCheckTimeoutId, null, "an idle connection keeps polling");
    }
  } finally {
    await admin.disconnect();
    RequestQueue.prototype.checkPendingRequests = check;
  }
});
