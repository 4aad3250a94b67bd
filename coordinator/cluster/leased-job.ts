// A job that one instance at a time runs: each instance runs a LeasedJob for it, and the one
// holding the lease does the work, a turn at a time; the others keep trying to take the lease, and
// one of them does when the holder stops renewing (it died, or hangs). A turn must check
// `leases.holds` in the transaction that writes, so a holder that lost the lease mid-turn writes
// nothing.
import { errorFields, type Logger } from '../../common/log.js';
import type { Lease, Leases } from './leases.js';

export interface LeasedJobOptions {
  /** How long a lease lasts without renewal: how long the job may stand still when its holder dies. */
  ttlMs: number;
  /** How often the holder renews and runs a turn, and the others try to take over (under ttlMs / 3). */
  intervalMs: number;
  /** One turn of the job, under the lease. */
  turn: (lease: Lease) => Promise<void>;
  log: Logger;
}

export class LeasedJob {
  private lease: Lease | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
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

  start(): void {
    this.schedule(0);
  }

  /** Stops, lets a turn in progress finish, and gives the lease up for another instance to take at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    const lease = this.lease;
    this.lease = undefined;
    if (lease) await this.leases.release(lease).catch((e: unknown) => this.options.log.warn('could not release a lease', { job: this.name, ...errorFields(e) }));
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => this.schedule(this.options.intervalMs));
    }, delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      const had = this.lease;
      this.lease = had ? await this.leases.renew(had, this.options.ttlMs) : await this.leases.acquire(this.name, this.options.ttlMs);
      if (had && !this.lease) this.options.log.warn('lost a lease: another instance runs the job now', { job: this.name, fencing: had.fencing });
      if (!had && this.lease) this.options.log.info('took a lease: this instance runs the job', { job: this.name, fencing: this.lease.fencing });
    } catch (e) {
      // The database is unreachable: whatever this instance held, it cannot know it still does.
      this.lease = undefined;
      this.options.log.warn('could not reach the database for a lease', { job: this.name, ...errorFields(e) });
      return;
    }
    if (this.lease && !this.stopped) {
      try {
        await this.options.turn(this.lease);
      } catch (e) {
        this.options.log.error('a turn of a leased job failed', { job: this.name, ...errorFields(e) });
      }
    }
  }
}
