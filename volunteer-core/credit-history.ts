// Credit over time from a host's own receipts, as BOINC's statistics graphs draw it: for each
// day, the total credit at its end and the recent average credit (RAC) then, for the host and
// for each project. Receipts name a task, not a project: `projectOf` maps one to the other
// (from the volunteer's task list); a receipt it cannot place counts as `unknownProject`.
import { creditAmount, creditUnits } from '../protocol/ledger.js';
import type { CreditReceipt } from '../protocol/messages.js';

export const DAY_MS = 86_400_000;
/** As the coordinator computes RAC (coordinator/work/credit.ts): exponential decay, half-life 7 days. */
export const RAC_HALF_LIFE_MS = 7 * DAY_MS;

type Receipt = Pick<CreditReceipt, 'taskId' | 'amount' | 'grantedAt'>;

/** Recent average credit (credits a day) as it stands at `now`. */
export function racAt(receipts: Iterable<Pick<CreditReceipt, 'amount' | 'grantedAt'>>, now: number): number {
  let rac = 0;
  // A receipt stamped a little ahead of this clock (the coordinator's runs ahead) counts in full.
  for (const r of receipts) rac += ((r.amount * Math.LN2) / (RAC_HALF_LIFE_MS / DAY_MS)) * Math.pow(0.5, Math.max(0, now - r.grantedAt) / RAC_HALF_LIFE_MS);
  return rac;
}

export interface CreditSeries {
  /** Each day's start (ms), oldest first. */
  days: number[];
  /** At each day's end: total credit and RAC. */
  total: number[];
  rac: number[];
  /** The same per project, for the projects with any receipt, largest total first. */
  projects: { project: string; total: number[]; rac: number[] }[];
}

export interface SeriesOptions {
  now: number;
  /** How many days to show, ending with today. */
  days: number;
  /** The start of the day `ms` falls in (local midnight on the page; UTC by default). */
  dayStart?: (ms: number) => number;
  projectOf: (taskId: number) => string | undefined;
  unknownProject?: string;
}

const utcDayStart = (ms: number) => ms - (((ms % DAY_MS) + DAY_MS) % DAY_MS);

export function creditSeries(receipts: readonly Receipt[], o: SeriesOptions): CreditSeries {
  const dayStart = o.dayStart ?? utcDayStart;
  const days: number[] = [];
  let start = dayStart(o.now);
  for (let i = 0; i < o.days; i++) {
    days.unshift(start);
    start = dayStart(start - 1); // the day before (days are not all 24 h where clocks change)
  }
  const ends = days.map((d, i) => Math.min(o.now, i + 1 < days.length ? days[i + 1]! - 1 : o.now));
  const seriesOf = (rs: readonly Receipt[]) => {
    // Stamped ahead of this clock: today's.
    const sorted = rs.map((r) => ({ amount: r.amount, grantedAt: Math.min(r.grantedAt, o.now) })).sort((a, b) => a.grantedAt - b.grantedAt);
    const total: number[] = [];
    const rac: number[] = [];
    let units = 0;
    let k = 0;
    for (const end of ends) {
      for (; k < sorted.length && sorted[k]!.grantedAt <= end; k++) units += creditUnits(sorted[k]!.amount);
      total.push(creditAmount(units));
      rac.push(racAt(sorted.slice(0, k), end));
    }
    return { total, rac };
  };
  const byProject = new Map<string, Receipt[]>();
  for (const r of receipts) {
    const p = o.projectOf(r.taskId) ?? o.unknownProject ?? 'unknown project';
    byProject.set(p, [...(byProject.get(p) ?? []), r]);
  }
  const projects = [...byProject].map(([project, rs]) => ({ project, ...seriesOf(rs) })).sort((a, b) => b.total.at(-1)! - a.total.at(-1)! || a.project.localeCompare(b.project));
  return { days, ...seriesOf(receipts), projects };
}
