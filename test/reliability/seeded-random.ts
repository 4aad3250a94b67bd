// Seeded randomness for reliability tests: the seed is printed, and VG_RELIABILITY_SEED
// replays a run (the coordinator's own timing still varies, so a replay is close, not exact).
export interface Seeded {
  seed: number;
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number;
  /** Uniform in [lo, hi). */
  between(lo: number, hi: number): number;
  shuffle<T>(items: T[]): T[];
}

/** Seeded from VG_RELIABILITY_SEED, else `fixed` (a run that must come out the same every time), else at random. */
export function seeded(label: string, fixed?: number): Seeded {
  const fromEnv = process.env.VG_RELIABILITY_SEED;
  const seed = fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) >>> 0 : fixed ?? (Math.random() * 2 ** 32) >>> 0;
  console.log(`[${label}] seed ${seed} (replay with VG_RELIABILITY_SEED=${seed})`);
  // mulberry32: small, fast, good enough to pick moments and roles.
  let a = seed;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed,
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    between: (lo, hi) => lo + next() * (hi - lo),
    shuffle(items) {
      const a = [...items];
      for (let i = a.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [a[i], a[j]] = [a[j]!, a[i]!];
      }
      return a;
    },
  };
}
