// Input generator for the primes app: consecutive ranges of `span` numbers.

export interface PrimesInput {
  from: number;
  to: number;
}

export function primesInputs(count: number, span = 50_000, start = 1_000_000): PrimesInput[] {
  return Array.from({ length: count }, (_, i) => ({ from: start + i * span, to: start + (i + 1) * span }));
}

/** Rough operation count for trial division over a range: drives credit. */
export function primesFpops(input: PrimesInput): number {
  return (input.to - input.from) * Math.sqrt(input.to) * 0.5;
}
