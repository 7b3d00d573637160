// The rows being restored, in order, each with its object fetched or being fetched. --fetch-concurrency bounds the
// fetches outstanding, not the window: objects that arrive while an earlier one is still on its way wait their turn
// (within --max-inflight-mib and `perFetch` rows a fetch), so one slow object does not idle the fetches behind it.

export interface WindowLimits {
  /** Fetches outstanding at most (--fetch-concurrency). */
  fetchConcurrency: number;
  /** Bytes of objects held at most, by the sizes the index gives (--max-inflight-mib); one row always fits. */
  maxInflightBytes: number;
  /** Rows held at most per allowed fetch. */
  perFetch: number;
}

interface Slot<R> {
  row: R;
  object: Promise<Uint8Array | null>;
  settled: boolean;
}

export function createFetchWindow<R extends { size: number }>(
  limits: WindowLimits,
  fetch: (row: R) => Promise<Uint8Array | null>,
) {
  const slots: Slot<R>[] = [];
  let bytes = 0;
  let fetching = 0;
  const maxRows = limits.fetchConcurrency * limits.perFetch;
  // Resolved, and replaced, whenever a fetch settles.
  let fetchSettled = Promise.withResolvers<void>();

  return {
    get length() {
      return slots.length;
    },
    /** Whether the oldest row's fetch has settled, so it can be taken without waiting. */
    headSettled: () => slots[0]?.settled === true,
    /** Whether `row`'s fetch may start now. */
    roomFor: (row: R) =>
      slots.length === 0 ||
      (fetching < limits.fetchConcurrency && slots.length < maxRows &&
        bytes + row.size <= limits.maxInflightBytes),
    /** Starts fetching `row`'s object behind the rows already in the window. */
    add(row: R): void {
      const slot: Slot<R> = { row, object: fetch(row), settled: false };
      const settled = () => {
        slot.settled = true;
        fetching--;
        const current = fetchSettled;
        fetchSettled = Promise.withResolvers<void>();
        current.resolve();
      };
      // This also keeps a failure from counting as unhandled until take() hands it out and it is awaited.
      slot.object.then(settled, settled);
      fetching++;
      slots.push(slot);
      bytes += row.size;
    },
    /** Resolves when any fetch in the window settles (the head, or one behind it, which frees a fetch slot). */
    anySettled: () => fetchSettled.promise,
    /** The oldest row and its object (settled or not), out of the window. */
    take(): { row: R; object: Promise<Uint8Array | null> } {
      const slot = slots.shift();
      if (slot === undefined) throw new Error("take() on an empty fetch window");
      bytes -= slot.row.size;
      return slot;
    },
    /** Every object still in the window, for waiting on them before returning. */
    objects: () => slots.map((s) => s.object),
  };
}
