// Input generator for the collatz WASI program: consecutive ranges of `span` numbers, each
// given on stdin as "lo hi", the program's JSON output parsed (`output: "json"`).

export interface CollatzInput {
  stdin: string;
  output: 'json';
}

export function collatzInputs(count: number, span = 200_000, start = 1): CollatzInput[] {
  return Array.from({ length: count }, (_, i) => ({ stdin: `${start + i * span} ${start + (i + 1) * span}`, output: 'json' as const }));
}

/** Rough operation count: about a hundred steps a number, a few operations a step. */
export function collatzFpops(input: CollatzInput): number {
  const [lo, hi] = input.stdin.split(' ').map(Number) as [number, number];
  return (hi - lo) * 100 * 4;
}

/** What main.c computes, in plain JavaScript: the tests' reference (trajectories of n below 10^8 stay far below 2^53). */
export function collatzReference(lo: number, hi: number): { lo: number; hi: number; n: number; steps: number } {
  let best = lo;
  let bestSteps = -1;
  for (let n = lo; n < hi; n++) {
    if (n >= 1e8) throw new Error('the reference is exact for n below 10^8');
    let x = n;
    let s = 0;
    while (x !== 1) {
      x = x % 2 === 1 ? 3 * x + 1 : x / 2;
      s++;
    }
    if (s > bestSteps) {
      best = n;
      bestSteps = s;
    }
  }
  return { lo, hi, n: best, steps: bestSteps };
}
