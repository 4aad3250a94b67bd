// Work one instance has in hand for a while — a submission streaming in, a cancellation under
// way — marked so that the others leave it alone, and take it up once that instance is gone.
// Among instances sharing PostgreSQL the mark is a lease per piece of work, renewed while the work
// goes on and deleted when it ends: a lease that lapsed was left by an instance that died. One
// process alone (SQLite) keeps the marks in memory: what it does not hold, nobody does.
import type { Lease, Leases } from './leases.js';

/** How long a hold's lease lasts unrenewed: how soon another instance may take up what a dead one left. */
const LEASE_MS = 15_000;

export interface WorkHolds {
  /** Marks the work as this instance's until the returned function is called. */
  hold(name: string): Promise<() => Promise<void>>;
  /** True: its holder is gone; false: held; undefined: no hold (never taken, or given up when the work ended). */
  lapsed(name: string): Promise<boolean | undefined>;
}

export class LeasedHolds implements WorkHolds {
  constructor(private readonly leases: Leases) {}

  async hold(name: string): Promise<() => Promise<void>> {
    let lease: Lease | undefined = await this.leases.acquire(name, LEASE_MS);
    const renew = setInterval(() => {
      if (lease) void this.leases.renew(lease, LEASE_MS).then((l) => (lease = l), () => undefined);
    }, LEASE_MS / 3);
    renew.unref();
    return async () => {
      clearInterval(renew);
      if (lease) await this.leases.forget(lease);
    };
  }

  lapsed(name: string): Promise<boolean | undefined> {
    return this.leases.expired(name);
  }
}

export class LocalHolds implements WorkHolds {
  private readonly held = new Map<string, number>();

  async hold(name: string): Promise<() => Promise<void>> {
    this.held.set(name, (this.held.get(name) ?? 0) + 1);
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      const n = this.held.get(name)! - 1;
      if (n === 0) this.held.delete(name);
      else this.held.set(name, n);
    };
  }

  async lapsed(name: string): Promise<boolean | undefined> {
    return this.held.has(name) ? false : undefined;
  }
}
