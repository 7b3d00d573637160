// serve's bound on a call (lib/serve/deadline.ts): calls of one length share one timer for the oldest, so a call
// that settles early must not take the later ones' deadline with it, and no timer may outlive the calls (the
// test's sanitizer would report it).
import assert from "node:assert/strict";
import { bounded, isDeadlineError, within } from "../../lib/serve/deadline.ts";

const never = () => new Promise<never>(() => {});

Deno.test("within: an answer in time passes; silence past the deadline is SERVE_DEADLINE", async () => {
  assert.equal(await within(Promise.resolve(7), 50, "the index"), 7);
  await assert.rejects(within(Promise.reject(new Error("refused")), 50, "the index"), /refused/);
  const late = await within(never(), 20, "the index").catch((e) => e);
  assert.ok(isDeadlineError(late), String(late));
  assert.match(late.message, /the index did not answer within 0.02 s/);
});

Deno.test("within: the oldest call settling early leaves the later ones bounded", async () => {
  let answer!: (v: string) => void;
  const first = within(new Promise<string>((r) => answer = r), 30, "first");
  const second = within(never(), 30, "second");
  const third = within(never(), 30, "third");
  answer("in time");
  assert.equal(await first, "in time");
  const failures = await Promise.all([second, third].map((p) => p.catch((e) => e)));
  assert.deepEqual(failures.map((e) => isDeadlineError(e)), [true, true]);
  assert.match(failures[0].message, /^second/);
});

Deno.test("within: a value that comes after the deadline is disposed of (its stream cancelled)", async () => {
  let answer!: (v: { body: ReadableStream<Uint8Array> }) => void;
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({ cancel: () => void (cancelled = true) });
  const call = within(new Promise<{ body: ReadableStream<Uint8Array> }>((r) => answer = r), 10, "the store");
  assert.ok(isDeadlineError(await call.catch((e) => e)));
  answer({ body });
  await new Promise((r) => setTimeout(r, 0));
  assert.ok(cancelled);
});

Deno.test("bounded: each promise-returning method is bounded, by its own name", async () => {
  const service = {
    quick: (n: number) => Promise.resolve(n * 2),
    silent: never,
    plain: () => 3,
  };
  const b = bounded(service, 20, "the service");
  assert.equal(await b.quick(2), 4);
  assert.equal(await b.quick(5), 10);
  assert.equal(b.plain(), 3);
  const late = await b.silent().catch((e) => e);
  assert.ok(isDeadlineError(late));
  assert.match(late.message, /^the service \(silent\) did not answer/);
});
