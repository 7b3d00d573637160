// The hostile-input suites' common ground: one seed per run (printed, and replayable with HK_FUZZ_SEED, plus
// HK_FUZZ_PATH for the one failing case), bounded runs, a `fuzz: NAME: N cases` line per property, and a failure
// report short enough to read (a counterexample can hold megabytes or 50 000 headers).
import fc from "fast-check";

/** The run's seed: HK_FUZZ_SEED when set (to replay a failure), else a fresh one. */
export function fuzzSeed(): number {
  const given = Deno.env.get("HK_FUZZ_SEED");
  if (given !== undefined && given !== "") {
    const seed = Number(given);
    if (!Number.isSafeInteger(seed)) throw new Error(`HK_FUZZ_SEED must be an integer, got ${given}`);
    return seed | 0;
  }
  return (Math.random() * 2 ** 32) | 0;
}

export interface FuzzOptions<T> {
  /** Names the property in the `fuzz:` line and in a failure. */
  name: string;
  numRuns: number;
  /** A short human description of a case, for the failure report (never the whole value). */
  describe: (value: T) => string;
  /** Cases tried first on every run, whatever the seed: the reproductions of defects found before. */
  examples?: T[];
}

/**
 * Runs `check` on `numRuns` values of `arb` and prints `fuzz: NAME: N cases, seed S`. A failure throws with the
 * seed, the path of the failing case (HK_FUZZ_SEED=S HK_FUZZ_PATH=P replays exactly that case) and a short
 * description of it. No shrinking unless HK_FUZZ_SHRINK=1: each case may cost real database and store round trips,
 * and CI's time is bounded.
 */
export async function fuzz<T>(
  arb: fc.Arbitrary<T>,
  options: FuzzOptions<T>,
  check: (value: T) => Promise<void>,
): Promise<number> {
  const seed = fuzzSeed();
  const path = Deno.env.get("HK_FUZZ_PATH") || undefined;
  const shrink = Deno.env.get("HK_FUZZ_SHRINK") === "1";
  let cases = 0;
  let last: T | undefined;
  const started = performance.now();
  const details = await fc.check(
    fc.asyncProperty(arb, async (value) => {
      cases++;
      last = value;
      await check(value);
    }),
    {
      seed,
      numRuns: Math.max(1, Math.round(options.numRuns * runScale())),
      endOnFailure: !shrink,
      examples: (options.examples ?? []).map((e): [T] => [e]),
      ...(path ? { path } : {}),
    },
  );
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`fuzz: ${options.name}: ${cases} cases, seed ${seed}, ${seconds} s`);
  if (details.failed) {
    const failing = details.counterexample?.[0] ?? last;
    const error = details.errorInstance;
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(
      `fuzz: ${options.name} failed after ${details.numRuns} cases; replay with HK_FUZZ_SEED=${seed} ` +
        `HK_FUZZ_PATH=${details.counterexamplePath}\n  case: ${
          failing === undefined ? "?" : options.describe(failing)
        }\n  error: ${message.slice(0, 4000)}`,
      { cause: error },
    );
  }
  return cases;
}

/** HK_FUZZ_SCALE multiplies every property's number of cases (a longer soak: 10; a quick look: 0.1). */
function runScale(): number {
  const scale = Number(Deno.env.get("HK_FUZZ_SCALE") ?? "1");
  return Number.isFinite(scale) && scale > 0 ? scale : 1;
}

/**
 * `n` pseudo-random bytes from `seed` (xorshift32): large values without asking fast-check for each byte, and
 * incompressible enough that PostgreSQL's TOAST compression cannot shrink text made of them below an index's limit.
 */
export function pseudoBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed | 0) || 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** `n` pseudo-random printable ASCII letters: valid UTF-8 text that does not compress. */
export function pseudoText(n: number, seed: number): Uint8Array {
  return pseudoBytes(n, seed).map((b) => 0x21 + (b % 94));
}

/** A short, printable description of bytes for failure reports. */
export function showBytes(bytes: Uint8Array | null): string {
  if (bytes === null) return "null";
  const head = Array.from(bytes.subarray(0, 24), (b) => b.toString(16).padStart(2, "0")).join("");
  return `<${bytes.length} B ${head}${bytes.length > 24 ? "…" : ""}>`;
}

/** A string as JSON, cut to `max` characters. */
export function showText(text: string, max = 60): string {
  const json = JSON.stringify(text);
  return json.length > max ? `${json.slice(0, max)}…(${text.length} chars)` : json;
}
