// Credit on the cobblestone scale and recent average credit (RAC). Pure.
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
