// The classifier the archive's lanes act on (lib/kafka/rebalance.ts), fed kafkajs's own errors: the lanes wait for
// kafkajs to rejoin after these, and redo the partition from its committed offset after any other failure.
import assert from "node:assert/strict";
import type { KafkaJSProtocolError } from "kafkajs";
import ErrorsModule from "kafkajs/src/errors.js";
import ProtocolErrorModule from "kafkajs/src/protocol/error.js";
import { groupMovedOn } from "../../lib/kafka/rebalance.ts";

const { createErrorFromCode } = ProtocolErrorModule as unknown as {
  createErrorFromCode(code: number): KafkaJSProtocolError;
};
// kafkajs's index does not export its error classes at run time. Its retrier wraps the error it gave up on
// (`originalError`); a KafkaJSError may also carry a standard `cause`.
const { KafkaJSNumberOfRetriesExceeded, KafkaJSNonRetriableError } = ErrorsModule as unknown as {
  KafkaJSNumberOfRetriesExceeded: new (e: Error, info: { retryCount: number; retryTime: number }) => Error;
  KafkaJSNonRetriableError: new (e: Error, options: { cause: Error }) => Error;
};
const gaveUp = (e: Error) => new KafkaJSNumberOfRetriesExceeded(e, { retryCount: 5, retryTime: 100 });
const withCause = (e: Error) => new KafkaJSNonRetriableError(new Error("commit failed"), { cause: e });

// Kafka's error codes: REBALANCE_IN_PROGRESS 27, ILLEGAL_GENERATION 22, UNKNOWN_MEMBER_ID 25,
// NOT_COORDINATOR(_FOR_GROUP) 16; and three that are not about the group.
const MOVED_ON = [27, 22, 25, 16];
const OTHER = [
  6, /* NOT_LEADER_FOR_PARTITION */
  7, /* REQUEST_TIMED_OUT */
  29, /* TOPIC_AUTHORIZATION_FAILED */
];

Deno.test("kafka: a commit refused for a new generation means the group moved on, as kafkajs raises it", () => {
  for (const code of MOVED_ON) {
    const refusal = createErrorFromCode(code);
    assert.equal(groupMovedOn(refusal), true, refusal.type);
    assert.equal(groupMovedOn(gaveUp(refusal)), true, `given up on ${refusal.type}`);
    assert.equal(groupMovedOn(withCause(refusal)), true, `caused by ${refusal.type}`);
    assert.equal(groupMovedOn(gaveUp(withCause(refusal))), true, `nested ${refusal.type}`);
  }
});

Deno.test("kafka: any other failure is not a rebalance", () => {
  for (const code of OTHER) {
    const e = createErrorFromCode(code);
    assert.equal(groupMovedOn(e), false, e.type);
    assert.equal(groupMovedOn(gaveUp(e)), false, `given up on ${e.type}`);
    assert.equal(groupMovedOn(withCause(e)), false, `caused by ${e.type}`);
  }
  for (
    const e of [new Error("REBALANCE_IN_PROGRESS"), null, undefined, "REBALANCE_IN_PROGRESS", { code: 27 }]
  ) {
    assert.equal(groupMovedOn(e), false, String(e));
  }
});
