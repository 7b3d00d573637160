// lib/cli/progress.ts: what a person sees on a terminal and what a log collects, driven by a fake clock.
import assert from "node:assert/strict";
import { createProgress, renderBar, renderJson } from "../../lib/cli/progress.ts";

function fakeClock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

Deno.test("progress bar: fraction, counts, rates and ETA", () => {
  const line = renderBar({
    label: "verify",
    done: 250,
    total: 1000,
    bytes: 5 * 1024 * 1024,
    elapsedMs: 10_000,
  });
  assert.equal(line, `verify [########......................] 25% 250/1000 25.0/s 512.0 KiB/s ETA 0:30`);
  assert.equal(
    renderBar({ label: "list", done: 7, total: undefined, bytes: 0, elapsedMs: 0 }),
    "list 7 0.0/s",
  );
});

Deno.test("progress on a terminal redraws one line and ends it with the summary", () => {
  const clock = fakeClock();
  const out: string[] = [];
  const p = createProgress({
    label: "export",
    total: 4,
    isTerminal: true,
    write: (t) => out.push(t),
    now: clock.now,
  });
  p.tick(1);
  assert.deepEqual(out, [], "no redraw within the interval");
  clock.advance(1000);
  p.tick(1, 2048);
  assert.equal(out.length, 1);
  assert.match(out[0]!, /^\rexport \[#+\.+\] 50% 2\/4/);
  clock.advance(1000);
  p.done({ exported: 4, failed: 0 });
  assert.match(out[1]!, /^\rexport \[#+\.*\] 50%/);
  assert.equal(out[2], "\nexport: exported 4, failed 0\n");
});

Deno.test("progress elsewhere: JSON lines now and then, and always a final one", () => {
  const clock = fakeClock();
  const out: string[] = [];
  const p = createProgress({
    label: "verify index",
    total: 10,
    isTerminal: false,
    write: (t) => out.push(t),
    now: clock.now,
  });
  for (let i = 0; i < 5; i++) {
    clock.advance(1000);
    p.tick(1, 100);
  }
  assert.equal(out.length, 0, "the default log interval is 10 s");
  clock.advance(10_000);
  p.tick(1);
  assert.deepEqual(JSON.parse(out[0]!), {
    msg: "progress",
    label: "verify index",
    done: 6,
    total: 10,
    bytes: 500,
    perSecond: 0.4,
    etaSeconds: 10,
  });
  p.done({ checked: 6 });
  const last = JSON.parse(out[1]!);
  assert.equal(last.finished, true);
  assert.equal(last.checked, 6);
  assert.equal(
    renderJson({ label: "x", done: 0, total: undefined, bytes: 0, elapsedMs: 0 }).includes("eta"),
    false,
  );
});
