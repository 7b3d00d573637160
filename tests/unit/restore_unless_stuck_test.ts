// unlessStuck: a produce request still unacknowledged a grace period after a stop was asked fails with
// RESTORE_INTERRUPTED; otherwise the request's own outcome comes through untouched.
import assert from "node:assert/strict";
import { unlessStuck } from "../../lib/restore/publish.ts";
import { isHkError } from "../../lib/runtime/errors.ts";

const never = () => new Promise<never>(() => {});

Deno.test("without a stop, the request's result and its failure come through", async () => {
  const running = new AbortController().signal;
  assert.equal(await unlessStuck(Promise.resolve(7), running, undefined, 5), 7);
  await assert.rejects(unlessStuck(Promise.reject(new Error("refused")), running, undefined, 5), /refused/);
});

Deno.test("a stop asked before or during the request fails it once the grace period is over", async () => {
  const stopped = new AbortController();
  stopped.abort();
  await assert.rejects(unlessStuck(never(), stopped.signal, "cp.json", 10), (e) => {
    assert.ok(isHkError(e) && e.code === "RESTORE_INTERRUPTED", String(e));
    assert.match(e.message, /resuming from cp\.json/);
    return true;
  });
  const later = new AbortController();
  const pending = unlessStuck(never(), later.signal, undefined, 10);
  setTimeout(() => later.abort(), 5);
  await assert.rejects(pending, (e) => isHkError(e) && e.code === "RESTORE_INTERRUPTED");
});

Deno.test("a request acknowledged within the grace period after a stop still succeeds", async () => {
  const stopped = new AbortController();
  stopped.abort();
  const send = new Promise((resolve) => setTimeout(() => resolve("acked"), 5));
  assert.equal(await unlessStuck(send, stopped.signal, undefined, 60_000), "acked");
});
