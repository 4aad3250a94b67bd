// Per-host quotas (BOINC's): what a host may hold and take depends on what it has shown. A new
// key starts with a small allowance: tasks in flight, which each valid result doubles and each
// invalid result or task left without a reply halves; and tasks a day per app, which each valid
// result doubles and each error halves (per app, as BOINC keeps them per app version: a broken
// app must not starve its hosts of the others). Between a floor of one task and the configured
// maximums; a level is the exponent. Pure, but for the keeper at the end that writes the levels.

export interface QuotaPolicy {
  /** Tasks a host with no record may hold at once. */
  newHostTasks: number;
  /** Tasks a host with no record may take in a day. */
  newHostTasksPerDay: number;
  /** What any host may hold at once. */
  maxInFlight: number;
  /** What any host may take in a day. */
  maxTasksPerDay: number;
}

const MS_PER_DAY = 86_400_000;

/** The day (UTC) quotas are counted in. */
export function quotaDay(now: number): number {
  return Math.floor(now / MS_PER_DAY);
}

/** When the quota day of `now` ends (00:00 UTC next), and the daily counts start again. */
export function quotaDayEnds(now: number): number {
  return (quotaDay(now) + 1) * MS_PER_DAY;
}

/** Lowest and highest levels: one task at the bottom, the configured maximums at the top. */
export function levelBounds(p: QuotaPolicy): { min: number; max: number } {
  const up = (from: number, to: number) => Math.max(0, Math.ceil(Math.log2(to / from)));
  const down = (from: number) => -Math.ceil(Math.log2(from));
  return {
    min: Math.min(down(p.newHostTasks), down(p.newHostTasksPerDay)),
    max: Math.max(up(p.newHostTasks, p.maxInFlight), up(p.newHostTasksPerDay, p.maxTasksPerDay)),
  };
}

function scaled(base: number, level: number, max: number): number {
  return Math.max(1, Math.min(max, Math.floor(base * 2 ** level)));
}

/** Tasks a host at this level may hold at once. */
export function inFlightAllowance(level: number, p: QuotaPolicy): number {
  return scaled(p.newHostTasks, level, p.maxInFlight);
}

/** Tasks a host at this level may take in a day. */
export function dailyAllowance(level: number, p: QuotaPolicy): number {
  return scaled(p.newHostTasksPerDay, level, p.maxTasksPerDay);
}

/** How many more tasks a host may hold now. */
export function inFlightRoom(level: number, inFlight: number, p: QuotaPolicy): number {
  return Math.max(0, inFlightAllowance(level, p) - inFlight);
}

/** How many more tasks of an app a host may take today. */
export function dailyRoom(app: { level: number; day: number; used: number }, now: number, p: QuotaPolicy): number {
  return Math.max(0, dailyAllowance(app.level, p) - (app.day === quotaDay(now) ? app.used : 0));
}

/**
 * Most tasks of one batch that new hosts together may hold: a share of its work units, and never
 * fewer than `floor`, so that a small batch on a new platform (where every host is new) still runs.
 */
export function newHostCap(workunits: number, share: number, floor: number): number {
  return Math.max(floor, Math.ceil(share * workunits));
}

type Bounds = { min: number; max: number };

/** Moves hosts' quota levels as their results are judged, in the caller's transaction. */
export class QuotaKeeper {
  private readonly bounds: Bounds;

  constructor(readonly policy: QuotaPolicy) {
    this.bounds = levelBounds(policy);
  }

  /** A valid result: both allowances double. */
  async valid(tx: QuotaWriter, hostId: number, appId: number): Promise<void> {
    await this.step(tx, async () => {
      await tx.identities.stepQuota(hostId, 1, this.bounds);
      await tx.identities.stepAppQuota(hostId, appId, 1, this.bounds);
    });
  }

  /** An invalid result, or a task left without a reply: fewer tasks in flight. */
  async failed(tx: QuotaWriter, hostId: number): Promise<void> {
    await this.step(tx, () => tx.identities.stepQuota(hostId, -1, this.bounds));
  }

  /** An error: fewer tasks of that app a day. */
  async error(tx: QuotaWriter, hostId: number, appId: number): Promise<void> {
    await this.step(tx, () => tx.identities.stepAppQuota(hostId, appId, -1, this.bounds));
  }

  /** Per transaction (its Tx), while stepsAfter runs: the steps not taken yet, in order. */
  private readonly later = new WeakMap<QuotaWriter, (() => Promise<void>)[]>();

  /**
   * Runs fn with the levels' steps it takes kept back and taken at its end, in the order it took
   * them (so they land exactly where they would have): a step's statement in the middle of judging
   * a report would make PostgreSQL write everything held before it (sql/write-behind.ts). fn must
   * not read levels, nor open a savepoint. When fn throws no step is taken: the caller's savepoint
   * undoes what it did.
   */
  async stepsAfter<T>(tx: QuotaWriter, fn: () => Promise<T>): Promise<T> {
    if (this.later.has(tx)) return fn();
    const steps: (() => Promise<void>)[] = [];
    this.later.set(tx, steps);
    try {
      const out = await fn();
      this.later.delete(tx);
      for (const step of steps) await step();
      return out;
    } finally {
      this.later.delete(tx);
    }
  }

  private async step(tx: QuotaWriter, take: () => Promise<void>): Promise<void> {
    const steps = this.later.get(tx);
    if (steps) steps.push(take);
    else await take();
  }
}

/** What the keeper writes to. */
export interface QuotaWriter {
  identities: {
    stepQuota(hostId: number, step: 1 | -1, bounds: Bounds): Promise<void>;
    stepAppQuota(hostId: number, appId: number, step: 1 | -1, bounds: Bounds): Promise<void>;
  };
}
