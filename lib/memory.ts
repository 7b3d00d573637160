// Peak RSS with large records is bounded by the fetch and in-flight settings only if dead buffers leave the
// process soon. Two things keep them longer: V8 frees an ArrayBuffer's memory only when it collects its object,
// which it schedules by the growth of that memory (some 64 MiB); and glibc, after freeing a mapping of N bytes,
// raises its mmap threshold to N (up to 32 MiB) and serves later buffers of that size from its heap, which it
// keeps (README, "Figures of issue 17": 60-190 MiB of peak RSS with 16 MiB records).
import v8 from "node:v8";
import vm from "node:vm";

/** Allocations from 128 KiB get their own mapping, unmapped when freed; smaller ones stay in glibc's heap. */
export const MMAP_THRESHOLD_BYTES = 128 * 1024;
const M_MMAP_THRESHOLD = -3; // <malloc.h>

export type MallocTuning =
  | "applied" // mallopt(M_MMAP_THRESHOLD) set it in this process
  | "environment" // MALLOC_MMAP_THRESHOLD_ is set: glibc applied the operator's value at start-up
  | "unavailable"; // not glibc (macOS, musl), or no FFI permission: the allocator's defaults stay

/**
 * Fixes glibc's mmap threshold at MMAP_THRESHOLD_BYTES, in-process, so a compiled binary, `deno run` and the
 * container behave alike without an environment variable set before start-up (glibc reads those only then).
 */
export function tuneMalloc(env: Record<string, string | undefined>): MallocTuning {
  if (env.MALLOC_MMAP_THRESHOLD_ !== undefined) return "environment";
  if (Deno.build.os !== "linux") return "unavailable";
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return "unavailable";
  let libc: Deno.DynamicLibrary<{ mallopt: { parameters: ["i32", "i32"]; result: "i32" } }>;
  try {
    libc = Deno.dlopen("libc.so.6", { mallopt: { parameters: ["i32", "i32"], result: "i32" } });
  } catch {
    return "unavailable"; // musl and others have no libc.so.6 with glibc's mallopt
  }
  try {
    return libc.symbols.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) === 1 ? "applied" : "unavailable";
  } finally {
    libc.close(); // the setting lives in glibc, not in the handle
  }
}

/** Objects from this size are large: their garbage is what collections are asked for. */
export const LARGE_OBJECT_BYTES = 4 * 2 ** 20;
/** Large objects' bytes released between two collections: half of V8's own pace (some 64 MiB). */
export const COLLECT_EVERY_BYTES = 32 * 2 ** 20;

let fullCollection: (() => void) | null | undefined;

/** V8's full collection, exposed at run time (the Node idiom), so no launcher needs --expose-gc; null if refused. */
function collector(): (() => void) | null {
  if (fullCollection !== undefined) return fullCollection;
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return (fullCollection = exposed);
  try {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as unknown;
    fullCollection = typeof gc === "function" ? (gc as () => void) : null;
  } catch {
    fullCollection = null;
  }
  return fullCollection;
}

/**
 * Counts the bytes of large objects the caller is done with (a record's object once written: the fetched
 * response it came from and the copies made for it) and collects once they add up to COLLECT_EVERY_BYTES, instead
 * of at V8's own pace, which let four or more dead 16 MiB buffers wait (README, "Figures of issue 17"). Objects
 * under LARGE_OBJECT_BYTES are left to V8: collecting as often for 1 MiB records measured 1-3 ms more CPU per
 * record, a fifth of the archive's and restore's rates, for ~40 MiB less peak RSS.
 */
export function createLargeGarbageCollector(everyBytes = COLLECT_EVERY_BYTES) {
  let released = 0;
  let collections = 0;
  return {
    released(bytes: number): void {
      if (bytes < LARGE_OBJECT_BYTES) return;
      released += bytes;
      if (released < everyBytes) return;
      released = 0;
      const gc = collector();
      if (gc === null) return;
      gc();
      collections++;
    },
    get collections() {
      return collections;
    },
  };
}
