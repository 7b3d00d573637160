// Deadlines on what `serve` waits for: a service that accepts connections and never answers must cost a request a
// bounded wait and a 504, never an open-ended hang. The services' own timeouts (S3 socket inactivity, PostgreSQL
// silence, the hopauth fetch) free the connections; this bounds what a request waits for, queueing included.
import { hkError, isHkError } from "../runtime/errors.ts";

/** Default bound on one call to the index, the store, the permissions service or the ingest core. */
export const SERVE_DEADLINE_MS = 30_000;

/** True for the error `bounded` raises when a call outlives its deadline. */
export function isDeadlineError(e: unknown): boolean {
  return isHkError(e) && e.code === "SERVE_DEADLINE";
}

// A value that arrives after its caller gave up may hold a stream (BlobStore.getStream): it must be cancelled, or
// its connection stays taken.
function dispose(value: unknown): void {
  const body = (value as { body?: unknown } | null)?.body;
  if (body instanceof ReadableStream) body.cancel().catch(() => {});
}

/** `promise`, or SERVE_DEADLINE after `ms`; a late value is disposed of. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let late = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      late = true;
      reject(hkError("SERVE_DEADLINE", `${what} did not answer within ${ms / 1000} s`, { retriable: true }));
    }, ms);
  });
  promise.then((value) => late && dispose(value), () => {});
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * `service` with every method that returns a promise bounded by `ms` (async iterables pass through: their
 * consumers bound each step themselves).
 */
export function bounded<T extends object>(service: T, ms: number, what: string): T {
  return new Proxy(service, {
    get(target, name, receiver) {
      const member = Reflect.get(target, name, receiver);
      if (typeof member !== "function") return member;
      return (...args: unknown[]) => {
        const result = member.apply(target, args);
        return result instanceof Promise ? within(result, ms, `${what} (${String(name)})`) : result;
      };
    },
  });
}
