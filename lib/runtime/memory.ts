// Peak RSS with large records is bounded by the fetch and in-flight settings only if dead buffers leave the
// process soon. Two things keep them longer: V8 frees an ArrayBuffer's memory only when it collects its object,
// which it schedules by the growth of that memory (some 64 MiB); and glibc, after freeing a mapping of N bytes,
// raises its mmap threshold to N (up to 32 MiB) and serves later buffers of that size from its heap, which it
// keeps (docs/benchmarks.md, "Figures of issue 17": 60-190 MiB of peak RSS with 16 MiB records).
import v8 from "node:v8";
import vm from "node:vm";
import { hkError } from "./errors.ts";

/** Allocations from 128 KiB get their own mapping, unmapped when freed; smaller ones stay in glibc's heap. */
export const MMAP_THRESHOLD_BYTES = 128 * 1024;
const M_MMAP_THRESHOLD = -3; // <malloc.h>

export type MallocTuning =
  | "applied" // mallopt(M_MMAP_THRESHOLD) set it in this process
  | "environment" // MALLOC_MMAP_THRESHOLD_ is set: glibc applied the operator's value at start-up
  | "unavailable"; // not glibc (macOS, musl), or no FFI permission: the allocator's defaults stay

/** What this process applied (tuneMalloc, keepMemoryUnder), for the service's start-up log. */
export const memorySettings: { malloc: MallocTuning | "not tried"; targetMiB: number | null } = {
  malloc: "not tried",
  targetMiB: null,
};

/**
 * Fixes glibc's mmap threshold at MMAP_THRESHOLD_BYTES, in-process, so a compiled binary, `deno run` and the
 * container behave alike without an environment variable set before start-up (glibc reads those only then).
 */
export function tuneMalloc(env: Record<string, string | undefined>): MallocTuning {
  return (memorySettings.malloc = fixMmapThreshold(env));
}

function fixMmapThreshold(env: Record<string, string | undefined>): MallocTuning {
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

/** The peak RSS aimed at by default (MEMORY_TARGET_MIB): the figure of issue 17, less what one check may miss. */
export const DEFAULT_MEMORY_TARGET_MIB = 256;
const CHECK_EVERY_MS = 25;
/** A full collection of a 50-130 MiB heap takes tens of ms: at most one a second bounds what the target costs. */
const COLLECT_AT_MOST_EVERY_MS = 1_000;
/** Past the target by this much, memory is growing faster than one collection a second frees (16 MiB records). */
const HARD_MARGIN_BYTES = 32 * 2 ** 20;
const HARD_COLLECT_AT_MOST_EVERY_MS = 100;

/** MEMORY_TARGET_MIB in bytes: whole MiB, 0 for no target; a process setting, read before any command. */
export function memoryTargetBytes(env: Record<string, string | undefined>): number {
  const text = env.MEMORY_TARGET_MIB;
  if (text === undefined || text === "") return DEFAULT_MEMORY_TARGET_MIB * 2 ** 20;
  if (!/^\d{1,7}$/.test(text)) {
    throw hkError(
      "CONFIG_INVALID",
      `MEMORY_TARGET_MIB must be a whole number of MiB (0 turns the target off), got ${JSON.stringify(text)}`,
    );
  }
  return Number(text) * 2 ** 20;
}

let fullCollection: (() => void) | null | undefined;

/** V8's full collection, exposed at run time (the Node idiom), so no launcher needs --expose-gc; null if refused. */
export function fullGarbageCollection(): (() => void) | null {
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

/** What keepMemoryUnder reads and calls; tests pass their own to step the rule without timers. */
export interface MemoryProbe {
  rss: () => number;
  now: () => number;
  collect: () => void;
  /** Told once when RSS has stayed at or above the target for STUCK_AFTER_MS; again only after it fell below. */
  stuck?: (fields: { rssMiB: number; targetMiB: number; seconds: number; collections: number }) => void;
}

/** Live memory over the target for this long is not garbage V8 was slow to free: the settings need more. */
export const STUCK_AFTER_MS = 60_000;

/** This process's collections for the target and the time they took, for /metrics. */
export const memoryActivity = { collections: 0, collectionSeconds: 0 };

/**
 * The rule of keepMemoryUnder as one step, called at every check: collect once RSS reaches `targetBytes`, at
 * most once a second, or ten times a second once RSS is 32 MiB past it.
 */
export function memoryGovernor(targetBytes: number, probe: MemoryProbe) {
  let collections = 0;
  let last = -Infinity;
  let overSince: number | null = null;
  let collectionsSince = 0;
  let told = false;
  return {
    check(): void {
      const resident = probe.rss();
      if (resident < targetBytes) {
        overSince = null;
        told = false;
        return;
      }
      const now = probe.now();
      if (overSince === null) [overSince, collectionsSince] = [now, 0];
      if (!told && now - overSince >= STUCK_AFTER_MS) {
        told = true;
        probe.stuck?.({
          rssMiB: Math.round(resident / 2 ** 20),
          targetMiB: targetBytes / 2 ** 20,
          seconds: Math.round((now - overSince) / 1000),
          collections: collectionsSince,
        });
      }
      const hard = resident >= targetBytes + HARD_MARGIN_BYTES;
      if (now - last < (hard ? HARD_COLLECT_AT_MOST_EVERY_MS : COLLECT_AT_MOST_EVERY_MS)) return;
      last = now;
      probe.collect();
      collections++;
      collectionsSince++;
    },
    get collections() {
      return collections;
    },
  };
}

/**
 * Collects garbage once RSS reaches `targetBytes` instead of at V8's own pace, which lets dead memory grow by
 * some 64 MiB of buffers and by half the live heap or more (docs/benchmarks.md, "Figures of issue 17"), so that the peak
 * comes from what is live: the fetch and in-flight settings. Checked every 25 ms (memoryGovernor); below the
 * target it costs nothing but the check. A target of 0, or a V8 that refuses to expose gc, turns it off.
 * `warn` hears when live memory itself stays over the target, where collecting cannot help.
 */
export function keepMemoryUnder(
  targetBytes: number,
  warn?: (msg: string, fields: Record<string, number>) => void,
) {
  const gc = targetBytes > 0 ? fullGarbageCollection() : null;
  memorySettings.targetMiB = gc === null ? null : targetBytes / 2 ** 20;
  if (gc === null) return { stop: () => {} };
  const governor = memoryGovernor(targetBytes, {
    rss: () => Deno.memoryUsage().rss,
    now: () => performance.now(),
    collect: () => {
      const started = performance.now();
      gc();
      memoryActivity.collections++;
      memoryActivity.collectionSeconds += (performance.now() - started) / 1000;
    },
    stuck: (fields) =>
      warn?.(
        "memory stays above MEMORY_TARGET_MIB: what is live needs more, and a full collection runs every second " +
          "until it falls; raise MEMORY_TARGET_MIB or lower the fetch and in-flight settings (--max-inflight-mib)",
        fields,
      ),
  });
  const timer = setInterval(governor.check, CHECK_EVERY_MS);
  Deno.unrefTimer(timer);
  return { stop: () => clearInterval(timer) };
}
