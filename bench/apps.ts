// The apps the benchmark submits. A trivial one, whose output simulated volunteers compute
// directly (the scenario measures the coordinator, not a sandbox), and a busy loop of a chosen
// length for the real volunteer daemon. The sandbox has no clock, so the loop's length is a
// number of iterations, calibrated here beforehand.

/** Input of the trivial app: one line of the NDJSON batch. */
export interface TrivialInput {
  n: number;
}

export const TRIVIAL_APP = `export default async function run(input) {
  return { n: input.n, square: input.n * input.n };
}
`;

/** What TRIVIAL_APP returns, computed without a sandbox. */
export function trivialOutput(input: unknown): { n: number; square: number } {
  const n = typeof input === 'object' && input !== null && typeof (input as TrivialInput).n === 'number' ? (input as TrivialInput).n : 0;
  return { n, square: n * n };
}

export const trivialLine = (i: number): string => `{"n":${i}}`;

// A linear congruential generator: integer work that no engine can fold away, and the same
// answer everywhere (so replicas agree). Only local variables in the loop: in the sandbox a
// global such as Math is looked up through SES's scope proxy, about 100 times slower.
// (x < 2^32 and the multiplier < 2^21, so the product is exact in a double.)
const BUSY_LOOP = `function spin(seed, iterations) {
  let x = seed >>> 0;
  for (let i = 0; i < iterations; i++) x = (x * 1664525 + 1013904223) >>> 0;
  return x;
}`;

export const BUSY_APP = `${BUSY_LOOP}
export default async function run(input) {
  return { x: spin(input.seed, input.iterations) };
}
`;

export const busyLine = (iterations: number) => (i: number): string => `{"seed":${i},"iterations":${iterations}}`;

/** Iterations of the busy loop that take about `targetMs` on this machine, now. */
export function calibrateBusyLoop(targetMs: number): { iterations: number; measuredMs: number } {
  const spin = new Function(`${BUSY_LOOP}; return spin;`)() as (seed: number, iterations: number) => number;
  // Warm the JIT, then size up until one run is long enough to time well.
  let iterations = 100_000;
  for (let k = 0; k < 5; k++) spin(k, iterations);
  let ms = 0;
  for (;;) {
    const t0 = performance.now();
    spin(7, iterations);
    ms = performance.now() - t0;
    if (ms >= 20) break;
    iterations *= 2;
  }
  iterations = Math.round((iterations * targetMs) / ms);
  // Best of three at the final size: the least disturbed by other processes.
  let best = Infinity;
  for (let k = 0; k < 3; k++) {
    const t0 = performance.now();
    spin(k, iterations);
    best = Math.min(best, performance.now() - t0);
  }
  return { iterations: Math.round((iterations * targetMs) / best), measuredMs: best };
}
