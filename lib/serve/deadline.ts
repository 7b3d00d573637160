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

interface Pending {
  at: number;
  expire(): void;
}

// The calls waiting under one deadline length, oldest first (a Set keeps the order it was filled in, and with one
// length that is the order they expire in), under one timer for the oldest: a timer set and cleared per call cost
// more than the rest of the bound.
function deadlineQueue() {
  const pending = new Set<Pending>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    const first = pending.values().next().value;
    timer = first === undefined ? undefined : setTimeout(expire, Math.max(0, first.at - performance.now()));
  };
  const expire = () => {
    const now = performance.now();
    for (const p of pending) {
      if (p.at > now) break;
      pending.delete(p);
      p.expire();
    }
    arm();
  };
  return {
    add(p: Pending) {
      pending.add(p);
      if (timer === undefined) arm();
    },
    delete(p: Pending) {
      pending.delete(p);
      // Nothing left to bound: no timer outlives the calls (a pending one holds a process, or a test, open).
      if (pending.size === 0 && timer !== undefined) {
        clearTimeout(timer);
        timer = undefined;
      }
    },
  };
}

const queues = new Map<number, ReturnType<typeof deadlineQueue>>();

/** `promise`, or SERVE_DEADLINE after `ms`; a late value is disposed of. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let queue = queues.get(ms);
  if (queue === undefined) queues.set(ms, queue = deadlineQueue());
  const q = queue;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const entry: Pending = {
      at: performance.now() + ms,
      expire: () => {
        settled = true;
        reject(
          hkError("SERVE_DEADLINE", `${what} did not answer within ${ms / 1000} s`, { retriable: true }),
        );
      },
    };
    q.add(entry);
    promise.then((value) => {
      if (settled) return dispose(value);
      settled = true;
      q.delete(entry);
      resolve(value);
    }, (e) => {
      if (settled) return;
      settled = true;
      q.delete(entry);
      reject(e);
    });
  });
}

/**
 * `service` with every method that returns a promise bounded by `ms` (async iterables pass through: their
 * consumers bound each step themselves).
 */
export function bounded<T extends object>(service: T, ms: number, what: string): T {
  // One wrapper per method, made on first use: not a closure per call.
  const wrappers = new Map<PropertyKey, { member: unknown; wrapper: unknown }>();
  return new Proxy(service, {
    get(target, name, receiver) {
      const member = Reflect.get(target, name, receiver);
      if (typeof member !== "function") return member;
      const known = wrappers.get(name);
      if (known?.member === member) return known.wrapper;
      const label = `${what} (${String(name)})`;
      const wrapper = (...args: unknown[]) => {
        const result = member.apply(target, args);
        return result instanceof Promise ? within(result, ms, label) : result;
      };
      wrappers.set(name, { member, wrapper });
      return wrapper;
    },
  });
}
