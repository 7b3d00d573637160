import assert from "node:assert/strict";
import { createLargeGarbageCollector, LARGE_OBJECT_BYTES, tuneMalloc } from "../lib/memory.ts";

const mallocUrl = new URL("../lib/memory.ts", import.meta.url).href;

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
  if (Deno.build.os === "linux") assert.equal(tuneMalloc({}), "applied");
});

Deno.test("createLargeGarbageCollector: collects after every 32 MiB of large objects, never for small ones", () => {
  const collector = createLargeGarbageCollector();
  for (let i = 0; i < 100; i++) collector.released(LARGE_OBJECT_BYTES - 1);
  assert.equal(collector.collections, 0, "objects under 4 MiB are left to V8");
  const external = () => Deno.memoryUsage().external;
  const base = external();
  for (let i = 0; i < 3; i++) new Uint8Array(16 * 2 ** 20).fill(1); // garbage at once
  const withGarbage = external();
  assert.ok(withGarbage - base >= 40 * 2 ** 20, "the garbage is still counted before the collection");
  collector.released(16 * 2 ** 20);
  assert.equal(collector.collections, 0);
  collector.released(16 * 2 ** 20);
  assert.equal(collector.collections, 1, "32 MiB of large objects released");
  assert.ok(external() - base < 8 * 2 ** 20, `garbage left: ${(external() - base) / 2 ** 20} MiB`);
});
