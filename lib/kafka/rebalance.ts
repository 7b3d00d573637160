// What kafkajs's errors say about the consumer group, for the archive's lanes (lib/archive/lanes.ts), which know
// nothing of kafkajs and get this classifier through their sink (lib/archive/consumer.ts).

// Commit refusals that mean the group has moved on to a new generation (or is forming one). kafkajs rejoins by
// itself when its heartbeat or fetch meets them; kafkajs's own isRebalancing() lists the same, plus the member
// being unknown after its session expired. kafkajs names them in `type`, on the error or on one it wraps
// (`originalError`, or a standard `cause`).
const GROUP_MOVED_ON = new Set([
  "REBALANCE_IN_PROGRESS",
  "ILLEGAL_GENERATION",
  "UNKNOWN_MEMBER_ID",
  "NOT_COORDINATOR_FOR_GROUP",
]);

/** Whether a failed commit or heartbeat means the group has moved on to a new generation (kafkajs rejoins). */
export function groupMovedOn(e: unknown): boolean {
  for (let cause = e, depth = 0; cause !== undefined && cause !== null && depth < 4; depth++) {
    if (GROUP_MOVED_ON.has((cause as { type?: string }).type ?? "")) return true;
    cause = (cause as { cause?: unknown; originalError?: unknown }).originalError ??
      (cause as { cause?: unknown }).cause;
  }
  return false;
}
