// kafkajs 2.2.4 keeps every broker connection polling once a millisecond for as long as it is open: its request
// queue re-arms a timer after each check even when nothing is pending, and the delay it computes is negative
// (`throttledUntil` starts at -1), which node clamps to 1 ms (the TimeoutNegativeWarning on stderr). Measured
// here: an idle admin connection burnt 40 ms of CPU per second; an archiver holds several connections, on a
// machine whose CPU Kafka, S3 and PostgreSQL share. Upstream: tulios/kafkajs#1704, #1751 (open, unreleased).
// The hook skips the timer when no request waits and the broker does not throttle us; every other case keeps
// kafkajs's own scheduling, and a request queued later still arms the timer itself (push() schedules it).
import RequestQueueModule from "kafkajs/src/network/requestQueue/index.js";
import { checkSameInstance, internalsError } from "./kafka_headers.ts";

interface RequestQueueState {
  pending: unknown[];
  throttledUntil: number;
}
type Schedule = ((this: RequestQueueState) => void) & { [PATCHED]?: true };

const PATCHED = Symbol.for("housekeeping.kafka.idleRequestQueuePatch");
const RequestQueue = RequestQueueModule as unknown as {
  prototype: { scheduleCheckPendingRequests?: Schedule };
};

/** Stops kafkajs's idle connections from polling every millisecond. Idempotent; createKafka calls it. */
export function installIdleRequestQueue(): void {
  checkSameInstance();
  const prototype = RequestQueue?.prototype;
  const original = prototype?.scheduleCheckPendingRequests;
  if (typeof original !== "function") {
    throw internalsError(
      "RequestQueue.scheduleCheckPendingRequests is missing",
      "the idle request-queue fix",
      "lib/kafka_request_queue.ts",
    );
  }
  if (original[PATCHED]) return;
  const patched: Schedule = function (this: RequestQueueState) {
    if (this.pending.length === 0 && !(this.throttledUntil > Date.now())) return;
    original.call(this);
  };
  patched[PATCHED] = true;
  prototype!.scheduleCheckPendingRequests = patched;
}
