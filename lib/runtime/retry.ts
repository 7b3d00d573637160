// Outages of Kafka, S3 or PostgreSQL during a run must not lose anything: operations that failed with a retriable
// error are retried with capped, jittered exponential backoff until they succeed or the process is asked to stop.
import { hkError, isRetriable } from "./errors.ts";
import type { Logger } from "./log.ts";

export interface RetryOptions {
  what: string;
  signal: AbortSignal;
  log: Logger;
  initialDelayMs?: number;
  maxDelayMs?: number;
  isRetriable?: (e: unknown) => boolean;
  /** Uniform in [0, 1): the jitter's source; tests inject a fixed sequence. Default Math.random. */
  random?: () => number;
}

/**
 * The delay after `previous`: decorrelated jitter ("Exponential Backoff and Jitter", AWS Architecture Blog),
 * uniform between the first delay and three times the previous one, capped. Without jitter every archiver of a
 * group that met the same outage retried at the same instants, hitting the service together as it came back;
 * drawn this way their retries spread out while the delays still grow about threefold per attempt.
 */
export function nextDelay(previous: number, initial: number, max: number, random: () => number): number {
  const upper = Math.min(max, previous * 3);
  return Math.round(Math.min(max, initial + random() * Math.max(0, upper - initial)));
}

export async function withRetry<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  const retriable = options.isRetriable ?? isRetriable;
  const initial = options.initialDelayMs ?? 200;
  const maxDelay = options.maxDelayMs ?? 10_000;
  const random = options.random ?? Math.random;
  let delay = initial;
  for (let attempt = 1;; attempt++) {
    if (options.signal.aborted) throw stopped(options.what);
    try {
      return await fn();
    } catch (e) {
      if (!retriable(e)) throw e;
      delay = nextDelay(delay, initial, maxDelay, random);
      options.log.warn(`${options.what} failed, retrying`, { attempt, delayMs: delay, error: e });
      await sleep(delay, options.signal);
    }
  }
}

function stopped(what: string) {
  return hkError("STOPPING", `${what} abandoned: shutting down (the work is redone on the next start)`);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** A counting semaphore over a budget (slots or bytes): bounds concurrency and memory in flight. */
export function createLimiter(capacity: number) {
  let available = capacity;
  const waiters: { need: number; wake: () => void }[] = [];
  const pump = () => {
    while (waiters.length > 0) {
      const head = waiters[0]!;
      // A single request larger than the whole budget runs alone rather than deadlocking.
      const need = Math.min(head.need, capacity);
      if (need > available) return;
      available -= need;
      waiters.shift();
      head.wake();
    }
  };
  return {
    async run<T>(need: number, fn: () => Promise<T>): Promise<T> {
      const cost = Math.min(need, capacity);
      await new Promise<void>((wake) => {
        waiters.push({ need: cost, wake });
        pump();
      });
      try {
        return await fn();
      } finally {
        available += cost;
        pump();
      }
    },
    get inUse() {
      return capacity - available;
    },
  };
}

/**
 * Like Promise.all, but rethrows the first failure only after every task has settled, so that no task is still
 * using a client the caller closes next.
 */
export async function settleAll<T>(tasks: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(tasks);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}
