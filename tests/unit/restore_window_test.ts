import assert from "node:assert/strict";
import { createFetchWindow } from "../../lib/restore/window.ts";

interface Row {
  name: string;
  size: number;
}

/** A window whose fetches finish only when the test says so. */
function harness(limits = { fetchConcurrency: 2, maxInflightBytes: 100, perFetch: 2 }) {
  const fetches = new Map<string, PromiseWithResolvers<Uint8Array | null>>();
  const window = createFetchWindow<Row>(limits, (row) => {
    const p = Promise.withResolvers<Uint8Array | null>();
    fetches.set(row.name, p);
    return p.promise;
  });
  const row = (name: string, size = 10) => ({ name, size });
  const finish = async (name: string) => {
    const settled = window.anySettled();
    fetches.get(name)!.resolve(new TextEncoder().encode(name));
    await settled;
  };
  return { window, row, finish, fetches };
}

Deno.test("fetch window: a late head does not idle the fetches behind it; rows leave in order", async () => {
  const { window, row, finish } = harness();
  window.add(row("a"));
  window.add(row("b"));
  assert.equal(window.roomFor(row("c")), false, "two fetches outstanding: --fetch-concurrency 2");
  await finish("b");
  assert.equal(window.headSettled(), false, "a is still on its way");
  assert.equal(window.roomFor(row("c")), true, "b arrived: its fetch slot is free although a is late");
  window.add(row("c"));
  await finish("c");
  window.add(row("d"));
  await finish("d");
  assert.equal(window.roomFor(row("e")), false, "four rows held: 2 per allowed fetch");
  await finish("a");
  assert.equal(window.headSettled(), true);
  const taken: string[] = [];
  while (window.length > 0) {
    const { row: r, object } = window.take();
    taken.push(`${r.name}=${new TextDecoder().decode((await object)!)}`);
  }
  assert.deepEqual(taken, ["a=a", "b=b", "c=c", "d=d"]);
  assert.throws(() => window.take(), /empty fetch window/);
});

Deno.test("fetch window: bytes held stay within --max-inflight-mib, yet a larger object still fits alone", async () => {
  const { window, row, finish } = harness({ fetchConcurrency: 8, maxInflightBytes: 100, perFetch: 2 });
  window.add(row("a", 60));
  assert.equal(window.roomFor(row("b", 50)), false, "60 + 50 > 100");
  assert.equal(window.roomFor(row("b", 40)), true, "60 + 40 fits");
  await finish("a");
  await window.take().object;
  assert.equal(window.roomFor(row("huge", 500)), true, "an empty window takes any one object");
  window.add(row("huge", 500));
  assert.equal(window.roomFor(row("c", 1)), false);
});

Deno.test("fetch window: a failed fetch is handed out with its row, not thrown as unhandled", async () => {
  const { window, row, fetches } = harness();
  window.add(row("a"));
  const settled = window.anySettled();
  fetches.get("a")!.reject(new Error("S3 said no"));
  await settled;
  assert.equal(window.headSettled(), true);
  const { row: r, object } = window.take();
  assert.equal(r.name, "a");
  await assert.rejects(object, /S3 said no/);
  assert.deepEqual(window.objects(), []);
});
