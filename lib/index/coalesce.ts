// Single-key lookups (serve's GET /msg/{uuid}: one per request) coalesced into few statements. Under load a
// lookup's cost is the statement's, not its row's: postgres.js building, writing and parsing one round trip, and
// PostgreSQL planning and executing it. While `slots` statements are in flight, the keys asked for wait and then
// go together as one; an idle server sends each at once, so a lone request waits for nothing more than before.

interface Waiter<V> {
  resolve(value: V | null): void;
  reject(e: unknown): void;
}

/**
 * `one(key)` resolves to what `many` found for that key, or null. `many` answers a set of distinct keys (at most
 * `maxKeys`); a failure of it fails every key it was asked for, as each one's own statement would have failed.
 * With `stallMs`, a statement beyond the first goes out only once the oldest in flight has been out that long
 * (looked at as keys arrive and as statements end): one statement at a time while they answer promptly.
 */
export function coalesced<V>(
  many: (keys: string[]) => Promise<Map<string, V>>,
  options: { slots: number; maxKeys: number; stallMs?: number; now?: () => number },
): (key: string) => Promise<V | null> {
  const waiting = new Map<string, Waiter<V>[]>();
  // Start times of the statements in flight, oldest first.
  const inFlight = new Set<{ at: number }>();
  const now = options.now ?? (() => performance.now());

  function send(): void {
    while (waiting.size > 0 && inFlight.size < options.slots) {
      if (inFlight.size > 0 && options.stallMs !== undefined) {
        const oldest = inFlight.values().next().value!;
        if (now() - oldest.at < options.stallMs) return;
      }
      sendOne();
    }
  }

  function sendOne(): void {
    const batch = new Map<string, Waiter<V>[]>();
    for (const [key, waiters] of waiting) {
      if (batch.size >= options.maxKeys) break;
      batch.set(key, waiters);
      waiting.delete(key);
    }
    const statement = { at: options.stallMs === undefined ? 0 : now() };
    inFlight.add(statement);
    many([...batch.keys()]).then(
      (found) => {
        for (const [key, waiters] of batch) for (const w of waiters) w.resolve(found.get(key) ?? null);
      },
      (e) => {
        for (const waiters of batch.values()) for (const w of waiters) w.reject(e);
      },
    ).finally(() => {
      inFlight.delete(statement);
      send();
    });
  }

  return (key) =>
    new Promise<V | null>((resolve, reject) => {
      const waiters = waiting.get(key);
      if (waiters !== undefined) waiters.push({ resolve, reject });
      else waiting.set(key, [{ resolve, reject }]);
      send();
    });
}
