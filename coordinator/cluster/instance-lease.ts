// That this instance is alive, as the database sees it: a lease named after the instance, held
// from before it serves anything until it stops, renewed on a timer. Hosts and batches name the
// instance they are on (migration 19); once its lease has lapsed, the instance is gone and what
// it left — hosts holding tasks that never came back, batches short of replicas — is taken up by
// the instances still alive (cluster/orphans.ts). A lease that lapsed because the database was
// out of reach is taken again when it answers: its holder never let anything go.
import { errorFields, type Logger } from '../../common/log.js';
import type { Lease, Leases } from './leases.js';

/** Lease names of instances: the prefix, then the instance's name. */
export const INSTANCE_LEASE_PREFIX = 'instance:';

export class InstanceLease {
  private lease: Lease | undefined;
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | undefined;
  private ended = false;
  /** When the lease was taken, by the database's clock (0 before). */
  since = 0;

  constructor(
    private readonly leases: Leases,
    /** How long the lease lasts unrenewed: how long the others take to see that this instance died. */
    private readonly ttlMs: number,
    /** How often it is renewed (at most ttlMs / 3). */
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {
    if (intervalMs * 3 > ttlMs) throw new Error(`renew an instance's lease at least three times a lease (interval ${intervalMs} ms, lease ${ttlMs} ms)`);
  }

  get name(): string {
    return INSTANCE_LEASE_PREFIX + this.leases.holder;
  }

  /** Takes the lease (before this instance takes any host or batch), then keeps it. */
  async start(): Promise<void> {
    this.lease = await this.leases.acquire(this.name, this.ttlMs);
    if (!this.lease) throw new Error(`the lease ${this.name} is another holder's`);
    this.since = this.lease.expiresAt - this.ttlMs;
    this.schedule();
  }

  /**
   * Ends the lease now (a clean stop), rather than at zero: the others count a host's grace
   * period from when its instance went, and take up its batches at once.
   */
  async end(): Promise<void> {
    this.ended = true;
    clearTimeout(this.timer);
    await this.renewing;
    const lease = this.lease;
    this.lease = undefined;
    if (lease) await this.leases.renew(lease, 0).catch((e: unknown) => this.log.warn('could not end this instance’s lease; the others see it go when it lapses', errorFields(e)));
  }

  private schedule(): void {
    if (this.ended) return;
    this.timer = setTimeout(() => {
      this.renewing = this.renew().finally(() => {
        this.renewing = undefined;
        this.schedule();
      });
    }, this.intervalMs);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    const had = this.lease;
    try {
      const renewed = had && (await this.leases.renew(had, this.ttlMs));
      this.lease = renewed ?? (await this.leases.acquire(this.name, this.ttlMs));
      if (!renewed && this.lease) this.log.warn('this instance’s lease had lapsed (the database out of reach?): taken again', { lease: this.name });
    } catch (e) {
      this.log.warn('could not renew this instance’s lease: once it lapses, the others take up its hosts connected nowhere and its batches', { lease: this.name, ...errorFields(e) });
    }
  }
}
