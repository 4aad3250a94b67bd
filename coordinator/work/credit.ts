// Credit on the cobblestone scale, what a grant is bounded by, and recent average credit (RAC).
// Pure.
import { MICRO_PER_CREDIT } from '../../protocol/ledger.js';

const SECONDS_PER_DAY = 86_400;
const MS_PER_DAY = SECONDS_PER_DAY * 1000;
/** 200 cobblestones per day of computing at 1 GFLOPS (BOINC's definition). */
export const COBBLESTONES_PER_FLOP = 200 / (SECONDS_PER_DAY * 1e9);
export const RAC_HALF_LIFE_MS = 7 * MS_PER_DAY;

export function creditForFpops(fpops: number): number {
  return fpops * COBBLESTONES_PER_FLOP;
}

/** The same in whole micro-credits, to the nearest (credit is counted in these units). */
export function microForFpops(fpops: number): number {
  return Math.round((fpops * 200 * MICRO_PER_CREDIT) / (SECONDS_PER_DAY * 1e9));
}

/**
 * The speed measured CPU time is paid at: a fast core of 10 GFLOPS (BOINC's benchmarks put a
 * current desktop core at 4 to 8), so a CPU-second earns 200 × 10 / 86,400 ≈ 0.0231 credits and
 * a CPU-day 2,000. Generous on purpose: an honest host's result is bounded by the researcher's
 * estimate, not by this, unless that estimate is more than a fast core could do in the time.
 */
export const REFERENCE_CORE_FLOPS = 10e9;

/** What `cpuMs` of CPU time on the reference core is worth, in whole micro-credits. */
export function microForCpuMs(cpuMs: number): number {
  return Math.round((cpuMs * REFERENCE_CORE_FLOPS * 200 * MICRO_PER_CREDIT) / (1000 * SECONDS_PER_DAY * 1e9));
}

/**
 * The lower of the two middle values (the middle one of an odd count): with two results the
 * smaller, so that one host claiming more CPU time than its partner gains nothing, and with
 * more, one host claiming much more or much less moves it no further than its neighbour.
 */
export function lowerMedian(values: readonly number[]): number {
  if (values.length === 0) throw new Error('the median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[(sorted.length - 1) >> 1]!;
}

/**
 * The CPU time a result is paid for: what its host says it used, but no more than the time the
 * coordinator saw its task out, from sending the task to receiving the result. A task runs on one
 * thread (a JavaScript compartment, a WASI program or a Python interpreter in one worker; the
 * daemon counts that thread's CPU alone), so it cannot use more CPU than that, whatever the host
 * claims. Without both times the coordinator vouches for nothing.
 */
export function creditableCpuMs(r: { cpuTimeMs: number; sentAt: number | null; receivedAt: number | null }): number {
  if (r.sentAt === null || r.receivedAt === null) return 0;
  return Math.min(r.cpuTimeMs, Math.max(0, r.receivedAt - r.sentAt));
}

export interface GrantBounds {
  /** The researcher's estimate of the work unit's operations. */
  fpopsEst: number;
  /** The CPU time the credited result reported (creditableCpuMs: within the time its task was out). */
  ownCpuMs: number;
  /**
   * The CPU times of the work unit's valid results (each within the time its task was out), the credited one among them: the quorum
   * that accepted it (or the canonical result's quorum and the checks that agreed with it).
   * Just its own for a result accepted alone.
   */
  validCpuMs: readonly number[];
  /** The project's most per result, in micro-credits. */
  capMicro: number;
}

/**
 * What a valid result earns, in whole micro-credits: the researcher's estimate, but never more
 * than the work the valid results measured (the lower median of their CPU times, and the result's
 * own: no host earns more than it says it did) on the reference core, nor than the project's cap.
 * So neither a huge fpopsEst nor one host's inflated CPU time mints credit; colluding hosts that
 * all inflate theirs are held by the time they held the task (creditableCpuMs) and by the cap
 * (BOINC's CreditNew bounds its grants the same ways).
 */
export function grantMicro(b: GrantBounds): number {
  const measured = Math.min(b.ownCpuMs, lowerMedian(b.validCpuMs.length > 0 ? b.validCpuMs : [b.ownCpuMs]));
  return Math.max(0, Math.min(microForFpops(b.fpopsEst), microForCpuMs(measured), b.capMicro));
}

export interface Average {
  /** Credits per day, decayed to `time`. */
  rac: number;
  /** When rac was last brought up to date (ms). */
  time: number;
}

/** RAC as it stands at `now`: exponential decay with a half-life of 7 days. */
export function decayAverage(avg: Average, now: number, halfLifeMs = RAC_HALF_LIFE_MS): Average {
  if (avg.time === 0 || now <= avg.time) return { rac: avg.rac, time: Math.max(now, avg.time) };
  return { rac: avg.rac * Math.pow(0.5, (now - avg.time) / halfLifeMs), time: now };
}

/**
 * Adds a grant to a recent average. Each credit contributes an exponential kernel of total area
 * equal to the credit, so a steady rate of c credits a day converges to a RAC of c.
 */
export function addToAverage(avg: Average, amount: number, now: number, halfLifeMs = RAC_HALF_LIFE_MS): Average {
  const decayed = decayAverage(avg, now, halfLifeMs);
  const halfLifeDays = halfLifeMs / MS_PER_DAY;
  // A revocation (negative amount) takes its kernel back; the average never goes below zero.
  return { rac: Math.max(0, decayed.rac + (amount * Math.LN2) / halfLifeDays), time: now };
}
