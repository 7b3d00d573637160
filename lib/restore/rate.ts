// Rate limits for --max-rate (records/s) and --max-bytes-rate (bytes/s): token buckets that hand out reservations,
// so a caller learns how long to wait before it may send, and can flush what it holds while it waits.

export interface RateLimiter {
  /** Takes `amount` tokens; returns the ms to wait before using them (0: go ahead). May run into debt. */
  reserve(amount: number): number;
}

/**
 * `perSecond` tokens per second, with a burst of one second's worth. A request larger than the burst is allowed
 * and paid for by waiting, so single records bigger than the byte rate still get through, just slowly.
 */
export function createRateLimiter(
  perSecond: number,
  now: () => number = () => performance.now(),
): RateLimiter {
  if (!(perSecond > 0) || !Number.isFinite(perSecond)) {
    throw new RangeError(`rate must be positive: ${perSecond}`);
  }
  const burst = perSecond;
  let tokens = burst;
  let last = now();
  return {
    reserve(amount) {
      const t = now();
      tokens = Math.min(burst, tokens + ((t - last) * perSecond) / 1000);
      last = t;
      tokens -= amount;
      return tokens >= 0 ? 0 : (-tokens / perSecond) * 1000;
    },
  };
}

/** Both limits at once (either may be absent): the wait is the longer of the two. */
export function createRecordLimiter(
  limits: { recordsPerSecond?: number | undefined; bytesPerSecond?: number | undefined },
  now?: () => number,
): { reserve(bytes: number): number } {
  const records = limits.recordsPerSecond === undefined
    ? undefined
    : createRateLimiter(limits.recordsPerSecond, now);
  const bytes = limits.bytesPerSecond === undefined
    ? undefined
    : createRateLimiter(limits.bytesPerSecond, now);
  return {
    reserve: (size) => Math.max(records?.reserve(1) ?? 0, bytes?.reserve(size) ?? 0),
  };
}
