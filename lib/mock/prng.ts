// The one source of randomness of mock-hop. sfc32 (Chris Doty-Humphrey's Small Fast Counting generator): 128 bits
// of state, passes PractRand, and is a few lines of 32-bit integer arithmetic, so every JavaScript engine produces
// the same sequence. Math.random and crypto are never used: the same seed must give the same records, byte for byte.
import { hkError } from "../runtime/errors.ts";

export interface Prng {
  /** Uniform 32-bit unsigned integer. */
  next(): number;
  /** Uniform integer in [0, n); n in 1..2^32. */
  int(n: number): number;
  /** Uniform integer in [min, max] (inclusive). */
  between(min: number, max: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** Index into `weights` with probability proportional to its weight (weights >= 0, some > 0). */
  weighted(weights: readonly number[]): number;
  bytes(n: number): Uint8Array;
}

const TWO_32 = 0x1_0000_0000;

// splitmix32 spreads a small seed over the whole state, so seeds 1 and 2 start far apart.
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Seeds are non-negative safe integers (what `--seed` accepts). */
export function createPrng(seed: number): Prng {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw hkError(
      "MOCK_SEED_INVALID",
      `seed must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}, got ${seed}`,
    );
  }
  const mix = { s: (seed % TWO_32) | 0 };
  const high = Math.floor(seed / TWO_32);
  let a = splitmix32(mix) ^ high;
  let b = splitmix32(mix);
  let c = splitmix32(mix);
  let d = splitmix32(mix);

  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 16; i++) next(); // the first outputs still echo the seed

  const int = (n: number): number => {
    if (!Number.isInteger(n) || n < 1 || n > TWO_32) throw new RangeError(`int(${n}): n must be in 1..2^32`);
    // Rejection sampling: plain `% n` would favour small results whenever n does not divide 2^32.
    const limit = TWO_32 - (TWO_32 % n);
    for (;;) {
      const r = next();
      if (r < limit) return r % n;
    }
  };

  return {
    next,
    int,
    between: (min, max) => min + int(max - min + 1),
    chance: (p) => next() < p * TWO_32,
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new RangeError("pick() from an empty list");
      return items[int(items.length)]!;
    },
    weighted(weights) {
      // Integer arithmetic on weights scaled to 1e6, so the result cannot depend on floating-point rounding order.
      const scaled = weights.map((w) => Math.round(w * 1e6));
      const total = scaled.reduce((sum, w) => sum + w, 0);
      if (total <= 0 || total > TWO_32) throw new RangeError("weighted() needs positive weights");
      let r = int(total);
      for (let i = 0; i < scaled.length; i++) {
        r -= scaled[i]!;
        if (r < 0) return i;
      }
      return scaled.length - 1;
    },
    bytes(n) {
      const out = new Uint8Array(n);
      let i = 0;
      for (; i + 4 <= n; i += 4) {
        const r = next();
        out[i] = r & 0xff;
        out[i + 1] = (r >>> 8) & 0xff;
        out[i + 2] = (r >>> 16) & 0xff;
        out[i + 3] = r >>> 24;
      }
      if (i < n) {
        let r = next();
        for (; i < n; i++, r >>>= 8) out[i] = r & 0xff;
      }
      return out;
    },
  };
}
