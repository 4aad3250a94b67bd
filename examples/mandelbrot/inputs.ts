// Input generator for the mandelbrot app: `count` horizontal strips that together tile a
// region of the complex plane (by default the classic view [-2, 1] x [-1.5, 1.5]).

export interface MandelbrotInput {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  width: number;
  height: number;
  maxIter: number;
}

export interface MandelbrotInputOptions {
  /** The region to tile; default [-2, 1] x [-1.5, 1.5]. */
  region?: { x0: number; y0: number; x1: number; y1: number };
  /** Pixels per row; default 256. */
  width?: number;
  /** Rows per strip; default 32. */
  rowsPerStrip?: number;
  /** Iteration limit; default 1000. */
  maxIter?: number;
}

export const CLASSIC_VIEW = { x0: -2, y0: -1.5, x1: 1, y1: 1.5 } as const;

export function mandelbrotInputs(count: number, opts: MandelbrotInputOptions = {}): MandelbrotInput[] {
  const { x0, y0, x1, y1 } = opts.region ?? CLASSIC_VIEW;
  const width = opts.width ?? 256;
  const height = opts.rowsPerStrip ?? 32;
  const maxIter = opts.maxIter ?? 1000;
  // Each edge is computed from the region's edges (not by accumulating a step), so the last
  // strip ends exactly at y1 and neighbouring strips share their edge exactly.
  const edge = (i: number): number => (i === count ? y1 : y0 + ((y1 - y0) * i) / count);
  return Array.from({ length: count }, (_, i) => ({
    x0,
    y0: edge(i),
    x1,
    y1: edge(i + 1),
    width,
    height,
    maxIter,
  }));
}

/** Rough operation count (an upper bound: ~8 flops per iteration, every point to maxIter): drives credit. */
export function mandelbrotFpops(input: MandelbrotInput): number {
  return input.width * input.height * input.maxIter * 8;
}
