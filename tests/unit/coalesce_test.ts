// Lookups asked for while statements are in flight go together in one; each caller gets its own key's answer
// (null when not found), and a failed statement fails every caller waiting on it, never another batch's.
import { deepEqual, equal, rejects } from "node:assert/strict";
import { coalesced } from "../../lib/index/coalesce.ts";

function controlled() {
  const calls: { keys: string[]; answer(found: Map<string, number> | Error): void }[] = [];
  const many = (keys: string[]) =>
    new Promise<Map<string, number>>((resolve, reject) => {
      calls.push({ keys, answer: (f) => f instanceof Error ? reject(f) : resolve(f) });
    });
  return { calls, many };
}

Deno.test("keys asked for while the slots are taken go together in one statement", async () => {
  const { calls, many } = controlled();
  const one = coalesced(many, { slots: 1, maxKeys: 64 });
  const first = one("a");
  const later = [one("b"), one("c"), one("b")];
  deepEqual(calls.map((c) => c.keys), [["a"]]);
  calls[0]!.answer(new Map([["a", 1]]));
  equal(await first, 1);
  await Promise.resolve();
  deepEqual(calls.map((c) => c.keys), [["a"], ["b", "c"]]);
  calls[1]!.answer(new Map([["b", 2]]));
  deepEqual(await Promise.all(later), [2, null, 2]);
});

Deno.test("a failed statement fails its own callers only; at most maxKeys keys per statement", async () => {
  const { calls, many } = controlled();
  const one = coalesced(many, { slots: 2, maxKeys: 2 });
  const a = one("a");
  const b = one("b");
  const rest = [one("c"), one("d"), one("e")];
  deepEqual(calls.map((c) => c.keys), [["a"], ["b"]]);
  calls[0]!.answer(new Error("lost connection"));
  await rejects(a, /lost connection/);
  await Promise.resolve();
  deepEqual(calls.map((c) => c.keys), [["a"], ["b"], ["c", "d"]]);
  calls[1]!.answer(new Map([["b", 2]]));
  equal(await b, 2);
  calls[2]!.answer(new Error("refused"));
  await Promise.resolve();
  deepEqual(calls[3]?.keys, ["e"]);
  calls[3]!.answer(new Map([["e", 5]]));
  const settled = await Promise.allSettled(rest);
  deepEqual(settled.map((s) => s.status), ["rejected", "rejected", "fulfilled"]);
});

Deno.test("with stallMs, a second statement goes out only once the one in flight is that old", async () => {
  const { calls, many } = controlled();
  let clock = 0;
  const one = coalesced(many, { slots: 2, maxKeys: 64, stallMs: 50, now: () => clock });
  const a = one("a");
  clock = 10;
  const b = one("b");
  deepEqual(calls.map((c) => c.keys), [["a"]], "the first answers promptly: b waits for it");
  clock = 60;
  const c = one("c");
  deepEqual(calls.map((c) => c.keys), [["a"], ["b", "c"]], "the first is stalled: a second goes out");
  const d = one("d");
  deepEqual(calls.length, 2, "both slots taken");
  calls[1]!.answer(new Map([["b", 2], ["c", 3]]));
  deepEqual(await Promise.all([b, c]), [2, 3]);
  await Promise.resolve();
  deepEqual(calls.map((c) => c.keys), [["a"], ["b", "c"], ["d"]], "the stalled one is still the oldest");
  calls[0]!.answer(new Map([["a", 1]]));
  calls[2]!.answer(new Map([["d", 4]]));
  deepEqual(await Promise.all([a, d]), [1, 4]);
});
