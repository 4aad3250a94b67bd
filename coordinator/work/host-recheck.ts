// Re-checks what a caught host's results already decided: work unit by work unit, a chunk per
// transaction (a host may have thousands of valid results, and the coordinator must keep
// serving meanwhile). The host's `recheck_pending` flag is cleared with the last chunk, so a
// crash resumes the job at the next start.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Store } from '../store/store.js';
import { Outbox, type HostNotifier } from './outbox.js';
import type { Transitioner } from './transitioner.js';

/** Work units re-checked per transaction. */
const CHUNK = 200;

export class HostRecheck {
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly transitioner: Transitioner,
    private readonly notifier: HostNotifier,
    private readonly clock: () => number,
  ) {}

  /** Runs the job until no host is left to re-check; resolves when it is idle. */
  kick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Stops after the chunk in hand (the coordinator is closing); the next start resumes. */
  stop(): void {
    this.stopped = true;
  }

  private async run(): Promise<void> {
    do {
      this.again = false;
      for (const hostId of this.store.identities.hostsToRecheck()) {
        while (!this.stopped && !this.part(hostId)) await nextTurn();
        if (this.stopped) return;
      }
    } while (this.again && !this.stopped);
  }

  /** One chunk of one host; true when the host is done. */
  private part(hostId: number): boolean {
    const outbox = new Outbox();
    const done = this.store.transaction(() => {
      const { work, identities } = this.store;
      const rows = work.validRegularOfHost(hostId, CHUNK);
      for (const r of rows) this.transitioner.withdraw(r.workunitId, hostId, this.clock(), outbox);
      if (rows.length < CHUNK) identities.markRechecked(hostId);
      return rows.length < CHUNK;
    });
    outbox.flush(this.notifier);
    return done;
  }
}
