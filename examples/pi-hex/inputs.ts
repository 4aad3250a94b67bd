// Input generator for the pi-hex Python example: consecutive blocks of `count` hexadecimal
// digits of pi, from `start` on, one block a work unit.

export interface PiHexInput {
  start: number;
  count: number;
}

export function piHexInputs(count: number, digits = 16, start = 0): PiHexInput[] {
  return Array.from({ length: count }, (_, i) => ({ start: start + i * digits, count: digits }));
}

/** Rough operation count: four series of start+1 modular powers, each some hundred operations. */
export function piHexFpops(input: PiHexInput): number {
  return 4 * (input.start + 1) * 200;
}

/**
 * The tests' reference, computed another way: pi = 16 arctan(1/5) - 4 arctan(1/239) (Machin)
 * in BigInt fixed point, the fractional part's hexadecimal digits `start + 1` to `start + count`.
 */
export function piHexReference(start: number, count: number): string {
  const digits = start + count + 16;
  const scale = 1n << BigInt(4 * digits);
  const arctanInv = (x: bigint): bigint => {
    let sum = 0n;
    let power = scale / x; // scale / x^(2k+1)
    for (let k = 0n; power !== 0n; k++) {
      sum += (k % 2n === 0n ? 1n : -1n) * (power / (2n * k + 1n));
      power /= x * x;
    }
    return sum;
  };
  const pi = 16n * arctanInv(5n) - 4n * arctanInv(239n);
  const fraction = (pi % scale).toString(16).toUpperCase().padStart(digits, '0');
  return fraction.slice(start, start + count);
}
