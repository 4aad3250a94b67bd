// Re-checks what a caught host's results already decided: work unit by work unit, a chunk per
// transaction (a host may have thousands of valid results, and the coordinator must keep
// serving meanwhile). Each caught host's re-check waits until its `recheck_at` (a random delay
// after the catch, so the moment its credit is revoked does not point at the report that gave
// it away). The host's `recheck_pending` flag is cleared with the last chunk, so a crash
// resumes the job at the next start, or on another instance: the flag, set in the transaction
// that caught the host, is all the job needs to find it.
import type { Fence, Step } from '../cluster/fence.js';
import type { Store } from '../store/store.js';
import { ChunkedJob } from './chunked-job.js';
import { Outbox, type HostNotifier } from './outbox.js';
import type { Transitioner } from './transitioner.js';

/** Work units re-checked per transaction. */
const CHUNK = 200;

export class HostRecheck {
  private readonly job = new ChunkedJob(
    () => this.store.identities.hostsToRecheck(this.clock()),
    (hostId: number, fence: Fence) => this.part(hostId, fence),
  );

  constructor(
    private readonly store: Store,
    private readonly transitioner: Transitioner,
    private readonly notifier: HostNotifier,
    private readonly clock: () => number,
  ) {}

  /** Re-checks the hosts due now, unfenced (a core on its own); resolves when none is left. */
  kick(): Promise<void> {
    return this.job.kick();
  }

  /** A turn under a lease: the hosts due now, each chunk fenced. */
  run(fence: Fence): Promise<void> {
    return this.job.run(fence);
  }

  /** Stops after the chunk in hand (the coordinator is closing); the next start resumes. */
  stop(): void {
    this.job.stop();
  }

  /** One chunk of one host. */
  private async part(hostId: number, fence: Fence): Promise<Step> {
    const outbox = new Outbox();
    const step = await this.store.transaction(async (tx): Promise<Step> => {
      if (!(await fence(tx.sql))) return 'fenced';
      const { work, identities } = tx;
      const rows = await work.validRegularOfHost(hostId, CHUNK);
      for (const r of rows) await this.transitioner.withdraw(tx, r.workunitId, hostId, this.clock(), outbox);
      if (rows.length < CHUNK) await identities.markRechecked(hostId);
      return rows.length < CHUNK ? 'done' : 'more';
    });
    outbox.flush(this.notifier);
    return step;
  }
}
