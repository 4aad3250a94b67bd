// A job that one instance at a time runs: each instance runs a LeasedJob for it, and the one
// holding the lease does the work, a turn at a time; the others keep trying to take the lease, and
// one of them does when the holder stops renewing (it died, or hangs). A turn must ask its fence
// (`leases.holds`) in the transaction that writes, so a holder that lost the lease mid-turn writes
// nothing. Renewal runs on its own timer, apart from turns: a long turn (a re-check of thousands
// of results) keeps its lease.
import { errorFields, type Logger } from '../../common/log.js';
import type { SqlExecutor } from '../store/sql/sql.js';
import type { Fence } from './fence.js';
import type { Lease, Leases } from './leases.js';

export interface LeasedJobOptions {
  /** How long a lease lasts without renewal: how long the job may stand still when its holder dies. */
  ttlMs: number;
  /** How often the holder renews, and the others try to take over (at most ttlMs / 3). */
  intervalMs: number;
  /** How often the holder runs a turn (default intervalMs); a kick runs one at once. */
  turnIntervalMs?: number;
  /**
   * One turn of the job, under the lease. `fence` is the lease's check (and false once the job is
   * stopping): a turn that loops over chunks stops at the first refusal.
   */
  turn: (lease: Lease, fence: Fence) => Promise<void>;
  log: Logger;
}

export class LeasedJob {
  private lease: Lease | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private turnTimer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private turning: Promise<void> | undefined;
  /** Kicked while a turn ran: one more turn right after it. */
  private again = false;
  private stopped = false;

  constructor(
    private readonly leases: Leases,
    readonly name: string,
    private readonly options: LeasedJobOptions,
  ) {
    if (options.intervalMs * 3 > options.ttlMs) throw new Error(`${name}: renew at least three times a lease (interval ${options.intervalMs} ms, lease ${options.ttlMs} ms)`);
  }

  /** Whether this instance holds the lease now (as far as it knows). */
  get held(): boolean {
    return this.lease !== undefined;
  }

  /** For writes made for the job outside its turns (a request's first chunk): the lease held now. */
  readonly fence: Fence = async (tx: SqlExecutor) => {
    const lease = this.lease;
    return !this.stopped && lease !== undefined && (await this.leases.holds(tx, lease));
  };

  /** Starts trying for the lease; resolves once the first try is over (held or not). */
  start(): Promise<void> {
    this.ticking = this.tick().finally(() => this.scheduleTick());
    return this.ticking;
  }

  /**
   * A turn now, where this instance holds the lease (after the turn in hand, if one runs).
   * Elsewhere nothing: the holder finds the work at its next turn, so it must be in the database.
   */
  kick(): void {
    if (this.stopped || !this.lease) return;
    if (this.turning) {
      this.again = true;
      return;
    }
    clearTimeout(this.turnTimer);
    this.turning = this.turns().finally(() => {
      this.turning = undefined;
      if (this.lease && !this.stopped) this.scheduleTurn();
    });
  }

  /** Stops, lets a turn in progress end after its chunk in hand, and gives the lease up for another instance to take at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.renewTimer);
    clearTimeout(this.turnTimer);
    await this.ticking;
    await this.turning;
    const lease = this.lease;
    this.lease = undefined;
    if (lease) await this.leases.release(lease).catch((e: unknown) => this.options.log.warn('could not release a lease', { job: this.name, ...errorFields(e) }));
  }

  private scheduleTick(): void {
    if (this.stopped) return;
    this.renewTimer = setTimeout(() => {
      this.ticking = this.tick().finally(() => this.scheduleTick());
    }, this.options.intervalMs);
    this.renewTimer.unref();
  }

  private scheduleTurn(): void {
    clearTimeout(this.turnTimer);
    this.turnTimer = setTimeout(() => this.kick(), this.options.turnIntervalMs ?? this.options.intervalMs);
    this.turnTimer.unref();
  }

  private async tick(): Promise<void> {
    const had = this.lease;
    try {
      this.lease = had ? await this.leases.renew(had, this.options.ttlMs) : await this.leases.acquire(this.name, this.options.ttlMs);
    } catch (e) {
      // The database is unreachable: whatever this instance held, it cannot know it still does.
      this.lease = undefined;
      this.options.log.warn('could not reach the database for a lease', { job: this.name, ...errorFields(e) });
      return;
    }
    const fields = { job: this.name, holder: this.leases.holder };
    if (had && !this.lease) this.options.log.warn('lost a lease: another instance runs the job now', { ...fields, fencing: had.fencing });
    if (!had && this.lease) {
      this.options.log.info('took a lease: this instance runs the job', { ...fields, fencing: this.lease.fencing });
      // A new holder catches up at once on what the last one left.
      this.kick();
    }
  }

  private async turns(): Promise<void> {
    do {
      this.again = false;
      const lease = this.lease;
      if (!lease || this.stopped) return;
      // Bound to the lease the turn began under: a turn that outlived it writes nothing more.
      const fence: Fence = async (tx) => !this.stopped && (await this.leases.holds(tx, lease));
      try {
        await this.options.turn(lease, fence);
      } catch (e) {
        this.options.log.error('a turn of a leased job failed', { job: this.name, ...errorFields(e) });
      }
    } while (this.again && !this.stopped);
  }
}
