// Small statistics: percentiles of latencies, medians across runs, samples in a time window.
import type { Samples } from './sim-messages.js';

/** The p-th percentile (0–100) by nearest rank; NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return NaN;
  const sorted = [...finite].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function max(values: readonly number[]): number {
  let m = -Infinity;
  for (const v of values) if (v > m) m = v;
  return values.length === 0 ? NaN : m;
}

/** The samples of messages that left within [from, to). */
export function within(s: Samples, from: number, to: number): Samples {
  const out: Samples = { at: [], ms: [], n: [] };
  for (let i = 0; i < s.at.length; i++) {
    if (s.at[i]! >= from && s.at[i]! < to) {
      out.at.push(s.at[i]!);
      out.ms.push(s.ms[i]!);
      out.n.push(s.n[i]!);
    }
  }
  return out;
}

/** The samples of messages in flight at some moment of [from, to). */
export function overlapping(s: Samples, from: number, to: number): Samples {
  const out: Samples = { at: [], ms: [], n: [] };
  for (let i = 0; i < s.at.length; i++) {
    if (s.at[i]! < to && s.at[i]! + s.ms[i]! >= from) {
      out.at.push(s.at[i]!);
      out.ms.push(s.ms[i]!);
      out.n.push(s.n[i]!);
    }
  }
  return out;
}

export function sum(values: readonly number[]): number {
  let t = 0;
  for (const v of values) t += v;
  return t;
}

export const round = (v: number, digits = 1): number => (Number.isFinite(v) ? Math.round(v * 10 ** digits) / 10 ** digits : v);
