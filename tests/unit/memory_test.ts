import assert from "node:assert/strict";
import {
  fullGarbageCollection,
  keepMemoryUnder,
  memoryGovernor,
  memorySettings,
  memoryTargetBytes,
  STUCK_AFTER_MS,
  tuneMalloc,
} from "../../lib/runtime/memory.ts";

const mallocUrl = new URL("../../lib/runtime/memory.ts", import.meta.url).href;

/** MiB of RSS a fresh Deno keeps after allocating, filling and freeing four 16 MiB buffers, tuned or not. */
async function retainedMiB(tune: boolean): Promise<number> {
  const code = `
    import { tuneMalloc } from "${mallocUrl}";
    if (${tune} && tuneMalloc({}) !== "applied") throw new Error("not applied");
    const base = Deno.memoryUsage().rss;
    for (let i = 0; i < 4; i++) {
      const b = new Uint8Array(16 * 2 ** 20);
      b.fill(1);
      b.buffer.transfer(0); // freed now, not at a collection
    }
    console.log((Deno.memoryUsage().rss - base) / 2 ** 20);
  `;
  const out = await new Deno.Command(Deno.execPath(), { args: ["eval", "--ext=ts", code], stderr: "inherit" })
    .output();
  assert.equal(out.code, 0);
  return Number(new TextDecoder().decode(out.stdout).trim());
}

Deno.test("tuneMalloc: freed large buffers leave the process instead of staying in glibc's heap", {
  ignore: Deno.build.os !== "linux",
}, async () => {
  const untuned = await retainedMiB(false);
  const tuned = await retainedMiB(true);
  // glibc's default keeps the second and later 16 MiB buffers in its heap once the first one's free has raised
  // its threshold; the fixed threshold unmaps every one.
  assert.ok(untuned >= 12, `untuned glibc kept ${untuned} MiB (expected ~16: the premise of the tuning)`);
  assert.ok(tuned < 4, `tuned glibc kept ${tuned} MiB`);
});

Deno.test("tuneMalloc: an operator's MALLOC_MMAP_THRESHOLD_ wins; without FFI permission nothing changes", async () => {
  assert.equal(tuneMalloc({ MALLOC_MMAP_THRESHOLD_: "65536" }), "environment");
  const code = `import { tuneMalloc } from "${mallocUrl}"; console.log(tuneMalloc({}));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", `data:application/typescript,${encodeURIComponent(code)}`],
    stderr: "inherit",
  }).output();
  assert.equal(out.code, 0);
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "unavailable");
  if (Deno.build.os === "linux") {
    assert.equal(tuneMalloc({}), "applied");
    assert.equal(memorySettings.malloc, "applied", "what the service logs at start-up");
  }
});

Deno.test("memoryGovernor: collects once RSS reaches the target, once a second, ten a second 32 MiB past it", () => {
  const MiB = 2 ** 20;
  const target = 256 * MiB;
  let rss = 0;
  let clock = 0;
  let collected = 0;
  const governor = memoryGovernor(target, { rss: () => rss, now: () => clock, collect: () => collected++ });
  /** Checks every 25 ms for `ms`, as the timer does; returns how many collections that made. */
  const run = (ms: number) => {
    const before = collected;
    for (const end = clock + ms; clock < end; clock += 25) governor.check();
    return collected - before;
  };
  rss = target - 1;
  assert.equal(run(5_000), 0, "below the target nothing is collected");
  rss = target;
  assert.equal(run(1_000), 1, "at the target: one collection, the next not before a second has passed");
  assert.equal(run(3_000), 3, "still over it: one a second");
  rss = target + 32 * MiB;
  assert.equal(run(1_000), 10, "32 MiB past it: ten a second");
  rss = target + 32 * MiB - 1;
  assert.equal(run(2_000), 2, "back under the hard margin: one a second again");
  assert.equal(governor.collections, collected);
});

Deno.test("memoryGovernor: live memory over the target for a minute is told once, again after it fell below", () => {
  const MiB = 2 ** 20;
  let rss = 280 * MiB;
  let clock = 0;
  const told: Array<Record<string, number>> = [];
  const governor = memoryGovernor(256 * MiB, {
    rss: () => rss,
    now: () => clock,
    collect: () => {},
    stuck: (fields) => told.push(fields),
  });
  const run = (ms: number) => {
    for (const end = clock + ms; clock < end; clock += 25) governor.check();
  };
  run(STUCK_AFTER_MS - 25);
  assert.deepEqual(told, [], "not before a minute");
  run(120_000);
  assert.deepEqual(told, [{ rssMiB: 280, targetMiB: 256, seconds: 60, collections: 60 }], "once, then quiet");
  rss = 200 * MiB;
  run(25);
  rss = 260 * MiB;
  run(STUCK_AFTER_MS + 25);
  assert.deepEqual(
    told.slice(1),
    [{ rssMiB: 260, targetMiB: 256, seconds: 60, collections: 60 }],
    "told again after RSS fell below the target and stayed over it another minute",
  );
});

Deno.test("keepMemoryUnder: V8's collection it runs frees dead buffers at once; a target of 0 is off", () => {
  const gc = fullGarbageCollection();
  assert.ok(gc, "V8 exposed its gc at run time");
  const external = () => Deno.memoryUsage().external;
  const base = external();
  // In a function of its own, so no register or handle of this frame keeps the last buffer alive.
  const makeGarbage = () => {
    for (let i = 0; i < 3; i++) new Uint8Array(16 * 2 ** 20).fill(1);
  };
  makeGarbage();
  assert.ok(external() - base >= 40 * 2 ** 20, "the garbage is still counted before any collection");
  gc();
  assert.ok(external() - base < 8 * 2 ** 20, `garbage left: ${(external() - base) / 2 ** 20} MiB`);
  keepMemoryUnder(0).stop();
  assert.equal(memorySettings.targetMiB, null, "a target of 0 is reported as off");
  const on = keepMemoryUnder(300 * 2 ** 20);
  on.stop();
  assert.equal(memorySettings.targetMiB, 300, "what the service logs at start-up");
});

Deno.test("MEMORY_TARGET_MIB: 256 MiB by default, 0 is off, anything but whole MiB stops start-up", async () => {
  assert.equal(memoryTargetBytes({}), 256 * 2 ** 20);
  assert.equal(memoryTargetBytes({ MEMORY_TARGET_MIB: "" }), 256 * 2 ** 20);
  assert.equal(memoryTargetBytes({ MEMORY_TARGET_MIB: "0" }), 0);
  assert.equal(memoryTargetBytes({ MEMORY_TARGET_MIB: "512" }), 512 * 2 ** 20);
  for (const bad of ["-1", "1.5", "256MiB", "abc"]) {
    assert.throws(() => memoryTargetBytes({ MEMORY_TARGET_MIB: bad }), (e: Error & { code?: string }) => {
      assert.equal(e.code, "CONFIG_INVALID");
      assert.match(e.message, /MEMORY_TARGET_MIB must be a whole number of MiB/);
      return true;
    });
  }
  const main = new URL("../../main.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, "--version"],
    env: { MEMORY_TARGET_MIB: "lots" },
  }).output();
  assert.equal(out.code, 1);
  assert.match(
    new TextDecoder().decode(out.stderr),
    /MEMORY_TARGET_MIB must be .* got "lots" \[CONFIG_INVALID\]/,
  );
});
