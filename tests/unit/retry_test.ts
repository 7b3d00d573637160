// withRetry's backoff is jittered: archivers of one group that met the same outage must not retry in lockstep.
// The random source is injected, so every delay below is exact.
import * as assert from "node:assert/strict";
import { nextDelay, withRetry } from "../../lib/runtime/retry.ts";
import { createLogger } from "../../lib/runtime/log.ts";
import { hkError } from "../../lib/runtime/errors.ts";

/** The delays withRetry logs while `failures` attempts fail, with `random` as its jitter source. */
async function delaysOf(failures: number, random: () => number, initialDelayMs = 1, maxDelayMs = 20) {
  const delays: number[] = [];
  const log = createLogger({ sink: (line) => delays.push(JSON.parse(line).delayMs) });
  let attempts = 0;
  const outage = hkError("STORE_UNREACHABLE", "down", { retriable: true });
  const result = await withRetry(
    () => ++attempts <= failures ? Promise.reject(outage) : Promise.resolve(attempts),
    {
      what: "test",
      signal: new AbortController().signal,
      log,
      initialDelayMs,
      maxDelayMs,
      random,
    },
  );
  assert.equal(result, failures + 1);
  return delays;
}

const sequence = (...values: number[]) => () => values.shift() ?? 0;

Deno.test("nextDelay draws between the first delay and three times the previous one, capped", () => {
  assert.equal(nextDelay(200, 200, 10_000, () => 0), 200);
  assert.equal(nextDelay(200, 200, 10_000, () => 0.5), 400);
  assert.equal(nextDelay(200, 200, 10_000, () => 0.999999), 600);
  assert.equal(nextDelay(5_000, 200, 10_000, () => 0.999999), 10_000);
  assert.equal(nextDelay(10_000, 200, 10_000, () => 0.5), 5_100);
  for (let i = 0; i < 1000; i++) {
    const d = nextDelay(3_000, 200, 10_000, Math.random);
    assert.ok(d >= 200 && d <= 9_000, `${d} out of [200, 9000]`);
  }
});

Deno.test("withRetry sleeps the jittered delays of its random source, in order", async () => {
  // 1 -> 1 + 0.5 * (3 - 1) = 2 -> 1 + 1 * (6 - 1) ≈ 6 -> 1 + 0 = 1 -> 1 + 0.25 * (3 - 1) ≈ 2 (rounded)
  assert.deepEqual(await delaysOf(5, sequence(0.5, 0.999999, 0, 0.25, 0)), [2, 6, 1, 2, 1]);
  // The cap holds however the draws go.
  assert.deepEqual(await delaysOf(4, () => 0.999999, 5, 20), [15, 20, 20, 20]);
});

Deno.test("two archivers meeting the same outage retry at different times", async () => {
  const a = await delaysOf(4, sequence(0.1, 0.9, 0.3, 0.7), 10, 1_000);
  const b = await delaysOf(4, sequence(0.8, 0.2, 0.6, 0.4), 10, 1_000);
  assert.notDeepEqual(a, b);
  assert.deepEqual(a, [12, 33, 37, 81]);
  assert.deepEqual(b, [26, 24, 47, 62]);
});
